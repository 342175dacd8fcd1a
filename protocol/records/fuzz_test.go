package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

const fuzzLimit = 1 << 20

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, c := range allCodecs {
		seeds = append(seeds, testBatch(c), BuildBatch(c, testNowMs, variedRecords()[:3]))
	}
	seeds = append(seeds,
		rawBatch(&testing.T{}, CodecNone, 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0}),
		concat(testBatch(CodecNone), testBatch(CodecNone)),
		nil, make([]byte, 61))
	return seeds
}

// FuzzValidate feeds arbitrary bytes to Validate and ForEachRecord. When fix
// is set the codec bits are set from codec and the CRC is recomputed, so the
// fuzzer reaches the decompression and record walk rather than stopping at
// the CRC. Neither may panic, an accepted batch must read back with the
// declared record count, and the decompression buffer must stay within the
// limit.
func FuzzValidate(f *testing.F) {
	for _, s := range fuzzSeeds() {
		for c := range uint8(5) {
			f.Add(s, c, true)
		}
		f.Add(s, uint8(0), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, codec uint8, fix bool) {
		if fix && len(data) >= BatchHeaderBytes {
			data = append([]byte(nil), data...)
			data[attributesOffset+1] = data[attributesOffset+1]&^attrCodecMask | codec&attrCodecMask
			if n := 12 + int64(int32(binary.BigEndian.Uint32(data[batchLengthOffset:]))); n >= BatchHeaderBytes && n <= int64(len(data)) {
				binary.BigEndian.PutUint32(data[crcOffset:], BatchCRC(data[:n]))
			}
		}
		lim := DefaultLimits(testNowMs)
		lim.MaxDecompressedBytes = fuzzLimit
		lim.TimestampAfterMaxMs = 1 << 62
		var s Scratch
		info, err := Validate(data, lim, &s)
		if c := cap(s.buf); c > 2*fuzzLimit+1<<20 {
			t.Fatalf("decompression buffer grew to %d bytes", c)
		}
		if err != nil {
			var ve *Error
			if !errors.As(err, &ve) || ve.Code == nil {
				t.Fatalf("error %v is not a coded *Error", err)
			}
			if len(ve.RecordErrors) > RecordErrorsMax {
				t.Fatalf("%d record errors", len(ve.RecordErrors))
			}
		} else {
			if info.Size > len(data) || info.NumRecords <= 0 || info.LastOffsetDelta != info.NumRecords-1 {
				t.Fatalf("bad info %+v for %d bytes", info, len(data))
			}
			s.MaxDecompressedBytes = fuzzLimit
			n := int32(0)
			if err := ForEachRecord(data[:info.Size], &s, func(r RecordView) error {
				if r.OffsetDelta != n {
					t.Fatalf("record %d has offset delta %d", n, r.OffsetDelta)
				}
				r.EachHeader(func(k, v []byte) bool { return true })
				n++
				return nil
			}); err != nil || n != info.NumRecords {
				t.Fatalf("accepted batch reads back %d of %d records: %v", n, info.NumRecords, err)
			}
		}
		// ForEachRecord on the raw input must not panic either.
		s.MaxDecompressedBytes = fuzzLimit
		_ = ForEachRecord(data, &s, func(r RecordView) error {
			r.EachHeader(func(k, v []byte) bool { return true })
			return nil
		})
	})
}

// FuzzDecompress feeds arbitrary input to every codec's decoder under a
// 1 MiB limit, which it must neither panic on nor exceed, and checks that
// Compress output decodes back to the input.
func FuzzDecompress(f *testing.F) {
	for _, c := range allCodecs {
		enc, _ := Compress(c, nil, []byte("fuzz seed fuzz seed fuzz seed"))
		f.Add(uint8(c), enc)
		f.Add(uint8(c), []byte{})
	}
	f.Add(uint8(CodecSnappy), concat(xerialMagic, []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0x05, 0x10, 'h', 'e', 'l', 'l', 'o'}))
	f.Fuzz(func(t *testing.T, codec uint8, data []byte) {
		c := Codec(codec % 8)
		out, err := Decompress(c, nil, data, fuzzLimit)
		if err == nil && len(out) > fuzzLimit {
			t.Fatalf("%v: %d bytes past the limit", c, len(out))
		}
		if !c.Known() {
			if !errors.Is(err, ErrUnknownCodec) {
				t.Fatalf("%v: %v", c, err)
			}
			return
		}
		enc, err := Compress(c, nil, data)
		if err != nil {
			t.Fatalf("%v: compress: %v", c, err)
		}
		back, err := Decompress(c, nil, enc, len(data))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%v: round trip of %d bytes: %v", c, len(data), err)
		}
	})
}
