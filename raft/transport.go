package raft

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Transport moves raft messages between nodes. A Node owns its Transport
// after Start and closes it in Close.
type Transport interface {
	// Start begins delivering the messages addressed to this node to h.
	Start(h Handler) error
	// Send queues messages for their destinations. It never blocks on the
	// network: a message that cannot be queued is dropped and reported
	// with Handler.Unreachable.
	Send(msgs []*pb.Message)
	// SetPeer records or changes the address of a peer.
	SetPeer(id uint64, addr string)
	// RemovePeer forgets a peer once the messages already queued for it
	// have been sent (or have failed).
	RemovePeer(id uint64)
	// Close stops the transport after a bounded attempt to send what is
	// queued.
	Close() error
}

// Handler receives what a Transport has to tell its node. Its methods are
// safe to call from any goroutine; Receive may block while the node is
// busy (back-pressure), the others never block.
type Handler interface {
	// Receive hands over a message from a peer.
	Receive(m *pb.Message)
	// Unreachable reports a message that was not sent (the peer is down,
	// unknown, or its queue is full).
	Unreachable(m *pb.Message)
	// SnapshotStatus reports whether a snapshot message (MsgSnap) to a
	// peer was written out.
	SnapshotStatus(to uint64, ok bool)
}

// TCPConfig configures a TCPTransport.
type TCPConfig struct {
	// ID is this node's id.
	ID uint64
	// Addr is the address to listen on ("127.0.0.1:0" picks a free port).
	Addr string
	// AdvertiseAddr is the address sent to peers in the handshake; it
	// defaults to the listener's address.
	AdvertiseAddr string
	// TLS, when set, secures every connection: the listener serves TLS with
	// it, and outbound connections are TLS clients with it (ServerName is
	// taken from the peer address when empty).
	TLS *tls.Config
	// DialTimeout bounds a connection attempt, handshake included
	// (default 2s).
	DialTimeout time.Duration
	// WriteTimeout bounds each write of at most 64 KiB (default 5s).
	WriteTimeout time.Duration
	// QueueSize is the number of messages queued per peer before new ones
	// are dropped (default 4096).
	QueueSize int
	// MaxFrameSize is the largest frame accepted from a peer
	// (default 256 MiB). It bounds snapshot size.
	MaxFrameSize int
	// Logger receives connection errors (default: discard).
	Logger *slog.Logger
	// Listener, when set, is used instead of listening on Addr, and the
	// transport owns it. Its connections are used as they are: TLS, if
	// any, is terminated by whoever accepts them, and TLS then secures
	// outbound connections only.
	Listener net.Listener
}

// TCPTransport is the Transport between nodes over TCP: one outbound
// connection per peer with a bounded queue, reconnecting with exponential
// backoff, and one reader per inbound connection.
type TCPTransport struct {
	cfg  TCPConfig
	ln   net.Listener
	log  *slog.Logger
	self string

	mu struct {
		sync.Mutex
		h       Handler
		peers   map[uint64]*tcpPeer
		inbound map[net.Conn]struct{}
		closed  bool
	}
	wg sync.WaitGroup
}

const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 3 * time.Second
	writeChunk = 64 << 10
)

// NewTCPTransport listens on cfg.Addr. Messages are accepted once Start is
// called.
func NewTCPTransport(cfg TCPConfig) (*TCPTransport, error) {
	if cfg.ID == 0 {
		return nil, errors.New("raft: transport needs a node id")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = 256 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("raft: listen %s: %w", cfg.Addr, err)
		}
	}
	t := &TCPTransport{cfg: cfg, ln: ln, log: cfg.Logger.With("component", "raft-transport")}
	t.self = cfg.AdvertiseAddr
	if t.self == "" {
		t.self = ln.Addr().String()
	}
	if len(t.self) > maxAddrLen {
		ln.Close()
		return nil, errors.New("raft: advertised address too long")
	}
	t.mu.peers = make(map[uint64]*tcpPeer)
	t.mu.inbound = make(map[net.Conn]struct{})
	return t, nil
}

// Addr is the address the transport listens on.
func (t *TCPTransport) Addr() net.Addr { return t.ln.Addr() }

// Start implements Transport.
func (t *TCPTransport) Start(h Handler) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return errors.New("raft: transport closed")
	}
	if t.mu.h != nil {
		return errors.New("raft: transport already started")
	}
	t.mu.h = h
	t.wg.Add(1)
	go t.accept()
	return nil
}

func (t *TCPTransport) handler() Handler {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.h
}

// Send implements Transport.
func (t *TCPTransport) Send(msgs []*pb.Message) {
	h := t.handler()
	for _, m := range msgs {
		t.mu.Lock()
		p := t.mu.peers[m.GetTo()]
		t.mu.Unlock()
		if p == nil || !p.enqueue(m) {
			if h != nil {
				h.Unreachable(m)
			}
		}
	}
}

// SetPeer implements Transport.
func (t *TCPTransport) SetPeer(id uint64, addr string) {
	if id == t.cfg.ID || addr == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return
	}
	if p := t.mu.peers[id]; p != nil {
		p.setAddr(addr)
		return
	}
	p := &tcpPeer{t: t, id: id, addr: addr, queue: make(chan *pb.Message, t.cfg.QueueSize), stop: make(chan struct{})}
	t.mu.peers[id] = p
	t.wg.Add(1)
	go p.run()
}

// learnPeer records the address a peer advertised in its handshake unless
// the peer is already known (membership addresses take precedence).
func (t *TCPTransport) learnPeer(id uint64, addr string) {
	t.mu.Lock()
	_, known := t.mu.peers[id]
	t.mu.Unlock()
	if !known {
		t.SetPeer(id, addr)
	}
}

// RemovePeer implements Transport.
func (t *TCPTransport) RemovePeer(id uint64) {
	t.mu.Lock()
	p := t.mu.peers[id]
	delete(t.mu.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// Close implements Transport.
func (t *TCPTransport) Close() error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil
	}
	t.mu.closed = true
	peers := t.mu.peers
	t.mu.peers = map[uint64]*tcpPeer{}
	for c := range t.mu.inbound {
		c.Close()
	}
	t.mu.Unlock()
	err := t.ln.Close()
	for _, p := range peers {
		p.close()
	}
	t.wg.Wait()
	return err
}

func (t *TCPTransport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			t.mu.Lock()
			closed := t.mu.closed
			t.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			t.log.Warn("raft accept", "err", err)
			continue
		}
		t.mu.Lock()
		if t.mu.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.mu.inbound[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.serve(c)
	}
}

// serve reads one inbound connection until it fails or sends bad input.
func (t *TCPTransport) serve(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		c.Close()
		t.mu.Lock()
		delete(t.mu.inbound, c)
		t.mu.Unlock()
	}()
	if t.cfg.TLS != nil && t.cfg.Listener == nil {
		c = tls.Server(c, t.cfg.TLS)
	}
	c.SetReadDeadline(time.Now().Add(t.cfg.DialTimeout + t.cfg.WriteTimeout))
	br := bufio.NewReaderSize(c, 32<<10)
	hs, err := readHandshake(br)
	if err != nil || hs.to != t.cfg.ID {
		t.log.Debug("raft: rejected inbound connection", "remote", c.RemoteAddr(), "err", err, "to", hs.to)
		return
	}
	c.SetReadDeadline(time.Time{})
	if hs.addr != "" {
		t.learnPeer(hs.from, hs.addr)
	}
	h := t.handler()
	fr := newFrameReader(br, t.cfg.MaxFrameSize)
	for {
		m, err := fr.next()
		if err != nil {
			t.log.Debug("raft: inbound connection closed", "peer", hs.from, "err", err)
			return
		}
		if m.GetFrom() != hs.from || m.GetTo() != t.cfg.ID {
			t.log.Warn("raft: message with wrong sender or receiver; closing connection",
				"peer", hs.from, "from", m.GetFrom(), "to", m.GetTo())
			return
		}
		h.Receive(m)
	}
}

// tcpPeer owns the outbound connection to one peer.
type tcpPeer struct {
	t     *TCPTransport
	id    uint64
	queue chan *pb.Message
	stop  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	addr string
	conn net.Conn
}

func (p *tcpPeer) enqueue(m *pb.Message) bool {
	select {
	case <-p.stop:
		return false
	default:
	}
	select {
	case p.queue <- m:
		return true
	default:
		return false
	}
}

func (p *tcpPeer) setAddr(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr == addr {
		return
	}
	p.addr = addr
	if p.conn != nil {
		p.conn.Close() // the writer notices and redials the new address
	}
}

func (p *tcpPeer) close() { p.once.Do(func() { close(p.stop) }) }

func (p *tcpPeer) run() {
	defer p.t.wg.Done()
	var (
		conn     net.Conn
		connAddr string
		w        *bufio.Writer
		backoff  time.Duration
		retryAt  time.Time
		buf      []byte
		batch    []*pb.Message
	)
	h := p.t.handler()
	fail := func(ms []*pb.Message) {
		for _, m := range ms {
			if h != nil {
				h.Unreachable(m)
			}
		}
	}
	closeConn := func() {
		if conn != nil {
			conn.Close()
		}
		conn, w = nil, nil
		p.mu.Lock()
		p.conn = nil
		p.mu.Unlock()
	}
	defer closeConn()
	stopping := false
	for {
		batch = batch[:0]
		if !stopping {
			select {
			case <-p.stop:
				stopping = true
			case m := <-p.queue:
				batch = append(batch, m)
			}
		}
	drain:
		for len(batch) < 256 {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			if stopping {
				return
			}
			continue
		}
		p.mu.Lock()
		addr := p.addr
		p.mu.Unlock()
		if conn != nil && connAddr != addr {
			closeConn()
		}
		if conn == nil {
			if stopping || time.Now().Before(retryAt) {
				fail(batch)
				continue
			}
			c, err := p.dial(addr)
			if err != nil {
				backoff = min(max(2*backoff, backoffMin), backoffMax)
				retryAt = time.Now().Add(backoff)
				p.t.log.Debug("raft: dial failed", "peer", p.id, "addr", addr, "err", err, "retry_in", backoff)
				fail(batch)
				continue
			}
			conn, connAddr, w = c, addr, bufio.NewWriterSize(c, writeChunk)
			p.mu.Lock()
			p.conn = c
			addrNow := p.addr
			p.mu.Unlock()
			if addrNow != addr {
				closeConn()
				fail(batch)
				continue
			}
		}
		if err := p.write(conn, w, batch, &buf); err != nil {
			p.t.log.Debug("raft: write failed", "peer", p.id, "err", err)
			closeConn()
			backoff = backoffMin
			retryAt = time.Now().Add(backoff)
			fail(batch)
			continue
		}
		backoff = 0
		for _, m := range batch {
			if m.GetType() == pb.MsgSnap && h != nil {
				h.SnapshotStatus(m.GetTo(), true)
			}
		}
	}
}

// dial connects and writes the handshake.
func (p *tcpPeer) dial(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: p.t.cfg.DialTimeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(p.t.cfg.DialTimeout))
	if cfg := p.t.cfg.TLS; cfg != nil {
		cfg = cfg.Clone()
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	if _, err := c.Write(appendHandshake(nil, handshake{from: p.t.cfg.ID, to: p.id, addr: p.t.self})); err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// write sends a batch of frames. Every chunk of at most 64 KiB gets a fresh
// write deadline, so a large snapshot is not cut off while a stalled peer
// still is.
func (p *tcpPeer) write(c net.Conn, w *bufio.Writer, batch []*pb.Message, buf *[]byte) error {
	for _, m := range batch {
		frame, err := appendFrame((*buf)[:0], m)
		if err != nil {
			return err
		}
		if cap(frame) <= 4*writeChunk {
			*buf = frame[:0]
		} else {
			*buf = nil // do not keep a snapshot-sized buffer per peer
		}
		for b := frame; len(b) > 0; {
			n := min(len(b), writeChunk)
			c.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
			if _, err := w.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	c.SetWriteDeadline(time.Now().Add(p.t.cfg.WriteTimeout))
	return w.Flush()
}
