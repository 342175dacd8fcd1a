package broker

// DeleteAcls (key 31), versions 0–3.
//
// Behavior: as Kafka: the caller needs ALTER on the CLUSTER
// (CLUSTER_AUTHORIZATION_FAILED for every filter otherwise); without an
// authorizer every filter is SECURITY_DISABLED; a filter with unknown
// values is INVALID_REQUEST. Each filter's result lists the bindings it
// removed; a binding matched by several filters is removed once and
// reported under the first. v0 filters are LITERAL.
// Version notes: v1 resource pattern types (KIP-290); v2 flexible
// versions; v3 USER resources (KIP-373).

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDeleteACLs(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	if b.audit != nil {
		defer b.auditDeleteACLs(r, req, resp)
	}
	failAll, failMsg := int16(0), ""
	switch {
	case !b.authorizationOn():
		failAll, failMsg = kerr.SecurityDisabled.Code, "No Authorizer is configured."
	case !b.authorizeCluster(r.Session, acl.OpAlter):
		failAll = kerr.ClusterAuthorizationFailed.Code
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	img := b.meta.Image()
	ids := make([]string, 0, len(img.ACLs))
	for id := range img.ACLs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bindingLess(img.ACLs[ids[i]], img.ACLs[ids[j]]) })
	removed := map[string]bool{}
	var recs []MetadataRecord
	for i, rf := range req.Filters {
		res := &resp.Results[i]
		res.Default()
		res.MatchingACLs = []kmsg.DeleteACLsResponseResultMatchingACL{}
		if failAll != 0 {
			res.ErrorCode = failAll
			if failMsg != "" {
				res.ErrorMessage = kmsg.StringPtr(failMsg)
			}
			continue
		}
		f := deletionFilter(req, rf)
		if err := f.Validate(); err != nil {
			res.ErrorCode = kerr.InvalidRequest.Code
			res.ErrorMessage = kmsg.StringPtr(err.Error())
			continue
		}
		for _, id := range ids {
			bd := bindingOf(img.ACLs[id])
			if removed[id] || !f.Matches(bd) {
				continue
			}
			removed[id] = true
			recs = append(recs, MetadataRecord{Type: RemoveACLRecordType, ACL: &ACLRecord{ID: id}})
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType = kmsg.ACLResourceType(bd.ResourceType)
			m.ResourceName = bd.ResourceName
			m.ResourcePatternType = kmsg.ACLResourcePatternType(bd.PatternType)
			m.Principal, m.Host = bd.Principal, bd.Host
			m.Operation = kmsg.ACLOperation(bd.Operation)
			m.PermissionType = kmsg.ACLPermissionType(bd.Permission)
			res.MatchingACLs = append(res.MatchingACLs, m)
		}
	}
	if len(recs) == 0 {
		return resp
	}
	if err := b.meta.Apply(ctx, recs...); err != nil {
		for i := range resp.Results {
			if resp.Results[i].ErrorCode == 0 {
				resp.Results[i].ErrorCode = kerr.UnknownServerError.Code
				resp.Results[i].ErrorMessage = kmsg.StringPtr(err.Error())
				resp.Results[i].MatchingACLs = []kmsg.DeleteACLsResponseResultMatchingACL{}
			}
		}
		return resp
	}
	b.loadACLs(b.meta.Image())
	b.log.Info("acls deleted", "count", len(recs), "by", b.principal(r.Session))
	return resp
}

// bindingLess orders stored bindings for stable responses.
func bindingLess(x, y ACLRecord) bool {
	if x.ResourceType != y.ResourceType {
		return x.ResourceType < y.ResourceType
	}
	if x.PatternType != y.PatternType {
		return x.PatternType < y.PatternType
	}
	if x.ResourceName != y.ResourceName {
		return x.ResourceName < y.ResourceName
	}
	if x.Principal != y.Principal {
		return x.Principal < y.Principal
	}
	if x.Operation != y.Operation {
		return x.Operation < y.Operation
	}
	return x.ID < y.ID
}

// deletionFilter is the filter of a DeleteAcls; v0 filters are LITERAL.
func deletionFilter(req *kmsg.DeleteACLsRequest, rf kmsg.DeleteACLsRequestFilter) acl.Filter {
	f := acl.Filter{
		ResourceType: acl.ResourceType(rf.ResourceType),
		ResourceName: rf.ResourceName,
		PatternType:  acl.PatternType(rf.ResourcePatternType),
		Principal:    rf.Principal,
		Host:         rf.Host,
		Operation:    acl.Operation(rf.Operation),
		Permission:   acl.Permission(rf.PermissionType),
	}
	if req.Version == 0 {
		f.PatternType = acl.PatternLiteral
	}
	return f
}

// auditDeleteACLs logs each filter with its result and the bindings it
// removed.
func (b *Broker) auditDeleteACLs(r *protocol.Request, req *kmsg.DeleteACLsRequest, resp *kmsg.DeleteACLsResponse) {
	for i, rf := range req.Filters {
		res := resp.Results[i]
		msg := ""
		if res.ErrorMessage != nil {
			msg = *res.ErrorMessage
		}
		deleted := make([]map[string]any, 0, len(res.MatchingACLs))
		for _, m := range res.MatchingACLs {
			deleted = append(deleted, auditBinding(acl.Binding{
				ResourceType: acl.ResourceType(m.ResourceType),
				ResourceName: m.ResourceName,
				PatternType:  acl.PatternType(m.ResourcePatternType),
				Principal:    m.Principal,
				Host:         m.Host,
				Operation:    acl.Operation(m.Operation),
				Permission:   acl.Permission(m.PermissionType),
			}))
		}
		b.audit.admin(r, auditClusterResource(), res.ErrorCode, msg, map[string]any{"filter": auditFilter(deletionFilter(req, rf)), "deleted": deleted})
	}
}
