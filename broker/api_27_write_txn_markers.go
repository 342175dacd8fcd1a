package broker

// WriteTxnMarkers (key 27), versions 0–2.
//
// Behavior: the request a transaction coordinator sends to partition
// leaders. Each marker is written to each named partition of this broker
// and fsynced; every partition is answered on its own: a partition that
// does not exist gets UNKNOWN_TOPIC_OR_PARTITION, a marker older than the
// producer's epoch there INVALID_PRODUCER_EPOCH, a storage failure
// KAFKA_STORAGE_ERROR. For __consumer_offsets partitions the group
// coordinator is told, as for markers of the local coordinator.
// Version notes: v1 flexible; v2 transaction version of the marker
// (KIP-890), accepted and not needed to write it.
//
// With an authorizer, ALTER or CLUSTER_ACTION on the cluster is needed;
// without it every partition is CLUSTER_AUTHORIZATION_FAILED and nothing is
// written.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/txn"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleWriteTxnMarkers(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	if !b.authorizeQuietly(r.Session, acl.OpAlter, acl.ResourceCluster, acl.ClusterName) && !b.authorizeCluster(r.Session, acl.OpClusterAction) {
		for _, m := range req.Markers {
			rm := kmsg.WriteTxnMarkersResponseMarker{ProducerID: m.ProducerID}
			for _, t := range m.Topics {
				rt := kmsg.WriteTxnMarkersResponseMarkerTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					rt.Partitions = append(rt.Partitions, kmsg.WriteTxnMarkersResponseMarkerTopicPartition{Partition: p, ErrorCode: kerr.ClusterAuthorizationFailed.Code})
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		for _, m := range req.Markers {
			rm := kmsg.WriteTxnMarkersResponseMarker{ProducerID: m.ProducerID}
			for _, t := range m.Topics {
				rt := kmsg.WriteTxnMarkersResponseMarkerTopic{Topic: t.Topic}
				for _, p := range t.Partitions {
					err := b.writeMarker(txn.TopicPartition{Topic: t.Topic, Partition: p}, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch)
					rt.Partitions = append(rt.Partitions, kmsg.WriteTxnMarkersResponseMarkerTopicPartition{Partition: p, ErrorCode: b.markerErrorCode(err)})
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		return resp
	}}
}

func (b *Broker) markerErrorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.Is(err, txn.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.As(err, &ke):
		return ke.Code
	}
	b.log.Error("writing transaction marker failed", "err", err)
	return kerr.KafkaStorageError.Code
}
