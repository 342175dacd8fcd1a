package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/protocol/records"
)

// testCluster is several in-process brokers, each with its own data
// directory and listener, sharing one in-memory metadata store.
type testCluster struct {
	t        testing.TB
	meta     *sharedMetadata
	dirs     map[int32]string
	settings map[int32]map[string]string
	brokers  map[int32]*testBroker
	// configure, when set, adjusts a broker's configuration before it
	// starts; the first listener must stay a PLAINTEXT one.
	configure func(id int32, cfg *Config)
}

// startCluster starts brokers 1..n; broker 1 is the controller. extra
// settings apply to every broker; broker i gets rack racks[i-1] when
// given.
func startCluster(t testing.TB, n int, extra map[string]string, racks ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t, meta: newSharedMetadata(1), dirs: map[int32]string{}, settings: map[int32]map[string]string{}, brokers: map[int32]*testBroker{}}
	for id := int32(1); id <= int32(n); id++ {
		s := maps.Clone(extra)
		if s == nil {
			s = map[string]string{}
		}
		if int(id) <= len(racks) {
			s["broker.rack"] = racks[id-1]
		}
		c.dirs[id], c.settings[id] = t.TempDir(), s
		c.start(id)
	}
	return c
}

// start starts (or restarts) broker id on its data directory.
func (c *testCluster) start(id int32) *testBroker {
	c.t.Helper()
	level := slog.LevelWarn
	if os.Getenv("SKEIN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(testWriter{c.t}, &slog.HandlerOptions{Level: level})).With("broker", id)
	cfg := Config{
		NodeID:    id,
		DataDir:   c.dirs[id],
		Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:  c.settings[id],
		Metadata:  c.meta.view(),
		Logger:    logger,
	}
	if c.configure != nil {
		c.configure(id, &cfg)
	}
	b, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		c.t.Fatal(err)
	}
	tb := &testBroker{Broker: b, t: c.t, dir: c.dirs[id], addr: b.Addrs()[0].String(), setting: c.settings[id]}
	c.t.Cleanup(func() { b.Close() })
	c.brokers[id] = tb
	return tb
}

// client returns a franz-go client that knows only broker seed at first.
func (c *testCluster) client(seed int32, opts ...kgo.Opt) *kgo.Client {
	return c.brokers[seed].client(opts...)
}

// waitAll polls until cond holds on every running broker.
func (c *testCluster) waitAll(cond func(tb *testBroker) error) {
	c.t.Helper()
	checkFor(c.t, 20*time.Second, 5*time.Millisecond, func() error {
		for id, tb := range c.brokers {
			if tb.closed.Load() {
				continue
			}
			if err := cond(tb); err != nil {
				return fmt.Errorf("broker %d: %w", id, err)
			}
		}
		return nil
	})
}

// waitRole waits until every running broker has applied partition p of
// topic to its replica (the leader leads it with epoch; the other
// replicas follow it).
func (c *testCluster) waitRole(topicName string, p int32, leader, epoch int32) {
	c.t.Helper()
	c.waitAll(func(tb *testBroker) error {
		t := tb.lookupTopic(topicName)
		if t == nil {
			return errors.New("topic not live")
		}
		part := t.partition(p)
		if part == nil {
			if st, ok := tb.partitionState(t.id, p); ok && !slices.Contains(st.Replicas, tb.cfg.NodeID) {
				return nil
			}
			return errors.New("partition not open")
		}
		if r := part.currentRole(); r.leader != (tb.cfg.NodeID == leader) || r.state.LeaderEpoch != epoch {
			return fmt.Errorf("role leader=%v epoch %d, want leader %d epoch %d", r.leader, r.state.LeaderEpoch, leader, epoch)
		}
		return nil
	})
}

// createAssigned creates a topic with a manual replica assignment
// through broker via.
func (c *testCluster) createAssigned(via int32, name string, assignment ...[]int32) {
	c.t.Helper()
	c.createWithConfigs(via, name, nil, assignment...)
}

// setPartition proposes a new state for a partition through the shared
// metadata, as a controller electing a leader or reassigning replicas
// does, as a compare-and-set on the current partition epoch.
// A compare-and-set refused because a leader changed the ISR meanwhile
// is retried on the newer state, as a controller does.
func (c *testCluster) setPartition(topicName string, p int32, st PartitionState) PartitionState {
	c.t.Helper()
	for {
		ti := c.meta.Image().Topics[topicName]
		cur, _ := ti.Partition(p)
		rec := MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: ti.ID, Partition: p, State: st, ExpectedPartitionEpoch: ptr(cur.PartitionEpoch)}}
		err := c.meta.apply([]MetadataRecord{rec})
		if errors.Is(err, ErrPartitionEpochMismatch) {
			continue
		}
		if err != nil {
			c.t.Fatal(err)
		}
		next, _ := c.meta.Image().Topics[topicName].Partition(p)
		return next
	}
}

func (tb *testBroker) port() int32 {
	_, port, _ := net.SplitHostPort(tb.addr)
	n, _ := strconv.Atoi(port)
	return int32(n)
}

// metadataOf asks broker tb for the metadata of topics over a raw
// connection.
func metadataOf(t *testing.T, tb *testBroker, version int16, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	for _, name := range topics {
		req.Topics = append(req.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(name)})
	}
	return rawRequest(t, tb.dial(), 1, req).(*kmsg.MetadataResponse)
}

// TestMultiBrokerTopicMetadata creates a topic with replication factor 3
// through one broker of three and checks that every broker describes it
// the same way: all brokers with their endpoints and racks, the
// controller, and each partition's leader, replicas and ISR, with the
// leaders spread over the brokers.
func TestMultiBrokerTopicMetadata(t *testing.T) {
	c := startCluster(t, 3, nil, "a", "b", "c")
	ctx := testCtx(t)
	adm := kadm.NewClient(c.client(2))
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "rf3"); err != nil {
		t.Fatal(err)
	}
	var first []kmsg.MetadataResponseTopicPartition
	for id := int32(1); id <= 3; id++ {
		resp := metadataOf(t, c.brokers[id], 12, "rf3")
		if resp.ControllerID != 1 {
			t.Errorf("broker %d: controller %d", id, resp.ControllerID)
		}
		if len(resp.Brokers) != 3 {
			t.Fatalf("broker %d lists %d brokers", id, len(resp.Brokers))
		}
		for _, mb := range resp.Brokers {
			want := c.brokers[mb.NodeID]
			if want == nil || mb.Port != want.port() || mb.Host != "127.0.0.1" || mb.Rack == nil || *mb.Rack != c.settings[mb.NodeID]["broker.rack"] {
				t.Fatalf("broker %d lists %+v", id, mb)
			}
		}
		mt := resp.Topics[0]
		if mt.ErrorCode != 0 || len(mt.Partitions) != 3 {
			t.Fatalf("broker %d: topic %+v", id, mt)
		}
		leaders := map[int32]bool{}
		for _, p := range mt.Partitions {
			if p.ErrorCode != 0 || len(p.Replicas) != 3 || !slices.Equal(p.ISR, p.Replicas) || p.Leader != p.Replicas[0] || p.LeaderEpoch != 0 || len(p.OfflineReplicas) != 0 {
				t.Fatalf("broker %d: partition %+v", id, p)
			}
			leaders[p.Leader] = true
		}
		if len(leaders) != 3 {
			t.Fatalf("leaders not spread: %+v", mt.Partitions)
		}
		if first == nil {
			first = mt.Partitions
		} else if !slices.EqualFunc(first, mt.Partitions, func(a, b kmsg.MetadataResponseTopicPartition) bool {
			return a.Leader == b.Leader && slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR)
		}) {
			t.Fatalf("broker %d answers differently: %+v vs %+v", id, mt.Partitions, first)
		}
	}
	// Through franz-go's admin client, seeded with broker 3 only.
	md, err := kadm.NewClient(c.client(3)).Metadata(ctx, "rf3")
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 || md.Controller != 1 {
		t.Fatalf("kadm metadata: brokers %v controller %d", md.Brokers, md.Controller)
	}
	for _, p := range md.Topics["rf3"].Partitions {
		want := first[p.Partition]
		if p.Leader != want.Leader || !slices.Equal(p.Replicas, want.Replicas) || !slices.Equal(p.ISR, want.ISR) {
			t.Fatalf("kadm partition %+v, want %+v", p, want)
		}
	}
	// Every broker holds a replica of every partition and leads its own.
	c.waitAll(func(tb *testBroker) error {
		for _, p := range first {
			part := tb.lookupTopic("rf3").partition(p.Partition)
			if part == nil || part.isLeader() != (p.Leader == tb.cfg.NodeID) {
				return fmt.Errorf("partition %d not in its role", p.Partition)
			}
		}
		return nil
	})
	// DescribeCluster from broker 2.
	dc := rawRequest(t, c.brokers[2].dial(), 1, kmsg.NewPtrDescribeClusterRequest()).(*kmsg.DescribeClusterResponse)
	if dc.ErrorCode != 0 || dc.ControllerID != 1 || len(dc.Brokers) != 3 {
		t.Fatalf("DescribeCluster: %+v", dc)
	}

	// CreatePartitions: a manual assignment, a bad one, and placement.
	createPartitions := func(count int32, assignment ...[]int32) kmsg.CreatePartitionsResponseTopic {
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.CreatePartitionsRequestTopic{Topic: "rf3", Count: count}
		for _, a := range assignment {
			rt.Assignment = append(rt.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: a})
		}
		req.Topics, req.TimeoutMillis = []kmsg.CreatePartitionsRequestTopic{rt}, 10000
		return rawRequest(t, c.brokers[3].dial(), 1, req).(*kmsg.CreatePartitionsResponse).Topics[0]
	}
	if r := createPartitions(4, []int32{3, 2, 1}); r.ErrorCode != 0 {
		t.Fatalf("create partition 3 on [3 2 1]: %+v", r)
	}
	if r := createPartitions(5, []int32{1, 1, 2}); r.ErrorCode != kerr.InvalidReplicaAssignment.Code || *r.ErrorMessage != "The manual partition assignment includes the broker 1 more than once." {
		t.Fatalf("duplicate broker in assignment: %+v", r)
	}
	if r := createPartitions(5, []int32{1, 2}); r.ErrorCode != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("assignment with 2 of 3 replicas: %+v", r)
	}
	if r := createPartitions(6, []int32{1, 2, 3}); r.ErrorCode != kerr.InvalidReplicaAssignment.Code || *r.ErrorMessage != "Attempted to add 2 additional partition(s), but only 1 assignment(s) were specified." {
		t.Fatalf("too few assignments: %+v", r)
	}
	if r := createPartitions(6); r.ErrorCode != 0 {
		t.Fatalf("placed partitions: %+v", r)
	}
	ti := c.meta.Image().Topics["rf3"]
	if st, _ := ti.Partition(3); !slices.Equal(st.Replicas, []int32{3, 2, 1}) || st.Leader != 3 {
		t.Fatalf("partition 3: %+v", st)
	}
	for i := int32(4); i < 6; i++ {
		if st, ok := ti.Partition(i); !ok || len(st.Replicas) != 3 || st.Leader != st.Replicas[0] {
			t.Fatalf("partition %d: %+v", i, st)
		}
	}
	c.waitRole("rf3", 3, 3, 0)
}

// produceTo sends one record to partition p of topic at version v through
// broker tb and returns the partition's answer and the response.
func produceTo(t *testing.T, tb *testBroker, version int16, topicName string, p int32) (kmsg.ProduceResponseTopicPartition, *kmsg.ProduceResponse) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(version)
	req.Acks, req.TimeoutMillis = -1, 10000
	batch := recordsBatch(t, "v")
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topicName, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: p, Records: batch}}}}
	resp := rawRequest(t, tb.dial(), 1, req).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0], resp
}

// fetchFrom fetches partition p of topic at version v from broker tb with
// the given current leader epoch.
func fetchFrom(t *testing.T, tb *testBroker, version int16, topicName string, p, currentEpoch int32) (kmsg.FetchResponseTopicPartition, *kmsg.FetchResponse) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(version)
	req.ReplicaID, req.MaxBytes, req.SessionEpoch = -1, 1<<20, -1
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, 1<<20, currentEpoch
	rt := kmsg.FetchRequestTopic{Topic: topicName, Partitions: []kmsg.FetchRequestTopicPartition{rp}}
	if version >= 13 {
		rt.TopicID = tb.lookupTopic(topicName).id
	}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	resp := rawRequest(t, tb.dial(), 1, req).(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response %+v", resp)
	}
	return resp.Topics[0].Partitions[0], resp
}

func listOffsetsFrom(t *testing.T, tb *testBroker, topicName string, p, currentEpoch int32) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID = -1
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, currentEpoch
	req.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: topicName, Partitions: []kmsg.ListOffsetsRequestTopicPartition{rp}}}
	return rawRequest(t, tb.dial(), 1, req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
}

func recordsBatch(t testing.TB, value string) []byte {
	t.Helper()
	return records.BuildBatch(records.CodecNone, time.Now().UnixMilli(), []records.Record{{Value: []byte(value)}})
}

// TestMultiBrokerNotLeader sends partition requests to brokers that do
// not lead the partition: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch
// and DeleteRecords answer NOT_LEADER_OR_FOLLOWER, Produce v10+ and Fetch
// v12+ with the current leader (KIP-951) and, from Produce v10 and Fetch
// v16, its endpoint; epochs older or newer than the leader's are fenced.
func TestMultiBrokerNotLeader(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.createAssigned(1, "nl", []int32{1}, []int32{2}, []int32{3})
	b1, b2 := c.brokers[1], c.brokers[2]

	sp, resp := produceTo(t, b1, 11, "nl", 1)
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 2 || sp.CurrentLeader.LeaderEpoch != 0 {
		t.Fatalf("produce v11 to a non-leader: %+v", sp)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 2 || resp.Brokers[0].Port != b2.port() || resp.Brokers[0].Host != "127.0.0.1" {
		t.Fatalf("produce v11 node endpoints: %+v", resp.Brokers)
	}
	if sp, resp := produceTo(t, b1, 9, "nl", 1); sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != -1 || len(resp.Brokers) != 0 {
		t.Fatalf("produce v9 to a non-leader: %+v %+v", sp, resp.Brokers)
	}
	if sp, _ := produceTo(t, b1, 11, "nl", 0); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("produce to the leader: %+v", sp)
	}
	if sp, _ := produceTo(t, b1, 11, "nl", 3); sp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to a missing partition: %+v", sp)
	}

	fp, fresp := fetchFrom(t, b1, 16, "nl", 1, -1)
	if fp.ErrorCode != kerr.NotLeaderForPartition.Code || fp.CurrentLeader.LeaderID != 2 || fp.CurrentLeader.LeaderEpoch != 0 || fp.HighWatermark != -1 {
		t.Fatalf("fetch v16 from a non-leader: %+v", fp)
	}
	if len(fresp.Brokers) != 1 || fresp.Brokers[0].NodeID != 2 || fresp.Brokers[0].Port != b2.port() {
		t.Fatalf("fetch v16 node endpoints: %+v", fresp.Brokers)
	}
	if fp, fresp := fetchFrom(t, b1, 12, "nl", 1, -1); fp.ErrorCode != kerr.NotLeaderForPartition.Code || fp.CurrentLeader.LeaderID != 2 || len(fresp.Brokers) != 0 {
		t.Fatalf("fetch v12 from a non-leader: %+v %+v", fp, fresp.Brokers)
	}
	if fp, _ := fetchFrom(t, b1, 12, "nl", 0, 0); fp.ErrorCode != 0 || fp.HighWatermark != 1 || len(fp.RecordBatches) == 0 {
		t.Fatalf("fetch from the leader: %+v", fp)
	}
	if fp, _ := fetchFrom(t, b1, 12, "nl", 0, 1); fp.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("fetch with a newer epoch: %+v", fp)
	}

	if lp := listOffsetsFrom(t, b1, "nl", 1, -1); lp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("list offsets from a non-leader: %+v", lp)
	}
	if lp := listOffsetsFrom(t, b2, "nl", 1, 3); lp.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("list offsets with a newer epoch: %+v", lp)
	}
	if lp := listOffsetsFrom(t, b2, "nl", 1, 0); lp.ErrorCode != 0 || lp.Offset != 0 || lp.LeaderEpoch != 0 {
		t.Fatalf("list offsets from the leader: %+v", lp)
	}

	ofle := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ofle.SetVersion(3)
	ofle.ReplicaID = -1
	ofle.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: "nl", Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 1, CurrentLeaderEpoch: -1, LeaderEpoch: 0}}}}
	if op := rawRequest(t, b1.dial(), 1, ofle).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]; op.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("offset for leader epoch from a non-leader: %+v", op)
	}
	// The leader assigned epoch 0 at offset 0 when it took over.
	if op := rawRequest(t, b2.dial(), 1, ofle).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]; op.ErrorCode != 0 || op.LeaderEpoch != 0 || op.EndOffset != 0 {
		t.Fatalf("offset for leader epoch from the leader: %+v", op)
	}

	dr := kmsg.NewPtrDeleteRecordsRequest()
	dr.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "nl", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 1, Offset: -1}}}}
	if dp := rawRequest(t, b1.dial(), 1, dr).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0]; dp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("delete records on a non-leader: %+v", dp)
	}
}

// TestMultiBrokerProduceConsume produces to every partition of a topic
// spread over three brokers through a client that knows one broker, and
// consumes everything back in a consumer group coordinated by the leader
// of the group's __consumer_offsets partition.
func TestMultiBrokerProduceConsume(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"offsets.topic.num.partitions": "6", "transaction.state.log.num.partitions": "6", "group.initial.rebalance.delay.ms": "0"})
	ctx := testCtx(t)
	if _, err := kadm.NewClient(c.client(1)).CreateTopic(ctx, 6, 1, nil, "rt"); err != nil {
		t.Fatal(err)
	}
	c.waitAll(func(tb *testBroker) error {
		if tb.lookupTopic("rt") == nil {
			return errors.New("topic not live")
		}
		return nil
	})
	leaders := map[int32]int{}
	ti := c.meta.Image().Topics["rt"]
	for i := int32(0); i < 6; i++ {
		st, _ := ti.Partition(i)
		leaders[st.Leader]++
	}
	if leaders[1] != 2 || leaders[2] != 2 || leaders[3] != 2 {
		t.Fatalf("leaders %v, want two partitions each", leaders)
	}

	const n = 600
	prod := c.client(3, kgo.DefaultProduceTopic("rt"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: []byte(strconv.Itoa(i))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Each record is on its partition's leader, and only there.
	total := 0
	for i := int32(0); i < 6; i++ {
		st, _ := ti.Partition(i)
		for id, tb := range c.brokers {
			p := tb.lookupTopic("rt").partition(i)
			if id != st.Leader {
				if p != nil {
					t.Fatalf("broker %d holds partition %d led by %d", id, i, st.Leader)
				}
				continue
			}
			total += int(p.log.LogEndOffset())
		}
	}
	if total != n {
		t.Fatalf("%d records on the leaders, want %d", total, n)
	}

	cons := c.client(2, kgo.ConsumeTopics("rt"), kgo.ConsumerGroup("g"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(seen), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}

	// Every broker names the same coordinator: the leader of the
	// group's partition of __consumer_offsets.
	gp := c.brokers[1].groupOffsetsPartition("g")
	st, _ := c.meta.Image().Topics[offsetsTopic].Partition(gp)
	for id, tb := range c.brokers {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.SetVersion(3)
		fc.CoordinatorKey = "g"
		resp := rawRequest(t, tb.dial(), 1, fc).(*kmsg.FindCoordinatorResponse)
		if resp.ErrorCode != 0 || resp.NodeID != st.Leader || resp.Port != c.brokers[st.Leader].port() {
			t.Fatalf("broker %d: FindCoordinator %+v, want node %d", id, resp, st.Leader)
		}
		of := kmsg.NewPtrOffsetFetchRequest()
		of.SetVersion(7)
		of.Group = "g"
		ofr := rawRequest(t, tb.dial(), 1, of).(*kmsg.OffsetFetchResponse)
		if id == st.Leader {
			if ofr.ErrorCode != 0 || len(ofr.Topics) != 1 {
				t.Fatalf("coordinator's OffsetFetch: %+v", ofr)
			}
		} else if ofr.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("broker %d (not the coordinator): OffsetFetch %+v", id, ofr)
		}
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID = "g", "m"
		if code := rawRequest(t, tb.dial(), 1, hb).(*kmsg.HeartbeatResponse).ErrorCode; (id == st.Leader) != (code != kerr.NotCoordinator.Code) {
			t.Fatalf("broker %d: heartbeat answered %v (coordinator %d)", id, kerr.ErrorForCode(code), st.Leader)
		}
	}
	// Transactional ids: FindCoordinator (creating __transaction_state)
	// names the leader of the id's partition; InitProducerId sent to
	// another broker is NOT_COORDINATOR.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(4)
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"tx"}
	if r := rawRequest(t, c.brokers[1].dial(), 1, fc).(*kmsg.FindCoordinatorResponse); r.Coordinators[0].ErrorCode != 0 {
		t.Fatalf("FindCoordinator for a transactional id: %+v", r)
	}
	c.waitAll(func(tb *testBroker) error {
		if t := tb.lookupTopic(txnStateTopic); t == nil || t.numPartitions() != 6 {
			return errors.New("__transaction_state not live")
		}
		return nil
	})
	tst, _ := c.meta.Image().Topics[txnStateTopic].Partition(c.brokers[1].txns.coord.Partition("tx"))
	c.waitRole(txnStateTopic, c.brokers[1].txns.coord.Partition("tx"), tst.Leader, tst.LeaderEpoch)
	for id, tb := range c.brokers {
		r := rawRequest(t, tb.dial(), 1, fc).(*kmsg.FindCoordinatorResponse).Coordinators[0]
		if r.ErrorCode != 0 || r.NodeID != tst.Leader || r.Port != c.brokers[tst.Leader].port() {
			t.Fatalf("broker %d: FindCoordinator for tx %+v, want node %d", id, r, tst.Leader)
		}
		ip := kmsg.NewPtrInitProducerIDRequest()
		ip.SetVersion(4)
		ip.TransactionalID, ip.TransactionTimeoutMillis = kmsg.StringPtr("tx"), 10000
		code := rawRequest(t, tb.dial(), 1, ip).(*kmsg.InitProducerIDResponse).ErrorCode
		if (id == tst.Leader) != (code == 0) || (id != tst.Leader && code != kerr.NotCoordinator.Code) {
			t.Fatalf("broker %d: InitProducerId answered %v (coordinator %d)", id, kerr.ErrorForCode(code), tst.Leader)
		}
	}

	offsets, err := kadm.NewClient(c.client(1)).FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	committed := int64(0)
	offsets.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != n {
		t.Fatalf("committed offsets sum to %d, want %d", committed, n)
	}
}

// TestMultiBrokerLeaderMove moves a partition's leader with a partition
// record, as a controller's election does: the old leader refuses with
// the new leader's id and epoch, a client that had the old leader
// re-routes, and the new leader, which replicated the old leader's
// record, stamps its epoch into what it writes.
func TestMultiBrokerLeaderMove(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := testCtx(t)
	c.createAssigned(1, "mv", []int32{1, 2, 3})
	c.waitRole("mv", 0, 1, 0)
	prod := c.client(3, kgo.DefaultProduceTopic("mv"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if leo := c.brokers[1].lookupTopic("mv").partition(0).log.LogEndOffset(); leo != 1 {
		t.Fatalf("old leader's log end %d", leo)
	}

	st := c.setPartition("mv", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 2})
	if st.LeaderEpoch != 1 || st.PartitionEpoch != 1 {
		t.Fatalf("after the move: %+v", st)
	}
	c.waitRole("mv", 0, 2, 1)

	sp, resp := produceTo(t, c.brokers[1], 11, "mv", 0)
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 2 || sp.CurrentLeader.LeaderEpoch != 1 {
		t.Fatalf("old leader's answer: %+v", sp)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 2 || resp.Brokers[0].Port != c.brokers[2].port() {
		t.Fatalf("old leader's node endpoints: %+v", resp.Brokers)
	}
	// The client still routes to broker 1; it must move to broker 2.
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p2 := c.brokers[2].lookupTopic("mv").partition(0)
	if leo := p2.log.LogEndOffset(); leo != 2 {
		t.Fatalf("new leader's log end %d", leo)
	}
	for off, want := range []int32{0, 1} {
		batch, err := p2.log.ReadBatchAt(int64(off), nil)
		if err != nil {
			t.Fatal(err)
		}
		if epoch := int32(binary.BigEndian.Uint32(batch[12:])); epoch != want {
			t.Fatalf("batch at %d written with leader epoch %d, want %d", off, epoch, want)
		}
	}
	if epochs := p2.log.LeaderEpochs(); len(epochs) == 0 || epochs[len(epochs)-1].LeaderEpoch != 1 {
		t.Fatalf("new leader's epoch cache %v", epochs)
	}
	if fp, _ := fetchFrom(t, c.brokers[2], 12, "mv", 0, 0); fp.ErrorCode != kerr.FencedLeaderEpoch.Code || fp.CurrentLeader.LeaderID != 2 || fp.CurrentLeader.LeaderEpoch != 1 {
		t.Fatalf("fetch with the old epoch: %+v", fp)
	}
	if lp := listOffsetsFrom(t, c.brokers[2], "mv", 0, 0); lp.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("list offsets with the old epoch: %+v", lp)
	}
	if lp := listOffsetsFrom(t, c.brokers[2], "mv", 0, 1); lp.ErrorCode != 0 || lp.Offset != 2 || lp.LeaderEpoch != 1 {
		t.Fatalf("list offsets with the current epoch: %+v", lp)
	}
	// A compare-and-set on the superseded partition epoch is refused.
	ti := c.meta.Image().Topics["mv"]
	stale := MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: ti.ID, Partition: 0, State: PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1}, ExpectedPartitionEpoch: ptr(int32(0))}}
	if err := c.brokers[3].meta.Apply(ctx, stale); !errors.Is(err, ErrPartitionEpochMismatch) {
		t.Fatalf("stale compare-and-set: %v", err)
	}
	// Metadata from any broker reports the new leader and epoch.
	for id, tb := range c.brokers {
		mp := metadataOf(t, tb, 12, "mv").Topics[0].Partitions[0]
		if mp.Leader != 2 || mp.LeaderEpoch != 1 {
			t.Fatalf("broker %d: metadata %+v", id, mp)
		}
	}
}

// TestMultiBrokerReassignRemovesReplica takes a broker out of a
// partition's replicas: it closes the replica and deletes its log, and
// answers NOT_LEADER_OR_FOLLOWER for it; put back, it opens an empty
// replica as a follower.
func TestMultiBrokerReassignRemovesReplica(t *testing.T) {
	c := startCluster(t, 3, nil)
	c.createAssigned(1, "ra", []int32{3, 1, 2})
	c.waitRole("ra", 0, 3, 0)
	if sp, _ := produceTo(t, c.brokers[3], 11, "ra", 0); sp.ErrorCode != 0 {
		t.Fatalf("produce: %+v", sp)
	}
	dir := filepath.Join(c.dirs[3], "ra-0")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	c.setPartition("ra", 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	c.waitRole("ra", 0, 1, 1)
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		entries, err := os.ReadDir(c.dirs[3])
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Name() == "ra-0" || (len(e.Name()) > 5 && e.Name()[:5] == "ra-0.") {
				return fmt.Errorf("%s still there", e.Name())
			}
		}
		return nil
	})
	if c.brokers[3].lookupTopic("ra").partition(0) != nil {
		t.Fatal("broker 3 still holds the partition")
	}
	sp, _ := produceTo(t, c.brokers[3], 11, "ra", 0)
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 1 || sp.CurrentLeader.LeaderEpoch != 1 {
		t.Fatalf("removed replica's answer: %+v", sp)
	}
	mp := metadataOf(t, c.brokers[3], 12, "ra").Topics[0].Partitions[0]
	if !slices.Equal(mp.Replicas, []int32{1, 2}) || mp.Leader != 1 {
		t.Fatalf("metadata after reassignment: %+v", mp)
	}
	c.setPartition("ra", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, AddingReplicas: []int32{3}})
	c.waitRole("ra", 0, 1, 1)
	p := c.brokers[3].lookupTopic("ra").partition(0)
	if p == nil || p.isLeader() {
		t.Fatalf("re-added replica: %+v", p)
	}
	// The new, empty replica copies the leader's record again.
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if leo := p.log.LogEndOffset(); leo != 1 {
			return fmt.Errorf("re-added replica's log end %d, want 1", leo)
		}
		return nil
	})

	// No leader: LEADER_NOT_AVAILABLE in Metadata, and no broker
	// accepts writes.
	c.setPartition("ra", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{}, Leader: NoLeader})
	c.waitRole("ra", 0, NoLeader, 2)
	mp = metadataOf(t, c.brokers[2], 12, "ra").Topics[0].Partitions[0]
	if mp.ErrorCode != kerr.LeaderNotAvailable.Code || mp.Leader != -1 || mp.LeaderEpoch != 2 || len(mp.ISR) != 0 {
		t.Fatalf("leaderless partition: %+v", mp)
	}
	for id, tb := range c.brokers {
		sp, resp := produceTo(t, tb, 11, "ra", 0)
		if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != -1 || sp.CurrentLeader.LeaderEpoch != 2 || len(resp.Brokers) != 0 {
			t.Fatalf("broker %d: produce to a leaderless partition: %+v %+v", id, sp, resp.Brokers)
		}
	}
}

// TestMultiBrokerFenceOnClose closes a broker: it fences itself in the
// metadata (left out of Metadata, its replicas offline, no new replicas
// on it), and registers again unfenced when it restarts. A Close that
// cannot reach the metadata returns within its bound.
func TestMultiBrokerFenceOnClose(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := testCtx(t)
	c.createAssigned(1, "fc", []int32{1, 2, 3})
	old, _ := c.meta.Image().Broker(3)
	if err := c.brokers[3].Close(); err != nil {
		t.Fatal(err)
	}
	reg, _ := c.meta.Image().Broker(3)
	if !reg.Fenced || !reg.ControlledShutdown || reg.Incarnation != old.Incarnation {
		t.Fatalf("closed broker's registration: %+v", reg)
	}
	resp := metadataOf(t, c.brokers[1], 12, "fc")
	if len(resp.Brokers) != 2 {
		t.Fatalf("brokers after close: %+v", resp.Brokers)
	}
	if mp := resp.Topics[0].Partitions[0]; !slices.Equal(mp.OfflineReplicas, []int32{3}) || mp.Leader != 1 {
		t.Fatalf("partition after close: %+v", mp)
	}
	_, err := kadm.NewClient(c.client(1)).CreateTopic(ctx, 1, 3, nil, "rf3")
	if !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3 with a broker shut down: %v", err)
	}
	created, err := kadm.NewClient(c.client(2)).CreateTopic(ctx, 4, 2, nil, "rf2")
	if err != nil || created.Err != nil {
		t.Fatal(err, created.Err)
	}
	ti := c.meta.Image().Topics["rf2"]
	for i := int32(0); i < 4; i++ {
		if st, _ := ti.Partition(i); slices.Contains(st.Replicas, 3) {
			t.Fatalf("partition %d placed on the shut-down broker: %+v", i, st)
		}
	}

	tb := c.start(3)
	reg, _ = c.meta.Image().Broker(3)
	if reg.Fenced || reg.ControlledShutdown || reg.Incarnation == old.Incarnation || reg.Incarnation != tb.incarnation {
		t.Fatalf("restarted broker's registration: %+v", reg)
	}
	if got := metadataOf(t, c.brokers[1], 12).Brokers; len(got) != 3 {
		t.Fatalf("brokers after restart: %+v", got)
	}

	// No quorum: the fence cannot be written, and Close gives up on it
	// after its bound, whether the store fails at once or never answers.
	c.meta.mu.Lock()
	c.meta.failApply = errors.New("no quorum")
	c.meta.mu.Unlock()
	if err := c.brokers[2].Close(); err != nil {
		t.Fatal(err)
	}
	c.meta.mu.Lock()
	c.meta.failApply, c.meta.blockApply = nil, true
	c.meta.mu.Unlock()
	start := time.Now()
	if err := c.brokers[3].Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < fenceTimeout || d > fenceTimeout+10*time.Second {
		t.Fatalf("Close with an unresponsive store took %v, want about %v", d, fenceTimeout)
	}
	for _, id := range []int32{2, 3} {
		if reg, _ := c.meta.Image().Broker(id); reg.Fenced {
			t.Fatalf("broker %d fenced although the store refused it", id)
		}
	}
}

// TestSingleNodeRegistration checks the one-broker case: the broker
// registers with its listener's bound port and a fresh incarnation, is
// its own controller, fences itself on Close and registers again on
// restart.
func TestSingleNodeRegistration(t *testing.T) {
	tb := startBroker(t, map[string]string{"broker.rack": "r1"})
	reg, ok := tb.meta.Image().Broker(1)
	if !ok || reg.Fenced || reg.Rack != "r1" || reg.Incarnation == "" || len(reg.Endpoints) != 1 {
		t.Fatalf("registration %+v", reg)
	}
	if ep := reg.Endpoints[0]; ep.Name != "PLAINTEXT" || ep.Port != tb.port() || ep.Host != "127.0.0.1" || ep.SecurityProtocol != "PLAINTEXT" {
		t.Fatalf("endpoint %+v", ep)
	}
	resp := metadataOf(t, tb, 12)
	if resp.ControllerID != 1 || len(resp.Brokers) != 1 || *resp.Brokers[0].Rack != "r1" {
		t.Fatalf("metadata %+v", resp)
	}
	tb2 := tb.restart()
	reg2, _ := tb2.meta.Image().Broker(1)
	if reg2.Fenced || reg2.Incarnation == reg.Incarnation {
		t.Fatalf("registration after restart %+v (before %+v)", reg2, reg)
	}
	if err := tb2.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenRaftStore(testCtx(t), RaftStoreConfig{NodeID: 1, Dir: filepath.Join(tb2.dir, "__cluster_metadata")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if reg3, _ := s.Image().Broker(1); !reg3.Fenced || !reg3.ControlledShutdown || reg3.Incarnation != reg2.Incarnation {
		t.Fatalf("registration after close %+v", reg3)
	}
}

// TestMultiBrokerReconcileRetries makes a replica's log fail to open on
// one broker: the topic is created everywhere else, that broker answers
// NOT_LEADER_OR_FOLLOWER for the partition meanwhile, and opens it once
// the cause is gone, without a new metadata change.
func TestMultiBrokerReconcileRetries(t *testing.T) {
	c := startCluster(t, 2, nil)
	blocker := filepath.Join(c.dirs[2], "rr-0")
	if err := os.WriteFile(blocker, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "rr", -1, -1
	rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{2}}}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t), c.client(1))
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(code))
	}
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if c.brokers[2].lookupTopic("rr") == nil {
			return errors.New("topic not live on broker 2")
		}
		return nil
	})
	if sp, _ := produceTo(t, c.brokers[2], 11, "rr", 0); sp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to a replica that did not open: %+v", sp)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	c.waitRole("rr", 0, 2, 0)
	if sp, _ := produceTo(t, c.brokers[2], 11, "rr", 0); sp.ErrorCode != 0 {
		t.Fatalf("produce once the replica opened: %+v", sp)
	}
}
