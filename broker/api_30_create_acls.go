package broker

// CreateAcls (key 30), versions 0–3.
//
// Behavior: as Kafka: the caller needs ALTER on the CLUSTER
// (CLUSTER_AUTHORIZATION_FAILED for every creation otherwise); without an
// authorizer every creation is SECURITY_DISABLED; an invalid binding
// (unknown or ANY values, MATCH or ANY pattern type, empty name, a CLUSTER
// not named kafka-cluster, a principal without a type) is INVALID_REQUEST
// with Kafka's message. Bindings are stored in the cluster metadata and
// apply at once; creating a binding that exists already succeeds without
// adding a second copy. v0 creations are LITERAL.
// Version notes: v1 resource pattern types (KIP-290); v2 flexible
// versions; v3 USER resources (KIP-373).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleCreateACLs(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	if b.audit != nil {
		defer b.auditCreateACLs(r, req, resp)
	}
	failAll, failMsg := int16(0), ""
	switch {
	case !b.authorizationOn():
		failAll, failMsg = kerr.SecurityDisabled.Code, "No Authorizer is configured."
	case !b.authorizeCluster(r.Session, acl.OpAlter):
		failAll = kerr.ClusterAuthorizationFailed.Code
	}
	var recs []MetadataRecord
	var recIdx []int
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	existing := map[acl.Binding]bool{}
	if failAll == 0 {
		for _, rec := range b.meta.Image().ACLs {
			existing[bindingOf(rec)] = true
		}
	}
	for i, c := range req.Creations {
		res := &resp.Results[i]
		res.Default()
		if failAll != 0 {
			res.ErrorCode = failAll
			if failMsg != "" {
				res.ErrorMessage = kmsg.StringPtr(failMsg)
			}
			continue
		}
		bd := creationBinding(req, c)
		if err := bd.Validate(); err != nil {
			res.ErrorCode = kerr.InvalidRequest.Code
			res.ErrorMessage = kmsg.StringPtr(err.Error())
			continue
		}
		if existing[bd] {
			continue
		}
		existing[bd] = true
		rec := aclRecordOf(newACLID(), bd)
		recs = append(recs, MetadataRecord{Type: ACLRecordType, ACL: &rec})
		recIdx = append(recIdx, i)
	}
	if len(recs) == 0 {
		return resp
	}
	if err := b.meta.Apply(ctx, recs...); err != nil {
		for _, i := range recIdx {
			resp.Results[i].ErrorCode = kerr.UnknownServerError.Code
			resp.Results[i].ErrorMessage = kmsg.StringPtr(err.Error())
		}
		return resp
	}
	b.loadACLs(b.meta.Image())
	for _, rec := range recs {
		b.log.Info("acl created", "acl", bindingOf(*rec.ACL).String(), "by", b.principal(r.Session))
	}
	return resp
}

// creationBinding is the binding a creation asks for; v0 creations are
// LITERAL.
func creationBinding(req *kmsg.CreateACLsRequest, c kmsg.CreateACLsRequestCreation) acl.Binding {
	bd := acl.Binding{
		ResourceType: acl.ResourceType(c.ResourceType),
		ResourceName: c.ResourceName,
		PatternType:  acl.PatternType(c.ResourcePatternType),
		Principal:    c.Principal,
		Host:         c.Host,
		Operation:    acl.Operation(c.Operation),
		Permission:   acl.Permission(c.PermissionType),
	}
	if req.Version == 0 {
		bd.PatternType = acl.PatternLiteral
	}
	return bd
}

// auditCreateACLs logs each creation with its result. The resource is the
// cluster, whose ACLs change; the binding is in the request details.
func (b *Broker) auditCreateACLs(r *protocol.Request, req *kmsg.CreateACLsRequest, resp *kmsg.CreateACLsResponse) {
	for i, c := range req.Creations {
		res := resp.Results[i]
		msg := ""
		if res.ErrorMessage != nil {
			msg = *res.ErrorMessage
		}
		b.audit.admin(r, auditClusterResource(), res.ErrorCode, msg, map[string]any{"acl": auditBinding(creationBinding(req, c))})
	}
}
