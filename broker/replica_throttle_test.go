package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/config"
)

// alterConfigs applies IncrementalAlterConfigs ops to one resource
// through adm and fails the test on any error.
func alterConfigs(t *testing.T, ctx context.Context, adm *kadm.Client, typ kmsg.ConfigResourceType, name string, ops ...kadm.AlterConfig) {
	t.Helper()
	var (
		resps kadm.AlterConfigsResponses
		err   error
	)
	if typ == kmsg.ConfigResourceTypeTopic {
		resps, err = adm.AlterTopicConfigs(ctx, ops, name)
	} else {
		resps, err = adm.AlterBrokerConfigs(ctx, ops, brokerIDOf(t, name)...)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resps {
		if r.Err != nil {
			t.Fatalf("alter %s: %v: %s", r.Name, r.Err, r.ErrMessage)
		}
	}
}

// brokerIDOf returns the broker ids a BROKER resource name stands for:
// none for the cluster default ("").
func brokerIDOf(t *testing.T, name string) []int32 {
	t.Helper()
	if name == "" {
		return nil
	}
	var id int32
	if _, err := fmt.Sscan(name, &id); err != nil {
		t.Fatal(err)
	}
	return []int32{id}
}

func setOp(name, value string) kadm.AlterConfig {
	return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: kadm.StringPtr(value)}
}

func deleteOp(name string) kadm.AlterConfig {
	return kadm.AlterConfig{Op: kadm.DeleteConfig, Name: name}
}

// TestReplicationThrottle is the acceptance test of replication
// throttling (KIP-73). A new replica copies a partition holding 8 MiB
// while the partition is throttled on its leader (leader side) and on
// the new replica (follower side) at 1 MiB/s: after a warm-up it copies,
// over 4 s, within 20% of 1 MiB/s. Meanwhile an in-sync replica of
// another partition, listed as throttled ("*") on both brokers, keeps
// up: an acks=all produce of 2 MiB to it completes faster than the
// throttle would allow, and its ISR never shrinks. Once the rates are
// removed, the new replica copies the rest several times faster and
// joins the ISR. The bytes show in the throttle metrics.
func TestReplicationThrottle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 10 s")
	}
	// Fetches of at most 128 KiB, held at most 100 ms, and a 100 ms
	// backoff: each decision of the throttle moves a small fraction of
	// a second's worth.
	c := startCluster(t, 2, map[string]string{
		config.ReplicaFetchMaxBytes:  "131072",
		config.ReplicaFetchWaitMaxMs: "100",
		config.ReplicaFetchBackoffMs: "100",
	})
	ctx := testCtx(t)
	c.createAssigned(1, "moving", []int32{1})
	c.createWithConfigs(1, "steady", map[string]string{
		config.LeaderReplicationThrottledReplicas:   "*",
		config.FollowerReplicationThrottledReplicas: "*",
	}, []int32{1, 2})
	c.waitISR("steady", 0, 1, 2)

	const total = 8 << 20
	w := c.client(1, kgo.DefaultProduceTopic("moving"), kgo.ProducerBatchMaxBytes(64<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	payload := randomBytes(1024)
	for range total / len(payload) {
		w.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	leaderLog := c.brokers[1].lookupTopic("moving").partition(0).log
	size := leaderLog.Size()

	const rate = 1 << 20
	adm := kadm.NewClient(c.client(1))
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "1", setOp(config.LeaderReplicationThrottledRate, fmt.Sprint(rate)))
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "2", setOp(config.FollowerReplicationThrottledRate, fmt.Sprint(rate)))
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeTopic, "moving",
		setOp(config.LeaderReplicationThrottledReplicas, "0:1"), setOp(config.FollowerReplicationThrottledReplicas, "0:2"))
	c.waitAll(func(tb *testBroker) error {
		tp := tb.lookupTopic("moving")
		switch tb.cfg.NodeID {
		case 1:
			if tb.replicas.throttles.leader.bound.Load() != rate || !tp.leaderThrottled(0) || tp.followerThrottled(0) {
				return errors.New("leader throttle not applied")
			}
		case 2:
			if tb.replicas.throttles.follower.bound.Load() != rate || !tp.followerThrottled(0) || tp.leaderThrottled(0) {
				return errors.New("follower throttle not applied")
			}
		}
		return nil
	})

	// Reassign the partition to 1,2: broker 2 starts copying it.
	c.setPartition("moving", 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, AddingReplicas: []int32{2}})
	var follower *partition
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if tp := c.brokers[2].lookupTopic("moving"); tp != nil {
			follower = tp.partition(0)
		}
		if follower == nil {
			return errors.New("broker 2 has no replica yet")
		}
		return nil
	})
	copied := func() int64 { return follower.log.Size() }
	// Warm-up: the quotas start without history and let the first
	// second's worth through at once.
	checkFor(t, 20*time.Second, 10*time.Millisecond, func() error {
		if n := copied(); n < 3<<19 {
			return fmt.Errorf("copied %d bytes", n)
		}
		return nil
	})
	start, from := time.Now(), copied()
	time.Sleep(4 * time.Second) // the measurement interval
	elapsed, to := time.Since(start), copied()
	got := float64(to-from) / elapsed.Seconds()
	t.Logf("throttled at %d B/s: copied %.0f B/s (%.2f of the rate)", rate, got, got/rate)
	if got < 0.8*rate || got > 1.2*rate {
		t.Fatalf("throttled replica copied %.0f B/s, want within 20%% of %d", got, rate)
	}
	if slices.Contains(c.isr("moving", 0), 2) {
		t.Fatal("the throttled replica joined the ISR before it copied the partition")
	}

	// The in-sync replica of a throttled partition is not held back.
	s := c.client(1, kgo.DefaultProduceTopic("steady"), kgo.ProducerBatchMaxBytes(256<<10), kgo.ProducerBatchCompression(kgo.NoCompression()))
	produced := time.Now()
	for range (2 << 20) / len(payload) {
		s.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(produced); d >= 2*time.Second {
		t.Fatalf("acks=all produce of 2 MiB to an in-sync partition took %v under a %d B/s throttle", d, rate)
	}
	if isr := c.isr("steady", 0); !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("steady ISR %v, want [1 2]", isr)
	}

	// Removing the rates lets the replica finish at full speed.
	sc1, sc2 := gatherScrape(t, c.brokers[1]), gatherScrape(t, c.brokers[2])
	if v := sc1.must(t, "skein_replica_leader_throttled_bytes_total"); v < float64(to) {
		t.Errorf("leader throttled bytes %v, want at least the %d copied", v, to)
	}
	if v := sc2.must(t, "skein_replica_follower_throttled_bytes_total"); v < float64(to) {
		t.Errorf("follower throttled bytes %v, want at least the %d copied", v, to)
	}
	if v := sc1.must(t, "skein_replica_leader_throttled_byte_rate"); v <= 0 {
		t.Errorf("leader throttled byte rate %v", v)
	}
	rest, freed := size-copied(), time.Now()
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "1", deleteOp(config.LeaderReplicationThrottledRate))
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "2", deleteOp(config.FollowerReplicationThrottledRate))
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if n := copied(); n < size {
			return fmt.Errorf("copied %d of %d bytes", n, size)
		}
		return nil
	})
	fast := float64(rest) / time.Since(freed).Seconds()
	t.Logf("without the throttle: the last %d bytes at %.0f B/s", rest, fast)
	if fast < 3*rate {
		t.Fatalf("unthrottled copy at %.0f B/s, want several times %d", fast, rate)
	}
	c.waitISR("moving", 0, 1, 2)
	if c.brokers[1].replicas.throttles.leader.bound.Load() != math.MaxInt64 {
		t.Fatal("leader rate still set after its removal")
	}
}

// TestReplicationThrottleConfigs checks the throttle configs through the
// admin APIs: the rates are dynamic broker configs, per broker and as
// the cluster default, with Kafka's default and bounds; the replica lists
// are topic configs refused with Kafka's message when malformed.
func TestReplicationThrottleConfigs(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if code, msg := tb.createTopic(ctx, "lists", 2, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	adm := tb.admin()

	rc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rc.On("1", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		config.LeaderReplicationThrottledRate:    "9223372036854775807",
		config.FollowerReplicationThrottledRate:  "9223372036854775807",
		config.ReplicationQuotaWindowNum:         "11",
		config.ReplicationQuotaWindowSizeSeconds: "1",
	}
	for _, c := range cfg.Configs {
		if v, ok := want[c.Key]; ok {
			if c.MaybeValue() != v || c.Source != kmsg.ConfigSourceDefaultConfig {
				t.Errorf("%s = %q (%v), want the default %s", c.Key, c.MaybeValue(), c.Source, v)
			}
			delete(want, c.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("not described: %v", want)
	}

	// The cluster default applies until the broker's own value is set.
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "", setOp(config.LeaderReplicationThrottledRate, "2000000"))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if v := tb.replicas.throttles.leader.bound.Load(); v != 2000000 {
			return fmt.Errorf("leader rate %d", v)
		}
		return nil
	})
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "1", setOp(config.LeaderReplicationThrottledRate, "3000000"), setOp(config.FollowerReplicationThrottledRate, "0"))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if l, f := tb.replicas.throttles.leader.bound.Load(), tb.replicas.throttles.follower.bound.Load(); l != 3000000 || f != 0 {
			return fmt.Errorf("rates %d %d", l, f)
		}
		return nil
	})

	// Kafka's bounds and static configs.
	for _, tc := range []struct {
		op   kadm.AlterConfig
		code int16
		msg  string
	}{
		{setOp(config.LeaderReplicationThrottledRate, "-1"), kerr.InvalidConfig.Code, "Invalid value -1 for configuration leader.replication.throttled.rate: Value must be at least 0"},
		{setOp(config.FollowerReplicationThrottledRate, "fast"), kerr.InvalidConfig.Code, "Invalid value fast for configuration follower.replication.throttled.rate: Not a number of type LONG"},
		{setOp(config.ReplicationQuotaWindowNum, "5"), kerr.InvalidConfig.Code, "Cannot update these configs dynamically: Set(replication.quota.window.num)"},
	} {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{tc.op}, 1)
		if err != nil {
			t.Fatal(err)
		}
		r := resps[0]
		if r.Err == nil || !errors.Is(r.Err, kerr.ErrorForCode(tc.code)) || !strings.Contains(r.ErrMessage, tc.msg) {
			t.Errorf("%s=%s: %v %q, want %v containing %q", tc.op.Name, *tc.op.Value, r.Err, r.ErrMessage, kerr.ErrorForCode(tc.code), tc.msg)
		}
	}

	// The replica lists: valid forms are taken and applied for this
	// broker only; a malformed one is refused with Kafka's message.
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeTopic, "lists",
		setOp(config.LeaderReplicationThrottledReplicas, "0:1, 1:2"), setOp(config.FollowerReplicationThrottledReplicas, "*"))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		tp := tb.lookupTopic("lists")
		if !tp.leaderThrottled(0) || tp.leaderThrottled(1) || !tp.followerThrottled(0) || !tp.followerThrottled(1) {
			return errors.New("throttled replicas not applied")
		}
		return nil
	})
	for _, tc := range []struct{ name, value, msg string }{
		{config.LeaderReplicationThrottledReplicas, "0:1,x", "Invalid value [0:1, x] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{config.FollowerReplicationThrottledReplicas, "*,0:1", "Invalid value [*, 0:1] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{config.FollowerReplicationThrottledReplicas, "1:-2", "Invalid value [1:-2] for configuration follower.replication.throttled.replicas"},
	} {
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{setOp(tc.name, tc.value)}, "lists")
		if err != nil {
			t.Fatal(err)
		}
		if r := resps[0]; !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, tc.msg) {
			t.Errorf("%s=%s: %v %q, want INVALID_CONFIG %q", tc.name, tc.value, r.Err, r.ErrMessage, tc.msg)
		}
	}
	// Removing a list lifts the throttle.
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeTopic, "lists", deleteOp(config.FollowerReplicationThrottledReplicas))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if tb.lookupTopic("lists").followerThrottled(0) {
			return errors.New("follower throttle still applied")
		}
		return nil
	})
}

// TestReplicationQuotaRate checks the quota measure on an injected clock:
// within the bound it is not exceeded, above it it is until the window
// has stretched enough, and without a bound it never is.
func TestReplicationQuotaRate(t *testing.T) {
	q := newReplicationQuota(11, 1000)
	if q.exceeded(0) {
		t.Fatal("no bound: exceeded")
	}
	q.bound.Store(1000)
	q.record(1000, 0)
	if q.exceeded(0) {
		t.Fatal("1000 B in the first window of a 1000 B/s quota: exceeded")
	}
	q.record(1000, 10)
	if !q.exceeded(10) {
		t.Fatal("2000 B in 1 s against 1000 B/s: not exceeded")
	}
	if q.exceeded(2000) {
		t.Fatal("2000 B over 2 s against 1000 B/s: still exceeded")
	}
	q.bound.Store(math.MaxInt64)
	q.record(1<<30, 2000)
	if q.exceeded(2000) {
		t.Fatal("no bound: exceeded")
	}
}

// TestThrottledPartitions checks how a throttled-replicas list is read
// for one broker, as Kafka's parseThrottledPartitions.
func TestThrottledPartitions(t *testing.T) {
	for _, tc := range []struct {
		items []string
		all   bool
		parts []int32
	}{
		{nil, false, nil},
		{[]string{"*"}, true, nil},
		{[]string{"0:1", "1:2", "2:1"}, false, []int32{0, 2}},
		{[]string{" 3:1 ", ""}, false, []int32{3}},
		{[]string{"0:2"}, false, nil},
	} {
		s := newThrottledSet(tc.items, 1)
		if s.all != tc.all || !slices.Equal(s.parts, tc.parts) {
			t.Errorf("%q: all %v parts %v, want %v %v", tc.items, s.all, s.parts, tc.all, tc.parts)
		}
	}
	if s := newThrottledSet([]string{"*"}, 7); !s.has(41) {
		t.Error("* does not throttle every partition")
	}
}

// TestReplicationThrottleDecisions checks who is held back, on a clock
// the quotas cannot leave: on the leader, a throttled partition's
// follower out of the ISR while the leader rate is exceeded, never one
// in the ISR, nor one of a partition not listed, nor any once the rate
// is back under the bound; on the follower, a throttled partition not in
// sync while the follower rate is exceeded.
func TestReplicationThrottleDecisions(t *testing.T) {
	c := startCluster(t, 1, nil)
	ctx := testCtx(t)
	c.createAssigned(1, "held", []int32{1}, []int32{1})
	adm := kadm.NewClient(c.client(1))
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "1", setOp(config.LeaderReplicationThrottledRate, "1000"), setOp(config.FollowerReplicationThrottledRate, "1000"))
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeTopic, "held", setOp(config.LeaderReplicationThrottledReplicas, "0:1"), setOp(config.FollowerReplicationThrottledReplicas, "0:1"))
	tb := c.brokers[1]
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !tb.lookupTopic("held").leaderThrottled(0) || tb.replicas.throttles.leader.bound.Load() != 1000 || tb.replicas.throttles.follower.bound.Load() != 1000 {
			return errors.New("throttle not applied")
		}
		return nil
	})
	// Broker 2 is a replica the metadata names but that never fetches:
	// the ISR stays as set.
	c.setPartition("held", 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1})
	c.setPartition("held", 1, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1})
	p0, p1 := tb.lookupTopic("held").partition(0), tb.lookupTopic("held").partition(1)
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if !slices.Equal(p0.currentRole().state.Replicas, []int32{1, 2}) || !slices.Equal(p1.currentRole().state.Replicas, []int32{1, 2}) {
			return errors.New("replicas not applied")
		}
		return nil
	})
	lq := tb.replicas.throttles.leader
	if p0.shouldLeaderThrottle(2) {
		t.Fatal("held back with nothing recorded")
	}
	lq.record(5000, tb.replicas.nowMs())
	if !p0.shouldLeaderThrottle(2) {
		t.Fatal("follower out of the ISR not held back over the leader rate")
	}
	if p1.shouldLeaderThrottle(2) {
		t.Fatal("partition not in the leader list held back")
	}
	c.setPartition("held", 0, PartitionState{Replicas: []int32{1, 2}, ISR: []int32{1, 2}, Leader: 1})
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if len(p0.currentRole().state.ISR) != 2 {
			return errors.New("ISR not applied")
		}
		return nil
	})
	if p0.shouldLeaderThrottle(2) {
		t.Fatal("in-sync follower held back")
	}

	// Follower side, on the fetcher's view of the partition.
	f := &replicaFetcher{rm: tb.replicas}
	tb.replicas.throttles.follower.record(5000, tb.replicas.nowMs())
	for _, tc := range []struct {
		p    *partition
		t    fetchTarget
		want bool
	}{
		{p0, fetchTarget{}, true},                         // no fetch yet: not in sync
		{p0, fetchTarget{lag: 10, lagKnown: true}, true},  // behind
		{p0, fetchTarget{lag: 0, lagKnown: true}, false},  // in sync
		{p1, fetchTarget{lag: 10, lagKnown: true}, false}, // not in the follower list
	} {
		if got := f.shouldFollowerThrottleLocked(tc.p, &tc.t); got != tc.want {
			t.Errorf("partition %d, %+v: held back %v, want %v", tc.p.index, tc.t, got, tc.want)
		}
	}
	alterConfigs(t, ctx, adm, kmsg.ConfigResourceTypeBroker, "1", deleteOp(config.FollowerReplicationThrottledRate))
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		if f.shouldFollowerThrottleLocked(p0, &fetchTarget{}) {
			return errors.New("held back without a rate")
		}
		return nil
	})
}
