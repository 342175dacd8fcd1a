package broker

// The replicated metadata store: every batch of metadata records is one
// entry of the metadata quorum's raft log (package raft), applied in log
// order to the metadata image on every member. A single node is the
// one-voter case of the same store. docs/cluster.md describes it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skein-streaming/skein/raft"
)

// QuorumVoter is an initial voter of the metadata quorum
// (controller.quorum.voters): its node id and controller address.
type QuorumVoter struct {
	ID   int32
	Addr string
}

// RaftStoreConfig configures a node's member of the metadata quorum.
type RaftStoreConfig struct {
	// NodeID is node.id; the raft member id is NodeID+1 (raft ids are
	// non-zero, Kafka node ids may be 0).
	NodeID int32
	// Dir holds the raft log and snapshots
	// (<log.dirs>/__cluster_metadata).
	Dir string
	// Listener is the controller listener: the raft transport and the
	// controller RPC share it (see ControllerMux). Nil means no network:
	// a single voter that no other node reaches.
	Listener *ControllerMux
	// AdvertiseAddr is the address other members reach this node's
	// controller listener at (default: the listener's address).
	AdvertiseAddr string
	// TLS, when set, secures outbound connections to other members
	// (the listener side is terminated by Listener).
	TLS *tls.Config
	// Voters are the initial voters of a new quorum
	// (controller.quorum.voters). A node whose directory is empty
	// bootstraps the quorum with them when it is one of them, and joins
	// it as a learner otherwise.
	Voters []QuorumVoter
	// Bootstrap are controller addresses
	// (controller.quorum.bootstrap.servers) through which a node with
	// an empty directory joins an existing quorum as a learner. A
	// controller whose only bootstrap server is its own address
	// bootstraps a new quorum with itself as the only voter.
	Bootstrap []string
	// TickInterval and ElectionTicks set raft's clock (defaults 100ms
	// and 10 ticks).
	TickInterval  time.Duration
	ElectionTicks int
	// SnapshotEntries is the number of entries between snapshots
	// (default 10000).
	SnapshotEntries uint64
	Logger          *slog.Logger
}

// raftID is the raft member id of a node id.
func raftID(nodeID int32) uint64 { return uint64(nodeID) + 1 }

// nodeIDOf is the node id of a raft member id (-1 for none).
func nodeIDOf(id uint64) int32 {
	if id == 0 {
		return -1
	}
	return int32(id - 1)
}

// RaftStore is the MetadataStore on the metadata quorum.
type RaftStore struct {
	cfg  RaftStoreConfig
	log  *slog.Logger
	node *raft.Node
	sm   *metadataSM
	// joined is set when this node joined a quorum that existed before
	// it (its bootstrap file is then ignored).
	joined bool

	closeOnce sync.Once
	closeErr  error

	// The controller RPC server and the leader's contact tracker.
	ctrlCtx    context.Context
	ctrlCancel context.CancelFunc
	ctrlWG     sync.WaitGroup

	contact struct {
		sync.Mutex
		// term is the term the tracker last saw this member lead in;
		// a new term restarts every member's session.
		term uint64
		// last and caughtUp are the times of the last contact with
		// each member and the last time it had the commit index.
		last, caughtUp map[uint64]time.Time
		commit         uint64
		// prevLeader is the leader this member last followed.
		prevLeader uint64
	}
}

// contactSampleInterval is how often the leader samples when it heard
// from each member.
const contactSampleInterval = 100 * time.Millisecond

// legacyMetadataLog is the file of the metadata log of earlier versions,
// imported once into the quorum and kept renamed with migratedSuffix.
const (
	legacyMetadataLog = "metadata.log"
	migratedSuffix    = ".migrated"
)

// metadataProposalMax bounds one metadata batch (an import of a legacy
// log included).
const metadataProposalMax = 64 << 20

// OpenRaftStore starts this node's member of the metadata quorum and
// returns once its image holds every record committed before: the local
// log is replayed, and the leader confirms that nothing newer was
// committed (a linearizable barrier). It waits for the quorum (a leader)
// as long as ctx allows.
func OpenRaftStore(ctx context.Context, cfg RaftStoreConfig) (*RaftStore, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeID < 0 {
		return nil, fmt.Errorf("metadata quorum: invalid node id %d", cfg.NodeID)
	}
	log := cfg.Logger.With("component", "metadata-quorum", "node_id", cfg.NodeID)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	fresh, err := raftDirFresh(cfg.Dir)
	if err != nil {
		return nil, err
	}
	self := cfg.AdvertiseAddr
	if self == "" && cfg.Listener != nil {
		self = cfg.Listener.Addr().String()
	}
	rc := raft.Config{
		ID:              raftID(cfg.NodeID),
		Dir:             cfg.Dir,
		TickInterval:    cfg.TickInterval,
		ElectionTicks:   cfg.ElectionTicks,
		SnapshotEntries: cfg.SnapshotEntries,
		MaxProposalSize: metadataProposalMax,
		Logger:          slog.New(raftLogHandler{cfg.Logger.Handler()}),
	}
	if cfg.Listener != nil {
		tr, err := raft.NewTCPTransport(raft.TCPConfig{ID: rc.ID, Listener: cfg.Listener.raftListener(), AdvertiseAddr: self, TLS: cfg.TLS, Logger: rc.Logger})
		if err != nil {
			return nil, err
		}
		rc.Transport = tr
	}
	switch {
	case len(cfg.Voters) > 0:
		for _, v := range cfg.Voters {
			rc.Peers = append(rc.Peers, raft.Peer{ID: raftID(v.ID), Addr: v.Addr})
		}
		if !slices.ContainsFunc(cfg.Voters, func(v QuorumVoter) bool { return v.ID == cfg.NodeID }) {
			rc.Join = true
		}
	case len(cfg.Bootstrap) > 0:
		if len(cfg.Bootstrap) == 1 && cfg.Listener != nil && sameAddr(cfg.Bootstrap[0], self, cfg.Listener.Addr().String()) {
			rc.Peers = []raft.Peer{{ID: rc.ID, Addr: self}}
		} else {
			rc.Join = true
		}
	default:
		if cfg.Listener != nil {
			rc.Peers = []raft.Peer{{ID: rc.ID, Addr: self}}
		} else {
			rc.Peers = []raft.Peer{{ID: rc.ID}}
		}
	}
	if rc.Join && fresh {
		if cfg.Listener == nil {
			return nil, errors.New("metadata quorum: joining a quorum needs a controller listener")
		}
		seeds := cfg.Bootstrap
		if len(seeds) == 0 {
			for _, v := range cfg.Voters {
				seeds = append(seeds, v.Addr)
			}
		}
		log.Info("joining the metadata quorum as a learner", "bootstrap", strings.Join(seeds, ","))
		if err := joinQuorum(ctx, seeds, cfg.TLS, cfg.NodeID, self, log); err != nil {
			if rc.Transport != nil {
				rc.Transport.Close()
			}
			return nil, err
		}
		// The leader knows this node now; its peers are learned from the
		// log it sends.
	}
	sm := newMetadataSM()
	rc.StateMachine = sm
	start := time.Now()
	node, err := raft.Start(rc)
	if err != nil {
		return nil, fmt.Errorf("metadata quorum: %w", err)
	}
	s := &RaftStore{cfg: cfg, log: log, node: node, sm: sm, joined: rc.Join && fresh}
	s.ctrlCtx, s.ctrlCancel = context.WithCancel(context.Background())
	s.contact.last = map[uint64]time.Time{}
	s.contact.caughtUp = map[uint64]time.Time{}
	s.ctrlWG.Add(1)
	go s.trackContacts()
	if cfg.Listener != nil {
		s.ctrlWG.Add(1)
		go s.serveCtrl(cfg.Listener.ctrl)
	}
	if err := s.catchUp(ctx); err != nil {
		s.Close()
		return nil, err
	}
	log.Info("metadata quorum member started", "leader", nodeIDOf(node.LeaderID()), "applied", node.Applied(), "took", time.Since(start).Round(time.Millisecond))
	return s, nil
}

// sameAddr reports whether the bootstrap server addr names this node:
// its advertised address, or its bound port on a loopback, unspecified or
// equal host.
func sameAddr(addr, self, bound string) bool {
	if addr == self || addr == bound {
		return true
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	bh, bp, err := net.SplitHostPort(bound)
	if err != nil || p != bp {
		return false
	}
	if h == bh || h == "localhost" || h == "" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// raftDirFresh reports whether dir holds no raft store yet.
func raftDirFresh(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "MANIFEST-") {
			return false, nil
		}
	}
	return true, nil
}

// catchUp waits until this member has applied everything committed
// (Barrier), imports a legacy metadata log, gives a new quorum its
// cluster id, and proposes the SCRAM credentials of a bootstrap file.
func (s *RaftStore) catchUp(ctx context.Context) error {
	waiting := false
	for {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.node.Barrier(bctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("metadata quorum: no leader reached: %w", ctx.Err())
		}
		if errors.Is(err, raft.ErrStopped) || errors.Is(err, raft.ErrRemoved) {
			return fmt.Errorf("metadata quorum: %w", err)
		}
		if !waiting {
			s.log.Info("waiting for the metadata quorum to elect a leader", "err", err)
			waiting = true
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return fmt.Errorf("metadata quorum: no leader reached: %w", ctx.Err())
		}
	}
	if err := s.importLegacy(ctx); err != nil {
		return err
	}
	if s.Image().ClusterID == "" {
		if err := s.propose(ctx, kindInitCluster, []MetadataRecord{{Type: ClusterRecord, ClusterID: newClusterID()}}); err != nil {
			return fmt.Errorf("metadata quorum: cluster id: %w", err)
		}
	}
	return s.applyBootstrap(ctx, s.joined)
}

// importLegacy imports the metadata log file that earlier versions kept
// in the same directory, once: its records become the quorum's first
// state (an import applies only to a quorum without a cluster id), and
// the file is kept renamed.
func (s *RaftStore) importLegacy(ctx context.Context) error {
	path := filepath.Join(s.cfg.Dir, legacyMetadataLog)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if s.Image().ClusterID == "" {
		img, n, _, err := replayMetadata(path)
		if err != nil {
			return fmt.Errorf("metadata: importing %s: %w", path, err)
		}
		if img.ClusterID == "" {
			img.ClusterID = newClusterID()
		}
		recs := img.seal().records()
		if err := s.propose(ctx, kindImport, recs); err != nil {
			return fmt.Errorf("metadata: importing %s: %w", path, err)
		}
		s.log.Info("imported the metadata log of an earlier version", "file", path, "records", n, "topics", len(img.Topics))
	}
	if err := os.Rename(path, path+migratedSuffix); err != nil {
		return err
	}
	return syncDir(s.cfg.Dir)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Image implements MetadataStore.
func (s *RaftStore) Image() *MetadataImage { return s.sm.current() }

// Updates implements MetadataStore.
func (s *RaftStore) Updates() <-chan struct{} { return s.sm.updates }

// ControllerID implements MetadataStore: the node id of the quorum's
// leader, -1 while none is known.
func (s *RaftStore) ControllerID() int32 { return nodeIDOf(s.node.LeaderID()) }

// Apply implements MetadataStore: recs are proposed as one entry (from
// any member; raft forwards it to the leader) and Apply returns once the
// entry is committed and applied here, or with the error that made every
// member refuse it. Proposals that were certainly not committed (no
// leader, dropped by an election) are retried while ctx allows; one whose
// fate is unknown is retried under the same request id, which the state
// machine applies at most once.
func (s *RaftStore) Apply(ctx context.Context, recs ...MetadataRecord) error {
	if len(recs) == 0 {
		return nil
	}
	return s.propose(ctx, kindBatch, recs)
}

func (s *RaftStore) propose(ctx context.Context, kind byte, recs []MetadataRecord) error {
	data, err := encodeMetaEntry(kind, newRequestID(), recs)
	if err != nil {
		return err
	}
	backoff := 20 * time.Millisecond
	for {
		_, err := s.node.Propose(ctx, data)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrNoLeader), errors.Is(err, raft.ErrProposalDropped), errors.Is(err, raft.ErrUnknownOutcome):
			if !sleepCtx(ctx, backoff) {
				return fmt.Errorf("metadata quorum: %w (last attempt: %v)", ctx.Err(), err)
			}
			backoff = min(2*backoff, time.Second)
		default:
			return err
		}
	}
}

// Barrier returns once this member has applied everything committed
// before the call.
func (s *RaftStore) Barrier(ctx context.Context) error {
	for {
		err := s.node.Barrier(ctx)
		if err == nil || !errors.Is(err, raft.ErrNoLeader) {
			return err
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// Node returns the raft member (for the controller and the quorum's
// administration).
func (s *RaftStore) Node() *raft.Node { return s.node }

// NodeID is this member's node id.
func (s *RaftStore) NodeID() int32 { return s.cfg.NodeID }

// IsLeader reports whether this member leads the quorum.
func (s *RaftStore) IsLeader() bool { return s.node.LeaderID() == raftID(s.cfg.NodeID) }

// Close hands leadership to another up-to-date voter first when this
// member leads (so that the quorum does not wait an election timeout),
// then stops the member. It is idempotent.
func (s *RaftStore) Close() error {
	s.closeOnce.Do(func() {
		if s.IsLeader() {
			s.transferAway()
		}
		s.ctrlCancel()
		s.closeErr = s.node.Close()
		if errors.Is(s.closeErr, raft.ErrStopped) {
			s.closeErr = nil
		}
		if s.cfg.Listener != nil {
			s.cfg.Listener.Close()
		}
		s.ctrlWG.Wait()
	})
	return s.closeErr
}

// trackContacts samples, while this member leads, when the leader last
// heard from each member and which members have its commit index: the
// sessions of brokers (see Controller) and DescribeQuorum's timestamps.
//
// A new leader starts every member's session afresh, as a new active
// controller does in Kafka, except the session of the member that led
// before it: this node heard that one as a follower, and its session runs
// from then. A leader that died is then fenced a session after it went
// silent, not a session after its successor's election.
func (s *RaftStore) trackContacts() {
	defer s.ctrlWG.Done()
	t := time.NewTicker(contactSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctrlCtx.Done():
			return
		case <-s.node.Done():
			return
		case <-t.C:
		}
		st := s.node.Status()
		if st.State != "leader" {
			if st.Leader != 0 && st.Leader != st.ID {
				s.contact.Lock()
				s.contact.prevLeader = st.Leader
				s.contact.Unlock()
			}
			continue
		}
		now := time.Now()
		s.contact.Lock()
		if st.Term != s.contact.term {
			s.contact.term = st.Term
			clear(s.contact.last)
			clear(s.contact.caughtUp)
			for id := range st.Progress {
				s.contact.last[id] = now
			}
			if prev := s.contact.prevLeader; prev != st.ID {
				if h, ok := st.Heard[prev]; ok && h.Before(now) {
					s.contact.last[prev] = h
				}
			}
		}
		for id := range st.Progress {
			if id == st.ID {
				s.contact.last[id] = now
			} else if h := st.Heard[id]; h.After(s.contact.last[id]) {
				s.contact.last[id] = h
			}
			if pr := st.Progress[id]; pr.Match >= s.contact.commit || id == st.ID {
				s.contact.caughtUp[id] = now
			}
		}
		s.contact.commit = st.Commit
		s.contact.Unlock()
	}
}

// LastContact returns when the leader last heard from node id, and false
// when this member is not the leader or has no record of it.
func (s *RaftStore) LastContact(id int32) (time.Time, bool) {
	st := s.node.Status()
	s.contact.Lock()
	defer s.contact.Unlock()
	if st.State != "leader" || st.Term != s.contact.term {
		// Not leading, or leading in a term not sampled yet.
		return time.Time{}, false
	}
	t, ok := s.contact.last[raftID(id)]
	return t, ok
}

// CaughtUp reports whether node id's replica of the metadata log has what
// the leader had committed when it was last sampled (only on the leader).
func (s *RaftStore) CaughtUp(id int32) bool {
	s.contact.Lock()
	defer s.contact.Unlock()
	t, ok := s.contact.caughtUp[raftID(id)]
	return ok && s.IsLeader() && time.Since(t) < 4*contactSampleInterval+time.Second
}

// QuorumStatus is this member's view of the quorum; on the leader it has
// each member's replication progress.
func (s *RaftStore) QuorumStatus() QuorumStatus {
	st := s.node.Status()
	out := QuorumStatus{LeaderID: nodeIDOf(st.Leader), Term: st.Term, Commit: st.Commit}
	s.contact.Lock()
	defer s.contact.Unlock()
	ms := func(t time.Time, ok bool) int64 {
		if !ok {
			return -1
		}
		return t.UnixMilli()
	}
	for _, m := range s.node.Members() {
		qm := QuorumMember{ID: nodeIDOf(m.ID), Addr: m.Addr, Voter: !m.Learner, LastContactMs: -1, LastCaughtUpMs: -1}
		if pr, ok := st.Progress[m.ID]; ok {
			qm.Match = pr.Match
			if m.ID == st.ID {
				qm.Match = st.Applied
			}
			t, ok := s.contact.last[m.ID]
			qm.LastContactMs = ms(t, ok)
			t, ok = s.contact.caughtUp[m.ID]
			qm.LastCaughtUpMs = ms(t, ok)
		}
		out.Members = append(out.Members, qm)
	}
	return out
}

// memberAddr is the controller address of a member, "" when unknown.
func (s *RaftStore) memberAddr(id uint64) string {
	for _, m := range s.node.Members() {
		if m.ID == id {
			return m.Addr
		}
	}
	return ""
}

// AddLearner adds node id as a learner at addr (leader only). Adding a
// member that is already a voter is refused: it would demote it.
func (s *RaftStore) AddLearner(ctx context.Context, id int32, addr string) error {
	if id < 0 || addr == "" {
		return errors.New("a learner needs a valid node id and a controller address")
	}
	for _, m := range s.node.Members() {
		if m.ID == raftID(id) && !m.Learner {
			if m.Addr == addr {
				return nil
			}
			return fmt.Errorf("node %d is a voter at %s", id, m.Addr)
		}
	}
	return s.node.AddLearner(ctx, raftID(id), addr)
}

// AddVoter makes node id a voter (leader only). A learner is promoted
// once its log has caught up with the leader's commit index (waiting for
// it while ctx allows); a node that is not a member is added as a voter
// at addr.
func (s *RaftStore) AddVoter(ctx context.Context, id int32, addr string) error {
	if id < 0 {
		return fmt.Errorf("invalid node id %d", id)
	}
	rid := raftID(id)
	var member *raft.Member
	for _, m := range s.node.Members() {
		if m.ID == rid {
			m := m
			member = &m
		}
	}
	switch {
	case member == nil:
		if addr == "" {
			return fmt.Errorf("node %d is not a member of the quorum: give its controller address", id)
		}
		return s.node.AddVoter(ctx, rid, addr)
	case !member.Learner:
		return nil
	}
	for {
		st := s.node.Status()
		if st.State != "leader" {
			return &raft.NotLeaderError{Leader: st.Leader, LeaderAddr: s.memberAddr(st.Leader)}
		}
		if pr, ok := st.Progress[rid]; ok && pr.Match >= st.Commit && pr.RecentActive {
			break
		}
		if !sleepCtx(ctx, 50*time.Millisecond) {
			return fmt.Errorf("node %d has not caught up with the metadata log: %w", id, ctx.Err())
		}
	}
	return s.node.PromoteLearner(ctx, rid)
}

// RemoveMember removes node id from the quorum (leader only).
func (s *RaftStore) RemoveMember(ctx context.Context, id int32) error {
	if id < 0 {
		return fmt.Errorf("invalid node id %d", id)
	}
	return s.node.RemoveMember(ctx, raftID(id))
}

// transferAway hands leadership to the voter that has replicated the most.
func (s *RaftStore) transferAway() {
	st := s.node.Status()
	var to, best uint64
	for _, v := range st.Voters {
		if pr, ok := st.Progress[v]; ok && v != st.ID && pr.RecentActive && pr.Match >= best {
			to, best = v, pr.Match
		}
	}
	if to == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.node.TransferLeadership(ctx, to); err != nil {
		s.log.Warn("leadership of the metadata quorum not handed over before stopping", "to", nodeIDOf(to), "err", err)
	}
}

// Metadata log entry kinds.
const (
	// kindBatch is a batch of records, applied whole or not at all.
	kindBatch byte = 0
	// kindImport is the records of a legacy metadata log: applied to a
	// quorum without a cluster id only, in place of its image.
	kindImport byte = 1
	// kindInitCluster gives a new quorum its cluster id: applied only
	// while it has none (the first proposer wins), a no-op after.
	kindInitCluster byte = 2
	// kindBootstrap is the SCRAM credentials of a bootstrap file
	// (skein storage format --add-scram): each is applied only when the
	// image has no credential for its user and mechanism.
	kindBootstrap byte = 3
)

const (
	metaEntryFormat    byte = 1
	metaEntryHeaderLen      = 2 + requestIDLen
	requestIDLen            = 16
	// requestMemory is how many request ids of applied batches the state
	// machine remembers to apply a retried batch at most once.
	requestMemory = 4096
)

type requestID [requestIDLen]byte

func newRequestID() requestID {
	var id requestID
	rand.Read(id[:])
	return id
}

func (id requestID) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(id[:])), nil }

func (id *requestID) UnmarshalText(b []byte) error {
	if len(b) != 2*requestIDLen {
		return fmt.Errorf("request id %q: want %d hex digits", b, 2*requestIDLen)
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// encodeMetaEntry encodes a metadata log entry: format byte, kind byte,
// request id, then the records as a JSON array (the form of a batch line
// of the single-node log of earlier versions).
func encodeMetaEntry(kind byte, id requestID, recs []MetadataRecord) ([]byte, error) {
	body, err := json.Marshal(recs)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, metaEntryHeaderLen+len(body))
	out = append(out, metaEntryFormat, kind)
	out = append(out, id[:]...)
	return append(out, body...), nil
}

type metaEntry struct {
	kind byte
	id   requestID
	recs []MetadataRecord
}

func decodeMetaEntry(data []byte) (metaEntry, error) {
	var e metaEntry
	if len(data) < metaEntryHeaderLen || data[0] != metaEntryFormat {
		return e, errors.New("metadata entry: bad header")
	}
	e.kind = data[1]
	if e.kind > kindBootstrap {
		return e, fmt.Errorf("metadata entry: unknown kind %d", e.kind)
	}
	copy(e.id[:], data[2:metaEntryHeaderLen])
	dec := json.NewDecoder(bytes.NewReader(data[metaEntryHeaderLen:]))
	if err := dec.Decode(&e.recs); err != nil {
		return e, fmt.Errorf("metadata entry: %w", err)
	}
	if len(e.recs) == 0 {
		return e, errors.New("metadata entry: no records")
	}
	return e, nil
}

// metadataSnapshot is the state machine's snapshot: the records that
// rebuild the image and the request ids it remembers.
type metadataSnapshot struct {
	Records  []MetadataRecord `json:"records"`
	Requests []requestID      `json:"requests,omitempty"`
}

const metaSnapshotFormat byte = 1

// metadataSM is the state machine of the metadata quorum: the image, and
// the ids of the latest applied batches.
type metadataSM struct {
	updates chan struct{}
	// subs are further update channels (Subscribe).
	subs struct {
		sync.Mutex
		chans []chan struct{}
	}

	mu       sync.Mutex
	image    *MetadataImage
	requests []requestID // oldest first, at most requestMemory
	seen     map[requestID]struct{}
}

func newMetadataSM() *metadataSM {
	return &metadataSM{updates: make(chan struct{}, 1), image: newImage().seal(), seen: map[requestID]struct{}{}}
}

func (m *metadataSM) current() *MetadataImage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.image
}

func (m *metadataSM) signal() {
	select {
	case m.updates <- struct{}{}:
	default:
	}
	m.subs.Lock()
	for _, c := range m.subs.chans {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	m.subs.Unlock()
}

// Subscribe returns a channel signalled, like Updates, after every applied
// batch: for a reader other than the broker (the controller).
func (s *RaftStore) Subscribe() <-chan struct{} {
	c := make(chan struct{}, 1)
	s.sm.subs.Lock()
	s.sm.subs.chans = append(s.sm.subs.chans, c)
	s.sm.subs.Unlock()
	return c
}

// Apply implements raft.StateMachine. A batch that does not fit the image
// is refused with nothing applied; every member refuses it the same way.
func (m *metadataSM) Apply(e raft.Entry) error {
	ent, err := decodeMetaEntry(e.Data)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.seen[ent.id]; dup {
		return nil // a retry of a batch already applied
	}
	var next *MetadataImage
	switch ent.kind {
	case kindBatch:
		next, err = m.image.applyBatch(ent.recs)
	case kindImport:
		if m.image.ClusterID != "" {
			return errors.New("metadata import refused: the quorum already has a cluster id")
		}
		next, err = newImage().seal().applyBatch(ent.recs)
		if err == nil && next.ClusterID == "" {
			err = errors.New("metadata import without a cluster id")
		}
	case kindInitCluster:
		if m.image.ClusterID != "" {
			return nil
		}
		next, err = m.image.applyBatch(ent.recs)
	case kindBootstrap:
		next, err = applyBootstrapEntry(m.image, ent.recs)
		if err == nil && next == nil {
			m.remember(ent.id)
			return nil // every credential is present
		}
	}
	if err != nil {
		return err
	}
	m.image = next
	m.remember(ent.id)
	m.signal()
	return nil
}

func (m *metadataSM) remember(id requestID) {
	if len(m.requests) >= requestMemory {
		delete(m.seen, m.requests[0])
		m.requests = m.requests[1:]
	}
	m.requests = append(m.requests, id)
	m.seen[id] = struct{}{}
}

// Snapshot implements raft.StateMachine.
func (m *metadataSM) Snapshot() ([]byte, error) {
	m.mu.Lock()
	snap := metadataSnapshot{Records: m.image.records(), Requests: slices.Clone(m.requests)}
	m.mu.Unlock()
	body, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	return append([]byte{metaSnapshotFormat}, body...), nil
}

// Restore implements raft.StateMachine.
func (m *metadataSM) Restore(data []byte) error {
	img, reqs, err := decodeMetaSnapshot(data)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.image = img
	m.requests = nil
	m.seen = map[requestID]struct{}{}
	for _, id := range reqs {
		m.remember(id)
	}
	m.mu.Unlock()
	m.signal()
	return nil
}

func decodeMetaSnapshot(data []byte) (*MetadataImage, []requestID, error) {
	if len(data) == 0 || data[0] != metaSnapshotFormat {
		return nil, nil, errors.New("metadata snapshot: bad format")
	}
	var snap metadataSnapshot
	if err := json.Unmarshal(data[1:], &snap); err != nil {
		return nil, nil, fmt.Errorf("metadata snapshot: %w", err)
	}
	img := newImage()
	for i, r := range snap.Records {
		if err := img.apply(r); err != nil {
			return nil, nil, fmt.Errorf("metadata snapshot: record %d: %w", i, err)
		}
	}
	return img.seal(), snap.Requests, nil
}
