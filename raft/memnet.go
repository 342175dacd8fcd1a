package raft

import (
	"errors"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// MemNetwork connects nodes of one process without sockets, for tests of
// clusters: it can cut links, isolate nodes, hold messages back until they
// are released, and drop chosen messages. Every message is encoded and
// decoded on the way, as on a real network. Addresses are ignored: a
// message goes to the node whose id it names.
type MemNetwork struct {
	mu struct {
		sync.Mutex
		nodes    map[uint64]*memTransport
		cut      map[memLink]bool
		isolated map[uint64]bool
		hold     map[memLink]bool
		held     []*pb.Message
		drop     func(*pb.Message) bool
	}
	// inflight counts messages queued for delivery and not yet handed to
	// their node.
	inflight atomic.Int64
}

type memLink struct{ from, to uint64 }

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	n := &MemNetwork{}
	n.mu.nodes = make(map[uint64]*memTransport)
	n.mu.cut = make(map[memLink]bool)
	n.mu.isolated = make(map[uint64]bool)
	n.mu.hold = make(map[memLink]bool)
	return n
}

// Transport returns the transport of node id on this network.
func (n *MemNetwork) Transport(id uint64) Transport {
	return &memTransport{net: n, id: id, inbox: make(chan *pb.Message, 4096), stop: make(chan struct{}), done: make(chan struct{})}
}

// Cut drops every message between a and b, both ways.
func (n *MemNetwork) Cut(a, b uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.cut[memLink{a, b}] = true
	n.mu.cut[memLink{b, a}] = true
}

// Isolate drops every message to and from the given nodes.
func (n *MemNetwork) Isolate(ids ...uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range ids {
		n.mu.isolated[id] = true
	}
}

// Hold keeps the messages from one node to another until Release or Heal.
func (n *MemNetwork) Hold(from, to uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.hold[memLink{from, to}] = true
}

// Release delivers the messages held from one node to another, in order,
// and stops holding that link.
func (n *MemNetwork) Release(from, to uint64) {
	n.mu.Lock()
	delete(n.mu.hold, memLink{from, to})
	var release, keep []*pb.Message
	for _, m := range n.mu.held {
		if m.GetFrom() == from && m.GetTo() == to {
			release = append(release, m)
		} else {
			keep = append(keep, m)
		}
	}
	n.mu.held = keep
	n.mu.Unlock()
	for _, m := range release {
		n.route(m)
	}
}

// SetDropFunc drops every message for which f returns true (nil: none).
func (n *MemNetwork) SetDropFunc(f func(m *pb.Message) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.drop = f
}

// Heal removes every cut, isolation, hold and drop function, and delivers
// the held messages.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	clear(n.mu.cut)
	clear(n.mu.isolated)
	clear(n.mu.hold)
	n.mu.drop = nil
	held := n.mu.held
	n.mu.held = nil
	n.mu.Unlock()
	for _, m := range held {
		n.route(m)
	}
}

// Pending is the number of messages on their way (not counting held ones).
func (n *MemNetwork) Pending() int64 { return n.inflight.Load() }

func (n *MemNetwork) handler(id uint64) Handler {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t := n.mu.nodes[id]; t != nil {
		return t.h
	}
	return nil
}

// route delivers a copy of m, or reports it unreachable to its sender.
func (n *MemNetwork) route(m *pb.Message) {
	from, to := m.GetFrom(), m.GetTo()
	n.mu.Lock()
	dst := n.mu.nodes[to]
	var src Handler
	if t := n.mu.nodes[from]; t != nil {
		src = t.h
	}
	blocked := dst == nil || n.mu.cut[memLink{from, to}] || n.mu.isolated[from] || n.mu.isolated[to] ||
		(n.mu.drop != nil && n.mu.drop(m))
	if !blocked && n.mu.hold[memLink{from, to}] {
		n.mu.held = append(n.mu.held, m)
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	if !blocked {
		b, err := proto.Marshal(m)
		c := &pb.Message{}
		if err == nil && proto.Unmarshal(b, c) == nil {
			n.inflight.Add(1)
			select {
			case dst.inbox <- c:
				return
			default:
				n.inflight.Add(-1)
			}
		}
	}
	if src != nil {
		src.Unreachable(m)
	}
}

type memTransport struct {
	net   *MemNetwork
	id    uint64
	h     Handler
	inbox chan *pb.Message
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (t *memTransport) Start(h Handler) error {
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	if t.net.mu.nodes[t.id] != nil {
		return errors.New("raft: node id already on the memory network")
	}
	t.h = h
	t.net.mu.nodes[t.id] = t
	go t.deliver()
	return nil
}

func (t *memTransport) deliver() {
	defer close(t.done)
	for {
		select {
		case <-t.stop:
			for {
				select {
				case <-t.inbox:
					t.net.inflight.Add(-1)
				default:
					return
				}
			}
		case m := <-t.inbox:
			t.h.Receive(m)
			if m.GetType() == pb.MsgSnap {
				if src := t.net.handler(m.GetFrom()); src != nil {
					src.SnapshotStatus(t.id, true)
				}
			}
			t.net.inflight.Add(-1)
		}
	}
}

func (t *memTransport) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		t.net.route(m)
	}
}

func (t *memTransport) SetPeer(uint64, string) {}
func (t *memTransport) RemovePeer(uint64)      {}

func (t *memTransport) Close() error {
	t.once.Do(func() {
		t.net.mu.Lock()
		if t.net.mu.nodes[t.id] == t {
			delete(t.net.mu.nodes, t.id)
		}
		started := t.h != nil
		t.net.mu.Unlock()
		close(t.stop)
		if started {
			<-t.done
		}
	})
	return nil
}
