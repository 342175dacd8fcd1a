package raft

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func sampleMessages() []*pb.Message {
	return []*pb.Message{
		{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3)), Commit: new(uint64(9))},
		{Type: pb.MsgApp.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3)), Index: new(uint64(10)),
			LogTerm: new(uint64(3)), Entries: []*pb.Entry{{Index: new(uint64(11)), Term: new(uint64(3)), Data: bytes.Repeat([]byte("x"), 100)}}},
		{Type: pb.MsgSnap.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3)),
			Snapshot: &pb.Snapshot{Data: bytes.Repeat([]byte("s"), 200<<10), Metadata: &pb.SnapshotMetadata{Index: new(uint64(5)), Term: new(uint64(2))}}},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	var stream []byte
	for _, m := range sampleMessages() {
		var err error
		if stream, err = appendFrame(stream, m); err != nil {
			t.Fatal(err)
		}
	}
	fr := newFrameReader(bytes.NewReader(stream), 1<<20)
	for i, want := range sampleMessages() {
		got, err := fr.next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("frame %d: got %v", i, got)
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v", err)
	}
}

func TestFrameReaderRejects(t *testing.T) {
	good, _ := appendFrame(nil, sampleMessages()[1])
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)-1] ^= 1
	huge := binary.BigEndian.AppendUint32(nil, 1<<30)
	huge = append(huge, 0, 0, 0, 0)
	garbage := binary.BigEndian.AppendUint32(nil, 3)
	garbage = binary.BigEndian.AppendUint32(garbage, crcOf([]byte{0xff, 0xff, 0xff}))
	garbage = append(garbage, 0xff, 0xff, 0xff)
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"checksum":  {corrupt, errFrameChecksum},
		"too large": {huge, errFrameTooLarge},
		"truncated": {good[:len(good)-5], io.ErrUnexpectedEOF},
		"header":    {good[:5], io.ErrUnexpectedEOF},
		"garbage":   {garbage, nil},
	} {
		_, err := newFrameReader(bytes.NewReader(tc.in), 1<<20).next()
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
	// A frame announcing 100 MiB with only a few bytes behind it allocates
	// only what arrived.
	big := binary.BigEndian.AppendUint32(nil, 100<<20)
	big = append(big, 0, 0, 0, 0, 1, 2, 3)
	fr := newFrameReader(bytes.NewReader(big), 200<<20)
	if _, err := fr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short big frame: %v", err)
	}
	if fr.big.Cap() > 1<<20 {
		t.Fatalf("buffer grew to %d bytes for 3 received", fr.big.Cap())
	}
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func TestHandshake(t *testing.T) {
	b := appendHandshake(nil, handshake{from: 3, to: 4, addr: "10.0.0.1:9093"})
	h, err := readHandshake(bufio.NewReader(bytes.NewReader(b)))
	if err != nil || h.from != 3 || h.to != 4 || h.addr != "10.0.0.1:9093" {
		t.Fatalf("%+v %v", h, err)
	}
	bad := bytes.Clone(b)
	bad[0] = 'X'
	if _, err := readHandshake(bufio.NewReader(bytes.NewReader(bad))); !errors.Is(err, errBadHandshake) {
		t.Fatalf("bad magic: %v", err)
	}
	long := appendHandshake(nil, handshake{from: 3, to: 4, addr: string(make([]byte, maxAddrLen+1))})
	if _, err := readHandshake(bufio.NewReader(bytes.NewReader(long))); !errors.Is(err, errBadHandshake) {
		t.Fatalf("long address: %v", err)
	}
}

func TestEnvelopes(t *testing.T) {
	s := snapshotEnvelope{addrs: map[uint64]string{1: "a:1", 2: "b:2"}, data: []byte("state")}
	got, err := decodeSnapshot(encodeSnapshot(s))
	if err != nil || len(got.addrs) != 2 || got.addrs[2] != "b:2" || string(got.data) != "state" {
		t.Fatalf("%+v %v", got, err)
	}
	c := confContext{id: proposalID{1, 2}, addr: "h:9"}
	gc, err := decodeConfContext(encodeConfContext(c))
	if err != nil || gc != c {
		t.Fatalf("%+v %v", gc, err)
	}
	b := make([]byte, entryHeaderLen+3)
	copy(b[entryHeaderLen:], "abc")
	putEntryHeader(b, entryHeader{id: proposalID{4, 5}, term: 6})
	h, p, err := decodeEntry(b)
	if err != nil || h.id != (proposalID{4, 5}) || h.term != 6 || string(p) != "abc" {
		t.Fatalf("%+v %q %v", h, p, err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, 0}, {1, 5, 0, 0, 0, 0, 0, 0, 0, 1}} {
		if _, err := decodeSnapshot(bad); err == nil {
			t.Errorf("snapshot envelope %x accepted", bad)
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes to the inbound side of a connection:
// handshake, then frames. Decoding must fail cleanly, never panic, and never
// hold more memory than it has read.
func FuzzFrameReader(f *testing.F) {
	hs := appendHandshake(nil, handshake{from: 1, to: 2, addr: "127.0.0.1:1"})
	stream := bytes.Clone(hs)
	for _, m := range sampleMessages()[:2] {
		stream, _ = appendFrame(stream, m)
	}
	f.Add(stream)
	f.Add(hs)
	f.Add(stream[:len(stream)-3])
	f.Add(append(bytes.Clone(hs), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0))
	f.Add([]byte("SKNRAFT\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		br := bufio.NewReader(bytes.NewReader(data))
		if _, err := readHandshake(br); err != nil {
			return
		}
		fr := newFrameReader(br, 1<<20)
		for {
			m, err := fr.next()
			if err != nil {
				return
			}
			if _, err := proto.Marshal(m); err != nil {
				t.Fatalf("decoded message does not encode: %v", err)
			}
			if fr.big.Cap() > 4*len(data)+4*smallFrameLimit {
				t.Fatalf("buffer %d bytes for %d bytes of input", fr.big.Cap(), len(data))
			}
		}
	})
}

// FuzzEnvelopes decodes arbitrary snapshot envelopes, membership contexts
// and entry headers (all of which can arrive from a peer).
func FuzzEnvelopes(f *testing.F) {
	f.Add(encodeSnapshot(snapshotEnvelope{addrs: map[uint64]string{1: "a", 2: "b"}, data: []byte("d")}))
	f.Add(encodeConfContext(confContext{id: proposalID{1, 2}, addr: "x:1"}))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		if s, err := decodeSnapshot(data); err == nil {
			if _, err := decodeSnapshot(encodeSnapshot(s)); err != nil {
				t.Fatalf("re-encoded snapshot envelope does not decode: %v", err)
			}
		}
		if c, err := decodeConfContext(data); err == nil {
			if c2, err := decodeConfContext(encodeConfContext(c)); err != nil || c2 != c {
				t.Fatalf("conf context round trip: %+v %v", c2, err)
			}
		}
		decodeEntry(data)
	})
}
