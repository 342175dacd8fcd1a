package broker

// DescribeAcls (key 29), versions 0–3.
//
// Behavior: as Kafka: the caller needs DESCRIBE on the CLUSTER
// (CLUSTER_AUTHORIZATION_FAILED otherwise); without an authorizer the
// answer is SECURITY_DISABLED; a filter with an unknown resource type,
// pattern type, operation or permission is INVALID_REQUEST. Matching
// bindings are grouped by resource pattern.
// Version notes: v1 resource pattern types (KIP-290); v2 flexible
// versions; v3 USER resources (KIP-373).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeACLs(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	a := b.authorizer.Load()
	if a == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		resp.ErrorMessage = kmsg.StringPtr("No Authorizer is configured.")
		return resp
	}
	if !b.authorizeCluster(r.Session, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	f := acl.Filter{
		ResourceType: acl.ResourceType(req.ResourceType),
		ResourceName: req.ResourceName,
		PatternType:  acl.PatternType(req.ResourcePatternType),
		Principal:    req.Principal,
		Host:         req.Host,
		Operation:    acl.Operation(req.Operation),
		Permission:   acl.Permission(req.PermissionType),
	}
	if req.Version == 0 {
		f.PatternType = acl.PatternLiteral
	}
	if err := f.Validate(); err != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		return resp
	}
	resp.Resources = []kmsg.DescribeACLsResponseResource{}
	for _, bd := range a.Bindings(f) {
		n := len(resp.Resources)
		if n == 0 || resp.Resources[n-1].ResourceType != kmsg.ACLResourceType(bd.ResourceType) ||
			resp.Resources[n-1].ResourceName != bd.ResourceName || resp.Resources[n-1].ResourcePatternType != kmsg.ACLResourcePatternType(bd.PatternType) {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType = kmsg.ACLResourceType(bd.ResourceType)
			res.ResourceName = bd.ResourceName
			res.ResourcePatternType = kmsg.ACLResourcePatternType(bd.PatternType)
			resp.Resources = append(resp.Resources, res)
			n++
		}
		resp.Resources[n-1].ACLs = append(resp.Resources[n-1].ACLs, kmsg.DescribeACLsResponseResourceACL{
			Principal:      bd.Principal,
			Host:           bd.Host,
			Operation:      kmsg.ACLOperation(bd.Operation),
			PermissionType: kmsg.ACLPermissionType(bd.Permission),
		})
	}
	return resp
}
