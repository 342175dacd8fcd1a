package broker

// DescribeUserScramCredentials (key 50), version 0.
//
// Behavior: lists the SCRAM mechanisms and iteration counts of the users
// named, or of every user with a credential when the list is null or
// empty. Salts and keys are never returned. A user named twice answers
// DUPLICATE_RESOURCE and a user without credentials RESOURCE_NOT_FOUND,
// with Kafka's messages. With an authorizer, DESCRIBE on the cluster is
// needed (CLUSTER_AUTHORIZATION_FAILED for the whole request otherwise).

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/protocol"
)

// scramMechanismCodes are Kafka's ScramMechanism type codes.
var scramMechanismCodes = map[string]int8{sasl.ScramSHA256: 1, sasl.ScramSHA512: 2}

func scramMechanismName(code int8) (string, bool) {
	for name, c := range scramMechanismCodes {
		if c == code {
			return name, true
		}
	}
	return "", false
}

func (b *Broker) handleDescribeUserScramCredentials(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if !b.authorizeCluster(r.Session, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(authorizationMessage(resp.ErrorCode))
		return resp
	}
	byUser := map[string][]ScramCredentialRecord{}
	for _, c := range b.meta.Image().ScramCredentials {
		byUser[c.User] = append(byUser[c.User], c)
	}
	var users []string
	if len(req.Users) == 0 {
		for u := range byUser {
			users = append(users, u)
		}
		sort.Strings(users)
	} else {
		for _, u := range req.Users {
			users = append(users, u.Name)
		}
	}
	count := map[string]int{}
	for _, u := range users {
		count[u]++
	}
	seen := map[string]bool{}
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User = u
		creds := byUser[u]
		switch {
		case count[u] > 1:
			res.ErrorCode = kerr.DuplicateResource.Code
			res.ErrorMessage = kmsg.StringPtr("Cannot describe SCRAM credentials for the same user twice in a single request: " + u)
		case len(creds) == 0:
			res.ErrorCode = kerr.ResourceNotFound.Code
			res.ErrorMessage = kmsg.StringPtr("Attempt to describe a user credential that does not exist: " + u)
		default:
			sort.Slice(creds, func(i, j int) bool { return creds[i].Mechanism < creds[j].Mechanism })
			for _, c := range creds {
				ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				ci.Mechanism = scramMechanismCodes[c.Mechanism]
				ci.Iterations = c.Iterations
				res.CredentialInfos = append(res.CredentialInfos, ci)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp
}
