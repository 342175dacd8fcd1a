package records

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

const testNowMs = 1_700_000_000_000

// threeRecords is a small batch body: a keyed record with a header, a
// keyless record 5 ms later, and a keyed tombstone.
func threeRecords() []Record {
	return []Record{
		{Key: []byte("k0"), Value: []byte("v0"), Headers: []Header{{Key: "h", Value: []byte("x")}, {Key: "n"}}},
		{Value: []byte("v1"), TimestampDelta: 5},
		{Key: []byte("k2"), TimestampDelta: 2},
	}
}

func testBatch(codec Codec) []byte {
	return BuildBatch(codec, testNowMs, threeRecords())
}

// rawBatch encodes the given pre-encoded records (each already length
// prefixed) as one uncompressed batch declaring count records.
func rawBatch(t testing.TB, codec Codec, count int32, body []byte) []byte {
	t.Helper()
	b, err := appendBatchBody(nil, NonIdempotent(codec, testNowMs), count, testNowMs, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordBytes encodes one record body by hand, length prefix included.
func recordBytes(offsetDelta int32, key []byte, tail ...byte) []byte {
	var p []byte
	p = append(p, 0)
	p = AppendVarlong(p, 0)
	p = AppendVarint(p, offsetDelta)
	p = appendBytesField(p, key)
	p = appendBytesField(p, []byte("v"))
	if tail == nil {
		p = AppendVarint(p, 0)
	} else {
		p = append(p, tail...)
	}
	return append(AppendVarint(nil, int32(len(p))), p...)
}

// edit copies b, applies fn, and recomputes the CRC when fix is set.
func edit(b []byte, fix bool, fn func(b []byte)) []byte {
	c := append([]byte(nil), b...)
	fn(c)
	if fix {
		binary.BigEndian.PutUint32(c[crcOffset:], BatchCRC(c))
	}
	return c
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// TestValidateErrors checks, for each way a Produce partition can be
// rejected, the Kafka code, the message and the record errors, by
// corrupting one field of a valid batch per case.
func TestValidateErrors(t *testing.T) {
	be := binary.BigEndian
	good := testBatch(CodecNone)
	gz := testBatch(CodecGzip)
	zs := testBatch(CodecZstd)
	def := DefaultLimits(testNowMs)
	def.TopicPartition = "t-0"

	type tc struct {
		name    string
		data    []byte
		lim     func(l *Limits)
		code    *kerr.Error // nil: must succeed
		msg     string
		recErrs []int32 // batch indexes expected in RecordErrors
	}
	cases := []tc{
		{name: "valid", data: good},
		{name: "valid gzip", data: gz},
		{name: "empty", data: nil, code: kerr.InvalidRecord, msg: "at least one record batch"},
		{name: "shorter than length field", data: good[:11], code: kerr.InvalidRecord, msg: "at least one record batch"},
		{name: "truncated", data: good[:len(good)-1], code: kerr.InvalidRecord, msg: "at least one record batch"},
		{name: "length below overhead", data: edit(good, false, func(b []byte) { be.PutUint32(b[8:], 13) }),
			code: kerr.CorruptMessage, msg: "Record size 13 is less than the minimum record overhead (14)"},
		{name: "negative length", data: edit(good, false, func(b []byte) { be.PutUint32(b[8:], 0xffffffff) }),
			code: kerr.CorruptMessage, msg: "Record size -1"},
		{name: "magic 3", data: edit(good, false, func(b []byte) { b[16] = 3 }),
			code: kerr.CorruptMessage, msg: "Invalid magic found in record: 3"},
		{name: "magic -1", data: edit(good, false, func(b []byte) { b[16] = 0xff }),
			code: kerr.CorruptMessage, msg: "Invalid magic found in record: -1"},
		{name: "magic 1", data: edit(good, false, func(b []byte) { b[16] = 1 }),
			code: kerr.InvalidRecord, msg: "magic version 2"},
		{name: "two batches", data: concat(good, good), code: kerr.InvalidRecord, msg: "exactly one record batch"},
		{name: "trailing partial batch ignored", data: concat(good, good[:40])},
		{name: "trailing bytes with bad length", data: concat(good, make([]byte, 12)),
			code: kerr.CorruptMessage, msg: "Record size 0"},
		{name: "base offset not zero", data: edit(good, false, func(b []byte) { be.PutUint64(b[0:], 7) }),
			code: kerr.InvalidRecord, msg: "The baseOffset of the record batch in the append to t-0 should be 0, but it is 7"},
		{name: "too large", data: good, lim: func(l *Limits) { l.MaxMessageBytes = len(good) - 1 },
			code: kerr.MessageTooLarge, msg: "exceeds the maximum configured value of " + itoa(int64(len(good)-1))},
		{name: "exactly max size", data: good, lim: func(l *Limits) { l.MaxMessageBytes = len(good) }},
		{name: "too large compressed size counts", data: gz, lim: func(l *Limits) { l.MaxMessageBytes = len(gz) - 1 },
			code: kerr.MessageTooLarge},
		{name: "smaller than header", data: edit(good[:40], false, func(b []byte) { be.PutUint32(b[8:], 28) }),
			code: kerr.CorruptMessage, msg: "smaller than the minimum allowed overhead 61"},
		{name: "bad crc", data: edit(good, false, func(b []byte) { b[len(b)-1] ^= 1 }),
			code: kerr.CorruptMessage, msg: "Record is corrupt (stored crc = "},
		{name: "unknown codec", data: edit(good, true, func(b []byte) { b[22] |= 5 }),
			code: kerr.UnsupportedCompressionType, msg: "Unknown compression type id: 5"},
		{name: "zstd before produce v7", data: zs, lim: func(l *Limits) { l.ProduceVersion = 6 },
			code: kerr.UnsupportedCompressionType, msg: "version 6"},
		{name: "zstd at produce v7", data: zs, lim: func(l *Limits) { l.ProduceVersion = 7 }},
		{name: "negative last offset delta", data: edit(good, true, func(b []byte) { be.PutUint32(b[23:], 0xffffffff) }),
			code: kerr.InvalidRecord, msg: "Batch has an invalid offset range: [0, -1] in topic partition t-0"},
		{name: "zero record count", data: edit(good, true, func(b []byte) { be.PutUint32(b[57:], 0) }),
			code: kerr.InvalidRecord, msg: "Invalid reported count for record batch: 0"},
		{name: "count disagrees with offsets", data: edit(good, true, func(b []byte) { be.PutUint32(b[57:], 2) }),
			code: kerr.InvalidRecord, msg: "Inconsistent batch offset range [0, 2] and count of records 2"},
		{name: "control from client", data: edit(good, true, func(b []byte) { b[22] |= attrControl }),
			code: kerr.InvalidRecord, msg: "Clients are not allowed to write control records in topic partition t-0"},
		{name: "control allowed", data: edit(good, true, func(b []byte) { b[22] |= attrControl }),
			lim: func(l *Limits) { l.AllowControl = true }},
		{name: "producer id without sequence", data: edit(good, true, func(b []byte) { be.PutUint64(b[43:], 9) }),
			code: kerr.InvalidRecord, msg: "Invalid sequence number -1 in record batch with producerId 9"},
		{name: "idempotent", data: edit(good, true, func(b []byte) { be.PutUint64(b[43:], 9); be.PutUint32(b[53:], 0) })},
		{name: "fewer records than declared", data: edit(good, true, func(b []byte) {
			be.PutUint32(b[57:], 4)
			be.PutUint32(b[23:], 3)
		}), code: kerr.InvalidRecord, msg: "premature EOF reached"},
		{name: "more records than declared", data: edit(good, true, func(b []byte) {
			be.PutUint32(b[57:], 2)
			be.PutUint32(b[23:], 1)
		}), code: kerr.InvalidRecord, msg: "records still remaining"},
		{name: "fewer records than declared gzip", data: edit(gz, true, func(b []byte) {
			be.PutUint32(b[57:], 4)
			be.PutUint32(b[23:], 3)
		}), code: kerr.InvalidRecord, msg: "premature EOF reached"},
		{name: "record length past the end", data: rawBatch(t, CodecNone, 1, []byte{0x7e, 0, 0}),
			code: kerr.InvalidRecord, msg: "expected 63 bytes in record payload, but instead the buffer has only 2"},
		{name: "negative record length", data: rawBatch(t, CodecNone, 1, []byte{0x01, 0}),
			code: kerr.InvalidRecord, msg: "Invalid record size"},
		{name: "record length varint too long", data: rawBatch(t, CodecNone, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0}),
			code: kerr.InvalidRecord, msg: "Found invalid record structure"},
		{name: "offset delta varint too long", data: rawBatch(t, CodecNone, 1,
			append(AppendVarint(nil, 8), 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0)),
			code: kerr.InvalidRecord, msg: "Found invalid record structure"},
		{name: "key past record end", data: rawBatch(t, CodecNone, 1, append(AppendVarint(nil, 4), 0, 0, 0, 40)),
			code: kerr.InvalidRecord, msg: "Found invalid record structure"},
		{name: "record body longer than fields", data: rawBatch(t, CodecNone, 1, func() []byte {
			r := recordBytes(0, []byte("k"))
			r[0] += 2 // two more body bytes than the fields use
			return append(r, 0)
		}()), code: kerr.InvalidRecord, msg: "Invalid record size: expected to read"},
		{name: "negative header count", data: rawBatch(t, CodecNone, 1, recordBytes(0, []byte("k"), AppendVarint(nil, -2)...)),
			code: kerr.InvalidRecord, msg: "Found invalid number of record headers -2"},
		{name: "header count beyond bytes", data: rawBatch(t, CodecNone, 1, recordBytes(0, []byte("k"), AppendVarint(nil, 9)...)),
			code: kerr.InvalidRecord, msg: "is larger than the remaining size of the buffer"},
		{name: "negative header key length", data: rawBatch(t, CodecNone, 1,
			recordBytes(0, []byte("k"), append(AppendVarint(nil, 1), append(AppendVarint(nil, -1), 0)...)...)),
			code: kerr.InvalidRecord, msg: "Invalid negative header key size -1"},
		{name: "offset delta not consecutive", data: rawBatch(t, CodecNone, 2,
			concat(recordBytes(0, []byte("a")), recordBytes(2, []byte("b")))),
			code: kerr.InvalidRecord, msg: "Record at batch index 1 has offset delta 2"},
		{name: "offset delta not consecutive zstd", data: rawBatch(t, CodecZstd, 2,
			concat(recordBytes(1, []byte("a")), recordBytes(2, []byte("b")))),
			code: kerr.InvalidRecord, msg: "Record at batch index 0 has offset delta 1"},
		{name: "compacted topic keyless record", data: good, lim: func(l *Limits) { l.RequireKey = true },
			code: kerr.InvalidRecord, recErrs: []int32{1},
			msg: "One or more records have been rejected due to 1 record errors in total, and only showing the first three errors at most: " +
				"[RecordError(batchIndex=1, message='Compacted topic cannot accept message without key in topic partition t-0')]"},
		{name: "compacted topic keyless lz4", data: testBatch(CodecLZ4), lim: func(l *Limits) { l.RequireKey = true },
			code: kerr.InvalidRecord, recErrs: []int32{1}},
		{name: "timestamp too old", data: good, lim: func(l *Limits) { l.NowMs = testNowMs + 10; l.TimestampBeforeMaxMs = 6 },
			code: kerr.InvalidTimestamp, recErrs: []int32{0, 2}, msg: "One or more records have been rejected due to invalid timestamp"},
		{name: "timestamp too new", data: good, lim: func(l *Limits) { l.NowMs = testNowMs - 10; l.TimestampAfterMaxMs = 14 },
			code: kerr.InvalidTimestamp, recErrs: []int32{1}},
		{name: "timestamp at both bounds", data: good, lim: func(l *Limits) {
			l.NowMs = testNowMs + 3
			l.TimestampBeforeMaxMs = 3
			l.TimestampAfterMaxMs = 2
		}},
		{name: "missing timestamp is not checked", data: BuildBatch(CodecNone, NoTimestamp, []Record{{Key: []byte("k")}}),
			lim: func(l *Limits) { l.TimestampBeforeMaxMs = 0 }},
		{name: "key and timestamp failures together", data: good,
			lim:  func(l *Limits) { l.RequireKey = true; l.NowMs = testNowMs + 10; l.TimestampBeforeMaxMs = 6 },
			code: kerr.InvalidTimestamp, recErrs: []int32{0, 1, 2}},
		{name: "client LogAppendTime on LogAppendTime topic", data: edit(good, true, func(b []byte) { b[22] |= attrLogAppendTime }),
			lim: func(l *Limits) { l.TimestampType = LogAppendTime }, code: kerr.InvalidTimestamp, recErrs: []int32{0, 1, 2}},
		{name: "client LogAppendTime on CreateTime topic in range", data: edit(good, true, func(b []byte) { b[22] |= attrLogAppendTime })},
		{name: "LogAppendTime topic ignores timestamps", data: good, lim: func(l *Limits) {
			l.TimestampType = LogAppendTime
			l.TimestampBeforeMaxMs = 0
			l.TimestampAfterMaxMs = 0
			l.NowMs = 0
		}},
		{name: "gzip garbage", data: rawBatch(t, CodecNone, 1, []byte("not gzip at all")), lim: nil,
			code: kerr.InvalidRecord}, // uncompressed: garbage is a structure fault
		{name: "gzip stream corrupt", data: edit(gz, true, func(b []byte) { b[61+12] ^= 0xff }),
			code: kerr.CorruptMessage, msg: "Failed to decompress gzip record stream"},
		{name: "decompressed size over limit", data: gz, lim: func(l *Limits) { l.MaxDecompressedBytes = 8 },
			code: kerr.CorruptMessage, msg: "exceeds the limit of 8 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lim := def
			if c.lim != nil {
				c.lim(&lim)
			}
			info, err := Validate(c.data, lim, new(Scratch))
			if c.code == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if info.Size > len(c.data) || info.NumRecords <= 0 {
					t.Fatalf("bad info %+v", info)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want %s", c.code.Message)
			}
			if !errors.Is(err, c.code) {
				t.Fatalf("got %v; want %s", err, c.code.Message)
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not *Error", err)
			}
			if !strings.Contains(ve.Message, c.msg) {
				t.Fatalf("message %q does not contain %q", ve.Message, c.msg)
			}
			var got []int32
			for _, re := range ve.RecordErrors {
				got = append(got, re.BatchIndex)
			}
			if !equalInt32s(got, c.recErrs) {
				t.Fatalf("record errors at %v; want %v (%+v)", got, c.recErrs, ve.RecordErrors)
			}
			if (ve.ResponseErrorMessage() != nil) != (c.recErrs != nil) {
				t.Fatalf("ResponseErrorMessage %v with record errors %v", ve.ResponseErrorMessage(), c.recErrs)
			}
		})
	}
}

func equalInt32s(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestValidateInfo checks the BatchInfo fields against the header the batch
// was built with, for a transactional idempotent batch.
func TestValidateInfo(t *testing.T) {
	o := NonIdempotent(CodecSnappy, testNowMs)
	o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = 42, 3, 100, true
	b, err := AppendBatch(nil, o, threeRecords())
	if err != nil {
		t.Fatal(err)
	}
	info, err := Validate(b, DefaultLimits(testNowMs), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchInfo{
		Size: len(b), Codec: CodecSnappy, NumRecords: 3, LastOffsetDelta: 2, BaseTimestamp: testNowMs,
		MaxTimestamp: testNowMs + 5, MaxTimestampOffsetDelta: 1, ProducerID: 42, ProducerEpoch: 3,
		BaseSequence: 100, Transactional: true, RecordsBytes: info.RecordsBytes,
	}
	if info != want {
		t.Fatalf("got %+v\nwant %+v", info, want)
	}
	if info.RecordsBytes <= 0 {
		t.Fatalf("RecordsBytes %d", info.RecordsBytes)
	}
}

// TestRecordErrorsCapped checks that a batch with more failing records than
// RecordErrorsMax reports RecordErrorsMax of them and counts all in the
// message.
func TestRecordErrorsCapped(t *testing.T) {
	n := RecordErrorsMax + 10
	recs := make([]Record, n)
	b := BuildBatch(CodecZstd, testNowMs, recs)
	lim := DefaultLimits(testNowMs)
	lim.RequireKey = true
	_, err := Validate(b, lim, nil)
	var ve *Error
	if !errors.As(err, &ve) || !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("got %v", err)
	}
	if len(ve.RecordErrors) != RecordErrorsMax {
		t.Fatalf("%d record errors", len(ve.RecordErrors))
	}
	if !strings.Contains(ve.Message, "due to "+itoa(int64(n))+" record errors") {
		t.Fatalf("message %q", ve.Message)
	}
}
