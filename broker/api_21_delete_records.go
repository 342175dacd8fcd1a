package broker

// DeleteRecords (key 21), versions 0–2.
//
// Behavior: advances the log start offset of each partition to the given
// offset (-1 means the high watermark); segments wholly below it are
// deleted. An offset above the high watermark is OFFSET_OUT_OF_RANGE. Only
// the partition's leader deletes: other brokers answer
// NOT_LEADER_OR_FOLLOWER. The
// response's low watermark is the new log start offset. With an
// authorizer, each topic needs DELETE; the partitions of a topic without it
// are TOPIC_AUTHORIZATION_FAILED and keep their records.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDeleteRecords(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.DeleteRecordsResponseTopic{Topic: rt.Topic}
		allowed := b.authorize(r.Session, acl.OpDelete, acl.ResourceTopic, rt.Topic)
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.DeleteRecordsResponseTopicPartition{Partition: rp.Partition, LowWatermark: -1}
			p, code := leaderPartition(t, rp.Partition, -1)
			switch {
			case !allowed:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case code != 0:
				sp.ErrorCode = code
			default:
				off := rp.Offset
				hw := p.highWatermark()
				if off == -1 {
					off = hw
				}
				if off < 0 || off > hw {
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
					break
				}
				if off > p.log.LogStartOffset() {
					if err := p.log.DeleteRecordsBefore(off); err != nil {
						b.log.Error("delete records failed", "topic", p.topic.name, "partition", p.index, "err", err)
						sp.ErrorCode = kerr.KafkaStorageError.Code
						break
					}
				}
				sp.LowWatermark = p.log.LogStartOffset()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
		if b.audit != nil {
			b.auditDeleteRecords(r, rt, st)
		}
	}
	return resp
}

// auditDeleteRecords logs the DeleteRecords of one topic: the offsets
// asked for and each partition's outcome. The result is the first error
// of a partition, SUCCESS when there is none.
func (b *Broker) auditDeleteRecords(r *protocol.Request, rt kmsg.DeleteRecordsRequestTopic, st kmsg.DeleteRecordsResponseTopic) {
	code := int16(0)
	parts := make([]map[string]any, 0, len(st.Partitions))
	for i, sp := range st.Partitions {
		if code == 0 {
			code = sp.ErrorCode
		}
		parts = append(parts, map[string]any{"partition": sp.Partition, "offset": rt.Partitions[i].Offset, "lowWatermark": sp.LowWatermark, "errorCode": sp.ErrorCode})
	}
	b.audit.admin(r, auditTopicResource(rt.Topic), code, "", map[string]any{"partitions": parts})
}
