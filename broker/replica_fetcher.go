package broker

// The follower's side of replication (Kafka's ReplicaFetcherThread): one
// fetcher per leader broker fetches all the partitions this broker follows
// from it, over one connection to the leader's inter-broker listener.
// Before a partition fetches from a new leader or leader epoch, it
// truncates what diverges from the leader's log (KIP-101, KIP-279) with
// OffsetForLeaderEpoch; fetches then carry the follower's last epoch
// (Fetch v12+), and a DivergingEpoch in the answer truncates again. The
// leader's batches are appended as they are (offsets, leader epochs,
// producer ids, sequences, control batches, timestamps), the producer and
// transaction state is updated from them as the leader did, and the data
// is fsynced (unless write.caching is on) before the next fetch reports
// the new log end to the leader.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/storage"
)

// replicaFetcher fetches the partitions this broker follows from one
// leader broker.
type replicaFetcher struct {
	rm     *replicaManager
	source int32
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}

	mu    sync.Mutex
	parts map[*partition]*fetchTarget
	// lastErr is the last connection error logged, so that a leader
	// that stays unreachable is logged once per kind of failure.
	lastErr string
}

// fetchTarget is one followed partition: the leader epoch it follows and
// where it stands.
type fetchTarget struct {
	epoch int32
	// truncating is set until the follower has truncated what diverges
	// from the leader's log in this epoch.
	truncating bool
	// delayUntil holds the partition back after an error.
	delayUntil time.Time
	// lag is the leader's high watermark minus the follower's log end,
	// from the last fetch (Kafka's FetcherLagMetrics); lagKnown is set
	// once a fetch in this epoch told it. The replica is in sync, for
	// the follower throttle, when it is known and not positive.
	lag      int64
	lagKnown bool
	// lastCode is the last error the leader answered, so that a
	// repeated one is logged once.
	lastCode int16
}

// follow has the partition fetched from leader in leader epoch epoch. A
// new leader or epoch starts with truncation.
func (rm *replicaManager) follow(p *partition, leader, epoch int32) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for id, f := range rm.fetchers {
		if id != leader && f.remove(p) {
			delete(rm.fetchers, id)
		}
	}
	f := rm.fetchers[leader]
	if f == nil {
		ctx, cancel := context.WithCancel(rm.b.bgCtx)
		f = &replicaFetcher{rm: rm, source: leader, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), parts: map[*partition]*fetchTarget{}}
		rm.fetchers[leader] = f
		rm.b.bgWG.Add(1)
		go f.run()
	}
	f.add(p, epoch)
}

// unfollow stops fetching the partition.
func (rm *replicaManager) unfollow(p *partition) {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for id, f := range rm.fetchers {
		if f.remove(p) {
			delete(rm.fetchers, id)
		}
	}
}

// add starts or updates the partition's target.
func (f *replicaFetcher) add(p *partition, epoch int32) {
	f.mu.Lock()
	if t := f.parts[p]; t == nil || t.epoch != epoch {
		f.parts[p] = &fetchTarget{epoch: epoch, truncating: true}
	}
	f.mu.Unlock()
	f.poke()
}

// remove drops the partition and reports whether the fetcher, left with
// none, was stopped.
func (f *replicaFetcher) remove(p *partition) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.parts[p]; !ok {
		return false
	}
	delete(f.parts, p)
	if len(f.parts) == 0 {
		f.cancel()
		return true
	}
	return false
}

func (f *replicaFetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// item is a partition ready to be fetched or truncated, with the epoch
// its target had when it was picked.
type item struct {
	p     *partition
	epoch int32
}

// ready returns the partitions to truncate and to fetch now, and when the
// next delayed one is due. A partition held back by the follower
// replication throttle is due again after replica.fetch.backoff.ms, as
// Kafka's fetcher waits that long when its fetch would be empty.
func (f *replicaFetcher) ready(now time.Time) (trunc, fetch []item, next time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	due := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for p, t := range f.parts {
		if now.Before(t.delayUntil) {
			due(t.delayUntil)
			continue
		}
		switch {
		case t.truncating:
			trunc = append(trunc, item{p, t.epoch})
		case f.shouldFollowerThrottleLocked(p, t):
			due(now.Add(f.rm.backoff()))
		default:
			fetch = append(fetch, item{p, t.epoch})
		}
	}
	return trunc, fetch, next
}

// target returns the partition's target if it still follows epoch.
func (f *replicaFetcher) target(it item) *fetchTarget {
	t := f.parts[it.p]
	if t == nil || t.epoch != it.epoch {
		return nil
	}
	return t
}

// update changes the partition's target under the lock if it still
// follows the item's epoch.
func (f *replicaFetcher) update(it item, fn func(t *fetchTarget)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.target(it); t != nil {
		fn(t)
	}
}

// delay holds the partition back for the fetch backoff.
func (f *replicaFetcher) delay(it item) {
	f.delayFor(it, f.rm.backoff())
}

func (f *replicaFetcher) delayFor(it item, d time.Duration) {
	until := time.Now().Add(d)
	f.update(it, func(t *fetchTarget) { t.delayUntil = until })
}

// metadataLagBackoff bounds the wait before fetching again a partition
// the leader does not know yet (UNKNOWN_TOPIC_OR_PARTITION,
// UNKNOWN_TOPIC_ID, UNKNOWN_LEADER_EPOCH): the leader applies the same
// metadata moments later, and a new partition's first writes wait for
// its followers.
const metadataLagBackoff = 100 * time.Millisecond

func (f *replicaFetcher) run() {
	defer f.rm.b.bgWG.Done()
	var conn *brokerConn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	for f.ctx.Err() == nil {
		trunc, fetch, next := f.ready(time.Now())
		if len(trunc)+len(fetch) == 0 {
			if conn != nil && next.IsZero() {
				conn.close()
				conn = nil
			}
			f.idle(next)
			continue
		}
		if conn == nil {
			c, err := f.connect()
			if err != nil {
				f.failed(err, append(trunc, fetch...))
				continue
			}
			conn = c
		}
		var err error
		if len(trunc) > 0 {
			err = f.truncate(conn, trunc)
		}
		if err == nil && len(fetch) > 0 {
			err = f.fetch(conn, fetch)
		}
		if err != nil {
			conn.close()
			conn = nil
			f.failed(err, append(trunc, fetch...))
		}
	}
}

// idle waits for a new partition, the next delayed one, or the end.
func (f *replicaFetcher) idle(next time.Time) {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-f.wake:
	case <-timer:
	case <-f.ctx.Done():
	}
}

// failed logs a connection or request failure (once per kind in a row)
// and holds the partitions back for the backoff.
func (f *replicaFetcher) failed(err error, items []item) {
	if f.ctx.Err() != nil {
		return
	}
	f.mu.Lock()
	repeat := f.lastErr == err.Error()
	f.lastErr = err.Error()
	f.mu.Unlock()
	switch {
	case repeat:
	case errors.Is(err, errPeerSecurity):
		f.rm.b.log.Error("cannot connect to the leader's inter-broker listener: TLS or SASL failed; retrying", "leader", f.source,
			"listener", f.rm.b.interBrokerListener(), "err", err, "backoff", f.rm.backoff())
	default:
		f.rm.b.log.Warn("fetching from leader failed; retrying", "leader", f.source, "err", err, "backoff", f.rm.backoff())
	}
	for _, it := range items {
		f.delay(it)
	}
}

// connect opens a connection to the leader's inter-broker listener.
func (f *replicaFetcher) connect() (*brokerConn, error) {
	rm := f.rm
	listener := rm.b.interBrokerListener()
	reg, ok := rm.b.meta.Image().Broker(f.source)
	if !ok {
		return nil, fmt.Errorf("broker %d is not registered", f.source)
	}
	ep, ok := reg.Endpoint(listener)
	if !ok {
		return nil, fmt.Errorf("broker %d has no endpoint on the inter-broker listener %s", f.source, listener)
	}
	maxLen := int32(min(rm.b.settings.brokerInt(config.ReplicaFetchResponseMaxBytes, 10485760)+rm.b.settings.brokerInt(config.ReplicaFetchMaxBytes, 1048576)+(64<<20), math.MaxInt32))
	c, err := rm.b.dialInterBroker(f.ctx, ep, fmt.Sprintf("broker-%d-fetcher-0", rm.nodeID), rm.socketTimeout(), maxLen)
	if err != nil {
		return nil, fmt.Errorf("connecting to broker %d at %s: %w", f.source, brokerAddr(ep), err)
	}
	f.mu.Lock()
	f.lastErr = ""
	f.mu.Unlock()
	return c, nil
}

func (rm *replicaManager) socketTimeout() time.Duration {
	return time.Duration(rm.b.settings.brokerInt(config.ReplicaSocketTimeoutMs, 30000)) * time.Millisecond
}

// truncate asks the leader, with OffsetForLeaderEpoch, where each
// partition's latest epoch ends in its log, and truncates there (KIP-101,
// KIP-279). A partition whose latest epoch the leader does not have
// truncates again from its next older epoch.
func (f *replicaFetcher) truncate(conn *brokerConn, items []item) error {
	v, err := conn.version(kmsg.OffsetForLeaderEpoch.Int16(), 3, 4)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(v)
	req.ReplicaID = f.rm.nodeID
	byTopic := map[string]int{}
	asked := map[string]item{}
	for _, it := range items {
		p := it.p
		epochs := p.log.LeaderEpochs()
		if len(epochs) == 0 {
			// No epoch to ask about (an empty log, or data written
			// before epochs were kept): keep what the high watermark
			// covers.
			if err := p.truncateAsFollower(min(p.repl.hw.Load(), p.log.LogEndOffset()), it.epoch, f.source); err != nil {
				f.rm.b.log.Error("truncation failed", "topic", p.topic.name, "partition", p.index, "err", err)
				f.delay(it)
				continue
			}
			f.update(it, func(t *fetchTarget) { t.truncating = false })
			continue
		}
		i, ok := byTopic[p.topic.name]
		if !ok {
			i = len(req.Topics)
			byTopic[p.topic.name] = i
			req.Topics = append(req.Topics, kmsg.OffsetForLeaderEpochRequestTopic{Topic: p.topic.name})
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.index, it.epoch, epochs[len(epochs)-1].LeaderEpoch
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[partitionDirName(p.topic.name, p.index)] = it
	}
	if len(req.Topics) == 0 {
		return nil
	}
	r, err := conn.request(req, f.rm.socketTimeout())
	if err != nil {
		return err
	}
	resp := r.(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			key := partitionDirName(rt.Topic, rp.Partition)
			it, ok := asked[key]
			if !ok {
				continue
			}
			delete(asked, key)
			if rp.ErrorCode != 0 {
				f.partitionError(it, rp.ErrorCode, "offset for leader epoch")
				continue
			}
			leo, epoch := it.p.log.LogEndOffset(), latestEpoch(it.p)
			off, done := it.p.divergenceOffset(rp.LeaderEpoch, rp.EndOffset)
			if err := it.p.truncateAsFollower(off, it.epoch, f.source); err != nil {
				f.rm.b.log.Error("truncation failed", "topic", it.p.topic.name, "partition", it.p.index, "err", err)
				f.delay(it)
				continue
			}
			if done || !progressed(leo, epoch, it.p) {
				f.update(it, func(t *fetchTarget) { t.truncating = false })
			}
		}
	}
	for _, it := range asked {
		f.delay(it) // not in the answer
	}
	return nil
}

// partitionError handles an error the leader answered for a partition:
// it is held back for the backoff. NOT_LEADER_OR_FOLLOWER and
// FENCED_LEADER_EPOCH mean this broker's metadata is behind: the new
// state, when it arrives, replaces the target; UNKNOWN_LEADER_EPOCH and
// an unknown partition mean the leader's is, and the partition is tried
// again soon.
func (f *replicaFetcher) partitionError(it item, code int16, what string) {
	err := kerr.ErrorForCode(code)
	repeat := false
	f.update(it, func(t *fetchTarget) { repeat, t.lastCode = t.lastCode == code, code })
	switch code {
	case kerr.UnknownLeaderEpoch.Code, kerr.UnknownTopicOrPartition.Code, kerr.UnknownTopicID.Code:
		f.rm.b.log.Debug("leader refused a follower request", "request", what, "topic", it.p.topic.name, "partition", it.p.index, "leader", f.source, "leader_epoch", it.epoch, "err", err)
		f.delayFor(it, min(f.rm.backoff(), metadataLagBackoff))
		return
	case kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code:
		f.rm.b.log.Debug("leader refused a follower request", "request", what, "topic", it.p.topic.name, "partition", it.p.index, "leader", f.source, "leader_epoch", it.epoch, "err", err)
	case kerr.TopicAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code:
		// A leader with an authorizer refuses a follower without
		// CLUSTER_ACTION on the cluster.
		if !repeat {
			f.rm.b.log.Error("leader refused replication: this broker's principal on the inter-broker listener lacks CLUSTER_ACTION on the cluster; add it to super.users on every broker",
				"request", what, "topic", it.p.topic.name, "partition", it.p.index, "leader", f.source, "listener", f.rm.b.interBrokerListener(),
				"principal", f.rm.b.interBrokerPrincipalHint(), "err", err)
		}
	default:
		if !repeat {
			f.rm.b.log.Warn("leader refused a follower request; retrying", "request", what, "topic", it.p.topic.name, "partition", it.p.index, "leader", f.source, "leader_epoch", it.epoch, "err", err)
		}
	}
	f.delay(it)
}

// progressed reports whether a truncation changed the log end or the
// latest leader epoch; one that changed neither is not repeated at once.
func progressed(leo int64, epoch int32, p *partition) bool {
	return p.log.LogEndOffset() != leo || latestEpoch(p) != epoch
}

// latestEpoch is the latest leader epoch of the partition's log, -1 when
// it has none.
func latestEpoch(p *partition) int32 {
	if epochs := p.log.LeaderEpochs(); len(epochs) > 0 {
		return epochs[len(epochs)-1].LeaderEpoch
	}
	return -1
}

// divergenceOffset is where a follower's log diverges from its leader's,
// given the leader's answer for the follower's latest epoch: the largest
// epoch the leader has at or below it and where that epoch ends
// (OffsetForLeaderEpoch, or a fetch's DivergingEpoch). done is false when
// the follower must truncate again from an older epoch (Kafka's
// getOffsetTruncationState).
func (p *partition) divergenceOffset(leaderEpoch int32, leaderEnd int64) (offset int64, done bool) {
	leo := p.log.LogEndOffset()
	hw := min(p.repl.hw.Load(), leo)
	switch {
	case leaderEnd < 0:
		// The leader knows no epoch at or below ours: keep what the
		// high watermark covers.
		return hw, true
	case leaderEpoch < 0:
		return min(leaderEnd, leo), true
	}
	epoch, end := p.log.EndOffsetForEpoch(leaderEpoch)
	switch {
	case epoch == storage.UndefinedEpoch:
		return hw, true
	case epoch == leaderEpoch:
		return min(leaderEnd, end), true
	}
	// This replica has an older epoch than the leader's answer: cut at
	// its end and ask again for the epoch before.
	return min(end, leo), false
}

// fetch sends one Fetch for the items and applies the answer.
func (f *replicaFetcher) fetch(conn *brokerConn, items []item) error {
	rm := f.rm
	v, err := conn.version(kmsg.Fetch.Int16(), 4, 17)
	if err != nil {
		return err
	}
	wait := rm.b.settings.brokerInt(config.ReplicaFetchWaitMaxMs, 500)
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(v)
	req.ReplicaID = rm.nodeID
	req.ReplicaState.ID, req.ReplicaState.Epoch = rm.nodeID, rm.brokerEpoch()
	req.MaxWaitMillis = int32(wait)
	req.MinBytes = int32(rm.b.settings.brokerInt(config.ReplicaFetchMinBytes, 1))
	req.MaxBytes = int32(rm.b.settings.brokerInt(config.ReplicaFetchResponseMaxBytes, 10485760))
	req.SessionID, req.SessionEpoch = 0, -1
	partMax := int32(rm.b.settings.brokerInt(config.ReplicaFetchMaxBytes, 1048576))
	type key struct {
		topic string
		part  int32
	}
	asked := map[key]item{}
	byTopic := map[*topic]int{}
	for _, it := range items {
		p := it.p
		// The fetch offset tells the leader what this replica holds:
		// only what is durable (everything is, but for write.caching).
		if !p.writeCaching() {
			if leo := p.log.LogEndOffset(); p.log.DurableEndOffset() < leo {
				if err := p.log.SyncTo(leo - 1); err != nil {
					rm.b.log.Error("follower fsync failed", "topic", p.topic.name, "partition", p.index, "err", err)
					f.delay(it)
					continue
				}
			}
		}
		i, ok := byTopic[p.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[p.topic] = i
			req.Topics = append(req.Topics, kmsg.FetchRequestTopic{Topic: p.topic.name, TopicID: p.topic.id})
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.index
		rp.CurrentLeaderEpoch = it.epoch
		rp.FetchOffset = p.log.LogEndOffset()
		rp.LastFetchedEpoch = -1
		if epochs := p.log.LeaderEpochs(); len(epochs) > 0 {
			rp.LastFetchedEpoch = epochs[len(epochs)-1].LeaderEpoch
		}
		rp.LogStartOffset = p.log.LogStartOffset()
		rp.PartitionMaxBytes = partMax
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		asked[key{p.topic.name, p.index}] = it
	}
	if len(asked) == 0 {
		return nil
	}
	r, err := conn.request(req, rm.socketTimeout()+time.Duration(wait)*time.Millisecond)
	if err != nil {
		return err
	}
	resp := r.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return fmt.Errorf("fetch: %w", kerr.ErrorForCode(resp.ErrorCode))
	}
	type done struct {
		it item
		hw int64
	}
	var appended []done
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		name := rt.Topic
		if v >= 13 {
			if t := rm.b.lookupTopicID(rt.TopicID); t != nil {
				name = t.name
			}
		}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			k := key{name, rp.Partition}
			it, ok := asked[k]
			if !ok {
				continue
			}
			delete(asked, k)
			if ok := f.apply(it, rp); ok {
				appended = append(appended, done{it, rp.HighWatermark})
			}
		}
	}
	for _, it := range asked {
		f.delay(it) // not in the answer
	}
	// Data is made durable before the next fetch reports it, and the
	// high watermark covers only what this replica holds durably.
	for _, d := range appended {
		p := d.it.p
		if !p.writeCaching() {
			if leo := p.log.LogEndOffset(); p.log.DurableEndOffset() < leo {
				if err := p.log.SyncTo(leo - 1); err != nil {
					rm.b.log.Error("follower fsync failed", "topic", p.topic.name, "partition", p.index, "err", err)
					f.delay(d.it)
					continue
				}
			}
		}
		p.followerHighWatermark(d.hw)
		lag := max(d.hw-p.log.LogEndOffset(), 0)
		f.update(d.it, func(t *fetchTarget) { t.lag, t.lagKnown, t.lastCode = lag, true, 0 })
	}
	return nil
}

// apply applies one partition of a fetch response: truncation on a
// diverging epoch, the records, the leader's log start offset. It reports
// whether the partition fetched without error.
func (f *replicaFetcher) apply(it item, rp *kmsg.FetchResponseTopicPartition) bool {
	p := it.p
	switch rp.ErrorCode {
	case 0:
	case kerr.OffsetOutOfRange.Code:
		f.outOfRange(it, rp.LogStartOffset)
		return false
	default:
		f.partitionError(it, rp.ErrorCode, "fetch")
		return false
	}
	if rp.DivergingEpoch.EndOffset >= 0 {
		leo, epoch := p.log.LogEndOffset(), latestEpoch(p)
		off, done := p.divergenceOffset(rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
		if err := p.truncateAsFollower(off, it.epoch, f.source); err != nil {
			f.rm.b.log.Error("truncation failed", "topic", p.topic.name, "partition", p.index, "err", err)
			f.delay(it)
			return false
		}
		switch {
		case !progressed(leo, epoch, p):
			// The leader's answer does not move this replica: do
			// not spin on it.
			f.rm.b.log.Warn("diverging epoch from the leader changed nothing; backing off", "topic", p.topic.name, "partition", p.index, "diverging_epoch", rp.DivergingEpoch.Epoch, "end_offset", rp.DivergingEpoch.EndOffset, "log_end_offset", leo)
			f.delay(it)
		case !done:
			f.update(it, func(t *fetchTarget) { t.truncating = true })
		}
		return false
	}
	if len(rp.RecordBatches) > 0 {
		if err := p.appendAsFollower(rp.RecordBatches, it.epoch, f.source); err != nil {
			if !errors.Is(err, errNotFollowing) {
				f.rm.b.log.Error("follower append failed", "topic", p.topic.name, "partition", p.index, "err", err)
			}
			f.delay(it)
			return false
		}
		if p.topic.followerThrottled(p.index) {
			f.rm.throttles.follower.record(len(rp.RecordBatches), f.rm.nowMs())
		}
	}
	if rp.LogStartOffset > p.log.LogStartOffset() {
		if err := p.advanceLogStartAsFollower(rp.LogStartOffset); err != nil {
			f.rm.b.log.Warn("follower log start not advanced", "topic", p.topic.name, "partition", p.index, "err", err)
		}
	}
	return true
}

// outOfRange handles OFFSET_OUT_OF_RANGE: a leader whose log starts after
// this replica's log end has the replica restart empty at its log start
// (Kafka's truncateFullyAndStartAt); otherwise the replica is ahead of the
// leader and truncates again.
func (f *replicaFetcher) outOfRange(it item, leaderLogStart int64) {
	p := it.p
	if leaderLogStart > p.log.LogEndOffset() {
		if err := p.restartAsFollowerAt(leaderLogStart, it.epoch, f.source); err != nil {
			f.rm.b.log.Error("follower log restart failed", "topic", p.topic.name, "partition", p.index, "err", err)
			f.delay(it)
		}
		return
	}
	f.update(it, func(t *fetchTarget) { t.truncating = true })
}

// errNotFollowing: the partition's role changed since the fetch was sent.
var errNotFollowing = errors.New("replica no longer follows this leader epoch")

// followingLocked checks, under appendMu, that this replica still follows
// leader in epoch.
func (p *partition) followingLocked(epoch, leader int32) error {
	r := p.currentRole()
	if r.leader || r.state.Leader != leader || r.state.LeaderEpoch != epoch {
		return errNotFollowing
	}
	return nil
}

// appendAsFollower appends batches fetched from the leader as they are,
// keeping their offsets, and updates the producer and transaction state
// from them as the leader did. Batches this replica already has are
// skipped, and a trailing partial batch is dropped.
func (p *partition) appendAsFollower(data []byte, epoch, leader int32) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.followingLocked(epoch, leader); err != nil {
		return err
	}
	leo := p.log.LogEndOffset()
	start, end := 0, 0
	for off := 0; off+batchHeaderMin <= len(data); {
		size := 12 + int(int32(binary.BigEndian.Uint32(data[off+8:])))
		if size < batchHeaderMin || off+size > len(data) {
			break
		}
		base := int64(binary.BigEndian.Uint64(data[off:]))
		last := base + int64(int32(binary.BigEndian.Uint32(data[off+23:])))
		if last < leo {
			start = off + size
		} else if base < leo && start == off {
			// The leader's batch covers this replica's log end: the
			// tail from its base offset was batched differently
			// here. Take the leader's.
			if err := p.log.Truncate(base); err != nil {
				return err
			}
			if leo = p.log.LogEndOffset(); leo != base {
				return fmt.Errorf("%s: fetched batch %d-%d does not start at a batch boundary of this replica (log end %d)", p.name, base, last, leo)
			}
			p.clampHighWatermark()
			if err := p.loadProducerState(p.now().UnixMilli()); err != nil {
				return err
			}
		}
		off += size
		end = off
	}
	if start >= end {
		return nil
	}
	batches := data[start:end]
	last, err := p.log.AppendWithOffsets(batches)
	if err != nil {
		return err
	}
	p.rm.bytesIn.Add(float64(len(batches)))
	now := p.now().UnixMilli()
	for off := 0; off < len(batches); {
		size := 12 + int(binary.BigEndian.Uint32(batches[off+8:]))
		if err := replayProducerBatch(p.producers, batches[off:off+size], leo, now); err != nil {
			return fmt.Errorf("%s: producer state of replicated batch: %w", p.name, err)
		}
		off += size
	}
	p.updateLSO()
	p.snapshotOnRoll(last)
	return nil
}

// batchHeaderMin is the size of a v2 record batch header (61 bytes).
const batchHeaderMin = 61

// truncateAsFollower truncates the log at offset (nothing when offset is
// at or past its end, but leader-epoch entries from offset on) and
// rebuilds the producer and transaction state of what remains.
func (p *partition) truncateAsFollower(offset int64, epoch, leader int32) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.followingLocked(epoch, leader); err != nil {
		return err
	}
	leo := p.log.LogEndOffset()
	if err := p.log.Truncate(offset); err != nil {
		return err
	}
	if offset >= leo {
		return nil
	}
	p.rm.b.log.Info("follower truncated its log to the leader's", "topic", p.topic.name, "partition", p.index, "offset", offset, "log_end_offset", leo, "leader", leader, "leader_epoch", epoch)
	p.clampHighWatermark()
	return p.loadProducerState(p.now().UnixMilli())
}

// restartAsFollowerAt empties the log and restarts it at offset, the
// leader's log start.
func (p *partition) restartAsFollowerAt(offset int64, epoch, leader int32) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if err := p.followingLocked(epoch, leader); err != nil {
		return err
	}
	if err := p.log.TruncateFullyAndStartAt(offset); err != nil {
		return err
	}
	p.rm.b.log.Info("follower restarted its log at the leader's log start", "topic", p.topic.name, "partition", p.index, "offset", offset, "leader", leader)
	p.repl.hw.Store(offset)
	return p.loadProducerState(p.now().UnixMilli())
}

// advanceLogStartAsFollower moves the log start offset up to the
// leader's, within this replica's log (records deleted on the leader by
// DeleteRecords or retention).
func (p *partition) advanceLogStartAsFollower(leaderLogStart int64) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	off := min(leaderLogStart, p.log.LogEndOffset())
	if off <= p.log.LogStartOffset() {
		return nil
	}
	if err := p.log.DeleteRecordsBefore(off); err != nil {
		return err
	}
	p.producers.trimAborted(p.log.LogStartOffset())
	return nil
}

// followerHighWatermark takes the leader's high watermark, within what
// this replica holds durably; it only rises. Consumers reading from this
// replica (KIP-392) see records below it.
func (p *partition) followerHighWatermark(leaderHW int64) {
	p.repl.leaderHW.Store(leaderHW)
	hw := min(leaderHW, p.ownEnd())
	if hw > p.repl.hw.Load() {
		p.repl.hw.Store(hw)
		p.wakeAll()
	}
}

// followerLags returns, for each partition this broker follows, how far
// its log end is behind the leader's high watermark at the last fetch.
func (rm *replicaManager) followerLags() map[*partition]int64 {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := map[*partition]int64{}
	for _, f := range rm.fetchers {
		f.mu.Lock()
		for p, t := range f.parts {
			out[p] = t.lag
		}
		f.mu.Unlock()
	}
	return out
}
