package broker

// JoinGroup (key 11), versions 0–9.
//
// Behavior: Kafka's classic group protocol. A join waits (in a deferred
// reply, never blocking the connection's reader or other connections)
// until the rebalance completes: every known member has rejoined, the
// rebalance timeout (the largest of the members') passes, or, for a new
// group, group.initial.rebalance.delay.ms has passed with no new member.
// The leader's response lists the members and their metadata for the
// protocol chosen by vote among the protocols all members support
// (INCONSISTENT_GROUP_PROTOCOL when there is none). Session timeouts
// outside group.min/max.session.timeout.ms are INVALID_SESSION_TIMEOUT.
// A static member (group.instance.id, KIP-345) rejoining a stable group
// with unchanged protocols keeps the generation and its assignment, with
// no rebalance, and fences its previous instance (FENCED_INSTANCE_ID).
// Version notes: v1 rebalance timeout (v0 uses the session timeout); v2
// throttle; v4 MEMBER_ID_REQUIRED for a first join (KIP-394); v5 group
// instance id (KIP-345); v6 flexible; v7 protocol type in the response; v8
// reason (KIP-800); v9 skip assignment (always false here).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleJoinGroup(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.JoinGroupRequest)
	code := int16(0)
	if !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group) {
		code = kerr.GroupAuthorizationFailed.Code
	}
	if code == 0 {
		code = b.groupCoordinatorCode(ctx, req.Group)
	}
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation, resp.MemberID = code, -1, req.MemberID
		if req.Version < 7 {
			resp.Protocol = kmsg.StringPtr("")
		}
		return protocol.Reply{Resp: resp}
	}
	ch := b.groups.JoinGroup(req, r.Session.ClientID(), clientHost(r.Session.Remote))
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
			// The connection is gone, or the broker is shutting
			// down and the answer may still reach the member: it is
			// NOT_COORDINATOR, so that the member looks the
			// coordinator up again and rejoins there. The member
			// stays until its rebalance or session times out, as in
			// Kafka.
			resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode, resp.Generation, resp.MemberID = kerr.NotCoordinator.Code, -1, req.MemberID
			if req.Version < 7 {
				resp.Protocol = kmsg.StringPtr("")
			}
			return resp
		}
	}}
}
