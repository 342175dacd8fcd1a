package storage

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// TestReadLimits checks maxBytes (whole batches only), minOneBatch for a
// first batch larger than maxBytes (KIP-74), maxOffset as an exclusive
// bound on base offsets, and that a read stays within one segment.
func TestReadLimits(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), nil)
	defer mustClose(t, l)
	var want []appended
	for i := 0; i < 10; i++ {
		b := makeBatch(t, spec{records: 2, valueBytes: 100}, byte(i))
		base, last, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, appended{base: base, last: last, data: b})
	}
	size := len(want[0].data)
	concat := func(from, to int) []byte {
		var out []byte
		for _, a := range want[from:to] {
			out = append(out, a.data...)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		offset    int64
		maxBytes  int
		maxOffset int64
		minOne    bool
		want      []byte
	}{
		{"three whole batches", 0, 3*size + size/2, math.MaxInt64, false, concat(0, 3)},
		{"from inside a batch", 3, 2 * size, math.MaxInt64, false, concat(1, 3)},
		{"too small without minOneBatch", 0, size - 1, math.MaxInt64, false, nil},
		{"too small with minOneBatch", 0, size - 1, math.MaxInt64, true, concat(0, 1)},
		{"zero bytes with minOneBatch", 4, 0, math.MaxInt64, true, concat(2, 3)},
		{"maxOffset stops at base offset 6", 0, 100 * size, 6, false, concat(0, 3)},
		{"maxOffset inside a batch keeps it", 0, 100 * size, 7, false, concat(0, 4)},
		{"offset at maxOffset", 6, 100 * size, 6, true, nil},
		{"everything", 0, 100 * size, math.MaxInt64, false, concat(0, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.Read(tc.offset, tc.maxBytes, tc.maxOffset, tc.minOne, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(res.Data, tc.want) {
				t.Fatalf("got %d bytes (first %d, next %d), want %d", len(res.Data), res.FirstOffset, res.NextOffset, len(tc.want))
			}
		})
	}
}

// TestReadWithinOneSegment checks a large read stops at the end of the
// segment holding the offset.
func TestReadWithinOneSegment(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4 << 10
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	appendN(t, l, rand.New(rand.NewPCG(1, 1)), 100, func(int) int64 { return 0 })
	res, err := l.Read(0, 1<<20, math.MaxInt64, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	first := l.mu.segments[0]
	l.mu.RUnlock()
	if int64(len(res.Data)) != first.size || res.NextOffset != first.nextOffset {
		t.Fatalf("read %d bytes up to %d, first segment has %d bytes up to %d", len(res.Data), res.NextOffset, first.size, first.nextOffset)
	}
}

// TestReadDoesNotAllocate checks the read path allocates nothing once buf
// is large enough.
func TestReadDoesNotAllocate(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), nil)
	defer mustClose(t, l)
	appendN(t, l, rand.New(rand.NewPCG(2, 2)), 200, func(int) int64 { return 0 })
	buf := make([]byte, 64<<10)
	leo := l.LogEndOffset()
	off := int64(0)
	allocs := testing.AllocsPerRun(200, func() {
		res, err := l.Read(off, 16<<10, math.MaxInt64, true, buf)
		if err != nil || len(res.Data) == 0 {
			panic("read failed")
		}
		off = (res.NextOffset + 7) % leo
	})
	if allocs != 0 {
		t.Fatalf("Read allocates %.1f times per call", allocs)
	}
}

// TestOffsetForTimestamp compares the index-assisted lookup with a brute
// force over the appended batches, for timestamps that go up and down,
// on a live log, after a clean reopen and after a DeleteRecordsBefore.
func TestOffsetForTimestamp(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 512
	rng := rand.New(rand.NewPCG(19, 20))
	l := openLog(t, dir, cfg, nil)
	want := appendN(t, l, rng, 800, func(i int) int64 { return int64(i*10) + rng.Int64N(300) - 150 })
	check := func(l *Log) {
		t.Helper()
		lso := l.LogStartOffset()
		for ts := int64(-200); ts < 8500; ts += 7 {
			wantOff, wantTs, wantFound := int64(-1), int64(-1), false
			for _, a := range want {
				if a.last >= lso && a.maxTs >= ts {
					wantOff, wantTs, wantFound = max(a.base, lso), a.maxTs, true
					break
				}
			}
			off, gotTs, found, err := l.OffsetForTimestamp(ts)
			if err != nil || off != wantOff || gotTs != wantTs || found != wantFound {
				t.Fatalf("OffsetForTimestamp(%d) = (%d, %d, %v, %v), want (%d, %d, %v)", ts, off, gotTs, found, err, wantOff, wantTs, wantFound)
			}
		}
		var maxTs, maxOff int64 = -1, -1
		for _, a := range want {
			if a.maxTs > maxTs {
				maxTs, maxOff = a.maxTs, a.base
			}
		}
		if ts, off := l.MaxTimestamp(); ts != maxTs || off != maxOff {
			t.Fatalf("MaxTimestamp = (%d, %d), want (%d, %d)", ts, off, maxTs, maxOff)
		}
	}
	check(l)
	mustClose(t, l)
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	check(l)
	if err := l.DeleteRecordsBefore(want[300].base + 1); err != nil {
		t.Fatal(err)
	}
	check(l)
}
