package clustertest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client is the Source of every connection that no node opened: the
// test's own clients.
const Client int32 = -1

// Network is the set of fault-injecting TCP proxies in front of every
// node's listeners, and the table of links that are cut.
//
// Each node listener (PLAINTEXT and CONTROLLER) has a proxy; the nodes'
// configuration names the proxies (advertised.listeners and
// controller.quorum.voters), so every connection between nodes, and every
// client connection, passes through one. When a proxy accepts a
// connection it finds which process opened it: it looks the peer's socket
// up in /proc/net/tcp and finds which node process holds that socket in
// /proc/PID/fd. A connection is so attributed to a node id, or to Client.
//
// A cut link between a and b behaves as a network that drops every packet
// between them: the bytes of established connections between them stop
// flowing (each direction waits, with what it already read, until the
// link heals, then delivers it, as TCP retransmission would), and a new
// connection between them is accepted but not forwarded until then.
// Nothing is reset: the peers find out by their own timeouts.
type Network struct {
	mu      sync.Mutex
	cut     map[link]bool
	pids    map[int]int32 // node process id -> node id
	changed chan struct{} // closed and replaced on every change of cut
	closed  chan struct{}
	proxies []*proxy
	// Accepted counts accepted connections per (from, to), for test
	// diagnostics.
	accepted map[link]int
}

// link is an unordered pair of endpoints.
type link struct{ a, b int32 }

func mkLink(a, b int32) link {
	if a > b {
		a, b = b, a
	}
	return link{a, b}
}

// NewNetwork returns an empty network: no proxies, nothing cut.
func NewNetwork() *Network {
	return &Network{
		cut:      map[link]bool{},
		pids:     map[int]int32{},
		changed:  make(chan struct{}),
		closed:   make(chan struct{}),
		accepted: map[link]int{},
	}
}

// Cut drops all traffic between a and b (node ids or Client).
func (n *Network) Cut(a, b int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[mkLink(a, b)] = true
	n.notifyLocked()
}

// Isolate cuts node x from every node in others and from clients.
func (n *Network) Isolate(x int32, others ...int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range others {
		if o != x {
			n.cut[mkLink(x, o)] = true
		}
	}
	n.cut[mkLink(x, Client)] = true
	n.notifyLocked()
}

// Heal restores every link.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	n.notifyLocked()
}

func (n *Network) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// IsCut reports whether traffic between a and b is dropped.
func (n *Network) IsCut(a, b int32) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return a != b && n.cut[mkLink(a, b)]
}

// waitOpen blocks until the link between a and b is not cut (true) or the
// network or done closes (false).
func (n *Network) waitOpen(a, b int32, done <-chan struct{}) bool {
	for {
		n.mu.Lock()
		open := a == b || !n.cut[mkLink(a, b)]
		ch := n.changed
		n.mu.Unlock()
		if open {
			return true
		}
		select {
		case <-ch:
		case <-done:
			return false
		case <-n.closed:
			return false
		}
	}
}

// setPID records that pid is a process of node id (0 pid: none).
func (n *Network) setPID(pid int, id int32) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for p, v := range n.pids {
		if v == id {
			delete(n.pids, p)
		}
	}
	if pid > 0 {
		n.pids[pid] = id
	}
}

// Accepted returns how many connections from -> to the proxies accepted.
func (n *Network) Accepted(from, to int32) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.accepted[link{from, to}]
}

// Close stops every proxy and closes every proxied connection.
func (n *Network) Close() {
	n.mu.Lock()
	select {
	case <-n.closed:
		n.mu.Unlock()
		return
	default:
	}
	close(n.closed)
	ps := n.proxies
	n.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
}

// proxy forwards connections accepted on ln to target, a listener of
// node `to`.
type proxy struct {
	net    *Network
	to     int32
	ln     net.Listener
	target string
	exempt bool // never cut: the harness's back door to a node

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// listen starts a proxy on 127.0.0.1:port forwarding to target.
func (n *Network) listen(port int, to int32, target string, exempt bool) (*proxy, error) {
	ln, err := net.Listen("tcp", addr(port))
	if err != nil {
		return nil, err
	}
	p := &proxy{net: n, to: to, ln: ln, target: target, exempt: exempt, conns: map[net.Conn]struct{}{}}
	n.mu.Lock()
	n.proxies = append(n.proxies, p)
	n.mu.Unlock()
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listen address.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

// track records c so that close can close it; false once closing.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns != nil {
		delete(p.conns, c)
	}
	c.Close()
}

func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

func (p *proxy) handle(down net.Conn) {
	defer p.untrack(down)
	from := p.net.identify(down)
	p.net.mu.Lock()
	p.net.accepted[link{from, p.to}]++
	p.net.mu.Unlock()
	// A connection made across a cut link hangs until the link heals.
	done := make(chan struct{})
	defer close(done)
	if !p.exempt && !p.net.waitOpen(from, p.to, done) {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		// The node is down: refuse as it would.
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	errc := make(chan error, 2)
	stop := make(chan struct{})
	go func() { errc <- p.pipe(up, down, from, stop) }()
	go func() { errc <- p.pipe(down, up, from, stop) }()
	<-errc
	// One side ended: end both, as a proxy does.
	close(stop)
	down.Close()
	up.Close()
	<-errc
}

// pipe copies src to dst, holding each chunk while the link is cut.
func (p *proxy) pipe(dst, src net.Conn, from int32, stop <-chan struct{}) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.exempt && !p.net.waitOpen(from, p.to, stop) {
				return errors.New("connection closed while the link was cut")
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
			}
			return err
		}
	}
}

// identify returns the node whose process opened c, or Client.
func (n *Network) identify(c net.Conn) int32 {
	ra, ok1 := c.RemoteAddr().(*net.TCPAddr)
	la, ok2 := c.LocalAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return Client
	}
	inode, err := socketInode(ra.Port, la.Port)
	if err != nil {
		return Client
	}
	n.mu.Lock()
	pids := make(map[int]int32, len(n.pids))
	for pid, id := range n.pids {
		pids[pid] = id
	}
	n.mu.Unlock()
	want := "socket:[" + inode + "]"
	for pid, id := range pids {
		if processHolds(pid, want) {
			return id
		}
	}
	return Client
}

// socketInode finds, in /proc/net/tcp, the inode of the socket whose local
// port is localPort and remote port remotePort (both on loopback).
func socketInode(localPort, remotePort int) (string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	wantLocal := fmt.Sprintf(":%04X", localPort)
	wantRemote := fmt.Sprintf(":%04X", remotePort)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		if len(fs) < 10 || !strings.HasSuffix(fs[1], wantLocal) || !strings.HasSuffix(fs[2], wantRemote) {
			continue
		}
		if fs[9] != "0" {
			return fs[9], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no socket 127.0.0.1:%d -> :%d", localPort, remotePort)
}

// processHolds reports whether pid has an open file descriptor that links
// to target ("socket:[inode]").
func processHolds(pid int, target string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == target {
			return true
		}
	}
	return false
}
