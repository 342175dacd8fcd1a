package storage

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"

	"github.com/skein-streaming/skein/storage/keys"
)

// Encrypted frames (see doc.go, "Encryption at rest"). A frame stores one
// record batch sealed with AES-256-GCM. Its header keeps baseOffset,
// length, partitionLeaderEpoch, magic, lastOffsetDelta and maxTimestamp
// at the positions the v2 batch header has them, so that the code that
// walks headers (index lookups, timestamp search, recovery of clean
// segments) reads both formats alike.
const (
	// frameMagic marks a frame where a v2 batch has magic 2.
	frameMagic = 0xE1

	frameHeaderCRCAt   = batchCRCAt // CRC32C of the header, this field excluded
	frameKeyIDLenAt    = 21
	frameReservedAt    = 22
	frameKeyCheckAt    = 27
	frameSegmentBaseAt = 43
	framePositionAt    = 51
	frameSaltAt        = 55
	frameNonceAt       = 71
	frameKeyIDAt       = 83

	frameKeyCheckBytes = 8
	frameSaltBytes     = 16
	frameNonceBytes    = 12
	frameTagBytes      = 16

	// frameLengthMin is the smallest legal frame length field: a header
	// with a one-byte key id, the smallest batch and the tag.
	frameLengthMin = frameKeyIDAt + 1 + batchHeaderBytes + frameTagBytes - batchLengthFieldEnd
	// frameHeaderMax is the longest frame header.
	frameHeaderMax = frameKeyIDAt + keys.MaxIDLen

	// segmentKeyInfo and keyCheckInfo separate the two uses of a master
	// key: deriving a segment's data key (HKDF-SHA256 with the segment's
	// salt) and the key check value stored with the data.
	segmentKeyInfo = "skein-storage segment key v1"
	keyCheckInfo   = "skein-storage key check v1"
)

// frameOverhead is what a frame adds to the batch it holds.
func frameOverhead(keyIDLen int) int64 { return int64(frameKeyIDAt + keyIDLen + frameTagBytes) }

// checkFrameHeader is checkBatchHeader for a frame: it validates the
// fields a header walk depends on, given at least batchPeekBytes of the
// frame and the number of bytes available from its start.
func checkFrameHeader(b []byte, avail int64) error {
	if avail < frameKeyIDAt+1 {
		return fmt.Errorf("%d bytes left, a frame header needs %d", avail, frameKeyIDAt+1)
	}
	length := int32(binary.BigEndian.Uint32(b[batchLengthAt:]))
	if length < frameLengthMin {
		return fmt.Errorf("frame length %d below minimum %d", length, frameLengthMin)
	}
	if size := batchLengthFieldEnd + int64(length); size > avail {
		return fmt.Errorf("frame of %d bytes but only %d left", size, avail)
	}
	if m := b[batchMagicAt]; m != frameMagic {
		return fmt.Errorf("magic %d, want %d (encrypted frame)", m, frameMagic)
	}
	if d := batchLastOffsetDelta(b); d < 0 {
		return fmt.Errorf("negative lastOffsetDelta %d", d)
	}
	if base := batchBaseOffset(b); base < 0 || base > math.MaxInt64-math.MaxInt32 {
		return fmt.Errorf("baseOffset %d out of range", base)
	}
	return nil
}

// validFrameHeader is checkFrameHeader without the error value, for the
// read path, which must not allocate.
func validFrameHeader(b []byte, avail int64) bool {
	if avail < frameKeyIDAt+1 {
		return false
	}
	length := int32(binary.BigEndian.Uint32(b[batchLengthAt:]))
	base := batchBaseOffset(b)
	return length >= frameLengthMin && batchLengthFieldEnd+int64(length) <= avail &&
		b[batchMagicAt] == frameMagic && batchLastOffsetDelta(b) >= 0 &&
		base >= 0 && base <= math.MaxInt64-math.MaxInt32
}

// frameHeaderLen is the header length of frame f (f[frameKeyIDLenAt]
// must exist).
func frameHeaderLen(f []byte) int { return frameKeyIDAt + int(f[frameKeyIDLenAt]) }

// frameHeaderCRC is the CRC32C of header h without its CRC field.
func frameHeaderCRC(h []byte) uint32 {
	crc := crc32.Update(0, castagnoli, h[:frameHeaderCRCAt])
	return crc32.Update(crc, castagnoli, h[frameHeaderCRCAt+4:])
}

// checkFrame verifies what the header check leaves out, on the start of
// a frame f (at least its whole header) that passed checkFrameHeader: the
// key id length, the reserved byte, the header CRC, and that the frame
// was written at position pos of the segment with base offset segBase (a
// frame copied elsewhere is refused here, and would fail authentication
// anyway). A header that passes these checks is undamaged, so its key id
// and key check can be trusted to name the key the frame was sealed with.
func checkFrame(f []byte, segBase, pos int64) error {
	n := int(f[frameKeyIDLenAt])
	if n < 1 || n > keys.MaxIDLen {
		return fmt.Errorf("key id length %d out of range [1, %d]", n, keys.MaxIDLen)
	}
	h := frameKeyIDAt + n
	if len(f) < h {
		return fmt.Errorf("%d bytes left, the frame header needs %d", len(f), h)
	}
	if size := batchSize(f); size < int64(h+batchHeaderBytes+frameTagBytes) {
		return fmt.Errorf("frame of %d bytes too short for its %d-byte header and a batch", size, h)
	}
	if f[frameReservedAt] != 0 {
		return fmt.Errorf("reserved byte %d, want 0", f[frameReservedAt])
	}
	if got, want := frameHeaderCRC(f[:h]), binary.BigEndian.Uint32(f[frameHeaderCRCAt:]); got != want {
		return fmt.Errorf("header crc %#08x, header says %#08x", got, want)
	}
	if b := int64(binary.BigEndian.Uint64(f[frameSegmentBaseAt:])); b != segBase {
		return fmt.Errorf("frame written in segment %d, found in segment %d", b, segBase)
	}
	if p := int64(binary.BigEndian.Uint32(f[framePositionAt:])); p != pos {
		return fmt.Errorf("frame written at position %d, found at %d", p, pos)
	}
	return nil
}

// frameKeyID returns the key id bytes of a frame that passed checkFrame.
func frameKeyID(f []byte) []byte { return f[frameKeyIDAt:frameHeaderLen(f)] }

// segmentCipher is the data key of one encrypted segment: derived from a
// master key (named by keyID) and the segment's random salt. Every frame
// of a segment uses the same one, so a segment is under exactly one
// master key.
type segmentCipher struct {
	keyID    string
	keyCheck [frameKeyCheckBytes]byte
	salt     [frameSaltBytes]byte
	aead     cipher.AEAD
}

// keyCheckOf is the key check value of a master key: the first bytes of
// HMAC-SHA256(key, keyCheckInfo). It tells a wrong key under a known id
// from damaged data, and reveals nothing usable about the key.
func keyCheckOf(master []byte) [frameKeyCheckBytes]byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(keyCheckInfo))
	var c [frameKeyCheckBytes]byte
	copy(c[:], m.Sum(nil))
	return c
}

// newSegmentCipher derives the data key of a segment.
func newSegmentCipher(id string, master []byte, salt [frameSaltBytes]byte) (*segmentCipher, error) {
	if len(master) != keys.Size {
		return nil, fmt.Errorf("key %q has %d bytes, want %d", id, len(master), keys.Size)
	}
	dk, err := hkdf.Key(sha256.New, master, salt[:], segmentKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive segment key: %w", err)
	}
	block, err := aes.NewCipher(dk)
	clear(dk)
	if err != nil {
		return nil, fmt.Errorf("segment cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("segment cipher: %w", err)
	}
	return &segmentCipher{keyID: id, keyCheck: keyCheckOf(master), salt: salt, aead: aead}, nil
}

// freshSegmentCipher derives the data key of a new segment with a random
// salt.
func freshSegmentCipher(id string, master []byte) (*segmentCipher, error) {
	var salt [frameSaltBytes]byte
	rand.Read(salt[:])
	return newSegmentCipher(id, master, salt)
}

// keyIDOrClear is the cipher's key id, "" for nil (data in the clear).
func (c *segmentCipher) keyIDOrClear() string {
	if c == nil {
		return ""
	}
	return c.keyID
}

func (c *segmentCipher) headerLen() int  { return frameKeyIDAt + len(c.keyID) }
func (c *segmentCipher) overhead() int64 { return frameOverhead(len(c.keyID)) }

// owns reports whether frame f (past checkFrame) was sealed with this
// segment's data key: same key id, key check and salt.
func (c *segmentCipher) owns(f []byte) bool {
	return string(frameKeyID(f)) == c.keyID &&
		bytes.Equal(f[frameKeyCheckAt:frameKeyCheckAt+frameKeyCheckBytes], c.keyCheck[:]) &&
		bytes.Equal(f[frameSaltAt:frameSaltAt+frameSaltBytes], c.salt[:])
}

// seal appends to dst the frame holding batch, a valid v2 batch, to be
// written at position pos of the segment with base offset segBase. The
// header is the additional authenticated data, so nothing in it can be
// changed without the frame failing authentication.
func (c *segmentCipher) seal(dst []byte, segBase, pos int64, batch []byte) []byte {
	h := c.headerLen()
	start := len(dst)
	dst = slices.Grow(dst, h+len(batch)+frameTagBytes)[:start+h]
	hdr := dst[start:]
	clear(hdr)
	be := binary.BigEndian
	be.PutUint64(hdr[batchBaseOffsetAt:], uint64(batchBaseOffset(batch)))
	be.PutUint32(hdr[batchLengthAt:], uint32(h+len(batch)+frameTagBytes-batchLengthFieldEnd))
	be.PutUint32(hdr[batchLeaderEpochAt:], uint32(batchLeaderEpoch(batch)))
	hdr[batchMagicAt] = frameMagic
	hdr[frameKeyIDLenAt] = byte(len(c.keyID))
	be.PutUint32(hdr[batchLastOffsetDeltaAt:], uint32(batchLastOffsetDelta(batch)))
	copy(hdr[frameKeyCheckAt:], c.keyCheck[:])
	be.PutUint64(hdr[batchMaxTimestampAt:], uint64(batchMaxTimestamp(batch)))
	be.PutUint64(hdr[frameSegmentBaseAt:], uint64(segBase))
	be.PutUint32(hdr[framePositionAt:], uint32(pos))
	copy(hdr[frameSaltAt:], c.salt[:])
	rand.Read(hdr[frameNonceAt : frameNonceAt+frameNonceBytes])
	copy(hdr[frameKeyIDAt:], c.keyID)
	be.PutUint32(hdr[frameHeaderCRCAt:], frameHeaderCRC(hdr))
	return c.aead.Seal(dst, hdr[frameNonceAt:frameNonceAt+frameNonceBytes], batch, hdr)
}

// open authenticates and decrypts frame f in place (f must have passed
// checkFrame and owns) and returns the batch, which overwrites the start
// of f's ciphertext. The batch's header must agree with the frame's.
func (c *segmentCipher) open(f []byte) ([]byte, error) {
	h := c.headerLen()
	ct := f[h:]
	b, err := c.aead.Open(ct[:0], f[frameNonceAt:frameNonceAt+frameNonceBytes], ct, f[:h])
	if err != nil {
		return nil, errFrameAuth
	}
	// Paired check: the sealed batch and the clear header describe the
	// same batch. Only a bug could make them differ.
	if int64(len(b)) < batchHeaderBytes || batchSize(b) != int64(len(b)) || b[batchMagicAt] != batchMagic ||
		batchBaseOffset(b) != batchBaseOffset(f) || batchLastOffsetDelta(b) != batchLastOffsetDelta(f) ||
		batchMaxTimestamp(b) != batchMaxTimestamp(f) || batchLeaderEpoch(b) != batchLeaderEpoch(f) {
		return nil, errFrameMismatch
	}
	return b, nil
}

// Errors of open; static so that a failed read allocates nothing more.
var (
	errFrameAuth     = fmt.Errorf("frame fails authentication (damaged, or sealed under another key)")
	errFrameMismatch = fmt.Errorf("decrypted batch does not match its frame header")
)
