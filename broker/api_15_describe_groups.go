package broker

// DescribeGroups (key 15), versions 0–5.
//
// Behavior: classic groups are described with their state, protocol type,
// and members (client id, host, instance id); member metadata, assignment
// and the protocol name are given only for a Stable group, as Kafka does.
// A group that does not exist, or that is a consumer group of the KIP-848
// protocol, is reported with state Dead and no error, as Kafka does before
// v6. With an authorizer, each group needs DESCRIBE
// (GROUP_AUTHORIZATION_FAILED otherwise); authorized operations (v3+, when
// asked for) are computed from the ACLs, all of them without an authorizer.
// Version notes: v1 throttle; v3 authorized operations (KIP-430); v4 group
// instance id (KIP-345); v5 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeGroups(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeGroupsRequest)
	codes, permitted := b.describableGroups(r.Session, req.Groups)
	cp := *req
	cp.Groups = permitted
	described := b.groups.DescribeGroups(&cp)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for i, g := range req.Groups {
		if codes[i] != 0 {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode, dg.AuthorizedOperations = g, codes[i], authorizedOpsOmitted
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg := described.Groups[0]
		described.Groups = described.Groups[1:]
		if req.Version >= 3 && req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = b.authorizedOps(r.Session, acl.ResourceGroup, g)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// describableGroups splits the groups of DescribeGroups and
// ConsumerGroupDescribe: the error of each group that is not described
// (GROUP_AUTHORIZATION_FAILED without DESCRIBE, NOT_COORDINATOR when
// another broker coordinates it), and the groups to describe, in order.
func (b *Broker) describableGroups(sess *protocol.Session, groups []string) (codes []int16, permitted []string) {
	allowed, _ := b.authorizeGroups(sess, acl.OpDescribe, groups)
	codes = make([]int16, len(groups))
	for i, g := range groups {
		switch {
		case !allowed[i]:
			codes[i] = kerr.GroupAuthorizationFailed.Code
		case !b.coordinatesGroup(g):
			codes[i] = kerr.NotCoordinator.Code
		default:
			permitted = append(permitted, g)
		}
	}
	return codes, permitted
}
