package broker

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Idempotent producers (KIP-98): each partition remembers, per producer id,
// the producer epoch and the metadata of its last few batches, so that a
// retried batch is answered with its original offsets instead of being
// written twice, and a batch that skips sequence numbers is refused.
//
// The state is rebuilt on start from a snapshot written when a segment
// rolls and at clean shutdown, followed by a scan of the log from the
// snapshot's offset only.

// producerBatchesMax is how many batches per producer are remembered for
// duplicate detection: the largest max.in.flight.requests.per.connection
// an idempotent producer may use.
const producerBatchesMax = 5

// producerBatch is one batch an idempotent producer wrote.
type producerBatch struct {
	FirstSeq    int32 `json:"first_seq"`
	LastSeq     int32 `json:"last_seq"`
	FirstOffset int64 `json:"first_offset"`
	LastOffset  int64 `json:"last_offset"`
	Timestamp   int64 `json:"timestamp"`
}

// producerEntry is what a partition knows of one producer id.
type producerEntry struct {
	ID    int64 `json:"id"`
	Epoch int16 `json:"epoch"`
	// Batches are the most recent batches, oldest first.
	Batches []producerBatch `json:"batches"`
	// LastTimestamp is the wall-clock time (ms) of the last write, for
	// producer.id.expiration.ms.
	LastTimestamp int64 `json:"last_timestamp"`
	// InTxn is set while the producer has a transaction open on this
	// partition; TxnFirstOffset is the offset of its first batch.
	InTxn          bool  `json:"in_txn,omitempty"`
	TxnFirstOffset int64 `json:"txn_first_offset,omitempty"`
	// CoordinatorEpoch is the transaction coordinator epoch of the last
	// marker written for this producer.
	CoordinatorEpoch int32 `json:"coordinator_epoch,omitempty"`
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// duplicate returns the earlier batch with the same sequence range.
func (e *producerEntry) duplicate(epoch int16, firstSeq, lastSeq int32) (producerBatch, bool) {
	if epoch != e.Epoch {
		return producerBatch{}, false
	}
	for _, b := range e.Batches {
		if b.FirstSeq == firstSeq && b.LastSeq == lastSeq {
			return b, true
		}
	}
	return producerBatch{}, false
}

// producerState is a partition's producer table. The partition's appendMu
// guards it: checks and the append they allow happen under that lock.
type producerState struct {
	producers map[int64]*producerEntry
	// guards holds, per producer, the token of the latest verification
	// of a transactional batch against the coordinator; a marker clears
	// it, so a batch verified before a marker is refused after it.
	guards   map[int64]uint64
	guardSeq uint64
	// aborted lists the aborted transactions whose data may still be in
	// the log, ordered by LastOffset (the offset of the abort marker).
	aborted []abortedTxn
	// segments is the log's segment count when the last snapshot was
	// written; a new segment triggers the next snapshot.
	segments int
}

func newProducerState() *producerState {
	return &producerState{producers: map[int64]*producerEntry{}, guards: map[int64]uint64{}}
}

// batchProducer is the producer part of a batch header.
type batchProducer struct {
	id            int64
	epoch         int16
	firstSeq      int32
	lastSeq       int32
	timestamp     int64
	transactional bool
	// guard is the verification token of a transactional batch.
	guard uint64
}

// seqAdd adds to a sequence number with Kafka's wrap-around at MaxInt32.
func seqAdd(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// check applies Kafka's epoch and sequence rules to an incoming batch.
// It returns the earlier offsets of a duplicate, or a Kafka error.
func (s *producerState) check(bp batchProducer) (dup *producerBatch, err error) {
	e := s.producers[bp.id]
	if e == nil {
		// An unknown producer (new, or expired or removed with the
		// log): any sequence is accepted, as Kafka does since KIP-360.
		return nil, nil
	}
	if bp.epoch < e.Epoch {
		return nil, fmt.Errorf("%w: epoch %d of producer %d is older than its current epoch %d", kerr.InvalidProducerEpoch, bp.epoch, bp.id, e.Epoch)
	}
	if d, ok := e.duplicate(bp.epoch, bp.firstSeq, bp.lastSeq); ok {
		return &d, nil
	}
	if bp.epoch > e.Epoch {
		if bp.firstSeq != 0 {
			return nil, fmt.Errorf("%w: invalid sequence number %d for new epoch %d of producer %d", kerr.OutOfOrderSequenceNumber, bp.firstSeq, bp.epoch, bp.id)
		}
		return nil, nil
	}
	if last := e.lastSeq(); bp.firstSeq != seqAdd(last, 1) {
		return nil, fmt.Errorf("%w: producer %d at epoch %d sent sequence %d, expected %d", kerr.OutOfOrderSequenceNumber, bp.id, bp.epoch, bp.firstSeq, seqAdd(last, 1))
	}
	return nil, nil
}

// update records an appended batch.
func (s *producerState) update(bp batchProducer, first, last, now int64) {
	e := s.producers[bp.id]
	if e == nil || bp.epoch > e.Epoch {
		e = &producerEntry{ID: bp.id, Epoch: bp.epoch}
		s.producers[bp.id] = e
	}
	if bp.transactional && !e.InTxn {
		e.InTxn, e.TxnFirstOffset = true, first
	}
	e.Batches = append(e.Batches, producerBatch{FirstSeq: bp.firstSeq, LastSeq: bp.lastSeq, FirstOffset: first, LastOffset: last, Timestamp: bp.timestamp})
	if len(e.Batches) > producerBatchesMax {
		e.Batches = append(e.Batches[:0], e.Batches[len(e.Batches)-producerBatchesMax:]...)
	}
	e.LastTimestamp = now
}

// expire removes producers idle since before cutoff (ms).
func (s *producerState) expire(cutoff int64) int {
	n := 0
	for id, e := range s.producers {
		if e.LastTimestamp < cutoff && !e.InTxn {
			delete(s.producers, id)
			n++
		}
	}
	return n
}

// producerSnapshotFile is the name of the producer state snapshot in a
// partition directory.
const producerSnapshotFile = "producer-state.snapshot"

// producerSnapshot is the snapshot file's content: the state as of
// Offset (every batch below Offset is reflected). The file is the JSON
// encoding followed by its CRC32C as four big-endian bytes.
type producerSnapshot struct {
	Version   int              `json:"version"`
	Offset    int64            `json:"offset"`
	Producers []*producerEntry `json:"producers"`
	Aborted   []abortedTxn     `json:"aborted,omitempty"`
}

func (s *producerState) writeSnapshot(dir string, offset int64) error {
	snap := producerSnapshot{Version: 1, Offset: offset, Aborted: s.aborted}
	for _, e := range s.producers {
		snap.Producers = append(snap.Producers, e)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	data = binary.BigEndian.AppendUint32(data, crc32.Checksum(data, crcTable))
	tmp := filepath.Join(dir, producerSnapshotFile+".tmp")
	if err := writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, producerSnapshotFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

// readProducerSnapshot loads the snapshot; a missing or damaged file is
// reported as not found, and the caller rebuilds from the whole log.
func readProducerSnapshot(dir string) (*producerSnapshot, bool) {
	data, err := os.ReadFile(filepath.Join(dir, producerSnapshotFile))
	if err != nil || len(data) < 4 {
		return nil, false
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return nil, false
	}
	var snap producerSnapshot
	if err := json.Unmarshal(body, &snap); err != nil || snap.Version != 1 {
		return nil, false
	}
	return &snap, true
}

// loadProducerState rebuilds a partition's producer table: the snapshot
// if it is usable, then the batches after it.
func (p *partition) loadProducerState(now int64) error {
	st := newProducerState()
	from := p.log.LogStartOffset()
	if snap, ok := readProducerSnapshot(p.log.Dir()); ok && snap.Offset <= p.log.LogEndOffset() && snap.Offset >= from {
		for _, e := range snap.Producers {
			st.producers[e.ID] = e
		}
		st.aborted = snap.Aborted
		from = snap.Offset
	}
	if _, err := p.scanBatches(from, p.log.LogEndOffset(), func(batch []byte) error {
		return replayProducerBatch(st, batch, from, now)
	}); err != nil {
		return fmt.Errorf("producer state of %s: %w", p.name, err)
	}
	st.segments = p.log.NumSegments()
	st.trimAborted(p.log.LogStartOffset())
	p.producers = st
	p.updateLSO()
	return nil
}

// replayProducerBatch applies one stored batch to st, unless it ends
// below from.
func replayProducerBatch(st *producerState, batch []byte, from, now int64) error {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		return err
	}
	last := rb.FirstOffset + int64(rb.LastOffsetDelta)
	if last < from || rb.ProducerID < 0 {
		return nil
	}
	if rb.Attributes&attrControl != 0 {
		if commit, coordinatorEpoch, ok := parseTxnMarker(batch); ok {
			st.completeTxn(rb.ProducerID, rb.ProducerEpoch, commit, coordinatorEpoch, last, now)
		}
		return nil
	}
	bp := batchProducer{id: rb.ProducerID, epoch: rb.ProducerEpoch, firstSeq: rb.FirstSequence, lastSeq: seqAdd(rb.FirstSequence, rb.LastOffsetDelta), timestamp: rb.MaxTimestamp, transactional: rb.Attributes&attrTransactional != 0}
	st.update(bp, rb.FirstOffset, last, now)
	return nil
}
