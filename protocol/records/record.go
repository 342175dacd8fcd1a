package records

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
)

// readVarint decodes a zigzag varint the way Kafka's ByteUtils.readVarint
// does: at most five bytes, bits beyond 32 dropped. n is the number of bytes
// read; n == 0 means b ended first and n < 0 means the varint is too long.
func readVarint(b []byte) (v int32, n int) {
	var x uint32
	var s uint
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < 0x80 {
			x |= uint32(c) << s
			return int32(x>>1) ^ -int32(x&1), i + 1
		}
		x |= uint32(c&0x7f) << s
		s += 7
		if s > 28 {
			return 0, -(i + 1)
		}
	}
	return 0, 0
}

// readVarlong decodes a zigzag varlong like Kafka's ByteUtils.readVarlong:
// at most ten bytes. n follows readVarint's convention.
func readVarlong(b []byte) (v int64, n int) {
	var x uint64
	var s uint
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < 0x80 {
			x |= uint64(c) << s
			return int64(x>>1) ^ -int64(x&1), i + 1
		}
		x |= uint64(c&0x7f) << s
		s += 7
		if s > 63 {
			return 0, -(i + 1)
		}
	}
	return 0, 0
}

// RecordView is one record of a batch, parsed in place. Key, Value and
// Headers alias the batch (or the Scratch buffer holding its decompressed
// records) and are valid only until the callback that received the view
// returns.
type RecordView struct {
	// Attributes is the record attributes byte (unused by Kafka today).
	Attributes int8
	// TimestampDelta is the record timestamp minus the batch BaseTimestamp, in ms.
	TimestampDelta int64
	// OffsetDelta is the record offset minus the batch base offset.
	OffsetDelta int32
	// Key is nil for a null key.
	Key []byte
	// Value is nil for a null value (a tombstone).
	Value []byte
	// HeaderCount is the number of headers.
	HeaderCount int32
	// Headers holds the encoded headers; walk them with EachHeader.
	Headers []byte
	// Timestamp is the record's timestamp in ms as a consumer sees it: the
	// batch maxTimestamp for LogAppendTime batches, otherwise
	// BaseTimestamp+TimestampDelta.
	Timestamp int64
	// Offset is the batch base offset plus OffsetDelta.
	Offset int64
}

// EachHeader calls fn for every header in order until fn returns false. key
// and value alias the record; value is nil for a null header value.
func (r RecordView) EachHeader(fn func(key, value []byte) bool) {
	b := r.Headers
	for i := int32(0); i < r.HeaderCount; i++ {
		key, n := readBytesField(b)
		if n <= 0 {
			return
		}
		b = b[n:]
		value, m := readBytesField(b)
		if m <= 0 {
			return
		}
		b = b[m:]
		if !fn(key, value) {
			return
		}
	}
}

// readBytesField reads a varint length and that many bytes; a negative
// length is a null field, as Kafka reads it. n <= 0 means malformed.
func readBytesField(b []byte) ([]byte, int) {
	l, n := readVarint(b)
	if n <= 0 {
		return nil, -1
	}
	if l < 0 {
		return nil, n
	}
	if int(l) > len(b)-n {
		return nil, -1
	}
	return b[n : n+int(l) : n+int(l)], n + int(l)
}

// invalidStructure is Kafka's error for a record whose fields do not parse.
func invalidStructure() *Error {
	return newError(kerr.InvalidRecord, "Found invalid record structure")
}

// parseRecord reads one record from the front of b into r, returning the
// bytes consumed. Its errors follow Kafka's DefaultRecord.readFrom.
func parseRecord(b []byte, r *RecordView) (int, *Error) {
	size, n := readVarint(b)
	if n == 0 {
		return 0, newError(kerr.InvalidRecord, "Incorrect declared batch size, premature EOF reached")
	}
	if n < 0 {
		return 0, invalidStructure()
	}
	rest := len(b) - n
	if size < 0 || int(size) > rest {
		return 0, newError(kerr.InvalidRecord, "Invalid record size: expected "+itoa(int64(size))+
			" bytes in record payload, but instead the buffer has only "+itoa(int64(rest))+" remaining bytes.")
	}
	body := b[n : n+int(size)]
	used, err := parseBody(body, r)
	if err != nil {
		return 0, err
	}
	if used != len(body) {
		return 0, newError(kerr.InvalidRecord, "Invalid record size: expected to read "+itoa(int64(size))+
			" bytes in record payload, but instead read "+itoa(int64(used)))
	}
	return n + int(size), nil
}

// parseBody parses the fields of one record body and returns the bytes read.
func parseBody(body []byte, r *RecordView) (int, *Error) {
	if len(body) < 1 {
		return 0, invalidStructure()
	}
	r.Attributes = int8(body[0])
	p := 1
	var n int
	r.TimestampDelta, n = readVarlong(body[p:])
	if n <= 0 {
		return 0, invalidStructure()
	}
	p += n
	r.OffsetDelta, n = readVarint(body[p:])
	if n <= 0 {
		return 0, invalidStructure()
	}
	p += n
	r.Key, n = readBytesField(body[p:])
	if n <= 0 {
		return 0, invalidStructure()
	}
	p += n
	r.Value, n = readBytesField(body[p:])
	if n <= 0 {
		return 0, invalidStructure()
	}
	p += n
	count, n := readVarint(body[p:])
	if n <= 0 {
		return 0, invalidStructure()
	}
	p += n
	if count < 0 {
		return 0, newError(kerr.InvalidRecord, "Found invalid number of record headers "+itoa(int64(count)))
	}
	if int(count) > len(body)-p {
		return 0, newError(kerr.InvalidRecord, "Found invalid number of record headers. "+itoa(int64(count))+
			" is larger than the remaining size of the buffer")
	}
	start := p
	for i := int32(0); i < count; i++ {
		kl, n := readVarint(body[p:])
		if n <= 0 {
			return 0, invalidStructure()
		}
		if kl < 0 {
			return 0, newError(kerr.InvalidRecord, "Invalid negative header key size "+itoa(int64(kl)))
		}
		p += n
		if int(kl) > len(body)-p {
			return 0, invalidStructure()
		}
		p += int(kl)
		_, n = readBytesField(body[p:])
		if n <= 0 {
			return 0, invalidStructure()
		}
		p += n
	}
	r.HeaderCount = count
	r.Headers = body[start:p:p]
	return p, nil
}

// header is the decoded v2 batch header.
type header struct {
	baseOffset      int64
	attributes      int16
	lastOffsetDelta int32
	baseTimestamp   int64
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	recordCount     int32
}

// parseHeader decodes the header of a batch holding at least
// BatchHeaderBytes.
func parseHeader(b []byte) header {
	be := binary.BigEndian
	return header{
		baseOffset:      int64(be.Uint64(b[baseOffsetOffset:])),
		attributes:      int16(be.Uint16(b[attributesOffset:])),
		lastOffsetDelta: int32(be.Uint32(b[lastOffsetDeltaOffset:])),
		baseTimestamp:   int64(be.Uint64(b[baseTimestampOffset:])),
		maxTimestamp:    int64(be.Uint64(b[maxTimestampOffset:])),
		producerID:      int64(be.Uint64(b[producerIDOffset:])),
		producerEpoch:   int16(be.Uint16(b[producerEpochOffset:])),
		baseSequence:    int32(be.Uint32(b[baseSequenceOffset:])),
		recordCount:     int32(be.Uint32(b[recordCountOffset:])),
	}
}

func (h *header) codec() Codec        { return Codec(h.attributes & attrCodecMask) }
func (h *header) logAppendTime() bool { return h.attributes&attrLogAppendTime != 0 }
func (h *header) transactional() bool { return h.attributes&attrTransactional != 0 }
func (h *header) control() bool       { return h.attributes&attrControl != 0 }
func (h *header) hasProducerID() bool { return h.producerID > NoProducerID }
func (h *header) lastOffset() int64   { return h.baseOffset + int64(h.lastOffsetDelta) }
func (h *header) recordTimestamp(r *RecordView) int64 {
	if h.logAppendTime() {
		return h.maxTimestamp
	}
	return h.baseTimestamp + r.TimestampDelta
}

// recordIter walks the records section of a batch.
type recordIter struct {
	buf  []byte
	pos  int
	left int32
}

// next parses the next record into r. After the last declared record it
// checks that no bytes remain, as Kafka's RecordIterator does.
func (it *recordIter) next(r *RecordView) *Error {
	n, err := parseRecord(it.buf[it.pos:], r)
	if err != nil {
		return err
	}
	it.pos += n
	it.left--
	if it.left == 0 && it.pos != len(it.buf) {
		return newError(kerr.InvalidRecord, "Incorrect declared batch size, records still remaining in file")
	}
	return nil
}

// ForEachRecord calls fn with a view of every record of one v2 batch, in
// order, decompressing into scratch when the batch is compressed (capped at
// scratch.MaxDecompressedBytes, or DefaultMaxDecompressedBytes when that is
// zero). It does not check the CRC or the Produce rules; Validate does. It
// stops at the first error, from the batch or returned by fn, and returns it.
// scratch may be nil.
func ForEachRecord(batch []byte, scratch *Scratch, fn func(r RecordView) error) error {
	if len(batch) < BatchHeaderBytes {
		return newError(kerr.CorruptMessage, "Record batch is corrupt (the size "+itoa(int64(len(batch)))+
			" is smaller than the minimum allowed overhead 61)")
	}
	if batch[magicOffset] != Magic {
		return newError(kerr.CorruptMessage, "Invalid magic found in record: "+itoa(int64(int8(batch[magicOffset]))))
	}
	size := logOverheadBytes + int64(int32(binary.BigEndian.Uint32(batch[batchLengthOffset:])))
	if size < BatchHeaderBytes || size > int64(len(batch)) {
		return newError(kerr.CorruptMessage, "Record batch size "+itoa(size)+" does not fit the "+
			itoa(int64(len(batch)))+" bytes given")
	}
	batch = batch[:size]
	h := parseHeader(batch)
	if h.recordCount < 0 {
		return newError(kerr.InvalidRecord, "Found invalid record count "+itoa(int64(h.recordCount))+" in magic v2 batch")
	}
	if scratch == nil {
		scratch = new(Scratch)
	}
	defer scratch.release()
	limit := scratch.MaxDecompressedBytes
	if limit <= 0 {
		limit = DefaultMaxDecompressedBytes
	}
	recs, err := scratch.records(batch, h.codec(), limit)
	if err != nil {
		return err
	}
	it := recordIter{buf: recs, left: h.recordCount}
	var r RecordView
	for it.left > 0 {
		if err := it.next(&r); err != nil {
			return err
		}
		r.Timestamp = h.recordTimestamp(&r)
		r.Offset = h.baseOffset + int64(r.OffsetDelta)
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}
