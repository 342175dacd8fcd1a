package storage

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skein-streaming/skein/protocol/records"
)

var allCodecs = []records.Codec{records.CodecNone, records.CodecGzip, records.CodecSnappy, records.CodecLZ4, records.CodecZstd}

// TestCompactNewestValuePerKey overwrites 40 keys hundreds of times over
// dozens of segments, in every codec, then cleans: reading the log must
// give exactly the newest record of each key, at its original offset,
// with its headers and timestamp, in CRC-valid batches whose recordCount
// and maxTimestamp agree with their records. The result must survive a
// clean reopen and a crash reopen, and a second pass must change nothing.
func TestCompactNewestValuePerKey(t *testing.T) {
	for _, codec := range allCodecs {
		t.Run(codec.String(), func(t *testing.T) {
			dir := t.TempDir()
			clock := newTestClock()
			cfg := compactConfig()
			l := openLog(t, dir, cfg, clock)
			w := newWriter(t, l, codec)
			rng := rand.New(rand.NewPCG(1, uint64(codec)))
			for i := 0; i < 600; i++ {
				var batch []rec
				for j := 0; j < 1+rng.IntN(6); j++ {
					batch = append(batch, kv(fmt.Sprintf("key-%02d", rng.IntN(40)), fmt.Sprintf("v%d-%d-%s", i, j, make([]byte, rng.IntN(40)))))
				}
				w.append(clock.Ms(), batch...)
				clock.Advance(time.Millisecond)
			}
			sealAll(t, l)
			before := l.NumSegments()
			if before < 20 {
				t.Fatalf("only %d segments", before)
			}
			c := NewCleaner(CleanerConfig{})
			st := mustCompact(t, l, c)
			want := newestPerKey(w.written, l.LogEndOffset(), false)
			checkRecords(t, "after Compact", readAll(t, l), want)
			if st.EndOffset != l.LogEndOffset() || st.RecordsRemoved == 0 || st.SegmentsRead != before-1 || l.Size() >= st.BytesRead {
				t.Fatalf("stats %+v, log end offset %d, %d segments before, %d bytes after", st, l.LogEndOffset(), before, l.Size())
			}
			if st2 := mustCompact(t, l, c); st2.EndOffset != -1 {
				t.Fatalf("second pass without new data did work: %+v", st2)
			}
			// The next pass groups the now small cleaned segments, as
			// Kafka's groupSegmentsBySize does.
			w.append(clock.Ms(), kv("key-00", "newest"))
			sealAll(t, l)
			segs := l.NumSegments()
			st = mustCompact(t, l, c)
			if st.SegmentsWritten >= st.SegmentsRead || l.NumSegments() >= segs/2 {
				t.Fatalf("grouping pass: %+v; %d segments, %d before", st, l.NumSegments(), segs)
			}
			want = newestPerKey(w.written, l.LogEndOffset(), false)
			checkRecords(t, "after grouping", readAll(t, l), want)
			mustClose(t, l)

			l = openLog(t, dir, cfg, clock)
			checkRecords(t, "after clean reopen", readAll(t, l), want)
			crash(t, l)
			l = openLog(t, dir, cfg, clock)
			checkRecords(t, "after crash reopen", readAll(t, l), want)
			checkReadEveryOffset(t, l, want)
			mustClose(t, l)
		})
	}
}

// checkReadEveryOffset fetches from every offset of the log, gaps
// included, as a consumer does: batches come back whole (a compacted
// batch keeps its original offset range), records below the fetch offset
// are skipped, and the first record obtained must be the first kept
// record at or after the offset.
func checkReadEveryOffset(t *testing.T, l *Log, want []rec) {
	t.Helper()
	i := 0
	var scratch records.Scratch
	for off := l.LogStartOffset(); off < l.LogEndOffset(); off++ {
		for i < len(want) && want[i].offset < off {
			i++
		}
		first := int64(-1)
		for next := off; first < 0 && next < l.LogEndOffset(); {
			res, err := l.Read(next, 1, math.MaxInt64, true, nil)
			if err != nil {
				t.Fatalf("Read(%d): %v", next, err)
			}
			if res.NextOffset <= next && res.NextOffset >= 0 {
				t.Fatalf("Read(%d) went backwards to %d", next, res.NextOffset)
			}
			if len(res.Data) == 0 {
				break
			}
			records.ForEachRecord(res.Data, &scratch, func(r records.RecordView) error {
				if first < 0 && r.Offset >= off {
					first = r.Offset
				}
				return nil
			})
			next = res.NextOffset
		}
		if i == len(want) && first >= 0 || i < len(want) && first != want[i].offset {
			t.Fatalf("fetching from %d first gives offset %d, want index %d of %d kept records", off, first, i, len(want))
		}
	}
}

// TestCompactTombstones deletes half the keys with tombstones. A pass
// right away removes the deleted keys' older values but keeps the
// tombstones (delete.retention.ms has not passed); once the clock is past
// it, the next pass removes them too, and the keys are gone entirely.
func TestCompactTombstones(t *testing.T) {
	clock := newTestClock()
	cfg := compactConfig()
	cfg.DeleteRetention = time.Hour
	l := openLog(t, t.TempDir(), cfg, clock)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecNone)
	for round := 0; round < 5; round++ {
		for k := 0; k < 20; k++ {
			w.append(clock.Ms(), kv(fmt.Sprintf("k%d", k), fmt.Sprintf("r%d", round)))
		}
	}
	for k := 0; k < 20; k += 2 {
		w.append(clock.Ms(), tombstone(fmt.Sprintf("k%d", k)))
	}
	sealAll(t, l)
	c := NewCleaner(CleanerConfig{})
	st := mustCompact(t, l, c)
	if st.TombstonesRemoved != 0 {
		t.Fatalf("removed %d tombstones before delete.retention.ms", st.TombstonesRemoved)
	}
	checkRecords(t, "tombstones kept", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))

	// 59 minutes on, they are still within delete.retention.ms.
	clock.Advance(59 * time.Minute)
	w.append(clock.Ms(), kv("other", "x"))
	sealAll(t, l)
	if st := mustCompact(t, l, c); st.EndOffset < 0 || st.TombstonesRemoved != 0 {
		t.Fatalf("at 59m: %+v", st)
	}
	checkRecords(t, "at 59m", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))

	clock.Advance(2 * time.Minute)
	w.append(clock.Ms(), kv("other2", "y"))
	sealAll(t, l)
	st = mustCompact(t, l, c)
	if st.TombstonesRemoved != 10 {
		t.Fatalf("removed %d tombstones after delete.retention.ms, want 10 (%+v)", st.TombstonesRemoved, st)
	}
	got := readAll(t, l)
	// The two segments written after the tombstones are younger than
	// delete.retention.ms, but they hold no tombstone.
	checkRecords(t, "tombstones dropped", got, newestPerKey(w.written, l.LogEndOffset(), true))
	for _, r := range got {
		if r.value == nil {
			t.Fatalf("tombstone %v survived", r)
		}
	}
}

// TestCompactKeylessRecordsDropped: records without a key (possible in
// data written before the topic became compacted) are removed, as Kafka's
// cleaner removes them.
func TestCompactKeylessRecordsDropped(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig(), nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecLZ4)
	w.append(1, rec{value: []byte("no key")}, kv("a", "1"), rec{value: []byte("no key 2")})
	w.append(2, kv("a", "2"), rec{value: []byte("no key 3")})
	sealAll(t, l)
	st := mustCompact(t, l, NewCleaner(CleanerConfig{}))
	if st.KeylessRemoved != 3 || st.RecordsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	checkRecords(t, "keyless dropped", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))
}

// TestCompactActiveSegmentUntouched: records in the active segment stay,
// even when newer records of the same key... do not exist yet, and older
// ones in it are superseded inside it: the active segment is never
// cleaned, and its segment object and file are not replaced.
func TestCompactActiveSegmentUntouched(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig(), nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 300; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%7), fmt.Sprintf("value %d %s", i, make([]byte, 30))))
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	active := l.mu.segments[len(l.mu.segments)-1]
	l.mu.RUnlock()
	activeBase := active.baseOffset
	if active.size == 0 || activeBase == 0 {
		t.Fatalf("active segment at %d holds %d bytes", activeBase, active.size)
	}
	mustCompact(t, l, NewCleaner(CleanerConfig{}))
	l.mu.RLock()
	same := l.mu.segments[len(l.mu.segments)-1] == active
	l.mu.RUnlock()
	if !same {
		t.Fatal("the active segment was replaced")
	}
	checkRecords(t, "active untouched", readAll(t, l), newestPerKey(w.written, activeBase, false))
}

// TestCompactMinCompactionLag: segments younger than min.compaction.lag.ms
// (by their largest timestamp) are not cleaned, nor is anything after
// the first of them; once they age, they are.
func TestCompactMinCompactionLag(t *testing.T) {
	clock := newTestClock()
	cfg := compactConfig()
	cfg.MinCompactionLag = time.Hour
	l := openLog(t, t.TempDir(), cfg, clock)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecSnappy)
	write := func() {
		for i := 0; i < 100; i++ {
			w.append(clock.Ms(), kv(fmt.Sprintf("k%d", i%5), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
		}
		sealAll(t, l)
	}
	write()
	oldEnd := l.LogEndOffset()
	clock.Advance(90 * time.Minute)
	write()
	c := NewCleaner(CleanerConfig{})
	cl, err := l.Cleanable(math.MaxInt64)
	if err != nil || !cl.Cleanable || cl.FirstUncleanableOffset != oldEnd {
		t.Fatalf("Cleanable: %+v, %v; want the first uncleanable offset at %d", cl, err, oldEnd)
	}
	mustCompact(t, l, c)
	checkRecords(t, "old half cleaned", readAll(t, l), newestPerKey(w.written, oldEnd, false))
	clock.Advance(30 * time.Minute) // the new half is 30 minutes old
	if cl, _ := l.Cleanable(math.MaxInt64); cl.Cleanable {
		t.Fatalf("cleanable before min.compaction.lag.ms: %+v", cl)
	}
	clock.Advance(31 * time.Minute)
	mustCompact(t, l, c)
	checkRecords(t, "all cleaned", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))
}

// TestCompactUpperBound: nothing at or above the upper bound (the last
// stable offset) is cleaned; the segments below it are.
func TestCompactUpperBound(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig(), nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 200; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%3), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	bound := l.LogEndOffset() / 2
	st, err := l.Compact(bound, NewCleaner(CleanerConfig{}))
	if err != nil || st.EndOffset > bound || st.EndOffset <= 0 {
		t.Fatalf("Compact(%d): %+v, %v", bound, st, err)
	}
	checkRecords(t, "below the bound", readAll(t, l), newestPerKey(w.written, st.EndOffset, false))
}

// TestCompactDirtyRatioGates: a log is cleanable only when its dirty
// share exceeds min.cleanable.dirty.ratio, and Compact does nothing
// otherwise.
func TestCompactDirtyRatioGates(t *testing.T) {
	cfg := compactConfig()
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 400; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	c := NewCleaner(CleanerConfig{})
	mustCompact(t, l, c) // all keys distinct: the log is now clean and as large
	cfg.MinCleanableDirtyRatio = 0.5
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i), "newer"))
	}
	sealAll(t, l)
	cl, err := l.Cleanable(math.MaxInt64)
	if err != nil || cl.Cleanable || cl.DirtyRatio <= 0 || cl.DirtyRatio > 0.5 {
		t.Fatalf("Cleanable with a little dirty data: %+v, %v", cl, err)
	}
	if st := mustCompact(t, l, c); st.EndOffset != -1 {
		t.Fatalf("Compact below the ratio did work: %+v", st)
	}
	for i := 0; i < 800; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%400), fmt.Sprintf("newest %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	cl, err = l.Cleanable(math.MaxInt64)
	if err != nil || !cl.Cleanable || cl.DirtyRatio <= 0.5 {
		t.Fatalf("Cleanable with mostly dirty data: %+v, %v", cl, err)
	}
	mustCompact(t, l, c)
	checkRecords(t, "after the gate opened", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))
}

// TestCompactMaxCompactionLagForces: with a dirty ratio far below
// min.cleanable.dirty.ratio, a log becomes cleanable once its oldest
// dirty batch is older than max.compaction.lag.ms; the lag also caps
// segment.ms so the active segment rolls in time.
func TestCompactMaxCompactionLagForces(t *testing.T) {
	clock := newTestClock()
	cfg := compactConfig()
	l := openLog(t, t.TempDir(), cfg, clock)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecZstd)
	for i := 0; i < 400; i++ {
		w.append(clock.Ms(), kv(fmt.Sprintf("k%d", i), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	c := NewCleaner(CleanerConfig{})
	mustCompact(t, l, c)
	cfg.MinCleanableDirtyRatio = 0.9
	cfg.MaxCompactionLag = time.Hour
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	w.append(clock.Ms(), kv("k1", "newer"))
	sealAll(t, l)
	if cl, _ := l.Cleanable(math.MaxInt64); cl.Cleanable || cl.MaxLagExceeded {
		t.Fatalf("cleanable before max.compaction.lag.ms: %+v", cl)
	}
	clock.Advance(61 * time.Minute)
	cl, err := l.Cleanable(math.MaxInt64)
	if err != nil || !cl.Cleanable || !cl.MaxLagExceeded || cl.DirtyRatio > 0.9 {
		t.Fatalf("after max.compaction.lag.ms: %+v, %v", cl, err)
	}
	st := mustCompact(t, l, c)
	if st.RecordsRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	checkRecords(t, "forced", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))

	// The lag caps segment.ms: an active segment older than it rolls.
	w.append(clock.Ms(), kv("k2", "in the active segment"))
	n := l.NumSegments()
	clock.Advance(61 * time.Minute)
	w.append(clock.Ms(), kv("k3", "rolls"))
	if l.NumSegments() != n+1 {
		t.Fatalf("%d segments, want %d: max.compaction.lag.ms did not roll the active segment", l.NumSegments(), n+1)
	}
}

// TestCompactRetentionByPolicy: with cleanup.policy=compact retention.ms
// and retention.bytes delete nothing (DeleteRecords still works); with
// compact,delete both retention and compaction apply.
func TestCompactRetentionByPolicy(t *testing.T) {
	for _, del := range []bool{false, true} {
		t.Run(fmt.Sprintf("delete=%v", del), func(t *testing.T) {
			clock := newTestClock()
			cfg := compactConfig()
			cfg.Delete = del
			cfg.RetentionMs = time.Hour
			cfg.RetentionBytes = 8 << 10
			l := openLog(t, t.TempDir(), cfg, clock)
			defer mustClose(t, l)
			w := newWriter(t, l, records.CodecNone)
			for i := 0; i < 300; i++ {
				w.append(clock.Ms(), kv(fmt.Sprintf("k%d", i%10), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
			}
			sealAll(t, l)
			c := NewCleaner(CleanerConfig{})
			mustCompact(t, l, c)
			checkRecords(t, "compacted", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))
			for i := 0; i < 300; i++ {
				w.append(clock.Ms(), kv(fmt.Sprintf("k%d", i%10), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
			}
			clock.Advance(2 * time.Hour)
			segs := l.NumSegments()
			n, err := l.EnforceRetention()
			if err != nil {
				t.Fatal(err)
			}
			if !del {
				if n != 0 || l.NumSegments() != segs || l.LogStartOffset() != 0 {
					t.Fatalf("compact-only retention deleted %d segments, log start offset %d", n, l.LogStartOffset())
				}
				if err := l.DeleteRecordsBefore(5); err != nil || l.LogStartOffset() != 5 {
					t.Fatalf("DeleteRecordsBefore on a compacted log: %v, log start offset %d", err, l.LogStartOffset())
				}
				return
			}
			if n == 0 || l.LogStartOffset() == 0 {
				t.Fatalf("compact,delete retention deleted %d segments, log start offset %d", n, l.LogStartOffset())
			}
			sealAll(t, l)
			mustCompact(t, l, c)
			want := newestPerKey(w.written, l.LogEndOffset(), false)
			var kept []rec
			for _, r := range want {
				if r.offset >= l.LogStartOffset() {
					kept = append(kept, r)
				}
			}
			checkRecords(t, "retention then compaction", readAll(t, l), kept)
		})
	}
}

// TestCompactControlAndTransactionalBatches: control batches are never
// removed, even when every record in the log around them is superseded;
// records of transactional batches keep their producer fields, are
// removed when a newer record has their key, but never cause an older
// record's removal (whether their transaction committed is not known to
// storage), and their tombstones are never dropped.
func TestCompactControlAndTransactionalBatches(t *testing.T) {
	clock := newTestClock()
	cfg := compactConfig()
	cfg.DeleteRetention = time.Minute
	l := openLog(t, t.TempDir(), cfg, clock)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecGzip)
	appendRaw := func(opts records.BatchOptions, recs ...rec) int64 {
		in := make([]records.Record, len(recs))
		for i, r := range recs {
			in[i] = records.Record{Key: r.key, Value: r.value, TimestampDelta: int64(i)}
		}
		b, err := records.AppendBatch(nil, opts, in)
		if err != nil {
			t.Fatal(err)
		}
		base, _, err := l.Append(b)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			r.offset, r.ts = base+int64(i), opts.BaseTimestamp+int64(i)
			r.control = opts.Control
			w.written[r.offset] = r
		}
		return base
	}
	txn := records.BatchOptions{Codec: records.CodecGzip, BaseTimestamp: clock.Ms(), ProducerID: 77, ProducerEpoch: 3,
		BaseSequence: 0, Transactional: true, PartitionLeaderEpoch: -1}
	w.append(clock.Ms(), kv("a", "plain 1"), kv("b", "plain 1"))
	txnBase := appendRaw(txn, kv("a", "txn"), kv("b", "txn"), tombstone("d"))
	marker := txn
	marker.Codec, marker.Control, marker.BaseSequence = records.CodecNone, true, -1
	// A COMMIT marker: key version 0, type 1; value version 0, epoch 0.
	markerBase := appendRaw(marker, rec{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}})
	w.append(clock.Ms(), kv("b", "plain 2"), tombstone("e"))
	sealAll(t, l)
	clock.Advance(time.Hour)
	st := mustCompact(t, l, NewCleaner(CleanerConfig{}))
	got := readAll(t, l)
	// a: plain 1 stays (the transactional a does not supersede it) and
	// so does the transactional a (nothing newer). b: only plain 2. The
	// transactional tombstone for d stays although delete.retention.ms
	// passed; the plain tombstone for e goes.
	want := []rec{w.written[0], w.written[txnBase], w.written[txnBase+2], w.written[markerBase], w.written[markerBase+1]}
	checkRecords(t, "control and transactional", got, want)
	if !got[3].control {
		t.Fatalf("control record lost its batch's control bit: %v", got[3])
	}
	if st.RecordsRemoved != 2 || st.TombstonesRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
	res, err := l.Read(txnBase, 1, math.MaxInt64, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := res.Data
	if pid := int64(beUint64(h[43:])); pid != 77 || h[51] != 0 || h[52] != 3 || beUint32(h[53:]) != 0 ||
		beUint16(h[batchAttributesAt:])&attrTransactional == 0 || batchLastOffsetDelta(h) != 2 {
		t.Fatalf("transactional batch header changed: producer %d epoch %d seq %d attrs %#x lastOffsetDelta %d",
			pid, int16(beUint16(h[51:])), beUint32(h[53:]), beUint16(h[batchAttributesAt:]), batchLastOffsetDelta(h))
	}
}

// TestCompactConcurrentReads runs readers over the whole log and an
// appender while passes swap segments (meaningful under -race): every
// batch a reader sees is CRC-valid, offsets strictly increase, and every
// record read is exactly the one appended at its offset. At the end the
// log holds the newest record of every key.
func TestCompactConcurrentReads(t *testing.T) {
	cfg := compactConfig()
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecLZ4)
	for i := 0; i < 300; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%13), fmt.Sprintf("value %d %s", i, make([]byte, 50))))
	}
	written := map[int64]rec{}
	for k, v := range w.written {
		written[k] = v
	}
	var mu = make(chan map[int64]rec, 1)
	mu <- written
	stop := make(chan struct{})
	errs := make(chan error, 4)
	done := make(chan struct{})
	for r := 0; r < 2; r++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := readAllErr(l)
				if err != nil {
					errs <- err
					return
				}
				m := <-mu
				for _, x := range got {
					if want, ok := m[x.offset]; !ok || !sameRec(x, want) {
						mu <- m
						errs <- fmt.Errorf("read %v, appended %v", x, want)
						return
					}
				}
				mu <- m
			}
		}()
	}
	c := NewCleaner(CleanerConfig{})
	for round := 0; round < 20; round++ {
		m := <-mu
		wc := &writer{t: t, l: l, codec: records.CodecLZ4, written: m}
		for i := 0; i < 30; i++ {
			wc.append(int64(i), kv(fmt.Sprintf("k%d", (round+i)%13), fmt.Sprintf("round %d %d %s", round, i, make([]byte, 50))))
		}
		mu <- m
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Compact(math.MaxInt64, c); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	<-done
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	m := <-mu
	sealAll(t, l)
	mustCompact(t, l, c)
	checkRecords(t, "final", readAll(t, l), newestPerKey(m, l.LogEndOffset(), false))
}

// TestCompactAbortsOnConcurrentTruncation: a truncation between the
// cleaning of a group and its swap makes the swap refuse (the cleaned
// copy would bring back truncated records); the log is left as the
// truncation made it and the next pass succeeds.
func TestCompactAbortsOnConcurrentTruncation(t *testing.T) {
	cfg := compactConfig()
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 200; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%5), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	truncateAt := int64(20)
	l.cleaner.crashAt = func(step string) bool {
		if step == "before-swap" {
			if err := l.Truncate(truncateAt); err != nil {
				t.Error(err)
			}
		}
		return false
	}
	_, err := l.Compact(math.MaxInt64, NewCleaner(CleanerConfig{}))
	if !isAborted(err) {
		t.Fatalf("Compact after a concurrent truncation: %v", err)
	}
	l.cleaner.crashAt = nil
	for off := range w.written {
		if off >= truncateAt {
			delete(w.written, off)
		}
	}
	checkRecords(t, "truncated, not cleaned", readAll(t, l), newestPerKey(w.written, 0, false))
	if leftovers, _ := filepath.Glob(filepath.Join(l.Dir(), "*"+cleanedSuffix)); len(leftovers) != 0 {
		t.Fatalf("leftover files %v", leftovers)
	}
	for i := 0; i < 100; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%5), fmt.Sprintf("again %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	mustCompact(t, l, NewCleaner(CleanerConfig{}))
	checkRecords(t, "cleaned after", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))
}

// TestCompactSmallDedupeBuffer: with an offset map too small for the
// dirty section, each pass maps a part of it and cleans below that; the
// passes together reach the same result as one large pass.
func TestCompactSmallDedupeBuffer(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig(), nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 500; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%60), fmt.Sprintf("value %d %s", i, make([]byte, 30))))
	}
	sealAll(t, l)
	c := NewCleaner(CleanerConfig{DedupeBufferBytes: 20 * (mapEntryOverheadBytes + 3)})
	passes := 0
	for {
		st := mustCompact(t, l, c)
		if st.EndOffset < 0 {
			break
		}
		passes++
		if st.MapKeys > 21 || passes > 100 {
			t.Fatalf("pass %d: %+v", passes, st)
		}
		checkRecords(t, fmt.Sprintf("pass %d", passes), readAll(t, l), newestPerKey(w.written, st.EndOffset, false))
	}
	if passes < 2 {
		t.Fatalf("%d passes", passes)
	}
	checkRecords(t, "all passes", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))
}

// TestCompactCorruptSourceFails: a source batch that fails its CRC stops
// the pass with a corruption error and nothing is swapped.
func TestCompactCorruptSourceFails(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig(), nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 100; i++ {
		w.append(int64(i), kv(fmt.Sprintf("k%d", i%5), fmt.Sprintf("value %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	path := segmentPrefix(l.Dir(), 0) + logSuffix
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip the byte rather than set it: with encryption on it is
	// ciphertext and may already hold any value.
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, batchHeaderBytes+5); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{^b[0]}, batchHeaderBytes+5); err != nil {
		t.Fatal(err)
	}
	f.Close()
	segs := l.NumSegments()
	_, err = l.Compact(math.MaxInt64, NewCleaner(CleanerConfig{}))
	if !IsCorruption(err) {
		t.Fatalf("Compact over a corrupt batch: %v", err)
	}
	if l.NumSegments() != segs {
		t.Fatalf("%d segments, was %d", l.NumSegments(), segs)
	}
}

// TestCompactConfigValidation: the compaction block validates, and its
// zero values keep a Config valid and delete-only.
func TestCompactConfigValidation(t *testing.T) {
	zero := Config{SegmentBytes: 1 << 20, SegmentMs: time.Hour, SegmentIndexBytes: 1 << 10, FlushMessages: 1, RetentionMs: time.Hour}
	if err := zero.Validate(); err != nil || !zero.retentionApplies() {
		t.Fatalf("zero compaction fields: %v, retention applies %v", err, zero.retentionApplies())
	}
	def := DefaultConfig()
	if err := def.Validate(); err != nil || def.Compact || !def.Delete {
		t.Fatalf("DefaultConfig: %v", err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.DeleteRetention = -1 },
		func(c *Config) { c.MinCleanableDirtyRatio = 1.5 },
		func(c *Config) { c.MinCleanableDirtyRatio = math.NaN() },
		func(c *Config) { c.MinCompactionLag = -1 },
		func(c *Config) { c.Compact, c.MaxCompactionLag = true, 0 },
		func(c *Config) { c.Compact, c.MinCompactionLag, c.MaxCompactionLag = true, time.Hour, time.Minute },
	} {
		c := DefaultConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Fatalf("accepted %+v", c)
		}
	}
}

func beUint64(b []byte) uint64 {
	return uint64(beUint32(b))<<32 | uint64(beUint32(b[4:]))
}
func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func beUint16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// TestCompactEmptyCleanedSegment: when every record of a group is
// superseded, the group becomes an empty segment at the same base offset
// (as in Kafka), so the LogStartOffset does not move; the log reads,
// reopens cleanly and after a crash, and takes appends.
func TestCompactEmptyCleanedSegment(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	l := openLog(t, dir, cfg, nil)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 200; i++ {
		w.append(int64(i), kv("same", fmt.Sprintf("value %d %s", i, make([]byte, 40))))
	}
	sealAll(t, l)
	mustCompact(t, l, NewCleaner(CleanerConfig{}))
	l.mu.RLock()
	firstSize := l.mu.segments[0].size
	l.mu.RUnlock()
	want := newestPerKey(w.written, l.LogEndOffset(), false)
	if firstSize != 0 || l.LogStartOffset() != 0 || len(want) != 1 {
		t.Fatalf("first segment %d bytes, log start offset %d, %d records kept", firstSize, l.LogStartOffset(), len(want))
	}
	checkRecords(t, "cleaned", readAll(t, l), want)
	mustClose(t, l)
	l = openLog(t, dir, cfg, nil)
	checkRecords(t, "clean reopen", readAll(t, l), want)
	crash(t, l)
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	checkRecords(t, "crash reopen", readAll(t, l), want)
	if l.LogStartOffset() != 0 {
		t.Fatalf("log start offset %d", l.LogStartOffset())
	}
	w.l = l
	end := l.LogEndOffset()
	w.append(1000, kv("same", "after"))
	checkRecords(t, "appended", readAll(t, l), newestPerKey(w.written, end, false))
}

// TestCompactTruncationBelowCheckpoint: after a truncation below the
// cleaner checkpoint, a value and then a tombstone for the same key are
// appended again at offsets the checkpoint had called clean. Once the
// tombstone expires, neither may be left: the truncation lowered the
// checkpoint, so the next pass maps them. The checkpoint survives a
// crash lowered.
func TestCompactTruncationBelowCheckpoint(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock()
	cfg := compactConfig()
	cfg.DeleteRetention = time.Hour
	l := openLog(t, dir, cfg, clock)
	w := newWriter(t, l, records.CodecNone)
	for i := 0; i < 60; i++ {
		w.append(clock.Ms(), kv(fmt.Sprintf("x%d", i), fmt.Sprintf("value %d %s", i, make([]byte, 100))))
	}
	sealAll(t, l)
	c := NewCleaner(CleanerConfig{})
	if st := mustCompact(t, l, c); st.EndOffset != 60 {
		t.Fatalf("first pass %+v", st)
	}
	if err := l.Truncate(20); err != nil {
		t.Fatal(err)
	}
	for off := range w.written {
		if off >= 20 {
			delete(w.written, off)
		}
	}
	crash(t, l)
	l = openLog(t, dir, cfg, clock)
	defer mustClose(t, l)
	w.l = l
	w.append(clock.Ms(), kv("k", "deleted later"))
	w.append(clock.Ms(), tombstone("k"))
	for i := 0; i < 50; i++ {
		w.append(clock.Ms(), kv(fmt.Sprintf("y%d", i), fmt.Sprintf("value %d %s", i, make([]byte, 100))))
	}
	sealAll(t, l)
	clock.Advance(2 * time.Hour)
	mustCompact(t, l, c)
	got := readAll(t, l)
	for _, r := range got {
		if string(r.key) == "k" {
			t.Fatalf("key k came back: %v", r)
		}
	}
	checkRecords(t, "after truncation", got, newestPerKey(w.written, l.LogEndOffset(), true))
}
