package broker

// Heartbeat (key 12), versions 0–4.
//
// Behavior: Kafka's classic protocol. A heartbeat from a current member
// extends its session; it answers REBALANCE_IN_PROGRESS while the group
// prepares a rebalance (the member must rejoin), ILLEGAL_GENERATION for a
// stale generation, UNKNOWN_MEMBER_ID for a removed member and
// FENCED_INSTANCE_ID for a replaced static member.
// Version notes: v1 throttle; v3 group instance id (KIP-345); v4 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleHeartbeat(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.HeartbeatRequest)
	if !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	if code := b.groupCoordinatorCode(ctx, req.Group); code != 0 {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp
	}
	return b.groups.Heartbeat(req)
}
