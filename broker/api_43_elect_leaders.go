package broker

// ElectLeaders (key 43), versions 0–2.
//
// Behavior: needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED for
// every partition asked, and at the top level from v1, otherwise).
// PREFERRED elections (type 0; v0 has only these) move the leadership to
// the first replica when it is active and in sync (ELECTION_NOT_NEEDED
// when it leads already, PREFERRED_LEADER_NOT_AVAILABLE when it cannot);
// UNCLEAN elections (type 1) give a partition without an active leader the
// first active in-sync replica, else the first active replica
// (ELECTION_NOT_NEEDED when it has an active leader,
// ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is active). Each
// election is a compare-and-set partition record written through the
// metadata quorum, answered once committed. Null topics means every
// partition, and then, as Kafka's controller does, partitions that need
// no election are left out of the response. Unknown partitions are
// UNKNOWN_TOPIC_OR_PARTITION; an unknown election type INVALID_REQUEST.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

// Election types of ElectLeaders.
const (
	electionPreferred int8 = 0
	electionUnclean   int8 = 1
)

func (b *Broker) handleElectLeaders(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	all := req.Topics == nil
	img := b.freshImage(ctx)
	type tp struct {
		topic string
		p     int32
	}
	var asked []tp
	if all {
		for _, name := range img.sortedTopicNames() {
			for _, p := range sortedPartitions(img.Topics[name]) {
				asked = append(asked, tp{name, p})
			}
		}
	} else {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				asked = append(asked, tp{t.Topic, p})
			}
		}
	}
	results := map[string][]kmsg.ElectLeadersResponseTopicPartition{}
	var order []string
	add := func(topic string, p int32, code int16, msg string) {
		if _, ok := results[topic]; !ok {
			order = append(order, topic)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition, rp.ErrorCode = p, code
		if msg != "" {
			rp.ErrorMessage = kmsg.StringPtr(msg)
		}
		results[topic] = append(results[topic], rp)
	}
	typ := electionPreferred
	if req.Version >= 1 {
		typ = req.ElectionType
	}
	deny := !b.authorizeCluster(r.Session, acl.OpAlter)
	switch {
	case deny:
		if req.Version >= 1 {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		}
		for _, a := range asked {
			add(a.topic, a.p, kerr.ClusterAuthorizationFailed.Code, "")
		}
	case typ != electionPreferred && typ != electionUnclean:
		resp.ErrorCode = kerr.InvalidRequest.Code
		for _, a := range asked {
			add(a.topic, a.p, kerr.InvalidRequest.Code, "Unknown election type")
		}
	default:
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for _, a := range asked {
			code, msg := b.electLeader(ctx, a.topic, a.p, typ)
			if all && code == kerr.ElectionNotNeeded.Code {
				continue
			}
			add(a.topic, a.p, code, msg)
		}
	}
	for _, name := range order {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic, rt.Partitions = name, results[name]
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// partitionOf looks a partition up in img, for an operation on it: an
// unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION with the message
// saying which.
func partitionOf(img *MetadataImage, topicName string, p int32) (*TopicImage, PartitionState, int16, string) {
	t, ok := img.Topics[topicName]
	if !ok {
		return nil, PartitionState{}, kerr.UnknownTopicOrPartition.Code, "The topic does not exist"
	}
	st, ok := t.Partition(p)
	if !ok {
		return nil, PartitionState{}, kerr.UnknownTopicOrPartition.Code, "The partition does not exist"
	}
	return t, st, 0, ""
}

// electLeader runs one election and returns its Kafka error code and
// message. A compare-and-set that meets a newer state is computed again.
func (b *Broker) electLeader(ctx context.Context, topicName string, p int32, typ int8) (int16, string) {
	for attempt := 0; attempt < changeAttempts; attempt++ {
		img := b.meta.Image()
		t, st, code, msg := partitionOf(img, topicName, p)
		if code != 0 {
			return code, msg
		}
		var next PartitionState
		var kerrv *kerr.Error
		if typ == electionPreferred {
			next, kerrv = electPreferred(img, st)
		} else {
			next, kerrv = electUnclean(img, st)
		}
		if kerrv != nil {
			return kerrv.Code, ""
		}
		err := b.meta.Apply(ctx, casRecord(t.ID, p, st, next))
		switch {
		case err == nil:
			b.log.Info("leader elected", "topic", topicName, "partition", p, "leader", next.Leader, "type", typ)
			return 0, ""
		case errors.Is(err, ErrPartitionEpochMismatch):
			continue
		case ctx.Err() != nil:
			return kerr.RequestTimedOut.Code, err.Error()
		default:
			b.log.Error("leader election not written", "topic", topicName, "partition", p, "err", err)
			return kerr.UnknownServerError.Code, err.Error()
		}
	}
	return kerr.UnknownServerError.Code, "the partition kept changing; try again"
}
