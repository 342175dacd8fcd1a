package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// variedRecords covers the encodings that differ: null and empty keys and
// values, headers with null and empty values, negative and large timestamp
// deltas, and a value long enough to need multi-byte varints.
func variedRecords() []Record {
	return []Record{
		{Key: []byte("key"), Value: []byte("value"), Headers: []Header{{Key: "a", Value: []byte("1")}, {Key: "null"}, {Key: "", Value: []byte{}}}},
		{Key: nil, Value: nil},
		{Key: []byte{}, Value: []byte{}, TimestampDelta: -3},
		{Key: []byte("big"), Value: bytes.Repeat([]byte("x"), 70000), TimestampDelta: 1 << 40},
	}
}

// TestBatchMatchesKmsg builds batches with AppendBatch for every codec and
// decodes them independently with kmsg.RecordBatch, franz-go's decompressor
// and kmsg.Record, comparing every field with the input and with what
// ForEachRecord yields.
func TestBatchMatchesKmsg(t *testing.T) {
	dec := kgo.DefaultDecompressor()
	recs := variedRecords()
	for _, c := range allCodecs {
		o := NonIdempotent(c, testNowMs)
		o.ProducerID, o.ProducerEpoch, o.BaseSequence = 7, 2, 11
		b, err := AppendBatch([]byte("prefix"), o, recs)
		if err != nil {
			t.Fatal(err)
		}
		b = b[len("prefix"):]
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatalf("%v: kmsg: %v", c, err)
		}
		if kb.FirstOffset != 0 || int(kb.Length) != len(b)-12 || kb.Magic != 2 ||
			kb.Attributes != int16(c) || kb.LastOffsetDelta != int32(len(recs)-1) ||
			kb.FirstTimestamp != testNowMs || kb.MaxTimestamp != testNowMs+1<<40 ||
			kb.ProducerID != 7 || kb.ProducerEpoch != 2 || kb.FirstSequence != 11 ||
			kb.NumRecords != int32(len(recs)) {
			t.Fatalf("%v: header %+v", c, kb)
		}
		if want := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)); uint32(kb.CRC) != want {
			t.Fatalf("%v: crc %x want %x", c, kb.CRC, want)
		}
		raw, err := dec.Decompress(kb.Records, kgo.CompressionCodecType(c))
		if err != nil {
			t.Fatalf("%v: decompress: %v", c, err)
		}
		var got []kmsg.Record
		for len(raw) > 0 {
			var kr kmsg.Record
			if err := kr.ReadFrom(raw); err != nil {
				t.Fatalf("%v: record: %v", c, err)
			}
			got = append(got, kr)
			raw = raw[len(AppendVarint(nil, kr.Length))+int(kr.Length):]
		}
		if len(got) != len(recs) {
			t.Fatalf("%v: %d records", c, len(got))
		}
		i := 0
		err = ForEachRecord(b, nil, func(r RecordView) error {
			kr, want := got[i], recs[i]
			if kr.OffsetDelta != int32(i) || r.OffsetDelta != int32(i) ||
				kr.TimestampDelta64 != want.TimestampDelta || r.TimestampDelta != want.TimestampDelta ||
				r.Timestamp != testNowMs+want.TimestampDelta || r.Offset != int64(i) ||
				!sameBytes(kr.Key, want.Key) || !sameBytes(r.Key, want.Key) ||
				!sameBytes(kr.Value, want.Value) || !sameBytes(r.Value, want.Value) ||
				len(kr.Headers) != len(want.Headers) || int(r.HeaderCount) != len(want.Headers) {
				t.Fatalf("%v: record %d: kmsg %+v view %+v want %+v", c, i, kr, r, want)
			}
			j := 0
			r.EachHeader(func(k, v []byte) bool {
				if string(k) != want.Headers[j].Key || !sameBytes(v, want.Headers[j].Value) ||
					kr.Headers[j].Key != want.Headers[j].Key || !sameBytes(kr.Headers[j].Value, want.Headers[j].Value) {
					t.Fatalf("%v: record %d header %d: %q=%q", c, i, j, k, v)
				}
				j++
				return true
			})
			if j != len(want.Headers) {
				t.Fatalf("%v: record %d: %d headers visited", c, i, j)
			}
			i++
			return nil
		})
		if err != nil || i != len(recs) {
			t.Fatalf("%v: ForEachRecord: %v after %d", c, err, i)
		}
		lim := DefaultLimits(testNowMs)
		lim.TimestampAfterMaxMs = 1 << 41
		if _, err := Validate(b, lim, nil); err != nil {
			t.Fatalf("%v: Validate: %v", c, err)
		}
	}
}

// sameBytes compares contents and nullness.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// TestValidateKmsgBuiltBatch encodes a batch entirely with franz-go
// (kmsg.Record and kmsg.RecordBatch, compressed by kgo's compressor) and
// checks that Validate accepts it and ForEachRecord reads it back.
func TestValidateKmsgBuiltBatch(t *testing.T) {
	for _, c := range allCodecs {
		var body []byte
		for i := range 3 {
			kr := kmsg.Record{
				TimestampDelta64: int64(i),
				OffsetDelta:      int32(i),
				Key:              []byte{'k', byte('0' + i)},
				Value:            bytes.Repeat([]byte{'v'}, 100*i),
				Headers:          []kmsg.Header{{Key: "h", Value: []byte{byte(i)}}},
			}
			enc := kr.AppendTo(nil)
			// AppendTo writes the Length field as given; set it now that
			// the body size is known.
			kr.Length = int32(len(enc) - len(AppendVarint(nil, 0)))
			body = kr.AppendTo(body)
		}
		comp := body
		if c != CodecNone {
			kc, err := kgo.DefaultCompressor(kgoCodec(c))
			if err != nil {
				t.Fatal(err)
			}
			comp, _ = kc.Compress(new(bytes.Buffer), body)
		}
		kb := kmsg.RecordBatch{
			Magic: 2, Attributes: int16(c), LastOffsetDelta: 2, FirstTimestamp: testNowMs,
			MaxTimestamp: testNowMs + 2, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
			NumRecords: 3, Records: comp,
		}
		b := kb.AppendTo(nil)
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		binary.BigEndian.PutUint32(b[17:], BatchCRC(b))
		info, err := Validate(b, DefaultLimits(testNowMs), nil)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if info.NumRecords != 3 || info.MaxTimestamp != testNowMs+2 || info.RecordsBytes != len(body) {
			t.Fatalf("%v: %+v", c, info)
		}
		n := 0
		if err := ForEachRecord(b, nil, func(r RecordView) error {
			if len(r.Value) != 100*n || r.Key[1] != byte('0'+n) {
				t.Fatalf("%v: record %d: %+v", c, n, r)
			}
			n++
			return nil
		}); err != nil || n != 3 {
			t.Fatalf("%v: %v, %d records", c, err, n)
		}
	}
}

// TestSetLogAppendTime checks that the leader's LogAppendTime stamp sets the
// timestamp bit and maxTimestamp, keeps the CRC valid, leaves the records
// alone, and makes every record read with the append time.
func TestSetLogAppendTime(t *testing.T) {
	for _, c := range allCodecs {
		b := testBatch(c)
		records := append([]byte(nil), b[recordsOffset:]...)
		const appendTime = testNowMs + 999
		SetLogAppendTime(b, appendTime)
		h := parseHeader(b)
		if !h.logAppendTime() || h.maxTimestamp != appendTime || h.codec() != c {
			t.Fatalf("%v: header %+v", c, h)
		}
		if binary.BigEndian.Uint32(b[crcOffset:]) != BatchCRC(b) {
			t.Fatalf("%v: CRC not updated", c)
		}
		if !bytes.Equal(b[recordsOffset:], records) {
			t.Fatalf("%v: records changed", c)
		}
		if err := ForEachRecord(b, nil, func(r RecordView) error {
			if r.Timestamp != appendTime {
				t.Fatalf("%v: record timestamp %d", c, r.Timestamp)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if SetMaxTimestamp(b, LogAppendTime, appendTime) {
			t.Fatalf("%v: unchanged stamp reported a change", c)
		}
		if h := parseHeader(b); !SetMaxTimestamp(b, CreateTime, testNowMs+5) || h.attributes&attrLogAppendTime == 0 || parseHeader(b).attributes&attrLogAppendTime != 0 {
			t.Fatalf("%v: CreateTime did not clear the bit", c)
		}
		// Base offset and leader epoch sit outside the CRC.
		SetBaseOffset(b, 1234)
		SetPartitionLeaderEpoch(b, 9)
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil || kb.FirstOffset != 1234 || kb.PartitionLeaderEpoch != 9 ||
			uint32(kb.CRC) != BatchCRC(b) {
			t.Fatalf("%v: %v %+v", c, err, kb)
		}
	}
}

// TestForEachRecordStopsAndErrors checks that an error from fn stops the
// walk and is returned as is, and that malformed batches are reported.
func TestForEachRecordStopsAndErrors(t *testing.T) {
	b := testBatch(CodecGzip)
	stop := errors.New("stop")
	n := 0
	if err := ForEachRecord(b, nil, func(RecordView) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("got %v after %d records", err, n)
	}
	// Finding the first record at or after a timestamp, as ListOffsets does.
	var found int64 = -1
	SetBaseOffset(b, 100)
	if err := ForEachRecord(b, nil, func(r RecordView) error {
		if r.Timestamp >= testNowMs+2 {
			found = r.Offset
			return stop
		}
		return nil
	}); err != stop || found != 101 {
		t.Fatalf("found offset %d, %v", found, err)
	}
	for name, bad := range map[string][]byte{
		"short":     b[:60],
		"magic":     edit(b, false, func(b []byte) { b[16] = 1 }),
		"truncated": b[:len(b)-1],
		"count":     edit(b, false, func(b []byte) { binary.BigEndian.PutUint32(b[57:], 9) }),
		"codec":     edit(b, false, func(b []byte) { b[22] = 7 }),
		"bomb":      edit(b, false, func(b []byte) { b[22] = byte(CodecZstd) }),
	} {
		if err := ForEachRecord(bad, nil, func(RecordView) error { return nil }); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
	s := &Scratch{MaxDecompressedBytes: 10}
	if err := ForEachRecord(b, s, func(RecordView) error { return nil }); err == nil {
		t.Fatal("decompressed past the Scratch limit")
	}
}

// TestValidateAllocs checks the allocation budget: none for an uncompressed
// batch, and none per record for compressed ones once the Scratch is warm.
func TestValidateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	recs := make([]Record, 200)
	for i := range recs {
		recs[i] = Record{Key: []byte("key"), Value: bytes.Repeat([]byte("v"), 100), Headers: []Header{{Key: "h", Value: []byte("x")}}}
	}
	lim := DefaultLimits(testNowMs)
	lim.TopicPartition = "topic-3"
	lim.RequireKey = true
	for _, c := range allCodecs {
		b := BuildBatch(c, testNowMs, recs)
		var s Scratch
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := Validate(b, lim, &s); err != nil {
				t.Fatal(err)
			}
		})
		// gzip's and lz4's readers allocate a little per stream; the
		// bound is far below one per record either way.
		limit := 0.0
		if c == CodecGzip || c == CodecLZ4 {
			limit = 8
		}
		if allocs > limit {
			t.Errorf("%v: %.1f allocs per Validate of %d records", c, allocs, len(recs))
		}
		allocs = testing.AllocsPerRun(50, func() {
			if err := ForEachRecord(b, &s, func(RecordView) error { return nil }); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > limit {
			t.Errorf("%v: %.1f allocs per ForEachRecord of %d records", c, allocs, len(recs))
		}
	}
}
