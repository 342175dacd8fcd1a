package broker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/storage"
)

// TestCompactedTopicKeepsNewestPerKey writes 4 versions of 10 keys, then
// tombstones for half of them, on a compacted topic whose segments roll
// every few records; runs the broker's cleaner; and checks that a consumer from
// the beginning sees exactly the newest value of every live key at its
// original offset, no deleted key, and that the log shrank to exactly the
// batches that had to stay.
func TestCompactedTopicKeepsNewestPerKey(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	const topic = "compacted"
	_, err := tb.admin().CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kadm.StringPtr("compact"),
		"segment.bytes":             kadm.StringPtr("1048576"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
		"delete.retention.ms":       kadm.StringPtr("0"),
	}, topic)
	if err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()))
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
	// Values of 400 KiB with 1 MiB segments: segments roll by size,
	// deterministically, every two or three records.
	big := func(round int) []byte {
		v := bytes.Repeat([]byte{'.'}, 400<<10)
		copy(v, fmt.Sprintf("v%d", round))
		return v
	}
	for round := 0; round < 4; round++ {
		for k := 0; k < 10; k++ {
			produce(fmt.Sprintf("patient-%d", k), big(round))
		}
	}
	deleted := map[string]bool{}
	for k := 0; k < 5; k++ {
		key := fmt.Sprintf("patient-%d", k)
		produce(key, nil)
		deleted[key] = true
	}
	// Two last large records roll the segment holding the tombstones,
	// so that they are out of the active segment, which is never
	// cleaned. Both stay: the second is in the active segment, so the
	// cleaner does not know it supersedes the first, as in Kafka.
	produce("tail", big(0))
	tail0 := newest["tail"]
	produce("tail", big(1))

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
	want := batchSize[tail0]
	for key, off := range newest {
		if !deleted[key] {
			want += batchSize[off]
		}
	}
	before := p.log.Size()

	// Segments are fsynced in the background after they roll, and the
	// cleaner stops at the first one not yet synced (the broker's own
	// cleaner may also run a pass meanwhile): clean until the log holds
	// only the newest live values, or fail at the deadline.
	if err := p.log.Sync(); err != nil {
		t.Fatal(err)
	}
	c := storage.NewCleaner(storage.DefaultCleanerConfig())
	deadline := time.Now().Add(20 * time.Second)
	for p.log.Size() != want {
		if !tb.cleanOnce(c, map[*partition]bool{}) && time.Now().After(deadline) {
			t.Fatalf("log size %d after compaction (%d before), want %d: the newest live values only", p.log.Size(), before, want)
		}
	}
	cons := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	seen := map[string]int64{}
	for seen["tail"] == 0 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("timed out")
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset == tail0 {
				return
			}
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
