package storage

import (
	"errors"
	"math"
	"slices"
	"testing"
)

// TestLeaderEpochs appends batches from epochs 0, 0, 2, 2, 5 and checks
// the cache, Kafka's OffsetForLeaderEpoch answers, persistence across a
// clean and an unclean reopen, trimming by Truncate and by
// DeleteRecordsBefore.
func TestLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	if e, o := l.EndOffsetForEpoch(0); e != UndefinedEpoch || o != UndefinedEpochOffset {
		t.Fatalf("empty cache: (%d, %d)", e, o)
	}
	for _, epoch := range []int32{0, 0, 2, 2, 5} {
		if _, _, err := l.Append(makeBatch(t, spec{records: 10, epoch: epoch}, 0)); err != nil {
			t.Fatal(err)
		}
	}
	want := []EpochEntry{{0, 0}, {2, 20}, {5, 40}}
	check := func(l *Log, want []EpochEntry, cases [][3]int64) {
		t.Helper()
		if got := l.LeaderEpochs(); !slices.Equal(got, want) {
			t.Fatalf("LeaderEpochs %v, want %v", got, want)
		}
		for _, c := range cases {
			e, o := l.EndOffsetForEpoch(int32(c[0]))
			if int64(e) != c[1] || o != c[2] {
				t.Fatalf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", c[0], e, o, c[1], c[2])
			}
		}
	}
	cases := [][3]int64{
		{0, 0, 20},   // ends where epoch 2 starts
		{1, 0, 20},   // unknown epoch 1: largest epoch <= 1 is 0
		{2, 2, 40},   // ends where 5 starts
		{4, 2, 40},   // largest <= 4 is 2
		{5, 5, 50},   // latest epoch: log end offset
		{6, -1, -1},  // newer than any: undefined
		{-1, -1, -1}, // undefined epoch
	}
	check(l, want, cases)
	mustClose(t, l)
	l = openLog(t, dir, testConfig(), nil)
	check(l, want, cases)
	crash(t, l)
	l = openLog(t, dir, testConfig(), nil)
	check(l, want, cases)
	defer mustClose(t, l)

	if err := l.Truncate(40); err != nil {
		t.Fatal(err)
	}
	check(l, want[:2], [][3]int64{{2, 2, 40}, {5, -1, -1}})
	if err := l.DeleteRecordsBefore(25); err != nil {
		t.Fatal(err)
	}
	check(l, []EpochEntry{{2, 25}}, [][3]int64{{1, 1, 25}, {2, 2, 40}})
	// An epoch lower than the latest does not enter the cache.
	if _, _, err := l.Append(makeBatch(t, spec{records: 1, epoch: 1}, 0)); err != nil {
		t.Fatal(err)
	}
	check(l, []EpochEntry{{2, 25}}, nil)
}

// TestEpochCheckpointCorruptFailsOpen checks a damaged leader-epoch
// checkpoint is reported as corruption rather than guessed around.
func TestEpochCheckpointCorruptFailsOpen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	if _, _, err := l.Append(makeBatch(t, spec{records: 1, epoch: 3}, 0)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	if err := writeCheckpoint(dir, leaderEpochFile, []byte("0\n2\n3 0\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testConfig(), testLogger(t), nil); !IsCorruption(err) {
		t.Fatalf("Open with bad epoch checkpoint: %v, want corruption", err)
	}
}

// TestTruncate cuts the log inside an older segment (dropping later
// segments) and at a batch boundary in the active one; reads, the
// LogEndOffset and later appends follow, also after reopening.
func TestTruncate(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l := openLog(t, dir, cfg, nil)
	var want []appended
	for i := 0; i < 60; i++ {
		b := makeBatch(t, spec{records: 3, valueBytes: 200}, byte(i))
		base, last, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, appended{base: base, last: last, data: b})
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	segs := l.NumSegments()
	if err := l.Truncate(want[10].base + 1); err != nil { // inside batch 10: it goes
		t.Fatal(err)
	}
	if got := l.LogEndOffset(); got != want[10].base {
		t.Fatalf("LEO %d after truncating inside batch 10, want %d", got, want[10].base)
	}
	if l.NumSegments() >= segs {
		t.Fatalf("still %d segments", l.NumSegments())
	}
	checkReads(t, l, want[:10])
	if _, err := l.Read(want[10].base+1, 10, math.MaxInt64, true, nil); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read beyond truncated end: %v", err)
	}
	more := make([]appended, 0, 5)
	for i := 0; i < 5; i++ {
		b := makeBatch(t, spec{records: 2, valueBytes: 50}, byte(100+i))
		base := l.LogEndOffset()
		last, err := l.AppendWithOffsets(setBase(b, base))
		if err != nil {
			t.Fatal(err)
		}
		more = append(more, appended{base: base, last: last, data: b})
	}
	all := append(want[:10:10], more...)
	checkReads(t, l, all)
	crash(t, l)
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	checkReads(t, l, all)
	// Below the LogStartOffset: the log restarts empty there.
	if err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(2); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 2 || l.LogEndOffset() != 2 || l.Size() != 0 {
		t.Fatalf("after truncating below LSO: LSO %d LEO %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
}

// setBase writes base into a batch and returns it (for AppendWithOffsets).
func setBase(b []byte, base int64) []byte {
	setBatchBaseOffset(b, base)
	return b
}

// TestAppendWithOffsets keeps the given offsets, allows gaps and rejects
// offsets that go backwards.
func TestAppendWithOffsets(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), nil)
	defer mustClose(t, l)
	b1 := setBase(makeBatch(t, spec{records: 3}, 0), 0)
	b2 := setBase(makeBatch(t, spec{records: 2}, 1), 10) // gap 3..9
	last, err := l.AppendWithOffsets(append(append([]byte(nil), b1...), b2...))
	if err != nil || last != 11 || l.LogEndOffset() != 12 {
		t.Fatalf("AppendWithOffsets: last %d, LEO %d, %v", last, l.LogEndOffset(), err)
	}
	res, err := l.Read(5, 0, math.MaxInt64, true, nil) // in the gap: next batch
	if err != nil || res.FirstOffset != 10 {
		t.Fatalf("Read in gap: first %d, %v", res.FirstOffset, err)
	}
	if _, err := l.AppendWithOffsets(setBase(makeBatch(t, spec{records: 1}, 0), 11)); !errors.Is(err, ErrNonMonotonicOffset) {
		t.Fatalf("base below LEO: %v", err)
	}
	overlap := append(setBase(makeBatch(t, spec{records: 3}, 0), 20), setBase(makeBatch(t, spec{records: 1}, 0), 22)...)
	if _, err := l.AppendWithOffsets(overlap); !errors.Is(err, ErrNonMonotonicOffset) {
		t.Fatalf("overlapping batches: %v", err)
	}
	if l.LogEndOffset() != 12 {
		t.Fatalf("LEO %d after rejected appends", l.LogEndOffset())
	}
}

// TestAssignLeaderEpoch assigns epochs as a new leader does: the epoch
// starts at the log end offset, persists, answers OffsetForLeaderEpoch
// before any batch of it, ignores older epochs, and an unused entry at
// the log end is replaced by a newer one and dropped by recovery.
func TestAssignLeaderEpoch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	if err := l.AssignLeaderEpoch(0); err != nil {
		t.Fatal(err)
	}
	if got, want := l.LeaderEpochs(), []EpochEntry{{0, 0}}; !slices.Equal(got, want) {
		t.Fatalf("after assign 0: %v, want %v", got, want)
	}
	if _, _, err := l.Append(makeBatch(t, spec{records: 10, epoch: 0}, 0)); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(3); err != nil {
		t.Fatal(err)
	}
	if e, o := l.EndOffsetForEpoch(0); e != 0 || o != 10 {
		t.Fatalf("EndOffsetForEpoch(0) = (%d, %d), want (0, 10)", e, o)
	}
	if e, o := l.EndOffsetForEpoch(3); e != 3 || o != 10 {
		t.Fatalf("EndOffsetForEpoch(3) = (%d, %d), want (3, 10)", e, o)
	}
	if err := l.AssignLeaderEpoch(2); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(4); err != nil {
		t.Fatal(err)
	}
	// Epoch 3 wrote nothing: epoch 4 replaces its entry at offset 10.
	if got, want := l.LeaderEpochs(), []EpochEntry{{0, 0}, {4, 10}}; !slices.Equal(got, want) {
		t.Fatalf("after assign 2 and 4: %v, want %v", got, want)
	}
	mustClose(t, l)
	l = openLog(t, dir, testConfig(), nil)
	// Recovery drops the entry at the log end, which no batch follows.
	if got, want := l.LeaderEpochs(), []EpochEntry{{0, 0}}; !slices.Equal(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
	if err := l.AssignLeaderEpoch(4); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Append(makeBatch(t, spec{records: 5, epoch: 4}, 0)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	l = openLog(t, dir, testConfig(), nil)
	if got, want := l.LeaderEpochs(), []EpochEntry{{0, 0}, {4, 10}}; !slices.Equal(got, want) {
		t.Fatalf("after append and reopen: %v, want %v", got, want)
	}
	mustClose(t, l)
	if err := l.AssignLeaderEpoch(9); !errors.Is(err, ErrClosed) {
		t.Fatalf("assign on a closed log: %v, want ErrClosed", err)
	}
}

// TestTruncateAtLogEndDropsUnusedEpoch truncates at the log end: no data
// goes, but an epoch assigned there (a leader that wrote nothing before it
// became a follower) does, also after reopening.
func TestTruncateAtLogEndDropsUnusedEpoch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	if _, _, err := l.Append(makeBatch(t, spec{records: 2, valueBytes: 10, epoch: 1}, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignLeaderEpoch(3); err != nil {
		t.Fatal(err)
	}
	if got := l.LeaderEpochs(); len(got) != 2 || got[1] != (EpochEntry{LeaderEpoch: 3, StartOffset: 2}) {
		t.Fatalf("epochs %v", got)
	}
	if err := l.Truncate(2); err != nil {
		t.Fatal(err)
	}
	want := []EpochEntry{{LeaderEpoch: 1, StartOffset: 0}}
	if got := l.LeaderEpochs(); !slices.Equal(got, want) || l.LogEndOffset() != 2 {
		t.Fatalf("after truncating at the log end: epochs %v, LEO %d", got, l.LogEndOffset())
	}
	mustClose(t, l)
	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if got := l.LeaderEpochs(); !slices.Equal(got, want) {
		t.Fatalf("after reopening: epochs %v", got)
	}
}

// TestTruncateFullyAndStartAt restarts a log, empty, past its end, as a
// follower whose leader's log starts there does; appends continue there.
func TestTruncateFullyAndStartAt(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	if _, _, err := l.Append(makeBatch(t, spec{records: 3, valueBytes: 10, epoch: 0}, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 100 || l.DurableEndOffset() != 100 || len(l.LeaderEpochs()) != 0 {
		t.Fatalf("LSO %d LEO %d durable %d epochs %v", l.LogStartOffset(), l.LogEndOffset(), l.DurableEndOffset(), l.LeaderEpochs())
	}
	last, err := l.AppendWithOffsets(setBase(makeBatch(t, spec{records: 2, valueBytes: 10, epoch: 4}, 2), 100))
	if err != nil || last != 101 {
		t.Fatalf("append at 100: last %d, %v", last, err)
	}
	if l.DurableEndOffset() != 100 {
		t.Fatalf("durable end %d before a sync", l.DurableEndOffset())
	}
	if err := l.SyncTo(last); err != nil {
		t.Fatal(err)
	}
	if l.DurableEndOffset() != 102 {
		t.Fatalf("durable end %d after a sync", l.DurableEndOffset())
	}
	mustClose(t, l)
	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if l.LogStartOffset() != 100 || l.LogEndOffset() != 102 {
		t.Fatalf("after reopening: LSO %d LEO %d", l.LogStartOffset(), l.LogEndOffset())
	}
}
