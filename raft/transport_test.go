package raft

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// recorder is a Handler that keeps what it is told.
type recorder struct {
	mu          sync.Mutex
	got         []*pb.Message
	unreachable int
	snaps       map[uint64]bool
}

func (r *recorder) Receive(m *pb.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, m)
}
func (r *recorder) Unreachable(*pb.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable++
}
func (r *recorder) SnapshotStatus(to uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snaps == nil {
		r.snaps = map[uint64]bool{}
	}
	r.snaps[to] = ok
}
func (r *recorder) count() (got, unreachable int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got), r.unreachable
}

// poll waits for cond with a deadline.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newTCP(t testing.TB, id uint64, addr string, tlsCfg *tls.Config) *TCPTransport {
	t.Helper()
	tr, err := NewTCPTransport(TCPConfig{ID: id, Addr: addr, TLS: tlsCfg, Logger: testLogger(t), DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// connClosed reports whether the server closed c (reading gives EOF or a
// reset rather than a timeout).
func connClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestTCPTransportRejectsBadInput(t *testing.T) {
	rec := &recorder{}
	tr := newTCP(t, 2, "127.0.0.1:0", nil)
	defer tr.Close()
	if err := tr.Start(rec); err != nil {
		t.Fatal(err)
	}
	addr := tr.Addr().String()
	msg := func(from, to uint64) []byte {
		b, _ := appendFrame(nil, &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(from), To: new(to), Term: new(uint64(1))})
		return b
	}
	hs := appendHandshake(nil, handshake{from: 1, to: 2})
	oversized := binary.BigEndian.AppendUint32(slices.Clone(hs), 1<<30)
	oversized = append(oversized, 0, 0, 0, 0)
	corrupt := append(slices.Clone(hs), msg(1, 2)...)
	corrupt[len(corrupt)-1] ^= 0xff
	for name, in := range map[string][]byte{
		"magic":          []byte("GET / HTTP/1.1\r\n\r\n0123456789"),
		"wrong receiver": appendHandshake(nil, handshake{from: 1, to: 3}),
		"oversized":      oversized,
		"checksum":       corrupt,
		"wrong sender":   append(slices.Clone(hs), msg(5, 2)...),
		"wrong to":       append(slices.Clone(hs), msg(1, 9)...),
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(in)
		if !connClosed(c) {
			t.Errorf("%s: connection left open", name)
		}
		c.Close()
	}
	if got, _ := rec.count(); got != 0 {
		t.Fatalf("%d bad messages delivered", got)
	}
	// A good stream is delivered, and the sender's address is learned.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(append(appendHandshake(nil, handshake{from: 1, to: 2, addr: "127.0.0.1:1"}), msg(1, 2)...))
	poll(t, "good message delivered", func() bool { got, _ := rec.count(); return got == 1 })
	tr.mu.Lock()
	learned := tr.mu.peers[1] != nil && tr.mu.peers[1].addr == "127.0.0.1:1"
	tr.mu.Unlock()
	if !learned {
		t.Fatal("address from the handshake not learned")
	}
}

// A peer that is down makes Send report Unreachable; once it listens, the
// sender reconnects (after its backoff) and messages flow, snapshots
// included.
func TestTCPTransportReconnect(t *testing.T) {
	// Reserve an address, then free it so nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrB := l.Addr().String()
	l.Close()

	recA := &recorder{}
	a := newTCP(t, 1, "127.0.0.1:0", nil)
	defer a.Close()
	a.Start(recA)
	a.SetPeer(2, addrB)
	hb := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(1))}
	a.Send([]*pb.Message{hb})
	poll(t, "unreachable reported", func() bool { _, u := recA.count(); return u > 0 })
	a.Send([]*pb.Message{{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(9))}})
	poll(t, "unknown peer reported", func() bool { _, u := recA.count(); return u > 1 })

	recB := &recorder{}
	b := newTCP(t, 2, addrB, nil)
	defer b.Close()
	b.Start(recB)
	snap := sampleMessages()[2]
	poll(t, "messages after reconnect", func() bool {
		a.Send([]*pb.Message{hb})
		got, _ := recB.count()
		return got > 0
	})
	a.Send([]*pb.Message{snap})
	poll(t, "snapshot sent and reported", func() bool {
		recA.mu.Lock()
		defer recA.mu.Unlock()
		return recA.snaps[2]
	})
	poll(t, "snapshot received", func() bool {
		recB.mu.Lock()
		defer recB.mu.Unlock()
		return slices.ContainsFunc(recB.got, func(m *pb.Message) bool { return m.GetType() == pb.MsgSnap })
	})
}

func selfSignedTLS(t testing.TB) *tls.Config {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "raft"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      pool, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13,
	}
}

func TestTCPTransportTLS(t *testing.T) {
	cfg := selfSignedTLS(t)
	recB := &recorder{}
	b := newTCP(t, 2, "127.0.0.1:0", cfg)
	defer b.Close()
	b.Start(recB)
	a := newTCP(t, 1, "127.0.0.1:0", cfg)
	defer a.Close()
	a.Start(&recorder{})
	a.SetPeer(2, b.Addr().String())
	hb := &pb.Message{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(1))}
	poll(t, "message over TLS", func() bool {
		a.Send([]*pb.Message{hb})
		got, _ := recB.count()
		return got > 0
	})
	// A plaintext client gets nowhere.
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(append(appendHandshake(nil, handshake{from: 1, to: 2}), make([]byte, 64)...))
	if !connClosed(c) {
		t.Fatal("plaintext connection left open")
	}
}

type tcpNode struct {
	n    *Node
	sm   *testSM
	addr string
}

// Three nodes over real TCP in one process: a follower and then the leader
// are stopped and restarted from their directories while proposals go on.
func TestTCPClusterRestart(t *testing.T) {
	base := t.TempDir()
	nodes := map[uint64]*tcpNode{}
	var peers []Peer
	trs := map[uint64]*TCPTransport{}
	for id := uint64(1); id <= 3; id++ {
		trs[id] = newTCP(t, id, "127.0.0.1:0", nil)
		peers = append(peers, Peer{ID: id, Addr: trs[id].Addr().String()})
	}
	start := func(id uint64, tr *TCPTransport, peers []Peer) {
		t.Helper()
		sm := &testSM{}
		n, err := Start(Config{ID: id, Dir: filepath.Join(base, fmt.Sprint(id)), Peers: peers, Transport: tr,
			TickInterval: 10 * time.Millisecond, SnapshotEntries: 50, SnapshotCatchUpEntries: 10,
			StateMachine: sm, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = &tcpNode{n: n, sm: sm, addr: tr.Addr().String()}
	}
	for id := uint64(1); id <= 3; id++ {
		start(id, trs[id], peers)
	}
	defer func() {
		for _, tn := range nodes {
			tn.n.Close()
		}
	}()
	leader := func(ids ...uint64) *Node {
		var l *Node
		poll(t, "leader elected", func() bool {
			lead := nodes[ids[0]].n.LeaderID()
			for _, id := range ids {
				if nodes[id].n.LeaderID() != lead {
					return false
				}
			}
			if !slices.Contains(ids, lead) {
				return false
			}
			l = nodes[lead].n
			return true
		})
		return l
	}
	propose := func(n *Node, prefix string, count int) {
		t.Helper()
		for i := range count {
			for {
				_, err := n.Propose(ctxT(t), []byte(fmt.Sprintf("%s%d", prefix, i)))
				if err == nil {
					break
				}
				// A leadership change may drop a proposal: retry, the
				// failure is definite.
				if !errors.Is(err, ErrProposalDropped) && !errors.Is(err, ErrNoLeader) {
					t.Fatal(err)
				}
			}
		}
	}
	restart := func(id uint64) {
		t.Helper()
		tr := newTCP(t, id, nodes[id].addr, nil)
		start(id, tr, nil)
	}
	converged := func() {
		t.Helper()
		poll(t, "all nodes apply the same entries", func() bool {
			want := nodes[1].sm.values()
			for _, tn := range nodes {
				if !slices.Equal(tn.sm.values(), want) {
					return false
				}
			}
			return true
		})
	}
	l := leader(1, 2, 3)
	propose(l, "a", 40)

	var f uint64
	for id := range nodes {
		if id != l.ID() {
			f = id
		}
	}
	nodes[f].n.Close()
	propose(l, "b", 40)
	restart(f)
	converged()

	// Stop the leader: the other two elect one and go on.
	old := l.ID()
	l.Close()
	var rest []uint64
	for id := range nodes {
		if id != old {
			rest = append(rest, id)
		}
	}
	nl := leader(rest...)
	propose(nl, "c", 40)
	restart(old)
	converged()
	if got := len(nodes[old].sm.values()); got != 120 {
		t.Fatalf("restarted leader applied %d entries, want 120", got)
	}
	if err := nodes[old].n.Barrier(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// A fourth node joins with no addresses configured: it learns the
	// leader's from the connection handshake, then everyone's from the log.
	tr4 := newTCP(t, 4, "127.0.0.1:0", nil)
	if err := nl.AddLearner(ctxT(t), 4, tr4.Addr().String()); err != nil {
		t.Fatal(err)
	}
	sm4 := &testSM{}
	n4, err := Start(Config{ID: 4, Dir: filepath.Join(base, "4"), Join: true, Transport: tr4,
		TickInterval: 10 * time.Millisecond, StateMachine: sm4, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	nodes[4] = &tcpNode{n: n4, sm: sm4, addr: tr4.Addr().String()}
	converged()
	if ms := n4.Members(); len(ms) != 4 || ms[0].Addr != nodes[1].addr || !ms[3].Learner {
		t.Fatalf("members on the joined node: %+v", ms)
	}
}

// Acknowledged proposals survive a crash that loses everything not
// fsynced, on every node at once.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	for _, keep := range []int{0, 50} {
		t.Run(fmt.Sprintf("unsynced%d%%", keep), func(t *testing.T) {
			fss := map[uint64]*vfs.MemFS{}
			c := newCluster(t, 0, nil)
			c.tweak = func(cfg *Config) {
				if fss[cfg.ID] == nil {
					fss[cfg.ID] = vfs.NewCrashableMem()
				}
				cfg.fs = fss[cfg.ID]
				cfg.Dir = "/raft"
				cfg.SnapshotEntries = 30
				cfg.SnapshotCatchUpEntries = 5
			}
			peers := []Peer{{1, "m1"}, {2, "m2"}, {3, "m3"}}
			for _, p := range peers {
				c.start(p.ID, peers, false)
			}
			leader := c.waitLeader()
			var acked []string
			for i := range 70 {
				v := fmt.Sprintf("v%d", i)
				mustPropose(t, leader, v)
				acked = append(acked, v)
			}
			// Crash: every node's files as they were last synced (plus a
			// random share of what was not).
			for id, fs := range fss {
				fss[id] = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: keep, RNG: newRand()})
			}
			c.close()
			c.closed = false
			c.nodes = map[uint64]*Node{}
			c.net = NewMemNetwork()
			for _, p := range peers {
				c.start(p.ID, nil, false)
			}
			nl := c.waitLeader()
			if err := nl.Barrier(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			got := c.sms[nl.ID()].values()
			if len(got) < len(acked) || !slices.Equal(got[:len(acked)], acked) {
				t.Fatalf("after the crash the leader has %v, want %v", abbrev(got), abbrev(acked))
			}
			mustPropose(t, nl, "after-crash")
			c.waitApplied(nl.Applied(), c.running()...)
			for _, n := range c.running() {
				equalValues(t, c.sms[nl.ID()].values(), c.sms[n.ID()].values(), fmt.Sprintf("node %d", n.ID()))
			}
		})
	}
}

func newRand() *mrand.Rand { return mrand.New(mrand.NewPCG(1, 2)) }
