package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzRecovery writes a segment of valid batches, puts arbitrary bytes
// after it (appended to the segment, written over its last batch, or as
// the next segment file) and opens the directory as after a crash. Open
// must not fail or panic, must keep every valid batch, and the log must
// accept and return an append afterwards.
func FuzzRecovery(f *testing.F) {
	var valid []byte
	var batches []appended
	next := int64(0)
	for i := 0; i < 5; i++ {
		b := makeBatch(f, spec{records: 1 + i, valueBytes: 40 * i, baseTs: int64(i), epoch: int32(i / 2)}, byte(i))
		setBatchBaseOffset(b, next)
		batches = append(batches, appended{base: next, last: next + int64(i), data: b})
		next += int64(i) + 1
		valid = append(valid, b...)
	}
	extra := makeBatch(f, spec{records: 2, valueBytes: 7}, 9)
	setBatchBaseOffset(extra, next)
	f.Add(byte(0), []byte{})
	f.Add(byte(0), extra)
	f.Add(byte(0), extra[:len(extra)-3])
	f.Add(byte(1), extra[:20])
	f.Add(byte(2), extra)
	f.Add(byte(0), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2})
	f.Add(byte(0), bytes.Repeat([]byte{0xff}, 200))

	f.Fuzz(func(t *testing.T, mode byte, junk []byte) {
		dir := t.TempDir()
		seg := segmentPrefix(dir, 0) + logSuffix
		keep := batches
		switch mode % 3 {
		case 0: // appended to the segment
			writeTestFile(t, seg, append(append([]byte(nil), valid...), junk...))
		case 1: // written over the last batch
			last := batches[len(batches)-1]
			prefix := valid[:len(valid)-len(last.data)]
			data := append(append([]byte(nil), prefix...), last.data...)
			copy(data[len(prefix):], junk)
			writeTestFile(t, seg, data)
			if !bytes.Equal(data[len(prefix):], last.data) {
				keep = batches[:len(batches)-1]
			}
		case 2: // as the next segment file
			writeTestFile(t, seg, valid)
			writeTestFile(t, segmentPrefix(dir, next)+logSuffix, junk)
		}
		l, err := Open(dir, testConfig(), nil, nil)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if l.LogEndOffset() < keep[len(keep)-1].last+1 {
			t.Fatalf("LogEndOffset %d lost valid batches ending at %d", l.LogEndOffset(), keep[len(keep)-1].last)
		}
		var buf []byte
		for _, a := range keep {
			res, err := l.Read(a.base, 0, math.MaxInt64, true, buf)
			if err != nil || !bytes.Equal(res.Data, a.data) {
				t.Fatalf("Read(%d): %d bytes, %v; want the valid batch", a.base, len(res.Data), err)
			}
			buf = res.Data
		}
		b := makeBatch(t, spec{records: 3, valueBytes: 5}, 1)
		leo := l.LogEndOffset()
		base, last, err := l.Append(b)
		if err != nil || base != leo || last != leo+2 {
			t.Fatalf("Append after recovery: [%d, %d], %v; want base %d", base, last, err, leo)
		}
		res, err := l.Read(base, 0, math.MaxInt64, true, nil)
		if err != nil || !bytes.Equal(res.Data, b) {
			t.Fatalf("Read of new batch: %d bytes, %v", len(res.Data), err)
		}
	})
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzEncryptedRecovery is FuzzRecovery for an encrypted segment: after
// five valid frames it puts arbitrary bytes in the segment (appended,
// written over the last frame, as the next segment file, or XORed into
// the frames at arbitrary places) and opens the directory as after a
// crash. Open must not panic, must keep every frame before the first
// damaged one, and the log must accept and return an append afterwards.
// Open may fail only with ErrKeyUnavailable, and only for a next segment
// whose first frame header is intact and names a key the log cannot have.
func FuzzEncryptedRecovery(f *testing.F) {
	enc, err := NewEncryption(testKeys("k1", "k1"), true)
	if err != nil {
		f.Fatal(err)
	}
	src := f.TempDir()
	l, err := OpenWithOptions(src, testConfig(), Options{Encryption: enc})
	if err != nil {
		f.Fatal(err)
	}
	var batches []appended
	for i := 0; i < 6; i++ {
		b := markedBatch(f, i*7, int64(i))
		base, last, err := l.Append(b)
		if err != nil {
			f.Fatal(err)
		}
		batches = append(batches, appended{base: base, last: last, data: b})
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(segmentPrefix(src, 0) + logSuffix)
	if err != nil {
		f.Fatal(err)
	}
	var starts []int64 // frame positions, and the end
	for p := int64(0); p < int64(len(data)); p += batchSize(data[p:]) {
		starts = append(starts, p)
	}
	starts = append(starts, int64(len(data)))
	if len(starts) != 7 {
		f.Fatalf("%d frames", len(starts)-1)
	}
	valid, extra := data[:starts[5]], data[starts[5]:]
	batches = batches[:5]
	next := batches[4].last + 1

	f.Add(byte(0), []byte{})
	f.Add(byte(0), extra)
	f.Add(byte(0), extra[:len(extra)-3])
	f.Add(byte(1), extra[:20])
	f.Add(byte(1), valid[starts[3]:starts[4]])
	f.Add(byte(2), extra)
	f.Add(byte(2), valid[:starts[1]])
	f.Add(byte(3), []byte{0, 200, 1})
	f.Add(byte(3), []byte{0, 20, 0x80, 3, 0, 0xff})
	f.Add(byte(0), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, frameMagic})

	f.Fuzz(func(t *testing.T, mode byte, junk []byte) {
		dir := t.TempDir()
		seg := segmentPrefix(dir, 0) + logSuffix
		keep := batches
		switch mode % 4 {
		case 0: // appended to the segment
			writeTestFile(t, seg, append(slices.Clone(valid), junk...))
		case 1: // written over the last frame
			d := slices.Clone(valid)
			copy(d[starts[4]:], junk)
			writeTestFile(t, seg, d)
			if !bytes.Equal(d, valid) {
				keep = batches[:4]
			}
		case 2: // as the next segment file
			writeTestFile(t, seg, valid)
			writeTestFile(t, segmentPrefix(dir, next)+logSuffix, junk)
		case 3: // XORed into the frames: (position uint16, mask) triples
			d := slices.Clone(valid)
			first := len(batches)
			for i := 0; i+3 <= len(junk); i += 3 {
				at := int64(binary.BigEndian.Uint16(junk[i:])) % int64(len(d))
				if junk[i+2] == 0 {
					continue
				}
				d[at] ^= junk[i+2]
				for j := 0; j < len(batches); j++ {
					if at >= starts[j] && at < starts[j+1] {
						first = min(first, j)
					}
				}
			}
			writeTestFile(t, seg, d)
			keep = batches[:first]
		}
		l, err := OpenWithOptions(dir, testConfig(), Options{Encryption: enc})
		if err != nil {
			if mode%4 == 2 && errors.Is(err, ErrKeyUnavailable) && len(junk) >= batchPeekBytes &&
				checkFrameHeader(junk, int64(len(junk))) == nil && checkFrame(junk, next, 0) == nil {
				return
			}
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		if len(keep) > 0 && l.LogEndOffset() < keep[len(keep)-1].last+1 {
			t.Fatalf("LogEndOffset %d lost valid batches ending at %d", l.LogEndOffset(), keep[len(keep)-1].last)
		}
		var buf []byte
		for _, a := range keep {
			res, err := l.Read(a.base, 0, math.MaxInt64, true, buf)
			if err != nil || !bytes.Equal(res.Data, a.data) {
				t.Fatalf("Read(%d): %d bytes, %v; want the valid batch", a.base, len(res.Data), err)
			}
			buf = res.Data
		}
		b := makeBatch(t, spec{records: 3, valueBytes: 5}, 1)
		leo := l.LogEndOffset()
		base, last, err := l.Append(b)
		if err != nil || base != leo || last != leo+2 {
			t.Fatalf("Append after recovery: [%d, %d], %v; want base %d", base, last, err, leo)
		}
		res, err := l.Read(base, 0, math.MaxInt64, true, nil)
		if err != nil || !bytes.Equal(res.Data, b) {
			t.Fatalf("Read of new batch: %d bytes, %v", len(res.Data), err)
		}
	})
}
