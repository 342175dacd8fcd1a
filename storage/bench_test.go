package storage

import (
	"math"
	"testing"
)

// BenchmarkAppend appends batches of 1 KiB records, 16 per batch (about
// 16 KiB) and 1024 per batch (about 1 MiB), to the page cache; the
// "sync" variant also waits for SyncTo after each append, as acks=all
// with fsync would. Old segments are deleted by size retention every
// 256 MiB so the disk does not fill up.
func BenchmarkAppend(b *testing.B) { benchAppend(b, nil) }

// BenchmarkAppendEncrypted is BenchmarkAppend with encryption at rest:
// every batch is sealed with AES-256-GCM on the way to the page cache.
func BenchmarkAppendEncrypted(b *testing.B) { benchAppend(b, benchEncryption(b)) }

func benchEncryption(b *testing.B) *Encryption {
	e, err := NewEncryption(testKeys("bench", "bench"), true)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchAppend(b *testing.B, enc *Encryption) {
	for _, bc := range []struct {
		name    string
		records int
		sync    bool
	}{
		{"batch=16KiB", 16, false},
		{"batch=1MiB", 1024, false},
		{"batch=16KiB/sync", 16, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.SegmentBytes = 128 << 20
			cfg.RetentionBytes = 256 << 20
			cfg.RetentionMs = -1
			l, err := OpenWithOptions(b.TempDir(), cfg, Options{Encryption: enc})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			batch := makeBatch(b, spec{records: bc.records, valueBytes: 1024}, 0)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			written := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, last, err := l.Append(batch)
				if err != nil {
					b.Fatal(err)
				}
				if bc.sync {
					if err := l.SyncTo(last); err != nil {
						b.Fatal(err)
					}
				}
				if written += len(batch); written >= 256<<20 {
					written = 0
					if _, err := l.EnforceRetention(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRead fetches 1 MiB at a time, sequentially, from 256 MiB of
// 16 KiB batches, reusing one buffer; allocs/op should be 0.
func BenchmarkRead(b *testing.B) { benchRead(b, nil) }

// BenchmarkReadEncrypted is BenchmarkRead with encryption at rest: every
// frame is authenticated and decrypted into the buffer.
func BenchmarkReadEncrypted(b *testing.B) { benchRead(b, benchEncryption(b)) }

func benchRead(b *testing.B, enc *Encryption) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l, err := OpenWithOptions(b.TempDir(), cfg, Options{Encryption: enc})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	batch := makeBatch(b, spec{records: 16, valueBytes: 1024}, 0)
	for total := 0; total < 256<<20; total += len(batch) {
		if _, _, err := l.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 1<<20)
	leo := l.LogEndOffset()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	b.ResetTimer()
	off := int64(0)
	for i := 0; i < b.N; i++ {
		res, err := l.Read(off, 1<<20, math.MaxInt64, true, buf)
		if err != nil {
			b.Fatal(err)
		}
		off = res.NextOffset
		if res.NextOffset < 0 || off >= leo {
			off = 0
		}
	}
}

// BenchmarkFrame measures sealing a 16 KiB batch into a frame and
// opening it again, in memory: the cost encryption adds per batch.
func BenchmarkFrame(b *testing.B) {
	c, err := freshSegmentCipher("bench", testKey("bench"))
	if err != nil {
		b.Fatal(err)
	}
	batch := makeBatch(b, spec{records: 16, valueBytes: 1024}, 0)
	sealed := c.seal(nil, 0, 0, batch)
	frame := make([]byte, len(sealed))
	b.Run("seal", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			frame = c.seal(frame[:0], 0, 0, batch)
		}
	})
	b.Run("open", func(b *testing.B) {
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			copy(frame, sealed)
			if _, err := c.open(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}
