package txn

import (
	"fmt"
	"math"
	"sort"
	"time"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a transaction state, with Kafka's numbering (the value stored in
// __transaction_state).
type State = kmsg.TransactionState

// The transaction states.
const (
	Empty             = kmsg.TransactionStateEmpty
	Ongoing           = kmsg.TransactionStateOngoing
	PrepareCommit     = kmsg.TransactionStatePrepareCommit
	PrepareAbort      = kmsg.TransactionStatePrepareAbort
	CompleteCommit    = kmsg.TransactionStateCompleteCommit
	CompleteAbort     = kmsg.TransactionStateCompleteAbort
	Dead              = kmsg.TransactionStateDead
	PrepareEpochFence = kmsg.TransactionStatePrepareEpochFence
)

// NoProducerID and NoProducerEpoch are Kafka's "none" values.
const (
	NoProducerID    int64 = -1
	NoProducerEpoch int16 = -1
)

// TopicPartition names one partition of a transaction.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ProducerIDEpoch is a producer id with its epoch.
type ProducerIDEpoch struct {
	ID    int64
	Epoch int16
}

// epochExhausted reports whether no epoch may follow e: Kafka keeps the
// last one (MaxInt16) for fencing.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// PartitionFor is the __transaction_state partition of a transactional id:
// abs(id.hashCode()) % partitions with Java's String.hashCode and Kafka's
// Utils.abs.
func PartitionFor(txnID string, partitions int32) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(txnID)) {
		h = 31*h + int32(u)
	}
	if h == math.MinInt32 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// txnMeta is the state of one transactional id. Coordinator.mu guards it.
type txnMeta struct {
	id string
	// partition is the id's __transaction_state partition.
	partition int32

	producerID int64
	// prevProducerID is the producer id before the last rotation (an
	// InitProducerId retry after epoch exhaustion may name it).
	prevProducerID int64
	epoch          int16
	// lastEpoch is the epoch before the last bump, so a retried
	// InitProducerId is answered again instead of fenced; it is not
	// stored, as in Kafka.
	lastEpoch int16
	timeout   time.Duration
	state     State
	parts     map[TopicPartition]struct{}
	// start is when the ongoing transaction began (zero: none).
	start      time.Time
	lastUpdate time.Time

	// pending is the state being written, or markers being written for
	// a prepared transaction; nil when the id is idle.
	pending *txnMeta
	// failedFence is set when writing a fence failed: the epoch was
	// bumped in memory and is not bumped again by the next fence.
	failedFence bool
}

// clone returns a copy for a transition, without the pending fields.
func (m *txnMeta) clone() *txnMeta {
	n := *m
	n.parts = make(map[TopicPartition]struct{}, len(m.parts))
	for tp := range m.parts {
		n.parts[tp] = struct{}{}
	}
	n.pending, n.failedFence = nil, false
	return &n
}

// apply makes a written transition current.
func (m *txnMeta) apply(next *txnMeta) {
	failed := m.failedFence
	*m = *next
	m.failedFence = failed
}

// sortedParts returns the transaction's partitions in order.
func (m *txnMeta) sortedParts() []TopicPartition {
	out := make([]TopicPartition, 0, len(m.parts))
	for tp := range m.parts {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// validTransition lists the states each state may be entered from, as
// Kafka's TransactionState.validPreviousStates does.
var validTransition = map[State][]State{
	Empty:             {Empty, CompleteCommit, CompleteAbort},
	Ongoing:           {Ongoing, Empty, CompleteCommit, CompleteAbort},
	PrepareCommit:     {Ongoing},
	PrepareAbort:      {Ongoing, PrepareEpochFence, Empty, CompleteCommit, CompleteAbort},
	CompleteCommit:    {PrepareCommit},
	CompleteAbort:     {PrepareAbort},
	Dead:              {Empty, CompleteCommit, CompleteAbort},
	PrepareEpochFence: {Ongoing},
}

// checkTransition panics on a transition the state machine does not allow:
// the coordinator's own logic chose it, so it is a bug, never client input.
func checkTransition(id string, from, to State) {
	for _, s := range validTransition[to] {
		if s == from {
			return
		}
	}
	panic(fmt.Sprintf("txn: transactional id %q: illegal transition %s -> %s", id, from, to))
}

// keyBytes is the TransactionLogKey of an id.
func keyBytes(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: 0, TransactionalID: id}
	return k.AppendTo(nil)
}

// valueBytes is the TransactionLogValue of m, version 0 as Kafka writes it
// for clients that do not use transaction version 2.
func valueBytes(m *txnMeta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 0
	v.ProducerID = m.producerID
	v.ProducerEpoch = m.epoch
	v.TimeoutMillis = int32(m.timeout / time.Millisecond)
	v.State = m.state
	v.LastUpdateTimestamp = m.lastUpdate.UnixMilli()
	v.StartTimestamp = -1
	if !m.start.IsZero() {
		v.StartTimestamp = m.start.UnixMilli()
	}
	if m.state != Empty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, tp := range m.sortedParts() {
			if n := len(v.Topics); n > 0 && v.Topics[n-1].Topic == tp.Topic {
				v.Topics[n-1].Partitions = append(v.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic, Partitions: []int32{tp.Partition}})
		}
	}
	return v.AppendTo(nil)
}

// decodeValue rebuilds an id's state from its stored value.
func decodeValue(id string, partition int32, value []byte) (*txnMeta, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return nil, fmt.Errorf("transactional id %q: value: %w", id, err)
	}
	if v.State < Empty || v.State > CompleteAbort {
		return nil, fmt.Errorf("transactional id %q: stored state %d", id, v.State)
	}
	m := &txnMeta{
		id:             id,
		partition:      partition,
		producerID:     v.ProducerID,
		prevProducerID: NoProducerID,
		epoch:          v.ProducerEpoch,
		lastEpoch:      NoProducerEpoch,
		timeout:        time.Duration(v.TimeoutMillis) * time.Millisecond,
		state:          v.State,
		parts:          map[TopicPartition]struct{}{},
		lastUpdate:     time.UnixMilli(v.LastUpdateTimestamp),
	}
	if v.Version >= 1 {
		m.prevProducerID = v.PreviousProducerID
	}
	if v.StartTimestamp >= 0 {
		m.start = time.UnixMilli(v.StartTimestamp)
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.parts[TopicPartition{Topic: t.Topic, Partition: p}] = struct{}{}
		}
	}
	return m, nil
}
