package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMetricsGroupLag checks skein_group_committed_offset and
// skein_group_lag against numbers known in advance. Method: 10 records go
// to partition 0 and 6 to partition 1 of a two-partition topic; a franz-go
// group consumer reads all 16 and commits only part of them (through the
// 4th record of partition 0, the 2nd of partition 1), so the scrape must
// show committed offsets 4 and 2 and lags 6 and 4. Five more records to
// partition 0 must then raise its lag to 11 without a new commit, since
// the lag is read from the high watermark at scrape time.
func TestMetricsGroupLag(t *testing.T) {
	tb := startBroker(t, map[string]string{"group.initial.rebalance.delay.ms": "0"})
	base := startAdmin(t, tb.Broker)
	ctx := testCtx(t)
	const topic, group = "lag", "lag-group"
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produce := func(partition int32, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			r := &kgo.Record{Partition: partition, Value: []byte("v")}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 10)
	produce(1, 6)

	s := scrapeMetrics(t, base)
	if _, found := s.value("skein_group_lag"); found {
		t.Fatal("skein_group_lag exported before any group committed")
	}

	cons := tb.client(
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	byPartition := map[int32][]*kgo.Record{}
	for n := 0; n < 16; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			byPartition[r.Partition] = append(byPartition[r.Partition], r)
			n++
		})
	}
	// Committing a record commits its offset + 1: the next one to read.
	if err := cons.CommitRecords(ctx, byPartition[0][3], byPartition[1][1]); err != nil {
		t.Fatal(err)
	}

	want := map[string][2]float64{"0": {4, 6}, "1": {2, 4}} // committed, lag
	s = scrapeMetrics(t, base)
	for p, w := range want {
		labels := []string{"group", group, "topic", topic, "partition", p}
		if got := s.must(t, "skein_group_committed_offset", labels...); got != w[0] {
			t.Errorf("partition %s: committed offset %v, want %v", p, got, w[0])
		}
		if got := s.must(t, "skein_group_lag", labels...); got != w[1] {
			t.Errorf("partition %s: lag %v, want %v", p, got, w[1])
		}
	}

	produce(0, 5)
	s = scrapeMetrics(t, base)
	if got := s.must(t, "skein_group_lag", "group", group, "topic", topic, "partition", "0"); got != 11 {
		t.Errorf("partition 0 after 5 more records: lag %v, want 11", got)
	}
	if got := s.must(t, "skein_group_lag", "group", group, "topic", topic, "partition", "1"); got != 4 {
		t.Errorf("partition 1: lag %v, want 4", got)
	}

	// Leaving the group keeps its committed offsets, and so its lag.
	closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons.LeaveGroupContext(closeCtx)
	s = scrapeMetrics(t, base)
	if got := s.must(t, "skein_group_lag", "group", group, "topic", topic, "partition", "0"); got != 11 {
		t.Errorf("after the member left: lag %v, want 11", got)
	}
}

// TestGroupLag is a table test of the lag arithmetic.
func TestGroupLag(t *testing.T) {
	for _, c := range []struct{ hw, committed, want int64 }{
		{10, 4, 6},
		{10, 10, 0},
		{0, 0, 0},
		{5, 8, 0}, // committed past the high watermark: nothing to read
	} {
		if got := groupLag(c.hw, c.committed); got != c.want {
			t.Errorf("groupLag(%d, %d) = %d, want %d", c.hw, c.committed, got, c.want)
		}
	}
}
