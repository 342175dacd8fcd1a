package broker

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Incremental fetch sessions (KIP-227). A consumer that fetches the same
// partitions over and over names them once; later fetches list only what
// changed, and responses include only partitions with news (records, a new
// high watermark, log start offset or an error).
//
// Session epochs: -1 ends a session (a full fetch without one), 0 creates a
// session from a full fetch, >0 continues session SessionID at exactly
// that epoch.
const (
	fetchSessionFinalEpoch   = -1
	fetchSessionInitialEpoch = 0
	// fetchSessionIdle is how long an unused session is kept when the
	// cache is full and another consumer needs a slot.
	fetchSessionIdle = 2 * time.Minute
)

// fetchKey identifies a partition in a session: by name up to Fetch v12,
// by topic id from v13.
type fetchKey struct {
	topic     string
	id        TopicID
	partition int32
}

// fetchPartitionState is what the session remembers of one partition: the
// consumer's position and limit, and what the last response told it.
type fetchPartitionState struct {
	key                fetchKey
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32
	// lastFetchedEpoch (v12+) and logStartOffset (v5+) are a
	// follower's: the epoch of its last batch and its log start.
	lastFetchedEpoch int32
	logStartOffset   int64
	lastHW           int64
	lastLSO          int64
	lastLogStart     int64
}

type fetchSession struct {
	id    int32
	epoch int32
	mu    sync.Mutex
	parts []*fetchPartitionState // in fetch order; ones that returned data move to the back
	index map[fetchKey]*fetchPartitionState
	// lastUsed is the time of the last fetch (UnixNano); the cache reads
	// it without the session lock.
	lastUsed atomic.Int64
}

type fetchSessionCache struct {
	mu       sync.Mutex
	slots    int
	sessions map[int32]*fetchSession
}

func newFetchSessionCache(slots int64) *fetchSessionCache {
	return &fetchSessionCache{slots: int(slots), sessions: map[int32]*fetchSession{}}
}

// create makes a new session, evicting the least recently used idle one if
// the cache is full. It returns nil when no slot is free (the client then
// fetches without a session, as Kafka allows).
func (c *fetchSessionCache) create(now time.Time) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots <= 0 {
		return nil
	}
	if len(c.sessions) >= c.slots {
		var oldest *fetchSession
		for _, s := range c.sessions {
			if oldest == nil || s.lastUsed.Load() < oldest.lastUsed.Load() {
				oldest = s
			}
		}
		if oldest == nil || now.Sub(time.Unix(0, oldest.lastUsed.Load())) < fetchSessionIdle {
			return nil
		}
		delete(c.sessions, oldest.id)
	}
	s := &fetchSession{epoch: 1, index: map[fetchKey]*fetchPartitionState{}}
	s.lastUsed.Store(now.UnixNano())
	for {
		s.id = rand.Int32N(1<<31-1) + 1
		if _, taken := c.sessions[s.id]; !taken {
			break
		}
	}
	c.sessions[s.id] = s
	return s
}

func (c *fetchSessionCache) get(id int32) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[id]
}

func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	delete(c.sessions, id)
	c.mu.Unlock()
}

// expire removes sessions unused for longer than the idle time.
func (c *fetchSessionCache) expire(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.sessions {
		if now.Sub(time.Unix(0, s.lastUsed.Load())) > 4*fetchSessionIdle {
			delete(c.sessions, id)
		}
	}
}

func (s *fetchSession) upsert(st fetchPartitionState) {
	if cur, ok := s.index[st.key]; ok {
		cur.fetchOffset, cur.maxBytes, cur.currentLeaderEpoch = st.fetchOffset, st.maxBytes, st.currentLeaderEpoch
		cur.lastFetchedEpoch, cur.logStartOffset = st.lastFetchedEpoch, st.logStartOffset
		return
	}
	st.lastHW, st.lastLSO, st.lastLogStart = -1, -1, -1
	p := &st
	s.parts = append(s.parts, p)
	s.index[st.key] = p
}

func (s *fetchSession) forget(k fetchKey) {
	if _, ok := s.index[k]; !ok {
		return
	}
	delete(s.index, k)
	for i, p := range s.parts {
		if p.key == k {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			return
		}
	}
}

// moveToBack rotates partitions that returned data behind the others, so
// that a fetch limited by max_bytes does not starve later partitions.
func (s *fetchSession) moveToBack(keys map[fetchKey]bool) {
	if len(keys) == 0 {
		return
	}
	front := s.parts[:0:0]
	var back []*fetchPartitionState
	for _, p := range s.parts {
		if keys[p.key] {
			back = append(back, p)
		} else {
			front = append(front, p)
		}
	}
	s.parts = append(front, back...)
}
