package storage

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestReadEveryOffsetThousandsOfBatches appends 3000 batches of varied
// size over many segments and reads from every offset, before and after
// a crash (which makes Open rebuild the indexes by scanning) and after a
// clean reopen (which loads the index files).
func TestReadEveryOffsetThousandsOfBatches(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	cfg := testConfig()
	cfg.SegmentBytes = 256 << 10
	cfg.IndexIntervalBytes = 2048
	l := openLog(t, dir, cfg, nil)
	want := appendN(t, l, rng, 3000, func(i int) int64 { return int64(i) })
	if l.NumSegments() < 4 {
		t.Fatalf("only %d segments", l.NumSegments())
	}
	checkReads(t, l, want)
	crash(t, l)

	l = openLog(t, dir, cfg, nil)
	if l.stats.scannedSegments == 0 || l.stats.truncatedBytes != 0 {
		t.Fatalf("unclean open: scanned %d segments, truncated %d bytes", l.stats.scannedSegments, l.stats.truncatedBytes)
	}
	checkReads(t, l, want)
	mustClose(t, l)

	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	if l.stats.scannedSegments != 0 {
		t.Fatalf("clean open scanned %d segments", l.stats.scannedSegments)
	}
	checkReads(t, l, want)
}

// TestRecoveryTornTail cuts the active segment in the middle of its last
// batch, as a crash during a write would: recovery drops that batch only,
// keeps the earlier ones, and appends continue at its base offset.
func TestRecoveryTornTail(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	l := openLog(t, dir, testConfig(), nil)
	want := appendN(t, l, rng, 120, func(int) int64 { return 10 })
	crash(t, l)

	path := lastSegmentPath(t, dir)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	lastBatch := want[len(want)-1]
	cut := info.Size() - int64(len(lastBatch.data))/2
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if got := l.LogEndOffset(); got != lastBatch.base {
		t.Fatalf("LogEndOffset %d after torn tail, want %d", got, lastBatch.base)
	}
	if l.stats.truncatedBytes != int64(len(lastBatch.data))-int64(len(lastBatch.data))/2 {
		t.Fatalf("truncated %d bytes", l.stats.truncatedBytes)
	}
	checkReads(t, l, want[:len(want)-1])
	more := appendN(t, l, rng, 5, func(int) int64 { return 11 })
	if more[0].base != lastBatch.base {
		t.Fatalf("next append at %d, want %d", more[0].base, lastBatch.base)
	}
	checkReads(t, l, append(want[:len(want)-1:len(want)-1], more...))
}

// TestRecoveryCorruptBatch flips one byte inside a batch's records so
// its CRC no longer matches, then reopens without a clean shutdown. That
// batch and everything after it are dropped; everything before is intact
// and appends continue at the dropped batch's base offset. Segments below
// the recovery point are trusted (as in Kafka), so damage in an older
// segment is found only when the recovery point is unknown and recovery
// scans every segment; then the later segments are dropped too.
func TestRecoveryCorruptBatch(t *testing.T) {
	for _, tc := range []struct {
		name           string
		victim         func(l *Log, want []appended) int
		forgetRecovery bool
	}{
		{"last batch", func(_ *Log, want []appended) int { return len(want) - 1 }, false},
		{"first batch of active segment", func(l *Log, want []appended) int {
			active := l.mu.segments[len(l.mu.segments)-1].baseOffset
			for i, a := range want {
				if a.base == active {
					return i
				}
			}
			t.Fatal("no batch starts the active segment")
			return 0
		}, false},
		{"older segment, full scan", func(_ *Log, want []appended) int { return len(want) / 3 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rng := rand.New(rand.NewPCG(9, 10))
			cfg := testConfig()
			cfg.SegmentBytes = 16 << 10
			l := openLog(t, dir, cfg, nil)
			want := appendN(t, l, rng, 150, func(int) int64 { return 10 })
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			v := tc.victim(l, want)
			seg, pos := locateBatch(t, l, want[v].base)
			segsBefore := l.NumSegments()
			crash(t, l)
			flipByte(t, segmentPrefix(dir, seg)+logSuffix, pos+batchHeaderBytes+int64(len(want[v].data)-batchHeaderBytes)/2)
			if tc.forgetRecovery {
				if err := os.Remove(filepath.Join(dir, recoveryPointFile)); err != nil {
					t.Fatal(err)
				}
			}

			l = openLog(t, dir, cfg, nil)
			defer mustClose(t, l)
			if got := l.LogEndOffset(); got != want[v].base {
				t.Fatalf("LogEndOffset %d, want %d (base of the corrupt batch)", got, want[v].base)
			}
			if tc.forgetRecovery && (l.stats.droppedSegments == 0 || l.NumSegments() >= segsBefore) {
				t.Fatalf("dropped %d segments, %d of %d left", l.stats.droppedSegments, l.NumSegments(), segsBefore)
			}
			if v > 0 {
				checkReads(t, l, want[:v])
			}
			more := appendN(t, l, rng, 3, func(int) int64 { return 12 })
			if more[0].base != want[v].base {
				t.Fatalf("next append at %d, want %d", more[0].base, want[v].base)
			}
			checkReads(t, l, append(want[:v:v], more...))
		})
	}
}

// TestCleanOpenSkipsScan corrupts a record byte after a clean Close:
// the clean open does not verify CRCs, so it keeps the batch and the
// scan counter stays at zero. Removing the marker (a crash) makes the
// next open scan and drop the batch, proving the corruption was
// detectable and the first open did not look.
func TestCleanOpenSkipsScan(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(11, 12))
	l := openLog(t, dir, testConfig(), nil)
	want := appendN(t, l, rng, 40, func(int) int64 { return 10 })
	last := want[len(want)-1]
	seg, pos := locateBatch(t, l, last.base)
	mustClose(t, l)
	flipByte(t, segmentPrefix(dir, seg)+logSuffix, pos+int64(len(last.data))-1)

	l = openLog(t, dir, testConfig(), nil)
	if l.stats.scannedSegments != 0 || l.stats.scannedBatches != 0 {
		t.Fatalf("clean open scanned %d segments, %d batches", l.stats.scannedSegments, l.stats.scannedBatches)
	}
	if got := l.LogEndOffset(); got != last.last+1 {
		t.Fatalf("clean open LogEndOffset %d, want %d", got, last.last+1)
	}
	crash(t, l)

	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if l.stats.scannedBatches == 0 {
		t.Fatal("unclean open did not scan")
	}
	if got := l.LogEndOffset(); got != last.base {
		t.Fatalf("unclean open LogEndOffset %d, want %d", got, last.base)
	}
}

// TestRecoveryRebuildsBadIndex damages a sealed segment's index file
// after a clean close; the open detects the inconsistency, rebuilds that
// segment by scanning, and every read still works.
func TestRecoveryRebuildsBadIndex(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(13, 14))
	l := openLog(t, dir, testConfig(), nil)
	want := appendN(t, l, rng, 400, func(int) int64 { return 10 })
	mustClose(t, l)
	bases := segmentFiles(t, dir)
	idx := segmentPrefix(dir, bases[0]) + offsetIndexSuffix
	b, err := os.ReadFile(idx)
	if err != nil || len(b) < 2*offsetEntryBytes {
		t.Fatalf("index %s: %d bytes, %v", idx, len(b), err)
	}
	copy(b[offsetEntryBytes:], b[:offsetEntryBytes]) // entry 1 no longer follows entry 0
	if err := os.WriteFile(idx, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(segmentPrefix(dir, bases[1]) + timeIndexSuffix); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if l.stats.scannedSegments != 2 {
		t.Fatalf("scanned %d segments, want the 2 with bad index files", l.stats.scannedSegments)
	}
	checkReads(t, l, want)
}

// TestRecoveryRemovesLeftovers checks that Open removes *.deleted and
// *.tmp files and orphan index files.
func TestRecoveryRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	mustClose(t, l)
	junk := []string{"00000000000000000007.log.deleted", "recovery-point-offset-checkpoint.tmp", "00000000000000000099.index"}
	for _, name := range junk {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	for _, name := range junk {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("%s still present: %v", name, err)
		}
	}
}

// TestAppendRejectsInvalidBatch checks that a batch with a bad CRC is
// refused before anything is written.
func TestAppendRejectsInvalidBatch(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), nil)
	defer mustClose(t, l)
	b := makeBatch(t, spec{records: 3, valueBytes: 20}, 0)
	b[len(b)-1] ^= 0xff
	if _, _, err := l.Append(b); err == nil || l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("Append of corrupt batch: err %v, LEO %d, size %d", err, l.LogEndOffset(), l.Size())
	}
	good := makeBatch(t, spec{records: 3, valueBytes: 20}, 0)
	if _, _, err := l.Append(append(good, good[:30]...)); err == nil {
		t.Fatal("Append accepted a trailing partial batch")
	}
	if _, _, err := l.Append(nil); err == nil {
		t.Fatal("Append accepted an empty buffer")
	}
}

// locateBatch returns the segment and file position of the batch whose
// base offset is base.
func locateBatch(t testing.TB, l *Log, base int64) (segBase, pos int64) {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	s := l.mu.segments[l.segmentFor(base)]
	var hdr [batchPeekBytes]byte
	pos, found, err := s.findBatch(base, s.size, hdr[:])
	if err != nil || !found || batchBaseOffset(hdr[:]) != base {
		t.Fatalf("locate batch %d: found %v, err %v", base, found, err)
	}
	return s.baseOffset, pos
}

func flipByte(t testing.TB, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], at); err != nil {
		t.Fatal(err)
	}
}

// TestReadDetectsIndexMismatch moves one offset index entry to another
// batch's position after a clean close (the file stays well formed, so
// the clean open trusts it). A read through that entry must report
// corruption instead of returning the wrong batch.
func TestReadDetectsIndexMismatch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	for i := 0; i < 40; i++ {
		if _, _, err := l.Append(makeBatch(t, spec{records: 1, valueBytes: 600}, byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, l)
	idx := segmentPrefix(dir, 0) + offsetIndexSuffix
	b, err := os.ReadFile(idx)
	if err != nil || len(b) < 3*offsetEntryBytes {
		t.Fatalf("index: %d bytes, %v", len(b), err)
	}
	// Lower entry 1's relative offset by one: the entries stay in order,
	// but the position now belongs to a batch with a different base.
	rel := binary.BigEndian.Uint32(b[offsetEntryBytes:])
	binary.BigEndian.PutUint32(b[offsetEntryBytes:], rel-1)
	if err := os.WriteFile(idx, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if _, err := l.Read(int64(rel-1), 0, math.MaxInt64, true, nil); !IsCorruption(err) {
		t.Fatalf("Read through a mismatched index entry: %v, want corruption", err)
	}
}
