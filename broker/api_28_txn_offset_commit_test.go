package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnOffsetCommitConsumeTransformProduce runs a consume-transform-
// produce loop with franz-go's GroupTransactSession: every batch read
// from a 3-partition input topic in a group is transformed and produced
// to an output topic, with the consumed offsets committed in the same
// transaction; every fourth transaction is aborted, after which the
// session rewinds to the committed offsets and processes the records
// again. The output must hold exactly one copy of every input record and
// nothing of an aborted transaction, and the group's committed offsets
// must move only when a transaction commits.
func TestTxnOffsetCommitConsumeTransformProduce(t *testing.T) {
	tb := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	ctx := testCtx(t)
	adm := tb.admin()
	for _, topic := range []string{"in", "out"} {
		if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	const n = 600
	plain := tb.client(kgo.DefaultProduceTopic("in"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < n; i += 30 { // many batches: the session polls a few at a time
		var recs []*kgo.Record
		for j := i; j < i+30; j++ {
			recs = append(recs, &kgo.Record{Partition: int32(j % 3), Value: []byte("rec-" + strconv.Itoa(j))})
		}
		if err := plain.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(tb.addr),
		kgo.TransactionalID("etl"),
		kgo.ConsumerGroup("etl-group"),
		kgo.ConsumeTopics("in"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	committed := map[int32]int64{} // what the group must have committed
	aborted := map[string]bool{}   // transaction tags of aborted transactions
	txns, commits := 0, 0
	for committedTotal(committed) < n {
		fs := sess.PollRecords(ctx, 40)
		if err := ctx.Err(); err != nil {
			t.Fatalf("after %d transactions, committed %v: %v", txns, committed, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		if fs.Empty() {
			continue
		}
		txns++
		tag := "txn-" + strconv.Itoa(txns)
		abort := txns%4 == 0
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		next := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) {
			out := &kgo.Record{
				Topic:     "out",
				Partition: r.Partition,
				Value:     []byte(strings.ToUpper(string(r.Value))),
				Headers: []kgo.RecordHeader{
					{Key: "src", Value: fmt.Appendf(nil, "%s/%d/%d", r.Topic, r.Partition, r.Offset)},
					{Key: "txn", Value: []byte(tag)},
				},
			}
			sess.Produce(ctx, out, func(_ *kgo.Record, err error) {
				if err != nil && !abort {
					t.Errorf("produce: %v", err)
				}
			})
			next[r.Partition] = r.Offset + 1
		})
		try := kgo.TryCommit
		if abort {
			// The records reach the log before the abort, so that
			// read_committed readers have aborted data to skip.
			if err := sess.Client().Flush(ctx); err != nil {
				t.Fatal(err)
			}
			try = kgo.TryAbort
			aborted[tag] = true
		}
		ok, err := sess.End(ctx, try)
		if err != nil {
			t.Fatalf("end of %s: %v", tag, err)
		}
		if ok == abort {
			t.Fatalf("%s: committed=%v, want %v", tag, ok, !abort)
		}
		if ok {
			commits++
			for p, o := range next {
				committed[p] = o
			}
		}
		checkCommitted(t, ctx, adm, "etl-group", committed)
	}
	if len(aborted) == 0 || commits == 0 {
		t.Fatalf("%d commits and %d aborts: the test exercised too little", commits, len(aborted))
	}
	end, err := adm.ListEndOffsets(ctx, "in")
	if err != nil {
		t.Fatal(err)
	}
	end.Each(func(o kadm.ListedOffset) {
		if committed[o.Partition] != o.Offset {
			t.Errorf("in-%d: committed %d, end offset %d", o.Partition, committed[o.Partition], o.Offset)
		}
	})

	for p := range int32(3) {
		if err := plain.ProduceSync(ctx, &kgo.Record{Topic: "out", Partition: p, Value: []byte("end")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// A read_committed reader of the output sees each input record once
	// and nothing an aborted transaction wrote; a read_uncommitted one
	// also sees the aborted copies.
	seen := readOutput(t, ctx, tb, kgo.ReadCommitted(), n)
	for src, tags := range seen {
		if len(tags) != 1 || aborted[tags[0]] {
			t.Errorf("%s written by %v", src, tags)
		}
	}
	for i := range n {
		src := fmt.Sprintf("in/%d/%d", i%3, i/3)
		if len(seen[src]) == 0 {
			t.Errorf("%s missing from the output", src)
		}
	}
	all := readOutput(t, ctx, tb, kgo.ReadUncommitted(), -1)
	abortedCopies := 0
	for _, tags := range all {
		abortedCopies += len(tags) - 1
	}
	if abortedCopies == 0 {
		t.Error("read_uncommitted saw no records of aborted transactions")
	}
	t.Logf("%d transactions, %d committed, %d aborted, %d aborted copies", txns, commits, len(aborted), abortedCopies)
}

func committedTotal(m map[int32]int64) int64 {
	var sum int64
	for _, o := range m {
		sum += o
	}
	return sum
}

// checkCommitted compares the group's committed offsets of "in" with want.
func checkCommitted(t *testing.T, ctx context.Context, adm *kadm.Client, group string, want map[int32]int64) {
	t.Helper()
	got, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		o, ok := got.Lookup("in", p)
		at := int64(-1)
		if ok {
			at = o.At
		}
		w, ok := want[p]
		if !ok {
			w = -1
		}
		if at != w {
			t.Fatalf("in-%d: committed offset %d, want %d", p, at, w)
		}
	}
}

// readOutput reads "out" from the start at the isolation level up to an
// "end" record in each partition and returns, per input record, the
// transaction tags of the copies seen. With want >= 0 it fails unless that
// many distinct input records were seen.
func readOutput(t *testing.T, ctx context.Context, tb *testBroker, iso kgo.IsolationLevel, want int) map[string][]string {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics("out"), kgo.FetchIsolationLevel(iso), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	out := map[string][]string{}
	ended := map[int32]bool{}
	for len(ended) < 3 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading out: %d distinct records, ends seen %v: %v", len(out), ended, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "end" {
				ended[r.Partition] = true
				return
			}
			var src, tag string
			for _, h := range r.Headers {
				switch h.Key {
				case "src":
					src = string(h.Value)
				case "txn":
					tag = string(h.Value)
				}
			}
			out[src] = append(out[src], tag)
		})
	}
	if want >= 0 && len(out) != want {
		t.Fatalf("read %d distinct input records from out, want %d", len(out), want)
	}
	return out
}

// TestTxnOffsetCommitRaw drives TxnOffsetCommit with raw requests: it is
// refused before AddOffsetsToTxn, pending offsets answer
// UNSTABLE_OFFSET_COMMIT with require_stable and are invisible without
// it, a restart keeps them pending (and reloads a log holding markers),
// and EndTxn makes them visible.
func TestTxnOffsetCommitRaw(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "src"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client()
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID = kmsg.StringPtr("raw")
	init.TransactionTimeoutMillis = 60000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %v", err, ir)
	}
	pid, epoch := ir.ProducerID, ir.ProducerEpoch

	commit := func(cl *kgo.Client, offset int64) int16 {
		t.Helper()
		r := kmsg.NewPtrTxnOffsetCommitRequest()
		r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = "raw", "raw-group", pid, epoch
		r.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "src", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: offset, LeaderEpoch: -1}}}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	fetch := func(cl *kgo.Client, stable bool) (int64, int16) {
		t.Helper()
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Group, r.RequireStable = "raw-group", stable
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "src", Partitions: []int32{0}}}
		resp, err := r.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Groups) > 0 {
			p := resp.Groups[0].Topics[0].Partitions[0]
			return p.Offset, p.ErrorCode
		}
		p := resp.Topics[0].Partitions[0]
		return p.Offset, p.ErrorCode
	}
	addOffsets := func(cl *kgo.Client) {
		t.Helper()
		r := kmsg.NewPtrAddOffsetsToTxnRequest()
		r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = "raw", pid, epoch, "raw-group"
		resp, err := r.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("add offsets: %v %v", err, resp)
		}
	}
	endTxn := func(cl *kgo.Client, c bool) {
		t.Helper()
		r := kmsg.NewPtrEndTxnRequest()
		r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = "raw", pid, epoch, c
		resp, err := r.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("end txn: %v %v", err, resp)
		}
	}

	if code := commit(cl, 5); code != kerr.InvalidTxnState.Code {
		t.Fatalf("commit outside a transaction: %v", kerr.ErrorForCode(code))
	}
	addOffsets(cl)
	if code := commit(cl, 5); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	if o, code := fetch(cl, false); o != -1 || code != 0 {
		t.Fatalf("pending offset visible: %d %v", o, kerr.ErrorForCode(code))
	}
	if _, code := fetch(cl, true); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require_stable fetch of a pending offset: %v", kerr.ErrorForCode(code))
	}
	endTxn(cl, true)
	if o, code := fetch(cl, true); o != 5 || code != 0 {
		t.Fatalf("after commit: %d %v", o, kerr.ErrorForCode(code))
	}
	addOffsets(cl)
	if code := commit(cl, 9); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	endTxn(cl, false)
	addOffsets(cl)
	if code := commit(cl, 12); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}

	// The log now holds a commit marker, an abort marker and an open
	// transaction's offsets.
	tb = tb.restart()
	cl = tb.client()
	if o, code := fetch(cl, false); o != 5 || code != 0 {
		t.Fatalf("after restart: %d %v", o, kerr.ErrorForCode(code))
	}
	if _, code := fetch(cl, true); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("after restart, require_stable: %v", kerr.ErrorForCode(code))
	}
	endTxn(cl, true)
	if o, code := fetch(cl, true); o != 12 || code != 0 {
		t.Fatalf("after the reloaded transaction committed: %d %v", o, kerr.ErrorForCode(code))
	}
}
