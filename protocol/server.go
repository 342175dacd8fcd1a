package protocol

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Request is one decoded request handed to the Handler.
type Request struct {
	Header  Header
	Msg     kmsg.Request
	Session *Session
	// Received is when the frame was fully read.
	Received time.Time
	// FrameBytes is the size of the request frame.
	FrameBytes int
}

// Reply is a handler's answer to a request.
//
// Exactly one of these holds: Resp is the response, ready now; Wait is
// called later from the connection's writer, in request order, and returns
// the response (it must return promptly once ctx is done, which happens when
// the connection closes); NoResponse is set when the protocol sends nothing
// back (a Produce with acks=0).
type Reply struct {
	Resp       kmsg.Response
	Wait       func(ctx context.Context) kmsg.Response
	NoResponse bool
	// Close closes the connection once this reply's turn comes, after
	// writing the response if there is one. Kafka closes the connection
	// of an acks=0 producer whose produce failed, as the only way to tell
	// it.
	Close bool
	// Release, if set, is called once the response has been encoded, so
	// a handler can return pooled buffers the response refers to.
	Release func()
	// SizeHint, if set, returns the encoded size the response will
	// roughly have (called once it is known), so that a large response
	// such as a Fetch is encoded into a buffer of the right size instead
	// of one grown by copying.
	SizeHint func() int
}

// Handler serves decoded requests. Handle is called from the connection's
// reader goroutine in request order and must not block for long; anything
// that waits (on replication, an fsync, new data) goes into Reply.Wait.
type Handler interface {
	// Versions returns the range of versions served for an API key, and
	// false for keys that are not served.
	Versions(key int16) (min, max int16, ok bool)
	Handle(ctx context.Context, req *Request) Reply
}

// TLSObserver is implemented by handlers that want to know how each TLS
// handshake ended (an audit log of authentications): err is nil when it
// succeeded, and the session then carries the client's certificates and
// principal. It is called from the connection's goroutine before any
// request is read, and must not block.
type TLSObserver interface {
	TLSHandshake(sess *Session, err error)
}

// ListenerConfig is one listener, from Kafka's listeners setting.
type ListenerConfig struct {
	// Name is the listener name (PLAINTEXT in PLAINTEXT://host:port).
	Name string
	// SecurityProtocol is the protocol listener.security.protocol.map
	// gives the name.
	SecurityProtocol string
	// Addr is host:port to bind; port 0 picks a free port.
	Addr string
	// TLS configures SSL and SASL_SSL listeners; it must be set for
	// those and nil for the others.
	TLS *TLSConfig
}

// Config configures a Server.
type Config struct {
	Listeners []ListenerConfig
	// MaxRequestBytes is socket.request.max.bytes (default 100 MiB).
	MaxRequestBytes int32
	// MemoryBudgetBytes caps the frame bytes held across all connections
	// between read and response. Default: 4 × MaxRequestBytes, at least
	// 256 MiB.
	MemoryBudgetBytes int64
	// MaxInflight caps requests per connection between dispatch and
	// response (default 64); the reader stops reading until one completes.
	MaxInflight int
	// IdleTimeout is connections.max.idle.ms (default 10 minutes).
	IdleTimeout time.Duration
	// ConnectionLimits, if set, caps the connections open at once from
	// one address (max.connections.per.ip and its overrides); see
	// Server.SetConnectionLimits.
	ConnectionLimits *ConnectionLimits
	// ConnectionThrottle, if set, is asked about every accepted
	// connection before anything else: a positive duration refuses it,
	// as Kafka's connection_creation_rate quota does. The connection is
	// held unread for that long, so that the client does not reconnect at
	// once, then closed.
	ConnectionThrottle func(ip netip.Addr) time.Duration
	Logger             *slog.Logger
}

// ConnectionLimits caps the connections open at once per client address,
// as Kafka's max.connections.per.ip and max.connections.per.ip.overrides
// do: a connection that would exceed its address's limit is closed as
// soon as it is accepted.
type ConnectionLimits struct {
	// PerIP is the limit of addresses without an override.
	PerIP int
	// Overrides holds the limits of particular addresses.
	Overrides map[netip.Addr]int
	// Total is max.connections: while the broker has this many
	// connections open, listeners stop accepting (clients wait in the
	// kernel's backlog) until one closes. Zero or less is no limit.
	Total int
	// Protected names the listener Total does not apply to (the
	// inter-broker listener when there are several, as in Kafka).
	Protected string
}

// limit returns the limit of ip.
func (l *ConnectionLimits) limit(ip netip.Addr) int {
	if n, ok := l.Overrides[ip]; ok {
		return n
	}
	return l.PerIP
}

func (c *Config) withDefaults() {
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.MemoryBudgetBytes <= 0 {
		c.MemoryBudgetBytes = max(4*int64(c.MaxRequestBytes), 256<<20)
	}
	if c.MemoryBudgetBytes < int64(c.MaxRequestBytes) {
		c.MemoryBudgetBytes = int64(c.MaxRequestBytes)
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 64
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server accepts connections on its listeners and runs the per-connection
// loops.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	budget  *budget
	// smallBudget serves frames of at most frameChunkBytes, so that
	// clients holding large partial frames cannot starve the small
	// requests (metadata, heartbeats, fetches) of everyone else.
	smallBudget *budget

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nextID atomic.Uint64
	closed atomic.Bool

	mu struct {
		sync.Mutex
		listeners []*listener
		conns     map[*conn]struct{}
		// perIP counts the open connections of each client address.
		perIP map[netip.Addr]int
		// throttled holds the refused connections waiting to be closed
		// (ConnectionThrottle), with the timer that closes each.
		throttled map[net.Conn]*time.Timer
	}
	limits atomic.Pointer[ConnectionLimits]
	// freed is closed (and replaced) when a connection closes or the
	// limits change, waking the listeners waiting under max.connections.
	freed struct {
		sync.Mutex
		ch chan struct{}
	}
	stats Stats
}

// Stats are counters a metrics layer reads.
type Stats struct {
	ConnectionsAccepted atomic.Int64
	ConnectionsOpen     atomic.Int64
	ProtocolErrors      atomic.Int64
	Requests            atomic.Int64
	// ConnectionsBlocked counts the times a listener stopped accepting
	// because max.connections were open.
	ConnectionsBlocked atomic.Int64
	// ConnectionsRejectedPerIP counts connections closed at accept
	// because their address had max.connections.per.ip open already.
	ConnectionsRejectedPerIP atomic.Int64
	// ConnectionsThrottled counts connections refused by the
	// ConnectionThrottle (connection_creation_rate) hook.
	ConnectionsThrottled atomic.Int64
}

type listener struct {
	cfg ListenerConfig
	ln  net.Listener
	// tls is set on SSL and SASL_SSL listeners.
	tls *tlsListener
	// open counts the listener's open connections.
	open atomic.Int64
}

// NewServer returns a server that is not yet listening.
func NewServer(cfg Config, h Handler) *Server {
	cfg.withDefaults()
	s := &Server{cfg: cfg, handler: h, log: cfg.Logger.With("component", "protocol")}
	s.budget = newBudget(cfg.MemoryBudgetBytes)
	s.smallBudget = newBudget(smallBudgetBytes)
	s.mu.conns = make(map[*conn]struct{})
	s.mu.perIP = make(map[netip.Addr]int)
	s.mu.throttled = make(map[net.Conn]*time.Timer)
	if cfg.ConnectionLimits != nil {
		s.SetConnectionLimits(*cfg.ConnectionLimits)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// SetConnectionLimits replaces the per-address connection limits; they
// apply to connections accepted from then on (open ones are not closed),
// as a dynamic update of max.connections.per.ip does in Kafka.
func (s *Server) SetConnectionLimits(l ConnectionLimits) {
	cp := ConnectionLimits{PerIP: l.PerIP, Overrides: make(map[netip.Addr]int, len(l.Overrides)), Total: l.Total, Protected: l.Protected}
	for ip, n := range l.Overrides {
		cp.Overrides[ip.Unmap()] = n
	}
	s.limits.Store(&cp)
	s.signalFreed()
}

// Start binds every listener and starts accepting. On error no listener is
// left open.
func (s *Server) Start() error {
	var bound []*listener
	for _, lc := range s.cfg.Listeners {
		var tl *tlsListener
		wantTLS := lc.SecurityProtocol == "SSL" || lc.SecurityProtocol == "SASL_SSL"
		var err error
		switch {
		case wantTLS && lc.TLS == nil:
			err = fmt.Errorf("listener %s uses %s but has no TLS configuration", lc.Name, lc.SecurityProtocol)
		case !wantTLS && lc.TLS != nil:
			err = fmt.Errorf("listener %s uses %s but has a TLS configuration", lc.Name, lc.SecurityProtocol)
		case wantTLS:
			tl, err = newTLSListener(*lc.TLS, s.log.With("listener", lc.Name))
			if err != nil {
				err = fmt.Errorf("listener %s: %w", lc.Name, err)
			}
		}
		var ln net.Listener
		if err == nil {
			ln, err = net.Listen("tcp", lc.Addr)
			if err != nil {
				err = fmt.Errorf("listener %s on %s: %w", lc.Name, lc.Addr, err)
			}
		}
		if err != nil {
			for _, l := range bound {
				l.ln.Close()
			}
			return err
		}
		bound = append(bound, &listener{cfg: lc, ln: ln, tls: tl})
	}
	s.mu.Lock()
	s.mu.listeners = bound
	s.mu.Unlock()
	for _, l := range bound {
		s.log.Info("listening", "listener", l.cfg.Name, "addr", l.ln.Addr().String())
		s.wg.Add(1)
		go s.accept(l)
	}
	return nil
}

// Addrs returns the bound address of each listener, in configuration order.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.mu.listeners))
	for i, l := range s.mu.listeners {
		out[i] = l.ln.Addr()
	}
	return out
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// ListenerConnections calls fn with the name and the number of open
// connections of each bound listener, in configuration order.
func (s *Server) ListenerConnections(fn func(listener string, open int64)) {
	s.mu.Lock()
	ls := s.mu.listeners
	s.mu.Unlock()
	for _, l := range ls {
		fn(l.cfg.Name, l.open.Load())
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines. It is idempotent.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.cancel()
	s.mu.Lock()
	for _, l := range s.mu.listeners {
		l.ln.Close()
	}
	for c := range s.mu.conns {
		c.nc.Close()
	}
	for nc, t := range s.mu.throttled {
		t.Stop()
		nc.Close()
	}
	clear(s.mu.throttled)
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) accept(l *listener) {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		if !s.waitForRoom(l) {
			return
		}
		nc, err := l.ln.Accept()
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures such as EMFILE: back off and retry
			// rather than spin or stop serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "listener", l.cfg.Name, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		ip := remoteIP(nc)
		if s.cfg.ConnectionThrottle != nil {
			if d := s.cfg.ConnectionThrottle(ip); d > 0 {
				s.stats.ConnectionsThrottled.Add(1)
				s.log.Debug("connection refused: connection creation rate over quota", "listener", l.cfg.Name, "remote_addr", nc.RemoteAddr().String(), "close_in", d)
				s.closeLater(nc, d)
				continue
			}
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		raw := nc
		if l.tls != nil {
			nc = tls.Server(nc, l.tls.serverConfig())
		}
		c := s.newConn(l, nc)
		c.ip = ip
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if lim := s.limits.Load(); lim != nil && s.mu.perIP[ip] >= lim.limit(ip) {
			s.mu.Unlock()
			s.stats.ConnectionsRejectedPerIP.Add(1)
			s.log.Info("connection rejected: address already has the configured maximum of connections (max.connections.per.ip)",
				"listener", l.cfg.Name, "remote_addr", raw.RemoteAddr().String(), "max", lim.limit(ip))
			c.cancel()
			raw.Close()
			continue
		}
		s.mu.perIP[ip]++
		s.mu.conns[c] = struct{}{}
		s.mu.Unlock()
		s.stats.ConnectionsAccepted.Add(1)
		s.stats.ConnectionsOpen.Add(1)
		l.open.Add(1)
		s.wg.Add(1)
		go c.run()
	}
}

// pending is one request between dispatch and response.
type pending struct {
	key        int16
	corrID     int32
	reply      Reply
	frameBytes int64
	// rawSASL marks a SaslHandshake v0 token, answered without a
	// response header.
	rawSASL bool
}

type conn struct {
	s       *Server
	nc      net.Conn
	ip      netip.Addr
	sess    *Session
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	queue   chan *pending
	started time.Time
	lis     *listener
	// inflight counts the requests dispatched whose response is not
	// ready yet (queued, or in their Wait stage).
	inflight atomic.Int64
	// answered is when the last response was ready, in Unix
	// nanoseconds: idleness counts from the later of it and the last
	// request read.
	answered atomic.Int64
}

func (s *Server) newConn(l *listener, nc net.Conn) *conn {
	id := s.nextID.Add(1)
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{
		s:      s,
		nc:     nc,
		sess:   newSession(id, l, nc),
		ctx:    ctx,
		cancel: cancel,
		queue:  make(chan *pending, s.cfg.MaxInflight),
		lis:    l,
	}
	c.log = s.log.With("remote_addr", nc.RemoteAddr().String(), "listener", l.cfg.Name)
	return c
}

// run owns the connection: it reads and dispatches in this goroutine and
// writes responses from a second one.
func (c *conn) run() {
	defer c.s.wg.Done()
	if tc, ok := c.nc.(*tls.Conn); ok {
		err := c.handshake(tc)
		if o, ok := c.s.handler.(TLSObserver); ok && c.ctx.Err() == nil {
			o.TLSHandshake(c.sess, err)
		}
		if err != nil {
			c.s.stats.ProtocolErrors.Add(1)
			c.log.Info("TLS handshake failed", "err", err)
			c.cancel()
			c.nc.Close()
			c.forget()
			return
		}
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	if err != nil && !isClosedErr(err) {
		c.s.stats.ProtocolErrors.Add(1)
		c.log.Debug("closing connection", "err", err)
	}
	// The writer drains what was dispatched (the client may still read
	// the responses to a request that preceded a bad one), then exits.
	close(c.queue)
	<-writerDone
	c.cancel()
	c.nc.Close()
	c.forget()
}

// waitForRoom holds listener l while the server has max.connections open
// (ConnectionLimits.Total), unless l is the protected listener. It reports
// false once the server is closing.
func (s *Server) waitForRoom(l *listener) bool {
	for {
		s.freed.Lock()
		if s.freed.ch == nil {
			s.freed.ch = make(chan struct{})
		}
		ch := s.freed.ch
		s.freed.Unlock()
		lim := s.limits.Load()
		if lim == nil || lim.Total <= 0 || l.cfg.Name == lim.Protected || int(s.stats.ConnectionsOpen.Load()) < lim.Total {
			return true
		}
		s.stats.ConnectionsBlocked.Add(1)
		select {
		case <-ch:
		case <-s.ctx.Done():
			return false
		}
	}
}

// signalFreed wakes the listeners waiting in waitForRoom.
func (s *Server) signalFreed() {
	s.freed.Lock()
	if s.freed.ch != nil {
		close(s.freed.ch)
		s.freed.ch = nil
	}
	s.freed.Unlock()
}

// forget removes a closed connection from the server's books.
func (c *conn) forget() {
	c.s.mu.Lock()
	delete(c.s.mu.conns, c)
	if n := c.s.mu.perIP[c.ip] - 1; n > 0 {
		c.s.mu.perIP[c.ip] = n
	} else {
		delete(c.s.mu.perIP, c.ip)
	}
	c.s.mu.Unlock()
	c.s.stats.ConnectionsOpen.Add(-1)
	c.lis.open.Add(-1)
	c.s.signalFreed()
}

// remoteIP returns the client's address, IPv4-mapped IPv6 addresses as
// IPv4.
func remoteIP(nc net.Conn) netip.Addr {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// closeLater holds a refused connection unread for d, then closes it.
func (s *Server) closeLater(nc net.Conn, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		nc.Close()
		return
	}
	s.mu.throttled[nc] = time.AfterFunc(d, func() {
		s.mu.Lock()
		_, ok := s.mu.throttled[nc]
		delete(s.mu.throttled, nc)
		s.mu.Unlock()
		if ok {
			nc.Close()
		}
	})
}

// tlsHandshakeTimeout bounds a TLS handshake, so that a client that
// connects and sends nothing (or speaks plaintext and waits) cannot hold a
// connection open.
const tlsHandshakeTimeout = 10 * time.Second

// handshake completes the TLS handshake and, when the client presented a
// verified certificate, sets the session's principal from its subject.
func (c *conn) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(c.ctx, min(tlsHandshakeTimeout, c.s.cfg.IdleTimeout))
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil
	}
	p, err := c.lis.tls.principal(certs[0])
	if err != nil {
		return err
	}
	c.sess.setPeer(certs, p)
	return nil
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errIdle)
}

var errIdle = errors.New("connection idle longer than connections.max.idle.ms")

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		if err := c.waitMuted(); err != nil {
			return err
		}
		if err := c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout)); err != nil {
			return err
		}
		raw := c.sess.inRawSASL()
		var size int32
		var err error
		if raw {
			size, err = readTokenSize(br, c.s.cfg.MaxRequestBytes)
		} else {
			size, err = ReadFrameSize(br, c.s.cfg.MaxRequestBytes)
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if c.inflight.Load() > 0 || time.Since(time.Unix(0, c.answered.Load())) < c.s.cfg.IdleTimeout {
					continue // a request in flight or just answered: not idle
				}
				return errIdle
			}
			return err
		}
		// A frame that starts must finish within the idle timeout.
		frame, err := c.readFrame(br, size)
		if err != nil {
			return err
		}
		// A mute that began while this frame was being read (a reply
		// that waited) holds the request until it ends.
		if err := c.waitMuted(); err != nil {
			c.s.budgetFor(int64(size)).release(int64(size))
			return err
		}
		var p *pending
		if raw {
			p = c.dispatchRawSASL(frame)
		} else {
			p, err = c.dispatch(frame)
		}
		if err != nil {
			c.s.budgetFor(int64(size)).release(int64(size))
			return err
		}
		c.s.stats.Requests.Add(1)
		c.inflight.Add(1)
		select {
		case c.queue <- p:
		case <-c.ctx.Done():
			c.inflight.Add(-1)
			c.s.budgetFor(int64(size)).release(int64(size))
			return c.ctx.Err()
		}
	}
}

// waitMuted returns once the session's mute (Session.MuteUntil) has
// ended, or with an error when the connection closes first.
func (c *conn) waitMuted() error {
	d := time.Until(c.sess.MutedUntil())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// frameChunkBytes is the first allocation for a frame; larger frames grow
// as their bytes arrive.
const frameChunkBytes = 64 << 10

// smallBudgetBytes bounds the memory of small frames in flight.
const smallBudgetBytes = 64 << 20

// budgetFor returns the budget a frame of size bytes draws from.
func (s *Server) budgetFor(size int64) *budget {
	if size <= frameChunkBytes {
		return s.smallBudget
	}
	return s.budget
}

// readFrame reads a frame of the given size. Memory is drawn from the
// server budget as bytes arrive rather than for the declared size, so a
// client that declares large frames and sends little holds little. On
// success the frame's size is held in the budget until its response is
// written; on error nothing is held.
func (c *conn) readFrame(r io.Reader, size int32) ([]byte, error) {
	want := int64(size)
	held := min(want, frameChunkBytes)
	bud := c.s.budgetFor(want)
	if err := bud.acquire(c.ctx, held); err != nil {
		return nil, err
	}
	frame := make([]byte, 0, held)
	for int64(len(frame)) < want {
		if len(frame) == cap(frame) {
			grow := min(want, 2*held) - held
			if err := bud.acquire(c.ctx, grow); err != nil {
				bud.release(held)
				return nil, err
			}
			held += grow
			grown := make([]byte, len(frame), held)
			copy(grown, frame)
			frame = grown
		}
		n, err := r.Read(frame[len(frame):cap(frame)])
		frame = frame[:len(frame)+n]
		if err != nil && int64(len(frame)) < want {
			bud.release(held)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return frame, nil
}

// dispatch decodes one frame and runs the handler's dispatch stage.
func (c *conn) dispatch(frame []byte) (*pending, error) {
	h, err := ParseHeader(frame)
	if err != nil {
		return nil, err
	}
	minV, maxV, ok := c.s.handler.Versions(h.Key)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported api key %d", ErrMalformed, h.Key)
	}
	if err := c.checkAuthenticated(h.Key); err != nil {
		return nil, err
	}
	p := &pending{key: h.Key, corrID: h.CorrelationID, frameBytes: int64(len(frame))}
	var msg kmsg.Request
	if h.Version < minV || h.Version > maxV {
		if h.Key != kmsg.ApiVersions.Int16() {
			return nil, fmt.Errorf("%w: %s v%d not in served range %d-%d", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, minV, maxV)
		}
		// KIP-511: answer an ApiVersions of unknown version at v0 so the
		// client learns the supported range; the handler sees the
		// requested version in the header and reports UNSUPPORTED_VERSION.
		msg = &kmsg.ApiVersionsRequest{Version: 0}
	} else {
		msg, err = DecodeRequest(frame, &h)
		if err != nil {
			return nil, err
		}
		c.sess.setClientID(h.ClientID)
	}
	c.sess.setRequest(h)
	req := &Request{Header: h, Msg: msg, Session: c.sess, Received: time.Now(), FrameBytes: len(frame)}
	p.reply = c.s.handler.Handle(c.ctx, req)
	return p, nil
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	broken := false
	for p := range c.queue {
		resp := p.reply.Resp
		if p.reply.Wait != nil {
			// Responses already written must not sit in the buffer
			// while this one waits.
			if !broken && bw.Buffered() > 0 {
				if err := bw.Flush(); err != nil {
					broken = c.failWrite(err)
				}
			}
			resp = p.reply.Wait(c.ctx)
			c.answered.Store(time.Now().UnixNano())
		}
		c.inflight.Add(-1)
		c.s.budgetFor(p.frameBytes).release(p.frameBytes)
		if broken {
			release(p.reply)
			continue
		}
		buf = buf[:0]
		if p.reply.SizeHint != nil {
			if n := p.reply.SizeHint() + 64; n > cap(buf) {
				buf = make([]byte, 0, n)
			}
		}
		if p.rawSASL {
			ar, _ := resp.(*kmsg.SASLAuthenticateResponse)
			if ar == nil || ar.ErrorCode != 0 {
				// SaslHandshake v0 has no way to report a failure
				// but closing the connection.
				release(p.reply)
				bw.Flush()
				broken = c.failWrite(net.ErrClosed)
				continue
			}
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(ar.SASLAuthBytes)))
			buf = append(buf, ar.SASLAuthBytes...)
		} else if !p.reply.NoResponse && resp != nil {
			buf = AppendResponse(buf, p.key, p.corrID, resp)
		}
		release(p.reply)
		if _, err := bw.Write(buf); err != nil {
			broken = c.failWrite(err)
			continue
		}
		if p.reply.Close {
			bw.Flush()
			broken = c.failWrite(net.ErrClosed)
			continue
		}
		if len(c.queue) == 0 {
			if err := bw.Flush(); err != nil {
				broken = c.failWrite(err)
			}
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large fetch buffer on an idle connection
		}
	}
	if !broken {
		bw.Flush()
	}
}

func release(r Reply) {
	if r.Release != nil {
		r.Release()
	}
}

// failWrite closes the socket after a write error so that the reader
// stops; the remaining queued replies are still resolved to release their
// resources.
func (c *conn) failWrite(err error) bool {
	if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.log.Debug("write failed", "err", err)
	}
	c.cancel()
	c.nc.Close()
	return true
}

// errSASLRequired closes a connection on a SASL listener that sends a
// request other than ApiVersions, SaslHandshake or SaslAuthenticate before
// authenticating, as Kafka does.
var errSASLRequired = errors.New("request before SASL authentication")

// errSessionExpired closes a connection whose SASL session expired without
// re-authentication (KIP-368).
var errSessionExpired = errors.New("SASL session expired without re-authentication (connections.max.reauth.ms)")

// checkAuthenticated is the authentication gate of SASL listeners.
func (c *conn) checkAuthenticated(key int16) error {
	if !c.sess.RequiresSASL() {
		return nil
	}
	saslKey := key == kmsg.SASLHandshake.Int16() || key == kmsg.SASLAuthenticate.Int16()
	if !c.sess.Authenticated() {
		if saslKey || key == kmsg.ApiVersions.Int16() {
			return nil
		}
		return fmt.Errorf("%w: %s", errSASLRequired, kmsg.NameForKey(key))
	}
	if exp := c.sess.SessionExpiry(); !exp.IsZero() && !saslKey && time.Now().After(exp) {
		return errSessionExpired
	}
	return nil
}

// readTokenSize reads the size prefix of a bare SASL token.
func readTokenSize(r io.Reader, max int32) (int32, error) {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
		return 0, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 0 || size > max {
		return 0, fmt.Errorf("%w: SASL token of %d bytes", ErrFrameTooLarge, size)
	}
	return size, nil
}

// dispatchRawSASL hands a bare SASL token (after SaslHandshake v0) to the
// handler as a SaslAuthenticate v0 request.
func (c *conn) dispatchRawSASL(token []byte) *pending {
	h := Header{Key: kmsg.SASLAuthenticate.Int16(), Version: 0, CorrelationID: -1}
	msg := &kmsg.SASLAuthenticateRequest{Version: 0, SASLAuthBytes: token}
	p := &pending{key: h.Key, corrID: h.CorrelationID, frameBytes: int64(len(token)), rawSASL: true}
	c.sess.setRequest(h)
	req := &Request{Header: h, Msg: msg, Session: c.sess, Received: time.Now(), FrameBytes: len(token)}
	p.reply = c.s.handler.Handle(c.ctx, req)
	return p
}
