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

// partition is one partition of which this broker holds a replica, as the
// leader or as a follower (see role). Records are visible to consumers
// below the high watermark, which the leader advances once every in-sync
// replica holds them durably (replica.go); an acks=all producer is
// answered then.
type partition struct {
	topic *topic
	index int32
	// name is "topic-partition", as Kafka names a partition in messages.
	name string
	log  *storage.Log
	// role is what the metadata last said of this replica; it changes
	// under appendMu (becomeLeader, becomeFollower) and is read without
	// locks. Only the leader appends, stamping its leader epoch.
	role atomic.Pointer[replicaRole]

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

	// rm is the broker's replica manager; repl the partition's
	// replication state (replica.go).
	rm   *replicaManager
	repl replication
}

func (b *Broker) openPartition(t *topic, i int32, ts *topicSettings) (*partition, error) {
	dir := filepath.Join(b.cfg.DataDir, partitionDirName(t.name, i))
	logger := b.cfg.Logger.With("component", "storage", "topic", t.name, "partition", i)
	l, err := storage.OpenWithOptions(dir, ts.storage, storage.Options{Logger: logger, Now: b.now, Encryption: b.encryption})
	if err != nil {
		return nil, err
	}
	p := &partition{topic: t, index: i, name: partitionDirName(t.name, i), log: l, waiters: map[chan struct{}]struct{}{}, now: b.now, rm: b.replicas}
	if err := p.loadProducerState(b.now().UnixMilli()); err != nil {
		l.Close()
		return nil, err
	}
	b.replicas.initPartition(p)
	return p, nil
}

// append stamps the leader epoch into every batch and appends them. The
// batches carry no producer id (internal writes, non-idempotent clients).
func (p *partition) append(batches []byte) (base, last int64, err error) {
	base, last, _, _, err = p.appendProducer(batches, nil, 0)
	return base, last, err
}

// appendProducer appends one batch. For an idempotent producer's batch
// (bp non-nil) it first applies the sequence rules: a duplicate of one of
// the producer's last batches is not written again and its original
// offsets are returned with dup set. epoch is the leader epoch the batch
// was appended in.
func (p *partition) appendProducer(batches []byte, bp *batchProducer, now int64) (base, last int64, epoch int32, dup bool, err error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	epoch, err = p.appendEpochLocked()
	if err != nil {
		return 0, 0, 0, false, err
	}
	stampLeaderEpoch(batches, epoch)
	if bp != nil && bp.transactional && p.producers.guards[bp.id] != bp.guard {
		return 0, 0, 0, false, fmt.Errorf("%w: the transaction of producer %d ended while its batch was being verified", kerr.InvalidTxnState, bp.id)
	}
	if bp != nil {
		d, err := p.producers.check(*bp)
		if err != nil {
			return 0, 0, 0, false, err
		}
		if d != nil {
			return d.FirstOffset, d.LastOffset, epoch, true, nil
		}
	}
	base, last, err = p.log.Append(batches)
	if err != nil {
		return 0, 0, 0, false, err
	}
	if bp != nil {
		p.producers.update(*bp, base, last, now)
		if bp.transactional {
			p.updateLSO()
		}
	}
	p.snapshotOnRoll(last)
	p.wakeAll()
	p.afterAppend()
	return base, last, epoch, false, nil
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
	p.repl.syncWG.Wait()
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

// replicaRole is this broker's part in a partition, from the metadata.
type replicaRole struct {
	state  PartitionState
	leader bool
}

// noRole is the role of a partition not yet given one.
var noRole = &replicaRole{state: PartitionState{Leader: NoLeader}}

func (p *partition) currentRole() *replicaRole {
	if r := p.role.Load(); r != nil {
		return r
	}
	return noRole
}

// isLeader reports whether this broker leads the partition.
func (p *partition) isLeader() bool { return p.currentRole().leader }

// leaderEpoch is the partition's leader epoch as this replica knows it.
func (p *partition) leaderEpoch() int32 { return p.currentRole().state.LeaderEpoch }

// checkLeaderEpoch compares the current leader epoch a client sent (-1:
// none) with the partition's, as Kafka's Partition.checkCurrentLeaderEpoch
// does: an older one is FENCED_LEADER_EPOCH (the client's metadata is
// stale), a newer one UNKNOWN_LEADER_EPOCH (this broker's is).
func (p *partition) checkLeaderEpoch(current int32) int16 {
	if current < 0 {
		return 0
	}
	switch epoch := p.leaderEpoch(); {
	case current < epoch:
		return kerr.FencedLeaderEpoch.Code
	case current > epoch:
		return kerr.UnknownLeaderEpoch.Code
	}
	return 0
}

// appendEpochLocked returns the leader epoch to stamp into appended
// batches, or an error wrapping NOT_LEADER_OR_FOLLOWER when this replica
// does not lead the partition. Callers hold appendMu, so the role cannot
// change before the append completes.
func (p *partition) appendEpochLocked() (int32, error) {
	r := p.currentRole()
	if !r.leader {
		return 0, fmt.Errorf("%w: this broker does not lead %s (leader %d, leader epoch %d)", kerr.NotLeaderForPartition, p.name, r.state.Leader, r.state.LeaderEpoch)
	}
	return r.state.LeaderEpoch, nil
}

// stampLeaderEpoch writes epoch into the partitionLeaderEpoch field of
// every batch (the CRC does not cover it).
func stampLeaderEpoch(batches []byte, epoch int32) {
	for off := 0; off+12 <= len(batches); {
		binary.BigEndian.PutUint32(batches[off+12:], uint32(epoch))
		off += 12 + int(binary.BigEndian.Uint32(batches[off+8:]))
	}
}

// becomeLeader makes this replica the partition's leader with state st
// (Kafka's Partition.makeLeader). A new leader epoch is recorded in the
// log's leader-epoch checkpoint at the log end offset before anything is
// appended in it, so OffsetForLeaderEpoch answers for it at once; batches
// appended from now on carry it. A state already applied changes nothing.
func (p *partition) becomeLeader(st PartitionState) error {
	p.appendMu.Lock()
	cur := p.role.Load()
	if cur != nil && cur.leader && sameState(cur.state, st) {
		p.appendMu.Unlock()
		return nil
	}
	var err error
	newEpoch := cur == nil || !cur.leader || cur.state.LeaderEpoch != st.LeaderEpoch
	if newEpoch {
		err = p.log.AssignLeaderEpoch(st.LeaderEpoch)
	}
	p.role.Store(&replicaRole{state: st, leader: true})
	p.appendMu.Unlock()
	p.onLeader(st, newEpoch)
	p.wakeAll()
	if err != nil {
		return fmt.Errorf("%s: recording leader epoch %d: %w", p.name, st.LeaderEpoch, err)
	}
	return nil
}

// becomeFollower makes this replica a follower in state st (Kafka's
// Partition.makeFollower): it appends only what it fetches from the
// leader (replica_fetcher.go), first truncating what diverges from the
// leader's log; produces and fetches waiting on it are woken to see the
// change.
func (p *partition) becomeFollower(st PartitionState) {
	p.appendMu.Lock()
	if cur := p.role.Load(); cur != nil && !cur.leader && sameState(cur.state, st) {
		p.appendMu.Unlock()
		return
	}
	p.role.Store(&replicaRole{state: st})
	p.appendMu.Unlock()
	p.onFollower(st)
	p.wakeAll()
}

// sameState reports whether two states of one partition are the same
// version of it.
func sameState(a, b PartitionState) bool {
	return a.PartitionEpoch == b.PartitionEpoch && a.LeaderEpoch == b.LeaderEpoch && a.Leader == b.Leader
}
