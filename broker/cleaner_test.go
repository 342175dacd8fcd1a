package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/storage"
)

// TestCompactedTopicKeepsNewestPerKey overwrites keys on a compacted topic,
// runs the broker's cleaner and checks a consumer from the beginning sees
// the newest value of every key, at its original offset.
func TestCompactedTopicKeepsNewestPerKey(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	const topic = "compacted"
	_, err := tb.admin().CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.ms":                kadm.StringPtr("1"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
	}, topic)
	if err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite())
	newest := map[string]int64{}
	for round := 0; round < 20; round++ {
		for k := 0; k < 10; k++ {
			key := fmt.Sprintf("patient-%d", k)
			res := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(fmt.Sprintf("v%d", round))})
			if err := res.FirstErr(); err != nil {
				t.Fatal(err)
			}
			newest[key] = res[0].Record.Offset
		}
	}
	c := storage.NewCleaner(storage.DefaultCleanerConfig())
	passes := 0
	for tb.cleanOnce(c, map[*partition]bool{}) {
		passes++
	}
	if passes == 0 {
		t.Fatal("the cleaner found nothing to clean")
	}
	cons := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	end := tb.lookupTopic(topic).partition(0).highWatermark()
	seen := map[string]int64{}
	count := 0
	for last := int64(-1); last < end-1; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("timed out")
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Key)] = r.Offset
			last = r.Offset
			count++
		})
	}
	for k, off := range newest {
		if seen[k] != off {
			t.Errorf("key %s: newest offset %d, consumer ended at %d", k, off, seen[k])
		}
	}
	if count >= 200 {
		t.Fatalf("read %d records: nothing was compacted", count)
	}
}
