package broker

// OffsetForLeaderEpoch (key 23), versions 0–4.
//
// Behavior: for each partition, the largest leader epoch at or below the
// requested one and the offset where the following epoch starts (the log
// end offset for the latest epoch), from the leader epoch checkpoint kept
// with the log; UNDEFINED (-1, -1) when the log has no epoch at or below
// it. Consumers use it to detect log truncation after a leader change.
// Only the partition's leader answers, for consumers and followers alike:
// other brokers answer NOT_LEADER_OR_FOLLOWER, and a current leader epoch
// older or newer than the partition's is FENCED_LEADER_EPOCH or
// UNKNOWN_LEADER_EPOCH.
// Version notes: v2 current leader epoch fencing; v3 replica id.
//
// With an authorizer, CLUSTER_ACTION on the cluster (brokers) or DESCRIBE on
// each topic (consumers, KIP-320) is needed; the partitions of a topic
// without either are TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleOffsetForLeaderEpoch(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	clusterAction := b.authorizeQuietly(r.Session, acl.OpClusterAction, acl.ResourceCluster, acl.ClusterName)
	for _, rt := range req.Topics {
		st := kmsg.OffsetForLeaderEpochResponseTopic{Topic: rt.Topic}
		if !clusterAction && !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTopic, rt.Topic) {
			for _, rp := range rt.Partitions {
				st.Partitions = append(st.Partitions, kmsg.OffsetForLeaderEpochResponseTopicPartition{Partition: rp.Partition, ErrorCode: kerr.TopicAuthorizationFailed.Code, LeaderEpoch: -1, EndOffset: -1})
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.OffsetForLeaderEpochResponseTopicPartition{Partition: rp.Partition, LeaderEpoch: -1, EndOffset: -1}
			if p, code := leaderPartition(t, rp.Partition, rp.CurrentLeaderEpoch); code != 0 {
				sp.ErrorCode = code
			} else {
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
