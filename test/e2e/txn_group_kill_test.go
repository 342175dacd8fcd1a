package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKillDuringOpenTransaction SIGKILLs the broker while a transactional
// producer has a transaction open with data in the log. After the restart
// the open transaction holds the last stable offset back until the
// coordinator aborts it on its timeout; read_committed consumers never see
// its records, only those of the committed transaction before it; and the
// transactional id is usable again.
func TestKillDuringOpenTransaction(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--set", "transaction.abort.timed.out.transaction.cleanup.interval.ms=200"}
	sp := startSkein(t, dir, 0, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "txn-crash"
	adm := kadm.NewClient(newClient(t, sp.addr))
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := newClient(t, sp.addr, kgo.TransactionalID("crash-tx"), kgo.TransactionTimeout(2*time.Second), kgo.DefaultProduceTopic(topic))
	produceTxn := func(prefix string, n int, commit bool) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := prod.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s-%d", prefix, i))).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
				t.Fatal(err)
			}
		}
	}
	produceTxn("committed", 100, true)
	produceTxn("open", 100, false)
	sp.kill()
	prod.Close()

	sp = startSkein(t, dir, sp.port, args...)
	adm = kadm.NewClient(newClient(t, sp.addr))
	// The last stable offset advances again once the coordinator has
	// aborted the transaction the crash left open.
	checkFor(t, time.Minute, 50*time.Millisecond, func() error {
		lso, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			return err
		}
		hw, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		var behind []string
		hw.Each(func(o kadm.ListedOffset) {
			if l, _ := lso.Lookup(o.Topic, o.Partition); l.Offset != o.Offset {
				behind = append(behind, fmt.Sprintf("p%d lso %d hw %d", o.Partition, l.Offset, o.Offset))
			}
		})
		if len(behind) > 0 {
			return fmt.Errorf("last stable offset behind: %s", strings.Join(behind, ", "))
		}
		return nil
	})
	seen := readCommitted(t, ctx, sp.addr, topic)
	if len(seen) != 100 {
		t.Fatalf("read_committed saw %d records, want the 100 committed", len(seen))
	}
	for v := range seen {
		if !strings.HasPrefix(v, "committed-") {
			t.Fatalf("read_committed saw %q from the aborted transaction", v)
		}
	}
	// The transactional id works again, fencing the crashed producer's
	// epoch.
	prod = newClient(t, sp.addr, kgo.TransactionalID("crash-tx"), kgo.TransactionTimeout(2*time.Second), kgo.DefaultProduceTopic(topic))
	produceTxn("after", 50, true)
	if seen := readCommitted(t, ctx, sp.addr, topic); len(seen) != 150 {
		t.Fatalf("read_committed saw %d records after the new transaction, want 150", len(seen))
	}
}

// readCommitted reads a topic from the beginning with a read_committed
// consumer and returns the values seen. To know it has seen everything
// without waiting on time, it first writes a sentinel record to every
// partition and reads until each sentinel arrives: every committed record
// precedes it.
func readCommitted(t *testing.T, ctx context.Context, addr, topic string) map[string]bool {
	t.Helper()
	sentinel := fmt.Sprintf("sentinel-%d", time.Now().UnixNano())
	prod := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	td, err := kadm.NewClient(prod).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	parts := len(td[topic].Partitions)
	for p := 0; p < parts; p++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]bool{}
	for sentinels := 0; sentinels < parts; {
		fs := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (%d sentinels of %d)", topic, ctx.Err(), sentinels, parts)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			switch {
			case v == sentinel:
				sentinels++
			case strings.HasPrefix(v, "sentinel-"):
			case seen[v]:
				t.Fatalf("record %q read twice", v)
			default:
				seen[v] = true
			}
		})
	}
	return seen
}

// newClient returns a franz-go client for addr, closed when the test ends.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestKillDuringGroupConsumption SIGKILLs the broker while a group
// consumer is committing as it goes. After the restart the committed
// offsets are all there, the same consumer rejoins the group and finishes,
// every record is processed, and records are processed twice only at or
// after the offset last committed before the kill.
func TestKillDuringGroupConsumption(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--set", "group.initial.rebalance.delay.ms=0"}
	sp := startSkein(t, dir, 0, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, group, n, parts = "group-crash", "crash-group", 4000, 4
	prod := newClient(t, sp.addr, kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if _, err := kadm.NewClient(prod).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, kgo.StringRecord(fmt.Sprintf("r%d", i)))
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := newClient(t, sp.addr, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(4<<10))
	adm := kadm.NewClient(newClient(t, sp.addr))
	processed := map[string]int{}
	offsets := map[int32][]int64{}
	var committedAtKill map[int32]int64
	killed := false
	for len(processed) < n {
		fs := cons.PollRecords(ctx, 200)
		if ctx.Err() != nil {
			t.Fatalf("processed %d of %d: %v", len(processed), n, ctx.Err())
		}
		var batch []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			processed[string(r.Value)]++
			offsets[r.Partition] = append(offsets[r.Partition], r.Offset)
			batch = append(batch, r)
		})
		if len(batch) == 0 {
			continue
		}
		// Commit what was processed; while the broker restarts a commit
		// may fail, and the records after the last good commit are then
		// processed again.
		if err := cons.CommitRecords(ctx, batch...); err != nil {
			t.Logf("commit failed (broker restarting): %v", err)
		}
		if !killed && len(processed) >= n/2 {
			fo, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			committedAtKill = map[int32]int64{}
			fo.Each(func(o kadm.OffsetResponse) { committedAtKill[o.Partition] = o.At })
			sp.kill()
			sp = startSkein(t, dir, sp.port, args...)
			killed = true
			// Committed offsets survived the crash.
			fo, err = kadm.NewClient(newClient(t, sp.addr)).FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			for p, at := range committedAtKill {
				if got, ok := fo.Lookup(topic, p); !ok || got.At < at {
					t.Fatalf("partition %d: committed offset %d after restart, %d before", p, got.At, at)
				}
			}
		}
	}
	if !killed {
		t.Fatal("the broker was never killed")
	}
	for i := 0; i < n; i++ {
		if processed[fmt.Sprintf("r%d", i)] == 0 {
			t.Fatalf("record r%d never processed", i)
		}
	}
	// Reprocessed offsets lie at or after the commit made before the kill.
	for p, offs := range offsets {
		count := map[int64]int{}
		for _, o := range offs {
			count[o]++
			if count[o] > 1 && o < committedAtKill[p] {
				t.Fatalf("partition %d offset %d processed again although committed (%d) before the kill", p, o, committedAtKill[p])
			}
		}
	}
	// The consumer is a member of the recovered group.
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		dg, err := kadm.NewClient(newClient(t, sp.addr)).DescribeGroups(ctx, group)
		if err != nil {
			return err
		}
		g := dg[group]
		if g.State != "Stable" || len(g.Members) != 1 {
			return fmt.Errorf("group %s with %d members", g.State, len(g.Members))
		}
		return nil
	})
}
