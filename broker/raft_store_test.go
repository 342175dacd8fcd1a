package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skein-streaming/skein/raft"
)

// testQuorum is n members of a metadata quorum over TCP on 127.0.0.1,
// each with its own directory and controller listener.
type testQuorum struct {
	t      *testing.T
	dirs   map[int32]string
	addrs  map[int32]string
	stores map[int32]*RaftStore
	opts   func(*RaftStoreConfig)
}

// quorumTick keeps elections fast but tolerant of a loaded machine:
// an election timeout of 10 ticks is 300–600ms.
const quorumTick = 30 * time.Millisecond

func testLogger(t testing.TB, node int32) *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SKEIN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})).With("node", node)
}

// startQuorum starts voters 1..n; opts adjusts every member's config.
func startQuorum(t *testing.T, n int, opts func(*RaftStoreConfig)) *testQuorum {
	t.Helper()
	q := &testQuorum{t: t, dirs: map[int32]string{}, addrs: map[int32]string{}, stores: map[int32]*RaftStore{}, opts: opts}
	muxes := map[int32]*ControllerMux{}
	var voters []QuorumVoter
	for id := int32(1); id <= int32(n); id++ {
		m, err := ListenController("127.0.0.1:0", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		muxes[id] = m
		q.dirs[id] = t.TempDir()
		q.addrs[id] = m.Addr().String()
		voters = append(voters, QuorumVoter{ID: id, Addr: q.addrs[id]})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for id := int32(1); id <= int32(n); id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenRaftStore(testCtx(t), q.config(id, muxes[id], voters, nil))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				muxes[id].Close()
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			q.stores[id] = s
		}()
	}
	wg.Wait()
	for _, s := range q.stores {
		t.Cleanup(func() { s.Close() })
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	return q
}

func (q *testQuorum) config(id int32, mux *ControllerMux, voters []QuorumVoter, bootstrap []string) RaftStoreConfig {
	cfg := RaftStoreConfig{NodeID: id, Dir: q.dirs[id], Listener: mux, Voters: voters, Bootstrap: bootstrap,
		TickInterval: quorumTick, ElectionTicks: 10, Logger: testLogger(q.t, id)}
	if q.opts != nil {
		q.opts(&cfg)
	}
	return cfg
}

// restart stops member id (as a crash would: no leadership hand-over)
// and starts it again on its directory and address.
func (q *testQuorum) restart(id int32) *RaftStore {
	q.t.Helper()
	crashStore(q.stores[id])
	return q.reopen(id)
}

// reopen starts member id again on its directory and address.
func (q *testQuorum) reopen(id int32) *RaftStore {
	q.t.Helper()
	var mux *ControllerMux
	checkFor(q.t, 10*time.Second, 20*time.Millisecond, func() error {
		var err error
		mux, err = ListenController(q.addrs[id], nil, nil)
		return err
	})
	s, err := OpenRaftStore(testCtx(q.t), q.config(id, mux, nil, nil))
	if err != nil {
		mux.Close()
		q.t.Fatal(err)
	}
	q.t.Cleanup(func() { s.Close() })
	q.stores[id] = s
	return s
}

// join starts a new member that joins through the controller listeners of
// the running members, as a node with controller.quorum.bootstrap.servers
// does.
func (q *testQuorum) join(id int32) *RaftStore {
	q.t.Helper()
	mux, err := ListenController("127.0.0.1:0", nil, nil)
	if err != nil {
		q.t.Fatal(err)
	}
	q.dirs[id], q.addrs[id] = q.t.TempDir(), mux.Addr().String()
	var seeds []string
	for mid, s := range q.stores {
		if s.node.Err() == nil && mid != id {
			seeds = append(seeds, q.addrs[mid])
		}
	}
	slices.Sort(seeds)
	s, err := OpenRaftStore(testCtx(q.t), q.config(id, mux, nil, seeds))
	if err != nil {
		mux.Close()
		q.t.Fatal(err)
	}
	q.t.Cleanup(func() { s.Close() })
	q.stores[id] = s
	return s
}

// crashStore stops a member abruptly: no leadership hand-over, nothing
// more sent.
func crashStore(s *RaftStore) {
	s.ctrlCancel()
	s.node.Close()
	if s.cfg.Listener != nil {
		s.cfg.Listener.Close()
	}
	s.ctrlWG.Wait()
}

// leader waits for a member that leads and returns it.
func (q *testQuorum) leader() *RaftStore {
	q.t.Helper()
	var l *RaftStore
	checkFor(q.t, 20*time.Second, 10*time.Millisecond, func() error {
		for _, s := range q.stores {
			if s.node.Err() == nil && s.IsLeader() {
				l = s
				return nil
			}
		}
		return errors.New("no leader")
	})
	return l
}

// follower returns a running member that does not lead.
func (q *testQuorum) follower() *RaftStore {
	l := q.leader()
	ids := mapsKeys(q.stores)
	slices.Sort(ids)
	for _, id := range ids {
		if s := q.stores[id]; s != l && s.node.Err() == nil {
			return s
		}
	}
	q.t.Fatal("no follower")
	return nil
}

func mapsKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitSame waits until every running member has applied the same image.
func (q *testQuorum) waitSame() *MetadataImage {
	q.t.Helper()
	var img *MetadataImage
	checkFor(q.t, 20*time.Second, 10*time.Millisecond, func() error {
		var want []MetadataRecord
		for id, s := range q.stores {
			if s.node.Err() != nil {
				continue
			}
			got := s.Image().records()
			if want == nil {
				want, img = got, s.Image()
				continue
			}
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("member %d differs", id)
			}
		}
		return nil
	})
	return img
}

// TestRaftStoreApplyAcrossMembers applies batches through a follower and
// the leader of a three-member quorum: every member applies each batch
// whole, signals its Updates, and a batch refused by the state machine
// (a stale compare-and-set) returns its error to the proposer and changes
// nothing on any member.
func TestRaftStoreApplyAcrossMembers(t *testing.T) {
	q := startQuorum(t, 3, nil)
	ctx := testCtx(t)
	f := q.follower()
	for _, s := range q.stores {
		select {
		case <-s.Updates():
		default:
		}
	}
	id := NewTopicID()
	create := []MetadataRecord{
		{Type: TopicRecord, Topic: "t", ID: id, Partitions: 2},
		partitionRec(id, 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1}),
		partitionRec(id, 1, PartitionState{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2}),
	}
	if err := f.Apply(ctx, create...); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Image().Topics["t"]; !ok {
		t.Fatal("the proposing member does not see its batch after Apply")
	}
	img := q.waitSame()
	if st, _ := img.Topics["t"].Partition(1); st.Leader != 2 {
		t.Fatalf("partition 1: %+v", st)
	}
	for mid, s := range q.stores {
		select {
		case <-s.Updates():
		case <-time.After(10 * time.Second):
			t.Fatalf("member %d: no update signalled", mid)
		}
	}
	// A batch whose second record is a stale compare-and-set: refused
	// whole, on every member.
	before := img.records()
	err := q.leader().Apply(ctx,
		MetadataRecord{Type: ConfigRecord, ConfigResource: "topic", ID: id, Configs: map[string]string{"retention.ms": "1"}},
		casRec(id, 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}, 7))
	if !errors.Is(err, ErrPartitionEpochMismatch) {
		t.Fatalf("stale compare-and-set: %v", err)
	}
	err = f.Apply(ctx, MetadataRecord{Type: TopicRecord, Topic: "t", ID: NewTopicID(), Partitions: 1})
	if !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate topic through a follower: %v", err)
	}
	// A later batch proves the refused ones were decided: every member
	// has applied past them.
	if err := f.Apply(ctx, casRec(id, 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1}, 0)); err != nil {
		t.Fatal(err)
	}
	img = q.waitSame()
	if len(img.Topics["t"].Configs) != 0 {
		t.Fatal("the refused batch's config record was applied")
	}
	if st, _ := img.Topics["t"].Partition(0); st.PartitionEpoch != 1 || !slices.Equal(st.ISR, []int32{1}) {
		t.Fatalf("partition 0 after the accepted compare-and-set: %+v", st)
	}
	if reflect.DeepEqual(img.records(), before) {
		t.Fatal("the accepted batch was not applied")
	}
	// The controller is the quorum's leader everywhere.
	want := q.leader().NodeID()
	for mid, s := range q.stores {
		checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if got := s.ControllerID(); got != want {
				return fmt.Errorf("member %d names controller %d, want %d", mid, got, want)
			}
			return nil
		})
	}
}

// TestRaftStoreRetriedBatchAppliesOnce proposes the same entry (same
// request id) twice, as Apply does after an unknown outcome: the second
// one is a no-op on every member, even after a snapshot and a restart.
func TestRaftStoreRetriedBatchAppliesOnce(t *testing.T) {
	q := startQuorum(t, 3, func(c *RaftStoreConfig) { c.SnapshotEntries = 5 })
	ctx := testCtx(t)
	data, err := encodeMetaEntry(kindBatch, newRequestID(), []MetadataRecord{{Type: ProducerIDsRecord, NextProducerID: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	f := q.follower()
	for i := 0; i < 2; i++ {
		if _, err := f.node.Propose(ctx, data); err != nil {
			t.Fatalf("proposal %d: %v", i, err)
		}
	}
	// A fresh block after it still applies.
	if err := f.Apply(ctx, MetadataRecord{Type: ProducerIDsRecord, NextProducerID: 2000}); err != nil {
		t.Fatal(err)
	}
	// Enough entries for snapshots everywhere, then the duplicate again
	// on a member restarted from its snapshot.
	for i := 0; i < 12; i++ {
		if err := f.Apply(ctx, MetadataRecord{Type: ConfigRecord, ConfigResource: "broker", Name: "", Configs: map[string]string{"log.retention.ms": fmt.Sprint(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	s := q.restart(f.NodeID())
	if _, err := s.node.Propose(ctx, data); err != nil {
		t.Fatal(err)
	}
	img := q.waitSame()
	if img.NextProducerID != 2000 {
		t.Fatalf("next producer id %d, want 2000 (the repeated block applied again?)", img.NextProducerID)
	}
}

// TestRaftStoreSnapshotRestore compacts the log with snapshots, restarts
// a member from its directory and has a new member join and catch up from
// a snapshot: each ends with the same image, partition epochs, brokers
// and ACLs included.
func TestRaftStoreSnapshotRestore(t *testing.T) {
	q := startQuorum(t, 3, func(c *RaftStoreConfig) { c.SnapshotEntries = 8 })
	ctx := testCtx(t)
	img, id := clusterImage(t)
	recs := img.records()
	for i := 0; i < len(recs); i += 3 {
		if err := q.leader().Apply(ctx, recs[i:min(i+3, len(recs))]...); err != nil {
			t.Fatal(err)
		}
	}
	for i := int32(0); i < 6; i++ {
		st, _ := q.leader().Image().Topics["t"].Partition(0)
		next := st.clone()
		next.Leader = next.ISR[int(i)%len(next.ISR)]
		if err := q.leader().Apply(ctx, casRec(id, 0, next, st.PartitionEpoch)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.leader().Apply(ctx, MetadataRecord{Type: ACLRecordType, ACL: &ACLRecord{ID: "a1", ResourceType: 2, ResourceName: "t", PatternType: 3, Principal: "User:x", Host: "*", Operation: 3, Permission: 3}}); err != nil {
		t.Fatal(err)
	}
	want := q.waitSame().records()
	s := q.restart(q.follower().NodeID())
	if got := s.Image().records(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restarted member:\n got %+v\nwant %+v", got, want)
	}
	n := q.join(4)
	if got := n.Image().records(); !reflect.DeepEqual(got, want) {
		t.Fatalf("joined member:\n got %+v\nwant %+v", got, want)
	}
	// The snapshot's state machine bytes restore the same image.
	data, err := n.sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back, reqs, err := decodeMetaSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.records(), want) || len(reqs) == 0 {
		t.Fatalf("snapshot round trip: %d request ids, records differ: %v", len(reqs), !reflect.DeepEqual(back.records(), want))
	}
	st, _ := back.Topics["t"].Partition(0)
	if cur, _ := q.leader().Image().Topics["t"].Partition(0); st.PartitionEpoch != cur.PartitionEpoch || st.LeaderEpoch != cur.LeaderEpoch {
		t.Fatalf("epochs after snapshot: %+v, want %+v", st, cur)
	}
}

// TestRaftStoreMigratesFileLog opens the store on a data directory written
// by the single-node file log of earlier versions: its records are
// imported once (cluster id included), the file is kept renamed, and a
// restart neither imports again nor loses anything.
func TestRaftStoreMigratesFileLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "__cluster_metadata")
	fs, err := openFileMetadataStore(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := NewTopicID()
	ctx := testCtx(t)
	if err := fs.Apply(ctx, MetadataRecord{Type: TopicRecord, Topic: "old", ID: id, Partitions: 2},
		partitionRec(id, 0, PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}),
		partitionRec(id, 1, PartitionState{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1})); err != nil {
		t.Fatal(err)
	}
	if err := fs.Apply(ctx, MetadataRecord{Type: ConfigRecord, ConfigResource: "topic", ID: id, Configs: map[string]string{"retention.ms": "5"}}); err != nil {
		t.Fatal(err)
	}
	want := fs.Image().records()
	clusterID := fs.Image().ClusterID
	fs.Close()

	open := func() *RaftStore {
		s, err := OpenRaftStore(ctx, RaftStoreConfig{NodeID: 1, Dir: dir, Logger: testLogger(t, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	if got := s.Image().records(); !reflect.DeepEqual(got, want) || s.Image().ClusterID != clusterID {
		t.Fatalf("imported image:\n got %+v\nwant %+v", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyMetadataLog)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("legacy log still in place: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, legacyMetadataLog+migratedSuffix)); err != nil {
		t.Fatalf("legacy log not kept: %v", err)
	}
	if s.ControllerID() != 1 {
		t.Fatalf("controller %d", s.ControllerID())
	}
	if err := s.Apply(ctx, MetadataRecord{Type: RemoveTopicRecord, ID: id}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// An import over a quorum that has a cluster id is refused.
	s = open()
	defer s.Close()
	if len(s.Image().Topics) != 0 || s.Image().ClusterID != clusterID {
		t.Fatalf("after restart: topics %v, cluster %q", s.Image().Topics, s.Image().ClusterID)
	}
	err = s.propose(ctx, kindImport, want)
	if err == nil || len(s.Image().Topics) != 0 {
		t.Fatalf("second import: %v, topics %v", err, s.Image().Topics)
	}
}

// TestRaftStoreFreshClusterID gives a new quorum one cluster id, the same
// on every member, kept across restarts.
func TestRaftStoreFreshClusterID(t *testing.T) {
	q := startQuorum(t, 3, nil)
	img := q.waitSame()
	if len(img.ClusterID) != 22 {
		t.Fatalf("cluster id %q", img.ClusterID)
	}
	s := q.restart(q.leader().NodeID())
	if s.Image().ClusterID != img.ClusterID {
		t.Fatalf("cluster id after restart %q, want %q", s.Image().ClusterID, img.ClusterID)
	}
}

// TestRaftStoreMembership adds a controller that joined as a learner
// (promoted through the controller RPC of a follower, which forwards to
// the leader), removes another, and checks that the quorum keeps
// committing, that DescribeQuorum's status lists the members, and that a
// stopped leader's successor carries on.
func TestRaftStoreMembership(t *testing.T) {
	q := startQuorum(t, 3, nil)
	ctx := testCtx(t)
	n := q.join(4)
	st := q.leader().QuorumStatus()
	if m := memberOf(st, 4); m == nil || m.Voter {
		t.Fatalf("joined node: %+v", st)
	}
	via := []string{q.addrs[q.follower().NodeID()]}
	if _, err := ControllerCall(ctx, via, nil, CtrlRequest{Op: CtrlAddVoter, ID: 4}); err != nil {
		t.Fatal(err)
	}
	resp, err := ControllerCall(ctx, via, nil, CtrlRequest{Op: CtrlStatus})
	if err != nil {
		t.Fatal(err)
	}
	if m := memberOf(*resp.Status, 4); m == nil || !m.Voter || m.Addr != q.addrs[4] {
		t.Fatalf("status after promotion: %+v", resp.Status)
	}
	if resp.Status.LeaderID != q.leader().NodeID() || resp.Status.Commit == 0 {
		t.Fatalf("status: %+v", resp.Status)
	}
	// Remove the leader itself: the others elect a new one, which goes
	// on committing.
	old := q.leader()
	if _, err := ControllerCall(ctx, []string{q.addrs[4]}, nil, CtrlRequest{Op: CtrlRemove, ID: old.NodeID()}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.node.Removed():
	case <-time.After(20 * time.Second):
		t.Fatal("removed leader did not stop")
	}
	delete(q.stores, old.NodeID())
	if err := n.Apply(ctx, MetadataRecord{Type: ProducerIDsRecord, NextProducerID: 1000}); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		st := q.leader().QuorumStatus()
		if len(st.Members) != 3 || memberOf(st, old.NodeID()) != nil {
			return fmt.Errorf("members after removal: %+v", st.Members)
		}
		for _, m := range st.Members {
			if m.Match == 0 || m.LastContactMs <= 0 || m.LastCaughtUpMs <= 0 {
				return fmt.Errorf("member without progress: %+v", m)
			}
		}
		return nil
	})
	if q.waitSame().NextProducerID != 1000 {
		t.Fatal("the new leader's commit did not reach every member")
	}
	// An unknown operation is an error, not a dropped connection.
	if _, err := ControllerCall(ctx, via, nil, CtrlRequest{Op: "nope"}); err == nil {
		t.Fatal("unknown operation accepted")
	}
}

func memberOf(st QuorumStatus, id int32) *QuorumMember {
	for i := range st.Members {
		if st.Members[i].ID == id {
			return &st.Members[i]
		}
	}
	return nil
}

// TestRaftStoreRetriesWithoutLeader proposes while the quorum has no
// leader (two of three members down): Apply waits, and commits once a
// member returns.
func TestRaftStoreRetriesWithoutLeader(t *testing.T) {
	q := startQuorum(t, 3, nil)
	f := q.follower()
	var others []int32
	for id := range q.stores {
		if id != f.NodeID() {
			others = append(others, id)
		}
	}
	for _, id := range others {
		crashStore(q.stores[id])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := f.Apply(ctx, MetadataRecord{Type: ProducerIDsRecord, NextProducerID: 1000})
	cancel()
	if err == nil {
		t.Fatal("committed without a quorum")
	}
	done := make(chan error, 1)
	go func() { done <- f.Apply(testCtx(t), MetadataRecord{Type: ProducerIDsRecord, NextProducerID: 2000}) }()
	q.reopen(others[0])
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := f.Image().NextProducerID; got != 2000 && got != 1000 {
		t.Fatalf("next producer id %d", got)
	}
	_ = raft.ErrNoLeader
}

// FuzzMetaEntry decodes arbitrary metadata log entries and snapshots:
// never a panic, and what decodes encodes back to the same records.
func FuzzMetaEntry(f *testing.F) {
	img, _ := clusterImage(f)
	data, _ := encodeMetaEntry(kindBatch, newRequestID(), img.records())
	f.Add(data)
	data, _ = encodeMetaEntry(kindInitCluster, requestID{}, []MetadataRecord{{Type: ClusterRecord, ClusterID: "x"}})
	f.Add(data)
	f.Add([]byte{metaEntryFormat, 9})
	sm := newMetadataSM()
	sm.image = img
	snap, _ := sm.Snapshot()
	f.Add(snap)
	f.Fuzz(func(t *testing.T, data []byte) {
		if e, err := decodeMetaEntry(data); err == nil {
			again, err := encodeMetaEntry(e.kind, e.id, e.recs)
			if err != nil {
				t.Fatal(err)
			}
			e2, err := decodeMetaEntry(again)
			if err != nil || !reflect.DeepEqual(e2.recs, e.recs) {
				t.Fatalf("re-encoded entry differs: %v", err)
			}
			sm := newMetadataSM()
			_ = sm.Apply(raft.Entry{Index: 1, Data: data})
		}
		if img, _, err := decodeMetaSnapshot(data); err == nil {
			for _, ti := range img.Topics {
				for _, st := range ti.Assignment {
					if err := st.validate(); err != nil {
						t.Fatalf("snapshot state breaks an invariant: %v", err)
					}
				}
			}
		}
	})
}

// FuzzCtrlFrame reads arbitrary controller RPC frames: never a panic or
// an allocation past the frame limit.
func FuzzCtrlFrame(f *testing.F) {
	var buf bytesBuffer
	writeCtrlFrame(&buf, CtrlRequest{Op: CtrlAddVoter, ID: 3, Addr: "h:1"})
	f.Add(buf.b)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req CtrlRequest
		_ = readCtrlFrame(&bytesBuffer{b: data}, &req)
	})
}

type bytesBuffer struct{ b []byte }

func (b *bytesBuffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }
func (b *bytesBuffer) Read(p []byte) (int, error) {
	if len(b.b) == 0 {
		return 0, errors.New("EOF")
	}
	n := copy(p, b.b)
	b.b = b.b[n:]
	return n, nil
}

// TestRaftStoreMutualTLS runs a three-member quorum whose controller
// listeners require client certificates: the members replicate to each
// other, a controller RPC client with a trusted certificate is served,
// and one without a certificate, or with one from another CA, is refused.
func TestRaftStoreMutualTLS(t *testing.T) {
	ca := newRejectCA(t, "Quorum CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	nodeCert := func() tls.Certificate {
		certPEM, keyPEM := ca.issueBoth(t, "node")
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return pair
	}
	q := &testQuorum{t: t, dirs: map[int32]string{}, addrs: map[int32]string{}, stores: map[int32]*RaftStore{}}
	muxes := map[int32]*ControllerMux{}
	clients := map[int32]*tls.Config{}
	var voters []QuorumVoter
	for id := int32(1); id <= 3; id++ {
		cert := nodeCert()
		m, err := ListenController("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil)
		if err != nil {
			t.Fatal(err)
		}
		muxes[id], clients[id] = m, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
		q.dirs[id], q.addrs[id] = t.TempDir(), m.Addr().String()
		voters = append(voters, QuorumVoter{ID: id, Addr: q.addrs[id]})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	var mu sync.Mutex
	for id := int32(1); id <= 3; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := q.config(id, muxes[id], voters, nil)
			cfg.TLS = clients[id]
			s, err := OpenRaftStore(testCtx(t), cfg)
			if err != nil {
				muxes[id].Close()
				errs <- err
				return
			}
			mu.Lock()
			q.stores[id] = s
			mu.Unlock()
			t.Cleanup(func() { s.Close() })
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := q.follower().Apply(ctx, MetadataRecord{Type: ProducerIDsRecord, NextProducerID: 1000}); err != nil {
		t.Fatal(err)
	}
	if q.waitSame().NextProducerID != 1000 {
		t.Fatal("batch not replicated")
	}
	addrs := []string{q.addrs[1]}
	if _, err := ControllerCall(ctx, addrs, clients[2], CtrlRequest{Op: CtrlStatus}); err != nil {
		t.Fatalf("trusted client: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := ControllerCall(short, addrs, &tls.Config{RootCAs: pool}, CtrlRequest{Op: CtrlStatus}); err == nil {
		t.Fatal("client without a certificate served")
	}
	other := newRejectCA(t, "Quorum CA")
	certPEM, keyPEM := other.issueBoth(t, "intruder")
	pair, _ := tls.X509KeyPair(certPEM, keyPEM)
	if _, err := ControllerCall(short, addrs, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}, CtrlRequest{Op: CtrlRemove, ID: 3}); err == nil {
		t.Fatal("client with an untrusted certificate served")
	}
	if st := q.leader().QuorumStatus(); len(st.Members) != 3 {
		t.Fatalf("members %+v", st.Members)
	}
}

// issueBoth returns a certificate usable as server (127.0.0.1) and client.
func (ca *rejectCA) issueBoth(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

// TestRaftLogNodeIDs checks that the raft package's log records name
// members by node id.
func TestRaftLogNodeIDs(t *testing.T) {
	var buf bytesBuffer
	log := slog.New(raftLogHandler{slog.NewTextHandler(&buf, nil)}).With("node", uint64(3))
	log.Info("raft: membership changed", "change", "add voter 5 at h:1, remove 2", "voters", []uint64{1, 5}, "leader", uint64(1), "term", uint64(7))
	got := string(buf.b)
	for _, want := range []string{"node=2", `change="add voter 4 at h:1, remove 1"`, "voters=\"[0 4]\"", "leader=0", "term=7"} {
		if !strings.Contains(got, want) {
			t.Fatalf("log %q lacks %q", got, want)
		}
	}
}

// BenchmarkRaftStoreApply measures one-record batches applied through a
// single-voter store (the default single node), one at a time, each
// fsynced before Apply returns.
func BenchmarkRaftStoreApply(b *testing.B) {
	s, err := OpenRaftStore(context.Background(), RaftStoreConfig{NodeID: 1, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Apply(ctx, MetadataRecord{Type: ProducerIDsRecord, NextProducerID: int64(i+1) * 1000}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileStoreApply is the same on the single-node file log of
// earlier versions, for comparison.
func BenchmarkFileStoreApply(b *testing.B) {
	s, err := openFileMetadataStore(b.TempDir(), 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Apply(ctx, MetadataRecord{Type: ProducerIDsRecord, NextProducerID: int64(i+1) * 1000}); err != nil {
			b.Fatal(err)
		}
	}
}
