package records

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

func kgoCodec(c Codec) kgo.CompressionCodec {
	switch c {
	case CodecGzip:
		return kgo.GzipCompression()
	case CodecSnappy:
		return kgo.SnappyCompression()
	case CodecLZ4:
		return kgo.Lz4Compression()
	case CodecZstd:
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func codecInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("skein record batch payload "), 40000) // ~1 MiB, several snappy chunks
	return map[string][]byte{"empty": {}, "one byte": {7}, "random": random, "text": text}
}

// TestCodecRoundTrip compresses inputs with every codec and checks that
// Decompress restores them, and that franz-go's decompressor reads what
// Compress writes and Decompress reads what franz-go's compressor writes.
func TestCodecRoundTrip(t *testing.T) {
	dec := kgo.DefaultDecompressor()
	for _, c := range allCodecs[1:] {
		comp, err := kgo.DefaultCompressor(kgoCodec(c))
		if err != nil {
			t.Fatal(err)
		}
		for name, in := range codecInputs() {
			enc, err := Compress(c, nil, in)
			if err != nil {
				t.Fatalf("%v %s: compress: %v", c, name, err)
			}
			out, err := Decompress(c, nil, enc, len(in))
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("%v %s: own round trip: err %v, %d bytes of %d", c, name, err, len(out), len(in))
			}
			if len(in) > 0 {
				if _, err := Decompress(c, nil, enc, len(in)-1); !errors.Is(err, ErrDecompressedTooLarge) {
					t.Fatalf("%v %s: limit one below the size: %v", c, name, err)
				}
			}
			kout, err := dec.Decompress(enc, kgo.CompressionCodecType(c))
			if err != nil || !bytes.Equal(kout, in) {
				t.Fatalf("%v %s: franz-go reading ours: err %v, %d bytes of %d", c, name, err, len(kout), len(in))
			}
			if len(in) == 0 {
				continue // franz-go's compressor refuses empty input
			}
			kenc, kc := comp.Compress(new(bytes.Buffer), in)
			if kc != kgo.CompressionCodecType(c) {
				t.Fatalf("%v %s: franz-go used codec %v", c, name, kc)
			}
			out, err = Decompress(c, nil, kenc, len(in))
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("%v %s: reading franz-go's: err %v, %d bytes of %d", c, name, err, len(out), len(in))
			}
		}
	}
}

// TestXerialVectors decodes hand-assembled snappy-java framings: the header
// (magic, version 1, compatible version 1), then [int32 length][raw snappy
// block] chunks. "hello" as a raw block is 05 (length) 10 (literal of 5)
// followed by the bytes.
func TestXerialVectors(t *testing.T) {
	header := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	hello := []byte{0x05, 0x10, 'h', 'e', 'l', 'l', 'o'}
	world := []byte{0x06, 0x14, ' ', 'w', 'o', 'r', 'l', 'd'}
	cases := []struct {
		name string
		in   []byte
		want string
		bad  bool
	}{
		{name: "raw block", in: hello, want: "hello"},
		{name: "one chunk", in: concat(header, []byte{0, 0, 0, 7}, hello), want: "hello"},
		{name: "two chunks", in: concat(header, []byte{0, 0, 0, 7}, hello, []byte{0, 0, 0, 8}, world), want: "hello world"},
		{name: "header only", in: header, want: ""},
		{name: "chunk overruns", in: concat(header, []byte{0, 0, 0, 8}, hello), bad: true},
		{name: "truncated length", in: concat(header, []byte{0, 0, 0, 7}, hello, []byte{0, 0}), bad: true},
		{name: "chunk length negative", in: concat(header, []byte{0xff, 0xff, 0xff, 0xf9}, hello), bad: true},
		{name: "raw block corrupt", in: []byte{0x05, 0x10, 'h'}, bad: true},
	}
	for _, c := range cases {
		out, err := Decompress(CodecSnappy, nil, c.in, 1<<20)
		if c.bad {
			if err == nil {
				t.Fatalf("%s: decoded %q", c.name, out)
			}
			continue
		}
		if err != nil || string(out) != c.want {
			t.Fatalf("%s: got %q, %v; want %q", c.name, out, err, c.want)
		}
	}
	// What Compress writes opens with the same header and chunk framing.
	enc := appendXerial(nil, []byte("hello"))
	if !bytes.Equal(enc, concat(header, []byte{0, 0, 0, 7}, hello)) {
		t.Fatalf("appendXerial(hello) = % x", enc)
	}
	if enc := appendXerial(nil, nil); !bytes.Equal(enc, concat(header, []byte{0, 0, 0, 1, 0})) {
		t.Fatalf("appendXerial(empty) = % x", enc)
	}
}

// bombs returns, per codec, a small input that decompresses to 32 MiB, plus
// inputs that merely claim a huge size.
func bombs(t *testing.T) map[string]struct {
	codec Codec
	data  []byte
} {
	t.Helper()
	zeros := make([]byte, 32<<20)
	out := map[string]struct {
		codec Codec
		data  []byte
	}{}
	for _, c := range allCodecs[1:] {
		b, err := Compress(c, nil, zeros)
		if err != nil {
			t.Fatal(err)
		}
		out[c.String()] = struct {
			codec Codec
			data  []byte
		}{c, b}
	}
	// A zstd frame without a declared content size, so the bound is
	// enforced while decoding rather than from the frame header.
	var zs bytes.Buffer
	zw, err := zstd.NewWriter(&zs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(zeros); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	out["zstd stream"] = struct {
		codec Codec
		data  []byte
	}{CodecZstd, zs.Bytes()}
	// A raw snappy block claiming 1 GiB.
	out["snappy claim"] = struct {
		codec Codec
		data  []byte
	}{CodecSnappy, append(AppendVarint(nil, 0)[:0], 0x80, 0x80, 0x80, 0x80, 0x04, 0, 0)}
	return out
}

// TestDecompressionBomb feeds each codec a small input that inflates to 32
// MiB, directly and inside a batch, with a 1 MiB cap: it must fail with the
// size error and allocate a bounded amount, measured as the TotalAlloc delta
// of the failing call after a warm-up call.
func TestDecompressionBomb(t *testing.T) {
	const limit = 1 << 20
	const allocBound = 6 << 20 // the 1 MiB output plus decoder state
	lim := DefaultLimits(testNowMs)
	lim.MaxDecompressedBytes = limit
	lim.MaxMessageBytes = 64 << 20
	for name, bomb := range bombs(t) {
		t.Run(name, func(t *testing.T) {
			if len(bomb.data) > 4<<20 {
				t.Fatalf("bomb is %d bytes, not small", len(bomb.data))
			}
			batch := edit(rawBatch(t, CodecNone, 1, bomb.data), true, func(b []byte) { b[22] |= byte(bomb.codec) })
			var s Scratch
			run := func() (error, error) {
				_, derr := Decompress(bomb.codec, nil, bomb.data, limit)
				_, verr := Validate(batch, lim, &s)
				return derr, verr
			}
			run() // warm pools and decoders
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			derr, verr := run()
			runtime.ReadMemStats(&after)
			if !errors.Is(derr, ErrDecompressedTooLarge) {
				t.Fatalf("Decompress: %v", derr)
			}
			if !errors.Is(verr, kerr.CorruptMessage) {
				t.Fatalf("Validate: %v", verr)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > allocBound {
				t.Fatalf("allocated %d bytes for a %d byte cap", d, limit)
			}
		})
	}
}
