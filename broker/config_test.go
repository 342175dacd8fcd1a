package broker

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConfigRoundTrips sets topic and broker configs through
// IncrementalAlterConfigs and AlterConfigs, reads them back through
// DescribeConfigs with their sources, checks validation errors, and checks
// everything persists across a restart.
func TestConfigRoundTrips(t *testing.T) {
	tb := startBroker(t, map[string]string{"log.retention.hours": "48"})
	ctx := testCtx(t)
	adm := tb.admin()
	const topic = "cfg"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, topic); err != nil {
		t.Fatal(err)
	}
	describe := func(adm *kadm.Client, name string) kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On(topic, nil)
		if err != nil || rc.Err != nil {
			t.Fatal(err, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == name {
				return c
			}
		}
		t.Fatalf("config %s not described", name)
		return kadm.Config{}
	}
	if c := describe(adm, "retention.ms"); c.MaybeValue() != "172800000" || c.Source != 4 {
		t.Fatalf("retention.ms from static log.retention.hours: %+v", c)
	}
	if c := describe(adm, "segment.bytes"); c.MaybeValue() != "1073741824" || c.Source != 5 {
		t.Fatalf("segment.bytes default: %+v", c)
	}
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "retention.ms", Value: kadm.StringPtr("1000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		{Name: "message.timestamp.type", Value: kadm.StringPtr("LogAppendTime")},
	}, topic)
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res[0].Err)
	}
	if c := describe(adm, "retention.ms"); c.MaybeValue() != "1000" || c.Source != 1 {
		t.Fatalf("retention.ms override: %+v", c)
	}
	if c := describe(adm, "cleanup.policy"); c.MaybeValue() != "delete,compact" {
		t.Fatalf("cleanup.policy after APPEND: %+v", c)
	}
	// A compacted topic now rejects records without keys.
	prod := tb.client(kgo.DisableIdempotentWrite())
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on compacted topic: %v", err)
	}
	// LogAppendTime stamps the broker's time.
	r := &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte("v")}
	r.Timestamp = r.Timestamp.AddDate(-10, 0, 0)
	before := time.Now().Add(-time.Minute).UnixMilli()
	if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mts, err := adm.ListMaxTimestampOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := mts.Lookup(topic, 0); m.Timestamp < before {
		t.Fatalf("LogAppendTime topic kept the producer's timestamp %d", m.Timestamp)
	}
	for _, bad := range []kadm.AlterConfig{
		{Name: "retention.ms", Value: kadm.StringPtr("abc")},
		{Name: "no.such.config", Value: kadm.StringPtr("1")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")},
		{Name: "segment.bytes", Value: kadm.StringPtr("10")},
	} {
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{bad}, topic)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res[0].Err, kerr.InvalidConfig) {
			t.Fatalf("%s=%v: got %v, want INVALID_CONFIG", bad.Name, *bad.Value, res[0].Err)
		}
	}
	// Cluster-wide dynamic broker config becomes the default of topics.
	bres, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.segment.bytes", Value: kadm.StringPtr("2097152")}})
	if err != nil || bres[0].Err != nil {
		t.Fatal(err, bres[0].Err)
	}
	if c := describe(adm, "segment.bytes"); c.MaybeValue() != "2097152" || c.Source != 3 {
		t.Fatalf("segment.bytes from dynamic default: %+v", c)
	}
	bres, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "listeners", Value: kadm.StringPtr("PLAINTEXT://0.0.0.0:1")}})
	if err != nil {
		t.Fatal(err)
	}
	if bres[0].Err == nil {
		t.Fatal("listeners changed dynamically")
	}
	tb = tb.restart()
	adm = tb.admin()
	if c := describe(adm, "retention.ms"); c.MaybeValue() != "1000" {
		t.Fatalf("after restart retention.ms %+v", c)
	}
	if c := describe(adm, "segment.bytes"); c.MaybeValue() != "2097152" {
		t.Fatalf("after restart segment.bytes %+v", c)
	}
}

// TestDeleteRecordsAndPartitions advances the log start offset, adds
// partitions, and checks both through the client.
func TestDeleteRecordsAndPartitions(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	adm := tb.admin()
	const topic = "dr"
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite())
	for i := 0; i < 10; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	o := kadm.Offsets{}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 4})
	dr, err := adm.DeleteRecords(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup(topic, 0); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records: %+v", r)
	}
	o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 11})
	dr, err = adm.DeleteRecords(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup(topic, 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete beyond high watermark: %+v", r)
	}
	cons := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	fs := cons.PollFetches(ctx)
	first := fs.Records()
	if len(first) == 0 || first[0].Offset != 4 {
		t.Fatalf("first record after delete: %+v", first)
	}
	cp, err := adm.CreatePartitions(ctx, 3, topic)
	if err != nil || cp[topic].Err != nil {
		t.Fatal(err, cp[topic].Err)
	}
	td, err := adm.ListTopics(ctx, topic)
	if err != nil || len(td[topic].Partitions) != 4 {
		t.Fatalf("partitions after create: %v %d", err, len(td[topic].Partitions))
	}
	tb = tb.restart()
	lo, err := tb.admin().ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := lo.Lookup(topic, 0); s.Offset != 4 {
		t.Fatalf("log start offset after restart %d", s.Offset)
	}
}

// TestMetadataLogTornTail appends a partial record to the metadata log,
// as a crash mid-write leaves it, and checks the store opens with every
// complete record and accepts new ones.
func TestMetadataLogTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := openFileMetadataStore(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := NewTopicID()
	if err := s.Apply(testCtx(t), MetadataRecord{Type: TopicRecord, Topic: "a", ID: id, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	f, err := os.OpenFile(filepath.Join(dir, "metadata.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`1234abcd {"type":"topic","topic":"b"`)
	f.Close()
	s, err = openFileMetadataStore(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if img := s.Image(); len(img.Topics) != 1 || img.Topics["a"].ID != id {
		t.Fatalf("image after torn tail: %+v", img.Topics)
	}
	if err := s.Apply(testCtx(t), MetadataRecord{Type: RemoveTopicRecord, ID: id}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = openFileMetadataStore(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(s.Image().Topics); n != 0 {
		t.Fatalf("%d topics after remove", n)
	}
}
