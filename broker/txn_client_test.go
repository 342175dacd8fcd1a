package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceTxn runs one transaction of values on cl and ends it.
func produceTxn(t *testing.T, ctx context.Context, cl *kgo.Client, commit bool, values ...string) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatal(err)
	}
}

// consumeUntil reads topic from the start with the isolation level until
// it sees the value "end", and returns the values before it.
func consumeUntil(t *testing.T, ctx context.Context, tb *testBroker, topic string, iso kgo.IsolationLevel) []string {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v before the deadline: %v", out, err)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch: %v", e.Err)
		}
		for _, r := range fs.Records() {
			if string(r.Value) == "end" {
				return out
			}
			out = append(out, string(r.Value))
		}
	}
}

// TestTxnClientCommitAbort runs committed and aborted transactions with
// franz-go's transactional producer and checks that read_committed
// consumers see only committed records and read_uncommitted ones see all.
func TestTxnClientCommitAbort(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.TransactionalID("orders-tx"), kgo.DefaultProduceTopic("orders"))
	produceTxn(t, ctx, cl, true, "c1", "c2")
	produceTxn(t, ctx, cl, false, "a1", "a2")
	produceTxn(t, ctx, cl, true, "c3")
	plain := tb.client(kgo.DefaultProduceTopic("orders"))
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("end")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(consumeUntil(t, ctx, tb, "orders", kgo.ReadCommitted())); got != "[c1 c2 c3]" {
		t.Fatalf("read_committed saw %s", got)
	}
	if got := fmt.Sprint(consumeUntil(t, ctx, tb, "orders", kgo.ReadUncommitted())); got != "[c1 c2 a1 a2 c3]" {
		t.Fatalf("read_uncommitted saw %s", got)
	}
	d, err := tb.admin().DescribeTransactions(ctx, "orders-tx")
	if err != nil {
		t.Fatal(err)
	}
	if s := d["orders-tx"]; s.State != "CompleteCommit" {
		t.Fatalf("described %+v", s)
	}
}

// TestTxnClientZombieFenced checks that a second producer with the same
// transactional id fences the first: the first one's open transaction is
// aborted and it cannot commit.
func TestTxnClientZombieFenced(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "ledger"); err != nil {
		t.Fatal(err)
	}
	zombie := tb.client(kgo.TransactionalID("ledger-tx"), kgo.DefaultProduceTopic("ledger"))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := tb.client(kgo.TransactionalID("ledger-tx"), kgo.DefaultProduceTopic("ledger"))
	produceTxn(t, ctx, fresh, true, "fresh")
	err := zombie.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("zombie commit: %v", err)
	}
	plain := tb.client(kgo.DefaultProduceTopic("ledger"))
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("end")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(consumeUntil(t, ctx, tb, "ledger", kgo.ReadCommitted())); got != "[fresh]" {
		t.Fatalf("read_committed saw %s", got)
	}
}

// TestTxnClientTimeout checks that a transaction left open past its
// timeout is aborted by the coordinator's timeout check (run here at a
// chosen time rather than waited for) and its producer fenced.
func TestTxnClientTimeout(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "slow"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.TransactionalID("slow-tx"), kgo.DefaultProduceTopic("slow"), kgo.TransactionTimeout(5*time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tb.txns.coord.Tick(time.Now().Add(time.Hour))
	d, err := tb.admin().DescribeTransactions(ctx, "slow-tx")
	if err != nil {
		t.Fatal(err)
	}
	if s := d["slow-tx"]; s.State != "CompleteAbort" {
		t.Fatalf("described %+v", s)
	}
	if p := tb.lookupTopic("slow").partition(0); p.lastStableOffset() != p.highWatermark() {
		t.Fatalf("last stable offset %d, high watermark %d", p.lastStableOffset(), p.highWatermark())
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("a timed-out transaction committed")
	}
}
