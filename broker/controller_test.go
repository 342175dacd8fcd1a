package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

// raftCluster is in-process nodes, each a broker on its own member of a
// metadata quorum over TCP (127.0.0.1:0): voters run a controller too,
// broker-only nodes are learners.
type raftCluster struct {
	t        *testing.T
	settings map[string]string
	nodes    map[int32]*raftNode
}

type raftNode struct {
	id       int32
	dir      string
	ctrlAddr string
	voter    bool
	store    *RaftStore
	tb       *testBroker
}

// clusterSettings are short sessions, so that failures are noticed
// within a test's patience.
var clusterSettings = map[string]string{
	"broker.session.timeout.ms":    "1500",
	"broker.heartbeat.interval.ms": "100",
	// Rebalancing is tested on its own.
	"auto.leader.rebalance.enable": "false",
}

// startRaftCluster starts n combined nodes (ids 1..n).
func startRaftCluster(t *testing.T, n int, extra map[string]string) *raftCluster {
	t.Helper()
	c := &raftCluster{t: t, settings: maps.Clone(clusterSettings), nodes: map[int32]*raftNode{}}
	maps.Copy(c.settings, extra)
	muxes := map[int32]*ControllerMux{}
	var voters []QuorumVoter
	for id := int32(1); id <= int32(n); id++ {
		m, err := ListenController("127.0.0.1:0", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		muxes[id] = m
		c.nodes[id] = &raftNode{id: id, dir: t.TempDir(), ctrlAddr: m.Addr().String(), voter: true}
		voters = append(voters, QuorumVoter{ID: id, Addr: m.Addr().String()})
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for id := int32(1); id <= int32(n); id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenRaftStore(testCtx(t), c.storeConfig(id, muxes[id], voters, nil))
			if err != nil {
				muxes[id].Close()
				errs <- err
				return
			}
			c.nodes[id].store = s
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id := int32(1); id <= int32(n); id++ {
		c.startBroker(id)
	}
	c.waitImage("every broker registered", func(img *MetadataImage) error {
		for id := int32(1); id <= int32(n); id++ {
			if r, ok := img.Broker(id); !ok || r.Fenced {
				return fmt.Errorf("broker %d: %+v", id, r)
			}
		}
		return nil
	})
	return c
}

func (c *raftCluster) storeConfig(id int32, mux *ControllerMux, voters []QuorumVoter, bootstrap []string) RaftStoreConfig {
	return RaftStoreConfig{NodeID: id, Dir: c.nodes[id].dir + "/__cluster_metadata", Listener: mux, Voters: voters, Bootstrap: bootstrap,
		TickInterval: quorumTick, ElectionTicks: 10, Logger: testLogger(c.t, id)}
}

// startBroker starts node id's broker (and controller, on a voter) on its
// store.
func (c *raftCluster) startBroker(id int32) *testBroker {
	c.t.Helper()
	n := c.nodes[id]
	var ctrl *Controller
	if n.voter {
		var err error
		ctrl, err = NewController(ControllerConfig{Store: n.store, Settings: c.settings, Logger: testLogger(c.t, id)})
		if err != nil {
			c.t.Fatal(err)
		}
		ctrl.Start()
	}
	b, err := New(Config{
		NodeID:     id,
		DataDir:    n.dir,
		Listeners:  []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:   c.settings,
		Metadata:   n.store,
		Controller: ctrl,
		Logger:     testLogger(c.t, id),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { b.Close() })
	n.tb = &testBroker{Broker: b, t: c.t, dir: n.dir, addr: b.Addrs()[0].String(), setting: c.settings}
	return n.tb
}

// crash stops node id as a killed process would: its quorum member stops
// first (it sends nothing more), so the broker's controlled shutdown
// cannot be written.
func (c *raftCluster) crash(id int32) {
	c.t.Helper()
	n := c.nodes[id]
	crashStore(n.store)
	n.tb.Close()
}

// restart starts a stopped node again on its directory and controller
// address.
func (c *raftCluster) restart(id int32) *testBroker {
	c.t.Helper()
	n := c.nodes[id]
	var mux *ControllerMux
	checkFor(c.t, 10*time.Second, 20*time.Millisecond, func() error {
		var err error
		mux, err = ListenController(n.ctrlAddr, nil, nil)
		return err
	})
	s, err := OpenRaftStore(testCtx(c.t), c.storeConfig(id, mux, nil, nil))
	if err != nil {
		mux.Close()
		c.t.Fatal(err)
	}
	n.store = s
	return c.startBroker(id)
}

// addNode starts a new node that joins the quorum as a learner through
// the running voters' controller listeners; voter makes it run a
// controller too (it can be promoted).
func (c *raftCluster) addNode(id int32, voter bool) *testBroker {
	c.t.Helper()
	mux, err := ListenController("127.0.0.1:0", nil, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	var seeds []string
	for _, n := range c.nodes {
		if n.voter && n.store.node.Err() == nil {
			seeds = append(seeds, n.ctrlAddr)
		}
	}
	c.nodes[id] = &raftNode{id: id, dir: c.t.TempDir(), ctrlAddr: mux.Addr().String(), voter: voter}
	s, err := OpenRaftStore(testCtx(c.t), c.storeConfig(id, mux, nil, seeds))
	if err != nil {
		mux.Close()
		c.t.Fatal(err)
	}
	c.nodes[id].store = s
	return c.startBroker(id)
}

// leader returns the node that leads the quorum (the active controller).
func (c *raftCluster) leader() *raftNode {
	c.t.Helper()
	var l *raftNode
	checkFor(c.t, 20*time.Second, 10*time.Millisecond, func() error {
		for _, n := range c.nodes {
			if n.store.node.Err() == nil && n.store.IsLeader() {
				l = n
				return nil
			}
		}
		return errors.New("no leader")
	})
	return l
}

// image is the metadata image of a running node.
func (c *raftCluster) image() *MetadataImage {
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		if n := c.nodes[id]; n.store.node.Err() == nil {
			return n.store.Image()
		}
	}
	c.t.Fatal("no running node")
	return nil
}

// waitImage polls until cond holds for the image of every running node.
func (c *raftCluster) waitImage(what string, cond func(img *MetadataImage) error) {
	c.t.Helper()
	checkFor(c.t, 30*time.Second, 10*time.Millisecond, func() error {
		for id, n := range c.nodes {
			if n.store.node.Err() != nil {
				continue
			}
			if err := cond(n.store.Image()); err != nil {
				return fmt.Errorf("%s: node %d: %w", what, id, err)
			}
		}
		return nil
	})
}

// partition returns the current state of a partition: read on the
// quorum's leader once it has applied everything committed.
func (c *raftCluster) partition(topicName string, p int32) PartitionState {
	c.t.Helper()
	l := c.leader()
	if err := l.store.Barrier(testCtx(c.t)); err != nil {
		c.t.Fatal(err)
	}
	t := l.store.Image().Topics[topicName]
	if t == nil {
		c.t.Fatalf("topic %s unknown", topicName)
	}
	st, _ := t.Partition(p)
	return st
}

// createAssigned creates a topic with a manual assignment through node via
// and waits until every running broker serves it.
func (c *raftCluster) createAssigned(via int32, name string, assignment ...[]int32) {
	c.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	for i, replicas := range assignment {
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(i), Replicas: replicas})
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(testCtx(c.t), c.nodes[via].tb.client())
	if err != nil {
		c.t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		c.t.Fatalf("create %s: %v", name, kerr.ErrorForCode(code))
	}
	c.waitServing(name, len(assignment))
}

// waitServing waits until every running broker has the topic live with
// its leaders' roles applied.
func (c *raftCluster) waitServing(name string, partitions int) {
	c.t.Helper()
	checkFor(c.t, 30*time.Second, 10*time.Millisecond, func() error {
		for id, n := range c.nodes {
			if n.tb.closed.Load() {
				continue
			}
			t := n.tb.lookupTopic(name)
			if t == nil || t.numPartitions() != int32(partitions) {
				return fmt.Errorf("broker %d: topic %s not live", id, name)
			}
			ti := n.store.Image().Topics[name]
			for p := int32(0); p < int32(partitions); p++ {
				st, _ := ti.Partition(p)
				part := t.partition(p)
				if slices.Contains(st.Replicas, id) && (part == nil || part.isLeader() != (st.Leader == id)) {
					return fmt.Errorf("broker %d: %s-%d role not applied", id, name, p)
				}
			}
		}
		return nil
	})
}

// casPartition writes a new state for a partition, as a partition leader
// changing its ISR does.
func (c *raftCluster) casPartition(topicName string, p int32, change func(st *PartitionState)) {
	c.t.Helper()
	checkFor(c.t, 10*time.Second, 10*time.Millisecond, func() error {
		img := c.image()
		t := img.Topics[topicName]
		cur, _ := t.Partition(p)
		next := cur.clone()
		change(&next)
		return c.leader().store.Apply(testCtx(c.t), casRecord(t.ID, p, cur, next))
	})
}

func produceOne(t *testing.T, cl *kgo.Client, topicName string, p int32, value string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topicName, Partition: p, Value: []byte(value)}).FirstErr()
}

func manualClient(tb *testBroker, opts ...kgo.Opt) *kgo.Client {
	return tb.client(append([]kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, opts...)...)
}

// nonLeaderIDs returns the running nodes that do not lead the quorum.
func (c *raftCluster) nonLeaderIDs() []int32 {
	l := c.leader()
	var out []int32
	for _, id := range slices.Sorted(maps.Keys(c.nodes)) {
		if n := c.nodes[id]; n != l && n.store.node.Err() == nil {
			out = append(out, id)
		}
	}
	return out
}

// TestRaftClusterTopicEverywhere creates topics through one node of a
// three-node cluster on the metadata quorum: every broker describes them
// the same way, names the quorum's leader as the controller, and lists
// every broker.
func TestRaftClusterTopicEverywhere(t *testing.T) {
	c := startRaftCluster(t, 3, nil)
	ctx := testCtx(t)
	via := c.nonLeaderIDs()[0]
	created, err := c.nodes[via].tb.admin().CreateTopic(ctx, 6, 3, nil, "everywhere")
	if err != nil || created.Err != nil {
		t.Fatal(err, created.Err)
	}
	c.waitServing("everywhere", 6)
	leader := c.leader().id
	var first *kmsg.MetadataResponse
	for _, id := range []int32{1, 2, 3} {
		resp := metadataOf(t, c.nodes[id].tb, 12, "everywhere")
		if resp.ControllerID != leader || len(resp.Brokers) != 3 {
			t.Fatalf("broker %d: controller %d (want %d), brokers %+v", id, resp.ControllerID, leader, resp.Brokers)
		}
		tp := resp.Topics[0]
		if tp.ErrorCode != 0 || len(tp.Partitions) != 6 {
			t.Fatalf("broker %d: topic %+v", id, tp)
		}
		slices.SortFunc(tp.Partitions, func(a, b kmsg.MetadataResponseTopicPartition) int { return int(a.Partition - b.Partition) })
		if first == nil {
			first = resp
			continue
		}
		for i, p := range tp.Partitions {
			q := first.Topics[0].Partitions[i]
			if p.Leader != q.Leader || !slices.Equal(p.Replicas, q.Replicas) || !slices.Equal(p.ISR, q.ISR) {
				t.Fatalf("broker %d partition %d: %+v, broker 1: %+v", id, p.Partition, p, q)
			}
		}
	}
	// Records produced through the leaders are read back.
	cl := manualClient(c.nodes[1].tb)
	for p := int32(0); p < 6; p++ {
		if err := produceOne(t, cl, "everywhere", p, fmt.Sprint(p)); err != nil {
			t.Fatalf("partition %d: %v", p, err)
		}
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dcr, err := dc.RequestWith(ctx, c.nodes[via].tb.client())
	if err != nil || dcr.ControllerID != leader || len(dcr.Brokers) != 3 {
		t.Fatalf("DescribeCluster: %v %+v", err, dcr)
	}
}

// TestRaftClusterSessionExpiryAndPreferredElection kills a broker that
// leads partitions: once its session expires the active controller fences
// it, takes it out of the ISRs and moves its leaderships to other in-sync
// replicas; produce goes on through the new leaders. Restarted, it is
// registered unfenced again; once back in the ISR, ElectLeaders
// (PREFERRED) gives it its leadership back, and a second election is not
// needed.
func TestRaftClusterSessionExpiryAndPreferredElection(t *testing.T) {
	c := startRaftCluster(t, 3, nil)
	ctx := testCtx(t)
	victim := c.nonLeaderIDs()[0]
	others := []int32{}
	for _, id := range []int32{1, 2, 3} {
		if id != victim {
			others = append(others, id)
		}
	}
	c.createAssigned(others[0], "fo",
		[]int32{victim, others[0], others[1]},
		[]int32{victim, others[1], others[0]},
		[]int32{others[0], victim, others[1]})
	cl := manualClient(c.nodes[others[0]].tb)
	for p := int32(0); p < 3; p++ {
		if err := produceOne(t, cl, "fo", p, "before"); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := c.image().Broker(victim)
	start := time.Now()
	c.crash(victim)
	c.waitImage("fenced and moved", func(img *MetadataImage) error {
		reg, _ := img.Broker(victim)
		if !reg.Fenced || reg.ControlledShutdown {
			return fmt.Errorf("registration %+v", reg)
		}
		for p := int32(0); p < 3; p++ {
			st, _ := img.Topics["fo"].Partition(p)
			if st.Leader == victim || slices.Contains(st.ISR, victim) || st.Leader == NoLeader {
				return fmt.Errorf("partition %d: %+v", p, st)
			}
		}
		return nil
	})
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("fenced after %v, before the 1.5s session timeout", d)
	}
	if st := c.partition("fo", 0); st.Leader != others[0] || st.LeaderEpoch != 1 {
		t.Fatalf("partition 0 after fencing: %+v (want the next ISR member, %d)", st, others[0])
	}
	if st := c.partition("fo", 2); st.Leader != others[0] || st.LeaderEpoch != 0 || !slices.Equal(st.ISR, []int32{others[0], others[1]}) {
		t.Fatalf("partition 2 (follower on the victim) after fencing: %+v", st)
	}
	resp := metadataOf(t, c.nodes[others[1]].tb, 12, "fo")
	if len(resp.Brokers) != 2 {
		t.Fatalf("brokers listed with one fenced: %+v", resp.Brokers)
	}
	c.waitServing("fo", 3)
	for p := int32(0); p < 3; p++ {
		if err := produceOne(t, cl, "fo", p, "after"); err != nil {
			t.Fatalf("partition %d after failover: %v", p, err)
		}
	}

	c.restart(victim)
	reg, _ := c.image().Broker(victim)
	if reg.Fenced || reg.Incarnation == old.Incarnation {
		t.Fatalf("restarted broker: %+v", reg)
	}
	// Its followers catch up and their leaders add them to the ISR again.
	c.waitImage("restarted broker back in the ISR", func(img *MetadataImage) error {
		for p := int32(0); p < 2; p++ {
			if st, _ := img.Topics["fo"].Partition(p); !slices.Contains(st.ISR, victim) {
				return fmt.Errorf("partition %d: %+v", p, st)
			}
		}
		return nil
	})
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 0
	req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "fo", Partitions: []int32{0, 1}}}
	req.TimeoutMillis = 10000
	er, err := req.RequestWith(ctx, c.nodes[others[1]].tb.client())
	if err != nil {
		t.Fatal(err)
	}
	codes := map[int32]int16{}
	for _, p := range er.Topics[0].Partitions {
		codes[p.Partition] = p.ErrorCode
	}
	// Both partitions whose preferred replica is the victim get it back
	// as leader, now that it is in their ISR again.
	if er.ErrorCode != 0 || codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("ElectLeaders: %+v", er)
	}
	if st := c.partition("fo", 1); st.Leader != victim {
		t.Fatalf("partition 1 after the preferred election: %+v", st)
	}
	if st := c.partition("fo", 0); st.Leader != victim || st.LeaderEpoch != 2 {
		t.Fatalf("partition 0 after the preferred election: %+v", st)
	}
	c.waitServing("fo", 3)
	er, err = req.RequestWith(ctx, c.nodes[victim].tb.client())
	if err != nil || er.Topics[0].Partitions[0].ErrorCode != kerr.ElectionNotNeeded.Code {
		t.Fatalf("second ElectLeaders: %v %+v", err, er)
	}
	if err := produceOne(t, manualClient(c.nodes[victim].tb), "fo", 0, "back"); err != nil {
		t.Fatal(err)
	}
	// All partitions, unclean: nothing needs one (partitions with an
	// active leader are left out).
	all := kmsg.NewPtrElectLeadersRequest()
	all.ElectionType = 1
	all.TimeoutMillis = 10000
	er, err = all.RequestWith(ctx, c.nodes[victim].tb.client())
	if err != nil || er.ErrorCode != 0 || len(er.Topics) != 0 {
		t.Fatalf("ElectLeaders UNCLEAN over every partition: %v %+v", err, er)
	}
}

// TestRaftClusterUnfenceOnHeartbeat fences a broker that is alive (as a
// controller would after a lost session): the active controller hears
// from it through the quorum and unfences it.
func TestRaftClusterUnfenceOnHeartbeat(t *testing.T) {
	c := startRaftCluster(t, 3, nil)
	id := c.nonLeaderIDs()[0]
	reg, _ := c.image().Broker(id)
	if err := c.leader().store.Apply(testCtx(t), MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: id, Incarnation: reg.Incarnation, Fenced: true}}); err != nil {
		t.Fatal(err)
	}
	c.waitImage("unfenced", func(img *MetadataImage) error {
		if r, _ := img.Broker(id); r.Fenced || r.Incarnation != reg.Incarnation {
			return fmt.Errorf("registration %+v", r)
		}
		return nil
	})
}

// TestRaftClusterControllerFailover kills the node that leads the quorum
// (and so runs the active controller): another voter takes over and its
// controller goes on with the duties, fencing the dead broker and moving
// its leaderships.
func TestRaftClusterControllerFailover(t *testing.T) {
	c := startRaftCluster(t, 3, nil)
	l := c.leader().id
	var rest []int32
	for _, id := range []int32{1, 2, 3} {
		if id != l {
			rest = append(rest, id)
		}
	}
	c.createAssigned(rest[0], "cf", []int32{l, rest[0], rest[1]}, []int32{rest[1], l, rest[0]})
	crashedAt := time.Now()
	c.crash(l)
	nl := c.leader()
	if nl.id == l {
		t.Fatalf("leader still %d", nl.id)
	}
	// The new leader heard the dead one as a follower: its session runs
	// from then, not from the election (which came at least an
	// election timeout later).
	var heard time.Time
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		var ok bool
		if heard, ok = nl.store.LastContact(l); !ok {
			return errors.New("no contact record yet")
		}
		return nil
	})
	if heard.After(crashedAt) {
		t.Fatalf("the new leader counts node %d's session from %v, after it was killed at %v", l, heard, crashedAt)
	}
	c.waitImage("dead controller fenced", func(img *MetadataImage) error {
		if r, _ := img.Broker(l); !r.Fenced {
			return fmt.Errorf("registration %+v", r)
		}
		st, _ := img.Topics["cf"].Partition(0)
		if st.Leader != rest[0] || slices.Contains(st.ISR, l) {
			return fmt.Errorf("partition 0: %+v", st)
		}
		return nil
	})
	c.waitServing("cf", 2)
	if err := produceOne(t, manualClient(c.nodes[rest[1]].tb), "cf", 0, "x"); err != nil {
		t.Fatal(err)
	}
	for _, id := range rest {
		if got := metadataOf(t, c.nodes[id].tb, 12).ControllerID; got != c.leader().id {
			t.Fatalf("broker %d names controller %d, want %d", id, got, c.leader().id)
		}
	}
}

// TestRaftClusterControlledShutdown closes a broker cleanly: in the same
// metadata batch that fences it, its leaderships move to other in-sync
// replicas and it leaves their ISRs, without waiting for a session to
// expire.
func TestRaftClusterControlledShutdown(t *testing.T) {
	c := startRaftCluster(t, 3, map[string]string{"broker.session.timeout.ms": "60000"})
	id := c.nonLeaderIDs()[0]
	var others []int32
	for _, o := range []int32{1, 2, 3} {
		if o != id {
			others = append(others, o)
		}
	}
	c.createAssigned(others[0], "cs", []int32{id, others[0], others[1]})
	c.createAssigned(others[0], "cs1", []int32{id})
	start := time.Now()
	if err := c.nodes[id].tb.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v", d)
	}
	img := c.nodes[others[0]].store.Image()
	c.nodes[id].store.Close()
	reg, _ := img.Broker(id)
	st0, _ := img.Topics["cs"].Partition(0)
	st1, _ := img.Topics["cs1"].Partition(0)
	if !reg.Fenced || !reg.ControlledShutdown || st0.Leader != others[0] || slices.Contains(st0.ISR, id) {
		t.Fatalf("after controlled shutdown: %+v, partition 0 %+v", reg, st0)
	}
	// No other replica: the partition keeps its leader (offline until it
	// returns).
	if st1.Leader != id || !slices.Equal(st1.ISR, []int32{id}) {
		t.Fatalf("single-replica partition after controlled shutdown: %+v", st1)
	}
}

// TestRaftClusterReassignToNewBroker adds a broker-only node (a learner of
// the quorum that joined through the controllers' listeners) and moves a
// partition onto it while a producer writes with acks=1: the new replica
// is opened as a follower, ListPartitionReassignments shows the move, and
// once the new replica is in the ISR the controller completes it, moving
// the leadership off the removed replica, whose log is deleted. A second
// reassignment is cancelled.
func TestRaftClusterReassignToNewBroker(t *testing.T) {
	c := startRaftCluster(t, 3, nil)
	ctx := testCtx(t)
	c.createAssigned(2, "ra", []int32{1, 2, 3}, []int32{2, 3, 1})
	tb4 := c.addNode(4, false)
	if st := c.nodes[1].store.QuorumStatus(); memberOf(st, 4) == nil {
		t.Fatalf("node 4 not in the quorum: %+v", st)
	}
	c.waitImage("broker 4 registered", func(img *MetadataImage) error {
		if r, ok := img.Broker(4); !ok || r.Fenced {
			return fmt.Errorf("registration %+v", r)
		}
		return nil
	})

	var ok atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	cl := manualClient(c.nodes[3].tb)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if produceOne(t, cl, "ra", 0, fmt.Sprint(i)) == nil {
				ok.Add(1)
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if ok.Load() < 5 {
			return errors.New("producer not running yet")
		}
		return nil
	})

	alter := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	alter.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: "ra", Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 0, Replicas: []int32{2, 3, 4}}}}}
	ar, err := alter.RequestWith(ctx, c.nodes[3].tb.client())
	if err != nil || ar.ErrorCode != 0 || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AlterPartitionReassignments: %v %+v", err, ar)
	}
	st := c.partition("ra", 0)
	if !slices.Equal(st.Replicas, []int32{2, 3, 4, 1}) || !slices.Equal(st.AddingReplicas, []int32{4}) || !slices.Equal(st.RemovingReplicas, []int32{1}) || st.Leader != 1 {
		t.Fatalf("partition during the reassignment: %+v", st)
	}
	lr, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, c.nodes[2].tb.client())
	switch {
	case err != nil:
		t.Fatal(err)
	case len(lr.Topics) == 0:
		// Broker 4 caught up and the move completed before the
		// listing: nothing may be listed then.
		if st := c.partition("ra", 0); len(st.AddingReplicas)+len(st.RemovingReplicas) > 0 {
			t.Fatalf("ListPartitionReassignments lists nothing during %+v", st)
		}
	case len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1:
		t.Fatalf("ListPartitionReassignments: %+v", lr)
	default:
		if lp := lr.Topics[0].Partitions[0]; lp.Partition != 0 || !slices.Equal(lp.AddingReplicas, []int32{4}) || !slices.Equal(lp.RemovingReplicas, []int32{1}) {
			t.Fatalf("listed reassignment: %+v", lp)
		}
	}
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if p := tb4.lookupTopic("ra"); p == nil || p.partition(0) == nil || p.partition(0).isLeader() {
			return errors.New("broker 4 has not opened its follower replica")
		}
		return nil
	})
	// The new replica catches up by fetching from the leader, the leader
	// adds it to the ISR, and the controller completes the move.
	c.waitImage("reassignment completed", func(img *MetadataImage) error {
		st, _ := img.Topics["ra"].Partition(0)
		if !slices.Equal(st.Replicas, []int32{2, 3, 4}) || len(st.AddingReplicas)+len(st.RemovingReplicas) > 0 || slices.Contains(st.ISR, 1) || st.Leader != 2 {
			return fmt.Errorf("partition %+v", st)
		}
		return nil
	})
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if p := c.nodes[1].tb.lookupTopic("ra"); p != nil && p.partition(0) != nil {
			return errors.New("broker 1 still holds its replica")
		}
		return nil
	})
	before := ok.Load()
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if ok.Load() < before+5 {
			return errors.New("producer not writing to the new leader")
		}
		return nil
	})
	close(stop)
	<-done

	// A second reassignment, cancelled: the adding replica leaves again.
	alter.Topics[0].Partitions = []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 1, Replicas: []int32{4, 3, 1}}}
	if ar, err := alter.RequestWith(ctx, c.nodes[1].tb.client()); err != nil || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("second reassignment: %v %+v", err, ar)
	}
	alter.Topics[0].Partitions = []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 1, Replicas: nil}}
	if ar, err := alter.RequestWith(ctx, c.nodes[1].tb.client()); err != nil || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("cancel: %v %+v", err, ar)
	}
	// As KRaft reverts it: the replicas less the adding ones, in the
	// order of the reassignment (target first).
	if st := c.partition("ra", 1); !slices.Equal(st.Replicas, []int32{3, 1, 2}) || len(st.AddingReplicas)+len(st.RemovingReplicas) > 0 || slices.Contains(st.ISR, 4) {
		t.Fatalf("partition 1 after the cancel: %+v", st)
	}
	if ar, err := alter.RequestWith(ctx, c.nodes[1].tb.client()); err != nil || ar.Topics[0].Partitions[0].ErrorCode != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("second cancel: %v %+v", err, ar)
	}
	// Bad target lists.
	for _, bad := range [][]int32{{}, {2, 2}, {9}} {
		alter.Topics[0].Partitions = []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 1, Replicas: bad}}
		if ar, err := alter.RequestWith(ctx, c.nodes[1].tb.client()); err != nil || ar.Topics[0].Partitions[0].ErrorCode != kerr.InvalidReplicaAssignment.Code {
			t.Fatalf("target %v: %v %+v", bad, err, ar)
		}
	}
}

// TestRaftClusterAutoRebalance moves a leadership away from its preferred
// replica: with auto.leader.rebalance.enable, the active controller gives
// it back on its next imbalance check.
func TestRaftClusterAutoRebalance(t *testing.T) {
	c := startRaftCluster(t, 3, map[string]string{"auto.leader.rebalance.enable": "true", "leader.imbalance.check.interval.seconds": "1"})
	c.createAssigned(1, "rb", []int32{3, 1, 2})
	c.casPartition("rb", 0, func(st *PartitionState) { st.Leader = 1 })
	if st := c.partition("rb", 0); st.Leader != 1 {
		t.Fatalf("leader not moved: %+v", st)
	}
	c.waitImage("preferred leader back", func(img *MetadataImage) error {
		if st, _ := img.Topics["rb"].Partition(0); st.Leader != 3 {
			return fmt.Errorf("partition %+v", st)
		}
		return nil
	})
}

// TestRaftClusterAddRemoveController adds a fourth controller at runtime
// (joined as a learner, then promoted through the controller RPC) and
// removes one of the first three: the cluster keeps creating topics and
// the removed node's member stops.
func TestRaftClusterAddRemoveController(t *testing.T) {
	c := startRaftCluster(t, 3, nil)
	ctx := testCtx(t)
	c.addNode(4, true)
	if _, err := ControllerCall(ctx, []string{c.nodes[1].ctrlAddr}, nil, CtrlRequest{Op: CtrlAddVoter, ID: 4}); err != nil {
		t.Fatal(err)
	}
	st := c.leader().store.QuorumStatus()
	if m := memberOf(st, 4); m == nil || !m.Voter {
		t.Fatalf("node 4 not a voter: %+v", st)
	}
	gone := c.nonLeaderIDs()[0]
	c.nodes[gone].tb.Close()
	if _, err := ControllerCall(ctx, []string{c.nodes[4].ctrlAddr}, nil, CtrlRequest{Op: CtrlRemove, ID: gone}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.nodes[gone].store.node.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("removed member did not stop")
	}
	via := c.nonLeaderIDs()[0]
	if created, err := c.nodes[via].tb.admin().CreateTopic(ctx, 2, 3, nil, "after"); err != nil || created.Err != nil {
		t.Fatal(err, created.Err)
	}
	dq := kmsg.NewPtrDescribeQuorumRequest()
	dq.Topics = []kmsg.DescribeQuorumRequestTopic{{Topic: "__cluster_metadata", Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}}}
	resp, err := dq.RequestWith(ctx, c.nodes[via].tb.client())
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	var voters []int32
	for _, v := range p.CurrentVoters {
		voters = append(voters, v.ReplicaID)
	}
	slices.Sort(voters)
	if p.ErrorCode != 0 || p.LeaderID != c.leader().id || len(voters) != 3 || slices.Contains(voters, gone) || !slices.Contains(voters, 4) || p.HighWatermark <= 0 || len(resp.Nodes) != 3 {
		t.Fatalf("DescribeQuorum: %+v (voters %v)", resp, voters)
	}
}

// TestRaftClusterCoordinatorFollowsLeadership moves the leadership of the
// __consumer_offsets partition of a group away and back with ElectLeaders:
// the broker that stops leading drops the group (NOT_COORDINATOR), the
// new leader coordinates it with the offsets replicated to it, and when the leadership comes back the group
// and its committed offsets are loaded again from the log.
func TestRaftClusterCoordinatorFollowsLeadership(t *testing.T) {
	c := startRaftCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "1", "offsets.topic.replication.factor": "3"})
	ctx := testCtx(t)
	c.createAssigned(1, "data", []int32{1, 2, 3})
	cl := c.nodes[1].tb.client()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	fr, err := fc.RequestWith(ctx, cl)
	if err != nil || fr.ErrorCode != 0 {
		t.Fatalf("FindCoordinator: %v %+v", err, fr)
	}
	c.waitServing(offsetsTopic, 1)
	first := c.partition(offsetsTopic, 0).Leader
	coord := c.nodes[first].tb
	commit := func(tb *testBroker) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "g", -1
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "data", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 42}}}}
		req.SetVersion(8)
		resp := rawRequest(t, tb.dial(), 1, req).(*kmsg.OffsetCommitResponse)
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	fetch := func(tb *testBroker) (int64, int16) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = "g"
		req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "data", Partitions: []int32{0}}}
		req.SetVersion(7)
		resp := rawRequest(t, tb.dial(), 1, req).(*kmsg.OffsetFetchResponse)
		if resp.ErrorCode != 0 {
			return -1, resp.ErrorCode
		}
		return resp.Topics[0].Partitions[0].Offset, resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(coord); code != 0 {
		t.Fatalf("commit at the coordinator: %v", kerr.ErrorForCode(code))
	}
	var other int32
	for _, id := range []int32{1, 2, 3} {
		if id != first {
			other = id
			break
		}
	}
	move := func(to int32) {
		c.casPartition(offsetsTopic, 0, func(st *PartitionState) {
			st.Replicas = append([]int32{to}, without(st.Replicas, []int32{to})...)
		})
		req := kmsg.NewPtrElectLeadersRequest()
		req.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: offsetsTopic, Partitions: []int32{0}}}
		resp, err := req.RequestWith(ctx, c.nodes[to].tb.client())
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("ElectLeaders to %d: %v %+v", to, err, resp)
		}
		c.waitServing(offsetsTopic, 1)
	}
	move(other)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if _, code := fetch(coord); code != kerr.NotCoordinator.Code {
			return fmt.Errorf("old coordinator answers %v", kerr.ErrorForCode(code))
		}
		// The offsets partition is replicated: the new coordinator
		// loads the committed offset from its replica.
		if off, code := fetch(c.nodes[other].tb); code != 0 || off != 42 {
			return fmt.Errorf("new coordinator: offset %d, %v", off, kerr.ErrorForCode(code))
		}
		return nil
	})
	if n := groupsOf(coord); n != 0 {
		t.Fatalf("old coordinator still holds %d groups", n)
	}
	move(first)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if off, code := fetch(coord); code != 0 || off != 42 {
			return fmt.Errorf("coordinator again: offset %d, %v", off, kerr.ErrorForCode(code))
		}
		return nil
	})
}

// groupsOf counts the groups a broker's coordinator holds in memory.
func groupsOf(tb *testBroker) int {
	n := 0
	tb.groups.CommittedOffsets(func(string, string, int32, int64) { n++ })
	return n
}

// TestRaftClusterUnregisterBroker unregisters a broker-only node that was
// shut down and holds no replica: its registration goes and it leaves the
// metadata quorum. A running broker, or one holding replicas, is refused,
// and an unknown one is BROKER_ID_NOT_REGISTERED.
func TestRaftClusterUnregisterBroker(t *testing.T) {
	c := startRaftCluster(t, 3, nil)
	ctx := testCtx(t)
	c.addNode(4, false)
	c.waitImage("broker 4 registered", func(img *MetadataImage) error {
		if _, ok := img.Broker(4); !ok {
			return errors.New("not registered")
		}
		return nil
	})
	c.createAssigned(1, "ub", []int32{1, 2})
	unregister := func(id int32) *kmsg.UnregisterBrokerResponse {
		req := kmsg.NewPtrUnregisterBrokerRequest()
		req.BrokerID = id
		resp, err := req.RequestWith(ctx, c.nodes[2].tb.client())
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := unregister(4); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("running broker: %+v", r)
	}
	if r := unregister(9); r.ErrorCode != kerr.BrokerIDNotRegistered.Code {
		t.Fatalf("unknown broker: %+v", r)
	}
	c.nodes[4].tb.Close()
	c.nodes[4].store.Close()
	if r := unregister(4); r.ErrorCode != 0 {
		t.Fatalf("stopped broker: %+v %s", r, deref(r.ErrorMessage))
	}
	c.waitImage("broker 4 unregistered", func(img *MetadataImage) error {
		if _, ok := img.Broker(4); ok {
			return errors.New("still registered")
		}
		return nil
	})
	if st := c.leader().store.QuorumStatus(); memberOf(st, 4) != nil {
		t.Fatalf("broker 4 still in the quorum: %+v", st.Members)
	}
	c.nodes[2].tb.Close()
	if r := unregister2(t, c, 2); r.ErrorCode != kerr.InvalidRequest.Code || !strings.Contains(deref(r.ErrorMessage), "still holds replicas") {
		t.Fatalf("broker with replicas: %+v", r)
	}
}

func unregister2(t *testing.T, c *raftCluster, id int32) *kmsg.UnregisterBrokerResponse {
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = id
	return rawRequest(t, c.nodes[1].tb.dial(), 1, req).(*kmsg.UnregisterBrokerResponse)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
