package broker

// AlterUserScramCredentials (key 51), version 0.
//
// Behavior: upserts and deletes SCRAM credentials. An upsertion carries the
// salt and the salted password the client computed; the broker keeps only
// the salt, the stored key and the server key derived from it, in the
// metadata log (scram_credential records), so credentials survive restarts.
// Per user: an empty name or an iteration count outside 4096–16384 is
// UNACCEPTABLE_CREDENTIAL, an unknown mechanism UNSUPPORTED_SASL_MECHANISM,
// a user named more than once DUPLICATE_RESOURCE, and deleting a missing
// credential RESOURCE_NOT_FOUND, with Kafka's messages. Connections already
// authenticated stay authenticated, as in Kafka. With an authorizer, ALTER
// on the cluster is needed: otherwise every user named is
// CLUSTER_AUTHORIZATION_FAILED and nothing changes.

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleAlterUserScramCredentials(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	if b.audit != nil {
		defer b.auditAlterUserScram(r, req, resp)
	}
	if !b.authorizeCluster(r.Session, acl.OpAlter) {
		users := map[string]bool{}
		for _, d := range req.Deletions {
			users[d.Name] = true
		}
		for _, u := range req.Upsertions {
			users[u.Name] = true
		}
		for _, u := range slices.Sorted(maps.Keys(users)) {
			res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
			res.User, res.ErrorCode = u, kerr.ClusterAuthorizationFailed.Code
			res.ErrorMessage = kmsg.StringPtr(authorizationMessage(res.ErrorCode))
			resp.Results = append(resp.Results, res)
		}
		return resp
	}

	type outcome struct {
		code int16
		msg  string
		rec  *MetadataRecord
	}
	var order []string
	results := map[string]*outcome{}
	count := map[string]int{}
	for _, d := range req.Deletions {
		count[d.Name]++
	}
	for _, u := range req.Upsertions {
		count[u.Name]++
	}
	set := func(user string, o *outcome) {
		if _, ok := results[user]; !ok {
			order = append(order, user)
			results[user] = o
		}
	}

	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	img := b.meta.Image()
	for _, d := range req.Deletions {
		mech, known := scramMechanismName(d.Mechanism)
		switch {
		case d.Name == "":
			set(d.Name, &outcome{code: kerr.UnacceptableCredential.Code, msg: "Username must not be empty"})
		case count[d.Name] > 1:
			set(d.Name, &outcome{code: kerr.DuplicateResource.Code, msg: "A user credential cannot be altered twice in the same request"})
		case !known:
			set(d.Name, &outcome{code: kerr.UnsupportedSaslMechanism.Code, msg: "Unknown SCRAM mechanism"})
		default:
			rec := ScramCredentialRecord{User: d.Name, Mechanism: mech}
			if _, ok := img.ScramCredentials[rec.key()]; !ok {
				set(d.Name, &outcome{code: kerr.ResourceNotFound.Code, msg: "Attempt to delete a user credential that does not exist"})
				continue
			}
			set(d.Name, &outcome{rec: &MetadataRecord{Type: RemoveScramCredentialRecordType, Scram: &rec}})
		}
	}
	for _, u := range req.Upsertions {
		mech, known := scramMechanismName(u.Mechanism)
		switch {
		case u.Name == "":
			set(u.Name, &outcome{code: kerr.UnacceptableCredential.Code, msg: "Username must not be empty"})
		case count[u.Name] > 1:
			set(u.Name, &outcome{code: kerr.DuplicateResource.Code, msg: "A user credential cannot be altered twice in the same request"})
		case !known:
			set(u.Name, &outcome{code: kerr.UnsupportedSaslMechanism.Code, msg: "Unknown SCRAM mechanism"})
		case u.Iterations < sasl.MinIterations:
			set(u.Name, &outcome{code: kerr.UnacceptableCredential.Code, msg: fmt.Sprintf("Too few iterations: %d is less than the minimum %d for %s", u.Iterations, sasl.MinIterations, mech)})
		case u.Iterations > sasl.MaxIterations:
			set(u.Name, &outcome{code: kerr.UnacceptableCredential.Code, msg: fmt.Sprintf("Too many iterations: %d is more than the maximum %d for %s", u.Iterations, sasl.MaxIterations, mech)})
		case len(u.Salt) == 0:
			set(u.Name, &outcome{code: kerr.UnacceptableCredential.Code, msg: "Salt must not be empty"})
		default:
			cred, err := sasl.NewCredential(mech, u.Salt, u.SaltedPassword, u.Iterations)
			if err != nil {
				set(u.Name, &outcome{code: kerr.UnacceptableCredential.Code, msg: err.Error()})
				continue
			}
			rec := ScramCredentialRecord{User: u.Name, Mechanism: mech, Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: cred.Iterations}
			set(u.Name, &outcome{rec: &MetadataRecord{Type: ScramCredentialRecordType, Scram: &rec}})
		}
	}
	var recs []MetadataRecord
	for _, u := range order {
		if o := results[u]; o.rec != nil {
			recs = append(recs, *o.rec)
		}
	}
	if len(recs) > 0 {
		if err := b.meta.Apply(ctx, recs...); err != nil {
			b.log.Error("SCRAM credentials not stored", "err", err)
			for _, u := range order {
				if o := results[u]; o.rec != nil {
					o.code, o.msg = kerr.UnknownServerError.Code, "The credential could not be stored"
				}
			}
		}
	}
	for _, u := range order {
		o := results[u]
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = u
		res.ErrorCode = o.code
		if o.code != 0 {
			res.ErrorMessage = kmsg.StringPtr(o.msg)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}

// auditAlterUserScram logs each user's change with its result: the
// mechanisms upserted (with their iteration counts) and deleted. Salts and
// salted passwords are never logged.
func (b *Broker) auditAlterUserScram(r *protocol.Request, req *kmsg.AlterUserSCRAMCredentialsRequest, resp *kmsg.AlterUserSCRAMCredentialsResponse) {
	ops := map[string][]map[string]any{}
	for _, d := range req.Deletions {
		mech, _ := scramMechanismName(d.Mechanism)
		ops[d.Name] = append(ops[d.Name], map[string]any{"operation": "DELETE", "mechanism": scramMechanismLabel(mech, d.Mechanism)})
	}
	for _, u := range req.Upsertions {
		mech, _ := scramMechanismName(u.Mechanism)
		ops[u.Name] = append(ops[u.Name], map[string]any{"operation": "UPSERT", "mechanism": scramMechanismLabel(mech, u.Mechanism), "iterations": u.Iterations})
	}
	for _, res := range resp.Results {
		msg := ""
		if res.ErrorMessage != nil {
			msg = *res.ErrorMessage
		}
		b.audit.admin(r, auditUserResource(res.User), res.ErrorCode, msg, map[string]any{"credentials": ops[res.User]})
	}
}

// scramMechanismLabel names a mechanism in an event, by its code when it
// is not one Skein knows.
func scramMechanismLabel(name string, code int8) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("UNKNOWN(%d)", code)
}
