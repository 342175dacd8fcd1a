package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (KIP-98, KIP-447), as Kafka's
// GroupMetadata keeps them: TxnOffsetCommit writes the offsets to the
// group's partition of __consumer_offsets as a transactional batch of the
// producer, and keeps them pending per (group, producer). They are not
// visible to OffsetFetch until the transaction's COMMIT marker is written
// to that partition; they then replace the committed offsets, unless a
// commit written after them already did. An ABORT marker drops them.
// Replay rebuilds the pending offsets from the transactional batches and
// resolves them with the markers found later in the partition; those
// still open after the replay stay pending until the transaction
// coordinator ends their transaction.

// TxnOffsetCommit handles a TxnOffsetCommit. The broker has checked that
// the group's partition is part of the producer's ongoing transaction
// (AddOffsetsToTxn). The offsets are pending once appended; wait, when
// not nil, must return before the response is sent: it waits for the
// fsync of the batch and turns a failure into NOT_COORDINATOR.
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) (resp *kmsg.TxnOffsetCommitResponse, wait func()) {
	resp = req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	code := c.validateTxnCommit(req, now)
	var g *group
	if code == 0 {
		g = c.mu.groups[req.Group]
	}
	var (
		recs    []Record
		entries []topicPartition
		values  []*offsetEntry
	)
	for _, rt := range req.Topics {
		st := kmsg.TxnOffsetCommitResponseTopic{Topic: rt.Topic}
		ti, known := c.cfg.Topics.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.TxnOffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: code}
			if code == 0 {
				switch {
				case !known || rp.Partition < 0 || rp.Partition >= ti.Partitions:
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				case rp.Metadata != nil && len(*rp.Metadata) > c.cfg.OffsetMetadataMaxBytes:
					sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				default:
					epoch := int32(-1)
					if req.Version >= 2 {
						epoch = rp.LeaderEpoch
					}
					o := &offsetEntry{offset: rp.Offset, leaderEpoch: epoch, metadata: deref(rp.Metadata), commitTimestamp: now.UnixMilli(), expireTimestamp: -1}
					entries = append(entries, topicPartition{rt.Topic, rp.Partition})
					values = append(values, o)
					recs = append(recs, Record{Key: offsetKey(g.id, rt.Topic, rp.Partition), Value: offsetValue(o)})
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(recs) == 0 {
		return resp, nil
	}
	var ok []*kmsg.TxnOffsetCommitResponseTopicPartition
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			if sp := &resp.Topics[ti].Partitions[pi]; sp.ErrorCode == 0 {
				ok = append(ok, sp)
			}
		}
	}
	setAll := func(code int16) {
		for _, sp := range ok {
			sp.ErrorCode = code
		}
	}
	last, err := c.cfg.Log.AppendTxn(g.partition, req.ProducerID, req.ProducerEpoch, recs)
	if err != nil {
		if errors.Is(err, kerr.InvalidProducerEpoch) {
			setAll(kerr.InvalidProducerEpoch.Code)
		} else {
			c.log.Error("append to __consumer_offsets failed", "group", g.id, "partition", g.partition, "err", err)
			setAll(kerr.NotCoordinator.Code)
		}
		return resp, nil
	}
	for i, tp := range entries {
		c.addTxnOffsetLocked(g, req.ProducerID, tp, values[i])
	}
	return resp, c.waitDurable([]durable{{g.partition, last}}, func(int32) { setAll(kerr.NotCoordinator.Code) })
}

// validateTxnCommit applies Kafka's checks of a transactional commit's
// group, member and generation (KIP-447, v3+). Unlike OffsetCommit, a
// commit without member id and generation is accepted whatever the
// group's state, since versions 0–2 carry neither, and a commit during
// CompletingRebalance is accepted.
func (c *Coordinator) validateTxnCommit(req *kmsg.TxnOffsetCommitRequest, now time.Time) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	memberID, generation, inst := "", int32(-1), ""
	if req.Version >= 3 {
		memberID, generation, inst = req.MemberID, req.Generation, deref(req.InstanceID)
	}
	g := c.mu.groups[req.Group]
	if g == nil {
		if generation >= 0 {
			return kerr.IllegalGeneration.Code
		}
		// A simple group, as OffsetCommit creates one.
		c.mu.groups[req.Group] = newGroup(req.Group, c.Partition(req.Group), now)
		return 0
	}
	anonymous := generation < 0 && memberID == "" && inst == ""
	if g.typ == typeConsumer {
		if anonymous || (generation < 0 && len(g.cg.members) == 0) {
			return 0
		}
		// A version below 9 makes a stale member epoch
		// ILLEGAL_GENERATION, as Kafka answers a transactional commit.
		return c.validateConsumerCommit(g, memberID, generation, 0)
	}
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case generation < 0 && g.state == stateEmpty:
		return 0
	case !anonymous:
		if code := g.validateMember(memberID, inst); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	}
	return 0
}

// addTxnOffsetLocked makes o the offset of tp pending in producerID's
// transaction.
func (c *Coordinator) addTxnOffsetLocked(g *group, producerID int64, tp topicPartition, o *offsetEntry) {
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[topicPartition]*offsetEntry{}
	}
	m := g.txnOffsets[producerID]
	if m == nil {
		m = map[topicPartition]*offsetEntry{}
		g.txnOffsets[producerID] = m
	}
	g.offsetSeq++
	o.seq = g.offsetSeq
	m[tp] = o
	ids := c.mu.txnGroups[producerID]
	if ids == nil {
		ids = map[string]struct{}{}
		c.mu.txnGroups[producerID] = ids
	}
	ids[g.id] = struct{}{}
}

// hasTxnOffset reports whether an open transaction holds an offset of tp.
func (g *group) hasTxnOffset(tp topicPartition) bool {
	for _, m := range g.txnOffsets {
		if _, ok := m[tp]; ok {
			return true
		}
	}
	return false
}

// CompleteTxnOffsets ends producerID's transaction in partition p of
// __consumer_offsets once its marker is durable there: on commit the
// offsets pending in it become the committed offsets of their groups,
// except where a commit written after them replaced them already; on
// abort they are dropped.
func (c *Coordinator) CompleteTxnOffsets(p int32, producerID int64, commit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.completeTxnLocked(p, producerID, commit)
}

func (c *Coordinator) completeTxnLocked(p int32, producerID int64, commit bool) {
	ids := c.mu.txnGroups[producerID]
	for id := range ids {
		g := c.mu.groups[id]
		if g == nil {
			delete(ids, id)
			continue
		}
		if g.partition != p {
			continue
		}
		delete(ids, id)
		pending := g.txnOffsets[producerID]
		delete(g.txnOffsets, producerID)
		if !commit {
			continue
		}
		for tp, o := range pending {
			if cur := g.offsets[tp]; cur == nil || cur.seq < o.seq {
				g.offsets[tp] = o
			}
		}
	}
	if len(ids) == 0 {
		delete(c.mu.txnGroups, producerID)
	}
}

// replayTxnRecord applies a record of a transactional batch while
// loading: an offset commit is pending in the producer's transaction.
// Other keys are not written transactionally; they apply as usual.
func (c *Coordinator) replayTxnRecord(p int32, r LogRecord, now time.Time) error {
	if len(r.Key) < 2 || r.Value == nil {
		return c.replayRecord(p, r.Key, r.Value, now)
	}
	switch version := int16(binary.BigEndian.Uint16(r.Key)); version {
	case keyOffsetCommitV0, keyOffsetCommit:
	default:
		return c.replayRecord(p, r.Key, r.Value, now)
	}
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(r.Key); err != nil {
		return fmt.Errorf("offset commit key: %w", err)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.Value); err != nil {
		return fmt.Errorf("transactional offset commit value of group %s: %w", k.Group, err)
	}
	g := c.loadGroup(k.Group, p, now)
	epoch := int32(-1)
	if v.Version >= 3 {
		epoch = v.LeaderEpoch
	}
	c.addTxnOffsetLocked(g, r.ProducerID, topicPartition{k.Topic, k.Partition}, &offsetEntry{offset: v.Offset, leaderEpoch: epoch, metadata: v.Metadata, commitTimestamp: v.CommitTimestamp, expireTimestamp: -1})
	return nil
}

// replayTxnMarker applies a transaction marker while loading. A control
// record that is not a COMMIT or ABORT marker is skipped.
func (c *Coordinator) replayTxnMarker(p int32, r LogRecord) {
	if len(r.Key) < 4 {
		return
	}
	switch typ := int16(binary.BigEndian.Uint16(r.Key[2:])); typ {
	case 0, 1:
		c.completeTxnLocked(p, r.ProducerID, typ == 1)
	}
}
