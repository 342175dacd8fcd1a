package broker

// Fetch (key 1), versions 4–18.
//
// Behavior: returns whole record batches as stored, up to max_bytes for the
// response and partition_max_bytes per partition, except that the first
// batch of the first partition with data is returned whole even if larger
// (KIP-74). With fewer than min_bytes available it waits up to
// max_wait_ms, woken by appends to the requested partitions (no polling).
// read_committed reads up to the last stable offset and lists aborted
// transactions; read_uncommitted reads up to the high watermark.
// Incremental fetch sessions (KIP-227) are kept in a cache of
// max.incremental.fetch.session.cache.slots. Versions 0–3 are not served:
// they would need records converted to message formats 0 and 1, which
// Kafka 4 removed too. With an authorizer, each topic needs READ; the
// partitions of other topics are answered TOPIC_AUTHORIZATION_FAILED.
// Consumers read below the high watermark (replica.go). The partition's
// leader serves consumers; a follower serves consumers from v11 (KIP-392)
// up to its own high watermark, with OFFSET_NOT_AVAILABLE for an offset it
// has not replicated yet. Brokers without a replica answer
// NOT_LEADER_OR_FOLLOWER (with the current leader and its epoch, v12+, and
// its endpoint, v16+, as KIP-951 has it), and a current leader epoch older
// or newer than the partition's is FENCED_LEADER_EPOCH or
// UNKNOWN_LEADER_EPOCH. With replica.selector.class set to
// RackAwareReplicaSelector, the leader answers a consumer that sends its
// rack with the in-sync replica of that rack to read from
// (PreferredReadReplica) and no records.
// A fetch with a replica id (ReplicaState from v15) is a follower's
// (replica_fetcher.go): it needs CLUSTER_ACTION with an authorizer, reads
// up to the leader's log end, reports the follower's log end (its fetch
// offset) for the high watermark and the ISR, and with a last fetched
// epoch the leader's log does not continue gets a DivergingEpoch instead
// of records. A partition throttled on this broker as leader
// (leader.replication.throttled.replicas) returns no records to a
// follower out of the ISR while the leader replication rate is over
// leader.replication.throttled.rate (replica_throttle.go).
// A client with a consumer_byte_rate quota gets at most one quota window's
// worth per response; when the response (or its handler time, against
// request_percentage) takes it over its quota, it gets an empty response
// with throttle_time_ms instead, as in Kafka, and its connection is muted
// for that time (quota.go).
// Version notes: v4 isolation level and LSO; v5 log start offset; v7
// sessions; v9 current leader epoch (fencing); v11 rack (preferred read
// replica is always -1: consumers read from the leader); v12 flexible,
// diverging epoch, current leader; v13 topic ids; v16 node endpoints.

import (
	"context"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/storage"
)

const isolationReadCommitted = 1

// fetchBufPool holds read buffers for fetch responses; a buffer returns to
// the pool once the response that refers to it is encoded.
var fetchBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256<<10); return &b }}

// fetchBufMaxPooled keeps very large buffers out of the pool.
const fetchBufMaxPooled = 8 << 20

type fetchPlan struct {
	req         *kmsg.FetchRequest
	session     *fetchSession // nil without a session
	incremental bool
	parts       []*fetchPartitionState
	// errCode is a request-level error (session not found, bad epoch).
	errCode int16
	// denied holds the topics the client may not READ: their partitions
	// are answered TOPIC_AUTHORIZATION_FAILED.
	denied map[string]bool
	// listener is the listener the request came on: leader endpoints
	// sent along with NOT_LEADER_OR_FOLLOWER are the ones on it.
	listener string
	// quotaMax, when positive, caps the response's record bytes at what
	// the client's consumer_byte_rate allows at once.
	quotaMax int
	// replicaID is the follower's node id, -1 for a consumer;
	// brokerEpoch its broker epoch (v15+, else -1).
	replicaID   int32
	brokerEpoch int64
}

func (b *Broker) handleFetch(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.FetchRequest)
	plan := b.planFetch(req)
	plan.listener = r.Session.Listener
	plan.replicaID, plan.brokerEpoch = fetchReplicaID(req), -1
	if req.Version >= 15 {
		plan.brokerEpoch = req.ReplicaState.Epoch
	}
	plan.denied = b.fetchDenied(r.Session, plan)
	if plan.errCode != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = plan.errCode
		b.fetchQuota(r, 0, handlerTime(r), resp)
		return protocol.Reply{Resp: resp}
	}
	minBytes := int(max(req.MinBytes, 0))
	if m := b.fetchQuotaMax(r); m < math.MaxInt32 && plan.replicaID < 0 {
		plan.quotaMax = int(m)
		minBytes = min(minBytes, plan.quotaMax)
	}
	res := b.runFetch(plan)
	if res.bytes >= minBytes || req.MaxWaitMillis <= 0 || res.errors || len(plan.parts) == 0 {
		b.settleFetch(r, plan, res, handlerTime(r))
		return protocol.Reply{Resp: res.resp, Release: res.release, SizeHint: res.sizeHint}
	}
	res.release()
	spent := handlerTime(r)
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	var final *fetchResult
	return protocol.Reply{
		Wait: func(ctx context.Context) kmsg.Response {
			final = b.waitFetch(ctx, plan, minBytes, deadline)
			b.settleFetch(r, plan, final, spent)
			return final.resp
		},
		Release: func() {
			if final != nil {
				final.release()
			}
		},
		SizeHint: func() int {
			if final == nil {
				return 0
			}
			return final.sizeHint()
		},
	}
}

// settleFetch decides a fetch response once built: within the client's
// quotas it is committed to the fetch session and sent; over them it is
// replaced by an empty one carrying the throttle time, the data read is
// released and the session is left as it was (a new session is not
// created), as Kafka's getThrottledResponse.
func (b *Broker) settleFetch(r *protocol.Request, plan *fetchPlan, res *fetchResult, spent time.Duration) {
	if plan.replicaID >= 0 {
		// Replication is not subject to client quotas, as in Kafka;
		// the bytes of throttled partitions count against the leader
		// replication quota (replica_throttle.go).
		b.replicas.throttles.leader.record(res.throttledBytes, b.replicas.nowMs())
		res.commit()
		return
	}
	if !b.quotas.on() {
		res.commit()
		return
	}
	empty := plan.req.ResponseKind().(*kmsg.FetchResponse)
	if ms := b.fetchQuota(r, res.sizeHint(), spent, empty); ms <= 0 {
		res.commit()
		return
	}
	res.release()
	if s := plan.session; s != nil {
		if plan.incremental {
			empty.SessionID = s.id
		} else {
			b.sessions.remove(s.id)
		}
	}
	res.resp, res.bytes, res.updates = empty, 0, nil
}

// waitFetch waits until min_bytes are available, the deadline passes, the
// connection closes, or a partition goes away, and returns the response
// built at that moment, not yet committed.
func (b *Broker) waitFetch(ctx context.Context, plan *fetchPlan, minBytes int, deadline time.Time) *fetchResult {
	wake := make(chan struct{}, 1)
	var watched []*partition
	// A follower's fetch also completes when a high watermark moves, so
	// that followers (and the consumers they serve) learn it at once.
	var hws []int64
	for _, st := range plan.parts {
		if p := b.lookupFetchPartition(st.key); p != nil {
			p.watch(wake)
			watched = append(watched, p)
			if plan.replicaID >= 0 {
				hws = append(hws, p.repl.hw.Load())
			}
		}
	}
	hwMoved := func() bool {
		for i, hw := range hws {
			if watched[i].repl.hw.Load() != hw {
				return true
			}
		}
		return false
	}
	defer func() {
		for _, p := range watched {
			p.unwatch(wake)
		}
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-wake:
			res := b.runFetch(plan)
			if res.bytes >= minBytes || res.errors || hwMoved() {
				return res
			}
			res.release()
			continue
		case <-timer.C:
		case <-ctx.Done():
		case <-b.bgCtx.Done():
		}
		return b.runFetch(plan)
	}
}

// planFetch resolves the session and the ordered list of partitions to
// read.
func (b *Broker) planFetch(req *kmsg.FetchRequest) *fetchPlan {
	plan := &fetchPlan{req: req}
	keyOf := func(rt *kmsg.FetchRequestTopic, partition int32) fetchKey {
		if req.Version >= 13 {
			k := fetchKey{id: rt.TopicID, partition: partition}
			if t := b.lookupTopicID(rt.TopicID); t != nil {
				k.topic = t.name
			}
			return k
		}
		k := fetchKey{topic: rt.Topic, partition: partition}
		if t := b.lookupTopic(rt.Topic); t != nil {
			k.id = t.id
		}
		return k
	}
	stateOf := func(rt *kmsg.FetchRequestTopic, rp *kmsg.FetchRequestTopicPartition) fetchPartitionState {
		st := fetchPartitionState{key: keyOf(rt, rp.Partition), fetchOffset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes, currentLeaderEpoch: rp.CurrentLeaderEpoch, lastFetchedEpoch: -1, logStartOffset: -1}
		if req.Version >= 12 {
			st.lastFetchedEpoch = rp.LastFetchedEpoch
		}
		if req.Version >= 5 {
			st.logStartOffset = rp.LogStartOffset
		}
		return st
	}
	now := b.now()
	if req.Version < 7 || req.SessionEpoch <= fetchSessionInitialEpoch {
		if req.Version >= 7 && req.SessionID != 0 {
			b.sessions.remove(req.SessionID)
		}
		var s *fetchSession
		if req.Version >= 7 && req.SessionEpoch == fetchSessionInitialEpoch {
			s = b.sessions.create(now)
		}
		if s != nil {
			s.mu.Lock()
			for ti := range req.Topics {
				rt := &req.Topics[ti]
				for pi := range rt.Partitions {
					s.upsert(stateOf(rt, &rt.Partitions[pi]))
				}
			}
			plan.parts = append(plan.parts, s.parts...)
			s.mu.Unlock()
			plan.session = s
			return plan
		}
		for ti := range req.Topics {
			rt := &req.Topics[ti]
			for pi := range rt.Partitions {
				st := stateOf(rt, &rt.Partitions[pi])
				plan.parts = append(plan.parts, &st)
			}
		}
		return plan
	}
	s := b.sessions.get(req.SessionID)
	if s == nil {
		plan.errCode = kerr.FetchSessionIDNotFound.Code
		return plan
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != req.SessionEpoch {
		plan.errCode = kerr.InvalidFetchSessionEpoch.Code
		return plan
	}
	s.epoch++
	if s.epoch < 0 {
		s.epoch = 1
	}
	s.lastUsed.Store(now.UnixNano())
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := fetchKey{topic: ft.Topic, id: ft.TopicID, partition: p}
			if req.Version >= 13 {
				k.topic = ""
				if t := b.lookupTopicID(ft.TopicID); t != nil {
					k.topic = t.name
				}
			} else if t := b.lookupTopic(ft.Topic); t != nil {
				k.id = t.id
			}
			s.forget(k)
		}
	}
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		for pi := range rt.Partitions {
			s.upsert(stateOf(rt, &rt.Partitions[pi]))
		}
	}
	plan.session, plan.incremental = s, true
	plan.parts = append(plan.parts, s.parts...)
	return plan
}

func (b *Broker) lookupFetchTopic(k fetchKey) *topic {
	var t *topic
	if k.id != (TopicID{}) {
		t = b.lookupTopicID(k.id)
	} else {
		t = b.lookupTopic(k.topic)
	}
	if t == nil || (k.topic != "" && t.name != k.topic) {
		return nil
	}
	return t
}

// lookupFetchPartition returns the local replica of a fetched partition.
func (b *Broker) lookupFetchPartition(k fetchKey) *partition {
	if t := b.lookupFetchTopic(k); t != nil {
		return t.partition(k.partition)
	}
	return nil
}

type fetchResult struct {
	resp  *kmsg.FetchResponse
	bytes int
	// throttledBytes are the record bytes of partitions throttled on
	// this broker as leader, in a response to a follower.
	throttledBytes int
	errors         bool
	bufs           []*[]byte
	plan           *fetchPlan
	updates        []partUpdate
}

// partUpdate is what commit writes back into the session for one
// partition once the response is final.
type partUpdate struct {
	st                *fetchPartitionState
	hw, lso, logStart int64
	returnedData      bool
}

// sizeHint estimates the encoded response size: the record bytes plus
// the per-partition fields.
func (r *fetchResult) sizeHint() int {
	n := r.bytes + 64
	for _, t := range r.resp.Topics {
		n += 48 + len(t.Topic) + 64*len(t.Partitions)
	}
	return n
}

func (r *fetchResult) release() {
	for _, bp := range r.bufs {
		if cap(*bp) <= fetchBufMaxPooled {
			*bp = (*bp)[:0]
			fetchBufPool.Put(bp)
		}
	}
	r.bufs = nil
}

// commit records in the session what this response tells the client.
func (r *fetchResult) commit() {
	s := r.plan.session
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	moved := map[fetchKey]bool{}
	for _, u := range r.updates {
		u.st.lastHW, u.st.lastLSO, u.st.lastLogStart = u.hw, u.lso, u.logStart
		if u.returnedData {
			moved[u.st.key] = true
		}
	}
	s.moveToBack(moved)
	r.resp.SessionID = s.id
}

// runFetch reads every planned partition once and builds a response.
func (b *Broker) runFetch(plan *fetchPlan) *fetchResult {
	req := plan.req
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	res := &fetchResult{resp: resp, plan: plan}
	budget := int(b.settings.brokerInt("fetch.max.bytes", 57671680))
	if req.MaxBytes > 0 {
		budget = min(budget, int(req.MaxBytes))
	}
	if plan.quotaMax > 0 {
		budget = min(budget, plan.quotaMax)
	}
	topicIndex := map[fetchKey]int{}
	var img *MetadataImage
	var endpoints map[int32]kmsg.FetchResponseBroker
	for _, st := range plan.parts {
		if plan.session != nil {
			plan.session.mu.Lock()
		}
		st := *st // read the session state under its lock, then work on a copy
		if plan.session != nil {
			plan.session.mu.Unlock()
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = st.key.partition
		rp.PreferredReadReplica = -1
		// An empty records field, never null: librdkafka rejects the
		// whole response on a null one, and Kafka sends empty.
		rp.RecordBatches = []byte{}
		var data *[]byte
		hw, lso, logStart := int64(-1), int64(-1), int64(-1)
		if plan.denied[st.key.topic] {
			rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
		} else {
			data, hw, lso, logStart = b.fetchPartition(plan, &st, req, budget, res.bytes == 0, &rp)
		}
		if data != nil {
			res.bufs = append(res.bufs, data)
			rp.RecordBatches = *data
			res.bytes += len(*data)
			budget -= len(*data)
			if plan.replicaID >= 0 {
				if t := b.lookupFetchTopic(st.key); t != nil && t.leaderThrottled(st.key.partition) {
					res.throttledBytes += len(*data)
				}
			}
		}
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = hw, lso, logStart
		if rp.ErrorCode != 0 || rp.DivergingEpoch.EndOffset >= 0 || rp.PreferredReadReplica >= 0 {
			// Errors, a diverging epoch and a preferred read replica
			// are answered at once, as in Kafka.
			res.errors = true
		}
		if leaderMovedCode(rp.ErrorCode) && req.Version >= 12 {
			// KIP-951: tell the client where the partition went.
			if img == nil {
				img = b.meta.Image()
			}
			leader, epoch, ep, rack, ok := b.currentLeader(img, st.key.id, st.key.partition, plan.listener)
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = leader, epoch
			if ok && req.Version >= 16 {
				if endpoints == nil {
					endpoints = map[int32]kmsg.FetchResponseBroker{}
				}
				endpoints[leader] = kmsg.FetchResponseBroker{NodeID: leader, Host: ep.Host, Port: ep.Port, Rack: rackPtr(rack)}
			}
		}
		orig := b.sessionState(plan, st.key)
		if plan.incremental && orig != nil && len(rp.RecordBatches) == 0 && rp.ErrorCode == 0 &&
			orig.lastHW == hw && orig.lastLSO == lso && orig.lastLogStart == logStart {
			continue // nothing new for this partition
		}
		if orig != nil {
			res.updates = append(res.updates, partUpdate{st: orig, hw: hw, lso: lso, logStart: logStart, returnedData: len(rp.RecordBatches) > 0})
		}
		tk := fetchKey{topic: st.key.topic, id: st.key.id}
		i, ok := topicIndex[tk]
		if !ok {
			i = len(resp.Topics)
			topicIndex[tk] = i
			resp.Topics = append(resp.Topics, kmsg.FetchResponseTopic{Topic: st.key.topic, TopicID: st.key.id})
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	for _, id := range slices.Sorted(maps.Keys(endpoints)) {
		resp.Brokers = append(resp.Brokers, endpoints[id])
	}
	return res
}

// fetchDenied returns the topics of the plan the session may not READ, nil
// when it may read them all.
func (b *Broker) fetchDenied(sess *protocol.Session, plan *fetchPlan) map[string]bool {
	if !b.authorizationOn() {
		return nil
	}
	var denied map[string]bool
	checked := map[string]bool{}
	if plan.replicaID >= 0 {
		// A follower needs CLUSTER_ACTION on the cluster; without it
		// every partition is refused, as in Kafka.
		if b.authorize(sess, acl.OpClusterAction, acl.ResourceCluster, acl.ClusterName) {
			return nil
		}
		denied = map[string]bool{}
		for _, st := range plan.parts {
			denied[st.key.topic] = true
		}
		return denied
	}
	for _, st := range plan.parts {
		name := st.key.topic
		if name == "" || checked[name] {
			continue // an unknown topic id is answered UNKNOWN_TOPIC_ID
		}
		checked[name] = true
		if !b.authorize(sess, acl.OpRead, acl.ResourceTopic, name) {
			if denied == nil {
				denied = map[string]bool{}
			}
			denied[name] = true
		}
	}
	return denied
}

func (b *Broker) sessionState(plan *fetchPlan, k fetchKey) *fetchPartitionState {
	if plan.session == nil {
		return nil
	}
	plan.session.mu.Lock()
	defer plan.session.mu.Unlock()
	return plan.session.index[k]
}

// fetchPartition reads one partition. It returns the pooled buffer holding
// the records (nil if none) and the offsets to report.
func (b *Broker) fetchPartition(plan *fetchPlan, st *fetchPartitionState, req *kmsg.FetchRequest, budget int, first bool, rp *kmsg.FetchResponseTopicPartition) (*[]byte, int64, int64, int64) {
	t := b.lookupFetchTopic(st.key)
	if t == nil && req.Version >= 13 && b.lookupTopicID(st.key.id) == nil {
		rp.ErrorCode = kerr.UnknownTopicID.Code
		return nil, -1, -1, -1
	}
	if plan.replicaID >= 0 {
		return b.fetchForFollower(plan, st, t, budget, first, rp)
	}
	p, code := readablePartition(t, st.key.partition, st.currentLeaderEpoch, req.Version)
	if code != 0 {
		rp.ErrorCode = code
		return nil, -1, -1, -1
	}
	hw, lso, logStart := p.highWatermark(), p.lastStableOffset(), p.log.LogStartOffset()
	upper := hw
	if req.IsolationLevel == isolationReadCommitted {
		upper = lso
	}
	if leo := p.log.LogEndOffset(); st.fetchOffset < logStart || st.fetchOffset > leo {
		rp.ErrorCode = kerr.OffsetOutOfRange.Code
		if !p.isLeader() && st.fetchOffset > leo && st.fetchOffset <= p.repl.leaderHW.Load() {
			// The leader has it; this replica has not fetched it yet.
			rp.ErrorCode = kerr.OffsetNotAvailable.Code
		}
		return nil, hw, lso, logStart
	}
	if req.Version >= 11 && req.Rack != "" && p.isLeader() && b.replicas.rackAwareReads() {
		if id := p.preferredReadReplica(b.meta.Image(), req.Rack, plan.listener, st.fetchOffset); id >= 0 {
			rp.PreferredReadReplica = id
			return nil, hw, lso, logStart
		}
	}
	return b.readPartition(p, st, req.IsolationLevel, upper, budget, first, hw, lso, logStart, rp)
}

// readablePartition returns the replica of partition i of t that may
// serve a consumer's fetch: the leader's, or from Fetch v11 a follower's
// (KIP-392); else the error to answer, as leaderPartition.
func readablePartition(t *topic, i, currentEpoch int32, version int16) (*partition, int16) {
	if version < 11 {
		return leaderPartition(t, i, currentEpoch)
	}
	if t == nil || i < 0 || i >= t.numPartitions() {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	p := t.partition(i)
	if p == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	if code := p.checkLeaderEpoch(currentEpoch); code != 0 {
		return nil, code
	}
	if r := p.currentRole(); !r.leader && r.state.Leader == NoLeader {
		return nil, kerr.NotLeaderForPartition.Code
	}
	return p, 0
}

// fetchForFollower serves a follower's fetch of one partition this broker
// leads: it checks the follower's last fetched epoch against the leader's
// log (DivergingEpoch), records the follower's position for the high
// watermark and the ISR, and reads up to the log end.
func (b *Broker) fetchForFollower(plan *fetchPlan, st *fetchPartitionState, t *topic, budget int, first bool, rp *kmsg.FetchResponseTopicPartition) (*[]byte, int64, int64, int64) {
	p, code := leaderPartition(t, st.key.partition, st.currentLeaderEpoch)
	if code != 0 {
		rp.ErrorCode = code
		return nil, -1, -1, -1
	}
	logStart, leo := p.log.LogStartOffset(), p.log.LogEndOffset()
	if st.lastFetchedEpoch >= 0 {
		epoch, end := p.log.EndOffsetForEpoch(st.lastFetchedEpoch)
		if end >= 0 && (epoch < st.lastFetchedEpoch || end < st.fetchOffset) {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = epoch, end
			return nil, p.highWatermark(), p.lastStableOffset(), logStart
		}
	}
	if st.fetchOffset < logStart || st.fetchOffset > leo {
		rp.ErrorCode = kerr.OffsetOutOfRange.Code
		return nil, p.highWatermark(), p.lastStableOffset(), logStart
	}
	if code := p.followerFetched(plan.replicaID, plan.brokerEpoch, st.fetchOffset, st.logStartOffset, leo); code != 0 {
		rp.ErrorCode = code
		return nil, -1, -1, -1
	}
	hw, lso := p.highWatermark(), p.lastStableOffset()
	if p.shouldLeaderThrottle(plan.replicaID) {
		// Over leader.replication.throttled.rate: no data for a
		// throttled replica out of the ISR (replica_throttle.go).
		return nil, hw, lso, logStart
	}
	return b.readPartition(p, st, 0, leo, budget, first, hw, lso, logStart, rp)
}

// readPartition reads the partition from the fetch offset up to upper.
func (b *Broker) readPartition(p *partition, st *fetchPartitionState, isolation int8, upper int64, budget int, first bool, hw, lso, logStart int64, rp *kmsg.FetchResponseTopicPartition) (*[]byte, int64, int64, int64) {
	limit := min(int(st.maxBytes), budget)
	if st.fetchOffset >= upper || (limit <= 0 && !first) {
		return nil, hw, lso, logStart
	}
	bp := fetchBufPool.Get().(*[]byte)
	rr, err := p.log.Read(st.fetchOffset, max(limit, 0), upper, first, (*bp)[:0])
	if err != nil {
		*bp = (*bp)[:0]
		fetchBufPool.Put(bp)
		if err == storage.ErrOffsetOutOfRange {
			rp.ErrorCode = kerr.OffsetOutOfRange.Code
		} else {
			b.log.Error("fetch read failed", "topic", p.topic.name, "partition", p.index, "err", err)
			rp.ErrorCode = kerr.KafkaStorageError.Code
		}
		return nil, hw, lso, logStart
	}
	if len(rr.Data) == 0 {
		fetchBufPool.Put(bp)
		return nil, hw, lso, logStart
	}
	if isolation == isolationReadCommitted {
		rp.AbortedTransactions = p.abortedIn(st.fetchOffset, rr.NextOffset)
	}
	*bp = rr.Data
	return bp, hw, lso, logStart
}
