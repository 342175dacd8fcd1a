package storage

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestRollBySegmentBytes appends until several segments exist and checks
// that no segment file exceeds segment.bytes, that segments are named by
// the base offset of their first batch, and that they tile the offsets.
func TestRollBySegmentBytes(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 8 << 10
	l := openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	rng := rand.New(rand.NewPCG(3, 4))
	want := appendN(t, l, rng, 200, func(int) int64 { return 1 })
	bases := segmentFiles(t, dir)
	if len(bases) < 5 || l.NumSegments() != len(bases) {
		t.Fatalf("%d segment files, NumSegments %d; want >= 5 and equal", len(bases), l.NumSegments())
	}
	starts := map[int64]bool{}
	for _, a := range want {
		starts[a.base] = true
	}
	var total int64
	for _, b := range bases {
		info, err := os.Stat(segmentPrefix(dir, b) + logSuffix)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > cfg.SegmentBytes {
			t.Fatalf("segment %d is %d bytes, above segment.bytes %d", b, info.Size(), cfg.SegmentBytes)
		}
		if !starts[b] {
			t.Fatalf("segment %d does not start at a batch boundary", b)
		}
		total += info.Size()
	}
	if total != l.Size() {
		t.Fatalf("files hold %d bytes, Size() %d", total, l.Size())
	}
	checkReads(t, l, want)
}

// TestRollOversizedBatch appends a batch larger than segment.bytes: it
// goes alone into a fresh segment and the next append rolls again.
func TestRollOversizedBatch(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	small := makeBatch(t, spec{records: 1, valueBytes: 10}, 1)
	big := makeBatch(t, spec{records: 2, valueBytes: 6000}, 2)
	for _, b := range [][]byte{small, big, small} {
		if _, _, err := l.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.NumSegments(); n != 3 {
		t.Fatalf("NumSegments %d, want 3 (small | big | small)", n)
	}
}

// TestRollBySegmentMs injects the clock: batches stamped with the clock
// roll the segment once the first batch is older than segment.ms, and not
// before.
func TestRollBySegmentMs(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig()
	cfg.SegmentMs = time.Hour
	l := openLog(t, t.TempDir(), cfg, clock)
	defer mustClose(t, l)
	appendAt := func() {
		t.Helper()
		if _, _, err := l.Append(makeBatch(t, spec{records: 1, valueBytes: 10, baseTs: clock.Ms()}, 0)); err != nil {
			t.Fatal(err)
		}
	}
	appendAt()
	clock.Advance(59 * time.Minute)
	appendAt()
	if n := l.NumSegments(); n != 1 {
		t.Fatalf("rolled before segment.ms: %d segments", n)
	}
	clock.Advance(2 * time.Minute)
	appendAt()
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("NumSegments %d after segment.ms passed, want 2", n)
	}
	// The new segment's clock starts at its own first batch.
	clock.Advance(30 * time.Minute)
	appendAt()
	if n := l.NumSegments(); n != 2 {
		t.Fatalf("NumSegments %d, want 2", n)
	}
}

// TestSegmentJitter checks the jitter is deterministic and in range.
func TestSegmentJitter(t *testing.T) {
	s := &segment{baseOffset: 12345}
	j := s.jitter(time.Minute)
	if j < 0 || j >= time.Minute || j != s.jitter(time.Minute) {
		t.Fatalf("jitter %v out of [0, 1m) or not deterministic", j)
	}
	if s.jitter(0) != 0 {
		t.Fatal("jitter with segment.jitter.ms 0 must be 0")
	}
}

// TestRollByIndexFull limits segment.index.bytes to 4 entries with an
// entry per batch, so a segment holds at most 5 batches.
func TestRollByIndexFull(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentIndexBytes = 4 * offsetEntryBytes
	cfg.IndexIntervalBytes = 0
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	for i := 0; i < 20; i++ {
		if _, _, err := l.Append(makeBatch(t, spec{records: 1, valueBytes: 10}, 0)); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.mu.segments {
		if len(s.offsetIndex) > 4 || s.nextOffset-s.baseOffset > 5 {
			t.Fatalf("segment %d: %d index entries, %d batches", s.baseOffset, len(s.offsetIndex), s.nextOffset-s.baseOffset)
		}
	}
	if n := len(l.mu.segments); n != 4 {
		t.Fatalf("%d segments, want 4", n)
	}
}
