package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/skein-streaming/skein/protocol/records"
)

// BenchmarkCompact cleans a 64 MiB log (as stored, so compressed for the
// codecs) of 1 KiB values in batches of 16 over 8192 keys, each key
// written several times, so most records go; out/in is the share of
// bytes kept. The bytes reported per operation are the
// log's size before cleaning (MB/s of log cleaned). Each iteration
// cleans a fresh copy of the same directory; copying is not timed.
func BenchmarkCompact(b *testing.B) {
	for _, codec := range []records.Codec{records.CodecNone, records.CodecLZ4, records.CodecZstd} {
		b.Run(codec.String(), func(b *testing.B) {
			src := b.TempDir()
			cfg := DefaultConfig()
			cfg.SegmentBytes = 16 << 20
			cfg.Compact, cfg.Delete = true, false
			cfg.MinCleanableDirtyRatio = 0
			l, err := Open(src, cfg, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			// Values are half random, half text, so that the codecs
			// compress them about 2:1.
			rng := rand.New(rand.NewPCG(1, 2))
			text := bytes.Repeat([]byte("patient record field "), 512/21+1)[:512]
			recs := make([]records.Record, 16)
			for n := 0; l.Size() < 64<<20; n++ {
				for j := range recs {
					k := (n*16 + j) * 2654435761 % 8192
					value := make([]byte, 1024)
					for i := 0; i < 512; i += 8 {
						binary.LittleEndian.PutUint64(value[i:], rng.Uint64())
					}
					copy(value[512:], text)
					recs[j] = records.Record{Key: fmt.Appendf(nil, "key-%05d", k), Value: value, TimestampDelta: int64(j)}
				}
				batch, err := records.AppendBatch(nil, records.NonIdempotent(codec, 1), recs)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			sealAll(b, l)
			size := l.Size()
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
			c := NewCleaner(CleanerConfig{})
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				dir := filepath.Join(b.TempDir(), "log")
				copyDir(b, src, dir)
				l, err := Open(dir, cfg, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				st, err := l.Compact(math.MaxInt64, c)
				if err != nil || st.RecordsRemoved == 0 {
					b.Fatalf("Compact: %+v, %v", st, err)
				}
				b.StopTimer()
				b.ReportMetric(float64(st.BytesWritten)/float64(st.BytesRead), "out/in")
				l.Close()
				b.StartTimer()
			}
		})
	}
}

func copyDir(b *testing.B, from, to string) {
	b.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		b.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		in, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			b.Fatal(err)
		}
		in.Close()
		out.Close()
	}
}
