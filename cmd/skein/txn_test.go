package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnCommands runs a committed and an open transaction against the
// fake cluster and checks txn list (with and without a state filter), txn
// describe of known and unknown ids, and txn producers.
func TestTxnCommands(t *testing.T) {
	bs := newCluster(t)
	mustCLI(t, bs, "", "topic", "create", "pay", "--partitions", "1")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	producer := func(id string) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bs, ",")...), kgo.TransactionalID(id), kgo.DefaultProduceTopic("pay"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(id)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	done := producer("done-tx")
	if err := done.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	producer("open-tx")

	// The fake cluster reports a committed transaction's id as Empty;
	// Kafka and Skein report CompleteCommit.
	out := mustCLI(t, bs, "", "txn", "list")
	if !regexpMatch(out, `(?m)^done-tx\s+\d+\s+(Empty|CompleteCommit)\s+\d+$`) || !regexpMatch(out, `(?m)^open-tx\s+\d+\s+Ongoing\s+\d+$`) {
		t.Fatalf("list output:\n%s", out)
	}
	out = mustCLI(t, bs, "", "txn", "list", "--state", "Ongoing")
	if strings.Contains(out, "done-tx") || !strings.Contains(out, "open-tx") {
		t.Fatalf("filtered list output:\n%s", out)
	}
	out = mustCLI(t, bs, "", "txn", "describe", "open-tx")
	for _, want := range []string{`(?m)^state\s+Ongoing$`, `(?m)^partitions\s+pay\[0\]$`, `(?m)^producer epoch\s+0$`} {
		if !regexpMatch(out, want) {
			t.Fatalf("describe output lacks %s:\n%s", want, out)
		}
	}
	out, _, err := cli(t, bs, "", "txn", "describe", "done-tx", "nobody")
	if err == nil || !regexpMatch(out, `(?m)^state\s+(Empty|CompleteCommit)$`) || !strings.Contains(out, "transactional id nobody:") {
		t.Fatalf("describe of an unknown id: err %v, output:\n%s", err, out)
	}
	out = mustCLI(t, bs, "", "txn", "producers", "pay")
	if !regexpMatch(out, `(?m)^pay\s+0\s+\d+\s+0\s+0\s+-?\d+$`) {
		t.Fatalf("producers output:\n%s", out)
	}
}
