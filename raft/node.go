// Package raft is the consensus layer of Skein's metadata quorum: a
// replicated log built on go.etcd.io/raft/v3, persisted in pebble, with a
// TCP transport between nodes.
//
// A Node drives one raft.RawNode from a single goroutine. Every Ready is
// written to pebble (hard state, entries and snapshot in one batch, fsynced
// when raft requires it) before its messages are handed to the transport,
// then committed entries are applied to the StateMachine in log order.
// Propose returns once the entry is committed and applied on the proposing
// node; Barrier makes the next local read linearizable (ReadIndex).
// Membership changes carry each member's address in the log, and snapshots
// carry the addresses of all members, so a node that restarts or catches up
// from a snapshot knows every peer.
//
// A single-voter cluster needs no network: it elects itself at start and
// commits with one fsync per batch of proposals.
package raft

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Entry is a committed log entry handed to the StateMachine.
type Entry struct {
	Index uint64
	Term  uint64
	// Data is what was proposed. It belongs to the log: the state machine
	// must not modify it.
	Data []byte
}

// StateMachine is the replicated state. Its methods are called from the
// node's single loop goroutine, never concurrently.
type StateMachine interface {
	// Apply applies a committed entry. Entries arrive in log order, each
	// exactly once per Start (a restart replays those after the latest
	// snapshot). Apply must be deterministic: every node applies the same
	// entries and must reach the same state. An error is returned to the
	// Propose call of the entry (when it was proposed on this node) and
	// does not stop the node, so a state machine that rejects an entry must
	// leave its state as it was.
	Apply(e Entry) error
	// Snapshot returns the state as of the last applied entry.
	Snapshot() ([]byte, error)
	// Restore replaces the state with a snapshot's. An error stops the
	// node.
	Restore(data []byte) error
}

// Peer is a member of the cluster and its raft address.
type Peer struct {
	ID   uint64
	Addr string
}

// Member is a member of the cluster as recorded in the log.
type Member struct {
	ID      uint64
	Addr    string
	Learner bool
}

// Config configures a Node.
type Config struct {
	// ID is this node's id, non-zero and unique in the cluster.
	ID uint64
	// Dir is the pebble directory holding the log, hard state and latest
	// snapshot.
	Dir string
	// Addr is this node's raft listen address, used when Transport is nil.
	// Empty with a nil Transport means no network (a single-voter cluster).
	Addr string
	// Peers are the initial voters, this node included, when Dir holds no
	// state and a new cluster is being created. Every initial voter must
	// start with the same list. When joining, Peers may name existing
	// members so this node can reach them before it learns the membership
	// from the log. Ignored on restart.
	Peers []Peer
	// Join starts a node with an empty Dir that an existing cluster has
	// added (AddVoter or AddLearner); it waits for the leader to contact it.
	Join bool
	// TickInterval is the length of a raft tick (default 100ms).
	TickInterval time.Duration
	// ManualTick disables the ticker: time advances only through Tick.
	// Meant for deterministic tests.
	ManualTick bool
	// ElectionTicks is the election timeout in ticks (default 10);
	// HeartbeatTicks the heartbeat interval (default 1).
	ElectionTicks  int
	HeartbeatTicks int
	// SnapshotEntries is the number of applied entries after which the
	// state machine is snapshotted and the log compacted (default 10000).
	SnapshotEntries uint64
	// SnapshotCatchUpEntries is how many entries before a snapshot are kept
	// for followers that lag a little (default 1000).
	SnapshotCatchUpEntries uint64
	// MaxSizePerMsg bounds the entries in one append message
	// (default 1 MiB).
	MaxSizePerMsg uint64
	// MaxInflightMsgs bounds the append messages in flight to one follower
	// (default 256).
	MaxInflightMsgs int
	// MaxUncommittedEntriesSize bounds the leader's uncommitted entries;
	// proposals past it fail with ErrProposalDropped (default 64 MiB).
	MaxUncommittedEntriesSize uint64
	// MaxProposalSize bounds the data of one proposal (default 8 MiB).
	MaxProposalSize int
	// Logger receives the node's and raft's messages (default: discard).
	Logger *slog.Logger
	// Transport carries messages to peers. Nil means a TCPTransport
	// listening on Addr (with TLS when set). The node owns it after Start.
	Transport Transport
	// TLS secures the default TCP transport.
	TLS *tls.Config
	// StateMachine receives the committed entries. It must be empty: Start
	// restores the latest snapshot into it and replays the log after it.
	StateMachine StateMachine

	// fs replaces the filesystem under pebble (tests simulate crashes).
	fs vfs.FS
}

var (
	// ErrStopped is returned by calls on a node that is closed or failed.
	ErrStopped = errors.New("raft: node stopped")
	// ErrRemoved is returned once this node has been removed from the
	// cluster.
	ErrRemoved = errors.New("raft: node removed from the cluster")
	// ErrNoLeader is returned when the cluster has no known leader.
	ErrNoLeader = errors.New("raft: no leader")
	// ErrNotLeader is matched (errors.Is) by *NotLeaderError.
	ErrNotLeader = errors.New("raft: not the leader")
	// ErrProposalDropped means the proposal was not committed and never
	// will be: it was refused, lost, or overwritten by a new leader.
	ErrProposalDropped = errors.New("raft: proposal dropped")
	// ErrUnknownOutcome means this node caught up from a snapshot that
	// covers the proposal's index: it may or may not have been applied.
	ErrUnknownOutcome = errors.New("raft: proposal outcome unknown (caught up from a snapshot)")
	// ErrProposalTooLarge is returned for data over MaxProposalSize.
	ErrProposalTooLarge = errors.New("raft: proposal too large")
	// ErrTransferFailed means the leadership transfer did not happen in
	// time or the target is not a voter.
	ErrTransferFailed = errors.New("raft: leadership transfer failed")
)

// NotLeaderError is returned by calls that only the leader serves.
type NotLeaderError struct {
	// Leader is the current leader's id and address, zero and empty when
	// unknown.
	Leader     uint64
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return "raft: not the leader (no leader known)"
	}
	return fmt.Sprintf("raft: not the leader (leader is %d at %s)", e.Leader, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Status is a node's view of the cluster.
type Status struct {
	ID      uint64
	Leader  uint64
	Term    uint64
	Commit  uint64
	Applied uint64
	// State is "leader", "follower", "candidate", "pre-candidate", or
	// "stopped".
	State    string
	Voters   []uint64
	Learners []uint64
	// LeadTransferee is the target of a leadership transfer in progress.
	LeadTransferee uint64
	// Progress is the replication state of every member, on the leader.
	Progress map[uint64]Progress
	// Heard is when a message from each member last arrived at this
	// node (members it never heard from are absent). Raft's own
	// RecentActive is only reset once per election timeout; this is
	// exact.
	Heard map[uint64]time.Time
}

// Progress is the leader's view of one member's replication.
type Progress struct {
	Match, Next uint64
	// State is "probe", "replicate" or "snapshot".
	State        string
	RecentActive bool
	Learner      bool
}

func (c *Config) setDefaults() error {
	if c.ID == 0 {
		return errors.New("raft: Config.ID must be non-zero")
	}
	if c.Dir == "" {
		return errors.New("raft: Config.Dir is required")
	}
	if c.StateMachine == nil {
		return errors.New("raft: Config.StateMachine is required")
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = 1
	}
	if c.HeartbeatTicks >= c.ElectionTicks {
		return errors.New("raft: HeartbeatTicks must be less than ElectionTicks")
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = 1000
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs <= 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxUncommittedEntriesSize == 0 {
		c.MaxUncommittedEntriesSize = 64 << 20
	}
	if c.MaxProposalSize <= 0 {
		c.MaxProposalSize = 8 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.fs == nil {
		c.fs = vfs.Default
	}
	if c.Transport == nil && c.Addr == "" && (c.Join || len(c.Peers) > 1) {
		return errors.New("raft: Config.Addr or Config.Transport is required for a cluster of more than one node")
	}
	seen := map[uint64]bool{}
	for _, p := range c.Peers {
		if p.ID == 0 || seen[p.ID] {
			return fmt.Errorf("raft: Config.Peers: bad or repeated id %d", p.ID)
		}
		seen[p.ID] = true
	}
	return nil
}

// Node is one member of a raft cluster. Its methods are safe for concurrent
// use.
type Node struct {
	cfg Config
	id  uint64
	log *slog.Logger
	sm  StateMachine
	tr  Transport
	st  *store
	ms  *raft.MemoryStorage
	rn  *raft.RawNode

	propc   chan *waiter
	confc   chan *confReq
	recvc   chan *pb.Message
	callc   chan func()
	reportc chan struct{} // signals that reports holds something
	stopc   chan struct{}
	donec   chan struct{}
	readyc  chan struct{} // closed once Start's replay is done
	removed chan struct{}

	stopOnce sync.Once
	closeErr error
	closeMu  sync.Mutex
	closed   bool

	seq atomic.Uint64

	// Published by the loop for lock-free reads.
	leader  atomic.Uint64
	term    atomic.Uint64
	commit  atomic.Uint64
	applied atomic.Uint64
	// processed counts steps of received messages (tests use it to tell
	// when a cluster is quiet).
	processed atomic.Uint64

	mu struct {
		sync.Mutex
		members []Member
		err     error // why the loop stopped
	}

	reports struct {
		sync.Mutex
		unreachable map[uint64]bool
		snapshots   map[uint64]bool // peer -> ok
		dropped     []proposalID
	}

	loop loopState
}

// Start opens (or creates) the node's store, restores the latest snapshot
// into the state machine, replays the committed entries after it, and
// starts the node. It returns once the replay is done.
func Start(cfg Config) (*Node, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "raft", "node", cfg.ID)
	st, err := openStore(cfg.Dir, cfg.fs, cfg.ID, cfg.Logger)
	if err != nil {
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		id:      cfg.ID,
		log:     log,
		sm:      cfg.StateMachine,
		st:      st,
		ms:      raft.NewMemoryStorage(),
		propc:   make(chan *waiter, 1024),
		confc:   make(chan *confReq, 16),
		recvc:   make(chan *pb.Message, 4096),
		callc:   make(chan func()),
		reportc: make(chan struct{}, 1),
		stopc:   make(chan struct{}),
		donec:   make(chan struct{}),
		readyc:  make(chan struct{}),
		removed: make(chan struct{}),
	}
	n.reports.unreachable = map[uint64]bool{}
	n.reports.snapshots = map[uint64]bool{}
	var seed [8]byte
	rand.Read(seed[:])
	n.seq.Store(binary.BigEndian.Uint64(seed[:]) >> 1)
	if err := n.init(); err != nil {
		st.close()
		if n.tr != nil {
			n.tr.Close()
		}
		return nil, err
	}
	go n.run()
	select {
	case <-n.readyc:
		return n, nil
	case <-n.donec:
		err := n.stopErr()
		n.Close()
		return nil, err
	}
}

// init loads the store, builds the RawNode and starts the transport.
func (n *Node) init() error {
	hs, snap, ents, err := n.st.load()
	if err != nil {
		return err
	}
	l := &n.loop
	l.init()
	if snap != nil {
		env, err := decodeSnapshot(snap.GetData())
		if err != nil {
			return err
		}
		if err := n.ms.ApplySnapshot(snap); err != nil {
			return err
		}
		if err := n.sm.Restore(env.data); err != nil {
			return fmt.Errorf("raft: restore snapshot %d: %w", snap.GetMetadata().GetIndex(), err)
		}
		l.addrs = env.addrs
		l.confState = pb.EnsureConfState(snap.GetMetadata().GetConfState())
		l.applied = snap.GetMetadata().GetIndex()
		l.appliedTerm = snap.GetMetadata().GetTerm()
		l.snapIndex = l.applied
		if hs.GetCommit() < l.applied {
			hs.Commit = new(l.applied)
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := n.ms.SetHardState(hs); err != nil {
			return err
		}
	}
	if err := n.ms.Append(ents); err != nil {
		return err
	}
	fresh := snap == nil && len(ents) == 0 && raft.IsEmptyHardState(hs)
	rc := &raft.Config{
		ID:                        n.id,
		ElectionTick:              n.cfg.ElectionTicks,
		HeartbeatTick:             n.cfg.HeartbeatTicks,
		Storage:                   n.ms,
		Applied:                   l.applied,
		MaxSizePerMsg:             n.cfg.MaxSizePerMsg,
		MaxCommittedSizePerReady:  max(n.cfg.MaxSizePerMsg, 4<<20),
		MaxUncommittedEntriesSize: n.cfg.MaxUncommittedEntriesSize,
		MaxInflightMsgs:           n.cfg.MaxInflightMsgs,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{n.log},
	}
	n.rn, err = raft.NewRawNode(rc)
	if err != nil {
		return err
	}
	l.startCommit = hs.GetCommit()
	if fresh {
		switch {
		case n.cfg.Join:
		case len(n.cfg.Peers) == 0:
			return errors.New("raft: empty store: set Config.Peers to create a cluster or Config.Join to join one")
		default:
			if !slices.ContainsFunc(n.cfg.Peers, func(p Peer) bool { return p.ID == n.id }) {
				return fmt.Errorf("raft: Config.Peers must include this node (%d)", n.id)
			}
			peers := make([]raft.Peer, len(n.cfg.Peers))
			for i, p := range n.cfg.Peers {
				peers[i] = raft.Peer{ID: p.ID, Context: encodeConfContext(confContext{addr: p.Addr})}
			}
			if err := n.rn.Bootstrap(peers); err != nil {
				return err
			}
			l.startCommit = uint64(len(peers))
		}
	}
	n.tr = n.cfg.Transport
	if n.tr == nil {
		if n.cfg.Addr == "" {
			n.tr = noTransport{n}
		} else {
			t, err := NewTCPTransport(TCPConfig{ID: n.id, Addr: n.cfg.Addr, TLS: n.cfg.TLS, Logger: n.cfg.Logger})
			if err != nil {
				return err
			}
			n.tr = t
		}
	}
	for id, addr := range l.addrs {
		n.tr.SetPeer(id, addr)
	}
	if fresh && n.cfg.Join {
		for _, p := range n.cfg.Peers {
			n.tr.SetPeer(p.ID, p.Addr)
		}
	}
	n.publishMembers()
	return n.tr.Start(n)
}

// noTransport is the transport of a node without network.
type noTransport struct{ n *Node }

func (t noTransport) Start(Handler) error { return nil }
func (t noTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		t.n.Unreachable(m)
	}
}
func (noTransport) SetPeer(uint64, string) {}
func (noTransport) RemovePeer(uint64)      {}
func (noTransport) Close() error           { return nil }

// ID is this node's id.
func (n *Node) ID() uint64 { return n.id }

// LeaderID is the current leader as this node knows it (0: none).
func (n *Node) LeaderID() uint64 { return n.leader.Load() }

// Applied is the index of the last entry applied to the state machine.
func (n *Node) Applied() uint64 { return n.applied.Load() }

// Members returns the members with their addresses, by id.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.mu.members)
}

// Done is closed when the node stops: Close, removal, or a fatal error
// (see Err).
func (n *Node) Done() <-chan struct{} { return n.donec }

// Removed is closed when this node has applied its own removal from the
// cluster; the node then stops.
func (n *Node) Removed() <-chan struct{} { return n.removed }

// Err is why the node stopped: nil while running, ErrStopped after Close,
// ErrRemoved after removal, or the fatal error.
func (n *Node) Err() error {
	select {
	case <-n.donec:
		return n.stopErr()
	default:
		return nil
	}
}

func (n *Node) stopErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.err == nil {
		return ErrStopped
	}
	return n.mu.err
}

// Close stops the node, then its transport (after a bounded attempt to
// send what is queued) and its store. Pending calls fail with ErrStopped.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return n.closeErr
	}
	n.closed = true
	n.stopOnce.Do(func() { close(n.stopc) })
	<-n.donec
	err := n.tr.Close()
	if e := n.st.close(); err == nil {
		err = e
	}
	n.closeErr = err
	return err
}

// Propose replicates data and returns its log index once it is committed
// and applied on this node, so that a read of the state machine after it
// sees it. On a follower the proposal is forwarded to the leader. It fails
// with ErrNoLeader or ErrProposalDropped when the entry was not (and will
// not be) committed, with the state machine's error when Apply refused it,
// or with ctx's error (the entry may then still commit).
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	if len(data) > n.cfg.MaxProposalSize {
		return 0, fmt.Errorf("%w: %d > %d bytes", ErrProposalTooLarge, len(data), n.cfg.MaxProposalSize)
	}
	buf := make([]byte, entryHeaderLen+len(data))
	copy(buf[entryHeaderLen:], data)
	w := &waiter{ctx: ctx, data: buf, done: make(chan result, 1)}
	select {
	case n.propc <- w:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		return 0, n.stopErr()
	}
	return n.wait(ctx, w.done)
}

func (n *Node) wait(ctx context.Context, done chan result) (uint64, error) {
	select {
	case r := <-done:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.donec:
		select {
		case r := <-done:
			return r.index, r.err
		default:
			return 0, n.stopErr()
		}
	}
}

// Barrier returns once this node has applied every entry committed before
// the call, as confirmed by the leader (raft ReadIndex): a read of the
// state machine after it is linearizable.
func (n *Node) Barrier(ctx context.Context) error {
	r := &readReq{ctx: ctx, done: make(chan result, 1)}
	if err := n.call(ctx, func() { n.startRead(r) }); err != nil {
		return err
	}
	_, err := n.wait(ctx, r.done)
	return err
}

// AddVoter adds a voting member. Adding it as a learner first and
// promoting it once it has caught up keeps the quorum available meanwhile.
// Only the leader serves membership changes; they are applied one at a
// time and the call returns once the change is applied on this node.
func (n *Node) AddVoter(ctx context.Context, id uint64, addr string) error {
	return n.changeMembership(ctx, &confReq{typ: pb.ConfChangeAddNode, id: id, addr: addr})
}

// AddLearner adds a non-voting member that receives the log.
func (n *Node) AddLearner(ctx context.Context, id uint64, addr string) error {
	return n.changeMembership(ctx, &confReq{typ: pb.ConfChangeAddLearnerNode, id: id, addr: addr})
}

// PromoteLearner makes a learner a voter.
func (n *Node) PromoteLearner(ctx context.Context, id uint64) error {
	return n.changeMembership(ctx, &confReq{typ: pb.ConfChangeAddNode, id: id, promote: true})
}

// RemoveMember removes a member. Removing the leader itself works: it
// steps down once the change is applied and the others elect a new leader.
func (n *Node) RemoveMember(ctx context.Context, id uint64) error {
	return n.changeMembership(ctx, &confReq{typ: pb.ConfChangeRemoveNode, id: id})
}

func (n *Node) changeMembership(ctx context.Context, req *confReq) error {
	if req.id == 0 {
		return errors.New("raft: member id must be non-zero")
	}
	if req.typ != pb.ConfChangeRemoveNode && !req.promote && req.addr == "" {
		return errors.New("raft: member address required")
	}
	req.ctx = ctx
	req.done = make(chan result, 1)
	select {
	case n.confc <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return n.stopErr()
	}
	_, err := n.wait(ctx, req.done)
	return err
}

// TransferLeadership hands leadership to another voter and returns once it
// is the leader. Only the leader serves it.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	t := &transferReq{ctx: ctx, to: to, done: make(chan result, 1)}
	if err := n.call(ctx, func() { n.startTransfer(t) }); err != nil {
		return err
	}
	_, err := n.wait(ctx, t.done)
	return err
}

// Status returns this node's view of the cluster.
func (n *Node) Status() Status {
	var s Status
	if err := n.call(context.Background(), func() { s = n.status() }); err != nil {
		return Status{ID: n.id, State: "stopped", Term: n.term.Load(), Commit: n.commit.Load(), Applied: n.applied.Load()}
	}
	return s
}

// Tick advances raft's clock by one tick and returns once the node has
// processed it. With Config.ManualTick it is the only clock.
func (n *Node) Tick() {
	n.call(context.Background(), func() { n.tick() })
}

// Campaign makes this node start an election now instead of waiting for its
// election timeout.
func (n *Node) Campaign() error {
	var err error
	if e := n.call(context.Background(), func() { err = n.rn.Campaign() }); e != nil {
		return e
	}
	return err
}

// call runs f on the loop goroutine, after the messages already received
// have been processed, and waits for it.
func (n *Node) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case n.callc <- func() { f(); close(done) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.donec:
		return n.stopErr()
	}
	select {
	case <-done:
		return nil
	case <-n.donec:
		select {
		case <-done:
			return nil
		default:
			return n.stopErr()
		}
	}
}

// Receive implements Handler.
func (n *Node) Receive(m *pb.Message) {
	select {
	case n.recvc <- m:
	case <-n.donec:
	}
}

// Unreachable implements Handler.
func (n *Node) Unreachable(m *pb.Message) {
	n.reports.Lock()
	n.reports.unreachable[m.GetTo()] = true
	switch m.GetType() {
	case pb.MsgSnap:
		n.reports.snapshots[m.GetTo()] = false
	case pb.MsgProp:
		// A forwarded proposal that never left this node cannot commit.
		for _, e := range m.GetEntries() {
			if e.GetType() != pb.EntryNormal {
				continue
			}
			if h, _, err := decodeEntry(e.GetData()); err == nil && h.id.node == n.id {
				n.reports.dropped = append(n.reports.dropped, h.id)
			}
		}
	}
	n.reports.Unlock()
	n.signalReports()
}

// SnapshotStatus implements Handler.
func (n *Node) SnapshotStatus(to uint64, ok bool) {
	n.reports.Lock()
	n.reports.snapshots[to] = ok
	n.reports.Unlock()
	n.signalReports()
}

func (n *Node) signalReports() {
	select {
	case n.reportc <- struct{}{}:
	default:
	}
}

func (n *Node) publishMembers() {
	l := &n.loop
	var ms []Member
	for _, id := range l.confState.GetVoters() {
		ms = append(ms, Member{ID: id, Addr: l.addrs[id]})
	}
	for _, id := range l.confState.GetLearners() {
		ms = append(ms, Member{ID: id, Addr: l.addrs[id], Learner: true})
	}
	slices.SortFunc(ms, func(a, b Member) int { return cmpUint(a.ID, b.ID) })
	n.mu.Lock()
	n.mu.members = ms
	n.mu.Unlock()
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// raftLogger sends etcd raft's messages to slog. Raft's informational
// messages (votes, elections) go to Debug; the node logs leader changes
// itself.
type raftLogger struct{ l *slog.Logger }

func (r raftLogger) Debug(v ...any)                 { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Info(v ...any)                  { r.l.Debug(fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.l.Debug(fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.l.Warn(fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.l.Warn(fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any)                 { r.l.Error(fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                 { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any) { r.Panicf(format, v...) }
func (r raftLogger) Panic(v ...any) {
	s := fmt.Sprint(v...)
	r.l.Error(s)
	panic(s)
}
func (r raftLogger) Panicf(format string, v ...any) {
	s := fmt.Sprintf(format, v...)
	r.l.Error(s)
	panic(s)
}
