package broker

// LeaveGroup (key 13), versions 0–5.
//
// Behavior: Kafka's classic protocol. Leaving members are removed at once
// and a stable group rebalances. From v3 a batch of members may leave,
// each identified by member id or, for static members, by group instance
// id alone (KIP-345), each with its own error code.
// Version notes: v1 throttle; v3 batched leave (KIP-345); v4 flexible; v5
// reason (KIP-800).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleLeaveGroup(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.LeaveGroupRequest)
	if !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	if code := b.groupCoordinatorCode(ctx, req.Group); code != 0 {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp
	}
	return b.groups.LeaveGroup(req)
}
