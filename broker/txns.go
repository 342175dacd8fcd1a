package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/skein-streaming/skein/broker/group"
	"github.com/skein-streaming/skein/broker/txn"
	"github.com/skein-streaming/skein/protocol/records"
)

// txnStateTopic is Kafka's internal topic of transaction state.
const txnStateTopic = "__transaction_state"

// producerIDBlockSize is how many producer ids one ProducerIDsRecord
// reserves, as Kafka's controller hands out blocks of 1000.
const producerIDBlockSize = 1000

// txnService is the broker side of transactions: the coordinator and the
// producer id allocator.
type txnService struct {
	coord *txn.Coordinator
	// peers are the connections to other brokers for markers and
	// verification (txn_interbroker.go).
	peers peerClients

	// ids is the reserved block of producer ids not yet handed out:
	// [next, limit).
	ids struct {
		sync.Mutex
		next, limit int64
	}
}

// newProducerID hands out a producer id that was never handed out before,
// on this or an earlier run: ids come from blocks reserved durably in the
// metadata log before any of them is used.
func (b *Broker) newProducerID() (int64, error) {
	s := &b.txns
	s.ids.Lock()
	defer s.ids.Unlock()
	if s.ids.next >= s.ids.limit {
		start := b.meta.Image().NextProducerID
		rec := MetadataRecord{Type: ProducerIDsRecord, NextProducerID: start + producerIDBlockSize}
		if err := b.meta.Apply(b.bgCtx, rec); err != nil {
			return 0, fmt.Errorf("reserving producer ids: %w", err)
		}
		s.ids.next, s.ids.limit = start, start+producerIDBlockSize
	}
	id := s.ids.next
	s.ids.next++
	return id, nil
}

// startTxns builds the transaction coordinator, loads it from
// __transaction_state (completing transactions found prepared), and starts
// its timers. It runs before the listeners open, after the group
// coordinator (completing a transaction may complete offset commits).
func (b *Broker) startTxns() error {
	n := int32(b.settings.brokerInt("transaction.state.log.num.partitions", 50))
	if t := b.lookupTopic(txnStateTopic); t != nil {
		n = t.numPartitions()
	}
	ms := func(name string, def int64) time.Duration {
		return time.Duration(b.settings.brokerInt(name, def)) * time.Millisecond
	}
	b.txns.coord = txn.New(txn.Config{
		Log:           txnStateLog{b},
		WriteMarker:   b.sendMarker,
		NewProducerID: b.newProducerID,
		NumPartitions: n,
		MaxTimeout:    ms("transaction.max.timeout.ms", 900000),
		IDExpiration:  ms("transactional.id.expiration.ms", 604800000),
		Now:           b.now,
		Logger:        b.cfg.Logger,
	})
	if err := b.txns.coord.Load(); err != nil {
		return fmt.Errorf("loading transactions from %s: %w", txnStateTopic, err)
	}
	coord := b.txns.coord
	b.goEvery(ms("transaction.abort.timed.out.transaction.cleanup.interval.ms", 10000), func() { coord.Tick(b.now()) })
	b.goEvery(ms("transaction.remove.expired.transaction.cleanup.interval.ms", 3600000), func() { coord.ExpireIDs(b.now()) })
	return nil
}

// txnVerify is the Produce path's check of a transactional batch (KIP-890
// part 1): nil when the partition is part of the producer's ongoing
// transaction, else an error wrapping the Kafka error to answer. The
// coordinator's errors are mapped as Kafka's partition leader maps the
// answer of AddPartitionsToTxn with VerifyOnly: a fenced producer gets
// INVALID_PRODUCER_EPOCH, and a coordinator that cannot answer yet gets
// NOT_ENOUGH_REPLICAS, which every client retries. When another broker
// coordinates the transactional id, it is asked with AddPartitionsToTxn
// (VerifyOnly).
func (b *Broker) txnVerify(txnID string, producerID int64, epoch int16, topic string, partition int32) error {
	var err error
	if b.txnCoordinatorCode(txnID) == 0 {
		err = b.txns.coord.Verify(txnID, producerID, epoch, txn.TopicPartition{Topic: topic, Partition: partition})
	} else {
		err = b.remoteTxnVerify(txnID, producerID, epoch, topic, partition)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.ProducerFenced):
		return fmt.Errorf("%w: %v", kerr.InvalidProducerEpoch, err)
	case errors.Is(err, kerr.ConcurrentTransactions), errors.Is(err, kerr.CoordinatorLoadInProgress),
		errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.NotCoordinator):
		return fmt.Errorf("%w: %v", kerr.NotEnoughReplicas, err)
	}
	return err
}

// writeMarker writes a transaction marker to a partition this broker
// leads (sendMarker sends it to the leader of the others);
// for a partition of __consumer_offsets the group coordinator is told
// once the marker is durable.
func (b *Broker) writeMarker(tp txn.TopicPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	t := b.lookupTopic(tp.Topic)
	if t == nil || tp.Partition < 0 || tp.Partition >= t.numPartitions() {
		return fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, txn.ErrUnknownPartition)
	}
	p, code := leaderPartition(t, tp.Partition, -1)
	if code != 0 {
		return fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, kerr.ErrorForCode(code))
	}
	if _, err := p.writeTxnMarker(producerID, epoch, commit, coordinatorEpoch); err != nil {
		return fmt.Errorf("%s: marker: %w", p.name, err)
	}
	if tp.Topic == offsetsTopic {
		b.groupTxnCompleted(tp.Partition, producerID, commit)
	}
	return nil
}

// txnOffsetCompleter is what the group coordinator implements once it
// keeps transactional offset commits (TxnOffsetCommit): they stay pending
// until the producer's transaction ends, and are then made visible
// (commit) or dropped (abort). Kafka's group coordinator learns of this
// from the marker in its __consumer_offsets partition; here the marker
// writer calls it directly, after the marker is durable.
type txnOffsetCompleter interface {
	CompleteTxnOffsets(partition int32, producerID int64, commit bool)
}

// groupTxnCompleted tells the group coordinator that producerID's
// transaction ended on __consumer_offsets partition. It does nothing while
// the group coordinator keeps no transactional offsets (it does not
// implement txnOffsetCompleter).
func (b *Broker) groupTxnCompleted(partition int32, producerID int64, commit bool) {
	if b.groups == nil {
		return
	}
	if c, ok := any(b.groups).(txnOffsetCompleter); ok {
		c.CompleteTxnOffsets(partition, producerID, commit)
	}
}

// groupOffsetsPartition is the __consumer_offsets partition of a group,
// for AddOffsetsToTxn.
func (b *Broker) groupOffsetsPartition(groupID string) int32 {
	if b.groups != nil {
		return b.groups.Partition(groupID)
	}
	return group.PartitionFor(groupID, int32(b.settings.brokerInt("offsets.topic.num.partitions", 50)))
}

// ensureTxnStateTopic creates __transaction_state on first need, as
// Kafka's coordinator does.
func (b *Broker) ensureTxnStateTopic(ctx context.Context) error {
	if b.lookupTopic(txnStateTopic) != nil {
		return nil
	}
	n := int32(b.settings.brokerInt("transaction.state.log.num.partitions", 50))
	rf := int16(b.settings.brokerInt("transaction.state.log.replication.factor", 1))
	compact := "compact"
	code, msg := b.createTopic(ctx, txnStateTopic, n, rf, map[string]*string{"cleanup.policy": &compact}, false)
	if code != 0 && code != kerr.TopicAlreadyExists.Code {
		return fmt.Errorf("creating %s: %s: %s", txnStateTopic, kerr.ErrorForCode(code), msg)
	}
	return nil
}

// txnStateLog implements txn.Log over the partitions of
// __transaction_state.
type txnStateLog struct{ b *Broker }

// Append writes one record as an uncompressed batch and waits until it is
// replicated to the ISR (fsynced on each), creating the topic on first use.
func (l txnStateLog) Append(p int32, key, value []byte) error {
	if err := l.b.ensureTxnStateTopic(l.b.bgCtx); err != nil {
		return err
	}
	t := l.b.lookupTopic(txnStateTopic)
	if t == nil || t.partition(p) == nil || !t.partition(p).isLeader() {
		return fmt.Errorf("%w: this broker does not lead %s partition %d", kerr.NotCoordinator, txnStateTopic, p)
	}
	part := t.partition(p)
	batch := records.BuildBatch(records.CodecNone, l.b.now().UnixMilli(), []records.Record{{Key: key, Value: value}})
	_, last, err := part.append(batch)
	if err != nil {
		return err
	}
	return part.awaitReplicationNow(l.b.bgCtx, last, coordinatorWriteTimeout)
}

// coordinatorWriteTimeout bounds how long a transaction coordinator's
// write (its state, a marker) waits to be replicated to the ISR, as
// Kafka's request.timeout.ms does.
const coordinatorWriteTimeout = 30 * time.Second

// Replay reads the partition from its log start offset to its end. A
// partition this broker does not lead has nothing to load: its
// transactional ids are coordinated by its leader.
func (l txnStateLog) Replay(p int32, fn func(key, value []byte) error) error {
	t := l.b.lookupTopic(txnStateTopic)
	if t == nil || t.partition(p) == nil || !t.partition(p).isLeader() {
		return nil // no topic yet, or led by another broker: nothing to load
	}
	return replayPartition(t.partition(p), fn)
}

// replayPartition calls fn with every record of the partition in offset
// order, to the log end as Kafka's coordinators load (a new leader's high
// watermark may lag what was committed).
func replayPartition(part *partition, fn func(key, value []byte) error) error {
	start := part.log.LogStartOffset()
	_, err := part.scanBatches(start, part.log.LogEndOffset(), func(batch []byte) error {
		return records.ForEachRecord(batch, nil, func(rv records.RecordView) error {
			if rv.Offset < start {
				return nil
			}
			return fn(rv.Key, rv.Value)
		})
	})
	return err
}

// txnErrorCode is the Kafka error code of a coordinator error: the kerr
// error it wraps, or UNKNOWN_SERVER_ERROR (logged) for anything else.
func (b *Broker) txnErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	b.log.Error("transaction request failed", "err", err)
	return kerr.UnknownServerError.Code
}
