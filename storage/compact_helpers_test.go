package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/skein-streaming/skein/protocol/records"
)

// rec is a record as the compaction tests write and read it. A nil value
// is a tombstone; a nil key a keyless record.
type rec struct {
	offset  int64
	key     []byte
	value   []byte
	headers []records.Header
	ts      int64
	control bool
}

func (r rec) String() string {
	return fmt.Sprintf("%d:%q=%q@%d", r.offset, r.key, r.value, r.ts)
}

func sameRec(a, b rec) bool {
	if a.offset != b.offset || !bytes.Equal(a.key, b.key) || (a.key == nil) != (b.key == nil) ||
		!bytes.Equal(a.value, b.value) || (a.value == nil) != (b.value == nil) || a.ts != b.ts || len(a.headers) != len(b.headers) {
		return false
	}
	for i := range a.headers {
		if a.headers[i].Key != b.headers[i].Key || !bytes.Equal(a.headers[i].Value, b.headers[i].Value) {
			return false
		}
	}
	return true
}

// compactConfig is testConfig with compaction on, tiny segments, and
// every gate open: any dirty byte makes the log cleanable.
func compactConfig() Config {
	c := testConfig()
	c.SegmentBytes = 4 << 10
	c.IndexIntervalBytes = 512
	c.Compact = true
	c.Delete = false
	c.MinCleanableDirtyRatio = 0
	return c
}

// writer appends keyed records and remembers every one by offset.
type writer struct {
	t       testing.TB
	l       *Log
	codec   records.Codec
	written map[int64]rec
}

func newWriter(t testing.TB, l *Log, codec records.Codec) *writer {
	return &writer{t: t, l: l, codec: codec, written: map[int64]rec{}}
}

// append writes one batch holding recs (offsets are assigned) with base
// timestamp ts; record i gets timestamp ts+i and one header.
func (w *writer) append(ts int64, recs ...rec) (base int64) {
	w.t.Helper()
	in := make([]records.Record, len(recs))
	for i, r := range recs {
		h := []records.Header{{Key: "h", Value: fmt.Appendf(nil, "%s/%d", r.key, ts)}}
		in[i] = records.Record{Key: r.key, Value: r.value, Headers: h, TimestampDelta: int64(i)}
	}
	b, err := records.AppendBatch(nil, records.NonIdempotent(w.codec, ts), in)
	if err != nil {
		w.t.Fatal(err)
	}
	base, _, err = w.l.Append(b)
	if err != nil {
		w.t.Fatalf("Append: %v", err)
	}
	for i, r := range recs {
		r.offset, r.ts, r.headers = base+int64(i), ts+int64(i), in[i].Headers
		w.written[r.offset] = r
	}
	return base
}

// kv builds a keyed record; value "" with tomb set is a tombstone.
func kv(key string, value string) rec {
	return rec{key: []byte(key), value: []byte(value)}
}

func tombstone(key string) rec { return rec{key: []byte(key)} }

// readAll reads the whole log (from the LogStartOffset), checking every
// batch's CRC and that offsets strictly increase, and returns the records.
func readAll(t testing.TB, l *Log) []rec {
	t.Helper()
	out, err := readAllErr(l)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readAllErr(l *Log) ([]rec, error) {
	var out []rec
	var buf []byte
	next := l.LogStartOffset()
	last := int64(-1)
	var scratch records.Scratch
	for next < l.LogEndOffset() {
		res, err := l.Read(next, 64<<10, math.MaxInt64, true, buf)
		if err != nil {
			return nil, fmt.Errorf("read at %d: %w", next, err)
		}
		if len(res.Data) == 0 {
			break
		}
		buf = res.Data[:cap(res.Data)]
		for data := res.Data; len(data) > 0; {
			size := batchSize(data)
			b := data[:size]
			data = data[size:]
			if err := checkBatchCRC(b); err != nil {
				return nil, fmt.Errorf("batch %d: %v", batchBaseOffset(b), err)
			}
			control := binary.BigEndian.Uint16(b[batchAttributesAt:])&attrControl != 0
			n := 0
			err := records.ForEachRecord(b, &scratch, func(r records.RecordView) error {
				if r.Offset <= last {
					return fmt.Errorf("offset %d after %d", r.Offset, last)
				}
				if r.Offset > batchBaseOffset(b)+int64(batchLastOffsetDelta(b)) {
					return fmt.Errorf("offset %d beyond its batch's last offset", r.Offset)
				}
				last = r.Offset
				x := rec{offset: r.Offset, key: bytes.Clone(r.Key), value: bytes.Clone(r.Value), ts: r.Timestamp, control: control}
				r.EachHeader(func(k, v []byte) bool {
					x.headers = append(x.headers, records.Header{Key: string(k), Value: bytes.Clone(v)})
					return true
				})
				out = append(out, x)
				n++
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("batch %d: %w", batchBaseOffset(b), err)
			}
			if int32(binary.BigEndian.Uint32(b[batchRecordCountAt:])) != int32(n) {
				return nil, fmt.Errorf("batch %d: recordCount says %d, holds %d", batchBaseOffset(b), binary.BigEndian.Uint32(b[batchRecordCountAt:]), n)
			}
			if mt := batchMaxTimestamp(b); n > 0 && mt < out[len(out)-1].ts {
				return nil, fmt.Errorf("batch %d: maxTimestamp %d below a record's %d", batchBaseOffset(b), mt, out[len(out)-1].ts)
			}
		}
		next = res.NextOffset
	}
	return out, nil
}

// newestPerKey returns, in offset order, the newest written record of
// every key among offsets below end, plus every record at or above end,
// leaving out tombstones below end when dropTombstones is set and
// keyless records below end.
func newestPerKey(written map[int64]rec, end int64, dropTombstones bool) []rec {
	latest := map[string]int64{}
	for off, r := range written {
		if off < end && r.key != nil {
			if cur, ok := latest[string(r.key)]; !ok || off > cur {
				latest[string(r.key)] = off
			}
		}
	}
	var out []rec
	for off, r := range written {
		switch {
		case off >= end:
			out = append(out, r)
		case r.key == nil:
		case latest[string(r.key)] != off:
		case r.value == nil && dropTombstones:
		default:
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b rec) int { return int(a.offset - b.offset) })
	return out
}

// checkRecords compares what was read with what is expected.
func checkRecords(t testing.TB, what string, got, want []rec) {
	t.Helper()
	if err := diffRecords(got, want); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func diffRecords(got, want []rec) error {
	for i := 0; i < min(len(got), len(want)); i++ {
		if !sameRec(got[i], want[i]) {
			return fmt.Errorf("record #%d is %v, want %v", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d records, want %d", len(got), len(want))
	}
	return nil
}

// sealAll rolls the active segment and fsyncs, so that every record
// written so far is in a sealed, durable (cleanable) segment.
func sealAll(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	l.mu.RLock()
	active := l.mu.segments[len(l.mu.segments)-1]
	l.mu.RUnlock()
	var err error
	if active.size > 0 {
		_, err = l.roll(active, l.LogEndOffset())
	}
	l.appendMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

func mustCompact(t testing.TB, l *Log, c *Cleaner) CompactStats {
	t.Helper()
	st, err := l.Compact(math.MaxInt64, c)
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	return st
}

func isAborted(err error) bool { return errors.Is(err, ErrCompactionAborted) }
