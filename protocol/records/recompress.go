package records

import (
	"encoding/binary"
)

// Recompress returns batch (one whole, validated v2 batch) with its records
// compressed by codec to, as Kafka's leader rewrites a batch when the
// topic's compression.type names a codec other than the producer's. The
// header is kept except for the codec bits, the length and the CRC. A batch
// already in codec to is returned unchanged. dst is reused when large
// enough; the decompressed records are held in scratch, capped at limit.
func Recompress(dst, batch []byte, to Codec, limit int, scratch *Scratch) ([]byte, error) {
	from := Codec(binary.BigEndian.Uint16(batch[attributesOffset:]) & attrCodecMask)
	if from == to {
		return batch, nil
	}
	if scratch == nil {
		scratch = new(Scratch)
	}
	defer scratch.release()
	recs, rerr := scratch.records(batch, from, limit)
	if rerr != nil {
		return nil, rerr
	}
	out, err := Compress(to, append(dst[:0], batch[:recordsOffset]...), recs)
	if err != nil {
		return nil, err
	}
	attrs := binary.BigEndian.Uint16(out[attributesOffset:])&^attrCodecMask | uint16(to)
	binary.BigEndian.PutUint16(out[attributesOffset:], attrs)
	binary.BigEndian.PutUint32(out[batchLengthOffset:], uint32(len(out)-logOverheadBytes))
	binary.BigEndian.PutUint32(out[crcOffset:], BatchCRC(out))
	return out, nil
}
