package broker

// ConsumerGroupHeartbeat (key 68), versions 0–1.
//
// Behavior: the consumer group protocol of KIP-848 with server-side
// assignors (group.consumer.assignors: uniform, range). A member joins
// with epoch 0, leaves with -1 (-2 for a static member), and otherwise
// heartbeats with its epoch and the partitions it owns. The group epoch
// moves when members or subscriptions change; the target assignment is
// recomputed then, and each member moves towards its target: partitions
// it must give up are revoked first (its epoch stays until a heartbeat
// shows them released, within its rebalance timeout), and a partition is
// given to its new owner only once no other member owns or is revoking it.
// Subscriptions are topic names or a regular expression (RE2 syntax,
// matched against the whole name; internal topics never match), re-evaluated
// as topics appear. Members that miss group.consumer.session.timeout.ms are
// removed. Member state is kept in memory: after a restart, members get
// UNKNOWN_MEMBER_ID and rejoin from their committed offsets.
// Version notes: v1 client-generated member ids and SubscribedTopicRegex.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ConsumerGroupHeartbeatRequest)
	if code := b.ensureOffsetsTopic(ctx); code != 0 {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		return resp
	}
	return b.groups.ConsumerGroupHeartbeat(req, r.Session.ClientID(), clientHost(r.Session.Remote))
}
