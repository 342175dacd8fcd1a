package raft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// A one-voter cluster elects itself at start and commits without any
// network or tick; a restart replays the log and snapshot into an empty
// state machine.
func TestSingleNodeNoNetwork(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Node, *testSM) {
		sm := &testSM{}
		n, err := Start(Config{ID: 7, Dir: dir, Peers: []Peer{{ID: 7}}, ManualTick: true,
			SnapshotEntries: 25, SnapshotCatchUpEntries: 5, StateMachine: sm, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return n, sm
	}
	n, sm := start()
	var want []string
	for i := range 60 {
		v := fmt.Sprintf("v%d", i)
		idx := mustPropose(t, n, v)
		want = append(want, v)
		if got := sm.values(); !slices.Equal(got, want) {
			t.Fatalf("after Propose returned index %d the state machine has %v", idx, abbrev(got))
		}
	}
	if err := n.Barrier(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(ctxT(t), []byte("reject me")); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("Apply's error not returned: %v", err)
	}
	st := n.Status()
	if st.State != "leader" || st.Leader != 7 || !slices.Equal(st.Voters, []uint64{7}) {
		t.Fatalf("status %+v", st)
	}
	if first, _ := n.ms.FirstIndex(); first <= 1 {
		t.Fatalf("log not compacted: first index %d", first)
	}
	applied := n.Applied()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Propose(context.Background(), []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("propose after close: %v", err)
	}

	n, sm = start()
	defer n.Close()
	equalValues(t, want, sm.values(), "after restart")
	if sm.restoreCount() != 1 {
		t.Fatalf("restart did not restore the snapshot")
	}
	// (The node then elects itself and applies its new term's empty entry.)
	if n.Applied() < applied {
		t.Fatalf("applied %d after restart, %d before", n.Applied(), applied)
	}
	mustPropose(t, n, "after-restart")
	equalValues(t, append(want, "after-restart"), sm.values(), "after restart and propose")
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Config{ID: 1, Dir: t.TempDir(), StateMachine: &testSM{}}); err == nil {
		t.Fatal("empty store without Peers or Join started")
	}
	if _, err := Start(Config{ID: 1, Dir: t.TempDir(), Peers: []Peer{{ID: 2}}, StateMachine: &testSM{}}); err == nil {
		t.Fatal("Peers without this node accepted")
	}
	if _, err := Start(Config{ID: 1, Dir: t.TempDir(), Peers: []Peer{{ID: 1}, {ID: 2}}, StateMachine: &testSM{}}); err == nil {
		t.Fatal("a two-node cluster without a transport accepted")
	}
	dir := t.TempDir()
	n, err := Start(Config{ID: 1, Dir: dir, Peers: []Peer{{ID: 1}}, StateMachine: &testSM{}, ManualTick: true})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if _, err := Start(Config{ID: 2, Dir: dir, Join: true, Addr: "127.0.0.1:0", StateMachine: &testSM{}}); err == nil || !strings.Contains(err.Error(), "belongs to node 1") {
		t.Fatalf("store of node 1 opened as node 2: %v", err)
	}
}

func TestElectionAndReplicationOrder(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	if st := leader.Status(); len(st.Progress) != 3 || st.Term < 2 {
		t.Fatalf("leader status %+v", st)
	}
	// Proposals from every node, concurrently: all nodes apply the same
	// sequence, and each Propose returns after its entry is applied on the
	// proposing node at the index returned.
	var wg sync.WaitGroup
	errs := make(chan error, 90)
	for _, n := range c.running() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				v := fmt.Sprintf("n%d-%d", n.ID(), i)
				idx, err := n.Propose(ctxT(t), []byte(v))
				if err != nil {
					errs <- fmt.Errorf("node %d: %w", n.ID(), err)
					return
				}
				sm := c.sms[n.ID()]
				sm.mu.Lock()
				ok := slices.ContainsFunc(sm.entries, func(e Entry) bool { return e.Index == idx && string(e.Data) == v })
				sm.mu.Unlock()
				if !ok {
					errs <- fmt.Errorf("node %d: %q not applied at %d when Propose returned", n.ID(), v, idx)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c.waitApplied(leader.Applied(), c.running()...)
	want := c.sms[leader.ID()].values()
	if len(want) != 90 {
		t.Fatalf("leader applied %d entries, want 90", len(want))
	}
	for _, n := range c.running() {
		equalValues(t, want, c.sms[n.ID()].values(), fmt.Sprintf("node %d", n.ID()))
	}
}

// An isolated leader steps down (CheckQuorum) and cannot commit; the rest
// elect a new leader and go on; after healing, the old leader converges and
// the entry proposed on it fails and is applied nowhere.
func TestLeaderIsolation(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.waitLeader()
	mustPropose(t, old, "before")
	c.net.Isolate(old.ID())

	type res struct {
		idx uint64
		err error
	}
	isolated := make(chan res, 1)
	go func() {
		idx, err := old.Propose(ctxT(t), []byte("isolated"))
		isolated <- res{idx, err}
	}()
	// The proposal is appended on the old leader but cannot commit.
	c.tickUntil(50, "isolated leader did not append the proposal", func() bool {
		last, _ := old.ms.LastIndex()
		return old.Status().Commit < last
	})

	var others []uint64
	for _, n := range c.running() {
		if n != old {
			others = append(others, n.ID())
		}
	}
	newLeader := c.waitLeader(others...)
	// The new leader's record of when it heard each member: the cut-off
	// node's stays where it was, the other voter's moves on with every
	// heartbeat it answers.
	before := newLeader.Status().Heard
	if _, ok := before[old.ID()]; !ok {
		t.Fatalf("new leader never heard the old one: %v", before)
	}
	c.tickUntil(3*10, "isolated leader still believes it leads", func() bool {
		return old.Status().State != "leader"
	})
	select {
	case r := <-isolated:
		t.Fatalf("isolated proposal finished while isolated: %+v", r)
	default:
	}
	for _, id := range others {
		if id != newLeader.ID() {
			c.tickUntil(5, "new leader did not hear the other voter again", func() bool {
				return newLeader.Status().Heard[id].After(before[id])
			})
		}
	}
	if after := newLeader.Status().Heard; !after[old.ID()].Equal(before[old.ID()]) {
		t.Fatalf("new leader heard the isolated node at %v, then at %v", before[old.ID()], after[old.ID()])
	}
	mustPropose(t, newLeader, "after")

	c.net.Heal()
	c.tickUntil(100, "old leader did not rejoin", func() bool { return old.LeaderID() == newLeader.ID() })
	r := <-isolated
	if !errors.Is(r.err, ErrProposalDropped) {
		t.Fatalf("isolated proposal: index %d err %v, want ErrProposalDropped", r.idx, r.err)
	}
	c.waitApplied(newLeader.Applied(), c.running()...)
	want := []string{"before", "after"}
	for _, n := range c.running() {
		equalValues(t, want, c.sms[n.ID()].values(), fmt.Sprintf("node %d", n.ID()))
	}
}

// A follower cut off while the log is compacted catches up from a
// snapshot.
func TestFollowerCatchUpBySnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries = 20; cfg.SnapshotCatchUpEntries = 5 })
	leader := c.waitLeader()
	lag := c.follower(leader)
	c.net.Isolate(lag.ID())
	var want []string
	for i := range 100 {
		v := fmt.Sprintf("v%d", i)
		mustPropose(t, leader, v)
		want = append(want, v)
	}
	if first, _ := leader.ms.FirstIndex(); first < 50 {
		t.Fatalf("leader log not compacted: first index %d", first)
	}
	c.net.Heal()
	c.waitApplied(leader.Applied(), lag)
	equalValues(t, want, c.sms[lag.ID()].values(), "lagging follower")
	if c.sms[lag.ID()].restoreCount() == 0 {
		t.Fatal("the follower caught up without a snapshot")
	}
	if got := lag.Members(); len(got) != 3 || got[0].Addr != "mem-1" {
		t.Fatalf("members after snapshot: %+v", got)
	}
	mustPropose(t, lag, "from-lagger")
	c.waitApplied(lag.Applied(), c.running()...)
}

func TestMembershipChanges(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	mustPropose(t, leader, "a")

	// A learner joins, receives the log, and does not vote.
	ctx := ctxT(t)
	if err := c.follower(leader).AddLearner(ctx, 4, "mem-4"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("membership change on a follower: %v", err)
	}
	if err := leader.AddLearner(ctx, 4, "mem-4"); err != nil {
		t.Fatal(err)
	}
	n4 := c.start(4, nil, true)
	c.waitApplied(leader.Applied(), n4)
	equalValues(t, []string{"a"}, c.sms[4].values(), "learner")
	if st := leader.Status(); !slices.Equal(st.Learners, []uint64{4}) || !st.Progress[4].Learner {
		t.Fatalf("leader status after AddLearner: %+v", st)
	}
	if err := leader.AddLearner(ctx, 4, "mem-4"); err != nil {
		t.Fatalf("repeating AddLearner: %v", err)
	}
	if err := leader.AddVoter(ctx, 4, "mem-4"); err == nil {
		t.Fatal("AddVoter of a learner accepted")
	}
	if err := leader.PromoteLearner(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if st := leader.Status(); !slices.Equal(st.Voters, []uint64{1, 2, 3, 4}) || len(st.Learners) != 0 {
		t.Fatalf("after promotion: %+v", st)
	}
	// A voter added directly.
	if err := leader.AddVoter(ctx, 5, "mem-5"); err != nil {
		t.Fatal(err)
	}
	c.start(5, nil, true)
	mustPropose(t, leader, "b")
	c.waitApplied(leader.Applied(), c.running()...)
	for _, n := range c.running() {
		equalValues(t, []string{"a", "b"}, c.sms[n.ID()].values(), fmt.Sprintf("node %d", n.ID()))
		if ms := n.Members(); len(ms) != 5 || ms[4].Addr != "mem-5" || ms[3].Learner {
			t.Fatalf("node %d members %+v", n.ID(), ms)
		}
	}

	// Removing a follower stops it.
	victim := c.follower(leader)
	if err := leader.RemoveMember(ctx, victim.ID()); err != nil {
		t.Fatal(err)
	}
	c.tickUntil(50, "removed follower did not stop", func() bool {
		select {
		case <-victim.Removed():
			return true
		default:
			return false
		}
	})
	if !errors.Is(victim.Err(), ErrRemoved) {
		t.Fatalf("removed node error %v", victim.Err())
	}
	if _, err := victim.Propose(ctx, []byte("x")); !errors.Is(err, ErrRemoved) {
		t.Fatalf("propose on removed node: %v", err)
	}

	// Removing the leader: it steps down and stops, the others elect a
	// new leader and go on.
	if err := leader.RemoveMember(ctx, leader.ID()); err != nil {
		t.Fatal(err)
	}
	<-leader.Removed()
	var rest []uint64
	for _, n := range c.running() {
		rest = append(rest, n.ID())
	}
	if len(rest) != 3 {
		t.Fatalf("running nodes %v", rest)
	}
	nl := c.waitLeader(rest...)
	mustPropose(t, nl, "c")
	c.waitApplied(nl.Applied(), c.running()...)
	for _, n := range c.running() {
		equalValues(t, []string{"a", "b", "c"}, c.sms[n.ID()].values(), fmt.Sprintf("node %d", n.ID()))
		if st := n.Status(); !slices.Equal(st.Voters, rest) {
			t.Fatalf("node %d voters %v, want %v", n.ID(), st.Voters, rest)
		}
	}
	if err := nl.RemoveMember(ctx, 99); err == nil {
		t.Fatal("removing a non-member accepted")
	}
}

// Removing the leader of a two-voter cluster leaves the other one able to
// lead alone.
func TestRemoveLeaderOfTwo(t *testing.T) {
	c := newCluster(t, 2, nil)
	leader := c.waitLeader()
	other := c.follower(leader)
	if err := leader.RemoveMember(ctxT(t), leader.ID()); err != nil {
		t.Fatal(err)
	}
	<-leader.Removed()
	c.waitLeader(other.ID())
	mustPropose(t, other, "alone")
}

func TestTransferLeadership(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	to := c.follower(leader)
	if err := to.TransferLeadership(ctxT(t), leader.ID()); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("transfer on a follower: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- leader.TransferLeadership(ctxT(t), to.ID()) }()
	c.tickUntil(50, "transfer did not finish", func() bool { return len(done) == 1 })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	nl := c.waitLeader()
	if nl != to {
		t.Fatalf("leader is %d, want %d", nl.ID(), to.ID())
	}
	mustPropose(t, to, "x")
	if err := to.TransferLeadership(ctxT(t), 42); !errors.Is(err, ErrTransferFailed) {
		t.Fatalf("transfer to a non-member: %v", err)
	}
}

// Barrier on a follower waits until the follower has applied what the
// leader had committed.
func TestBarrierOnFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	f := c.follower(leader)
	c.net.SetDropFunc(func(m *pb.Message) bool {
		return m.GetTo() == f.ID() && (m.GetType() == pb.MsgApp || m.GetType() == pb.MsgSnap)
	})
	idx := mustPropose(t, leader, "x")
	done := make(chan error, 1)
	go func() { done <- f.Barrier(ctxT(t)) }()
	for range 30 {
		for _, n := range c.running() {
			n.Tick()
		}
		c.settle()
	}
	select {
	case err := <-done:
		t.Fatalf("Barrier returned (%v) before the follower could apply index %d (applied %d)", err, idx, f.Applied())
	default:
	}
	c.net.SetDropFunc(nil)
	c.tickUntil(50, "Barrier did not return", func() bool { return len(done) == 1 })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	equalValues(t, []string{"x"}, c.sms[f.ID()].values(), "follower after Barrier")
}

func TestProposeErrors(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.MaxProposalSize = 100 })
	leader := c.waitLeader()
	if _, err := leader.Propose(ctxT(t), make([]byte, 101)); !errors.Is(err, ErrProposalTooLarge) {
		t.Fatalf("oversized proposal: %v", err)
	}
	f := c.follower(leader)
	if _, err := f.Propose(ctxT(t), []byte("reject this")); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("Apply error on a follower's proposal: %v", err)
	}
	// A follower that cannot reach the leader: the forwarded proposal is
	// reported as dropped at once.
	c.net.Cut(f.ID(), leader.ID())
	if _, err := f.Propose(ctxT(t), []byte("lost")); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("proposal forwarded over a cut link: %v", err)
	}
	// No leader at all.
	c.net.Isolate(1, 2, 3)
	c.tickUntil(100, "nodes still see a leader", func() bool {
		for _, n := range c.running() {
			if n.LeaderID() != 0 {
				return false
			}
		}
		return true
	})
	if _, err := f.Propose(ctxT(t), []byte("y")); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("proposal without leader: %v", err)
	}
	if err := f.Barrier(ctxT(t)); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("barrier without leader: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := leader.Propose(ctx, []byte("z")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled proposal: %v", err)
	}
}

// Nodes restarted from pebble come back with the same state; a stopped
// node catches up when it returns.
func TestRestartFromPebble(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries = 15; cfg.SnapshotCatchUpEntries = 3 })
	leader := c.waitLeader()
	for i := range 20 {
		mustPropose(t, leader, fmt.Sprintf("a%d", i))
	}
	down := c.follower(leader)
	downID := down.ID()
	c.stop(downID)
	for i := range 20 {
		mustPropose(t, leader, fmt.Sprintf("b%d", i))
	}
	back := c.start(downID, nil, false)
	c.waitApplied(leader.Applied(), back)
	want := c.sms[leader.ID()].values()
	equalValues(t, want, c.sms[downID].values(), "restarted follower")

	// Whole cluster down and up: each node's state machine is rebuilt as it
	// was before, before any message is exchanged.
	c.waitApplied(leader.Applied(), c.running()...)
	before := map[uint64][]string{}
	members := map[uint64][]Member{}
	for _, n := range c.running() {
		before[n.ID()] = c.sms[n.ID()].values()
		members[n.ID()] = n.Members()
	}
	ids := slices.Sorted(maps.Keys(c.nodes))
	for _, id := range ids {
		c.stop(id)
	}
	c.net = NewMemNetwork() // nothing from before the restart is delivered
	for _, id := range ids {
		n := c.start(id, nil, false)
		equalValues(t, before[id], c.sms[id].values(), fmt.Sprintf("node %d right after restart", id))
		if got := n.Members(); !slices.Equal(got, members[id]) {
			t.Fatalf("node %d members after restart %+v, before %+v", id, got, members[id])
		}
	}
	nl := c.waitLeader()
	mustPropose(t, nl, "after")
	c.waitApplied(nl.Applied(), c.running()...)
	for _, id := range ids {
		equalValues(t, append(slices.Clone(want), "after"), c.sms[id].values(), fmt.Sprintf("node %d", id))
	}
}

// The in-memory network with a held link: messages arrive late, in order,
// and the cluster still agrees.
func TestDelayedMessages(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	f := c.follower(leader)
	c.net.Hold(leader.ID(), f.ID())
	for i := range 10 {
		mustPropose(t, leader, fmt.Sprintf("v%d", i))
	}
	if f.Applied() >= leader.Applied() {
		t.Fatal("held follower applied everything")
	}
	c.net.Release(leader.ID(), f.ID())
	c.waitApplied(leader.Applied(), f)
	equalValues(t, c.sms[leader.ID()].values(), c.sms[f.ID()].values(), "delayed follower")
}

func TestStatusAndMembersOfStoppedNode(t *testing.T) {
	c := newCluster(t, 1, nil)
	n := c.waitLeader()
	c.stop(n.ID())
	if st := n.Status(); st.State != "stopped" || st.ID != n.ID() {
		t.Fatalf("status of a stopped node: %+v", st)
	}
	if err := n.Barrier(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("barrier on a stopped node: %v", err)
	}
}

// A proposal forwarded by a follower in one term and appended by a leader
// of a later term is skipped on every node, and its Propose call fails.
func TestStaleForwardedProposalSkipped(t *testing.T) {
	c := newCluster(t, 3, nil)
	leader := c.waitLeader()
	var f, g *Node
	for _, n := range c.running() {
		if n == leader {
			continue
		}
		if f == nil {
			f = n
		} else {
			g = n
		}
	}
	term := leader.Status().Term
	c.net.Hold(f.ID(), leader.ID())
	done := make(chan error, 1)
	go func() {
		_, err := f.Propose(ctxT(t), []byte("stale"))
		done <- err
	}()
	c.tickUntil(10, "follower did not forward the proposal", func() bool {
		c.net.mu.Lock()
		defer c.net.mu.Unlock()
		return slices.ContainsFunc(c.net.mu.held, func(m *pb.Message) bool { return m.GetType() == pb.MsgProp })
	})
	if err := leader.TransferLeadership(ctxT(t), g.ID()); err != nil {
		t.Fatal(err)
	}
	c.net.Release(f.ID(), leader.ID())
	nl := c.waitLeader()
	if nl != g || nl.Status().Term <= term {
		t.Fatalf("leader %d term %d", nl.ID(), nl.Status().Term)
	}
	c.tickUntil(20, "stale proposal did not finish", func() bool { return len(done) == 1 })
	if err := <-done; !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("stale forwarded proposal: %v", err)
	}
	mustPropose(t, g, "fresh")
	c.waitApplied(g.Applied(), c.running()...)
	for _, n := range c.running() {
		equalValues(t, []string{"fresh"}, c.sms[n.ID()].values(), fmt.Sprintf("node %d", n.ID()))
	}
	// The entry did reach the new leader's log: it was skipped, not lost.
	first, _ := g.ms.FirstIndex()
	last, _ := g.ms.LastIndex()
	ents, err := g.ms.Entries(first, last+1, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(ents, func(e *pb.Entry) bool {
		h, p, err := decodeEntry(e.GetData())
		return err == nil && string(p) == "stale" && h.term != e.GetTerm()
	}) {
		t.Fatal("the stale proposal is not in the new leader's log")
	}
}

// A node that joins after the log was compacted starts from a snapshot,
// learns every member's address from it, and can then be promoted.
func TestJoinFromSnapshot(t *testing.T) {
	c := newCluster(t, 1, func(cfg *Config) { cfg.SnapshotEntries = 10; cfg.SnapshotCatchUpEntries = 2 })
	leader := c.waitLeader()
	var want []string
	for i := range 50 {
		v := fmt.Sprintf("v%d", i)
		mustPropose(t, leader, v)
		want = append(want, v)
	}
	if err := leader.AddLearner(ctxT(t), 2, "mem-2"); err != nil {
		t.Fatal(err)
	}
	n2 := c.start(2, nil, true)
	c.waitApplied(leader.Applied(), n2)
	if c.sms[2].restoreCount() == 0 {
		t.Fatal("joined without a snapshot")
	}
	equalValues(t, want, c.sms[2].values(), "joined node")
	if ms := n2.Members(); len(ms) != 2 || ms[0].Addr != "mem-1" || ms[1].Addr != "mem-2" || !ms[1].Learner {
		t.Fatalf("members on the joined node: %+v", ms)
	}
	if err := leader.PromoteLearner(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	mustPropose(t, n2, "from-2")
	c.waitApplied(leader.Applied(), c.running()...)
	equalValues(t, append(want, "from-2"), c.sms[1].values(), "leader")
}
