package storage

import (
	"encoding/binary"
	"hash/crc32"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"
)

// spec describes a test batch: records records, each with a value of
// valueBytes bytes, timestamps baseTs, baseTs+1, ... and the given
// partitionLeaderEpoch.
type spec struct {
	records    int
	valueBytes int
	baseTs     int64
	epoch      int32
}

// makeBatch encodes a valid, uncompressed v2 record batch with base offset
// 0. Values are filled from fill so that batches differ.
func makeBatch(t testing.TB, s spec, fill byte) []byte {
	t.Helper()
	if s.records < 1 {
		t.Fatalf("makeBatch: %d records", s.records)
	}
	b := make([]byte, batchHeaderBytes, batchHeaderBytes+s.records*(s.valueBytes+16))
	value := make([]byte, s.valueBytes)
	for i := range value {
		value[i] = fill + byte(i)
	}
	var rec []byte
	for i := 0; i < s.records; i++ {
		rec = rec[:0]
		rec = append(rec, 0)                     // attributes
		rec = binary.AppendVarint(rec, int64(i)) // timestampDelta
		rec = binary.AppendVarint(rec, int64(i)) // offsetDelta
		rec = binary.AppendVarint(rec, -1)       // key length (null)
		rec = binary.AppendVarint(rec, int64(len(value)))
		rec = append(rec, value...)
		rec = binary.AppendVarint(rec, 0) // headers
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	}
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[12:], uint32(s.epoch))
	b[16] = 2
	be.PutUint16(b[21:], 0)
	be.PutUint32(b[23:], uint32(s.records-1))
	be.PutUint64(b[27:], uint64(s.baseTs))
	be.PutUint64(b[35:], uint64(s.baseTs+int64(s.records-1)))
	be.PutUint64(b[43:], ^uint64(0)) // producerId -1
	be.PutUint16(b[51:], 0xffff)     // producerEpoch -1
	be.PutUint32(b[53:], 0xffffffff) // baseSequence -1
	be.PutUint32(b[57:], uint32(s.records))
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// testClock is an injectable clock; tests move it explicitly.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *testClock) Ms() int64 { return c.Now().UnixMilli() }

// testLogger routes log output through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// testConfig is DefaultConfig with small segments and a dense index.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.IndexIntervalBytes = 1024
	c.FileDeleteDelay = 0
	return c
}

func openLog(t testing.TB, dir string, cfg Config, clock *testClock) *Log {
	t.Helper()
	var now func() time.Time
	if clock != nil {
		now = clock.Now
	}
	l, err := OpenWithOptions(dir, cfg, Options{Logger: testLogger(t), Now: now, Encryption: testEnc})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// testEnc is the encryption openLog opens logs with: nil, except while
// TestEncryptedSuite runs the format-agnostic tests again with
// encryption on.
var testEnc *Encryption

// appended remembers what the tests appended, to check reads against.
type appended struct {
	base, last int64
	data       []byte
	maxTs      int64
}

// appendN appends n batches of random shape and returns them.
func appendN(t testing.TB, l *Log, rng *rand.Rand, n int, ts func(i int) int64) []appended {
	t.Helper()
	out := make([]appended, 0, n)
	for i := 0; i < n; i++ {
		s := spec{records: 1 + rng.IntN(20), valueBytes: rng.IntN(300), baseTs: ts(i)}
		b := makeBatch(t, s, byte(i))
		base, last, err := l.Append(b)
		if err != nil {
			t.Fatalf("Append #%d: %v", i, err)
		}
		if last-base != int64(s.records-1) {
			t.Fatalf("Append #%d: offsets [%d, %d] for %d records", i, base, last, s.records)
		}
		out = append(out, appended{base: base, last: last, data: b, maxTs: s.baseTs + int64(s.records-1)})
	}
	return out
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// checkFor polls cond until it holds or total elapses.
func checkFor(t testing.TB, total, poll time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(poll)
	}
}

// crash stops l the way a killed process would: files are closed without
// the final fsync, index writes or clean-shutdown marker. Written data
// stays in the page cache, as after kill -9.
func crash(t testing.TB, l *Log) {
	t.Helper()
	l.closed.Store(true)
	l.appendMu.Lock()
	l.appendMu.Unlock() //nolint:staticcheck // barrier, as in Close
	l.bg.Wait()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.closeFiles(); err != nil {
		t.Fatalf("crash: close files: %v", err)
	}
}

// segmentFiles returns the base offsets of the .log files in dir.
func segmentFiles(t testing.TB, dir string) []int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, e := range ents {
		if b, ok := parseSegmentName(e.Name(), logSuffix); ok {
			bases = append(bases, b)
		}
	}
	return bases
}

func lastSegmentPath(t testing.TB, dir string) string {
	t.Helper()
	bases := segmentFiles(t, dir)
	if len(bases) == 0 {
		t.Fatal("no segments")
	}
	return segmentPrefix(dir, bases[len(bases)-1]) + logSuffix
}
