package storage

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skein-streaming/skein/protocol/records"
)

// swapSteps are the points of a swap where a crash is simulated, in
// order; the commit point is the rename of the .log to .swap.
var swapSteps = []struct {
	name      string
	committed bool
}{
	{"before-swap", false},
	{"manifest", false},
	{"swap.index", false},
	{"swap.timeindex", false},
	{"swap.log", true},
	{"committed", true},
	{"retire", true},
	{"final.index", true},
	{"final.timeindex", true},
	{"final.log", true},
	{"exchanged", true},
}

// crashFixture writes a log whose first pass swaps several groups of
// several segments each, and returns it with the records written and
// read before cleaning.
func crashFixture(t *testing.T, dir string) (*Log, Config, *writer, []rec) {
	t.Helper()
	cfg := compactConfig()
	l := openLog(t, dir, cfg, nil)
	w := newWriter(t, l, records.CodecZstd)
	// Keys written once, so the first cleaned segment is not empty.
	for i := 0; i < 30; i++ {
		w.append(int64(i), kv(fmt.Sprintf("unique%d", i), "once"))
	}
	for i := 0; i < 400; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%17), fmt.Sprintf("value %d %s", i, make([]byte, 60))), tombstone(fmt.Sprintf("t%d", i%3)))
	}
	sealAll(t, l)
	// Larger segments from now on, so each cleaned segment groups many
	// of the small ones.
	cfg.SegmentBytes = 24 << 10
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return l, cfg, w, readAll(t, l)
}

// TestCompactCrashAtEverySwapStep stops the first group's swap at each
// step as a crash would (files left exactly as they are, no further
// fsync or cleanup) and reopens the directory. Before the commit point
// recovery must give back the log as it was; after it, the log with the
// first group cleaned and the rest as it was. Either way no newest record
// of any key is lost, no .cleaned, .swap or manifest file is left, and a
// new pass then reaches the fully cleaned log.
func TestCompactCrashAtEverySwapStep(t *testing.T) {
	for _, step := range swapSteps {
		t.Run(step.name, func(t *testing.T) {
			dir := t.TempDir()
			l, cfg, w, before := crashFixture(t, dir)
			hit := false
			l.cleaner.crashAt = func(s string) bool {
				if s == step.name && !hit {
					hit = true
					return true
				}
				return false
			}
			_, err := l.Compact(math.MaxInt64, NewCleaner(CleanerConfig{}))
			if !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("Compact: %v, want the simulated crash", err)
			}
			crash(t, l)

			l = openLog(t, dir, cfg, nil)
			defer mustClose(t, l)
			checkNoSwapLeftovers(t, dir)
			got := readAll(t, l)
			want := before
			if step.committed {
				// The first group is cleaned: everything below the second
				// segment's base offset.
				l.mu.RLock()
				groupEnd := l.mu.segments[1].baseOffset
				l.mu.RUnlock()
				want = nil
				for _, r := range newestPerKey(w.written, math.MaxInt64, false) {
					if r.offset < groupEnd {
						want = append(want, r)
					}
				}
				for _, r := range before {
					if r.offset >= groupEnd {
						want = append(want, r)
					}
				}
				if len(want) >= len(before) {
					t.Fatalf("the first group removes nothing: %d records, %d before", len(want), len(before))
				}
			}
			checkRecords(t, "after recovery", got, want)
			checkReadEveryOffset(t, l, want)
			mustCompact(t, l, NewCleaner(CleanerConfig{}))
			// Timestamps are far older than delete.retention.ms: the
			// newest records that are tombstones go too.
			checkRecords(t, "after a new pass", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), true))
		})
	}
}

func checkNoSwapLeftovers(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix) || n == cleanerSwapFile || strings.HasSuffix(n, deletedSuffix) {
			t.Fatalf("leftover %s after Open", n)
		}
	}
}

// TestCompactRecoverSwapWithUnrenamedIndexes: after a power loss the
// .log's rename to .swap may have reached the disk while the index
// files' renames did not (they are still .cleaned). Recovery completes
// the swap from the .cleaned index files.
func TestCompactRecoverSwapWithUnrenamedIndexes(t *testing.T) {
	dir := t.TempDir()
	l, cfg, w, _ := crashFixture(t, dir)
	l.cleaner.crashAt = func(s string) bool { return s == "swap.log" }
	if _, err := l.Compact(math.MaxInt64, NewCleaner(CleanerConfig{})); !errors.Is(err, errSimulatedCrash) {
		t.Fatal(err)
	}
	crash(t, l)
	prefix := segmentPrefix(dir, 0)
	for _, suf := range []string{offsetIndexSuffix, timeIndexSuffix} {
		if err := os.Rename(prefix+suf+swapSuffix, prefix+suf+cleanedSuffix); err != nil {
			t.Fatal(err)
		}
	}
	l = openLog(t, dir, cfg, nil)
	checkNoSwapLeftovers(t, dir)
	if info, err := os.Stat(prefix + timeIndexSuffix); err != nil || info.Size() == 0 {
		t.Fatalf("time index of the cleaned segment not in place: %v", err)
	}
	l.mu.RLock()
	first := l.mu.segments[0]
	l.mu.RUnlock()
	if len(first.timeIndex) == 0 || first.size == 0 {
		t.Fatalf("cleaned segment: %d bytes, %d time index entries", first.size, len(first.timeIndex))
	}
	mustCompact(t, l, NewCleaner(CleanerConfig{}))
	checkRecords(t, "completed", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), true))
	mustClose(t, l)
}

// TestCompactSwapFileWithoutManifest: a .swap file with no manifest to
// say what it replaces cannot be placed safely; Open refuses with a
// corruption error rather than guess.
func TestCompactSwapFileWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	l, cfg, _, _ := crashFixture(t, dir)
	l.cleaner.crashAt = func(s string) bool { return s == "swap.log" }
	if _, err := l.Compact(math.MaxInt64, NewCleaner(CleanerConfig{})); !errors.Is(err, errSimulatedCrash) {
		t.Fatal(err)
	}
	crash(t, l)
	if err := os.Remove(filepath.Join(dir, cleanerSwapFile)); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(dir, cfg, testLogger(t), nil); !IsCorruption(err) {
		if err == nil {
			l.Close()
		}
		t.Fatalf("Open: %v, want a corruption error", err)
	}
}

// TestCompactStaleManifest: a manifest whose swap completed (its removal
// was not yet durable at the crash) is harmless: Open removes it and
// changes nothing else.
func TestCompactStaleManifest(t *testing.T) {
	dir := t.TempDir()
	l, cfg, w, _ := crashFixture(t, dir)
	mustCompact(t, l, NewCleaner(CleanerConfig{}))
	want := newestPerKey(w.written, l.LogEndOffset(), true)
	l.mu.RLock()
	g := []cleanSource{{base: l.mu.segments[0].baseOffset}, {base: l.mu.segments[1].baseOffset}}
	l.mu.RUnlock()
	crash(t, l)
	if err := writeCheckpoint(dir, cleanerSwapFile, encodeSwapManifest(g)); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	checkNoSwapLeftovers(t, dir)
	checkRecords(t, "after a stale manifest", readAll(t, l), want)
}
