package broker

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/skein-streaming/skein/storage"
)

// partition is one partition this broker leads. On a single node the high
// watermark is the log end offset: an appended batch is visible to
// consumers at once, and an acks=all producer is answered once it is also
// fsynced (unless write.caching is on).
type partition struct {
	topic *topic
	index int32
	// name is "topic-partition", as Kafka names a partition in messages.
	name string
	log  *storage.Log
	// leaderEpoch is the partition leader epoch stamped into every batch.
	leaderEpoch int32

	// appendMu orders appends, and makes an idempotent producer's
	// sequence check and the append it allows one step.
	appendMu sync.Mutex
	// producers is guarded by appendMu.
	producers *producerState
	// lso is the first offset of the oldest open transaction, or -1 when
	// none is open (the last stable offset is then the high watermark).
	lso atomic.Int64
	now func() time.Time

	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{}
}

func (b *Broker) openPartition(t *topic, i int32, ts *topicSettings) (*partition, error) {
	dir := filepath.Join(b.cfg.DataDir, partitionDirName(t.name, i))
	logger := b.cfg.Logger.With("component", "storage", "topic", t.name, "partition", i)
	l, err := storage.OpenWithOptions(dir, ts.storage, storage.Options{Logger: logger, Now: b.now, Encryption: b.encryption})
	if err != nil {
		return nil, err
	}
	p := &partition{topic: t, index: i, name: partitionDirName(t.name, i), log: l, waiters: map[chan struct{}]struct{}{}, now: b.now}
	if err := p.loadProducerState(b.now().UnixMilli()); err != nil {
		l.Close()
		return nil, err
	}
	return p, nil
}

// highWatermark is the offset below which records are visible.
func (p *partition) highWatermark() int64 { return p.log.LogEndOffset() }

// lastStableOffset is the read_committed bound: records of open
// transactions are not yet stable. With no open transaction it is the
// high watermark.
func (p *partition) lastStableOffset() int64 {
	if first := p.lso.Load(); first >= 0 {
		return first
	}
	return p.highWatermark()
}

// append stamps the leader epoch into every batch and appends them. The
// batches carry no producer id (internal writes, non-idempotent clients).
func (p *partition) append(batches []byte) (base, last int64, err error) {
	base, last, _, err = p.appendProducer(batches, nil, 0)
	return base, last, err
}

// appendProducer appends one batch. For an idempotent producer's batch
// (bp non-nil) it first applies the sequence rules: a duplicate of one of
// the producer's last batches is not written again and its original
// offsets are returned with dup set.
func (p *partition) appendProducer(batches []byte, bp *batchProducer, now int64) (base, last int64, dup bool, err error) {
	for off := 0; off+12 <= len(batches); {
		binary.BigEndian.PutUint32(batches[off+12:], uint32(p.leaderEpoch))
		off += 12 + int(binary.BigEndian.Uint32(batches[off+8:]))
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if bp != nil && bp.transactional && p.producers.guards[bp.id] != bp.guard {
		return 0, 0, false, fmt.Errorf("%w: the transaction of producer %d ended while its batch was being verified", kerr.InvalidTxnState, bp.id)
	}
	if bp != nil {
		d, err := p.producers.check(*bp)
		if err != nil {
			return 0, 0, false, err
		}
		if d != nil {
			return d.FirstOffset, d.LastOffset, true, nil
		}
	}
	base, last, err = p.log.Append(batches)
	if err != nil {
		return 0, 0, false, err
	}
	if bp != nil {
		p.producers.update(*bp, base, last, now)
		if bp.transactional {
			p.updateLSO()
		}
	}
	p.snapshotOnRoll(last)
	p.wakeAll()
	return base, last, false, nil
}

// snapshotOnRoll writes the producer state when a segment has rolled, so
// that a restart scans at most one segment to rebuild it. last is the
// offset of the batch just appended. Callers hold appendMu.
func (p *partition) snapshotOnRoll(last int64) {
	n := p.log.NumSegments()
	if n == p.producers.segments {
		return
	}
	p.producers.segments = n
	p.producers.trimAborted(p.log.LogStartOffset())
	if err := p.producers.writeSnapshot(p.log.Dir(), last+1); err != nil {
		p.topic.logger.Warn("producer state snapshot failed", "partition", p.index, "err", err)
	}
}

// close snapshots the producer state and closes the log cleanly.
func (p *partition) close() error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.producers.writeSnapshot(p.log.Dir(), p.log.LogEndOffset()); err != nil {
		p.topic.logger.Warn("producer state snapshot failed", "partition", p.index, "err", err)
	}
	return p.log.Close()
}

// watch registers ch to be signalled (without blocking) at the next append.
func (p *partition) watch(ch chan struct{}) {
	p.waitMu.Lock()
	p.waiters[ch] = struct{}{}
	p.waitMu.Unlock()
}

func (p *partition) unwatch(ch chan struct{}) {
	p.waitMu.Lock()
	delete(p.waiters, ch)
	p.waitMu.Unlock()
}

func (p *partition) wakeAll() {
	p.waitMu.Lock()
	for ch := range p.waiters {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}
