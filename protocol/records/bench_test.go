package records

import (
	"math/rand/v2"
	"testing"
)

// benchBatch builds a 16 KiB batch of 1 KiB records whose values are text
// drawn from a small alphabet, so that every codec has something to do.
func benchBatch(b *testing.B, c Codec) ([]byte, int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 ,.{}\":"
	recs := make([]Record, 16)
	for i := range recs {
		v := make([]byte, 1000)
		for j := range v {
			v[j] = alphabet[rng.IntN(len(alphabet))]
		}
		recs[i] = Record{Key: []byte("key-" + itoa(int64(i))), Value: v, TimestampDelta: int64(i),
			Headers: []Header{{Key: "trace", Value: []byte("0123456789abcdef")}}}
	}
	batch := BuildBatch(c, testNowMs, recs)
	info, err := Validate(batch, DefaultLimits(testNowMs), nil)
	if err != nil {
		b.Fatal(err)
	}
	return batch, info.RecordsBytes
}

// BenchmarkValidate measures Validate on a 16 KiB batch per codec; bytes
// are the uncompressed records, so MB/s compares codecs on the same data.
func BenchmarkValidate(b *testing.B) {
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			batch, n := benchBatch(b, c)
			lim := DefaultLimits(testNowMs)
			lim.TopicPartition = "bench-0"
			var s Scratch
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch, lim, &s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkForEachRecord measures the record walk ListOffsets uses.
func BenchmarkForEachRecord(b *testing.B) {
	for _, c := range []Codec{CodecNone, CodecZstd} {
		b.Run(c.String(), func(b *testing.B) {
			batch, n := benchBatch(b, c)
			var s Scratch
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if err := ForEachRecord(batch, &s, func(RecordView) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompress measures Compress per codec on the same 16 KiB records.
func BenchmarkCompress(b *testing.B) {
	for _, c := range allCodecs[1:] {
		b.Run(c.String(), func(b *testing.B) {
			batch, _ := benchBatch(b, CodecNone)
			src := batch[recordsOffset:]
			var dst []byte
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if dst, err = Compress(c, dst[:0], src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
