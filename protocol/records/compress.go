package records

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec is a batch compression codec: the low three attribute bits, named
// as in the topic config compression.type.
type Codec int8

// The codecs of record batch v2.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns the compression.type name of c.
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Known reports whether c is a codec Kafka defines.
func (c Codec) Known() bool { return c >= CodecNone && c <= CodecZstd }

// ErrDecompressedTooLarge is returned by Decompress when the output would
// exceed its limit.
var ErrDecompressedTooLarge = errors.New("records: decompressed size exceeds the limit")

// ErrUnknownCodec is returned for a codec id outside 0..4.
var ErrUnknownCodec = errors.New("records: unknown compression codec")

// xerialMagic opens the xerial snappy-java framing that the Java client
// writes: the magic, then a version and a compatible-version int32, then
// chunks of [int32 length][snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderBytes = 16
	xerialChunkBytes  = 32 << 10
	// readChunkBytes is the first buffer size when decompressing a stream
	// whose output size is unknown.
	readChunkBytes = 64 << 10
)

// Decompress decompresses src, encoded with codec, into dst[:0] (growing it
// as needed) and returns the result. It fails with ErrDecompressedTooLarge as
// soon as the output would exceed limit bytes: sizes declared in the input
// are checked against limit before anything is allocated for them, and
// streams are read through a bound, so memory stays O(limit) whatever src
// claims. CodecNone copies src.
func Decompress(codec Codec, dst, src []byte, limit int) ([]byte, error) {
	dst = dst[:0]
	limit = max(limit, 0)
	switch codec {
	case CodecNone:
		if len(src) > limit {
			return dst, ErrDecompressedTooLarge
		}
		return append(dst, src...), nil
	case CodecGzip:
		return gunzip(dst, src, limit)
	case CodecSnappy:
		return unsnappy(dst, src, limit)
	case CodecLZ4:
		return unlz4(dst, src, limit)
	case CodecZstd:
		return unzstd(dst, src, limit)
	}
	return dst, ErrUnknownCodec
}

// readBounded reads r to EOF into dst[:0], never holding more than limit+1
// bytes: the one extra byte is how an overflow is detected.
func readBounded(dst []byte, r io.Reader, limit int) ([]byte, error) {
	dst = dst[:0]
	for {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return dst, ErrDecompressedTooLarge
			}
			grown := min(max(2*cap(dst), readChunkBytes), limit+1)
			nb := make([]byte, len(dst), grown)
			copy(nb, dst)
			dst = nb
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, ErrDecompressedTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

type gzipReader struct {
	br bytes.Reader
	zr gzip.Reader
}

var gzipReaders = sync.Pool{New: func() any { return new(gzipReader) }}

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	g := gzipReaders.Get().(*gzipReader)
	defer gzipReaders.Put(g)
	g.br.Reset(src)
	if err := g.zr.Reset(&g.br); err != nil {
		return dst, err
	}
	out, err := readBounded(dst, &g.zr, limit)
	g.br.Reset(nil)
	return out, err
}

type lz4Reader struct {
	br bytes.Reader
	zr *lz4.Reader
}

var lz4Readers = sync.Pool{New: func() any { return &lz4Reader{zr: lz4.NewReader(nil)} }}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	l := lz4Readers.Get().(*lz4Reader)
	defer lz4Readers.Put(l)
	l.br.Reset(src)
	l.zr.Reset(&l.br)
	out, err := readBounded(dst, l.zr, limit)
	l.br.Reset(nil)
	return out, err
}

// unsnappy decodes either the xerial framing (Java client) or one raw snappy
// block (librdkafka, franz-go), as snappy-java's SnappyInputStream does: input
// not opening with the xerial magic is taken as a raw block.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderBytes || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return snappyBlock(dst, src, limit)
	}
	src = src[xerialHeaderBytes:]
	for len(src) > 0 {
		if len(src) < 4 {
			return dst, errors.New("records: truncated xerial snappy chunk length")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, errors.New("records: xerial snappy chunk overruns the input")
		}
		var err error
		if dst, err = snappyBlock(dst, src[:n], limit); err != nil {
			return dst, err
		}
		src = src[n:]
	}
	return dst, nil
}

// snappyBlock appends the decoding of one raw snappy block to dst, checking
// the block's declared length against what limit leaves before growing dst.
func snappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > limit-len(dst) {
		return dst, ErrDecompressedTooLarge
	}
	if cap(dst)-len(dst) < n {
		// Grow geometrically, as xerial input is many small blocks, but
		// never past the limit.
		nb := make([]byte, len(dst), min(max(2*cap(dst), len(dst)+n), limit))
		copy(nb, dst)
		dst = nb
	}
	out, err := snappy.DecodeStrict(dst[len(dst):len(dst)+n], src)
	if err != nil {
		return dst, err
	}
	return dst[:len(dst)+len(out)], nil
}

// zstdPools holds, per decompression limit rounded up to a power of two, a
// pool of zstd decoders built with that as their maximum decoded size: zstd
// decoders are costly to build, and the limit is fixed at construction.
// Rounding keeps the pools few whatever limits callers pass, at the price of
// decoding up to twice the limit before the exact check. The decoder also
// refuses frames whose window exceeds its size, hence the floor of
// zstdLimitMin: small limits must not turn away small frames that declare an
// ordinary window.
const zstdLimitMin = 1 << 20

var zstdPools sync.Map // int -> *sync.Pool of *zstd.Decoder

func zstdPool(limit int) *sync.Pool {
	limit = 1 << bits.Len(uint(max(limit, zstdLimitMin)-1))
	if p, ok := zstdPools.Load(limit); ok {
		return p.(*sync.Pool)
	}
	p, _ := zstdPools.LoadOrStore(limit, &sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(uint64(limit)),
			zstd.WithDecoderMaxWindow(min(uint64(limit), zstd.MaxWindowSize)),
		)
		if err != nil {
			// limit is a power of two of at least zstdLimitMin and
			// the window is clamped to zstd's range, so NewReader
			// has nothing to reject.
			panic(fmt.Sprintf("records: zstd.NewReader(limit %d): %v", limit, err))
		}
		return d
	}})
	return p.(*sync.Pool)
}

// unzstd decodes whole zstd frames with DecodeAll, which writes into dst and
// stops once the output passes the decoder's maximum decoded size (limit),
// also refusing frames that declare a larger content size up front.
func unzstd(dst, src []byte, limit int) ([]byte, error) {
	p := zstdPool(limit)
	d := p.Get().(*zstd.Decoder)
	defer p.Put(d)
	out, err := d.DecodeAll(src, dst[:0])
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return dst[:0], ErrDecompressedTooLarge
	}
	if err != nil {
		return dst[:0], err
	}
	if len(out) > limit {
		return dst[:0], ErrDecompressedTooLarge
	}
	return out, nil
}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type gzipWriter struct {
	aw appendWriter
	zw *gzip.Writer
}

var gzipWriters = sync.Pool{New: func() any {
	g := new(gzipWriter)
	g.zw, _ = gzip.NewWriterLevel(&g.aw, gzip.DefaultCompression)
	return g
}}

type lz4Writer struct {
	aw appendWriter
	zw *lz4.Writer
}

var lz4Writers = sync.Pool{New: func() any {
	l := new(lz4Writer)
	l.zw = lz4.NewWriter(&l.aw)
	return l
}}

// lz4Options match the Java client's KafkaLZ4BlockOutputStream: 64 KiB
// independent blocks.
var lz4Options = []lz4.Option{lz4.BlockSizeOption(lz4.Block64Kb), lz4.ConcurrencyOption(1)}

var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		panic(fmt.Sprintf("records: zstd.NewWriter: %v", err))
	}
	return e
})

// Compress appends src compressed with codec to dst, in the framing Kafka's
// Java client writes: gzip members, xerial-framed snappy, LZ4 frames with
// 64 KiB blocks, and zstd frames. CodecNone appends src as is.
func Compress(codec Codec, dst, src []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		g := gzipWriters.Get().(*gzipWriter)
		defer gzipWriters.Put(g)
		g.aw.b = dst
		g.zw.Reset(&g.aw)
		return finish(&g.aw, g.zw, src)
	case CodecSnappy:
		return appendXerial(dst, src), nil
	case CodecLZ4:
		l := lz4Writers.Get().(*lz4Writer)
		defer lz4Writers.Put(l)
		l.aw.b = dst
		l.zw.Reset(&l.aw)
		if err := l.zw.Apply(lz4Options...); err != nil {
			return dst, err
		}
		return finish(&l.aw, l.zw, src)
	case CodecZstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return dst, ErrUnknownCodec
}

// finish writes src through w, closes it and hands back the output,
// releasing the writer's hold on it.
func finish(aw *appendWriter, w io.WriteCloser, src []byte) ([]byte, error) {
	_, err := w.Write(src)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	out := aw.b
	aw.b = nil
	return out, err
}

// appendXerial appends src as xerial-framed snappy: header, then one
// [length][block] chunk per 32 KiB of input, as snappy-java writes it.
func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // compatible version
	// Empty input still gets one (empty) chunk: some readers want more
	// than the bare header.
	for first := true; first || len(src) > 0; first = false {
		chunk := src[:min(len(src), xerialChunkBytes)]
		src = src[len(chunk):]
		at := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		need := snappy.MaxEncodedLen(len(chunk))
		dst = growBy(dst, need)
		enc := snappy.Encode(dst[len(dst):len(dst)+need], chunk)
		binary.BigEndian.PutUint32(dst[at:], uint32(len(enc)))
		dst = dst[:len(dst)+len(enc)]
	}
	return dst
}

// growBy makes room for n more bytes beyond len(b).
func growBy(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), 2*cap(b)+n)
	copy(nb, b)
	return nb
}
