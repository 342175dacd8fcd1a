package storage

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestAppendReadReopen appends batches, reads each back from the offset
// of every record, closes cleanly, reopens and reads again; appends
// continue at the right offset.
func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	l := openLog(t, dir, testConfig(), nil)
	want := appendN(t, l, rng, 300, func(i int) int64 { return int64(1000 + i) })
	if err := l.SyncTo(want[len(want)-1].last); err != nil {
		t.Fatalf("SyncTo: %v", err)
	}
	checkReads(t, l, want)
	mustClose(t, l)

	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if l.stats.scannedSegments != 0 {
		t.Fatalf("clean open scanned %d segments", l.stats.scannedSegments)
	}
	checkReads(t, l, want)
	more := appendN(t, l, rng, 10, func(i int) int64 { return 5000 })
	if more[0].base != want[len(want)-1].last+1 {
		t.Fatalf("append after reopen got base %d, want %d", more[0].base, want[len(want)-1].last+1)
	}
	checkReads(t, l, append(want, more...))
}

// checkReads reads from every offset of every appended batch, with
// minOneBatch and no byte budget, and expects exactly that batch.
func checkReads(t testing.TB, l *Log, want []appended) {
	t.Helper()
	var buf []byte
	for _, a := range want {
		for off := a.base; off <= a.last; off++ {
			res, err := l.Read(off, 0, math.MaxInt64, true, buf)
			if err != nil {
				t.Fatalf("Read(%d): %v", off, err)
			}
			buf = res.Data[:0]
			if !bytes.Equal(res.Data, a.data) {
				t.Fatalf("Read(%d): got %d bytes at first offset %d, want batch [%d, %d] (%d bytes)",
					off, len(res.Data), res.FirstOffset, a.base, a.last, len(a.data))
			}
			if res.FirstOffset != a.base || res.NextOffset != a.last+1 {
				t.Fatalf("Read(%d): FirstOffset %d NextOffset %d, want %d %d", off, res.FirstOffset, res.NextOffset, a.base, a.last+1)
			}
		}
	}
	leo := want[len(want)-1].last + 1
	if got := l.LogEndOffset(); got != leo {
		t.Fatalf("LogEndOffset %d, want %d", got, leo)
	}
	res, err := l.Read(leo, 1<<20, math.MaxInt64, true, nil)
	if err != nil || len(res.Data) != 0 {
		t.Fatalf("Read(LEO) = %d bytes, %v; want empty", len(res.Data), err)
	}
	if _, err := l.Read(leo+1, 1<<20, math.MaxInt64, true, nil); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read(LEO+1) err %v, want ErrOffsetOutOfRange", err)
	}
}
