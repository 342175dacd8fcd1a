package broker

// ListOffsets (key 2), versions 0–11.
//
// Behavior: timestamps -2 (earliest) and -1 (latest: the high
// watermark, the last stable offset under read_committed, the log end
// offset for a replica id other than -1), -3 the offset of the largest timestamp
// (v7+, KIP-734), -4 earliest local = earliest with no tiered storage
// (v8+), -5 latest tiered and -6 earliest pending upload answer -1 as Kafka
// does when remote storage is off; any other timestamp finds the first
// record whose timestamp is at or after it, looking inside compressed
// batches. v0 answers with the old offsets array.
// Only the partition's leader answers: other brokers answer
// NOT_LEADER_OR_FOLLOWER, and a current leader epoch older or newer than
// the partition's is FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH.
// Version notes: v1 single offset + timestamp; v2 isolation level; v4
// leader epochs and fencing.
//
// With an authorizer, each topic needs DESCRIBE; the partitions of a topic
// without it are TOPIC_AUTHORIZATION_FAILED.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/protocol/records"
)

const (
	listLatest                = -1
	listEarliest              = -2
	listMaxTimestamp          = -3
	listEarliestLocal         = -4
	listLatestTiered          = -5
	listEarliestPendingUpload = -6
)

func (b *Broker) handleListOffsets(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.ListOffsetsResponseTopic{Topic: rt.Topic}
		if !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTopic, rt.Topic) {
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
				if req.Version == 0 {
					sp.OldStyleOffsets = []int64{}
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		t := b.lookupTopic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			p, code := leaderPartition(t, rp.Partition, rp.CurrentLeaderEpoch)
			if code != 0 {
				sp.ErrorCode = code
				if req.Version == 0 {
					sp.OldStyleOffsets = []int64{}
				}
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			leaderEpoch := p.leaderEpoch()
			offset, ts, err := b.listOffset(p, rp.Timestamp, req.IsolationLevel)
			if rp.Timestamp == listLatest && req.ReplicaID != -1 {
				// A replica (or the debugging replica id -2) asks
				// for the log end, not the high watermark, as in
				// Kafka.
				offset = p.log.LogEndOffset()
			}
			if err != nil {
				sp.ErrorCode = kerr.KafkaStorageError.Code
			} else {
				sp.Offset, sp.Timestamp, sp.LeaderEpoch = offset, ts, leaderEpoch
				if offset < 0 {
					sp.LeaderEpoch = -1
				}
				if req.Version == 0 {
					sp.OldStyleOffsets = []int64{}
					if offset >= 0 {
						sp.OldStyleOffsets = append(sp.OldStyleOffsets, offset)
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// listOffset answers one ListOffsets query: the offset and the timestamp
// of the record found (-1 when none).
func (b *Broker) listOffset(p *partition, ts int64, isolation int8) (int64, int64, error) {
	switch ts {
	case listLatest:
		if isolation == isolationReadCommitted {
			return p.lastStableOffset(), -1, nil
		}
		return p.highWatermark(), -1, nil
	case listEarliest, listEarliestLocal:
		return p.log.LogStartOffset(), -1, nil
	case listMaxTimestamp:
		maxTS, off := p.log.MaxTimestamp()
		if off < 0 {
			return -1, -1, nil
		}
		return b.recordAtTimestamp(p, off, maxTS)
	case listLatestTiered, listEarliestPendingUpload:
		return -1, -1, nil
	}
	if ts < 0 {
		return -1, -1, nil
	}
	return b.offsetForTimestamp(p, ts)
}

// recordAtTimestamp returns the offset of the first record at or after
// offset from whose timestamp is >= ts, walking the records of the batch
// that holds offset from.
func (b *Broker) recordAtTimestamp(p *partition, from, ts int64) (int64, int64, error) {
	rr, err := p.log.Read(from, 1, p.highWatermark(), true, nil)
	if err != nil || len(rr.Data) == 0 {
		return -1, -1, err
	}
	resOff, resTS := int64(-1), int64(-1)
	err = records.ForEachRecord(rr.Data, nil, func(rv records.RecordView) error {
		if rv.Offset >= from && rv.Timestamp >= ts {
			resOff, resTS = rv.Offset, rv.Timestamp
			return errStopIteration
		}
		return nil
	})
	if err != nil && err != errStopIteration {
		return -1, -1, err
	}
	return resOff, resTS, nil
}

// offsetForTimestamp finds the first record with a timestamp >= ts.
// Storage finds the first batch whose max timestamp qualifies; that batch
// holds the first qualifying record (a LogAppendTime batch gives every
// record its max timestamp), so only its records are walked.
func (b *Broker) offsetForTimestamp(p *partition, ts int64) (int64, int64, error) {
	off, _, found, err := p.log.OffsetForTimestamp(ts)
	if err != nil || !found || off >= p.highWatermark() {
		return -1, -1, err
	}
	return b.recordAtTimestamp(p, off, ts)
}
