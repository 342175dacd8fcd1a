package broker

// The controller_mutation_rate quota, as Kafka's
// ControllerMutationQuotaManager enforces it (KIP-599).
//
// CreateTopics, CreatePartitions and DeleteTopics count their mutations in
// partitions: the partitions of each topic created or deleted, the
// partitions added. validate_only requests count nothing. The quota is
// resolved and shared per user and client id like the other client
// quotas, and measured with a token bucket: it refills at the quota's rate
// up to a burst of quota × quota.window.num × quota.window.size.seconds
// tokens, and each mutation takes its partitions from it.
//
// Requests of the versions that know THROTTLING_QUOTA_EXCEEDED
// (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+) are strict:
// a topic is accepted while the bucket is not negative before it, and
// its partitions taken, which may drive the bucket negative; each further
// topic of the request fails with THROTTLING_QUOTA_EXCEEDED. Older
// versions are permissive: everything is accepted and counted. Either
// way, once the bucket is negative the response carries the time until it
// is back at zero as throttle_time_ms and the connection is muted for that
// long (KIP-219).

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

// tokenBucket is Kafka's TokenBucket stat: tokens refill at limit per
// second up to burst; a new bucket is full.
type tokenBucket struct {
	tokens float64
	last   int64 // ms
	// limit and burst are those of the last refill, to tell when an idle
	// bucket is full again.
	limit, burst float64
	init         bool
}

func (t *tokenBucket) refill(limit, burst float64, now int64) {
	t.limit, t.burst = limit, burst
	if !t.init {
		t.tokens, t.last, t.init = burst, now, true
		return
	}
	if now > t.last {
		t.tokens += limit * float64(now-t.last) / 1000
		t.last = now
	}
	t.tokens = min(t.tokens, burst)
}

// full reports whether the bucket is back at its burst by now (a bucket
// never used is).
func (t *tokenBucket) full(now int64) bool {
	if !t.init || t.tokens >= t.burst {
		return true
	}
	return t.limit > 0 && t.tokens+t.limit*float64(now-t.last)/1000 >= t.burst
}

// mutationQuota is the controller_mutation_rate quota of one request, as
// Kafka's Strict- and PermissiveControllerMutationQuota. A nil
// mutationQuota (no controller_mutation_rate set anywhere) admits
// everything.
type mutationQuota struct {
	q            *quotaManager
	now          func() int64
	user, client string // the sensor's tags
	strict       bool

	sensor *quotaSensor
	// throttleMs is the last throttle time computed, at recordedAt.
	throttleMs, recordedAt int64
}

// newMutationQuota returns the mutation quota of a request of the
// client's user and client id, strict or permissive; nil when no
// controller_mutation_rate quota is set.
func (q *quotaManager) newMutationQuota(user, client string, strict bool, now func() int64) *mutationQuota {
	l := &q.cfg.Load().types[quotaMutation]
	if l.enabled == 0 {
		return nil
	}
	u, c := l.tags(user, client)
	return &mutationQuota{q: q, now: now, user: u, client: c, strict: strict}
}

// throttlingQuotaExceededMessage is Kafka's message for the error.
var throttlingQuotaExceededMessage = kerr.ThrottlingQuotaExceeded.Description

// admit records a mutation of permits partitions. A strict quota refuses
// it (false, nothing recorded) when the bucket is already negative; a
// permissive one always admits it.
func (m *mutationQuota) admit(permits float64) bool {
	if m == nil {
		return true
	}
	q := m.q
	now := m.now()
	limit, limited := q.cfg.Load().types[quotaMutation].limit(m.user, m.client)
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sensor(quotaMutation, m.user, m.client, now)
	m.sensor = s
	if !limited {
		s.rate.record(permits, now, q.numSamples, q.windowMs)
		return true
	}
	burst := limit * float64(q.numSamples) * float64(q.windowMs) / 1000
	s.bucket.refill(limit, burst, now)
	if m.strict && s.bucket.tokens < 0 {
		m.violated(s.bucket.tokens, limit, now)
		return false
	}
	s.bucket.tokens = min(burst, s.bucket.tokens-permits)
	s.rate.record(permits, now, q.numSamples, q.windowMs)
	if !m.strict && s.bucket.tokens < 0 {
		m.violated(s.bucket.tokens, limit, now)
	}
	return true
}

// violated sets the throttle time of a negative bucket: the time it takes
// to refill to zero, as ControllerMutationQuotaManager.throttleTimeMs.
func (m *mutationQuota) violated(tokens, limit float64, now int64) {
	m.throttleMs = int64(math.Round(-tokens / limit * 1000))
	m.recordedAt = now
}

// throttleTime is the throttle time left: the last one computed less the
// time since.
func (m *mutationQuota) throttleTime() int {
	if m == nil || m.throttleMs <= 0 {
		return 0
	}
	return int(min(max(m.throttleMs-(m.now()-m.recordedAt), 0), math.MaxInt32))
}

// mutationQuota returns the controller mutation quota of a request: strict
// from version strictSince on.
func (b *Broker) mutationQuota(r *protocol.Request, strictSince int16) *mutationQuota {
	if !b.quotas.on() {
		return nil
	}
	return b.quotas.newMutationQuota(quotaUser(b.principal(r.Session)), quotaClientID(r), r.Header.Version >= strictSince,
		b.quotas.nowMs)
}

// throttleMutations applies a request's mutation throttle to its
// response: it sets throttle_time_ms, mutes the connection for that long
// and counts the throttle against the quota. applyQuotas, which runs
// after, keeps the larger of this and a request_percentage throttle.
func (b *Broker) throttleMutations(r *protocol.Request, m *mutationQuota, resp kmsg.Response) {
	ms := m.throttleTime()
	if ms <= 0 {
		return
	}
	b.quotas.throttled(m.sensor, ms)
	r.Session.MuteUntil(time.Now().Add(time.Duration(ms) * time.Millisecond))
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		st.SetThrottle(int32(ms))
	}
}
