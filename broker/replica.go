package broker

// Replication of partitions between brokers, as Apache Kafka does it
// (ReplicaManager, Partition, ReplicaFetcherThread): followers fetch from
// their leader with the Fetch API and append the leader's batches as they
// are; the leader tracks how far each follower got, advances the high
// watermark to what every in-sync replica holds durably, and shrinks or
// expands the in-sync replica set (ISR) through compare-and-set partition
// records in the metadata (Kafka's AlterPartition). docs/cluster.md
// (Replication) describes the model.
//
// This file holds the partition's replication state and the leader's
// side; replica_fetcher.go the follower's; replica_client.go the
// inter-broker connection; replica_checkpoint.go the high watermark
// checkpoint.

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/skein-streaming/skein/internal/config"
)

// replication is a partition's replication state. The high watermark is
// kept on leaders and followers alike; the follower states and the
// pending ISR change only on the leader.
type replication struct {
	// hw is the high watermark: the offset below which records are
	// durable on every in-sync replica, and visible to consumers.
	hw atomic.Int64
	// leaderHW is, on a follower, the high watermark its leader last
	// reported (-1 before the first fetch).
	leaderHW atomic.Int64
	// syncing is set while a background fsync of a leader's log runs
	// (syncInBackground); syncWG waits for it.
	syncing atomic.Bool
	syncWG  sync.WaitGroup

	mu sync.Mutex
	// followers holds, on the leader, what each other replica's fetches
	// told: its log end offset and when it last caught up.
	followers map[int32]*followerState
	// epochStart is the leader's log end offset when its leader epoch
	// began: a follower joins the ISR only once it has reached it.
	epochStart int64
	// pending is the ISR change proposed and not yet seen in the
	// metadata; no other is proposed meanwhile.
	pending *isrChange
	// retryAt delays the next proposal after one that failed for
	// another reason than a newer partition epoch.
	retryAt time.Time
}

// followerState is what the leader knows of one follower, from its
// fetches (Kafka's ReplicaState).
type followerState struct {
	// leo is the follower's durable log end offset (its fetch offset),
	// -1 until it fetches in this leader epoch.
	leo      int64
	logStart int64
	// lastCaughtUp is the last time the follower had everything the
	// leader had (Kafka's lastCaughtUpTimeMs).
	lastCaughtUp time.Time
	// lastFetch and lastFetchLeaderLEO are the time of the previous
	// fetch and the leader's log end offset then.
	lastFetch          time.Time
	lastFetchLeaderLEO int64
	// brokerEpoch is the follower's broker epoch from its fetch, -1 if
	// it sent none.
	brokerEpoch int64
}

// isrChange is an ISR change proposed to the metadata: the partition
// epoch it was based on and the proposed ISR.
type isrChange struct {
	expected int32
	isr      []int32
	expand   bool
}

// replicaManager is the broker's part in replication: the fetchers that
// follow leaders, the high watermark checkpoint, the ISR checks and their
// metrics.
type replicaManager struct {
	b      *Broker
	nodeID int32

	mu       sync.Mutex
	fetchers map[int32]*replicaFetcher
	// checkpointed holds the high watermarks read at start, by
	// partition directory name, until each partition is opened.
	checkpointed map[string]int64
	// lastCheckpoint is the content last written, to skip rewrites.
	lastCheckpoint []byte

	// proposals tracks the ISR proposals in flight.
	proposals sync.WaitGroup

	isrShrinks       prometheus.Counter
	isrExpands       prometheus.Counter
	isrUpdateFailure prometheus.Counter
	bytesIn          prometheus.Counter
	bytesOut         prometheus.Counter

	// throttles are the replication quotas (replica_throttle.go).
	throttles replicationThrottles
}

func newReplicaManager(b *Broker) *replicaManager {
	return &replicaManager{b: b, nodeID: b.cfg.NodeID, fetchers: map[int32]*replicaFetcher{}, checkpointed: map[string]int64{}, throttles: newReplicationThrottles(b.settings)}
}

// brokerEpochOf is the broker epoch a broker's registration stands for: a
// number derived from its incarnation, so that a fetch from an earlier
// run of the same node id is told apart (KIP-903).
func brokerEpochOf(reg BrokerRegistration) int64 {
	raw, err := base64.RawURLEncoding.DecodeString(reg.Incarnation)
	if err != nil || len(raw) < 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(raw) >> 1)
}

// brokerEpoch is this broker's epoch for this run.
func (rm *replicaManager) brokerEpoch() int64 {
	return brokerEpochOf(BrokerRegistration{Incarnation: rm.b.incarnation})
}

func (rm *replicaManager) lagTimeMax() time.Duration {
	return time.Duration(rm.b.settings.brokerInt(config.ReplicaLagTimeMaxMs, 30000)) * time.Millisecond
}

func (rm *replicaManager) backoff() time.Duration {
	return time.Duration(rm.b.settings.brokerInt(config.ReplicaFetchBackoffMs, 1000)) * time.Millisecond
}

// writeCaching reports whether the partition's topic acknowledges
// without fsync (write.caching).
func (p *partition) writeCaching() bool {
	if ts := p.topic.settings.Load(); ts != nil {
		return ts.writeCaching
	}
	return false
}

// ownEnd is the part of this replica's log that counts for the high
// watermark: the durable log end, or the whole log with write.caching.
func (p *partition) ownEnd() int64 {
	if p.writeCaching() {
		return p.log.LogEndOffset()
	}
	return p.log.DurableEndOffset()
}

// highWatermark is the offset below which records are visible to
// consumers: on the leader, what every in-sync replica holds durably; on a
// follower, what its leader last reported, within its own log.
func (p *partition) highWatermark() int64 {
	hw := p.repl.hw.Load()
	if ls := p.log.LogStartOffset(); hw < ls {
		return ls
	}
	return hw
}

// initHighWatermark sets the high watermark of a partition being opened
// from the checkpoint (the log start offset when there is none), within
// the log.
func (p *partition) initHighWatermark(hw int64, found bool) {
	if !found {
		hw = p.log.LogStartOffset()
	}
	p.repl.hw.Store(min(max(hw, p.log.LogStartOffset()), p.log.LogEndOffset()))
	p.repl.leaderHW.Store(-1)
}

// clampHighWatermark lowers the high watermark to the log end after a
// truncation.
func (p *partition) clampHighWatermark() {
	if leo := p.log.LogEndOffset(); p.repl.hw.Load() > leo {
		p.repl.hw.Store(leo)
	}
}

// maximalISRLocked is the ISR the high watermark waits for (Kafka's
// maximalIsr): the metadata's ISR, plus the replica a pending expansion
// adds. A pending shrink still waits for the replicas it removes until it
// is applied. Callers hold repl.mu.
func (p *partition) maximalISRLocked(st PartitionState) []int32 {
	if c := p.repl.pending; c != nil && c.expand {
		return c.isr
	}
	return st.ISR
}

// maybeAdvanceHW raises the leader's high watermark to the smallest log
// end offset of the in-sync replicas, counting its own durable log end
// (all of it with write.caching). It never lowers it. Waiters (acks=all
// produces, fetches) are woken when it moves.
func (p *partition) maybeAdvanceHW() {
	r := p.currentRole()
	if !r.leader {
		return
	}
	p.repl.mu.Lock()
	hw := p.ownEnd()
	for _, id := range p.maximalISRLocked(r.state) {
		if id == p.rm.nodeID {
			continue
		}
		f := p.repl.followers[id]
		if f == nil || f.leo < 0 {
			hw = -1
			break
		}
		hw = min(hw, f.leo)
	}
	advanced := hw > p.repl.hw.Load()
	if advanced {
		p.repl.hw.Store(hw)
	}
	p.repl.mu.Unlock()
	if advanced {
		p.wakeAll()
	}
}

// afterAppend runs after a leader appended: the high watermark may move
// at once (a single replica with write.caching), and otherwise the data
// is fsynced in the background so that it counts for the high watermark
// without waiting for an acks=all producer to fsync it.
func (p *partition) afterAppend() {
	if !p.writeCaching() {
		p.syncInBackground()
	}
	p.maybeAdvanceHW()
}

// syncInBackground fsyncs the log up to its end, once at a time per
// partition, and advances the high watermark after each round; appends
// made during a round are covered by the next.
func (p *partition) syncInBackground() {
	if !p.repl.syncing.CompareAndSwap(false, true) {
		return
	}
	p.repl.syncWG.Add(1)
	go func() {
		defer p.repl.syncWG.Done()
		for {
			leo := p.log.LogEndOffset()
			if leo > p.log.DurableEndOffset() {
				if err := p.log.SyncTo(leo - 1); err != nil {
					// The log has failed; every later append and
					// read reports it.
					p.repl.syncing.Store(false)
					return
				}
			}
			// Also when another writer (a coordinator or the audit
			// log, which fsync their own appends) made the data
			// durable first: the high watermark still has to move.
			p.maybeAdvanceHW()
			p.repl.syncing.Store(false)
			if p.log.LogEndOffset() <= p.log.DurableEndOffset() || !p.repl.syncing.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// lastStableOffset is the read_committed bound: records of open
// transactions are not yet stable. With no open transaction it is the
// high watermark.
func (p *partition) lastStableOffset() int64 {
	hw := p.highWatermark()
	if first := p.lso.Load(); first >= 0 && first < hw {
		return first
	}
	return hw
}

// onLeader updates the replication state of a replica that now leads in
// state st (Kafka's Partition.makeLeader). A new leader epoch resets what
// is known of the followers: their log ends are unknown until they fetch,
// and the ISR members count as caught up now, so that they are not
// removed before they could fetch.
func (p *partition) onLeader(st PartitionState, newEpoch bool) {
	now := p.now()
	p.repl.mu.Lock()
	if c := p.repl.pending; c != nil && (newEpoch || c.expected != st.PartitionEpoch) {
		p.repl.pending = nil
	}
	if newEpoch || p.repl.followers == nil {
		p.repl.followers = map[int32]*followerState{}
		for _, id := range st.Replicas {
			if id == p.rm.nodeID {
				continue
			}
			f := &followerState{leo: -1, logStart: -1, lastFetchLeaderLEO: -1, brokerEpoch: -1}
			if slices.Contains(st.ISR, id) {
				f.lastCaughtUp = now
			}
			p.repl.followers[id] = f
		}
		p.repl.epochStart = p.log.LogEndOffset()
	}
	p.repl.mu.Unlock()
	p.rm.unfollow(p)
	p.maybeAdvanceHW()
}

// onFollower updates the replication state of a replica that now follows
// in state st (Kafka's Partition.makeFollower) and has the fetcher follow
// the new leader.
func (p *partition) onFollower(st PartitionState) {
	p.repl.mu.Lock()
	p.repl.followers = nil
	p.repl.pending = nil
	p.repl.mu.Unlock()
	if st.Leader == NoLeader || st.Leader == p.rm.nodeID {
		p.rm.unfollow(p)
		return
	}
	p.rm.follow(p, st.Leader, st.LeaderEpoch)
}

// followerFetched records a fetch of follower id at fetchOffset (Kafka's
// Partition.updateFollowerFetchState) and returns the error to answer,
// 0 if the fetch counts. leaderLEO is the leader's log end offset when
// the fetch was read.
func (p *partition) followerFetched(id int32, brokerEpoch, fetchOffset, logStart, leaderLEO int64) int16 {
	r := p.currentRole()
	if !r.leader || !slices.Contains(r.state.Replicas, id) || id == p.rm.nodeID {
		return kerr.NotLeaderForPartition.Code
	}
	now := p.now()
	p.repl.mu.Lock()
	f := p.repl.followers[id]
	if f == nil {
		// A replica added since this leader epoch began.
		f = &followerState{leo: -1, logStart: -1, lastFetchLeaderLEO: -1, brokerEpoch: -1}
		if p.repl.followers == nil {
			p.repl.followers = map[int32]*followerState{}
		}
		p.repl.followers[id] = f
	}
	if brokerEpoch >= 0 && f.brokerEpoch >= 0 && brokerEpoch != f.brokerEpoch && !p.rm.currentBrokerEpoch(id, brokerEpoch) {
		// A fetch from an earlier run of the follower than the one
		// already fetching (Kafka's stale broker epoch).
		p.repl.mu.Unlock()
		return kerr.NotLeaderForPartition.Code
	}
	switch {
	case fetchOffset >= leaderLEO:
		if now.After(f.lastCaughtUp) {
			f.lastCaughtUp = now
		}
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetchLeaderLEO >= 0:
		if f.lastFetch.After(f.lastCaughtUp) {
			f.lastCaughtUp = f.lastFetch
		}
	}
	f.leo, f.logStart = fetchOffset, logStart
	f.lastFetch, f.lastFetchLeaderLEO = now, leaderLEO
	f.brokerEpoch = brokerEpoch
	p.repl.mu.Unlock()
	p.maybeExpandISR(id)
	p.maybeAdvanceHW()
	return 0
}

// currentBrokerEpoch reports whether epoch is the broker epoch of id's
// current registration.
func (rm *replicaManager) currentBrokerEpoch(id int32, epoch int64) bool {
	reg, ok := rm.b.meta.Image().Broker(id)
	return ok && brokerEpochOf(reg) == epoch
}

// isrEligible reports whether follower id may join the ISR: registered,
// unfenced, not shutting down, and fetching as its registered run (Kafka's
// isReplicaIsrEligible).
func (rm *replicaManager) isrEligible(id int32, brokerEpoch int64) bool {
	reg, ok := rm.b.meta.Image().Broker(id)
	if !ok || !reg.active() {
		return false
	}
	return brokerEpoch < 0 || brokerEpochOf(reg) == brokerEpoch
}

// maybeExpandISR proposes to add follower id to the ISR once it has
// caught up: its log end is at least the high watermark and the start of
// the current leader epoch (Kafka's Partition.maybeExpandIsr).
func (p *partition) maybeExpandISR(id int32) {
	r := p.currentRole()
	if !r.leader || slices.Contains(r.state.ISR, id) {
		return
	}
	p.repl.mu.Lock()
	f := p.repl.followers[id]
	now := p.now()
	if p.repl.pending != nil || now.Before(p.repl.retryAt) || f == nil || f.leo < p.repl.hw.Load() || f.leo < p.repl.epochStart {
		p.repl.mu.Unlock()
		return
	}
	brokerEpoch := f.brokerEpoch
	p.repl.mu.Unlock()
	if !p.rm.isrEligible(id, brokerEpoch) {
		return
	}
	isr := append(slices.Clone(r.state.ISR), id)
	p.proposeISR(r.state, isr, true)
}

// maybeShrinkISR proposes to remove from the ISR the followers that have
// not caught up within replica.lag.time.max.ms (Kafka's
// Partition.maybeShrinkIsr). The leader stays; the ISR may shrink to it
// alone, and min.insync.replicas then refuses acks=all writes.
func (p *partition) maybeShrinkISR(lag time.Duration) {
	r := p.currentRole()
	if !r.leader || len(r.state.ISR) <= 1 {
		return
	}
	now := p.now()
	leo := p.log.LogEndOffset()
	p.repl.mu.Lock()
	if p.repl.pending != nil || now.Before(p.repl.retryAt) {
		p.repl.mu.Unlock()
		return
	}
	var out []int32
	for _, id := range r.state.ISR {
		if id == p.rm.nodeID {
			continue
		}
		f := p.repl.followers[id]
		// Kafka's isCaughtUp: at the leader's log end, or caught up
		// within the lag time.
		if f != nil && (f.leo == leo || now.Sub(f.lastCaughtUp) <= lag) {
			continue
		}
		out = append(out, id)
	}
	p.repl.mu.Unlock()
	if len(out) == 0 {
		return
	}
	isr := slices.DeleteFunc(slices.Clone(r.state.ISR), func(id int32) bool { return slices.Contains(out, id) })
	p.rm.b.log.Info("shrinking ISR", "topic", p.topic.name, "partition", p.index, "isr", r.state.ISR, "new_isr", isr, "out_of_sync", out)
	p.proposeISR(r.state, isr, false)
}

// proposeISR proposes state st with the ISR isr through the metadata, as
// a compare-and-set on st's partition epoch (Kafka's AlterPartition). It
// returns at once; the outcome arrives as a metadata update. A refused
// compare-and-set means newer metadata: the next proposal waits for it.
func (p *partition) proposeISR(st PartitionState, isr []int32, expand bool) {
	change := &isrChange{expected: st.PartitionEpoch, isr: isr, expand: expand}
	p.repl.mu.Lock()
	if p.repl.pending != nil {
		p.repl.mu.Unlock()
		return
	}
	p.repl.pending = change
	p.repl.mu.Unlock()
	next := st.clone()
	next.ISR = slices.Clone(isr)
	expected := st.PartitionEpoch
	rec := MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: p.topic.id, Partition: p.index, State: next, ExpectedPartitionEpoch: &expected}}
	rm := p.rm
	rm.proposals.Add(1)
	go func() {
		defer rm.proposals.Done()
		ctx, cancel := context.WithTimeout(rm.b.bgCtx, 30*time.Second)
		defer cancel()
		err := rm.b.meta.Apply(ctx, rec)
		p.repl.mu.Lock()
		defer p.repl.mu.Unlock()
		switch {
		case err == nil:
			if expand {
				rm.isrExpands.Inc()
			} else {
				rm.isrShrinks.Inc()
			}
			rm.b.log.Info("ISR updated", "topic", p.topic.name, "partition", p.index, "isr", isr)
			// The change stays pending until this replica applies
			// the new state (onLeader clears it).
			if p.currentRole().state.PartitionEpoch != expected && p.repl.pending == change {
				p.repl.pending = nil
			}
		case errors.Is(err, ErrPartitionEpochMismatch):
			rm.isrUpdateFailure.Inc()
			rm.b.log.Debug("ISR update refused: newer partition state", "topic", p.topic.name, "partition", p.index, "err", err)
			// Newer metadata exists: wait for it (onLeader clears
			// the pending change when it arrives).
			if p.currentRole().state.PartitionEpoch != expected && p.repl.pending == change {
				p.repl.pending = nil
			}
		default:
			rm.isrUpdateFailure.Inc()
			rm.b.log.Warn("ISR update failed; retrying", "topic", p.topic.name, "partition", p.index, "isr", isr, "err", err)
			if p.repl.pending == change {
				p.repl.pending = nil
			}
			p.repl.retryAt = p.now().Add(rm.backoff())
		}
	}()
}

// checkISR runs the periodic ISR shrink check on every partition this
// broker leads.
func (rm *replicaManager) checkISR() {
	lag := rm.lagTimeMax()
	for _, p := range rm.b.allPartitions() {
		p.maybeShrinkISR(lag)
	}
}

// minISRError returns NOT_ENOUGH_REPLICAS when an acks=all write must be
// refused because the ISR is smaller than min.insync.replicas, as Kafka's
// Partition.appendRecordsToLeader does.
func (p *partition) minISRError() error {
	r := p.currentRole()
	want := 1
	if ts := p.topic.settings.Load(); ts != nil {
		want = ts.minISR
	}
	if len(r.state.ISR) < want {
		return fmt.Errorf("%w: the size of the current ISR %v is insufficient to satisfy the min.isr requirement of %d for partition %s", kerr.NotEnoughReplicas, r.state.ISR, want, p.name)
	}
	return nil
}

// replicationStatus reports how records up to last, appended in leader
// epoch epoch, stand: 0 when the high watermark has passed them (and the
// ISR still satisfies min.insync.replicas), an error code when they can no
// longer be acknowledged (the replica lost leadership, or the ISR shrank
// below min.insync.replicas: NOT_ENOUGH_REPLICAS_AFTER_APPEND), and -1
// while they wait (Kafka's checkEnoughReplicasReachOffset).
func (p *partition) replicationStatus(last int64, epoch int32) int16 {
	r := p.currentRole()
	if !r.leader || r.state.LeaderEpoch != epoch {
		return kerr.NotLeaderForPartition.Code
	}
	if p.log.Failure() != nil {
		return kerr.KafkaStorageError.Code
	}
	if p.repl.hw.Load() <= last {
		return -1
	}
	want := 1
	if ts := p.topic.settings.Load(); ts != nil {
		want = ts.minISR
	}
	if len(r.state.ISR) < want {
		return kerr.NotEnoughReplicasAfterAppend.Code
	}
	return 0
}

// awaitReplication waits until the records up to last, appended in leader
// epoch epoch, are below the high watermark (fsyncing the leader's log
// first unless write.caching is on), and returns nil, or an error wrapping
// the Kafka error to answer: REQUEST_TIMED_OUT after timeout,
// NOT_LEADER_OR_FOLLOWER when leadership moved,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND, KAFKA_STORAGE_ERROR. Coordinators use
// it for their own writes, as Kafka's append with acks=-1.
func (p *partition) awaitReplication(ctx context.Context, last int64, epoch int32, timeout time.Duration) error {
	if !p.writeCaching() {
		if err := p.log.SyncTo(last); err != nil {
			return fmt.Errorf("%w: %s: %v", kerr.KafkaStorageError, p.name, err)
		}
		p.maybeAdvanceHW()
	}
	wake := make(chan struct{}, 1)
	p.watch(wake)
	defer p.unwatch(wake)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		switch code := p.replicationStatus(last, epoch); code {
		case 0:
			return nil
		case -1:
		default:
			return fmt.Errorf("%w: %s: records up to offset %d", kerr.ErrorForCode(code), p.name, last)
		}
		select {
		case <-wake:
		case <-timer.C:
			return fmt.Errorf("%w: %s: records up to offset %d not replicated to the ISR within %v", kerr.RequestTimedOut, p.name, last, timeout)
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %v", kerr.RequestTimedOut, p.name, ctx.Err())
		}
	}
}

// awaitReplicationNow is awaitReplication for records just appended in
// the partition's current leader epoch.
func (p *partition) awaitReplicationNow(ctx context.Context, last int64, timeout time.Duration) error {
	return p.awaitReplication(ctx, last, p.leaderEpoch(), timeout)
}

// preferredReadReplica picks, for a consumer in rack clientRack fetching
// at fetchOffset, the replica it should read from (KIP-392,
// RackAwareReplicaSelector): the leader when it is in that rack or no
// in-sync replica is, else the in-sync follower of that rack that has the
// most data, that holds fetchOffset and that has an endpoint on the
// consumer's listener. It returns -1 for the leader.
func (p *partition) preferredReadReplica(img *MetadataImage, clientRack, listener string, fetchOffset int64) int32 {
	r := p.currentRole()
	if !r.leader || clientRack == "" {
		return -1
	}
	if self, ok := img.Broker(p.rm.nodeID); ok && self.Rack == clientRack {
		return -1
	}
	hw := p.repl.hw.Load()
	best, bestLEO := int32(-1), int64(-1)
	var bestCaughtUp time.Time
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	for _, id := range r.state.ISR {
		f := p.repl.followers[id]
		if id == p.rm.nodeID || f == nil || f.leo < hw || f.logStart > fetchOffset {
			continue
		}
		if _, rack, ok := aliveEndpoint(img, id, listener); !ok || rack != clientRack {
			continue
		}
		if f.leo > bestLEO || (f.leo == bestLEO && f.lastCaughtUp.After(bestCaughtUp)) {
			best, bestLEO, bestCaughtUp = id, f.leo, f.lastCaughtUp
		}
	}
	return best
}

// rackAwareReads reports whether replica.selector.class lets consumers
// read from followers of their rack.
func (rm *replicaManager) rackAwareReads() bool {
	return rm.b.settings.brokerString(config.ReplicaSelectorClass, "") == config.RackAwareReplicaSelector
}

// start starts the periodic work: the ISR shrink check, every half
// replica.lag.time.max.ms as in Kafka, and the high watermark checkpoint.
func (rm *replicaManager) start() {
	b := rm.b
	every := max(rm.lagTimeMax()/2, 10*time.Millisecond)
	b.goEvery(every, rm.checkISR)
	ckpt := time.Duration(b.settings.brokerInt(config.ReplicaHighWatermarkCheckpointIntervalMs, 5000)) * time.Millisecond
	b.goEvery(ckpt, func() {
		if err := rm.writeCheckpoint(); err != nil {
			b.log.Error("high watermark checkpoint failed", "err", err)
		}
	})
}

// stop waits for the ISR proposals in flight and writes the high
// watermark checkpoint, once the fetchers have stopped (bgWG) and before
// the logs close.
func (rm *replicaManager) stop() {
	rm.proposals.Wait()
	if err := rm.writeCheckpoint(); err != nil {
		rm.b.log.Error("high watermark checkpoint failed", "err", err)
	}
}
