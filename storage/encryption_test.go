package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/skein-streaming/skein/protocol/records"
	"github.com/skein-streaming/skein/storage/keys"
)

// testKey is the deterministic key material of a test key id.
func testKey(id string) []byte {
	k := sha256.Sum256([]byte("test key " + id))
	return k[:]
}

// testKeys returns a provider holding ids, current being the current one.
func testKeys(current string, ids ...string) *keys.Static {
	p := &keys.Static{CurrentID: current, Keys: map[string][]byte{}}
	for _, id := range ids {
		p.Keys[id] = testKey(id)
	}
	return p
}

func newTestEncryption(t testing.TB, p keys.Provider, encrypt bool) *Encryption {
	t.Helper()
	e, err := NewEncryption(p, encrypt)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// withEncryption makes openLog use e until the test ends.
func withEncryption(t testing.TB, e *Encryption) {
	t.Helper()
	old := testEnc
	testEnc = e
	t.Cleanup(func() { testEnc = old })
}

// secretMarker is what the tests put in every record value, to search
// the files for.
const secretMarker = "patient-record-7f3a9c"

// markedBatch is a valid batch of three records whose values carry
// secretMarker and n, with base timestamp ts.
func markedBatch(t testing.TB, n int, ts int64) []byte {
	t.Helper()
	var in []records.Record
	for i := 0; i < 3; i++ {
		v := fmt.Appendf(nil, "%s %d/%d %s", secretMarker, n, i, strings.Repeat("x", n%200))
		in = append(in, records.Record{Key: fmt.Appendf(nil, "key-%d", n%13), Value: v, TimestampDelta: int64(i)})
	}
	b, err := records.AppendBatch(nil, records.NonIdempotent(records.CodecNone, ts), in)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// appendMarked appends n marked batches with increasing timestamps from
// ts and returns them.
func appendMarked(t testing.TB, l *Log, first, n int, ts int64) []appended {
	t.Helper()
	var out []appended
	for i := first; i < first+n; i++ {
		b := markedBatch(t, i, ts+int64(i))
		base, last, err := l.Append(b)
		if err != nil {
			t.Fatalf("Append #%d: %v", i, err)
		}
		out = append(out, appended{base: base, last: last, data: b, maxTs: ts + int64(i) + 2})
	}
	return out
}

// filesContaining returns the files under dir whose bytes contain needle.
func filesContaining(t testing.TB, dir string, needle []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, needle) {
			found = append(found, filepath.Base(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// dirDigest hashes the names and contents of dir's files.
func dirDigest(t testing.TB, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", e.Name(), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func checkSegmentKeys(t testing.TB, l *Log, want string) {
	t.Helper()
	got := l.SegmentKeys()
	if len(got) != 1 || got[want] == 0 {
		t.Fatalf("segments by key %v, want all under %q", got, want)
	}
}

// checkOffsetForTimestamp looks up every batch by its max timestamp; the
// tests' timestamps increase, so the batch itself must be found.
func checkOffsetForTimestamp(t testing.TB, l *Log, want []appended) {
	t.Helper()
	for _, a := range want {
		off, ts, found, err := l.OffsetForTimestamp(a.maxTs)
		if err != nil || !found || ts != a.maxTs || off != a.base {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d", a.maxTs, off, ts, found, err, a.base)
		}
	}
}

// TestEncryptedAppendRead writes marked batches to an encrypted log over
// many segments and reads every offset back, live, after a clean reopen
// and after a crash; looks up every batch by timestamp; and searches every
// file of the directory for the plaintext. A control run without
// encryption must find the plaintext, so the search can fail.
func TestEncryptedAppendRead(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) {
			if encrypted {
				withEncryption(t, newTestEncryption(t, testKeys("k1", "k1"), true))
			}
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 16 << 10
			l := openLog(t, dir, cfg, nil)
			want := appendMarked(t, l, 0, 300, 1000)
			if l.NumSegments() < 5 {
				t.Fatalf("only %d segments", l.NumSegments())
			}
			checkReads(t, l, want)
			checkOffsetForTimestamp(t, l, want)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			leaked := filesContaining(t, dir, []byte(secretMarker))
			if encrypted {
				if len(leaked) != 0 {
					t.Fatalf("plaintext found in %v", leaked)
				}
				checkSegmentKeys(t, l, "k1")
			} else {
				if len(leaked) == 0 {
					t.Fatal("control: plaintext not found in the files of an unencrypted log")
				}
				checkSegmentKeys(t, l, "")
			}
			mustClose(t, l)

			l = openLog(t, dir, cfg, nil)
			checkReads(t, l, want)
			checkOffsetForTimestamp(t, l, want)
			more := appendMarked(t, l, 300, 20, 5000)
			want = append(want, more...)
			crash(t, l)

			l = openLog(t, dir, cfg, nil)
			defer mustClose(t, l)
			if l.stats.truncatedBytes != 0 {
				t.Fatalf("recovery truncated %d bytes of valid data", l.stats.truncatedBytes)
			}
			checkReads(t, l, want)
			checkOffsetForTimestamp(t, l, want)
			if encrypted {
				if leaked := filesContaining(t, dir, []byte(secretMarker)); len(leaked) != 0 {
					t.Fatalf("plaintext found in %v", leaked)
				}
			}
		})
	}
}

// TestEncryptedReadBudget: reads of an encrypted log honour maxBytes on
// the batches returned, return a first batch that fits maxBytes even when
// its frame does not, and return an oversized first batch only with
// minOneBatch.
func TestEncryptedReadBudget(t *testing.T) {
	withEncryption(t, newTestEncryption(t, testKeys("k1", "k1"), true))
	l := openLog(t, t.TempDir(), testConfig(), nil)
	defer mustClose(t, l)
	want := appendMarked(t, l, 0, 50, 0)
	var buf []byte
	for _, a := range want {
		n := len(a.data)
		res, err := l.Read(a.base, n, math.MaxInt64, false, buf)
		if err != nil || !bytes.Equal(res.Data, a.data) {
			t.Fatalf("Read(%d, maxBytes %d = batch size): %d bytes, %v", a.base, n, len(res.Data), err)
		}
		buf = res.Data[:0]
		if res, err = l.Read(a.base, n-1, math.MaxInt64, false, buf); err != nil || len(res.Data) != 0 {
			t.Fatalf("Read(%d, maxBytes %d): %d bytes, %v; want none", a.base, n-1, len(res.Data), err)
		}
		if res, err = l.Read(a.base, 1, math.MaxInt64, true, buf); err != nil || !bytes.Equal(res.Data, a.data) {
			t.Fatalf("Read(%d, maxBytes 1, minOneBatch): %d bytes, %v", a.base, len(res.Data), err)
		}
	}
	for _, budget := range []int{100, 1000, 5000, 64 << 10} {
		next := int64(0)
		var got []byte
		for next < l.LogEndOffset() {
			res, err := l.Read(next, budget, math.MaxInt64, true, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Data) > budget && res.NextOffset-res.FirstOffset > 3 {
				t.Fatalf("budget %d: read %d bytes holding more than one batch", budget, len(res.Data))
			}
			got = append(got, res.Data...)
			next = res.NextOffset
		}
		var all []byte
		for _, a := range want {
			all = append(all, a.data...)
		}
		if !bytes.Equal(got, all) {
			t.Fatalf("budget %d: reading the whole log gave %d bytes, want the %d appended", budget, len(got), len(all))
		}
	}
	if res, err := l.Read(0, 1<<20, 3, true, nil); err != nil || res.NextOffset != 3 || !bytes.Equal(res.Data, want[0].data) {
		t.Fatalf("Read below maxOffset 3: next %d, %v", res.NextOffset, err)
	}
}

// TestEncryptedReadDoesNotAllocate: decryption happens in the caller's
// buffer.
func TestEncryptedReadDoesNotAllocate(t *testing.T) {
	withEncryption(t, newTestEncryption(t, testKeys("k1", "k1"), true))
	l := openLog(t, t.TempDir(), testConfig(), nil)
	defer mustClose(t, l)
	appendN(t, l, rand.New(rand.NewPCG(2, 2)), 200, func(int) int64 { return 0 })
	buf := make([]byte, 64<<10)
	leo := l.LogEndOffset()
	off := int64(0)
	allocs := testing.AllocsPerRun(200, func() {
		res, err := l.Read(off, 16<<10, math.MaxInt64, true, buf)
		if err != nil || len(res.Data) == 0 {
			panic(fmt.Sprintf("read failed: %v", err))
		}
		off = (res.NextOffset + 7) % leo
	})
	if allocs != 0 {
		t.Fatalf("Read allocates %.1f times per call", allocs)
	}
}

// TestEncryptedRecovery damages the active segment's frames after a crash
// and reopens. A torn last frame, and a last frame that fails
// authentication, are cut off; a damaged frame in the middle (ciphertext
// or header) ends the log there, as a CRC failure does. What comes before
// is intact and appends go on from there.
func TestEncryptedRecovery(t *testing.T) {
	withEncryption(t, newTestEncryption(t, testKeys("k1", "k1"), true))
	for _, tc := range []struct {
		name string
		// damage changes the segment file at path, where the frame of
		// batch victim is at pos, size bytes; it returns the index of
		// the first batch that must be gone.
		damage func(t *testing.T, path string, pos, size int64) int64
		victim int // batch index from the end: 1 is the last
	}{
		{"torn last frame", func(t *testing.T, path string, pos, size int64) int64 {
			if err := os.Truncate(path, pos+size/2); err != nil {
				t.Fatal(err)
			}
			return pos
		}, 1},
		{"last frame fails authentication", func(t *testing.T, path string, pos, size int64) int64 {
			flipByte(t, path, pos+size-20)
			return pos
		}, 1},
		{"middle frame fails authentication", func(t *testing.T, path string, pos, size int64) int64 {
			flipByte(t, path, pos+size-5)
			return pos
		}, 4},
		{"middle frame header damaged", func(t *testing.T, path string, pos, size int64) int64 {
			flipByte(t, path, pos+frameKeyIDAt) // the key id
			return pos
		}, 4},
		{"middle frame moved", func(t *testing.T, path string, pos, size int64) int64 {
			// Swap in a copy of the previous frame, a valid frame of
			// this segment, at this position.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var prev int64
			for p := int64(0); p < pos; p += batchSize(data[p:]) {
				prev = p
			}
			if _, err := f.WriteAt(data[prev:pos], pos); err != nil {
				t.Fatal(err)
			}
			return pos
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig(), nil)
			want := appendMarked(t, l, 0, 120, 0)
			victim := want[len(want)-tc.victim]
			segBase, pos := locateBatch(t, l, victim.base)
			l.mu.RLock()
			active := l.mu.segments[len(l.mu.segments)-1]
			l.mu.RUnlock()
			if segBase != active.baseOffset {
				t.Fatalf("victim batch %d is not in the active segment", victim.base)
			}
			size := int64(len(victim.data)) + frameOverhead(len("k1"))
			crash(t, l)
			path := segmentPrefix(dir, segBase) + logSuffix
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			cut := tc.damage(t, path, pos, size)

			l = openLog(t, dir, testConfig(), nil)
			defer mustClose(t, l)
			if got := l.LogEndOffset(); got != victim.base {
				t.Fatalf("LogEndOffset %d, want %d", got, victim.base)
			}
			if info2, _ := os.Stat(path); info2.Size() != cut {
				t.Fatalf("segment is %d bytes, want %d (was %d)", info2.Size(), cut, info.Size())
			}
			kept := want[:len(want)-tc.victim]
			checkReads(t, l, kept)
			more := appendMarked(t, l, 1000, 3, 0)
			if more[0].base != victim.base {
				t.Fatalf("next append at %d, want %d", more[0].base, victim.base)
			}
			checkReads(t, l, append(slices.Clone(kept), more...))
		})
	}
}

// TestEncryptedKeyErrors: a log whose key cannot be had fails to open
// with ErrKeyUnavailable naming the key id and no key material, and
// leaves every file as it was (nothing is truncated as if damaged),
// whether the shutdown was clean or not; with the key back, everything is
// there.
func TestEncryptedKeyErrors(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 16 << 10
			good := newTestEncryption(t, testKeys("k1", "k1"), true)
			withEncryption(t, good)
			l := openLog(t, dir, cfg, nil)
			want := appendMarked(t, l, 0, 100, 0)
			if clean {
				mustClose(t, l)
			} else {
				crash(t, l)
			}
			before := dirDigest(t, dir)
			other := &keys.Static{CurrentID: "k1", Keys: map[string][]byte{"k1": testKey("not k1")}}
			for _, bad := range []struct {
				name string
				enc  *Encryption
				msg  string
			}{
				{"no provider", nil, "no encryption key provider is configured"},
				{"key missing", newTestEncryption(t, testKeys("k2", "k2"), true), `unknown key id "k1"`},
				{"other material under the id", newTestEncryption(t, other, true), `key "k1" is not the key`},
			} {
				_, err := OpenWithOptions(dir, cfg, Options{Logger: testLogger(t), Encryption: bad.enc})
				if !errors.Is(err, ErrKeyUnavailable) || !strings.Contains(err.Error(), bad.msg) {
					t.Fatalf("%s: Open: %v; want ErrKeyUnavailable with %q", bad.name, err, bad.msg)
				}
				for _, k := range [][]byte{testKey("k1"), testKey("k2"), testKey("not k1")} {
					for _, enc := range []string{string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k)} {
						if strings.Contains(err.Error(), enc) {
							t.Fatalf("%s: the error holds key material: %v", bad.name, err)
						}
					}
				}
				if got := dirDigest(t, dir); got != before {
					t.Fatalf("%s: a failed Open changed the files", bad.name)
				}
			}
			l = openLog(t, dir, cfg, nil)
			defer mustClose(t, l)
			checkReads(t, l, want)
		})
	}
	if _, err := NewEncryption(testKeys("k9", "k1"), true); err == nil {
		t.Fatal("NewEncryption accepted a provider without its current key")
	}
	if _, err := NewEncryption(nil, false); err == nil {
		t.Fatal("NewEncryption accepted no provider")
	}
}

// TestEncryptedTruncate cuts an encrypted log in the middle of a segment
// and at a segment boundary; appends after it are read back.
func TestEncryptedTruncate(t *testing.T) {
	withEncryption(t, newTestEncryption(t, testKeys("k1", "k1"), true))
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 8 << 10
	l := openLog(t, dir, cfg, nil)
	want := appendMarked(t, l, 0, 100, 0)
	cut := want[40]
	if err := l.Truncate(cut.base); err != nil {
		t.Fatal(err)
	}
	want = want[:40]
	want = append(want, appendMarked(t, l, 100, 30, 0)...)
	checkReads(t, l, want)
	crash(t, l)
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	checkReads(t, l, want)
}

// TestEncryptedCompactionRotates: compaction of an encrypted log keeps
// the newest record of every key and writes what it cleans under the
// current key.
func TestEncryptedCompactionRotates(t *testing.T) {
	p := testKeys("k1", "k1", "k2")
	withEncryption(t, newTestEncryption(t, p, true))
	dir := t.TempDir()
	l := openLog(t, dir, compactConfig(), nil)
	defer mustClose(t, l)
	w := newWriter(t, l, records.CodecLZ4)
	for i := 0; i < 300; i++ {
		w.append(int64(i), kv(fmt.Sprintf("key-%d", i%20), fmt.Sprintf("%s %d %s", secretMarker, i, make([]byte, 50))))
	}
	sealAll(t, l)
	checkSegmentKeys(t, l, "k1")
	p.CurrentID = "k2"
	st := mustCompact(t, l, NewCleaner(CleanerConfig{}))
	if st.SegmentsWritten == 0 {
		t.Fatalf("nothing cleaned: %+v", st)
	}
	checkRecords(t, "after Compact", readAll(t, l), newestPerKey(w.written, l.LogEndOffset(), false))
	if got := l.SegmentKeys(); got["k1"] != 0 || got["k2"] == 0 {
		t.Fatalf("segments by key %v after cleaning under k2", got)
	}
	if leaked := filesContaining(t, dir, []byte(secretMarker)); len(leaked) != 0 {
		t.Fatalf("plaintext found in %v", leaked)
	}
}

// TestReencryptSegments rotates the key of a log: every segment,
// the active one included, ends up under the new key, the data reads back
// the same, and the old key can then be removed, after a crash as after a
// clean shutdown.
func TestReencryptSegments(t *testing.T) {
	const oldKey, newKey = "old-key-2025-07", "new-key-2026-01"
	p := testKeys(oldKey, oldKey, newKey)
	withEncryption(t, newTestEncryption(t, p, true))
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 10
	l := openLog(t, dir, cfg, nil)
	want := appendMarked(t, l, 0, 200, 0)
	n := l.NumSegments()
	st, err := l.ReencryptSegments(context.Background())
	if err != nil || st.SegmentsRewritten != 0 || st.Rolled || st.Pending != 0 {
		t.Fatalf("ReencryptSegments without a new key: %+v, %v", st, err)
	}

	p.CurrentID = newKey
	st, err = l.ReencryptSegments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Rolled || st.SegmentsRewritten != n || st.Pending != 0 || st.BytesRead == 0 || st.BytesWritten == 0 {
		t.Fatalf("ReencryptSegments: %+v for %d segments", st, n)
	}
	checkSegmentKeys(t, l, newKey)
	checkReads(t, l, want)
	checkOffsetForTimestamp(t, l, want)
	want = append(want, appendMarked(t, l, 200, 20, 1000)...)
	checkSegmentKeys(t, l, newKey)
	if leaked := filesContaining(t, dir, []byte(secretMarker)); len(leaked) != 0 {
		t.Fatalf("plaintext found in %v", leaked)
	}
	if leaked := filesContaining(t, dir, []byte(oldKey)); len(leaked) != 0 {
		t.Fatalf("old key id still named in %v", leaked)
	}
	crash(t, l)

	delete(p.Keys, oldKey)
	l = openLog(t, dir, cfg, nil)
	checkReads(t, l, want)
	mustClose(t, l)
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	checkReads(t, l, want)
	checkSegmentKeys(t, l, newKey)
}

// TestReencryptToAndFromClear: turning encryption on for a log written in
// the clear, ReencryptSegments encrypts what is there; turning it off
// (keys kept for reading), it rewrites everything in the clear, and the
// log then opens without keys.
func TestReencryptToAndFromClear(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 10
	l := openLog(t, dir, cfg, nil)
	want := appendMarked(t, l, 0, 150, 0)
	mustClose(t, l)

	p := testKeys("k1", "k1")
	withEncryption(t, newTestEncryption(t, p, true))
	l = openLog(t, dir, cfg, nil)
	checkSegmentKeys(t, l, "")
	want = append(want, appendMarked(t, l, 150, 10, 0)...)
	if got := l.SegmentKeys(); got[""] == 0 || got["k1"] != 1 {
		t.Fatalf("segments by key %v: new data must start an encrypted segment", got)
	}
	if _, err := l.ReencryptSegments(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkSegmentKeys(t, l, "k1")
	checkReads(t, l, want)
	if leaked := filesContaining(t, dir, []byte(secretMarker)); len(leaked) != 0 {
		t.Fatalf("plaintext found in %v", leaked)
	}
	mustClose(t, l)

	withEncryption(t, newTestEncryption(t, p, false))
	l = openLog(t, dir, cfg, nil)
	checkReads(t, l, want)
	want = append(want, appendMarked(t, l, 160, 10, 0)...)
	if _, err := l.ReencryptSegments(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkSegmentKeys(t, l, "")
	mustClose(t, l)

	withEncryption(t, nil)
	l = openLog(t, dir, cfg, nil)
	defer mustClose(t, l)
	checkReads(t, l, want)
}

// TestReencryptStops: a cancelled context stops the rewrite with its
// error and leaves a consistent log that a later call finishes.
func TestReencryptStops(t *testing.T) {
	p := testKeys("k1", "k1", "k2")
	withEncryption(t, newTestEncryption(t, p, true))
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 10
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	want := appendMarked(t, l, 0, 100, 0)
	p.CurrentID = "k2"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.ReencryptSegments(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReencryptSegments with a cancelled context: %v", err)
	}
	checkReads(t, l, want)
	if st, err := l.ReencryptSegments(context.Background()); err != nil || st.Pending != 0 {
		t.Fatalf("ReencryptSegments: %+v, %v", st, err)
	}
	checkSegmentKeys(t, l, "k2")
}

// TestReencryptCrashAtEverySwapStep stops a segment's swap at each step
// as a crash would and reopens with both keys: the segment is under the
// old key or the new one, every record is there, and a later call
// finishes the rotation.
func TestReencryptCrashAtEverySwapStep(t *testing.T) {
	for _, step := range swapSteps {
		t.Run(step.name, func(t *testing.T) {
			p := testKeys("k1", "k1", "k2")
			withEncryption(t, newTestEncryption(t, p, true))
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 16 << 10
			l := openLog(t, dir, cfg, nil)
			want := appendMarked(t, l, 0, 100, 0)
			p.CurrentID = "k2"
			hit := false
			l.cleaner.crashAt = func(s string) bool {
				if s == step.name && !hit {
					hit = true
					return true
				}
				return false
			}
			if _, err := l.ReencryptSegments(context.Background()); !errors.Is(err, errSimulatedCrash) {
				t.Fatalf("ReencryptSegments: %v, want the simulated crash", err)
			}
			crash(t, l)
			l = openLog(t, dir, cfg, nil)
			defer mustClose(t, l)
			checkNoSwapLeftovers(t, dir)
			checkReads(t, l, want)
			// The first segment is under the new key if the crash came
			// after the commit point, under the old one otherwise.
			got := l.SegmentKeys()
			wantNew := 0
			if step.committed {
				wantNew = 1
			}
			if got["k2"] != wantNew || got["k1"] == 0 || got[""] != 0 {
				t.Fatalf("segments by key %v after a crash at %s", got, step.name)
			}
			if _, err := l.ReencryptSegments(context.Background()); err != nil {
				t.Fatal(err)
			}
			checkSegmentKeys(t, l, "k2")
			checkReads(t, l, want)
		})
	}
}

// TestEncryptedSuite runs the tests that do not depend on the exact
// on-disk size of batches again, with every log encrypted.
func TestEncryptedSuite(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"AppendReadReopen", TestAppendReadReopen},
		{"ReadEveryOffsetThousandsOfBatches", TestReadEveryOffsetThousandsOfBatches},
		{"OffsetForTimestamp", TestOffsetForTimestamp},
		{"RecoveryCorruptBatch", TestRecoveryCorruptBatch},
		{"CleanOpenSkipsScan", TestCleanOpenSkipsScan},
		{"RecoveryRebuildsBadIndex", TestRecoveryRebuildsBadIndex},
		{"RecoveryRemovesLeftovers", TestRecoveryRemovesLeftovers},
		{"ReadDetectsIndexMismatch", TestReadDetectsIndexMismatch},
		{"AppendRejectsInvalidBatch", TestAppendRejectsInvalidBatch},
		{"RetentionByTime", TestRetentionByTime},
		{"RetentionBySize", TestRetentionBySize},
		{"DeleteRecordsBeforePersists", TestDeleteRecordsBeforePersists},
		{"Truncate", TestTruncate},
		{"LeaderEpochs", TestLeaderEpochs},
		{"AppendWithOffsets", TestAppendWithOffsets},
		{"RollBySegmentBytes", TestRollBySegmentBytes},
		{"RollOversizedBatch", TestRollOversizedBatch},
		{"RollBySegmentMs", TestRollBySegmentMs},
		{"RollByIndexFull", TestRollByIndexFull},
		{"ConcurrentAppendReadRetention", TestConcurrentAppendReadRetention},
		{"SyncToGroupCommit", TestSyncToGroupCommit},
		{"ClosedLog", TestClosedLog},
		{"CompactCrashAtEverySwapStep", TestCompactCrashAtEverySwapStep},
		{"CompactTombstones", TestCompactTombstones},
		{"CompactControlAndTransactionalBatches", TestCompactControlAndTransactionalBatches},
		{"CompactConcurrentReads", TestCompactConcurrentReads},
		{"CompactAbortsOnConcurrentTruncation", TestCompactAbortsOnConcurrentTruncation},
		{"CompactSmallDedupeBuffer", TestCompactSmallDedupeBuffer},
		{"CompactCorruptSourceFails", TestCompactCorruptSourceFails},
		{"CompactEmptyCleanedSegment", TestCompactEmptyCleanedSegment},
		{"CompactTruncationBelowCheckpoint", TestCompactTruncationBelowCheckpoint},
		{"CompactRetentionByPolicy", TestCompactRetentionByPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withEncryption(t, newTestEncryption(t, testKeys("suite", "suite"), true))
			tc.fn(t)
		})
	}
}
