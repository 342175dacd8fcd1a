package broker

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol/records"
)

// The partition side of transactions (KIP-98): a transactional producer's
// batches are part of an open transaction until the coordinator writes a
// COMMIT or ABORT control batch (a marker). The last stable offset (LSO)
// is the first offset of the oldest open transaction, or the high
// watermark when none is open; read_committed consumers read up to it and
// get the list of aborted transactions in the range they fetched, so they
// can skip aborted data. Aborted transactions are kept in the producer
// state (and so in its snapshots) until the log start offset passes them.

// Batch attribute bits.
const (
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Control record types (the key of a control record: version, type).
const (
	controlTypeAbort  = 0
	controlTypeCommit = 1
)

// abortedTxn is one aborted transaction in a partition: its producer, the
// offset of its first batch and the offset of its abort marker.
type abortedTxn struct {
	ProducerID  int64 `json:"producer_id"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
}

// parseTxnMarker reads the type and coordinator epoch of the control
// record in a control batch.
func parseTxnMarker(batch []byte) (commit bool, coordinatorEpoch int32, ok bool) {
	err := records.ForEachRecord(batch, nil, func(rv records.RecordView) error {
		if len(rv.Key) < 4 {
			return errStopIteration
		}
		typ := int16(binary.BigEndian.Uint16(rv.Key[2:]))
		if typ != controlTypeAbort && typ != controlTypeCommit {
			return errStopIteration
		}
		commit = typ == controlTypeCommit
		if len(rv.Value) >= 6 {
			coordinatorEpoch = int32(binary.BigEndian.Uint32(rv.Value[2:]))
		}
		ok = true
		return errStopIteration
	})
	if err != nil && err != errStopIteration {
		return false, 0, false
	}
	return commit, coordinatorEpoch, ok
}

// completeTxn ends a producer's open transaction at a marker written at
// markerOffset.
func (s *producerState) completeTxn(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, markerOffset, now int64) {
	e := s.producers[producerID]
	if e == nil {
		e = &producerEntry{ID: producerID, Epoch: epoch}
		s.producers[producerID] = e
	}
	if epoch > e.Epoch {
		e.Epoch, e.Batches = epoch, nil
	}
	if e.InTxn && !commit {
		a := abortedTxn{ProducerID: producerID, FirstOffset: e.TxnFirstOffset, LastOffset: markerOffset}
		if n := len(s.aborted); n == 0 || s.aborted[n-1].LastOffset < markerOffset {
			s.aborted = append(s.aborted, a)
		}
	}
	e.InTxn, e.TxnFirstOffset = false, 0
	e.CoordinatorEpoch = coordinatorEpoch
	delete(s.guards, producerID)
	e.LastTimestamp = now
}

// trimAborted forgets aborted transactions wholly below the log start.
func (s *producerState) trimAborted(logStart int64) {
	i := sort.Search(len(s.aborted), func(i int) bool { return s.aborted[i].LastOffset >= logStart })
	if i > 0 {
		s.aborted = append(s.aborted[:0], s.aborted[i:]...)
	}
}

// firstOpenTxnOffset is the first offset of the oldest open transaction,
// or -1 if none is open.
func (s *producerState) firstOpenTxnOffset() int64 {
	first := int64(-1)
	for _, e := range s.producers {
		if e.InTxn && (first < 0 || e.TxnFirstOffset < first) {
			first = e.TxnFirstOffset
		}
	}
	return first
}

// updateLSO recomputes the last stable offset. Callers hold appendMu (or
// own the partition exclusively while opening it).
func (p *partition) updateLSO() {
	if first := p.producers.firstOpenTxnOffset(); first >= 0 {
		p.lso.Store(first)
	} else {
		p.lso.Store(-1)
	}
}

// abortedIn returns the aborted transactions a read_committed consumer
// fetching [from, upper) must know about: those that end at or after from
// and start before upper.
func (p *partition) abortedIn(from, upper int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	out := []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
	ab := p.producers.aborted
	i := sort.Search(len(ab), func(i int) bool { return ab[i].LastOffset >= from })
	for ; i < len(ab); i++ {
		if ab[i].FirstOffset < upper {
			out = append(out, kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: ab[i].ProducerID, FirstOffset: ab[i].FirstOffset})
		}
	}
	return out
}

// writeTxnMarker appends a COMMIT or ABORT control batch for a producer,
// ending its open transaction on this partition, and returns the marker's
// offset once it is replicated to the ISR (fsynced on each).
func (p *partition) writeTxnMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	typ := int16(controlTypeAbort)
	if commit {
		typ = controlTypeCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), uint16(typ))
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	batch, err := records.AppendBatch(nil, records.BatchOptions{
		Codec:         records.CodecNone,
		BaseTimestamp: p.now().UnixMilli(),
		ProducerID:    producerID,
		ProducerEpoch: epoch,
		BaseSequence:  -1,
		Transactional: true,
		Control:       true,
	}, []records.Record{{Key: key, Value: value}})
	if err != nil {
		return 0, err
	}
	p.appendMu.Lock()
	leaderEpoch, err := p.appendEpochLocked()
	if err != nil {
		p.appendMu.Unlock()
		return 0, err
	}
	stampLeaderEpoch(batch, leaderEpoch)
	if e := p.producers.producers[producerID]; e != nil && epoch < e.Epoch {
		p.appendMu.Unlock()
		return 0, fmt.Errorf("%w: marker epoch %d is older than producer %d's epoch %d", kerr.InvalidProducerEpoch, epoch, producerID, e.Epoch)
	}
	_, offset, err := p.log.Append(batch)
	if err != nil {
		p.appendMu.Unlock()
		return 0, err
	}
	p.producers.completeTxn(producerID, epoch, commit, coordinatorEpoch, offset, p.now().UnixMilli())
	p.updateLSO()
	p.snapshotOnRoll(offset)
	p.appendMu.Unlock()
	p.wakeAll()
	p.afterAppend()
	if err := p.awaitReplication(p.rm.b.bgCtx, offset, leaderEpoch, coordinatorWriteTimeout); err != nil {
		return 0, err
	}
	return offset, nil
}

// txnGuard starts the verification of a transactional batch: it returns
// a token that appendProducer requires to be still current, so that a
// marker written between the coordinator's check and the append (the
// transaction ended meanwhile) makes the append fail instead of leaving
// data after the marker.
func (p *partition) txnGuard(producerID int64) uint64 {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.producers.guardSeq++
	p.producers.guards[producerID] = p.producers.guardSeq
	return p.producers.guardSeq
}

// describeProducers lists the partition's active producers.
func (p *partition) describeProducers() []kmsg.DescribeProducersResponseTopicPartitionActiveProducer {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	out := make([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, 0, len(p.producers.producers))
	for _, e := range p.producers.producers {
		ap := kmsg.DescribeProducersResponseTopicPartitionActiveProducer{
			ProducerID:            e.ID,
			ProducerEpoch:         int32(e.Epoch),
			LastSequence:          e.lastSeq(),
			LastTimestamp:         -1,
			CoordinatorEpoch:      e.CoordinatorEpoch,
			CurrentTxnStartOffset: -1,
		}
		if n := len(e.Batches); n > 0 {
			ap.LastTimestamp = e.Batches[n-1].Timestamp
		}
		if e.InTxn {
			ap.CurrentTxnStartOffset = e.TxnFirstOffset
		}
		out = append(out, ap)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}
