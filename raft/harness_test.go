package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSM records the applied entries. Data starting with "reject" is
// refused by Apply.
type testSM struct {
	mu       sync.Mutex
	entries  []Entry
	restores int
}

func (s *testSM) Apply(e Entry) error {
	if strings.HasPrefix(string(e.Data), "reject") {
		return errors.New("rejected by the state machine")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.entries); n > 0 && s.entries[n-1].Index >= e.Index {
		panic(fmt.Sprintf("entry %d applied after %d", e.Index, s.entries[n-1].Index))
	}
	s.entries = append(s.entries, Entry{Index: e.Index, Term: e.Term, Data: slices.Clone(e.Data)})
	return nil
}

func (s *testSM) Snapshot() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return json.Marshal(s.entries)
}

func (s *testSM) Restore(data []byte) error {
	var ents []Entry
	if err := json.Unmarshal(data, &ents); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = ents
	s.restores++
	return nil
}

// values returns the applied data in order.
func (s *testSM) values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.entries))
	for i, e := range s.entries {
		out[i] = string(e.Data)
	}
	return out
}

func (s *testSM) restoreCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restores
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("RAFT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// cluster is a set of nodes on a MemNetwork with manual ticks.
type cluster struct {
	t      testing.TB
	net    *MemNetwork
	base   string
	nodes  map[uint64]*Node
	sms    map[uint64]*testSM
	tweak  func(*Config)
	closed bool
}

func newCluster(t testing.TB, size int, tweak func(*Config)) *cluster {
	c := &cluster{t: t, net: NewMemNetwork(), base: t.TempDir(), nodes: map[uint64]*Node{}, sms: map[uint64]*testSM{}, tweak: tweak}
	t.Cleanup(c.close)
	var peers []Peer
	for id := uint64(1); id <= uint64(size); id++ {
		peers = append(peers, Peer{ID: id, Addr: fmt.Sprintf("mem-%d", id)})
	}
	for _, p := range peers {
		c.start(p.ID, peers, false)
	}
	return c
}

func (c *cluster) config(id uint64, peers []Peer, join bool) Config {
	cfg := Config{
		ID:           id,
		Dir:          filepath.Join(c.base, fmt.Sprint(id)),
		Peers:        peers,
		Join:         join,
		ManualTick:   true,
		Transport:    c.net.Transport(id),
		StateMachine: &testSM{},
		Logger:       testLogger(c.t),
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

// start starts node id (restarting it from its directory if it has one).
func (c *cluster) start(id uint64, peers []Peer, join bool) *Node {
	c.t.Helper()
	cfg := c.config(id, peers, join)
	n, err := Start(cfg)
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.nodes[id] = n
	if sm, ok := cfg.StateMachine.(*testSM); ok {
		c.sms[id] = sm
	}
	return n
}

func (c *cluster) stop(id uint64) {
	c.t.Helper()
	if n := c.nodes[id]; n != nil {
		if err := n.Close(); err != nil {
			c.t.Fatalf("close node %d: %v", id, err)
		}
		delete(c.nodes, id)
	}
}

func (c *cluster) close() {
	if c.closed {
		return
	}
	c.closed = true
	for id := range c.nodes {
		c.nodes[id].Close()
	}
}

func (c *cluster) running() []*Node {
	var ns []*Node
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		if n := c.nodes[id]; n.Err() == nil {
			ns = append(ns, n)
		}
	}
	return ns
}

// settle waits until no message is in flight and no node has anything left
// to process.
func (c *cluster) settle() {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	sum := func() (s uint64) {
		for _, n := range c.nodes {
			s += n.processed.Load()
		}
		return s
	}
	for {
		before := sum()
		for _, n := range c.running() {
			n.call(context.Background(), func() {})
		}
		pending := c.net.Pending()
		empty := true
		for _, n := range c.running() {
			if len(n.recvc) > 0 {
				empty = false
			}
		}
		if pending == 0 && empty && sum() == before {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster did not settle")
		}
	}
}

// tickUntil ticks every running node and lets the cluster settle until cond
// holds, failing after maxTicks.
func (c *cluster) tickUntil(maxTicks int, what string, cond func() bool) {
	c.t.Helper()
	c.settle()
	for i := 0; i < maxTicks; i++ {
		if cond() {
			return
		}
		for _, n := range c.running() {
			n.Tick()
		}
		c.settle()
	}
	if !cond() {
		c.t.Fatalf("after %d ticks: %s", maxTicks, what)
	}
}

// waitLeader ticks until exactly one of ids is leader and all of ids agree
// on it.
func (c *cluster) waitLeader(ids ...uint64) *Node {
	c.t.Helper()
	if len(ids) == 0 {
		for _, n := range c.running() {
			ids = append(ids, n.ID())
		}
	}
	var leader *Node
	c.tickUntil(300, fmt.Sprintf("no agreed leader among %v", ids), func() bool {
		leader = nil
		lead := c.nodes[ids[0]].LeaderID()
		if lead == 0 || !slices.Contains(ids, lead) {
			return false
		}
		for _, id := range ids {
			if c.nodes[id].LeaderID() != lead {
				return false
			}
		}
		if c.nodes[lead].Status().State != "leader" {
			return false
		}
		leader = c.nodes[lead]
		return true
	})
	return leader
}

func (c *cluster) follower(leader *Node) *Node {
	for _, n := range c.running() {
		if n != leader {
			return n
		}
	}
	c.t.Fatal("no follower")
	return nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustPropose(t testing.TB, n *Node, data string) uint64 {
	t.Helper()
	idx, err := n.Propose(ctxT(t), []byte(data))
	if err != nil {
		t.Fatalf("propose %q on node %d: %v", data, n.ID(), err)
	}
	return idx
}

// waitApplied waits until every given node has applied index.
func (c *cluster) waitApplied(index uint64, nodes ...*Node) {
	c.t.Helper()
	c.tickUntil(300, fmt.Sprintf("nodes did not apply index %d", index), func() bool {
		for _, n := range nodes {
			if n.Applied() < index {
				return false
			}
		}
		return true
	})
}

func equalValues(t testing.TB, want []string, got []string, what string) {
	t.Helper()
	if !slices.Equal(want, got) {
		t.Fatalf("%s: got %d values %v, want %d values %v", what, len(got), abbrev(got), len(want), abbrev(want))
	}
}

func abbrev(v []string) []string {
	if len(v) > 12 {
		return append(slices.Clone(v[:6]), append([]string{"..."}, v[len(v)-6:]...)...)
	}
	return v
}
