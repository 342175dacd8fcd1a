package broker

// AlterPartitionReassignments (key 45), versions 0–1.
//
// Behavior: needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED at
// the top level otherwise). For each partition, a replica list starts a
// reassignment as KRaft's controller does: the replicas become the target
// followed by the replicas it drops, the new replicas are "adding" (their
// brokers open them as followers), the dropped ones "removing"; once every
// adding replica is in the ISR the active controller completes it (the
// removing replicas leave, and the leadership moves when the leader is
// one of them). A reassignment that adds no replica completes at once. A
// null replica list cancels the ongoing reassignment
// (NO_REASSIGNMENT_IN_PROGRESS when there is none): the adding replicas
// leave again. Replica lists are checked as manual assignments
// (INVALID_REPLICA_ASSIGNMENT: empty, unregistered broker, broker listed
// twice); with v1's AllowReplicationFactorChange false a list whose size
// differs from the current replication factor is
// INVALID_REPLICATION_FACTOR. Unknown partitions are
// UNKNOWN_TOPIC_OR_PARTITION. Each change is a compare-and-set partition
// record written through the metadata quorum.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleAlterPartitionReassignments(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if !b.authorizeCluster(r.Session, acl.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	allowRF := req.Version < 1 || req.AllowReplicationFactorChange
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b.freshImage(ctx) // decide on the current state
	for _, t := range req.Topics {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			code, msg := b.reassignPartition(ctx, t.Topic, p.Partition, p.Replicas, allowRF)
			rp.ErrorCode = code
			if msg != "" {
				rp.ErrorMessage = kmsg.StringPtr(msg)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// reassignPartition starts (target not nil) or cancels a reassignment and
// returns its Kafka error code and message.
func (b *Broker) reassignPartition(ctx context.Context, topicName string, p int32, target []int32, allowRF bool) (int16, string) {
	for attempt := 0; attempt < changeAttempts; attempt++ {
		img := b.meta.Image()
		t, st, code, msg := partitionOf(img, topicName, p)
		if code != 0 {
			return code, msg
		}
		var next PartitionState
		if target == nil {
			var kerrv *kerr.Error
			if next, kerrv = cancelReassignment(img, st); kerrv != nil {
				return kerrv.Code, ""
			}
		} else {
			if orig := originalReplicas(st); !allowRF && len(target) != len(orig) {
				return kerr.InvalidReplicationFactor.Code, fmt.Sprintf("The replication factor is changed from %d to %d", len(orig), len(target))
			}
			var perr *placementError
			if next, perr = reassign(img, st, target); perr != nil {
				return perr.code.Code, perr.msg
			}
			if stateEqual(next, st) {
				return 0, ""
			}
		}
		err := b.meta.Apply(ctx, casRecord(t.ID, p, st, next))
		switch {
		case err == nil:
			b.log.Info("partition reassignment", "topic", topicName, "partition", p, "replicas", next.Replicas, "adding", next.AddingReplicas, "removing", next.RemovingReplicas, "cancel", target == nil)
			return 0, ""
		case errors.Is(err, ErrPartitionEpochMismatch):
			continue
		case ctx.Err() != nil:
			return kerr.RequestTimedOut.Code, err.Error()
		default:
			b.log.Error("partition reassignment not written", "topic", topicName, "partition", p, "err", err)
			return kerr.UnknownServerError.Code, err.Error()
		}
	}
	return kerr.UnknownServerError.Code, "the partition kept changing; try again"
}
