package broker

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClientProduceConsumeEveryCodec produces keyed records with headers and
// explicit timestamps over three partitions with each codec through the
// franz-go client, consumes them back and checks every field and the order
// per partition. Method: the expected records per partition come from the
// producer's own acknowledgements (partition, offset).
func TestClientProduceConsumeEveryCodec(t *testing.T) {
	tb := startBroker(t, nil)
	codecs := map[string]kgo.CompressionCodec{
		"none":   kgo.NoCompression(),
		"gzip":   kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(),
		"lz4":    kgo.Lz4Compression(),
		"zstd":   kgo.ZstdCompression(),
	}
	adm := tb.admin()
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			topic := "codec-" + name
			if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
				t.Fatal(err)
			}
			prod := tb.client(kgo.ProducerBatchCompression(codec), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()))
			const n = 3000
			base := time.UnixMilli(1_700_000_000_000)
			sent := map[int32][]*kgo.Record{}
			for i := 0; i < n; i++ {
				r := &kgo.Record{
					Topic:     topic,
					Key:       []byte("key-" + strconv.Itoa(i%97)),
					Value:     bytes.Repeat([]byte{byte(i)}, 10+i%300),
					Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.Itoa(i))}},
					Timestamp: base.Add(time.Duration(i) * time.Millisecond),
				}
				if i%50 == 0 {
					r.Key = nil
				}
				res := prod.ProduceSync(ctx, r)
				if err := res.FirstErr(); err != nil {
					t.Fatalf("produce %d: %v", i, err)
				}
				rec := res[0].Record
				sent[rec.Partition] = append(sent[rec.Partition], rec)
			}
			if len(sent) != 3 {
				t.Fatalf("records went to %d partitions, want 3", len(sent))
			}
			cons := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}))
			got := map[int32][]*kgo.Record{}
			total := 0
			for total < n {
				fs := cons.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					t.Fatalf("consumed %d of %d: %v", total, n, err)
				}
				fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
				fs.EachRecord(func(r *kgo.Record) {
					got[r.Partition] = append(got[r.Partition], r)
					total++
				})
			}
			for p, want := range sent {
				if len(got[p]) != len(want) {
					t.Fatalf("partition %d: got %d records, want %d", p, len(got[p]), len(want))
				}
				for i, w := range want {
					g := got[p][i]
					if g.Offset != w.Offset || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) ||
						!g.Timestamp.Equal(w.Timestamp) || len(g.Headers) != 1 || !bytes.Equal(g.Headers[0].Value, w.Headers[0].Value) {
						t.Fatalf("partition %d index %d: got offset %d key %q ts %v, want offset %d key %q ts %v",
							p, i, g.Offset, g.Key, g.Timestamp, w.Offset, w.Key, w.Timestamp)
					}
					if int64(i) != g.Offset {
						t.Fatalf("partition %d: offsets not contiguous: index %d has offset %d", p, i, g.Offset)
					}
				}
			}
		})
	}
}

// TestClientListOffsetsByTime checks ListOffsets by timestamp through kadm,
// including a timestamp that falls inside a compressed batch.
func TestClientListOffsetsByTime(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	adm := tb.admin()
	const topic = "times"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(50*time.Millisecond))
	base := time.UnixMilli(1_700_000_000_000)
	var recs []*kgo.Record
	for i := 0; i < 100; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i)), Timestamp: base.Add(time.Duration(i*10) * time.Millisecond)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ts   int64
		want int64
	}{
		{base.UnixMilli(), 0},
		{base.UnixMilli() + 1, 1},
		{base.UnixMilli() + 505, 51},
		{base.UnixMilli() + 990, 99},
		{base.UnixMilli() + 991, -1},
		{0, 0},
	} {
		lo, err := adm.ListOffsetsAfterMilli(ctx, c.ts, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := lo.Lookup(topic, 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		want := c.want
		if want == -1 {
			want = 100 // kadm maps "none" to the end offset
		}
		if o.Offset != want {
			t.Errorf("offset after %d: got %d, want %d", c.ts, o.Offset, want)
		}
	}
	start, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := start.Lookup(topic, 0); s.Offset != 0 {
		t.Errorf("start offset %d", s.Offset)
	}
	if e, _ := end.Lookup(topic, 0); e.Offset != 100 {
		t.Errorf("end offset %d", e.Offset)
	}
	maxTS, err := adm.ListMaxTimestampOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := maxTS.Lookup(topic, 0); m.Offset != 99 || m.Timestamp != base.UnixMilli()+990 {
		t.Errorf("max timestamp offset %d ts %d", m.Offset, m.Timestamp)
	}
}

// TestClientTopicLifecycle creates, describes, deletes and re-creates a topic
// and checks the new incarnation has a new id and no old records; then
// restarts the broker and checks everything persisted.
func TestClientTopicLifecycle(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	adm := tb.admin()
	const topic = "lifecycle"
	cr, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, topic)
	if err != nil || cr.Err != nil {
		t.Fatal(err, cr.Err)
	}
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err == nil {
		t.Fatal("second create succeeded")
	} else if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite())
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("old")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dr, err := adm.DeleteTopics(ctx, topic)
	if err != nil || dr[topic].Err != nil {
		t.Fatal(err, dr[topic].Err)
	}
	cr2, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	if err != nil || cr2.Err != nil {
		t.Fatal(err, cr2.Err)
	}
	if cr2.ID == cr.ID {
		t.Fatal("re-created topic kept its id")
	}
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := end.Lookup(topic, 0); e.Offset != 0 {
		t.Fatalf("re-created topic has end offset %d", e.Offset)
	}
	// A new client: a producer that cached the old topic id fails its
	// buffered records for the deleted incarnation, as with Kafka.
	prod = tb.client(kgo.DisableIdempotentWrite())
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	tb = tb.restart()
	adm = tb.admin()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if d := td[topic]; d.Err != nil || d.ID != cr2.ID || len(d.Partitions) != 1 {
		t.Fatalf("after restart: %+v", d)
	}
	end, err = adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := end.Lookup(topic, 0); e.Offset != 1 {
		t.Fatalf("after restart end offset %d, want 1", e.Offset)
	}
}

// TestTopicCompressionTypeRecompresses checks that a topic with
// compression.type=zstd stores batches in zstd whatever the producer used,
// and that consumers read the same records back.
func TestTopicCompressionTypeRecompresses(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	const topic = "zstd-topic"
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kadm.StringPtr("zstd")}, topic); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(20*time.Millisecond))
	var recs []*kgo.Record
	for i := 0; i < 50; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte{byte(i)}, Value: bytes.Repeat([]byte("fhir"), 100)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p := tb.lookupTopic(topic).partition(0)
	rr, err := p.log.Read(0, 1<<20, p.highWatermark(), true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if codec := rr.Data[22] & 7; codec != 4 {
		t.Fatalf("stored codec %d, want zstd (4)", codec)
	}
	cons := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	got := 0
	for got < 50 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Key[0] != byte(got) || !bytes.Equal(r.Value, recs[got].Value) {
				t.Fatalf("record %d differs", got)
			}
			got++
		})
	}
}
