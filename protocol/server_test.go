package protocol

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gateHandler answers Metadata at once and holds ListOffsets until the
// test releases it, to check ordering and that a waiting request does not
// block other connections.
type gateHandler struct {
	release chan struct{}
}

func (h *gateHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case kmsg.Metadata.Int16(), kmsg.ListOffsets.Int16(), kmsg.ApiVersions.Int16():
		return 0, kmsg.RequestForKey(key).MaxVersion(), true
	}
	return 0, 0, false
}

func (h *gateHandler) Handle(ctx context.Context, req *Request) Reply {
	resp := req.Msg.ResponseKind()
	if req.Header.Key == kmsg.ListOffsets.Int16() {
		return Reply{Wait: func(ctx context.Context) kmsg.Response {
			select {
			case <-h.release:
			case <-ctx.Done():
			}
			return resp
		}}
	}
	return Reply{Resp: resp}
}

func startServer(t *testing.T, h Handler) *Server {
	t.Helper()
	s := NewServer(Config{Listeners: []ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}}, MaxRequestBytes: 1 << 20}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, c net.Conn, corr int32, r kmsg.Request) {
	t.Helper()
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, r, corr)); err != nil {
		t.Fatal(err)
	}
}

func readCorr(t *testing.T, c net.Conn) int32 {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	r := kbin.Reader{Src: buf}
	return r.Int32()
}

// TestPipelinedResponsesInOrder pipelines a held ListOffsets between
// Metadata requests: nothing after the held request is answered before
// it, everything comes back in request order, and another connection is
// served meanwhile.
func TestPipelinedResponsesInOrder(t *testing.T) {
	h := &gateHandler{release: make(chan struct{})}
	s := startServer(t, h)
	c := dial(t, s)
	send(t, c, 1, kmsg.NewPtrMetadataRequest())
	send(t, c, 2, kmsg.NewPtrListOffsetsRequest())
	for i := int32(3); i <= 50; i++ {
		send(t, c, i, kmsg.NewPtrMetadataRequest())
	}
	if got := readCorr(t, c); got != 1 {
		t.Fatalf("first response has correlation id %d", got)
	}
	// A second connection is served while the first waits.
	other := dial(t, s)
	send(t, other, 9, kmsg.NewPtrMetadataRequest())
	if got := readCorr(t, other); got != 9 {
		t.Fatalf("other connection got correlation id %d", got)
	}
	// Nothing more arrives on the first connection while request 2 is held.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var one [1]byte
	if n, err := c.Read(one[:]); n != 0 || err == nil {
		t.Fatalf("read %d bytes while request 2 was held", n)
	}
	close(h.release)
	for i := int32(2); i <= 50; i++ {
		if got := readCorr(t, c); got != i {
			t.Fatalf("response %d has correlation id %d", i, got)
		}
	}
}

// TestMalformedClosesOnlyThatConnection sends frames that must close the
// connection (oversize, undersize, unknown key, unsupported version) and
// checks each closes its connection while the server keeps serving.
func TestMalformedClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, &gateHandler{release: make(chan struct{})})
	md := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 1)
	unknownKey := append([]byte(nil), md...)
	binary.BigEndian.PutUint16(unknownKey[4:], 999)
	badVersion := append([]byte(nil), md...)
	binary.BigEndian.PutUint16(badVersion[6:], 99)
	truncated := append([]byte(nil), md[:12]...)
	binary.BigEndian.PutUint32(truncated, 8)
	for name, frame := range map[string][]byte{
		"2GiB":        {0x7f, 0xff, 0xff, 0xff},
		"negative":    {0xff, 0xff, 0xff, 0xfe},
		"tiny":        {0, 0, 0, 3, 1, 2, 3},
		"unknown key": unknownKey,
		"bad version": badVersion,
		"truncated":   truncated,
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, s)
			if _, err := c.Write(frame); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("connection still open, read %d bytes", n)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection not closed")
			}
		})
	}
	c := dial(t, s)
	send(t, c, 5, kmsg.NewPtrMetadataRequest())
	if got := readCorr(t, c); got != 5 {
		t.Fatalf("got correlation id %d", got)
	}
	if n := s.Stats().ProtocolErrors.Load(); n < 5 {
		t.Fatalf("counted %d protocol errors", n)
	}
}
