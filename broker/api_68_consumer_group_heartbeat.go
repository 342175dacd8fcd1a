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
// With an authorizer, READ on the group is needed
// (GROUP_AUTHORIZATION_FAILED otherwise), and DESCRIBE on every subscribed
// topic named (TOPIC_AUTHORIZATION_FAILED otherwise), as Kafka checks; the
// topics a regular expression matches are not filtered by ACLs.
// Version notes: v1 client-generated member ids and SubscribedTopicRegex.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ConsumerGroupHeartbeatRequest)
	code := int16(0)
	if !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group) {
		code = kerr.GroupAuthorizationFailed.Code
	}
	for _, t := range req.SubscribedTopicNames {
		if code == 0 && !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTopic, t) {
			code = kerr.TopicAuthorizationFailed.Code
		}
	}
	if code == 0 {
		code = b.groupCoordinatorCode(ctx, req.Group)
	}
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code
		return resp
	}
	return b.groups.ConsumerGroupHeartbeat(req, r.Session.ClientID(), clientHost(r.Session.Remote))
}
