package storage

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/skein-streaming/skein/protocol/records"
)

// FuzzCompact turns its input into appends of random keys, values and
// tombstones in random codecs, over tiny segments, with compaction
// passes (small offset maps, so passes stop part way) and clock jumps in
// between. Invariant: after a final pass, the log holds exactly the
// newest record of every key (tombstones included while younger than
// delete.retention.ms, and none older), and so it does after a crash and
// reopen.
func FuzzCompact(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{0xff, 0, 0xff, 1, 0x80, 2, 0x7f, 3, 0x40, 4, 0x41, 5})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 {
			ops = ops[:400]
		}
		dir := t.TempDir()
		clock := newTestClock()
		cfg := compactConfig()
		cfg.SegmentBytes = 1 << 10
		cfg.DeleteRetention = time.Hour
		l := openLog(t, dir, cfg, clock)
		w := newWriter(t, l, records.CodecNone)
		c := NewCleaner(CleanerConfig{DedupeBufferBytes: 4 * mapEntryOverheadBytes})
		for i, op := range ops {
			switch {
			case op >= 0xf0:
				sealAll(t, l)
				if _, err := l.Compact(math.MaxInt64, c); err != nil {
					t.Fatal(err)
				}
			case op >= 0xe8:
				clock.Advance(time.Duration(op-0xe7) * 20 * time.Minute)
			default:
				w.codec = allCodecs[int(op)%len(allCodecs)]
				r := kv(fmt.Sprintf("k%d", op%11), fmt.Sprintf("v%d", i))
				if op%7 == 0 {
					r = tombstone(fmt.Sprintf("k%d", op%11))
				}
				w.append(clock.Ms(), r, kv(fmt.Sprintf("k%d", (op/11)%11), fmt.Sprintf("w%d", i)))
			}
		}
		sealAll(t, l)
		for {
			st, err := l.Compact(math.MaxInt64, c)
			if err != nil {
				t.Fatal(err)
			}
			if st.EndOffset < 0 {
				break
			}
		}
		// A tombstone survives iff it is its key's newest record and its
		// batch is younger than delete.retention.ms.
		horizon := clock.Ms() - cfg.DeleteRetention.Milliseconds()
		var want []rec
		for _, r := range newestPerKey(w.written, l.LogEndOffset(), false) {
			if r.value == nil && batchTs(w.written, r) < horizon {
				continue
			}
			want = append(want, r)
		}
		checkRecords(t, "after cleaning", readAll(t, l), want)
		crash(t, l)
		l = openLog(t, dir, cfg, clock)
		defer mustClose(t, l)
		checkRecords(t, "after a crash", readAll(t, l), want)
	})
}

// batchTs is the maxTimestamp of the batch that held r: writer.append
// stamps record i of a batch ts+i, and every batch the fuzz target writes
// holds two records.
func batchTs(written map[int64]rec, r rec) int64 {
	if n, ok := written[r.offset+1]; ok && n.ts == r.ts+1 {
		return r.ts + 1
	}
	return r.ts
}
