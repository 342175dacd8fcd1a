package protocol

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"sync"
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

// muteHandler answers Metadata and mutes the connection for mute; its
// ListOffsets answers from the Wait stage and mutes there.
type muteHandler struct{ mute time.Duration }

func (h *muteHandler) Versions(key int16) (int16, int16, bool) {
	return (&gateHandler{}).Versions(key)
}

func (h *muteHandler) Handle(ctx context.Context, req *Request) Reply {
	resp := req.Msg.ResponseKind()
	if req.Header.Key == kmsg.ListOffsets.Int16() {
		return Reply{Wait: func(ctx context.Context) kmsg.Response {
			req.Session.MuteUntil(time.Now().Add(h.mute))
			return resp
		}}
	}
	if req.Header.Key == kmsg.Metadata.Int16() {
		req.Session.MuteUntil(time.Now().Add(h.mute))
	}
	return Reply{Resp: resp}
}

// TestMuteUntilHoldsNextRequest checks Session.MuteUntil: the request
// after one that muted the connection is answered only once the mute
// ends, whether the mute was set by the handler (then even a request
// pipelined behind it waits) or from a Wait stage (then the next request
// read does); other connections are not held.
func TestMuteUntilHoldsNextRequest(t *testing.T) {
	const mute = time.Second
	s := startServer(t, &muteHandler{mute: mute})
	for _, first := range []kmsg.Request{kmsg.NewPtrMetadataRequest(), kmsg.NewPtrListOffsetsRequest()} {
		c := dial(t, s)
		start := time.Now()
		send(t, c, 1, first)
		pipelined := first.Key() == kmsg.Metadata.Int16()
		if pipelined {
			send(t, c, 2, kmsg.NewPtrApiVersionsRequest())
		}
		if got := readCorr(t, c); got != 1 {
			t.Fatalf("first response %d", got)
		}
		if !pipelined {
			send(t, c, 2, kmsg.NewPtrApiVersionsRequest())
		}
		other := dial(t, s)
		send(t, other, 9, kmsg.NewPtrApiVersionsRequest())
		if got := readCorr(t, other); got != 9 || time.Since(start) >= mute {
			t.Fatalf("another connection waited for the mute (%v)", time.Since(start))
		}
		if got := readCorr(t, c); got != 2 {
			t.Fatalf("second response %d", got)
		}
		if waited := time.Since(start); waited < mute {
			t.Fatalf("%s: next request answered after %v, muted for %v", kmsg.NameForKey(first.Key()), waited, mute)
		}
	}
	// A later, shorter mute does not shorten the current one.
	var sess Session
	until := time.Now().Add(time.Hour)
	sess.MuteUntil(until)
	sess.MuteUntil(time.Now())
	if !sess.MutedUntil().Equal(until) {
		t.Fatalf("mute moved to %v", sess.MutedUntil())
	}
}

// closedByServer reports whether the server closed c within d.
func closedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

// TestConnectionLimitsPerIP checks max.connections.per.ip at the server: a
// connection beyond the limit is closed at once, a closed one frees its
// slot, and new limits apply to new connections.
func TestConnectionLimitsPerIP(t *testing.T) {
	s := NewServer(Config{Listeners: []ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		ConnectionLimits: &ConnectionLimits{PerIP: 1}}, &gateHandler{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c1 := dial(t, s)
	send(t, c1, 1, kmsg.NewPtrMetadataRequest())
	readCorr(t, c1)
	if !closedByServer(dial(t, s), 10*time.Second) {
		t.Fatal("second connection not closed")
	}
	if n := s.Stats().ConnectionsRejectedPerIP.Load(); n != 1 {
		t.Fatalf("%d rejected", n)
	}
	s.SetConnectionLimits(ConnectionLimits{PerIP: 0, Overrides: map[netip.Addr]int{netip.MustParseAddr("::ffff:127.0.0.1"): 2}})
	c2 := dial(t, s)
	send(t, c2, 1, kmsg.NewPtrMetadataRequest())
	readCorr(t, c2)
	if !closedByServer(dial(t, s), 10*time.Second) {
		t.Fatal("third connection beyond the override not closed")
	}
	c1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dial(t, s)
		if !closedByServer(c, 100*time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("closing a connection freed no slot")
		}
	}
}

// TestConnectionThrottleHook checks that a connection the hook refuses is
// not served and is closed after the throttle, not before.
func TestConnectionThrottleHook(t *testing.T) {
	const hold = 300 * time.Millisecond
	var n int
	var mu sync.Mutex
	s := NewServer(Config{Listeners: []ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		ConnectionThrottle: func(ip netip.Addr) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			n++
			if !ip.IsLoopback() {
				t.Errorf("hook got %v", ip)
			}
			if n == 2 {
				return hold
			}
			return 0
		}}, &gateHandler{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c1 := dial(t, s)
	send(t, c1, 1, kmsg.NewPtrMetadataRequest())
	readCorr(t, c1)
	start := time.Now()
	c2 := dial(t, s)
	send(t, c2, 1, kmsg.NewPtrMetadataRequest())
	if !closedByServer(c2, 10*time.Second) {
		t.Fatal("throttled connection not closed")
	}
	if held := time.Since(start); held < hold-50*time.Millisecond {
		t.Fatalf("throttled connection closed after %v, before its %v throttle", held, hold)
	}
	if s.Stats().ConnectionsThrottled.Load() != 1 || s.Stats().ConnectionsAccepted.Load() != 1 {
		t.Fatalf("stats: throttled %d accepted %d", s.Stats().ConnectionsThrottled.Load(), s.Stats().ConnectionsAccepted.Load())
	}
	// Close releases a connection still held.
	mu.Lock()
	n = 1
	mu.Unlock()
	c3 := dial(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().ConnectionsThrottled.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("third connection not refused")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	if !closedByServer(c3, 10*time.Second) {
		t.Fatal("held connection not closed by Close")
	}
}

// TestIdleConnectionClosed checks connections.max.idle.ms: a connection
// that sends nothing is closed; one whose request is still being answered
// is not, however long that takes.
func TestIdleConnectionClosed(t *testing.T) {
	const idle = 200 * time.Millisecond
	h := &gateHandler{release: make(chan struct{})}
	s := NewServer(Config{Listeners: []ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}}, IdleTimeout: idle}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	quiet := dial(t, s)
	start := time.Now()
	if !closedByServer(quiet, 10*time.Second) {
		t.Fatal("idle connection not closed")
	}
	if took := time.Since(start); took < idle-50*time.Millisecond {
		t.Fatalf("idle connection closed after %v", took)
	}
	busy := dial(t, s)
	send(t, busy, 1, kmsg.NewPtrListOffsetsRequest())
	// Several idle timeouts pass while the request is held.
	if closedByServer(busy, 5*idle) {
		t.Fatal("connection with a request in flight closed as idle")
	}
	close(h.release)
	if got := readCorr(t, busy); got != 1 {
		t.Fatalf("response %d", got)
	}
	send(t, busy, 2, kmsg.NewPtrMetadataRequest())
	if got := readCorr(t, busy); got != 2 {
		t.Fatalf("response %d", got)
	}
}

// TestMaxConnectionsBlocksAccept checks max.connections at the server:
// with the limit reached the listener stops accepting, so a new client
// waits unserved; a closed connection lets it in.
func TestMaxConnectionsBlocksAccept(t *testing.T) {
	s := NewServer(Config{Listeners: []ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		ConnectionLimits: &ConnectionLimits{PerIP: 100, Total: 2}}, &gateHandler{})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c1, c2 := dial(t, s), dial(t, s)
	for i, c := range []net.Conn{c1, c2} {
		send(t, c, int32(i+1), kmsg.NewPtrMetadataRequest())
		readCorr(t, c)
	}
	c3 := dial(t, s)
	send(t, c3, 7, kmsg.NewPtrMetadataRequest())
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().ConnectionsBlocked.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("listener never blocked at max.connections")
		}
		time.Sleep(time.Millisecond)
	}
	c3.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c3.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("third connection served beyond max.connections: %d bytes, %v", n, err)
	}
	c1.Close()
	if corr := readCorr(t, c3); corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	if n := s.Stats().ConnectionsOpen.Load(); n != 2 {
		t.Fatalf("%d connections open", n)
	}
}
