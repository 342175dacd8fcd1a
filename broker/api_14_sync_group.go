package broker

// SyncGroup (key 14), versions 0–5.
//
// Behavior: Kafka's classic protocol. The leader's SyncGroup carries the
// assignment; it is written to __consumer_offsets as Kafka's
// GroupMetadataValue, and once fsynced every waiting member gets its part
// and the group becomes Stable. Followers wait (in a deferred reply) for
// that. Errors are Kafka's: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS while the group is preparing
// a rebalance, INCONSISTENT_GROUP_PROTOCOL when protocol type or name
// (v5+) do not match the group's.
// Version notes: v1 throttle; v3 group instance id (KIP-345); v4 flexible;
// v5 protocol type and name (KIP-559).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleSyncGroup(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.SyncGroupRequest)
	if !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return protocol.Reply{Resp: resp}
	}
	if code := b.groupCoordinatorCode(ctx, req.Group); code != 0 {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return protocol.Reply{Resp: resp}
	}
	ch := b.groups.SyncGroup(req)
	select {
	case resp := <-ch:
		return protocol.Reply{Resp: resp}
	default:
	}
	return protocol.Reply{Wait: func(ctx context.Context) kmsg.Response {
		select {
		case resp := <-ch:
			return resp
		case <-ctx.Done():
			// As in JoinGroup: the broker may be shutting down with
			// the connection still open; the member rejoins through
			// the coordinator it looks up again.
			resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = kerr.NotCoordinator.Code
			return resp
		}
	}}
}
