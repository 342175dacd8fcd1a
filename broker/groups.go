package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/skein-streaming/skein/broker/group"
	"github.com/skein-streaming/skein/protocol/records"
)

// offsetsTopic is Kafka's internal topic of committed offsets and group
// metadata.
const offsetsTopic = "__consumer_offsets"

// groupTickInterval is how often group timeouts (sessions, rebalances) are
// checked; it bounds how late a timeout fires.
const groupTickInterval = 50 * time.Millisecond

// offsetsLog implements group.Log over the partitions of
// __consumer_offsets.
type offsetsLog struct{ b *Broker }

// partition returns partition p of __consumer_offsets when this broker
// leads it (and so coordinates its groups).
func (l offsetsLog) partition(p int32) (*partition, error) {
	t := l.b.lookupTopic(offsetsTopic)
	if t == nil {
		return nil, errors.New("__consumer_offsets does not exist")
	}
	part := t.partition(p)
	if part == nil || !part.isLeader() {
		return nil, fmt.Errorf("%w: this broker does not lead __consumer_offsets partition %d", kerr.NotCoordinator, p)
	}
	return part, nil
}

// Append writes recs as one uncompressed batch.
func (l offsetsLog) Append(p int32, recs []group.Record) (int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return 0, err
	}
	rs := make([]records.Record, len(recs))
	for i, r := range recs {
		rs[i] = records.Record{Key: r.Key, Value: r.Value}
	}
	_, last, err := part.append(records.BuildBatch(records.CodecNone, l.b.now().UnixMilli(), rs))
	return last, err
}

// AppendTxn writes recs as one uncompressed transactional batch of the
// producer (KIP-98): TxnOffsetCommit's records, which the producer's
// transaction marker later commits or aborts.
func (l offsetsLog) AppendTxn(p int32, producerID int64, epoch int16, recs []group.Record) (int64, error) {
	part, err := l.partition(p)
	if err != nil {
		return 0, err
	}
	rs := make([]records.Record, len(recs))
	for i, r := range recs {
		rs[i] = records.Record{Key: r.Key, Value: r.Value}
	}
	now := l.b.now().UnixMilli()
	batch, err := records.AppendBatch(nil, records.BatchOptions{
		Codec:         records.CodecNone,
		BaseTimestamp: now,
		ProducerID:    producerID,
		ProducerEpoch: epoch,
		BaseSequence:  -1,
		Transactional: true,
	}, rs)
	if err != nil {
		return 0, err
	}
	return part.appendCoordinatorTxn(batch, producerID, epoch, now)
}

// appendCoordinatorTxn appends a transactional batch a coordinator
// writes for a producer, as Kafka appends with origin COORDINATOR: the
// batch has no sequence numbers, so only the epoch is checked, and the
// producer's transaction is open on the partition from this batch on
// (its first offset holds the last stable offset back) until its marker.
func (p *partition) appendCoordinatorTxn(batch []byte, producerID int64, epoch int16, now int64) (int64, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	leaderEpoch, err := p.appendEpochLocked()
	if err != nil {
		return 0, err
	}
	stampLeaderEpoch(batch, leaderEpoch)
	e := p.producers.producers[producerID]
	if e != nil && epoch < e.Epoch {
		return 0, fmt.Errorf("%w: epoch %d of producer %d is older than its current epoch %d", kerr.InvalidProducerEpoch, epoch, producerID, e.Epoch)
	}
	base, last, err := p.log.Append(batch)
	if err != nil {
		return 0, err
	}
	if e == nil || epoch > e.Epoch {
		e = &producerEntry{ID: producerID, Epoch: epoch}
		p.producers.producers[producerID] = e
	}
	if !e.InTxn {
		e.InTxn, e.TxnFirstOffset = true, base
	}
	e.LastTimestamp = now
	p.updateLSO()
	p.snapshotOnRoll(last)
	p.wakeAll()
	p.afterAppend()
	return last, nil
}

// Sync waits until the records up to last are replicated to the ISR
// (fsynced on each), within offsets.commit.timeout.ms, as Kafka's
// coordinator appends with acks=-1.
func (l offsetsLog) Sync(p int32, last int64) error {
	part, err := l.partition(p)
	if err != nil {
		return err
	}
	timeout := time.Duration(l.b.settings.brokerInt("offsets.commit.timeout.ms", 5000)) * time.Millisecond
	return part.awaitReplicationNow(l.b.bgCtx, last, timeout)
}

// Replay reads the partition from its log start offset to its end,
// telling fn which records are transactional or transaction markers. A
// partition this broker does not lead has nothing to load: its groups are
// coordinated by its leader.
func (l offsetsLog) Replay(p int32, fn func(r group.LogRecord) error) error {
	part, err := l.partition(p)
	if err != nil {
		return nil // no topic yet, or led by another broker: nothing to load
	}
	start := part.log.LogStartOffset()
	// To the log end, not the high watermark, as Kafka's coordinator
	// loads: a new leader's high watermark may lag what was committed.
	_, err = part.scanBatches(start, part.log.LogEndOffset(), func(batch []byte) error {
		attrs, producerID := batchAttributes(batch), batchProducerID(batch)
		return records.ForEachRecord(batch, nil, func(rv records.RecordView) error {
			if rv.Offset < start {
				return nil
			}
			return fn(group.LogRecord{Key: rv.Key, Value: rv.Value, ProducerID: producerID, Transactional: attrs&attrTransactional != 0, Control: attrs&attrControl != 0})
		})
	})
	if err != nil {
		return fmt.Errorf("%s-%d: %w", offsetsTopic, p, err)
	}
	return nil
}

// brokerTopics implements group.Topics over the live topics.
type brokerTopics struct{ b *Broker }

func (bt brokerTopics) Topic(name string) (group.TopicInfo, bool) {
	t := bt.b.lookupTopic(name)
	if t == nil {
		return group.TopicInfo{}, false
	}
	return group.TopicInfo{Name: t.name, ID: t.id, Partitions: t.numPartitions(), Internal: internalTopics[t.name]}, true
}

func (bt brokerTopics) All() []group.TopicInfo {
	bt.b.mu.RLock()
	defer bt.b.mu.RUnlock()
	out := make([]group.TopicInfo, 0, len(bt.b.mu.topics))
	for _, t := range bt.b.mu.topics {
		out = append(out, group.TopicInfo{Name: t.name, ID: t.id, Partitions: t.numPartitions(), Internal: internalTopics[t.name]})
	}
	return out
}

// startGroups builds the group coordinator, loads it from
// __consumer_offsets, and starts its timers. It runs before the listeners
// open.
func (b *Broker) startGroups() error {
	n := int32(b.settings.brokerInt("offsets.topic.num.partitions", 50))
	if t := b.lookupTopic(offsetsTopic); t != nil {
		n = t.numPartitions()
	}
	msSetting := func(name string, def int64) time.Duration {
		return time.Duration(b.settings.brokerInt(name, def)) * time.Millisecond
	}
	var assignors []string
	for _, a := range strings.Split(b.settings.brokerString("group.consumer.assignors", "uniform,range"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			assignors = append(assignors, a)
		}
	}
	b.groups = group.New(group.Config{
		Log:                       offsetsLog{b},
		Topics:                    brokerTopics{b},
		Logger:                    b.cfg.Logger,
		Now:                       b.now,
		NumPartitions:             n,
		MinSessionTimeout:         msSetting("group.min.session.timeout.ms", 6000),
		MaxSessionTimeout:         msSetting("group.max.session.timeout.ms", 1800000),
		InitialRebalanceDelay:     msSetting("group.initial.rebalance.delay.ms", 3000),
		MaxSize:                   int(b.settings.brokerInt("group.max.size", 1<<31-1)),
		OffsetsRetention:          time.Duration(b.settings.brokerInt("offsets.retention.minutes", 10080)) * time.Minute,
		OffsetMetadataMaxBytes:    int(b.settings.brokerInt("offset.metadata.max.bytes", 4096)),
		ConsumerHeartbeatInterval: msSetting("group.consumer.heartbeat.interval.ms", 5000),
		ConsumerSessionTimeout:    msSetting("group.consumer.session.timeout.ms", 45000),
		ConsumerMaxSize:           int(b.settings.brokerInt("group.consumer.max.size", 1<<31-1)),
		ConsumerAssignors:         assignors,
	})
	start := time.Now()
	if err := b.groups.Load(); err != nil {
		return fmt.Errorf("loading groups from %s: %w", offsetsTopic, err)
	}
	if b.lookupTopic(offsetsTopic) != nil {
		b.log.Info("group coordinator loaded", "took", time.Since(start).Round(time.Millisecond))
	}
	b.goEvery(groupTickInterval, func() { b.groups.Tick(b.now()) })
	b.goEvery(msSetting("offsets.retention.check.interval.ms", 600000), func() { b.groups.ExpireOffsets(b.now()) })
	return nil
}

// stopGroups waits for the coordinator's pending writes. The tick loops
// stop with the other background work.
func (b *Broker) stopGroups() {
	if b.groups != nil {
		b.groups.Close()
	}
}

// ensureOffsetsTopic creates __consumer_offsets on first need, as Kafka's
// coordinators do, and returns a Kafka error code (0 when it exists).
func (b *Broker) ensureOffsetsTopic(ctx context.Context) int16 {
	if b.lookupTopic(offsetsTopic) != nil {
		return 0
	}
	n := int32(b.settings.brokerInt("offsets.topic.num.partitions", 50))
	rf := int16(b.settings.brokerInt("offsets.topic.replication.factor", 1))
	compact := "compact"
	code, msg := b.createTopic(ctx, offsetsTopic, n, rf, map[string]*string{"cleanup.policy": &compact}, false)
	if code != 0 && code != kerr.TopicAlreadyExists.Code {
		b.log.Error("cannot create __consumer_offsets", "code", code, "err", msg)
		return kerr.CoordinatorNotAvailable.Code
	}
	return 0
}

// clientHost is how Kafka reports a member's host: "/" and its IP.
func clientHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "/" + addr.String()
	}
	return "/" + host
}
