package broker

// The controller listener carries two protocols on one port: the raft
// transport between members of the metadata quorum, and the controller
// RPC, through which nodes join the quorum and operators change its
// membership. Each connection's first bytes tell them apart: the raft
// transport's handshake starts with "SKNRAFT", the controller RPC's with
// "SKNCTRL". docs/cluster.md describes the RPC.

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

const (
	raftMagic = "SKNRAFT"
	ctrlMagic = "SKNCTRL"
	// ctrlVersion follows the magic in the controller RPC's handshake.
	ctrlVersion byte = 1
	// ctrlMaxFrame bounds a controller RPC frame.
	ctrlMaxFrame = 1 << 20
	// muxSniffTimeout bounds how long a new connection may take to send
	// its first bytes (and its TLS handshake).
	muxSniffTimeout = 10 * time.Second
	// ctrlIdleTimeout closes a controller RPC connection without requests.
	ctrlIdleTimeout = time.Minute
)

// ControllerMux is a node's controller listener (the listener named by
// controller.listener.names): it accepts connections, terminates TLS when
// configured, and hands each connection to the raft transport or to the
// controller RPC by its first bytes.
type ControllerMux struct {
	ln   net.Listener
	tls  *tls.Config
	log  *slog.Logger
	raft *chanListener
	ctrl *chanListener
	wg   sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

// ListenController binds the controller listener on addr. tlsConfig, when
// set, is the server side of its TLS.
func ListenController(addr string, tlsConfig *tls.Config, logger *slog.Logger) (*ControllerMux, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("controller listener on %s: %w", addr, err)
	}
	m := &ControllerMux{ln: ln, tls: tlsConfig, log: logger.With("component", "controller-listener"), conns: map[net.Conn]struct{}{}}
	m.raft = newChanListener(ln.Addr())
	m.ctrl = newChanListener(ln.Addr())
	m.wg.Add(1)
	go m.accept()
	return m, nil
}

// Addr is the bound address.
func (m *ControllerMux) Addr() net.Addr { return m.ln.Addr() }

func (m *ControllerMux) raftListener() net.Listener { return m.raft }

// Close stops accepting and closes the connections not yet handed over.
func (m *ControllerMux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	err := m.ln.Close()
	m.raft.Close()
	m.ctrl.Close()
	m.wg.Wait()
	return err
}

func (m *ControllerMux) accept() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("controller listener accept", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			c.Close()
			return
		}
		m.conns[c] = struct{}{}
		m.mu.Unlock()
		m.wg.Add(1)
		go m.route(c)
	}
}

// route reads the first bytes of a connection and hands it over.
func (m *ControllerMux) route(raw net.Conn) {
	defer m.wg.Done()
	c := raw
	if m.tls != nil {
		c = tls.Server(raw, m.tls)
	}
	c.SetReadDeadline(time.Now().Add(muxSniffTimeout))
	head := make([]byte, len(raftMagic))
	_, err := io.ReadFull(c, head)
	c.SetReadDeadline(time.Time{})
	m.mu.Lock()
	delete(m.conns, raw)
	closed := m.closed
	m.mu.Unlock()
	if err != nil || closed {
		c.Close()
		return
	}
	pc := &prefixConn{Conn: c, prefix: head}
	var to *chanListener
	switch string(head) {
	case raftMagic:
		to = m.raft
	case ctrlMagic:
		to = m.ctrl
	default:
		m.log.Debug("controller listener: unknown protocol", "remote", raw.RemoteAddr().String())
		c.Close()
		return
	}
	if !to.deliver(pc) {
		c.Close()
	}
}

// prefixConn replays bytes already read before the connection's own.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// Controller RPC operations.
const (
	// CtrlStatus returns the quorum's status as its leader sees it.
	CtrlStatus = "status"
	// CtrlAddLearner adds a member that receives the metadata log
	// without voting: a broker-only node, or a controller before it is
	// promoted. A node joining through controller.quorum.bootstrap.servers
	// sends it for itself.
	CtrlAddLearner = "add_learner"
	// CtrlAddVoter makes a member a voter: a learner that has caught up
	// is promoted, a new member is added as a voter at Addr.
	CtrlAddVoter = "add_voter"
	// CtrlRemove removes a member from the quorum.
	CtrlRemove = "remove"
	// CtrlTransfer hands the quorum's leadership to a voter.
	CtrlTransfer = "transfer"
)

// CtrlRequest is a controller RPC request.
type CtrlRequest struct {
	Op   string `json:"op"`
	ID   int32  `json:"id,omitempty"`
	Addr string `json:"addr,omitempty"`
	// Forwarded is set by a member that forwards the request to the
	// leader: the leader does not forward it again.
	Forwarded bool `json:"forwarded,omitempty"`
}

// CtrlResponse is a controller RPC response.
type CtrlResponse struct {
	Error string `json:"error,omitempty"`
	// NotLeader is set when the request needs the leader and the member
	// asked could not reach it; LeaderAddr names the leader when known.
	NotLeader  bool          `json:"not_leader,omitempty"`
	LeaderAddr string        `json:"leader_addr,omitempty"`
	Status     *QuorumStatus `json:"status,omitempty"`
}

// QuorumStatus is the metadata quorum as its leader sees it.
type QuorumStatus struct {
	LeaderID int32 `json:"leader_id"`
	// Term is the leader's term (Kafka's leader epoch of the quorum).
	Term uint64 `json:"term"`
	// Commit is the leader's commit index (the quorum's high
	// watermark).
	Commit  uint64         `json:"commit"`
	Members []QuorumMember `json:"members"`
}

// QuorumMember is one member of the quorum.
type QuorumMember struct {
	ID    int32  `json:"id"`
	Addr  string `json:"addr"`
	Voter bool   `json:"voter"`
	// Match is the last log index the leader knows the member has.
	Match uint64 `json:"match"`
	// LastContactMs and LastCaughtUpMs are Unix milliseconds (-1:
	// unknown) of the leader's last contact with the member and the last
	// time it had the leader's commit index.
	LastContactMs  int64 `json:"last_contact_ms"`
	LastCaughtUpMs int64 `json:"last_caught_up_ms"`
}

// writeCtrlFrame writes a length-prefixed JSON frame.
func writeCtrlFrame(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(body) > ctrlMaxFrame {
		return fmt.Errorf("controller rpc: frame of %d bytes over the limit", len(body))
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

// readCtrlFrame reads a length-prefixed JSON frame into v. A frame over
// ctrlMaxFrame is an error before anything of it is read.
func readCtrlFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > ctrlMaxFrame {
		return fmt.Errorf("controller rpc: frame of %d bytes over the limit", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// serveCtrl answers controller RPC connections until l closes.
func (s *RaftStore) serveCtrl(l net.Listener) {
	defer s.ctrlWG.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.ctrlWG.Add(1)
		go func() {
			defer s.ctrlWG.Done()
			s.serveCtrlConn(c)
		}()
	}
}

func (s *RaftStore) serveCtrlConn(c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(s.ctrlCtx, func() { c.Close() })
	defer stop()
	r := bufio.NewReader(c)
	hs := make([]byte, len(ctrlMagic)+1)
	if _, err := io.ReadFull(r, hs); err != nil || string(hs[:len(ctrlMagic)]) != ctrlMagic || hs[len(ctrlMagic)] != ctrlVersion {
		return
	}
	for {
		c.SetReadDeadline(time.Now().Add(ctrlIdleTimeout))
		var req CtrlRequest
		if err := readCtrlFrame(r, &req); err != nil {
			return
		}
		c.SetReadDeadline(time.Time{})
		ctx, cancel := context.WithTimeout(s.ctrlCtx, 30*time.Second)
		resp := s.handleCtrl(ctx, req)
		cancel()
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := writeCtrlFrame(c, resp); err != nil {
			return
		}
	}
}

// handleCtrl serves one request: on the leader, or forwarded to it.
func (s *RaftStore) handleCtrl(ctx context.Context, req CtrlRequest) CtrlResponse {
	if !s.IsLeader() {
		leader := s.node.LeaderID()
		addr := s.memberAddr(leader)
		if req.Forwarded || leader == 0 || addr == "" {
			return CtrlResponse{Error: "this member does not lead the metadata quorum", NotLeader: true, LeaderAddr: addr}
		}
		req.Forwarded = true
		resp, err := ctrlRoundTrip(ctx, addr, s.cfg.TLS, req)
		if err != nil {
			return CtrlResponse{Error: fmt.Sprintf("forwarding to the leader at %s: %v", addr, err), NotLeader: true, LeaderAddr: addr}
		}
		return resp
	}
	var err error
	switch req.Op {
	case CtrlStatus:
		st := s.QuorumStatus()
		return CtrlResponse{Status: &st}
	case CtrlAddLearner:
		err = s.AddLearner(ctx, req.ID, req.Addr)
	case CtrlAddVoter:
		err = s.AddVoter(ctx, req.ID, req.Addr)
	case CtrlRemove:
		err = s.RemoveMember(ctx, req.ID)
	case CtrlTransfer:
		if req.ID < 0 {
			err = fmt.Errorf("invalid node id %d", req.ID)
			break
		}
		err = s.node.TransferLeadership(ctx, raftID(req.ID))
	default:
		err = fmt.Errorf("unknown controller operation %q", req.Op)
	}
	if err != nil {
		return CtrlResponse{Error: err.Error()}
	}
	return CtrlResponse{}
}

// ctrlRoundTrip sends one request to the controller listener at addr.
func ctrlRoundTrip(ctx context.Context, addr string, tlsConfig *tls.Config, req CtrlRequest) (CtrlResponse, error) {
	var resp CtrlResponse
	d := net.Dialer{Timeout: 5 * time.Second}
	var c net.Conn
	var err error
	if tlsConfig != nil {
		cfg := tlsConfig.Clone()
		if cfg.ServerName == "" {
			if h, _, err := net.SplitHostPort(addr); err == nil {
				cfg.ServerName = h
			}
		}
		c, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", addr)
	} else {
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return resp, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	hs := append([]byte(ctrlMagic), ctrlVersion)
	if _, err := c.Write(hs); err != nil {
		return resp, err
	}
	if err := writeCtrlFrame(c, req); err != nil {
		return resp, err
	}
	if err := readCtrlFrame(bufio.NewReader(c), &resp); err != nil {
		if ctx.Err() != nil {
			return resp, ctx.Err()
		}
		return resp, err
	}
	return resp, nil
}

// ControllerCall sends a controller RPC request to the first of addrs that
// answers, following the leader when a member names it. A response with
// an error is returned as an error.
func ControllerCall(ctx context.Context, addrs []string, tlsConfig *tls.Config, req CtrlRequest) (CtrlResponse, error) {
	if len(addrs) == 0 {
		return CtrlResponse{}, errors.New("no controller address given")
	}
	var last error
	tried := map[string]int{}
	queue := append([]string(nil), addrs...)
	for len(queue) > 0 {
		addr := queue[0]
		queue = queue[1:]
		if tried[addr] >= 2 {
			continue
		}
		tried[addr]++
		resp, err := ctrlRoundTrip(ctx, addr, tlsConfig, req)
		if err != nil {
			last = fmt.Errorf("%s: %w", addr, err)
			if ctx.Err() != nil {
				return resp, last
			}
			continue
		}
		if resp.NotLeader {
			last = fmt.Errorf("%s: %s", addr, resp.Error)
			if resp.LeaderAddr != "" {
				queue = append([]string{resp.LeaderAddr}, queue...)
			}
			continue
		}
		if resp.Error != "" {
			return resp, errors.New(resp.Error)
		}
		return resp, nil
	}
	return CtrlResponse{}, last
}

// joinQuorum asks the quorum, through the bootstrap servers, to add this
// node as a learner at addr; it retries while ctx allows (the quorum may
// be starting too).
func joinQuorum(ctx context.Context, seeds []string, tlsConfig *tls.Config, id int32, addr string, log *slog.Logger) error {
	backoff := 100 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := ControllerCall(cctx, seeds, tlsConfig, CtrlRequest{Op: CtrlAddLearner, ID: id, Addr: addr})
		cancel()
		if err == nil {
			return nil
		}
		log.Info("joining the metadata quorum", "err", err, "retry_in", backoff)
		if !sleepCtx(ctx, backoff) {
			return fmt.Errorf("metadata quorum: joining through %v: %w (last error: %v)", seeds, ctx.Err(), err)
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
