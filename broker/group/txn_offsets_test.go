package group

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// marker writes a COMMIT or ABORT control record for producerID to the
// partition of group, as the transaction coordinator's marker would be,
// and reports it to the coordinator.
func (e *env) marker(group string, producerID int64, commit bool) {
	e.t.Helper()
	p := e.c.Partition(group)
	typ := uint16(0)
	if commit {
		typ = 1
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), typ)
	e.log.mu.Lock()
	e.log.parts[p] = append(e.log.parts[p], LogRecord{Key: key, Value: []byte{0, 0, 0, 0, 0, 0}, ProducerID: producerID, Transactional: true, Control: true})
	e.log.mu.Unlock()
	e.c.CompleteTxnOffsets(p, producerID, commit)
}

// txnCommit sends a TxnOffsetCommit v4 of one offset of t-1.
func (e *env) txnCommit(group string, producerID int64, member string, gen int32, offset int64) int16 {
	e.t.Helper()
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 4
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = "tx", group, producerID, 0
	r.MemberID, r.Generation = member, gen
	r.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 1, Offset: offset, LeaderEpoch: -1}}}}
	resp, wait := e.c.TxnOffsetCommit(r)
	if wait != nil {
		wait()
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// fetch returns the offset and error of t-1 in group, with or without
// require_stable.
func (e *env) fetch(group string, stable bool) (int64, int16) {
	e.t.Helper()
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 8
	f.RequireStable = stable
	f.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{1}}}}}
	r := e.c.OffsetFetch(f)
	if r.Groups[0].ErrorCode != 0 {
		e.t.Fatalf("fetch: group error %v", kerr.ErrorForCode(r.Groups[0].ErrorCode))
	}
	p := r.Groups[0].Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

func (e *env) wantOffset(group string, want int64) {
	e.t.Helper()
	if got, code := e.fetch(group, false); got != want || code != 0 {
		e.t.Fatalf("offset of %s: %d (%v), want %d", group, got, kerr.ErrorForCode(code), want)
	}
}

func (e *env) wantUnstable(group string, unstable bool) {
	e.t.Helper()
	_, code := e.fetch(group, true)
	if got := code == kerr.UnstableOffsetCommit.Code; got != unstable {
		e.t.Fatalf("require_stable fetch of %s: %v, want unstable=%v", group, kerr.ErrorForCode(code), unstable)
	}
}

// TestTxnOffsetsCommitAbort checks that transactional offsets stay
// invisible while pending (UNSTABLE_OFFSET_COMMIT with require_stable),
// replace the committed offset on commit, and are dropped on abort.
func TestTxnOffsetsCommitAbort(t *testing.T) {
	e := newEnv(t)
	if code := e.commit("g", "", -1); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	e.wantOffset("g", 42)

	if code := e.txnCommit("g", 7, "", -1, 100); code != 0 {
		t.Fatalf("txn commit: %v", kerr.ErrorForCode(code))
	}
	e.wantOffset("g", 42)
	e.wantUnstable("g", true)
	e.marker("g", 7, true)
	e.wantOffset("g", 100)
	e.wantUnstable("g", false)

	if code := e.txnCommit("g", 7, "", -1, 200); code != 0 {
		t.Fatalf("txn commit: %v", kerr.ErrorForCode(code))
	}
	e.marker("g", 7, false)
	e.wantOffset("g", 100)
	e.wantUnstable("g", false)

	// A marker of another producer leaves a pending commit alone.
	e.txnCommit("g", 7, "", -1, 300)
	e.marker("g", 8, true)
	e.wantUnstable("g", true)
	e.marker("g", 7, true)
	e.wantOffset("g", 300)
}

// TestTxnOffsetsLaterCommitWins checks Kafka's rule that a committed
// transaction does not replace an offset committed after its offsets
// were written.
func TestTxnOffsetsLaterCommitWins(t *testing.T) {
	e := newEnv(t)
	e.txnCommit("g", 7, "", -1, 100)
	e.commit("g", "", -1) // offset 42, written after the transaction's
	e.marker("g", 7, true)
	e.wantOffset("g", 42)

	e.commit("g", "", -1)
	e.txnCommit("g", 7, "", -1, 500)
	e.marker("g", 7, true)
	e.wantOffset("g", 500)
}

// TestTxnOffsetsReload checks that a reload rebuilds pending offsets from
// the transactional batches, resolves them with the markers found later
// in the log, and keeps those of a still-open transaction pending until
// its marker arrives.
func TestTxnOffsetsReload(t *testing.T) {
	e := newEnv(t)
	e.commit("g", "", -1)
	e.txnCommit("g", 7, "", -1, 100)
	e.marker("g", 7, true)
	e.txnCommit("g", 7, "", -1, 200)
	e.marker("g", 7, false)
	e.txnCommit("g", 9, "", -1, 300) // still open

	e.c = e.newCoordinator()
	if err := e.c.Load(); err != nil {
		t.Fatal(err)
	}
	e.wantOffset("g", 100)
	e.wantUnstable("g", true)
	e.marker("g", 9, true)
	e.wantOffset("g", 300)

	// The marker is in the log now: a second reload sees it.
	e.c = e.newCoordinator()
	if err := e.c.Load(); err != nil {
		t.Fatal(err)
	}
	e.wantOffset("g", 300)
	e.wantUnstable("g", false)
}

// TestTxnOffsetsValidation checks the member and generation checks of
// TxnOffsetCommit v3+ (KIP-447) against a classic group, and that a
// commit without them is accepted while the group has members.
func TestTxnOffsetsValidation(t *testing.T) {
	e := newEnv(t)
	if code := e.txnCommit("new", 7, "", 3, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("generation for a missing group: %v", kerr.ErrorForCode(code))
	}
	a, ch := e.join("g")
	e.mustReady(ch)
	waitSync(t, e.sync("g", a, 1, map[string]string{a: "A"}))
	for _, tc := range []struct {
		member string
		gen    int32
		want   *kerr.Error
	}{
		{a, 1, nil},
		{a, 0, kerr.IllegalGeneration},
		{"stranger", 1, kerr.UnknownMemberID},
		{"", -1, nil},
	} {
		got := e.txnCommit("g", 7, tc.member, tc.gen, 5)
		if want := int16(0); tc.want != nil && got != tc.want.Code || tc.want == nil && got != want {
			t.Errorf("member %q generation %d: %v, want %v", tc.member, tc.gen, kerr.ErrorForCode(got), tc.want)
		}
	}
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 4
	r.Group, r.ProducerID, r.MemberID, r.Generation = "g", 7, a, 1
	r.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "missing", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0}}}}
	if resp, _ := e.c.TxnOffsetCommit(r); resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %+v", resp.Topics)
	}
	if code := e.txnCommit("", 7, "", -1, 1); code != kerr.InvalidGroupID.Code {
		t.Fatalf("empty group id: %v", kerr.ErrorForCode(code))
	}
}

// TestTxnOffsetsKeepGroup checks that offset retention does not delete a
// group whose only offsets are pending in a transaction.
func TestTxnOffsetsKeepGroup(t *testing.T) {
	e := newEnv(t)
	e.txnCommit("s", 7, "", -1, 10)
	e.now = e.now.AddDate(0, 1, 0)
	e.c.ExpireOffsets(e.now)
	e.marker("s", 7, true)
	e.wantOffset("s", 10)
}
