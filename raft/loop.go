package raft

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

type result struct {
	index uint64
	err   error
}

// waiter is a Propose call or a membership change waiting for its entry.
//
// Each proposal carries the term its proposer saw (tagTerm). An entry
// applies only if it was appended in that term; on every node alike, an
// entry appended by a leader of another term is skipped. So once an entry
// of a later term has been applied, a proposal not yet applied never will
// be, and its caller can be told so (ErrProposalDropped) without doubt.
type waiter struct {
	ctx     context.Context
	data    []byte
	done    chan result
	id      proposalID
	tagTerm uint64

	// located: the entry was seen in this node's log at index (in term
	// tagTerm: a leader appends its own proposals in the term it tags them
	// with, and a follower's entry in another term is skipped anyway).
	located bool
	index   uint64
}

type confReq struct {
	ctx     context.Context
	typ     pb.ConfChangeType
	id      uint64
	addr    string
	promote bool
	done    chan result
}

type readReq struct {
	ctx      context.Context
	done     chan result
	key      uint64
	index    uint64
	got      bool
	sentTick uint64
}

type transferReq struct {
	ctx       context.Context
	to        uint64
	done      chan result
	startTick uint64
}

// loopState is owned by the loop goroutine (and by Start before the loop
// runs).
type loopState struct {
	addrs       map[uint64]string
	confState   *pb.ConfState
	applied     uint64
	appliedTerm uint64
	snapIndex   uint64
	snapRetryAt uint64
	startCommit uint64
	started     bool

	lead    uint64
	state   raft.StateType
	ticks   uint64
	removed bool

	waiters    map[proposalID]*waiter
	mustLocate []*waiter
	maxLocated uint64
	confQueue  []*confReq
	confFlight *waiter
	reads      map[uint64]*readReq
	readSeq    uint64
	transfers  []*transferReq

	// heard is when a message from each member last arrived: a
	// follower hears the leader, the leader every member, and a
	// candidate its voters.
	heard map[uint64]time.Time
}

func (l *loopState) init() {
	l.addrs = map[uint64]string{}
	l.confState = &pb.ConfState{}
	l.waiters = map[proposalID]*waiter{}
	l.reads = map[uint64]*readReq{}
	l.heard = map[uint64]time.Time{}
}

func (n *Node) run() {
	var err error
	defer func() { n.shutdown(err) }()
	var tickc <-chan time.Time
	if !n.cfg.ManualTick {
		t := time.NewTicker(n.cfg.TickInterval)
		defer t.Stop()
		tickc = t.C
	}
	if err = n.handleReadies(); err != nil {
		return
	}
	for !n.loop.removed {
		select {
		case <-n.stopc:
			return
		case <-tickc:
			n.tick()
		case w := <-n.propc:
			n.propose(w)
		drainProps:
			for range 1024 {
				select {
				case w := <-n.propc:
					n.propose(w)
				default:
					break drainProps
				}
			}
		case r := <-n.confc:
			n.loop.confQueue = append(n.loop.confQueue, r)
		case m := <-n.recvc:
			n.step(m)
			n.drainRecv(1024)
		case f := <-n.callc:
			n.drainRecv(len(n.recvc))
			n.handleReports()
			if err = n.handleReadies(); err != nil {
				return
			}
			f()
		case <-n.reportc:
			n.handleReports()
		}
		if err = n.handleReadies(); err != nil {
			return
		}
	}
	err = ErrRemoved
}

func (n *Node) drainRecv(limit int) {
	for range limit {
		select {
		case m := <-n.recvc:
			n.step(m)
		default:
			return
		}
	}
}

// shutdown fails every pending call with the reason the loop stopped.
func (n *Node) shutdown(err error) {
	if err == nil {
		err = ErrStopped
	}
	switch {
	case errors.Is(err, ErrRemoved):
		n.log.Info("raft: this node was removed from the cluster; stopping")
		close(n.removed)
	case !errors.Is(err, ErrStopped):
		n.log.Error("raft: node failed", "err", err)
	}
	n.mu.Lock()
	n.mu.err = err
	n.mu.Unlock()
	l := &n.loop
	for _, w := range l.waiters {
		w.done <- result{err: err}
	}
	clear(l.waiters)
	for _, r := range l.confQueue {
		r.done <- result{err: err}
	}
	l.confQueue = nil
	for _, r := range l.reads {
		r.done <- result{err: err}
	}
	clear(l.reads)
	for _, t := range l.transfers {
		t.done <- result{err: err}
	}
	l.transfers = nil
	n.leader.Store(0)
	close(n.donec)
}

func (n *Node) step(m *pb.Message) {
	n.processed.Add(1)
	if m.GetTo() != n.id {
		return
	}
	if from := m.GetFrom(); from != 0 && from != n.id {
		n.loop.heard[from] = time.Now()
	}
	if m.GetType() == pb.MsgSnap {
		if _, err := decodeSnapshot(m.GetSnapshot().GetData()); err != nil {
			n.log.Warn("raft: dropping snapshot with a bad envelope", "from", m.GetFrom(), "err", err)
			return
		}
	}
	if err := n.rn.Step(m); err != nil {
		n.log.Debug("raft: step", "type", m.GetType(), "from", m.GetFrom(), "err", err)
	}
}

func (n *Node) tick() {
	l := &n.loop
	n.rn.Tick()
	l.ticks++
	n.checkTransfers()
	et := uint64(n.cfg.ElectionTicks)
	for key, r := range l.reads {
		switch {
		case r.ctx.Err() != nil:
			delete(l.reads, key)
		case !r.got && l.ticks-r.sentTick >= et && l.lead != raft.None:
			// The request or its answer may have been lost: ask again.
			r.sentTick = l.ticks
			n.rn.ReadIndex(readCtx(key))
		}
	}
	if l.ticks%et == 0 {
		// Forget the calls whose caller has gone.
		for id, w := range l.waiters {
			if w.ctx.Err() != nil && w != l.confFlight {
				delete(l.waiters, id)
			}
		}
	}
}

func readCtx(key uint64) []byte { return binary.BigEndian.AppendUint64(nil, key) }

func (n *Node) handleReports() {
	n.reports.Lock()
	unreachable := n.reports.unreachable
	snapshots := n.reports.snapshots
	dropped := n.reports.dropped
	n.reports.unreachable = map[uint64]bool{}
	n.reports.snapshots = map[uint64]bool{}
	n.reports.dropped = nil
	n.reports.Unlock()
	for id := range unreachable {
		n.rn.ReportUnreachable(id)
	}
	for id, ok := range snapshots {
		st := raft.SnapshotFinish
		if !ok {
			st = raft.SnapshotFailure
		}
		n.rn.ReportSnapshot(id, st)
	}
	for _, id := range dropped {
		if w := n.loop.waiters[id]; w != nil && !w.located {
			n.finish(w, 0, fmt.Errorf("%w: the leader could not be reached", ErrProposalDropped))
		}
	}
}

func (n *Node) propose(w *waiter) {
	if err := w.ctx.Err(); err != nil {
		w.done <- result{err: err}
		return
	}
	st := n.rn.BasicStatus()
	if st.Lead == raft.None {
		w.done <- result{err: ErrNoLeader}
		return
	}
	w.id = proposalID{node: n.id, seq: n.seq.Add(1)}
	w.tagTerm = st.GetTerm()
	putEntryHeader(w.data, entryHeader{id: w.id, term: w.tagTerm})
	if err := n.rn.Propose(w.data); err != nil {
		w.done <- result{err: fmt.Errorf("%w: %v", ErrProposalDropped, err)}
		return
	}
	n.loop.waiters[w.id] = w
	if st.RaftState == raft.StateLeader {
		n.loop.mustLocate = append(n.loop.mustLocate, w)
	}
}

func (n *Node) finish(w *waiter, index uint64, err error) {
	l := &n.loop
	if l.waiters[w.id] != w {
		return
	}
	delete(l.waiters, w.id)
	if l.confFlight == w {
		l.confFlight = nil
	}
	w.done <- result{index: index, err: err}
}

// handleReadies processes Readies until raft has nothing more to do.
func (n *Node) handleReadies() error {
	for {
		for n.rn.HasReady() {
			if err := n.handleReady(n.rn.Ready()); err != nil {
				return err
			}
			if n.loop.removed {
				return nil
			}
		}
		n.afterReady()
		if !n.rn.HasReady() {
			return nil
		}
	}
}

// handleReady persists, sends, then applies, as raft requires.
func (n *Node) handleReady(rd raft.Ready) error {
	l := &n.loop
	if rd.SoftState != nil {
		n.onSoftState(*rd.SoftState)
	}
	hs := rd.HardState
	if hs != nil && raft.IsEmptyHardState(hs) {
		hs = nil
	}
	snap := rd.Snapshot
	if snap != nil && raft.IsEmptySnap(snap) {
		snap = nil
	}
	if err := n.st.save(hs, rd.Entries, snap, rd.MustSync); err != nil {
		return fmt.Errorf("raft: persist: %w", err)
	}
	if snap != nil {
		if err := n.ms.ApplySnapshot(snap); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return err
		}
	}
	if hs != nil {
		if err := n.ms.SetHardState(hs); err != nil {
			return err
		}
		n.term.Store(hs.GetTerm())
		n.commit.Store(hs.GetCommit())
	}
	if err := n.ms.Append(rd.Entries); err != nil {
		return err
	}
	n.locate(rd.Entries)

	n.send(rd.Messages)

	if snap != nil {
		if err := n.restore(snap); err != nil {
			return err
		}
	}
	for _, e := range rd.CommittedEntries {
		if err := n.apply(e); err != nil {
			return err
		}
	}
	n.applied.Store(l.applied)
	for _, rs := range rd.ReadStates {
		if len(rs.RequestCtx) == 8 {
			if r := l.reads[binary.BigEndian.Uint64(rs.RequestCtx)]; r != nil {
				r.index, r.got = rs.Index, true
			}
		}
	}
	if err := n.maybeSnapshot(); err != nil {
		return err
	}
	n.rn.Advance(rd)
	return nil
}

func (n *Node) onSoftState(ss raft.SoftState) {
	l := &n.loop
	if ss.Lead != l.lead {
		n.log.Info("raft: leader changed", "leader", ss.Lead, "previous", l.lead, "term", n.rn.BasicStatus().GetTerm())
		l.lead = ss.Lead
		n.leader.Store(ss.Lead)
	}
	l.state = ss.RaftState
}

func (n *Node) send(msgs []*pb.Message) {
	out := msgs[:0:0]
	for _, m := range msgs {
		if m.GetTo() != n.id {
			out = append(out, m)
		}
	}
	if len(out) > 0 {
		n.tr.Send(out)
	}
}

// locate records where this node's proposals landed in its log, and fails
// those whose entry a new leader has overwritten.
func (n *Node) locate(ents []*pb.Entry) {
	l := &n.loop
	var overwritten []*waiter
	if len(ents) > 0 && ents[0].GetIndex() <= l.maxLocated {
		for _, w := range l.waiters {
			if w.located && w.index >= ents[0].GetIndex() {
				w.located = false
				overwritten = append(overwritten, w)
			}
		}
	}
	for _, e := range ents {
		var id proposalID
		switch e.GetType() {
		case pb.EntryNormal:
			h, _, err := decodeEntry(e.GetData())
			if err != nil {
				continue
			}
			id = h.id
		case pb.EntryConfChangeV2:
			var cc pb.ConfChangeV2
			if proto.Unmarshal(e.GetData(), &cc) != nil {
				continue
			}
			c, err := decodeConfContext(cc.GetContext())
			if err != nil {
				continue
			}
			id = c.id
		default:
			continue
		}
		if id.node != n.id {
			continue
		}
		if w := l.waiters[id]; w != nil {
			w.located, w.index = true, e.GetIndex()
			l.maxLocated = max(l.maxLocated, w.index)
		}
	}
	for _, w := range overwritten {
		if !w.located {
			n.finish(w, 0, fmt.Errorf("%w: overwritten by a new leader", ErrProposalDropped))
		}
	}
	// A leader appends its own proposals at once: one missing from the
	// Ready that follows was refused.
	for _, w := range l.mustLocate {
		if !w.located {
			n.finish(w, 0, ErrProposalDropped)
		}
	}
	l.mustLocate = l.mustLocate[:0]
}

func (n *Node) apply(e *pb.Entry) error {
	l := &n.loop
	added := false
	switch e.GetType() {
	case pb.EntryNormal:
		n.applyNormal(e)
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		added = n.applyConf(e)
	}
	l.applied = e.GetIndex()
	n.advanceTerm(e.GetTerm())
	if first, _ := n.ms.FirstIndex(); added && first > 1 {
		// The log is compacted, so a new member will be sent a snapshot,
		// and raft refuses one whose configuration does not include it:
		// take one that does.
		return n.snapshot()
	}
	return nil
}

// advanceTerm notes that an entry of term t was applied: every proposal
// tagged with an earlier term that has not been applied by now never will
// be.
func (n *Node) advanceTerm(t uint64) {
	l := &n.loop
	if t <= l.appliedTerm {
		return
	}
	l.appliedTerm = t
	for _, w := range l.waiters {
		if w.tagTerm < t {
			n.finish(w, 0, fmt.Errorf("%w: not committed before leadership changed", ErrProposalDropped))
		}
	}
}

func (n *Node) applyNormal(e *pb.Entry) {
	if len(e.GetData()) == 0 {
		return // a new leader's empty entry
	}
	h, payload, err := decodeEntry(e.GetData())
	if err != nil {
		n.log.Error("raft: skipping an entry without a valid envelope", "index", e.GetIndex())
		return
	}
	var w *waiter
	if h.id.node == n.id {
		w = n.loop.waiters[h.id]
	}
	if h.term != e.GetTerm() {
		// Appended by a leader of another term than the proposer saw: the
		// proposer may already have been told it failed. Skipped on every
		// node.
		if w != nil {
			n.finish(w, 0, ErrProposalDropped)
		}
		return
	}
	aerr := n.sm.Apply(Entry{Index: e.GetIndex(), Term: e.GetTerm(), Data: payload})
	if w != nil {
		n.finish(w, e.GetIndex(), aerr)
	}
}

// applyConf applies a membership change; added reports that it added a
// member.
func (n *Node) applyConf(e *pb.Entry) (added bool) {
	l := &n.loop
	var cc pb.ConfChangeI
	if e.GetType() == pb.EntryConfChange {
		c := &pb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			n.log.Error("raft: skipping an undecodable membership change", "index", e.GetIndex(), "err", err)
			return false
		}
		cc = c
	} else {
		c := &pb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			n.log.Error("raft: skipping an undecodable membership change", "index", e.GetIndex(), "err", err)
			return false
		}
		cc = c
	}
	v2 := cc.AsV2()
	cctx, _ := decodeConfContext(v2.GetContext())
	var w *waiter
	if cctx.id.node == n.id {
		w = l.waiters[cctx.id]
	}
	// A follower removed by this change learns of it only if it learns that
	// the change is committed: tell it, as far as its log matches ours.
	match := map[uint64]uint64{}
	if l.state == raft.StateLeader {
		st := n.rn.Status()
		for _, ch := range v2.GetChanges() {
			if ch.GetType() == pb.ConfChangeRemoveNode && ch.GetNodeId() != n.id {
				match[ch.GetNodeId()] = st.Progress[ch.GetNodeId()].Match
			}
		}
	}
	cs, err := n.applyConfChange(cc)
	if err != nil {
		n.log.Warn("raft: membership change refused", "index", e.GetIndex(), "err", err)
		if w != nil {
			n.finish(w, 0, err)
		}
		return false
	}
	l.confState = cs
	for _, ch := range v2.GetChanges() {
		id := ch.GetNodeId()
		switch ch.GetType() {
		case pb.ConfChangeAddNode, pb.ConfChangeAddLearnerNode:
			added = true
			if cctx.addr != "" {
				l.addrs[id] = cctx.addr
			}
			if id != n.id && l.addrs[id] != "" {
				n.tr.SetPeer(id, l.addrs[id])
			}
		case pb.ConfChangeRemoveNode:
			delete(l.addrs, id)
			if id == n.id {
				l.removed = true
				continue
			}
			if m := match[id]; m > 0 {
				term := n.rn.BasicStatus().GetTerm()
				n.tr.Send([]*pb.Message{{
					Type: pb.MsgHeartbeat.Enum(), From: new(n.id), To: new(id),
					Term: new(term), Commit: new(min(m, e.GetIndex())),
				}})
			}
			n.tr.RemovePeer(id)
		}
	}
	n.log.Info("raft: membership changed", "index", e.GetIndex(), "change", describeChange(v2, cctx.addr),
		"voters", cs.GetVoters(), "learners", cs.GetLearners())
	n.publishMembers()
	if w != nil {
		n.finish(w, e.GetIndex(), nil)
	}
	return added
}

// applyConfChange applies a committed membership change to raft. A change
// raft cannot apply (its checks panic before changing anything) is refused
// identically on every node.
func (n *Node) applyConfChange(cc pb.ConfChangeI) (cs *pb.ConfState, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("raft: membership change refused: %v", r)
		}
	}()
	return n.rn.ApplyConfChange(cc), nil
}

// restore installs a snapshot received from the leader.
func (n *Node) restore(snap *pb.Snapshot) error {
	l := &n.loop
	md := snap.GetMetadata()
	env, err := decodeSnapshot(snap.GetData())
	if err != nil {
		return err
	}
	if err := n.sm.Restore(env.data); err != nil {
		return fmt.Errorf("raft: restore snapshot %d: %w", md.GetIndex(), err)
	}
	l.addrs = env.addrs
	l.confState = proto.Clone(pb.EnsureConfState(md.GetConfState())).(*pb.ConfState)
	for id, addr := range l.addrs {
		if id != n.id {
			n.tr.SetPeer(id, addr)
		}
	}
	l.applied, l.snapIndex = md.GetIndex(), md.GetIndex()
	for _, w := range l.waiters {
		if (w.located && w.index <= md.GetIndex()) || (!w.located && w.tagTerm < md.GetTerm()) {
			n.finish(w, 0, ErrUnknownOutcome)
		}
	}
	l.appliedTerm = max(l.appliedTerm, md.GetTerm())
	n.publishMembers()
	n.log.Info("raft: restored snapshot", "index", md.GetIndex(), "term", md.GetTerm(), "bytes", len(snap.GetData()))
	return nil
}

// maybeSnapshot snapshots the state machine and compacts the log every
// SnapshotEntries applied entries.
func (n *Node) maybeSnapshot() error {
	l := &n.loop
	if l.applied < l.snapIndex+n.cfg.SnapshotEntries || l.applied < l.snapRetryAt {
		return nil
	}
	return n.snapshot()
}

// snapshot snapshots the state machine at the applied index, stores it and
// compacts the log up to SnapshotCatchUpEntries before it.
func (n *Node) snapshot() error {
	l := &n.loop
	if l.applied <= l.snapIndex {
		return nil
	}
	data, err := n.sm.Snapshot()
	if err != nil {
		n.log.Warn("raft: state machine snapshot failed; will retry", "applied", l.applied, "err", err)
		l.snapRetryAt = l.applied + max(n.cfg.SnapshotEntries/10, 1)
		return nil
	}
	env := encodeSnapshot(snapshotEnvelope{addrs: l.addrs, data: data})
	snap, err := n.ms.CreateSnapshot(l.applied, l.confState, env)
	if errors.Is(err, raft.ErrSnapOutOfDate) {
		return nil
	}
	if err != nil {
		return err
	}
	compact := uint64(0)
	if l.applied > n.cfg.SnapshotCatchUpEntries {
		compact = l.applied - n.cfg.SnapshotCatchUpEntries
	}
	if err := n.st.saveSnapshot(snap, compact); err != nil {
		return fmt.Errorf("raft: persist snapshot: %w", err)
	}
	if first, _ := n.ms.FirstIndex(); compact > first {
		if err := n.ms.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return err
		}
	}
	l.snapIndex = l.applied
	n.log.Debug("raft: snapshot taken", "index", l.applied, "bytes", len(env), "compacted_to", compact)
	return nil
}

// afterReady finishes what depends on the applied index and on
// leadership: reads, transfers, queued membership changes, start-up.
func (n *Node) afterReady() {
	l := &n.loop
	for key, r := range l.reads {
		if r.got && l.applied >= r.index {
			r.done <- result{index: r.index}
			delete(l.reads, key)
		}
	}
	n.checkTransfers()
	n.processConfs()
	if !l.started && l.applied >= l.startCommit {
		l.started = true
		close(n.readyc)
	}
	if l.started && l.state == raft.StateFollower && !l.removed {
		// The only voter does not wait for an election timeout.
		if v := l.confState.GetVoters(); len(v) == 1 && v[0] == n.id && len(l.confState.GetVotersOutgoing()) == 0 {
			_ = n.rn.Campaign()
		}
	}
}

func (n *Node) startRead(r *readReq) {
	l := &n.loop
	if l.lead == raft.None {
		r.done <- result{err: ErrNoLeader}
		return
	}
	l.readSeq++
	r.key, r.sentTick = l.readSeq, l.ticks
	l.reads[r.key] = r
	n.rn.ReadIndex(readCtx(r.key))
}

func (n *Node) notLeader() error {
	l := &n.loop
	return &NotLeaderError{Leader: l.lead, LeaderAddr: l.addrs[l.lead]}
}

func (n *Node) isVoter(id uint64) bool { return slices.Contains(n.loop.confState.GetVoters(), id) }

func (n *Node) startTransfer(t *transferReq) {
	l := &n.loop
	switch {
	case l.state != raft.StateLeader:
		t.done <- result{err: n.notLeader()}
		return
	case t.to == n.id:
		t.done <- result{}
		return
	case !n.isVoter(t.to):
		t.done <- result{err: fmt.Errorf("%w: %d is not a voter", ErrTransferFailed, t.to)}
		return
	}
	t.startTick = l.ticks
	n.rn.TransferLeader(t.to)
	l.transfers = append(l.transfers, t)
	n.checkTransfers()
}

func (n *Node) checkTransfers() {
	l := &n.loop
	if len(l.transfers) == 0 {
		return
	}
	st := n.rn.BasicStatus()
	keep := l.transfers[:0]
	for _, t := range l.transfers {
		switch {
		case st.Lead == t.to:
			t.done <- result{}
		case t.ctx.Err() != nil:
			t.done <- result{err: t.ctx.Err()}
		case st.RaftState == raft.StateLeader && st.LeadTransferee == raft.None,
			st.Lead != raft.None && st.RaftState != raft.StateLeader,
			l.ticks-t.startTick > 2*uint64(n.cfg.ElectionTicks):
			t.done <- result{err: ErrTransferFailed}
		default:
			keep = append(keep, t)
		}
	}
	l.transfers = keep
}

// processConfs proposes the queued membership changes, one at a time, once
// this leader has applied everything from earlier terms.
func (n *Node) processConfs() {
	l := &n.loop
	for len(l.confQueue) > 0 {
		r := l.confQueue[0]
		fail := func(err error) {
			r.done <- result{err: err}
			l.confQueue = l.confQueue[1:]
		}
		if err := r.ctx.Err(); err != nil {
			fail(err)
			continue
		}
		st := n.rn.BasicStatus()
		if st.RaftState != raft.StateLeader {
			fail(n.notLeader())
			continue
		}
		if l.confFlight != nil || l.appliedTerm < st.GetTerm() {
			return
		}
		noop, err := n.checkConf(r)
		if err != nil || noop {
			fail(err)
			continue
		}
		addr := r.addr
		if r.promote {
			addr = l.addrs[r.id]
		}
		w := &waiter{ctx: r.ctx, done: r.done, id: proposalID{node: n.id, seq: n.seq.Add(1)}, tagTerm: st.GetTerm()}
		cc := &pb.ConfChangeV2{
			Changes: []*pb.ConfChangeSingle{{Type: r.typ.Enum(), NodeId: new(r.id)}},
			Context: encodeConfContext(confContext{id: w.id, addr: addr}),
		}
		l.confQueue = l.confQueue[1:]
		if err := n.rn.ProposeConfChange(cc); err != nil {
			r.done <- result{err: fmt.Errorf("%w: %v", ErrProposalDropped, err)}
			continue
		}
		l.waiters[w.id] = w
		l.mustLocate = append(l.mustLocate, w)
		l.confFlight = w
		return
	}
}

// checkConf validates a membership change against the current
// configuration; noop is true when it is already in effect.
func (n *Node) checkConf(r *confReq) (noop bool, err error) {
	l := &n.loop
	voter := n.isVoter(r.id)
	learner := slices.Contains(l.confState.GetLearners(), r.id)
	switch {
	case r.promote:
		if voter {
			return true, nil
		}
		if !learner {
			return false, fmt.Errorf("raft: %d is not a learner", r.id)
		}
	case r.typ == pb.ConfChangeAddNode:
		if learner {
			return false, fmt.Errorf("raft: %d is a learner: promote it", r.id)
		}
		if voter {
			if l.addrs[r.id] == r.addr {
				return true, nil
			}
			return false, fmt.Errorf("raft: %d is already a voter at %s", r.id, l.addrs[r.id])
		}
	case r.typ == pb.ConfChangeAddLearnerNode:
		if voter {
			return false, fmt.Errorf("raft: %d is a voter", r.id)
		}
		if learner {
			if l.addrs[r.id] == r.addr {
				return true, nil
			}
			return false, fmt.Errorf("raft: %d is already a learner at %s", r.id, l.addrs[r.id])
		}
	case r.typ == pb.ConfChangeRemoveNode:
		if !voter && !learner {
			return false, fmt.Errorf("raft: %d is not a member", r.id)
		}
		if voter && len(l.confState.GetVoters()) == 1 {
			return false, errors.New("raft: cannot remove the last voter")
		}
	}
	return false, nil
}

func (n *Node) status() Status {
	l := &n.loop
	rs := n.rn.Status()
	s := Status{
		ID:             n.id,
		Leader:         rs.Lead,
		Term:           rs.HardState.GetTerm(),
		Commit:         rs.HardState.GetCommit(),
		Applied:        l.applied,
		State:          stateName(rs.RaftState),
		Voters:         slices.Sorted(maps.Keys(rs.Config.Voters.IDs())),
		Learners:       slices.Sorted(maps.Keys(rs.Config.Learners)),
		LeadTransferee: rs.LeadTransferee,
		Heard:          maps.Clone(l.heard),
	}
	if len(rs.Progress) > 0 {
		s.Progress = make(map[uint64]Progress, len(rs.Progress))
		for id, pr := range rs.Progress {
			s.Progress[id] = Progress{Match: pr.Match, Next: pr.Next, State: pr.State.String(),
				RecentActive: pr.RecentActive, Learner: pr.IsLearner}
		}
	}
	return s
}

func stateName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return "follower"
	}
}

func describeChange(cc *pb.ConfChangeV2, addr string) string {
	var parts []string
	for _, ch := range cc.GetChanges() {
		var what string
		switch ch.GetType() {
		case pb.ConfChangeAddNode:
			what = "add voter"
		case pb.ConfChangeAddLearnerNode:
			what = "add learner"
		case pb.ConfChangeRemoveNode:
			what = "remove"
		default:
			what = ch.GetType().String()
		}
		s := fmt.Sprintf("%s %d", what, ch.GetNodeId())
		if addr != "" && ch.GetType() != pb.ConfChangeRemoveNode {
			s += " at " + addr
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "leave joint configuration"
	}
	return strings.Join(parts, ", ")
}
