package records

import (
	"encoding/binary"
	"fmt"
)

// Header is one record header.
type Header struct {
	Key   string
	Value []byte // nil encodes a null value
}

// Record is one record to encode with AppendBatch.
type Record struct {
	Key            []byte // nil encodes a null key
	Value          []byte // nil encodes a null value
	Headers        []Header
	TimestampDelta int64 // ms after the batch BaseTimestamp
}

// BatchOptions are the header fields AppendBatch writes. The base offset is
// always 0, as producers send it.
type BatchOptions struct {
	Codec         Codec
	BaseTimestamp int64 // ms
	// LogAppendTime sets the timestamp type bit.
	LogAppendTime bool
	// ProducerID, ProducerEpoch and BaseSequence are -1 for a
	// non-idempotent producer; see NonIdempotent.
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	Transactional        bool
	Control              bool
	PartitionLeaderEpoch int32
}

// NonIdempotent returns the options a non-idempotent producer uses.
func NonIdempotent(codec Codec, baseTimestamp int64) BatchOptions {
	return BatchOptions{
		Codec:                codec,
		BaseTimestamp:        baseTimestamp,
		ProducerID:           NoProducerID,
		ProducerEpoch:        -1,
		BaseSequence:         -1,
		PartitionLeaderEpoch: -1,
	}
}

// AppendBatch appends one v2 record batch holding recs, with offset deltas
// 0..len(recs)-1, maxTimestamp set to the largest record timestamp and a
// valid CRC, encoded as a producer encodes it.
func AppendBatch(dst []byte, o BatchOptions, recs []Record) ([]byte, error) {
	if !o.Codec.Known() {
		return dst, ErrUnknownCodec
	}
	var body []byte
	maxDelta := int64(-1)
	for i := range recs {
		body = appendRecord(body, int32(i), &recs[i])
		if i == 0 || recs[i].TimestampDelta > maxDelta {
			maxDelta = recs[i].TimestampDelta
		}
	}
	maxTimestamp := o.BaseTimestamp
	if len(recs) > 0 {
		maxTimestamp += maxDelta
	}
	return appendBatchBody(dst, o, int32(len(recs)), maxTimestamp, body)
}

// appendBatchBody appends a batch whose encoded records are body: count
// records with offset deltas 0..count-1.
func appendBatchBody(dst []byte, o BatchOptions, count int32, maxTimestamp int64, body []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, BatchHeaderBytes)...)
	var err error
	if dst, err = Compress(o.Codec, dst, body); err != nil {
		return dst[:start], err
	}
	b := dst[start:]
	be := binary.BigEndian
	attrs := uint16(o.Codec)
	if o.LogAppendTime {
		attrs |= attrLogAppendTime
	}
	if o.Transactional {
		attrs |= attrTransactional
	}
	if o.Control {
		attrs |= attrControl
	}
	be.PutUint32(b[batchLengthOffset:], uint32(len(b)-logOverheadBytes))
	be.PutUint32(b[partitionLeaderEpochOffset:], uint32(o.PartitionLeaderEpoch))
	b[magicOffset] = Magic
	be.PutUint16(b[attributesOffset:], attrs)
	be.PutUint32(b[lastOffsetDeltaOffset:], uint32(count-1))
	be.PutUint64(b[baseTimestampOffset:], uint64(o.BaseTimestamp))
	be.PutUint64(b[maxTimestampOffset:], uint64(maxTimestamp))
	be.PutUint64(b[producerIDOffset:], uint64(o.ProducerID))
	be.PutUint16(b[producerEpochOffset:], uint16(o.ProducerEpoch))
	be.PutUint32(b[baseSequenceOffset:], uint32(o.BaseSequence))
	be.PutUint32(b[recordCountOffset:], uint32(count))
	be.PutUint32(b[crcOffset:], BatchCRC(b))
	return dst, nil
}

// BuildBatch returns a batch as a non-idempotent producer sends it. It
// panics on an unknown codec, which is a programming error.
func BuildBatch(codec Codec, baseTimestamp int64, recs []Record) []byte {
	b, err := AppendBatch(nil, NonIdempotent(codec, baseTimestamp), recs)
	if err != nil {
		panic(fmt.Sprintf("records: BuildBatch(%v): %v", codec, err))
	}
	return b
}

// AppendVarint appends v zigzag-encoded, as Kafka writes varints.
func AppendVarint(b []byte, v int32) []byte {
	return AppendVarlong(b, int64(v))
}

// AppendVarlong appends v zigzag-encoded, as Kafka writes varlongs.
func AppendVarlong(b []byte, v int64) []byte {
	return binary.AppendUvarint(b, uint64(v<<1)^uint64(v>>63))
}

func appendBytesField(b, f []byte) []byte {
	if f == nil {
		return AppendVarint(b, -1)
	}
	return append(AppendVarint(b, int32(len(f))), f...)
}

// appendRecord appends one length-prefixed record.
func appendRecord(dst []byte, offsetDelta int32, r *Record) []byte {
	var body [64]byte
	p := append(body[:0], 0) // attributes
	p = AppendVarlong(p, r.TimestampDelta)
	p = AppendVarint(p, offsetDelta)
	p = appendBytesField(p, r.Key)
	p = appendBytesField(p, r.Value)
	p = AppendVarint(p, int32(len(r.Headers)))
	for _, h := range r.Headers {
		p = AppendVarint(p, int32(len(h.Key)))
		p = append(p, h.Key...)
		p = appendBytesField(p, h.Value)
	}
	dst = AppendVarint(dst, int32(len(p)))
	return append(dst, p...)
}
