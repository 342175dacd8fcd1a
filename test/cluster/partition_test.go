package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

const (
	npTopic      = "netsplit"
	npPartitions = 3
	// npPinnedPrefix marks the values the client pinned to the isolated
	// leader writes: none of them may ever be in the log.
	npPinnedPrefix = "pinned-to-isolated-leader"
)

// TestNetworkPartition cuts the leader of partition 0 off from the other
// two nodes and from the clients, without stopping it, through the
// harness's fault-injecting proxies (every connection between nodes and
// every client connection goes through them). Idempotent acks=all
// producers keep writing through the majority side, and a client pinned
// to the isolated node (through a proxy that is never cut) keeps sending
// acks=all Produce requests to it.
//
// It shows:
//   - the majority side elects a new leader for partition 0 and keeps
//     acknowledging writes;
//   - no split brain: every Produce the pinned client sends to the
//     isolated old leader fails or times out, none succeeds, and none of
//     its records is ever in the log; no offset is acknowledged twice;
//   - after the network heals the old leader gives up its stale
//     leadership, truncates what it could not commit, and rejoins the
//     ISR;
//   - no acknowledged record is lost, the ISR's logs are byte-identical
//     up to the high watermark, and the tail consumer saw no gap
//     (VerifyTopic).
func TestNetworkPartition(t *testing.T) {
	longTest(t)
	c := startCluster(t, clustertest.Options{Nodes: 3, Proxy: true})
	clustertest.CreateTopic(c, npTopic, npPartitions, 3, map[string]string{"min.insync.replicas": "2"})
	c.WaitFullISR(time.Minute, npTopic, npPartitions)

	ledger := clustertest.NewLedger(npTopic, npPartitions, "netsplit")
	tail := clustertest.StartTail(c, npTopic, npPartitions)
	prods := clustertest.StartProducers(c, ledger, 1, 2, 10*time.Millisecond)
	waitAcks(t, c, ledger, time.Now().Add(-time.Hour), 50, time.Minute)

	before := c.WaitLeader(time.Minute, npTopic, 0, -1)
	x := c.Node(before.Leader)
	var majority []*clustertest.Node
	var others []int32
	for _, n := range c.Nodes() {
		if n.ID != x.ID {
			majority = append(majority, n)
			others = append(others, n.ID)
		}
	}
	quorumLeader := c.QuorumLeader(time.Minute)
	t.Logf("isolating node %d (leader of %s-0 at epoch %d; quorum leader is node %d) from nodes %v and the clients",
		x.ID, npTopic, before.LeaderEpoch, quorumLeader.ID, others)

	pinned := newPinnedProducer(t, x, npTopic, 0)
	cutAt := time.Now()
	c.Net.Isolate(x.ID, others...)
	// From the cut on, the isolated node, asked by the pinned client,
	// may believe it leads: its acks=all writes must never succeed,
	// neither before the majority elects a new leader nor after. Keep
	// sending while the majority acknowledges writes.
	pinnedDone := make(chan struct{})
	var pinnedWG sync.WaitGroup
	var stopPinned sync.Once
	stopPinnedFn := func() {
		stopPinned.Do(func() { close(pinnedDone) })
		pinnedWG.Wait()
	}
	t.Cleanup(stopPinnedFn)
	pinnedWG.Add(1)
	go func() {
		defer pinnedWG.Done()
		pinned.run(pinnedDone)
	}()

	// The majority elects a new leader of partition 0.
	var after clustertest.PartitionInfo
	c.PollUntil(time.Minute, "a new leader of partition 0 on the majority side", func() error {
		p, err := c.AgreedOn(majority, npTopic, 0)
		if err != nil {
			return err
		}
		if p.Leader < 0 || p.Leader == x.ID {
			return fmt.Errorf("majority sees %v", p)
		}
		if p.InISR(x.ID) {
			return fmt.Errorf("majority sees %v: the isolated node is still in the ISR", p)
		}
		after = p
		return nil
	})
	electedIn := time.Since(cutAt)

	waitAcks(t, c, ledger, cutAt, 1, time.Minute)
	firstAck, _ := ledger.FirstAckAfter(0, cutAt)
	waitAcks(t, c, ledger, cutAt, 300, 2*time.Minute)
	c.PollUntil(time.Minute, "pinned produce requests answered", func() error {
		if n := pinned.answered(); n < 5 {
			return fmt.Errorf("%d pinned requests answered", n)
		}
		return nil
	})
	// What the isolated node says about itself, for the log.
	xview, xerr := x.Partition(context.Background(), npTopic, 0)
	stopPinnedFn()
	t.Logf("cut at %s: new leader %d (epoch %d) after %v, first acknowledged write after %v; the isolated node's own view: %v (err %v); pinned client: %s",
		cutAt.Format("15:04:05.000"), after.Leader, after.LeaderEpoch, electedIn.Round(time.Millisecond), firstAck.Round(time.Millisecond), xview, xerr, pinned.summary())
	if n := pinned.successes(); n > 0 {
		t.Errorf("split brain: the isolated old leader acknowledged %d acks=all Produce requests: %v", n, pinned.successLog())
	}
	if pinned.answered() == 0 {
		t.Errorf("the pinned client got no answer at all from the isolated node")
	}

	// Heal: the old leader learns the new epoch, truncates, and rejoins.
	healAt := time.Now()
	c.Net.Heal()
	c.WaitFullISR(2*time.Minute, npTopic, npPartitions)
	t.Logf("healed at %s: node %d back in the ISR of every partition after %v", healAt.Format("15:04:05.000"), x.ID, time.Since(healAt).Round(time.Millisecond))
	waitAcks(t, c, ledger, time.Now(), 50, time.Minute)

	prods.Stop(time.Minute)
	produced, acked, failed, pending := ledger.Counts()
	t.Logf("produced %d records: %d acknowledged, %d failed, %d pending; failures: %s", produced, acked, failed, pending, ledger.Errors())
	if pending != 0 {
		t.Errorf("%d records neither acknowledged nor failed after the producers stopped", pending)
	}
	if n := prods.DataLoss.Load(); n > 0 {
		t.Errorf("the producers detected data loss %d times: %v", n, prods.DataLossLog())
	}
	// VerifyTopic reports any value the producers did not make: the
	// pinned client's records must not be in the log.
	clustertest.VerifyTopic(c, ledger, clustertest.VerifyOptions{Tail: tail})
}

// pinnedProducer sends acks=all Produce requests for one partition to one
// node only, through the node's back door, one at a time, and records the
// outcome of each.
type pinnedProducer struct {
	t         *testing.T
	cl        *kgo.Client
	topic     string
	topicID   [16]byte
	partition int32

	mu       sync.Mutex
	outcomes map[string]int
	succ     []string
	n        int
}

func newPinnedProducer(t *testing.T, n *clustertest.Node, topic string, partition int32) *pinnedProducer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.BackdoorAddr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	p := &pinnedProducer{t: t, cl: cl, topic: topic, partition: partition, outcomes: map[string]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := n.Metadata(ctx, topic)
	if err != nil || len(m.Topics) != 1 {
		t.Fatalf("metadata of %s from node %d: %v", topic, n.ID, err)
	}
	p.topicID = m.Topics[0].TopicID
	return p
}

func (p *pinnedProducer) run(done <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-done:
			return
		default:
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 2000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = p.topic
		rt.TopicID = p.topicID
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p.partition
		rp.Records = pinnedBatch(fmt.Sprintf("%s %d", npPinnedPrefix, i))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		resp, err := p.cl.SeedBrokers()[0].Request(ctx, req)
		cancel()
		outcome := ""
		switch {
		case err != nil:
			outcome = "request error: " + err.Error()
			if errors.Is(err, context.DeadlineExceeded) {
				outcome = "no answer within 5s"
			}
		default:
			r := resp.(*kmsg.ProduceResponse)
			if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
				outcome = "malformed response"
				break
			}
			pr := r.Topics[0].Partitions[0]
			if pr.ErrorCode == 0 {
				p.mu.Lock()
				p.succ = append(p.succ, fmt.Sprintf("request %d acknowledged at offset %d after %v", i, pr.BaseOffset, time.Since(start).Round(time.Millisecond)))
				p.mu.Unlock()
				outcome = "SUCCESS"
			} else {
				outcome = kerr.ErrorForCode(pr.ErrorCode).Error()
			}
		}
		p.mu.Lock()
		p.outcomes[outcome]++
		p.n++
		p.mu.Unlock()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			// Connection-level failure: do not spin.
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func (p *pinnedProducer) answered() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *pinnedProducer) successes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.succ)
}

func (p *pinnedProducer) successLog() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.succ)
}

func (p *pinnedProducer) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := make([]string, 0, len(p.outcomes))
	for k := range p.outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := fmt.Sprintf("%d requests:", p.n)
	for _, k := range keys {
		s += fmt.Sprintf(" %d× %s;", p.outcomes[k], k)
	}
	return s
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// pinnedBatch builds an uncompressed record batch (magic 2, no producer
// id) holding one value, with a correct length and CRC.
func pinnedBatch(value string) []byte {
	r := kmsg.Record{Value: []byte(value)}
	body := r.AppendTo(nil)[1:] // drop the zero length varint
	recs := kbin.AppendVarint(nil, int32(len(body)))
	recs = append(recs, body...)
	now := time.Now().UnixMilli()
	b := (&kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		FirstTimestamp:       now,
		MaxTimestamp:         now,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              recs,
	}).AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}
