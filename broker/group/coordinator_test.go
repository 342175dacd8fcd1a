package group

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// memLog is an in-memory __consumer_offsets.
type memLog struct {
	mu    sync.Mutex
	parts map[int32][]LogRecord
}

func (l *memLog) Append(p int32, recs []Record) (int64, error) {
	return l.append(p, -1, false, recs)
}

func (l *memLog) AppendTxn(p int32, producerID int64, _ int16, recs []Record) (int64, error) {
	return l.append(p, producerID, true, recs)
}

func (l *memLog) append(p int32, producerID int64, txn bool, recs []Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		l.parts[p] = append(l.parts[p], LogRecord{Key: r.Key, Value: r.Value, ProducerID: producerID, Transactional: txn})
	}
	return int64(len(l.parts[p]) - 1), nil
}

func (l *memLog) Sync(int32, int64) error { return nil }

func (l *memLog) Replay(p int32, fn func(r LogRecord) error) error {
	l.mu.Lock()
	recs := append([]LogRecord(nil), l.parts[p]...)
	l.mu.Unlock()
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

type memTopics map[string]TopicInfo

func (m memTopics) Topic(name string) (TopicInfo, bool) { t, ok := m[name]; return t, ok }
func (m memTopics) All() []TopicInfo {
	var out []TopicInfo
	for _, t := range m {
		out = append(out, t)
	}
	return out
}

// env is a coordinator on a fake clock.
type env struct {
	t   *testing.T
	c   *Coordinator
	log *memLog
	now time.Time
	ids int
	top memTopics
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, log: &memLog{parts: map[int32][]LogRecord{}}, now: time.Unix(1000, 0),
		top: memTopics{"t": {Name: "t", ID: [16]byte{1}, Partitions: 4}, "u": {Name: "u", ID: [16]byte{2}, Partitions: 2}}}
	e.c = e.newCoordinator()
	return e
}

func (e *env) newCoordinator() *Coordinator {
	return New(Config{Log: e.log, Topics: e.top, Now: func() time.Time { return e.now }, InitialRebalanceDelay: 0,
		NewID: func() string { e.ids++; return strconv.Itoa(e.ids) }})
}

// advance moves the clock and runs the expirations due.
func (e *env) advance(d time.Duration) {
	e.now = e.now.Add(d)
	e.c.Tick(e.now)
}

func protocols(names ...string) []kmsg.JoinGroupRequestProtocol {
	var out []kmsg.JoinGroupRequestProtocol
	for _, n := range names {
		out = append(out, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: []byte(n)})
	}
	return out
}

func newJoin(group, member, instance string, protos ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group, r.MemberID = group, member
	if instance != "" {
		r.InstanceID = kmsg.StringPtr(instance)
	}
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 30000
	r.ProtocolType = "consumer"
	if len(protos) == 0 {
		protos = []string{"range"}
	}
	r.Protocols = protocols(protos...)
	return r
}

// ready returns the response on ch if there is one.
func ready[T any](ch <-chan T) (T, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

func (e *env) mustReady(ch <-chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	e.t.Helper()
	r, ok := ready(ch)
	if !ok {
		e.t.Fatal("join still waiting")
	}
	return r
}

// join makes a dynamic member join (through MEMBER_ID_REQUIRED) and
// returns its channel.
func (e *env) join(group string, protos ...string) (string, <-chan *kmsg.JoinGroupResponse) {
	e.t.Helper()
	r := e.mustReady(e.c.JoinGroup(newJoin(group, "", "", protos...), "client", "/127.0.0.1"))
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		e.t.Fatalf("first join: error %d member %q, want MEMBER_ID_REQUIRED", r.ErrorCode, r.MemberID)
	}
	return r.MemberID, e.c.JoinGroup(newJoin(group, r.MemberID, "", protos...), "client", "/127.0.0.1")
}

func (e *env) sync(group, member string, gen int32, assign map[string]string) <-chan *kmsg.SyncGroupResponse {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	return e.c.SyncGroup(r)
}

func (e *env) heartbeat(group, member string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Group, r.MemberID, r.Generation = group, member, gen
	return e.c.Heartbeat(r).ErrorCode
}

// waitSync waits for a sync response delivered by a background fsync.
func waitSync(t *testing.T, ch <-chan *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("sync not answered")
		return nil
	}
}

// TestJoinSyncHeartbeat drives one member through MEMBER_ID_REQUIRED, a
// join, the leader's sync and heartbeats, then a second member's join,
// which makes the first one's heartbeat answer REBALANCE_IN_PROGRESS.
func TestJoinSyncHeartbeat(t *testing.T) {
	e := newEnv(t)
	a, ch := e.join("g")
	ja := e.mustReady(ch)
	if ja.ErrorCode != 0 || ja.LeaderID != a || ja.Generation != 1 || len(ja.Members) != 1 || *ja.Protocol != "range" {
		t.Fatalf("join: %+v", ja)
	}
	sa := waitSync(t, e.sync("g", a, 1, map[string]string{a: "A"}))
	if sa.ErrorCode != 0 || string(sa.MemberAssignment) != "A" {
		t.Fatalf("sync: %+v", sa)
	}
	if code := e.heartbeat("g", a, 1); code != 0 {
		t.Fatalf("heartbeat: %v", kerr.ErrorForCode(code))
	}
	if code := e.heartbeat("g", a, 0); code != kerr.IllegalGeneration.Code {
		t.Fatalf("stale heartbeat: %v", kerr.ErrorForCode(code))
	}
	if code := e.heartbeat("g", "nobody", 1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown heartbeat: %v", kerr.ErrorForCode(code))
	}
	b, chB := e.join("g")
	if _, ok := ready(chB); ok {
		t.Fatal("second member's join completed before the first rejoined")
	}
	if code := e.heartbeat("g", a, 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %v", kerr.ErrorForCode(code))
	}
	ja2 := e.mustReady(e.c.JoinGroup(newJoin("g", a, ""), "client", "/127.0.0.1"))
	jb := e.mustReady(chB)
	if ja2.Generation != 2 || jb.Generation != 2 || ja2.LeaderID != a || len(ja2.Members) != 2 || len(jb.Members) != 0 {
		t.Fatalf("rejoin: leader %+v follower %+v", ja2, jb)
	}
	fb := e.sync("g", b, 2, nil)
	if _, ok := ready(fb); ok {
		t.Fatal("follower sync answered before the leader's")
	}
	waitSync(t, e.sync("g", a, 2, map[string]string{a: "A2", b: "B2"}))
	if r := waitSync(t, fb); string(r.MemberAssignment) != "B2" {
		t.Fatalf("follower assignment %q", r.MemberAssignment)
	}
	// A commit from the old generation is fenced.
	if code := e.commit("g", a, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("stale commit: %v", kerr.ErrorForCode(code))
	}
	if code := e.commit("g", "stranger", 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member commit: %v", kerr.ErrorForCode(code))
	}
	if code := e.commit("g", "", -1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("simple commit to a group with members: %v", kerr.ErrorForCode(code))
	}
	if code := e.commit("g", a, 2); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
}

func (e *env) commit(group, member string, gen int32) int16 {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, member, gen
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 42, LeaderEpoch: -1}}}}
	resp, wait := e.c.OffsetCommit(r)
	if wait != nil {
		wait()
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestSessionTimeoutRemovesMember checks that a member that stops
// heartbeating is removed after its session timeout and the group
// rebalances without it, while the other member keeps its session alive.
func TestSessionTimeoutRemovesMember(t *testing.T) {
	e := newEnv(t)
	a, chA := e.join("g")
	e.mustReady(chA)
	waitSync(t, e.sync("g", a, 1, nil))
	b, chB := e.join("g")
	chA2 := e.c.JoinGroup(newJoin("g", a, ""), "client", "")
	e.mustReady(chA2)
	e.mustReady(chB)
	waitSync(t, e.sync("g", a, 2, nil))
	waitSync(t, e.sync("g", b, 2, nil))
	for i := 0; i < 2; i++ {
		e.advance(4 * time.Second)
		if code := e.heartbeat("g", a, 2); code != 0 {
			t.Fatalf("heartbeat %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	e.advance(4 * time.Second)
	// b has not heartbeaten for 12s > 10s: removed, and a must rejoin.
	if code := e.heartbeat("g", b, 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %v", kerr.ErrorForCode(code))
	}
	if code := e.heartbeat("g", a, 2); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("survivor heartbeat: %v", kerr.ErrorForCode(code))
	}
	j := e.mustReady(e.c.JoinGroup(newJoin("g", a, ""), "client", ""))
	if j.Generation != 3 || len(j.Members) != 1 {
		t.Fatalf("rejoin after expiry: %+v", j)
	}
}

// TestRebalanceTimeout checks that a member that does not rejoin within
// the rebalance timeout is dropped and the rebalance completes without it.
func TestRebalanceTimeout(t *testing.T) {
	e := newEnv(t)
	a, chA := e.join("g")
	e.mustReady(chA)
	waitSync(t, e.sync("g", a, 1, nil))
	b, chB := e.join("g")
	chA2 := e.c.JoinGroup(newJoin("g", a, ""), "client", "")
	e.mustReady(chA2)
	e.mustReady(chB)
	waitSync(t, e.sync("g", a, 2, nil))
	waitSync(t, e.sync("g", b, 2, nil))
	// a rejoins (leader rejoin forces a rebalance); b never does.
	chA3 := e.c.JoinGroup(newJoin("g", a, ""), "client", "")
	for i := 0; i < 29; i++ {
		e.advance(time.Second)
		// b stays alive by heartbeating, but never rejoins.
		if code := e.heartbeat("g", b, 2); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat during rebalance: %v", kerr.ErrorForCode(code))
		}
	}
	if _, ok := ready(chA3); ok {
		t.Fatal("rebalance completed before its timeout")
	}
	e.advance(2 * time.Second)
	j := e.mustReady(chA3)
	if j.ErrorCode != 0 || j.Generation != 3 || len(j.Members) != 1 {
		t.Fatalf("join after rebalance timeout: %+v", j)
	}
	if code := e.heartbeat("g", b, 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("dropped member: %v", kerr.ErrorForCode(code))
	}
}

// TestStaticMemberRejoin checks KIP-345: a static member rejoining a
// stable group with a new member id keeps the generation and assignment,
// and its old member id is fenced.
func TestStaticMemberRejoin(t *testing.T) {
	e := newEnv(t)
	j := e.mustReady(e.c.JoinGroup(newJoin("g", "", "inst"), "client", ""))
	if j.ErrorCode != 0 || j.Generation != 1 {
		t.Fatalf("static join: %+v", j)
	}
	old := j.MemberID
	waitSync(t, e.sync("g", old, 1, map[string]string{old: "A"}))
	ch := e.c.JoinGroup(newJoin("g", "", "inst"), "client", "")
	var j2 *kmsg.JoinGroupResponse
	select {
	case j2 = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("static rejoin not answered")
	}
	if j2.ErrorCode != 0 || j2.Generation != 1 || j2.MemberID == old || j2.LeaderID != old {
		t.Fatalf("static rejoin: %+v", j2)
	}
	s := waitSync(t, e.sync("g", j2.MemberID, 1, nil))
	if string(s.MemberAssignment) != "A" {
		t.Fatalf("assignment after static rejoin %q", s.MemberAssignment)
	}
	r := kmsg.NewPtrHeartbeatRequest()
	r.Group, r.MemberID, r.Generation, r.InstanceID = "g", old, 1, kmsg.StringPtr("inst")
	if code := e.c.Heartbeat(r).ErrorCode; code != kerr.FencedInstanceID.Code {
		t.Fatalf("old instance heartbeat: %v", kerr.ErrorForCode(code))
	}
	if e.c.Generation("g") != 1 {
		t.Fatalf("generation %d", e.c.Generation("g"))
	}
}

// TestProtocolSelection checks the vote over protocols all members
// support, and INCONSISTENT_GROUP_PROTOCOL for a member with none in
// common.
func TestProtocolSelection(t *testing.T) {
	e := newEnv(t)
	a, chA := e.join("g", "roundrobin", "range")
	e.mustReady(chA)
	waitSync(t, e.sync("g", a, 1, nil))
	_, chB := e.join("g", "range", "roundrobin")
	_, chC := e.join("g", "range", "sticky")
	chA2 := e.c.JoinGroup(newJoin("g", a, "", "roundrobin", "range"), "client", "")
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{chA2, chB, chC} {
		if r := e.mustReady(ch); *r.Protocol != "range" {
			t.Fatalf("protocol %q, want range", *r.Protocol)
		}
	}
	r := e.mustReady(e.c.JoinGroup(newJoin("g", "", "", "other"), "client", ""))
	if r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("join with no common protocol: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	bad := newJoin("g", "", "")
	bad.SessionTimeoutMillis = 1000
	if r := e.mustReady(e.c.JoinGroup(bad, "client", "")); r.ErrorCode != kerr.InvalidSessionTimeout.Code {
		t.Fatalf("short session: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestLeaveGroupBatch checks a batched LeaveGroup (v3+) with a dynamic
// member, a static member by instance id only, and an unknown member.
func TestLeaveGroupBatch(t *testing.T) {
	e := newEnv(t)
	a, chA := e.join("g")
	e.mustReady(chA)
	waitSync(t, e.sync("g", a, 1, nil))
	chS := e.c.JoinGroup(newJoin("g", "", "inst"), "client", "")
	e.mustReady(e.c.JoinGroup(newJoin("g", a, ""), "client", ""))
	e.mustReady(chS)
	r := kmsg.NewPtrLeaveGroupRequest()
	r.Version = 5
	r.Group = "g"
	r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: a}, {InstanceID: kmsg.StringPtr("inst")}, {MemberID: "ghost"}}
	resp := e.c.LeaveGroup(r)
	want := []int16{0, 0, kerr.UnknownMemberID.Code}
	for i, m := range resp.Members {
		if m.ErrorCode != want[i] {
			t.Fatalf("member %d: %v, want %v", i, kerr.ErrorForCode(m.ErrorCode), kerr.ErrorForCode(want[i]))
		}
	}
	d := e.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Groups: []string{"g"}})
	if d.Groups[0].State != "Empty" || len(d.Groups[0].Members) != 0 {
		t.Fatalf("after leave: %+v", d.Groups[0])
	}
}

// TestOffsetsCommitFetchDeleteReload checks simple commits, fetches,
// OffsetDelete and DeleteGroups, and that a new coordinator replaying the
// log sees exactly the surviving offsets and groups.
func TestOffsetsCommitFetchDeleteReload(t *testing.T) {
	e := newEnv(t)
	for _, g := range []string{"a", "b"} {
		if code := e.commit(g, "", -1); code != 0 {
			t.Fatalf("simple commit: %v", kerr.ErrorForCode(code))
		}
	}
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.Generation = "a", -1
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "u", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 7}}}, {Topic: "missing", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 7}}}}
	resp, wait := e.c.OffsetCommit(r)
	wait()
	if resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatal("commit to a missing topic accepted")
	}
	del, wait := e.c.OffsetDelete(&kmsg.OffsetDeleteRequest{Group: "a", Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: "u", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}})
	wait()
	if del.ErrorCode != 0 || del.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("offset delete: %+v", del)
	}
	dg, wait := e.c.DeleteGroups(&kmsg.DeleteGroupsRequest{Groups: []string{"b", "zzz"}})
	wait()
	if dg.Groups[0].ErrorCode != 0 || dg.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("delete groups: %+v", dg)
	}
	e.c = e.newCoordinator()
	if err := e.c.Load(); err != nil {
		t.Fatal(err)
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 8
	f.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "a"}, {Group: "b"}}
	fr := e.c.OffsetFetch(f)
	a, b := fr.Groups[0], fr.Groups[1]
	if len(a.Topics) != 1 || a.Topics[0].Topic != "t" || a.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("group a after reload: %+v", a.Topics)
	}
	if len(b.Topics) != 0 {
		t.Fatalf("deleted group b after reload: %+v", b.Topics)
	}
	lg := e.c.ListGroups(kmsg.NewPtrListGroupsRequest())
	if len(lg.Groups) != 1 || lg.Groups[0].Group != "a" {
		t.Fatalf("groups after reload: %+v", lg.Groups)
	}
}

// TestOffsetRetention checks that offsets of a simple group expire after
// offsets.retention.minutes and the group goes with them.
func TestOffsetRetention(t *testing.T) {
	e := newEnv(t)
	e.commit("s", "", -1)
	e.now = e.now.Add(7*24*time.Hour - time.Minute)
	e.c.ExpireOffsets(e.now)
	if len(e.c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups) != 1 {
		t.Fatal("offsets expired early")
	}
	e.now = e.now.Add(2 * time.Minute)
	e.c.ExpireOffsets(e.now)
	if n := len(e.c.ListGroups(kmsg.NewPtrListGroupsRequest()).Groups); n != 0 {
		t.Fatalf("%d groups after retention", n)
	}
}

// TestPartitionFor checks the group → partition mapping against values
// computed with Java's String.hashCode.
func TestPartitionFor(t *testing.T) {
	for _, tc := range []struct {
		group string
		want  int32
	}{
		{"", 0},
		{"a", 47},                 // "a".hashCode() = 97
		{"group", 47},             // 98629247
		{"my-group", 12},          // -1906497762
		{"polygenelubricants", 0}, // hashCode = Integer.MIN_VALUE → abs → 0
	} {
		if got := PartitionFor(tc.group, 50); got != tc.want {
			t.Errorf("PartitionFor(%q) = %d, want %d", tc.group, got, tc.want)
		}
	}
}
