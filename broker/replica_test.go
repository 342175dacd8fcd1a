package broker

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol/records"
)

// createWithConfigs creates a topic with a manual replica assignment and
// topic configs through broker via, and waits until every running broker
// has it open.
func (c *testCluster) createWithConfigs(via int32, name string, configs map[string]string, assignment ...[]int32) {
	c.t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	for i, replicas := range assignment {
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: int32(i), Replicas: replicas})
	}
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		rt.Configs = append(rt.Configs, kmsg.CreateTopicsRequestTopicConfig{Name: k, Value: kmsg.StringPtr(configs[k])})
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(testCtx(c.t), c.client(via))
	if err != nil {
		c.t.Fatal(err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		c.t.Fatalf("create %s: %v: %v", name, kerr.ErrorForCode(code), resp.Topics[0].ErrorMessage)
	}
	c.waitAll(func(tb *testBroker) error {
		if t := tb.lookupTopic(name); t == nil || t.numPartitions() != int32(len(assignment)) {
			return fmt.Errorf("topic %s not live", name)
		}
		return nil
	})
}

// isr returns the metadata's ISR of a partition.
func (c *testCluster) isr(name string, p int32) []int32 {
	st, _ := c.meta.Image().Topics[name].Partition(p)
	return slices.Sorted(slices.Values(st.ISR))
}

// waitISR polls until the partition's ISR is want (in any order).
func (c *testCluster) waitISR(name string, p int32, want ...int32) {
	c.t.Helper()
	slices.Sort(want)
	checkFor(c.t, 30*time.Second, 5*time.Millisecond, func() error {
		if got := c.isr(name, p); !slices.Equal(got, want) {
			return fmt.Errorf("isr %v, want %v", got, want)
		}
		return nil
	})
}

// stop closes a broker of the cluster.
// crash stops a broker without a controlled shutdown, as if its process
// were killed: it stays registered and in the ISRs until the leader or
// the controller notices.
func (c *testCluster) crash(id int32) {
	c.t.Helper()
	c.brokers[id].skipControlledShutdown.Store(true)
	c.stop(id)
}

func (c *testCluster) stop(id int32) {
	c.t.Helper()
	if err := c.brokers[id].Close(); err != nil {
		c.t.Fatal(err)
	}
}

// logBatches returns every batch of a partition's log on a broker, in
// order, as stored.
func logBatches(t testing.TB, tb *testBroker, name string, p int32) [][]byte {
	t.Helper()
	part := tb.lookupTopic(name).partition(p)
	var out [][]byte
	for off := part.log.LogStartOffset(); off < part.log.LogEndOffset(); {
		b, err := part.log.ReadBatchAt(off, nil)
		if err != nil {
			t.Fatalf("broker %d: read at %d: %v", tb.cfg.NodeID, off, err)
		}
		out = append(out, b)
		off = batchLastOffset(b) + 1
	}
	return out
}

func batchLastOffset(b []byte) int64 {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		panic(err)
	}
	return rb.FirstOffset + int64(rb.LastOffsetDelta)
}

// waitIdentical polls until every running broker holding the partition
// has the same log end, then checks that their logs are the same bytes,
// batch by batch, and returns the batches.
func (c *testCluster) waitIdentical(name string, p int32, ids ...int32) [][]byte {
	c.t.Helper()
	checkFor(c.t, 60*time.Second, 10*time.Millisecond, func() error {
		want := c.brokers[ids[0]].lookupTopic(name).partition(p).log.LogEndOffset()
		for _, id := range ids[1:] {
			if got := c.brokers[id].lookupTopic(name).partition(p).log.LogEndOffset(); got != want {
				return fmt.Errorf("broker %d log end %d, broker %d %d", id, got, ids[0], want)
			}
		}
		return nil
	})
	ref := logBatches(c.t, c.brokers[ids[0]], name, p)
	for _, id := range ids[1:] {
		got := logBatches(c.t, c.brokers[id], name, p)
		if len(got) != len(ref) {
			c.t.Fatalf("broker %d has %d batches, broker %d %d", id, len(got), ids[0], len(ref))
		}
		for i := range ref {
			if !bytes.Equal(got[i], ref[i]) {
				c.t.Fatalf("batch %d differs between broker %d and broker %d", i, ids[0], id)
			}
		}
	}
	return ref
}

// TestReplicationAcksAll produces 20,000 records with acks=all to a
// partition with replication factor 3 and min.insync.replicas=2: every
// produce is acknowledged, the three logs end up byte-identical batch by
// batch, the high watermark is the log end on every replica, and a
// consumer reads every record once.
func TestReplicationAcksAll(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := testCtx(t)
	c.createWithConfigs(1, "r3", map[string]string{"min.insync.replicas": "2"}, []int32{1, 2, 3})
	c.waitRole("r3", 0, 1, 0)
	const n = 20000
	prod := c.client(2, kgo.DefaultProduceTopic("r3"), kgo.ProducerLinger(time.Millisecond))
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		prod.Produce(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) { errs <- err })
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d records acknowledged by 3 replicas in %v", n, time.Since(start).Round(time.Millisecond))
	c.waitIdentical("r3", 0, 1, 2, 3)
	for id, tb := range c.brokers {
		p := tb.lookupTopic("r3").partition(0)
		if leo := p.log.LogEndOffset(); leo != n {
			t.Fatalf("broker %d log end %d, want %d", id, leo, n)
		}
	}
	// Followers learn the high watermark on their next fetch.
	c.waitAll(func(tb *testBroker) error {
		if hw := tb.lookupTopic("r3").partition(0).highWatermark(); hw != n {
			return fmt.Errorf("high watermark %d", hw)
		}
		return nil
	})
	if got := c.isr("r3", 0); !slices.Equal(got, []int32{1, 2, 3}) {
		t.Fatalf("isr %v after the load", got)
	}
	// Replication traffic is counted apart from clients'.
	if out := counterValue(t, c.brokers[1].replicas.bytesOut); out <= 0 {
		t.Fatalf("leader's replication bytes out %v", out)
	}
	for _, id := range []int32{2, 3} {
		if in := counterValue(t, c.brokers[id].replicas.bytesIn); in <= 0 {
			t.Fatalf("broker %d replication bytes in %v", id, in)
		}
	}
	cons := c.client(3, kgo.ConsumeTopics("r3"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(seen), n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Fatalf("record %s twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
}

// TestReplicationISRShrinkExpand stops followers of a partition with
// replication factor 3 and min.insync.replicas=2: one stopped follower
// leaves the ISR after replica.lag.time.max.ms and writes continue; with
// both gone the ISR is the leader alone and acks=all writes are refused
// with NOT_ENOUGH_REPLICAS (acks=1 still lands); restarted, the followers
// catch up, rejoin the ISR, and hold the same log as the leader.
func TestReplicationISRShrinkExpand(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"replica.lag.time.max.ms": "1500", "replica.fetch.wait.max.ms": "200"})
	ctx := testCtx(t)
	c.createWithConfigs(1, "sx", map[string]string{"min.insync.replicas": "2"}, []int32{1, 2, 3})
	c.waitRole("sx", 0, 1, 0)
	prod := c.client(1, kgo.DefaultProduceTopic("sx"), kgo.RecordRetries(0), kgo.RequestTimeoutOverhead(10*time.Second))
	produce := func(v string) error {
		return prod.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
	}
	for i := range 10 {
		if err := produce("a" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	shrinks := c.brokers[1].replicas.isrShrinks

	c.crash(3)
	// Writes wait for broker 3 until it is out of the ISR, then
	// continue with {1, 2}.
	if err := produce("b"); err != nil {
		t.Fatal(err)
	}
	c.waitISR("sx", 0, 1, 2)
	if n := counterValue(t, shrinks); n < 1 {
		t.Fatalf("isr shrinks counted %v", n)
	}
	if got := c.brokers[1].underReplicated(); got != 1 {
		t.Fatalf("under-replicated partitions %d, want 1", got)
	}
	for i := range 10 {
		if err := produce("c" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}

	c.crash(2)
	// acks=1 does not need the ISR; the record broker 2 misses takes it
	// out of the ISR after the lag time.
	one := c.client(1, kgo.DefaultProduceTopic("sx"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("d")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.waitISR("sx", 0, 1)
	if sp, _ := produceTo(t, c.brokers[1], 11, "sx", 0); sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all produce with one replica in sync: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	if p := c.brokers[1].lookupTopic("sx").partition(0); p.highWatermark() != p.log.LogEndOffset() {
		t.Fatalf("high watermark %d with the leader alone in the ISR, log end %d", p.highWatermark(), p.log.LogEndOffset())
	}

	expands := c.brokers[1].replicas.isrExpands
	c.start(2)
	c.start(3)
	c.waitISR("sx", 0, 1, 2, 3)
	if n := counterValue(t, expands); n < 2 {
		t.Fatalf("isr expansions counted %v", n)
	}
	if err := produce("e"); err != nil {
		t.Fatal(err)
	}
	batches := c.waitIdentical("sx", 0, 1, 2, 3)
	if got := batchLastOffset(batches[len(batches)-1]) + 1; got != 23 {
		t.Fatalf("log end %d, want 23", got)
	}
}

// TestReplicationDivergentLog has a leader accept acks=1 writes while its
// followers are stopped; the records stay invisible (above the high
// watermark). The leader then stops and another ISR member is elected, as
// a controller would; the old leader, restarted as a follower, truncates
// the records nobody else has (OffsetForLeaderEpoch) and converges on the
// new leader's log.
func TestReplicationDivergentLog(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := testCtx(t)
	c.createWithConfigs(1, "dv", map[string]string{"min.insync.replicas": "2"}, []int32{1, 2, 3})
	c.waitRole("dv", 0, 1, 0)
	all := c.client(1, kgo.DefaultProduceTopic("dv"))
	for i := range 5 {
		if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("committed" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.waitIdentical("dv", 0, 1, 2, 3)
	c.waitAll(func(tb *testBroker) error {
		if hw := tb.lookupTopic("dv").partition(0).highWatermark(); hw != 5 {
			return fmt.Errorf("high watermark %d", hw)
		}
		return nil
	})

	// Killed, not shut down: a controlled shutdown would take them out
	// of the ISR, and the leader alone in it would commit what follows.
	c.crash(2)
	c.crash(3)
	one := c.client(1, kgo.DefaultProduceTopic("dv"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	for i := range 3 {
		if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("lost" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p1 := c.brokers[1].lookupTopic("dv").partition(0)
	if leo, hw := p1.log.LogEndOffset(), p1.highWatermark(); leo != 8 || hw != 5 {
		t.Fatalf("leader log end %d high watermark %d, want 8 and 5", leo, hw)
	}
	// Acknowledged at acks=1 but not replicated: invisible.
	if fp, _ := fetchFrom(t, c.brokers[1], 12, "dv", 0, 0); fp.HighWatermark != 5 || fetchedOffsets(t, fp.RecordBatches) != 5 {
		t.Fatalf("fetch sees beyond the high watermark: hw %d, %d records", fp.HighWatermark, fetchedOffsets(t, fp.RecordBatches))
	}
	if lp := listOffsetsFrom(t, c.brokers[1], "dv", 0, 0); lp.Offset != 5 {
		t.Fatalf("latest offset %d, want the high watermark 5", lp.Offset)
	}

	c.crash(1)
	st := c.setPartition("dv", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2})
	c.start(2)
	c.start(3)
	c.waitRole("dv", 0, 2, st.LeaderEpoch)
	two := c.client(2, kgo.DefaultProduceTopic("dv"))
	for i := range 4 {
		if err := two.ProduceSync(ctx, &kgo.Record{Value: []byte("new" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.start(1)
	c.waitRole("dv", 0, 2, st.LeaderEpoch)
	batches := c.waitIdentical("dv", 0, 2, 3, 1)
	var values []string
	for _, b := range batches {
		values = append(values, batchValues(t, b)...)
	}
	want := []string{"committed0", "committed1", "committed2", "committed3", "committed4", "new0", "new1", "new2", "new3"}
	if !slices.Equal(values, want) {
		t.Fatalf("converged log %q, want %q", values, want)
	}
	c.waitISR("dv", 0, 1, 2, 3)
	// The old leader's epoch cache follows the new leader's log.
	if got, want := c.brokers[1].lookupTopic("dv").partition(0).log.LeaderEpochs(), c.brokers[2].lookupTopic("dv").partition(0).log.LeaderEpochs(); !slices.Equal(got, want) {
		t.Fatalf("epoch cache %v, leader's %v", got, want)
	}
}

// fetchedOffsets returns the offset after the last record of fetched
// batches (0 when none).
func fetchedOffsets(t *testing.T, data []byte) int64 {
	t.Helper()
	end := int64(0)
	for len(data) > 0 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(data); err != nil {
			t.Fatal(err)
		}
		end = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		data = data[12+rb.Length:]
	}
	return end
}

// batchValues returns the values of a batch's records.
func batchValues(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	recs, err := recordValues(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		out = append(out, string(r))
	}
	return out
}

// TestReplicationIdempotenceAndTransactionsSurviveLeaderChange moves a
// partition's leadership between replicas while an idempotent producer
// writes, a transaction was aborted and another is open: the new leader
// knows the producer (a retried batch is answered with its original
// offsets, not written again; a sequence gap is refused), holds the last
// stable offset at the open transaction, and gives read_committed
// consumers the aborted transaction, as does a follower serving them
// (KIP-392). The open transaction's commit marker, written once
// leadership is back on the coordinator's broker, replicates, and a
// read_committed consumer sees each committed record once and no aborted
// one.
func TestReplicationIdempotenceAndTransactionsSurviveLeaderChange(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"transaction.state.log.num.partitions": "1", "transaction.state.log.replication.factor": "1"})
	ctx := testCtx(t)
	c.createWithConfigs(1, "tx", nil, []int32{1, 2, 3})
	c.createWithConfigs(1, txnStateTopic, map[string]string{"cleanup.policy": "compact"}, []int32{1})
	c.waitRole("tx", 0, 1, 0)

	// An idempotent producer's batch, sent raw so that it can be sent
	// again as a retry.
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.SetVersion(4)
	ipr := rawRequest(t, c.brokers[1].dial(), 1, ip).(*kmsg.InitProducerIDResponse)
	if ipr.ErrorCode != 0 {
		t.Fatalf("init producer id: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	pid, pepoch := ipr.ProducerID, ipr.ProducerEpoch
	idem := func(seq int32, v string) []byte { return idempotentBatch(t, pid, pepoch, seq, v) }
	send := func(tb *testBroker, batch []byte) kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = -1, 10000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "tx", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
		return rawRequest(t, tb.dial(), 1, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	b0 := idem(0, "i0")
	if sp := send(c.brokers[1], b0); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("idempotent produce: %+v", sp)
	}

	// A transaction that aborts (offsets 1 and 2, its marker), then one
	// that writes a record (offset 3) and stays open.
	txp := c.client(1, kgo.TransactionalID("t1"), kgo.DefaultProduceTopic("tx"), kgo.TransactionTimeout(30*time.Second))
	for _, end := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		value := "aborted"
		if end == kgo.TryCommit {
			value = "txn"
		}
		if err := txp.ProduceSync(ctx, &kgo.Record{Value: []byte(value)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if end == kgo.TryAbort {
			if err := txp.EndTransaction(ctx, kgo.TryAbort); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.waitIdentical("tx", 0, 1, 2, 3)

	st := c.setPartition("tx", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 2})
	c.waitRole("tx", 0, 2, st.LeaderEpoch)
	p2 := c.brokers[2].lookupTopic("tx").partition(0)
	// The retried batch is a duplicate on the new leader.
	if sp := send(c.brokers[2], b0); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("retried batch on the new leader: %+v", sp)
	}
	if sp := send(c.brokers[2], idem(1, "i1")); sp.ErrorCode != 0 || sp.BaseOffset != 4 {
		t.Fatalf("next batch on the new leader: %+v", sp)
	}
	if sp := send(c.brokers[2], idem(5, "gap")); sp.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap on the new leader: %+v", sp)
	}
	// The open transaction holds the last stable offset on the new leader.
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(7)
	lo.IsolationLevel = 1
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Partition, lp.Timestamp = 0, -1
	lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "tx", Partitions: []kmsg.ListOffsetsRequestTopicPartition{lp}}}
	if got := rawRequest(t, c.brokers[2].dial(), 1, lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; got.Offset != 3 {
		t.Fatalf("last stable offset on the new leader %d, want 3 (the open transaction)", got.Offset)
	}
	if producers := p2.describeProducers(); len(producers) != 2 {
		t.Fatalf("new leader's producers %+v", producers)
	}
	// read_committed fetches, from the new leader and from a follower,
	// stop at the open transaction and name the aborted one.
	c.waitAll(func(tb *testBroker) error {
		if hw := tb.lookupTopic("tx").partition(0).highWatermark(); hw != 5 {
			return fmt.Errorf("high watermark %d", hw)
		}
		return nil
	})
	for _, id := range []int32{2, 3} {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.ReplicaID, req.MaxBytes, req.SessionEpoch, req.IsolationLevel = -1, 1<<20, -1, 1
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 1<<20, st.LeaderEpoch
		req.Topics = []kmsg.FetchRequestTopic{{Topic: "tx", Partitions: []kmsg.FetchRequestTopicPartition{rp}}}
		fp := rawRequest(t, c.brokers[id].dial(), 1, req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if fp.ErrorCode != 0 || fp.LastStableOffset != 3 || fetchedOffsets(t, fp.RecordBatches) != 3 ||
			len(fp.AbortedTransactions) != 1 || fp.AbortedTransactions[0].FirstOffset != 1 {
			t.Fatalf("broker %d: read_committed fetch: lso %d, records up to %d, aborted %+v", id, fp.LastStableOffset, fetchedOffsets(t, fp.RecordBatches), fp.AbortedTransactions)
		}
	}

	// Leadership back on the coordinator's broker: the commit marker
	// is written there and replicated.
	st = c.setPartition("tx", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	c.waitRole("tx", 0, 1, st.LeaderEpoch)
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	c.waitIdentical("tx", 0, 1, 2, 3)
	if got := rawRequest(t, c.brokers[2].dial(), 1, lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; got.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("list offsets on a follower: %+v", got)
	}
	cons := c.client(3, kgo.ConsumeTopics("tx"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %q: %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if want := []string{"i0", "txn", "i1"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed consumer got %q, want %q", got, want)
	}
}

// counterValue reads a Prometheus counter.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// recordValues returns the values of a batch's records.
func recordValues(batch []byte) ([][]byte, error) {
	var out [][]byte
	err := records.ForEachRecord(batch, nil, func(rv records.RecordView) error {
		out = append(out, bytes.Clone(rv.Value))
		return nil
	})
	return out, err
}

// idempotentBatch builds a one-record batch of an idempotent producer.
func idempotentBatch(t *testing.T, pid int64, epoch int16, seq int32, value string) []byte {
	t.Helper()
	b, err := records.AppendBatch(nil, records.BatchOptions{Codec: records.CodecNone, BaseTimestamp: time.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq},
		[]records.Record{{Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplicationHighWatermarkVisibility writes a record at acks=1 while
// both followers are stopped: the leader has it, consumers do not see it
// (fetch, ListOffsets, read_committed), until the followers are back and
// have it too.
func TestReplicationHighWatermarkVisibility(t *testing.T) {
	c := startCluster(t, 3, nil)
	ctx := testCtx(t)
	c.createWithConfigs(1, "hv", nil, []int32{1, 2, 3})
	c.waitRole("hv", 0, 1, 0)
	all := c.client(1, kgo.DefaultProduceTopic("hv"))
	if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Killed, so that they stay in the ISR (a controlled shutdown leaves
	// it) and the lag time (30 s) is far away.
	c.crash(2)
	c.crash(3)
	one := c.client(1, kgo.DefaultProduceTopic("hv"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("second")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	leader := c.brokers[1]
	if leo := leader.lookupTopic("hv").partition(0).log.LogEndOffset(); leo != 2 {
		t.Fatalf("leader log end %d", leo)
	}
	for _, version := range []int16{4, 12, 16} {
		fp, _ := fetchFrom(t, leader, version, "hv", 0, -1)
		if fp.ErrorCode != 0 || fp.HighWatermark != 1 || fetchedOffsets(t, fp.RecordBatches) != 1 {
			t.Fatalf("fetch v%d: hw %d, records up to %d", version, fp.HighWatermark, fetchedOffsets(t, fp.RecordBatches))
		}
	}
	if lp := listOffsetsFrom(t, leader, "hv", 0, -1); lp.Offset != 1 {
		t.Fatalf("latest offset %d, want 1", lp.Offset)
	}
	c.start(2)
	c.start(3)
	checkFor(t, 30*time.Second, 5*time.Millisecond, func() error {
		if fp, _ := fetchFrom(t, leader, 12, "hv", 0, -1); fp.HighWatermark != 2 || fetchedOffsets(t, fp.RecordBatches) != 2 {
			return fmt.Errorf("hw %d", fp.HighWatermark)
		}
		return nil
	})
	c.waitIdentical("hv", 0, 1, 2, 3)
}

// TestReplicationRackAwareReads sets replica.selector.class to
// RackAwareReplicaSelector (KIP-392): the leader sends a consumer of
// another rack to the in-sync replica of its rack; that follower serves
// reads up to its high watermark, and a franz-go consumer with that rack
// consumes everything from it.
func TestReplicationRackAwareReads(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector"}, "a", "b", "c")
	ctx := testCtx(t)
	c.createWithConfigs(1, "rk", nil, []int32{1, 2, 3})
	c.waitRole("rk", 0, 1, 0)
	prod := c.client(1, kgo.DefaultProduceTopic("rk"))
	const n = 10
	for i := range n {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.waitIdentical("rk", 0, 1, 2, 3)
	c.waitAll(func(tb *testBroker) error {
		if hw := tb.lookupTopic("rk").partition(0).highWatermark(); hw != n {
			return fmt.Errorf("high watermark %d", hw)
		}
		return nil
	})
	rackFetch := func(tb *testBroker, version int16, rack string) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(version)
		req.ReplicaID, req.MaxBytes, req.SessionEpoch, req.Rack = -1, 1<<20, -1, rack
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 1<<20, 0
		rt := kmsg.FetchRequestTopic{Topic: "rk", Partitions: []kmsg.FetchRequestTopicPartition{rp}}
		if version >= 13 {
			rt.TopicID = tb.lookupTopic("rk").id
		}
		req.Topics = []kmsg.FetchRequestTopic{rt}
		return rawRequest(t, tb.dial(), 1, req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	}
	if fp := rackFetch(c.brokers[1], 11, "b"); fp.PreferredReadReplica != 2 || len(fp.RecordBatches) != 0 || fp.HighWatermark != n {
		t.Fatalf("consumer in rack b: %+v", fp)
	}
	if fp := rackFetch(c.brokers[1], 13, "c"); fp.PreferredReadReplica != 3 {
		t.Fatalf("consumer in rack c: %+v", fp)
	}
	for _, rack := range []string{"a", "z", ""} {
		if fp := rackFetch(c.brokers[1], 12, rack); fp.PreferredReadReplica != -1 || fetchedOffsets(t, fp.RecordBatches) != n {
			t.Fatalf("consumer in rack %q: preferred %d, records up to %d", rack, fp.PreferredReadReplica, fetchedOffsets(t, fp.RecordBatches))
		}
	}
	// The follower serves consumers from v11, not before.
	if fp := rackFetch(c.brokers[2], 12, "b"); fp.ErrorCode != 0 || fp.PreferredReadReplica != -1 || fetchedOffsets(t, fp.RecordBatches) != n || fp.HighWatermark != n {
		t.Fatalf("fetch from the follower: %+v", fp)
	}
	if fp := rackFetch(c.brokers[2], 10, "b"); fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch v10 from the follower: %+v", fp)
	}
	before := counterValue(t, c.brokers[2].metrics.bytesOut)
	cons := c.client(1, kgo.ConsumeTopics("rk"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Rack("b"))
	seen := 0
	for seen < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", seen, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		seen += fs.NumRecords()
	}
	if after := counterValue(t, c.brokers[2].metrics.bytesOut); after <= before {
		t.Fatalf("the follower in the consumer's rack served nothing (%v bytes out)", after)
	}
}

// TestReplicationHighWatermarkCheckpoint checks that a replica keeps its
// high watermark across a restart: the follower writes it to
// replication-offset-checkpoint when it closes and, restarted while its
// leader is down, serves consumers up to it at once.
func TestReplicationHighWatermarkCheckpoint(t *testing.T) {
	c := startCluster(t, 2, nil)
	ctx := testCtx(t)
	c.createWithConfigs(1, "ck", nil, []int32{1, 2})
	c.waitRole("ck", 0, 1, 0)
	prod := c.client(1, kgo.DefaultProduceTopic("ck"))
	for i := range 5 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c.waitAll(func(tb *testBroker) error {
		if hw := tb.lookupTopic("ck").partition(0).highWatermark(); hw != 5 {
			return fmt.Errorf("high watermark %d", hw)
		}
		return nil
	})
	c.stop(2)
	data, err := os.ReadFile(filepath.Join(c.dirs[2], hwCheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	hws, err := parseHWCheckpoint(data)
	if err != nil || hws["ck-0"] != 5 {
		t.Fatalf("checkpoint %q: %v %v", data, hws, err)
	}
	c.stop(1)
	tb := c.start(2)
	if hw := tb.lookupTopic("ck").partition(0).highWatermark(); hw != 5 {
		t.Fatalf("restarted follower's high watermark %d, want 5", hw)
	}
	if fp, _ := fetchFrom(t, tb, 12, "ck", 0, 0); fp.ErrorCode != 0 || fetchedOffsets(t, fp.RecordBatches) != 5 {
		t.Fatalf("fetch from the restarted follower: %+v", fp)
	}
}

func TestParseHWCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]int64
		ok   bool
	}{
		{"0\n0\n", map[string]int64{}, true},
		{"0\n2\na 0 5\nb.c 12 0\n", map[string]int64{"a-0": 5, "b.c-12": 0}, true},
		{"1\n0\n", nil, false},
		{"0\n2\na 0 5\n", nil, false},
		{"0\n1\na 0\n", nil, false},
		{"0\n1\na -1 5\n", nil, false},
		{"0\n1\na 0 -5\n", nil, false},
		{"0\n1\n 0 5\n", nil, false},
		{"", nil, false},
	} {
		got, err := parseHWCheckpoint([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && !maps.Equal(got, tc.want)) {
			t.Errorf("%q: %v %v", tc.in, got, err)
		}
	}
}

func FuzzParseHWCheckpoint(f *testing.F) {
	for _, s := range []string{"0\n0\n", "0\n2\na 0 5\nb 1 9\n", "0\n1\na 0", "0\n-1\n", "x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		hws, err := parseHWCheckpoint(data)
		if err != nil {
			return
		}
		for name, off := range hws {
			if off < 0 || name == "" {
				t.Fatalf("accepted %q: %v", data, hws)
			}
		}
	})
}

func FuzzParseResponseFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 7, 0}, true)
	f.Add([]byte{0, 0, 0, 7, 1, 3, 2, 9, 9, 0xaa}, true)
	f.Add([]byte{0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, 0x0f}, true)
	f.Add([]byte{0, 0, 0, 7, 1, 2, 3}, false)
	f.Add([]byte{0, 0}, false)
	f.Fuzz(func(t *testing.T, frame []byte, flexible bool) {
		body, err := parseResponseFrame(frame, 7, kmsg.Fetch.Int16(), flexible)
		if err != nil {
			return
		}
		if len(body) > len(frame)-4 {
			t.Fatalf("body of %d bytes from a frame of %d", len(body), len(frame))
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(12)
		_ = resp.ReadFrom(body) // must not panic
	})
}

// acksAllProduce sends one acks=all produce of a record to broker tb and
// returns the partition's answer; unlike produceTo it may run outside the
// test goroutine.
func acksAllProduce(tb *testBroker, topicName string, timeoutMs int32) (kmsg.ProduceResponseTopicPartition, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := dialBroker(ctx, tb.addr, peerSecurity{}, "test", 5*time.Second, tb.Versions, 1<<20)
	if err != nil {
		return kmsg.ProduceResponseTopicPartition{}, err
	}
	defer conn.close()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = -1, timeoutMs
	batch := records.BuildBatch(records.CodecNone, time.Now().UnixMilli(), []records.Record{{Value: []byte("v")}})
	req.Topics = []kmsg.ProduceRequestTopic{{Topic: topicName, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
	resp, err := conn.request(req, 60*time.Second)
	if err != nil {
		return kmsg.ProduceResponseTopicPartition{}, err
	}
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0], nil
}

// TestReplicationAcksAllOutcomes checks how an acks=all produce that
// waits for replication ends: REQUEST_TIMED_OUT after its timeout;
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrinks below
// min.insync.replicas meanwhile; NOT_ENOUGH_REPLICAS, with nothing
// appended, once it is below; NOT_LEADER_OR_FOLLOWER when leadership
// moves meanwhile, never success.
func TestReplicationAcksAllOutcomes(t *testing.T) {
	// The ISR changes below are the test's own: the crashed followers
	// must not also lag out of it on a slow machine.
	c := startCluster(t, 3, map[string]string{"replica.lag.time.max.ms": "600000"})
	ctx := testCtx(t)
	c.createWithConfigs(1, "ao", map[string]string{"min.insync.replicas": "2"}, []int32{1, 2, 3})
	c.waitRole("ao", 0, 1, 0)
	prod := c.client(1, kgo.DefaultProduceTopic("ao"))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.crash(2)
	c.crash(3)
	leader := c.brokers[1]
	p := leader.lookupTopic("ao").partition(0)

	sp, err := acksAllProduce(leader, "ao", 200)
	if err != nil || sp.ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("produce without replicas, 200 ms: %+v %v", sp, err)
	}
	if leo := p.log.LogEndOffset(); leo != 2 {
		t.Fatalf("log end %d after the timed out produce", leo)
	}

	waiting := func(leo int64) chan kmsg.ProduceResponseTopicPartition {
		ch := make(chan kmsg.ProduceResponseTopicPartition, 1)
		go func() {
			sp, err := acksAllProduce(leader, "ao", 30000)
			if err != nil {
				sp.ErrorCode = -100
			}
			ch <- sp
		}()
		checkFor(t, 20*time.Second, 2*time.Millisecond, func() error {
			if got := p.log.LogEndOffset(); got != leo {
				return fmt.Errorf("log end %d, want %d", got, leo)
			}
			return nil
		})
		return ch
	}
	res := waiting(3)
	c.setPartition("ao", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1})
	if sp := <-res; sp.ErrorCode != kerr.NotEnoughReplicasAfterAppend.Code {
		t.Fatalf("produce while the ISR shrank below min.insync.replicas: %+v", sp)
	}
	if sp, err := acksAllProduce(leader, "ao", 30000); err != nil || sp.ErrorCode != kerr.NotEnoughReplicas.Code {
		t.Fatalf("produce with the ISR below min.insync.replicas: %+v %v", sp, err)
	}
	if leo := p.log.LogEndOffset(); leo != 3 {
		t.Fatalf("log end %d: NOT_ENOUGH_REPLICAS appended", leo)
	}

	c.setPartition("ao", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1})
	res = waiting(4)
	c.setPartition("ao", 0, PartitionState{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2})
	if sp := <-res; sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.BaseOffset != -1 {
		t.Fatalf("produce while leadership moved: %+v", sp)
	}
}
