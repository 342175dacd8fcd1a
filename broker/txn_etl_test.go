package broker

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupTransactSessionMembersJoinAndLeave runs an exactly-once ETL with
// franz-go's GroupTransactSession over 3 partitions while members come and
// go: one session starts, a second and a third join part-way, and the
// first leaves. Rebalances abort the transactions in flight. At the end the
// read_committed output holds exactly one copy of every input record and
// the group's committed offsets are the input's end offsets.
func TestGroupTransactSessionMembersJoinAndLeave(t *testing.T) {
	tb := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	ctx := testCtx(t)
	adm := tb.admin()
	for _, topic := range []string{"etl-in", "etl-out"} {
		if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	const n = 3000
	plain := tb.client(kgo.DefaultProduceTopic("etl-in"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < n; i += 100 {
		var recs []*kgo.Record
		for j := i; j < i+100; j++ {
			recs = append(recs, &kgo.Record{Partition: int32(j % 3), Value: []byte("in-" + strconv.Itoa(j))})
		}
		if err := plain.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	progress := make(chan struct{}, 1024)
	run := func(name string, stop context.Context, wg *sync.WaitGroup) {
		defer wg.Done()
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(tb.addr),
			kgo.TransactionalID("etl-"+name),
			kgo.ConsumerGroup("etl-members"),
			kgo.ConsumeTopics("etl-in"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.FetchMaxPartitionBytes(2<<10),
		)
		if err != nil {
			t.Error(err)
			return
		}
		defer sess.Close()
		for stop.Err() == nil {
			pollCtx, cancel := context.WithTimeout(stop, 500*time.Millisecond)
			fs := sess.PollRecords(pollCtx, 50)
			cancel()
			if fs.Empty() {
				continue
			}
			if err := sess.Begin(); err != nil {
				t.Error(err)
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Topic: "etl-out", Partition: r.Partition, Value: append([]byte("out-"), r.Value...)}, nil)
			})
			if _, err := sess.End(ctx, kgo.TryCommit); err != nil {
				t.Logf("%s: end transaction: %v", name, err)
			}
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}
	waitProgress := func(k int) {
		t.Helper()
		for i := 0; i < k; i++ {
			select {
			case <-progress:
			case <-ctx.Done():
				t.Fatal("no progress")
			}
		}
	}
	var wg sync.WaitGroup
	stopA, cancelA := context.WithCancel(ctx)
	stopRest, cancelRest := context.WithCancel(ctx)
	defer cancelRest()
	wg.Add(1)
	go run("a", stopA, &wg)
	waitProgress(3)
	wg.Add(2)
	go run("b", stopRest, &wg)
	waitProgress(3)
	go run("c", stopRest, &wg)
	waitProgress(3)
	cancelA() // a leaves
	end, err := adm.ListEndOffsets(ctx, "etl-in")
	if err != nil {
		t.Fatal(err)
	}
	for {
		fo, err := adm.FetchOffsets(ctx, "etl-members")
		if err != nil {
			t.Fatal(err)
		}
		done := true
		end.Each(func(o kadm.ListedOffset) {
			if c, _ := fo.Lookup(o.Topic, o.Partition); c.At != o.Offset {
				done = false
			}
		})
		if done {
			break
		}
		select {
		case <-progress:
		case <-ctx.Done():
			t.Fatalf("group never committed the end of the input: %v", fo)
		}
	}
	cancelRest()
	wg.Wait()
	// Exactly one committed copy of every input record: read the output
	// up to a sentinel written after everything on each partition.
	for p := int32(0); p < 3; p++ {
		if err := plain.ProduceSync(ctx, &kgo.Record{Topic: "etl-out", Partition: p, Value: []byte("end")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl := tb.client(kgo.ConsumeTopics("etl-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	copies := map[string]int{}
	for ends := 0; ends < 3; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d distinct outputs, %d sentinels", len(copies), ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "end" {
				ends++
				return
			}
			copies[string(r.Value)]++
		})
	}
	for i := 0; i < n; i++ {
		if c := copies["out-in-"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("input %d has %d committed copies", i, c)
		}
	}
	if len(copies) != n {
		t.Fatalf("%d distinct outputs for %d inputs", len(copies), n)
	}
}
