package storage

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRetentionByTime stamps each segment's batches with the clock, then
// advances it: segments whose largest timestamp is older than
// retention.ms are deleted, oldest first, the LogStartOffset moves to the
// first remaining segment, and the files vanish after
// file.delete.delay.ms. When everything has expired the active segment is
// rolled and deleted too, leaving an empty log at the same LogEndOffset.
func TestRetentionByTime(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock()
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.RetentionMs = time.Hour
	cfg.FileDeleteDelay = time.Minute
	l := openLog(t, dir, cfg, clock)
	defer mustClose(t, l)
	// Three phases, 20 minutes apart, each filling a few segments.
	var phaseStart []int64
	for phase := 0; phase < 3; phase++ {
		phaseStart = append(phaseStart, l.LogEndOffset())
		for i := 0; i < 30; i++ {
			if _, _, err := l.Append(makeBatch(t, spec{records: 2, valueBytes: 300, baseTs: clock.Ms()}, 0)); err != nil {
				t.Fatal(err)
			}
		}
		// A new phase starts a new segment so phases do not share one.
		clock.Advance(20 * time.Minute)
		l.mu.RLock()
		active := l.mu.segments[len(l.mu.segments)-1]
		l.mu.RUnlock()
		l.appendMu.Lock()
		_, err := l.roll(active, l.LogEndOffset())
		l.appendMu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	// Now = 60 min after phase 0 began; its newest batch is 60 min - ε old.
	if n, err := l.EnforceRetention(); err != nil || n != 0 {
		t.Fatalf("EnforceRetention at 60m: %d, %v; want 0", n, err)
	}
	clock.Advance(10 * time.Minute) // phase 0 is 70 min old, phase 1 50 min.
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("EnforceRetention: %d, %v", n, err)
	}
	if got := l.LogStartOffset(); got != phaseStart[1] {
		t.Fatalf("LogStartOffset %d, want %d", got, phaseStart[1])
	}
	if _, err := l.Read(phaseStart[1]-1, 1000, math.MaxInt64, true, nil); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below LogStartOffset: %v", err)
	}
	deleted, _ := filepath.Glob(filepath.Join(dir, "*"+deletedSuffix))
	if len(deleted) == 0 {
		t.Fatal("no .deleted files during file.delete.delay.ms")
	}
	clock.Advance(time.Minute)
	if err := l.MaybeFlush(); err != nil {
		t.Fatal(err)
	}
	if deleted, _ := filepath.Glob(filepath.Join(dir, "*"+deletedSuffix)); len(deleted) != 0 {
		t.Fatalf("%d .deleted files left after the delay", len(deleted))
	}
	// Everything expires: only an empty active segment at LEO remains.
	clock.Advance(2 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 || l.Size() != 0 || l.LogStartOffset() != leo || l.LogEndOffset() != leo {
		t.Fatalf("after full expiry: %d segments, %d bytes, LSO %d, LEO %d; want 1, 0, %d, %d",
			l.NumSegments(), l.Size(), l.LogStartOffset(), l.LogEndOffset(), leo, leo)
	}
	if base, _, err := l.Append(makeBatch(t, spec{records: 1, baseTs: clock.Ms()}, 0)); err != nil || base != leo {
		t.Fatalf("append after expiry: base %d, %v; want %d", base, err, leo)
	}
}

// TestRetentionBySize deletes whole old segments, as Kafka does, while
// the log would still hold at least retention.bytes without them; it
// never deletes the active segment.
func TestRetentionBySize(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.RetentionMs = -1
	cfg.RetentionBytes = 10 << 10
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	rng := rand.New(rand.NewPCG(15, 16))
	want := appendN(t, l, rng, 200, func(int) int64 { return 1 })
	before := l.Size()
	n, err := l.EnforceRetention()
	if err != nil || n == 0 {
		t.Fatalf("EnforceRetention: %d, %v", n, err)
	}
	l.mu.RLock()
	first := l.mu.segments[0].size
	l.mu.RUnlock()
	if l.Size() < cfg.RetentionBytes || l.Size()-first >= cfg.RetentionBytes {
		t.Fatalf("%d of %d bytes left (first segment %d); want [retention.bytes, retention.bytes + first segment) with retention.bytes %d",
			l.Size(), before, first, cfg.RetentionBytes)
	}
	var kept []appended
	for _, a := range want {
		if a.base >= l.LogStartOffset() {
			kept = append(kept, a)
		}
	}
	checkReads(t, l, kept)
	cfg.RetentionBytes = 0
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 || l.LogEndOffset() != want[len(want)-1].last+1 {
		t.Fatalf("retention.bytes 0: %d segments, LEO %d", l.NumSegments(), l.LogEndOffset())
	}
}

// TestDeleteRecordsBeforePersists advances the LogStartOffset into the
// middle of a segment, checks reads below it fail and the older segments
// are gone, then reopens after a crash and after a clean close: the
// LogStartOffset survives both.
func TestDeleteRecordsBeforePersists(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l := openLog(t, dir, cfg, nil)
	rng := rand.New(rand.NewPCG(17, 18))
	want := appendN(t, l, rng, 100, func(int) int64 { return 1 })
	segsBefore := l.NumSegments()
	target := want[60].base + 1 // inside a batch
	if err := l.DeleteRecordsBefore(target); err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecordsBefore(l.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecordsBefore beyond LEO: %v", err)
	}
	check := func(l *Log) {
		t.Helper()
		if got := l.LogStartOffset(); got != target {
			t.Fatalf("LogStartOffset %d, want %d", got, target)
		}
		if l.NumSegments() >= segsBefore {
			t.Fatalf("%d segments, had %d: none deleted", l.NumSegments(), segsBefore)
		}
		if _, err := l.Read(target-1, 100, math.MaxInt64, true, nil); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read below LogStartOffset: %v", err)
		}
		checkReads(t, l, want[61:])
		res, err := l.Read(target, 0, math.MaxInt64, true, nil)
		if err != nil || res.FirstOffset != want[60].base {
			t.Fatalf("Read(LogStartOffset) first offset %d, %v; want the batch containing it", res.FirstOffset, err)
		}
	}
	check(l)
	crash(t, l)
	l = openLog(t, dir, cfg, nil)
	check(l)
	mustClose(t, l)
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	check(l)
	// Deleting up to the LEO empties the log but keeps the offsets going.
	leo := l.LogEndOffset()
	if err := l.DeleteRecordsBefore(leo); err != nil {
		t.Fatal(err)
	}
	if l.Size() != 0 || l.LogStartOffset() != leo || l.NumSegments() != 1 {
		t.Fatalf("after deleting all: size %d, LSO %d, %d segments", l.Size(), l.LogStartOffset(), l.NumSegments())
	}
	if _, err := os.Stat(filepath.Join(dir, logStartOffsetFile)); err != nil {
		t.Fatal(err)
	}
}
