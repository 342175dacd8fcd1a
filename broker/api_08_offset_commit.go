package broker

// OffsetCommit (key 8), versions 2–9.
//
// Behavior: offsets are written to the group's partition of
// __consumer_offsets as Kafka's OffsetCommitKey/OffsetCommitValue records
// and acknowledged only once fsynced. Generation and member checks are
// Kafka's: a stale generation is ILLEGAL_GENERATION, an unknown member of a
// group with members is UNKNOWN_MEMBER_ID, a commit during
// CompletingRebalance is REBALANCE_IN_PROGRESS, and a "simple" commit
// (generation -1, no member id) is accepted while the group is empty,
// creating the group if needed. Partitions of unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION; metadata over offset.metadata.max.bytes gets
// OFFSET_METADATA_TOO_LARGE. The retention time of v2–v4 is ignored, as in
// Kafka since KIP-211: offsets.retention.minutes applies.
// Versions 0–1 are not served, as Kafka 4 removed them (KIP-896).
// Version notes: v3 throttle time; v5 drops retention time; v6 leader
// epoch (KIP-320); v7 group instance id (KIP-345); v8 flexible; v9 member
// epochs of consumer groups (KIP-848), GROUP_ID_NOT_FOUND for a missing
// group.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleOffsetCommit(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.OffsetCommitRequest)
	code := int16(0)
	if !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group) {
		code = kerr.GroupAuthorizationFailed.Code
	}
	if code == 0 {
		code = b.groupCoordinatorCode(ctx, req.Group)
	}
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range req.Topics {
			st := kmsg.OffsetCommitResponseTopic{Topic: rt.Topic}
			for _, rp := range rt.Partitions {
				st.Partitions = append(st.Partitions, kmsg.OffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: code})
			}
			resp.Topics = append(resp.Topics, st)
		}
		return protocol.Reply{Resp: resp}
	}
	req, denied := b.offsetCommitDenied(r.Session, req)
	resp, wait := b.groups.OffsetCommit(req)
	resp.Topics = append(resp.Topics, denied...)
	if wait == nil {
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		// The record is written: its fsync does not depend on the
		// client still listening.
		wait()
		return resp
	}}
}
