package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// minRequestBytes is the smallest valid request frame: api key (2), api
// version (2), correlation id (4) and the client id length (2).
const minRequestBytes = 10

// ErrFrameTooLarge is returned when a size prefix exceeds the configured
// maximum (socket.request.max.bytes).
var ErrFrameTooLarge = errors.New("request frame exceeds socket.request.max.bytes")

// ErrFrameTooSmall is returned when a size prefix is too small to hold a
// request header, or negative.
var ErrFrameTooSmall = errors.New("request frame smaller than a request header")

// ReadFrameSize reads a four-byte size prefix and checks it against max
// before the caller allocates anything.
func ReadFrameSize(r io.Reader, max int32) (int32, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return 0, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	switch {
	case size < minRequestBytes:
		return 0, fmt.Errorf("%w: %d bytes", ErrFrameTooSmall, size)
	case size > max:
		return 0, fmt.Errorf("%w: %d > %d", ErrFrameTooLarge, size, max)
	}
	return size, nil
}

// Header is a parsed request header (versions 1 and 2; version 0 only
// belonged to ControlledShutdown v0, which no broker serves any more).
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	// ClientID is nil when the client sent a null client id.
	ClientID *string
}

// ErrMalformed marks a request whose header or body could not be decoded.
var ErrMalformed = errors.New("malformed request")

// ParseHeader reads the fixed part of a request header: key, version and
// correlation id. It does not read the client id, whose encoding is the
// same in every header version, nor the tagged fields, whose presence
// depends on whether the request version is flexible.
func ParseHeader(frame []byte) (Header, error) {
	if len(frame) < minRequestBytes {
		return Header{}, fmt.Errorf("%w: header needs %d bytes, have %d", ErrMalformed, minRequestBytes, len(frame))
	}
	return Header{
		Key:           int16(binary.BigEndian.Uint16(frame[0:])),
		Version:       int16(binary.BigEndian.Uint16(frame[2:])),
		CorrelationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}, nil
}

// DecodeRequest decodes the client id, the header's tagged fields (for
// flexible versions) and the body of a request whose key and version the
// caller has already checked. It returns the kmsg request with its version
// set.
func DecodeRequest(frame []byte, h *Header) (kmsg.Request, error) {
	req := kmsg.RequestForKey(h.Key)
	if req == nil {
		return nil, fmt.Errorf("%w: unknown api key %d", ErrMalformed, h.Key)
	}
	req.SetVersion(h.Version)
	r := kbin.Reader{Src: frame[8:]}
	h.ClientID = r.NullableString()
	if req.IsFlexible() {
		skipTags(&r)
	}
	if !r.Ok() {
		return nil, fmt.Errorf("%w: truncated request header", ErrMalformed)
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, err)
	}
	return req, nil
}

// skipTags skips a tagged-field section; request headers define no tags
// that a broker needs.
func skipTags(r *kbin.Reader) {
	n := r.Uvarint()
	for i := uint32(0); i < n && r.Ok(); i++ {
		r.Uvarint() // tag
		size := r.Uvarint()
		r.Span(int(size))
	}
}

// AppendResponse appends a complete response frame (size prefix, response
// header, body) for a response to a request of the given key. ApiVersions
// responses always use header v0 so that a client that does not yet know
// the broker's versions can read them.
func AppendResponse(dst []byte, key int16, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = kbin.AppendInt32(dst, correlationID)
	if resp.IsFlexible() && key != kmsg.ApiVersions.Int16() {
		dst = append(dst, 0) // no tagged fields
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
