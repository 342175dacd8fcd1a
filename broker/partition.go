package broker

import (
	"encoding/binary"
	"path/filepath"
	"sync"

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

	// appendMu orders the appends of concurrent producers so that the
	// batches of one request stay contiguous.
	appendMu sync.Mutex

	waitMu  sync.Mutex
	waiters map[chan struct{}]struct{}
}

func (b *Broker) openPartition(t *topic, i int32, ts *topicSettings) (*partition, error) {
	dir := filepath.Join(b.cfg.DataDir, partitionDirName(t.name, i))
	logger := b.cfg.Logger.With("component", "storage", "topic", t.name, "partition", i)
	l, err := storage.Open(dir, ts.storage, logger, b.now)
	if err != nil {
		return nil, err
	}
	return &partition{topic: t, index: i, name: partitionDirName(t.name, i), log: l, waiters: map[chan struct{}]struct{}{}}, nil
}

// highWatermark is the offset below which records are visible.
func (p *partition) highWatermark() int64 { return p.log.LogEndOffset() }

// lastStableOffset is the read_committed bound: records of open
// transactions are not yet stable. With no transactions on the log it is
// the high watermark.
func (p *partition) lastStableOffset() int64 { return p.highWatermark() }

// append stamps the leader epoch into every batch and appends them.
func (p *partition) append(batches []byte) (base, last int64, err error) {
	for off := 0; off+12 <= len(batches); {
		binary.BigEndian.PutUint32(batches[off+12:], uint32(p.leaderEpoch))
		off += 12 + int(binary.BigEndian.Uint32(batches[off+8:]))
	}
	p.appendMu.Lock()
	base, last, err = p.log.Append(batches)
	p.appendMu.Unlock()
	if err == nil {
		p.wakeAll()
	}
	return base, last, err
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
