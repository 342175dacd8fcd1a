package broker

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/storage"
)

// TestCompactedTopicKeepsNewestPerKey writes 20 versions of 10 keys, then
// tombstones for half of them, on a compacted topic whose segments roll on
// every append; runs the broker's cleaner; and checks that a consumer from
// the beginning sees exactly the newest value of every live key at its
// original offset, no deleted key, and that the log shrank to exactly the
// batches that had to stay.
func TestCompactedTopicKeepsNewestPerKey(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	const topic = "compacted"
	_, err := tb.admin().CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.ms":                kadm.StringPtr("1"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("0"),
	}, topic)
	if err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite())
	newest := map[string]int64{}
	produce := func(key string, value []byte) {
		t.Helper()
		// Timestamps an hour old: the tombstones are past
		// delete.retention.ms whatever the clock does during the test.
		res := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Timestamp: time.Now().Add(-time.Hour)})
		if err := res.FirstErr(); err != nil {
			t.Fatal(err)
		}
		newest[key] = res[0].Record.Offset
	}
	for round := 0; round < 20; round++ {
		for k := 0; k < 10; k++ {
			produce(fmt.Sprintf("patient-%d", k), []byte(fmt.Sprintf("v%d", round)))
		}
	}
	deleted := map[string]bool{}
	for k := 0; k < 5; k++ {
		key := fmt.Sprintf("patient-%d", k)
		produce(key, nil)
		deleted[key] = true
	}
	// A last record keeps the tombstones out of the active segment,
	// which is never cleaned.
	produce("tail", []byte("end"))

	p := tb.lookupTopic(topic).partition(0)
	// The log must shrink to the batches of the newest live values.
	batchSize := map[int64]int64{}
	for off := int64(0); off < p.highWatermark(); {
		rr, err := p.log.Read(off, 64<<20, p.highWatermark(), true, nil)
		if err != nil {
			t.Fatal(err)
		}
		for data := rr.Data; len(data) >= 12; {
			size := 12 + int(binary.BigEndian.Uint32(data[8:]))
			batchSize[int64(binary.BigEndian.Uint64(data))] = int64(size)
			data = data[size:]
		}
		off = rr.NextOffset
	}
	var want int64
	for key, off := range newest {
		if !deleted[key] {
			want += batchSize[off]
		}
	}
	before := p.log.Size()

	// Segments are fsynced in the background after they roll, and the
	// cleaner stops at the first one not yet synced: sync them all.
	if err := p.log.Sync(); err != nil {
		t.Fatal(err)
	}
	c := storage.NewCleaner(storage.DefaultCleanerConfig())
	passes := 0
	for tb.cleanOnce(c, map[*partition]bool{}) {
		passes++
	}
	if passes == 0 {
		t.Fatal("the cleaner found nothing to clean")
	}
	if after := p.log.Size(); after != want {
		t.Fatalf("log size %d after compaction (%d before), want %d: the newest live values only", after, before, want)
	}
	cons := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	seen := map[string]int64{}
	for seen["tail"] == 0 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("timed out")
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, dup := seen[string(r.Key)]; dup {
				t.Fatalf("key %s seen twice", r.Key)
			}
			seen[string(r.Key)] = r.Offset
		})
	}
	for key, off := range newest {
		switch {
		case deleted[key]:
			if _, ok := seen[key]; ok {
				t.Errorf("deleted key %s still read", key)
			}
		case seen[key] != off:
			t.Errorf("key %s: newest offset %d, read %d", key, off, seen[key])
		}
	}
}
