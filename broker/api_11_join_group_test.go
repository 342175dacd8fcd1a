package broker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// checkFor polls cond every poll until it holds or total passes.
func checkFor(t testing.TB, total, poll time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(poll)
	}
}

// groupTracker records which offsets group members processed.
type groupTracker struct {
	mu     sync.Mutex
	seen   map[int32]map[int64]int
	unique int
}

func (gt *groupTracker) add(r *kgo.Record) {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	m := gt.seen[r.Partition]
	if m == nil {
		m = map[int64]int{}
		gt.seen[r.Partition] = m
	}
	if m[r.Offset] == 0 {
		gt.unique++
	}
	m[r.Offset]++
}

func (gt *groupTracker) count() int {
	gt.mu.Lock()
	defer gt.mu.Unlock()
	return gt.unique
}

// groupMember is one consumer of the group test, run until stopped.
type groupMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startGroupMember(t *testing.T, tb *testBroker, group, topic string, balancer kgo.GroupBalancer, gt *groupTracker, extra ...kgo.Opt) *groupMember {
	t.Helper()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(tb.addr),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.Balancers(balancer),
		kgo.DisableAutoCommit(),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(10 * time.Second),
		kgo.FetchMaxBytes(64 << 10),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			cl.CommitUncommittedOffsets(ctx)
		}),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(gt.add)
			if ctx.Err() == nil {
				cl.CommitUncommittedOffsets(ctx)
			}
		}
	}()
	return m
}

// stop ends the member's poll loop and closes its client, which commits
// and leaves the group.
func (m *groupMember) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

// TestClusterGroupConsume checks classic group consumption end to end with
// franz-go, eager (range) and cooperative (cooperative-sticky): members
// join and leave while 100,000 records of a 6-partition topic are consumed.
// Every record must be processed, and a record processed twice must lie at
// or after the offset committed for its partition when a member left.
func TestClusterGroupConsume(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"eager-range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
			ctx := testCtx(t)
			const topic, group, total = "events", "g", 100000
			if _, err := tb.admin().CreateTopic(ctx, 6, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			produceN(t, tb, topic, total)
			gt := &groupTracker{seen: map[int32]map[int64]int{}}
			leaveCommits := map[int32]int64{} // lowest committed offset at a leave
			recordLeave := func() {
				offs, err := tb.admin().FetchOffsets(ctx, group)
				if err != nil {
					t.Fatal(err)
				}
				for p := int32(0); p < 6; p++ {
					o := int64(0)
					if r, ok := offs.Lookup(topic, p); ok {
						o = r.At
					}
					if cur, ok := leaveCommits[p]; !ok || o < cur {
						leaveCommits[p] = o
					}
				}
			}
			waitFor := func(n int) {
				checkFor(t, 30*time.Second, 5*time.Millisecond, func() error {
					if c := gt.count(); c < n {
						return fmt.Errorf("%d records processed, want %d", c, n)
					}
					return nil
				})
			}
			a := startGroupMember(t, tb, group, topic, tc.balancer, gt)
			waitFor(15000)
			b := startGroupMember(t, tb, group, topic, tc.balancer, gt)
			waitFor(35000)
			c := startGroupMember(t, tb, group, topic, tc.balancer, gt)
			waitFor(55000)
			a.stop()
			recordLeave()
			waitFor(75000)
			b.stop()
			recordLeave()
			waitFor(total)
			c.stop()

			gt.mu.Lock()
			defer gt.mu.Unlock()
			for p, m := range gt.seen {
				for off, n := range m {
					if n > 1 && off < leaveCommits[p] {
						t.Errorf("partition %d offset %d processed %d times, below the offset %d committed when a member left", p, off, n, leaveCommits[p])
					}
				}
			}
			if gt.unique != total {
				t.Fatalf("%d distinct records processed, want %d", gt.unique, total)
			}
			offs, err := tb.admin().FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			sum := int64(0)
			offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
			if sum != total {
				t.Fatalf("committed offsets sum to %d, want %d", sum, total)
			}
		})
	}
}

// produceN produces n small records round-robin over the topic's
// partitions.
func produceN(t *testing.T, tb *testBroker, topic string, n int) {
	t.Helper()
	cl := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// TestClusterGroupStaticMember checks KIP-345 end to end: a static member
// that restarts within its session timeout gets its partitions back
// without a rebalance, so the generation DescribeGroups reports does not
// change.
func TestClusterGroupStaticMember(t *testing.T) {
	tb := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, nil, "st"); err != nil {
		t.Fatal(err)
	}
	produceN(t, tb, "st", 100)
	gt := &groupTracker{seen: map[int32]map[int64]int{}}
	m := startGroupMember(t, tb, "sg", "st", kgo.RangeBalancer(), gt, kgo.InstanceID("instance-1"))
	describe := func() kadm.DescribedGroup {
		d, err := tb.admin().DescribeGroups(ctx, "sg")
		if err != nil {
			t.Fatal(err)
		}
		return d["sg"]
	}
	var gen int32
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		d := describe()
		if d.State != "Stable" || len(d.Members) != 1 || gt.count() < 100 {
			return fmt.Errorf("state %s, %d members, %d records", d.State, len(d.Members), gt.count())
		}
		gen = generationOf(t, tb, "sg")
		return nil
	})
	m.stop()
	m = startGroupMember(t, tb, "sg", "st", kgo.RangeBalancer(), gt, kgo.InstanceID("instance-1"))
	defer m.stop()
	produceN(t, tb, "st", 100)
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if gt.count() < 200 {
			return fmt.Errorf("%d records", gt.count())
		}
		return nil
	})
	if d := describe(); d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("state %s with %d members after restart", d.State, len(d.Members))
	}
	if got := generationOf(t, tb, "sg"); got != gen {
		t.Fatalf("generation %d after a static restart, want %d", got, gen)
	}
}

// generationOf reads a group's generation from the coordinator.
func generationOf(t *testing.T, tb *testBroker, group string) int32 {
	t.Helper()
	tb.groups.Tick(tb.now())
	return tb.groups.Generation(group)
}

// TestClusterOffsetsSurviveRestart checks that committed offsets and group
// deletions are replayed from __consumer_offsets after a restart.
func TestClusterOffsetsSurviveRestart(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 3, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	for p := int32(0); p < 3; p++ {
		offs.Add(kadm.Offset{Topic: "t", Partition: p, At: int64(10 * (p + 1)), LeaderEpoch: -1, Metadata: "m" + strconv.Itoa(int(p))})
	}
	for _, g := range []string{"keep", "drop"} {
		if err := tb.admin().CommitAllOffsets(ctx, g, offs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tb.admin().DeleteGroup(ctx, "drop"); err != nil {
		t.Fatal(err)
	}
	tb = tb.restart()
	got, err := tb.admin().FetchOffsets(ctx, "keep")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		o, ok := got.Lookup("t", p)
		if !ok || o.At != int64(10*(p+1)) || o.Metadata != "m"+strconv.Itoa(int(p)) {
			t.Fatalf("partition %d: %+v after restart", p, o)
		}
	}
	gone, err := tb.admin().FetchOffsets(ctx, "drop")
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 0 {
		t.Fatalf("deleted group has offsets after restart: %v", gone)
	}
	md, err := tb.admin().Metadata(ctx, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if td := md.Topics[offsetsTopic]; !td.IsInternal || len(td.Partitions) != 50 {
		t.Fatalf("__consumer_offsets internal=%v partitions=%d", td.IsInternal, len(td.Partitions))
	}
}
