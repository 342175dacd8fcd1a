package raft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Wire format of the TCP transport.
//
// A connection is opened by the sender and carries messages one way. It
// starts with a handshake:
//
//	"SKNRAFT" 0x01          magic and version (8 bytes)
//	from uint64             sender's node id
//	to   uint64             receiver's node id (the receiver closes the
//	                        connection if it is not its own)
//	addrLen uvarint, addr   the sender's advertised raft address, so that a
//	                        node that has just joined can answer before it
//	                        has learned the membership from the log
//
// then frames, each one raftpb.Message:
//
//	length uint32           payload length, at most the receiver's limit
//	crc    uint32           CRC-32C (Castagnoli) of the payload
//	payload                 protobuf encoding of raftpb.Message
//
// Integers are big-endian. Any violation (bad magic, oversized frame,
// checksum mismatch, undecodable message, a message not from the handshake's
// sender or not to the receiver) closes the connection.

const (
	handshakeMagic  = "SKNRAFT\x01"
	frameHeaderLen  = 8
	maxAddrLen      = 1024
	smallFrameLimit = 64 << 10 // frames up to this size reuse one buffer
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errFrameTooLarge = errors.New("raft: frame exceeds the size limit")
	errFrameChecksum = errors.New("raft: frame checksum mismatch")
	errBadHandshake  = errors.New("raft: bad connection handshake")
)

type handshake struct {
	from, to uint64
	addr     string
}

func appendHandshake(b []byte, h handshake) []byte {
	b = append(b, handshakeMagic...)
	b = binary.BigEndian.AppendUint64(b, h.from)
	b = binary.BigEndian.AppendUint64(b, h.to)
	b = binary.AppendUvarint(b, uint64(len(h.addr)))
	return append(b, h.addr...)
}

type byteReader interface {
	io.Reader
	io.ByteReader
}

func readHandshake(r byteReader) (handshake, error) {
	var fixed [8 + 8 + 8]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return handshake{}, err
	}
	if string(fixed[:8]) != handshakeMagic {
		return handshake{}, errBadHandshake
	}
	h := handshake{from: binary.BigEndian.Uint64(fixed[8:]), to: binary.BigEndian.Uint64(fixed[16:])}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return handshake{}, err
	}
	if n > maxAddrLen || h.from == 0 {
		return handshake{}, errBadHandshake
	}
	addr := make([]byte, n)
	if _, err := io.ReadFull(r, addr); err != nil {
		return handshake{}, err
	}
	h.addr = string(addr)
	return h, nil
}

// appendFrame appends m as one frame.
func appendFrame(b []byte, m *pb.Message) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, frameHeaderLen)...)
	b, err := proto.MarshalOptions{}.MarshalAppend(b, m)
	if err != nil {
		return b[:start], err
	}
	payload := b[start+frameHeaderLen:]
	if uint64(len(payload)) > 1<<32-1 {
		return b[:start], errFrameTooLarge
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b, nil
}

// frameReader decodes frames from a stream. Memory grows only with the
// bytes actually received: a header announcing a large frame does not
// allocate it up front.
type frameReader struct {
	r   io.Reader
	max int
	buf []byte
	big bytes.Buffer
}

func newFrameReader(r io.Reader, max int) *frameReader {
	return &frameReader{r: r, max: max}
}

// next returns the next message. Any error means the stream is unusable.
func (f *frameReader) next() (*pb.Message, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	sum := binary.BigEndian.Uint32(hdr[4:])
	if uint64(n) > uint64(f.max) {
		return nil, fmt.Errorf("%w: %d > %d bytes", errFrameTooLarge, n, f.max)
	}
	var payload []byte
	if n <= smallFrameLimit {
		if cap(f.buf) < int(n) {
			f.buf = make([]byte, smallFrameLimit)
		}
		payload = f.buf[:n]
		if _, err := io.ReadFull(f.r, payload); err != nil {
			return nil, unexpectedEOF(err)
		}
	} else {
		f.big.Reset()
		got, err := io.CopyN(&f.big, f.r, int64(n))
		if got != int64(n) {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return nil, unexpectedEOF(err)
		}
		payload = f.big.Bytes()
	}
	defer func() {
		if f.big.Cap() > 4*smallFrameLimit {
			f.big = bytes.Buffer{} // do not keep a snapshot-sized buffer per connection
		}
	}()
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, errFrameChecksum
	}
	m := &pb.Message{}
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("raft: bad message frame: %w", err)
	}
	return m, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
