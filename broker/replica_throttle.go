package broker

// Replication throttling (KIP-73), as Kafka's ReplicationQuotaManager,
// ReplicaManager.shouldLeaderThrottle and
// ReplicaFetcherThread.shouldFollowerThrottle do it. docs/cluster.md
// (Replication throttling) describes it for operators.
//
// A topic's leader.replication.throttled.replicas and
// follower.replication.throttled.replicas name the replicas, as
// partitionId:brokerId or "*" for all, whose replication is throttled on
// that broker as leader and as follower; the broker configs
// leader.replication.throttled.rate and follower.replication.throttled.rate
// (bytes/s, dynamic per broker or as the cluster default) bound the
// traffic of those replicas on the broker, all of them together. The rate
// is measured as Kafka's SimpleRate over replication.quota.window.num
// samples of replication.quota.window.size.seconds each (quotaRate).
//
// The leader records the record bytes it returns to followers for
// throttled partitions and, while the measured rate is above the leader
// rate, returns no data for a throttled partition to a follower that is
// not in the ISR. The follower records the bytes it fetches for throttled
// partitions and, while over the follower rate, leaves a throttled
// partition out of its fetches unless the replica is in sync (its last
// fetch left it no lag behind the leader's high watermark); with every
// partition left out it waits replica.fetch.backoff.ms. In-sync replicas
// are never held back, so the throttle cannot shrink an ISR.

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skein-streaming/skein/internal/config"
)

// throttledSet is the partitions of a topic throttled on this broker, on
// one side of replication.
type throttledSet struct {
	all   bool
	parts []int32
}

func newThrottledSet(items []string, nodeID int32) throttledSet {
	all, parts := config.ThrottledPartitions(items, nodeID)
	return throttledSet{all: all, parts: parts}
}

func (s throttledSet) has(partition int32) bool {
	return s.all || slices.Contains(s.parts, partition)
}

// replicationQuota is one side's throttle: its rate, measured over the
// replication quota window, and its bound.
type replicationQuota struct {
	numSamples int
	windowMs   int64
	// bound is the throttled rate in bytes/s, math.MaxInt64 for none.
	bound atomic.Int64
	// bytes counts the bytes recorded (the metric).
	bytes prometheus.Counter

	mu   sync.Mutex
	rate quotaRate
}

func newReplicationQuota(numSamples int, windowMs int64) *replicationQuota {
	q := &replicationQuota{numSamples: max(numSamples, 1), windowMs: max(windowMs, 1)}
	q.bound.Store(math.MaxInt64)
	return q
}

// record adds bytes sent (leader) or received (follower) for throttled
// partitions, whether or not the quota is exceeded.
func (q *replicationQuota) record(n int, nowMs int64) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.rate.record(float64(n), nowMs, q.numSamples, q.windowMs)
	q.mu.Unlock()
	if q.bytes != nil {
		q.bytes.Add(float64(n))
	}
}

// exceeded reports whether the measured rate is above the bound (Kafka's
// isQuotaExceeded, with Quota.upperBound).
func (q *replicationQuota) exceeded(nowMs int64) bool {
	bound := q.bound.Load()
	if bound == math.MaxInt64 {
		return false
	}
	return q.measure(nowMs) > float64(bound)
}

// measure is the rate in bytes/s over the window.
func (q *replicationQuota) measure(nowMs int64) float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.rate.samples) == 0 {
		return 0
	}
	return q.rate.measure(nowMs, q.numSamples, q.windowMs)
}

// replicationThrottles are the broker's two replication quotas.
type replicationThrottles struct {
	leader, follower *replicationQuota
}

func newReplicationThrottles(s *settingsResolver) replicationThrottles {
	n := int(s.brokerInt(config.ReplicationQuotaWindowNum, 11))
	w := s.brokerInt(config.ReplicationQuotaWindowSizeSeconds, 1) * 1000
	return replicationThrottles{leader: newReplicationQuota(n, w), follower: newReplicationQuota(n, w)}
}

// updateThrottles takes the throttled rates of the current broker
// configs (dynamic per broker, then cluster default, then static).
func (rm *replicaManager) updateThrottles() {
	s := rm.b.settings
	rm.throttles.leader.bound.Store(s.brokerInt(config.LeaderReplicationThrottledRate, math.MaxInt64))
	rm.throttles.follower.bound.Store(s.brokerInt(config.FollowerReplicationThrottledRate, math.MaxInt64))
}

// nowMs is the broker clock in ms, for the quotas.
func (rm *replicaManager) nowMs() int64 { return rm.b.now().UnixMilli() }

// leaderThrottled reports whether the partition's replication is
// throttled on this broker as its leader.
func (t *topic) leaderThrottled(partition int32) bool {
	ts := t.settings.Load()
	return ts != nil && ts.leaderThrottled.has(partition)
}

// followerThrottled reports whether the partition's replication is
// throttled on this broker as a follower.
func (t *topic) followerThrottled(partition int32) bool {
	ts := t.settings.Load()
	return ts != nil && ts.followerThrottled.has(partition)
}

// shouldLeaderThrottle reports whether a follower's fetch of the
// partition gets no data now: the partition is throttled here as leader,
// the follower is not in the ISR, and the leader quota is exceeded
// (Kafka's ReplicaManager.shouldLeaderThrottle).
func (p *partition) shouldLeaderThrottle(follower int32) bool {
	if !p.topic.leaderThrottled(p.index) || slices.Contains(p.currentRole().state.ISR, follower) {
		return false
	}
	return p.rm.throttles.leader.exceeded(p.rm.nowMs())
}

// shouldFollowerThrottle reports whether the fetcher leaves the partition
// out of its next fetch: it is throttled here as a follower, the replica
// is not in sync, and the follower quota is exceeded (Kafka's
// ReplicaFetcherThread.shouldFollowerThrottle). Callers hold f.mu.
func (f *replicaFetcher) shouldFollowerThrottleLocked(p *partition, t *fetchTarget) bool {
	inSync := t.lagKnown && t.lag <= 0
	if inSync || !p.topic.followerThrottled(p.index) {
		return false
	}
	return f.rm.throttles.follower.exceeded(f.rm.nowMs())
}
