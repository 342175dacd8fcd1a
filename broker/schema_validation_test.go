package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/protocol/records"
)

// registerSchema writes a _schemas record as the registry does.
func registerSchema(t testing.TB, tb *testBroker, subject string, version int, id int32, deleted bool) {
	t.Helper()
	ctx := context.Background()
	if tb.lookupTopic(schemasTopic) == nil {
		if code, msg := tb.createTopic(ctx, schemasTopic, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, false); code != 0 {
			t.Fatal(msg)
		}
	}
	key := fmt.Sprintf(`{"keytype":"SCHEMA","subject":%q,"version":%d,"magic":1}`, subject, version)
	value := fmt.Sprintf(`{"subject":%q,"version":%d,"id":%d,"schema":"\"string\"","deleted":%t}`, subject, version, id, deleted)
	batch := records.BuildBatch(records.CodecNone, time.Now().UnixMilli(), []records.Record{{Key: []byte(key), Value: []byte(value)}})
	part := tb.lookupTopic(schemasTopic).partition(0)
	_, last, err := part.append(batch)
	if err != nil {
		t.Fatal(err)
	}
	// As a registry's acks=all write: readers see it once committed.
	if err := part.awaitReplicationNow(ctx, last, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// wire encodes a payload in the schema registry wire format.
func wire(id int32, payload string) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, payload...)
}

// TestSchemaValidationAtBroker turns on value validation for one topic and
// checks that records with a registered id land, records without the wire
// format or with an unknown, deleted or other subject's id are refused
// with INVALID_RECORD naming the record, and that a topic without
// validation accepts anything.
func TestSchemaValidationAtBroker(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"confluent.value.schema.validation": kadm.StringPtr("true")}, "rx"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "free"); err != nil {
		t.Fatal(err)
	}
	registerSchema(t, tb, "rx-value", 1, 7, false)
	registerSchema(t, tb, "other-value", 1, 8, false)
	registerSchema(t, tb, "rx-value", 2, 9, false)
	registerSchema(t, tb, "rx-value", 2, 9, true) // soft-deleted
	prod := tb.client(kgo.DisableIdempotentWrite())
	produce := func(topic string, value []byte) error {
		return prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr()
	}
	for _, good := range [][]byte{wire(7, "rx-1"), nil} {
		if err := produce("rx", good); err != nil {
			t.Fatalf("valid record %q refused: %v", good, err)
		}
	}
	for name, bad := range map[string][]byte{
		"no magic byte":       []byte("plain json"),
		"short":               {0, 0, 7},
		"unknown id":          wire(42, "x"),
		"other subject's id":  wire(8, "x"),
		"soft-deleted schema": wire(9, "x"),
	} {
		err := produce("rx", bad)
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("%s: got %v, want INVALID_RECORD", name, err)
		}
	}
	// A schema registered later is accepted at once.
	registerSchema(t, tb, "rx-value", 3, 42, false)
	if err := produce("rx", wire(42, "rx-2")); err != nil {
		t.Fatalf("record with a newly registered id refused: %v", err)
	}
	if err := produce("free", []byte("plain json")); err != nil {
		t.Fatalf("topic without validation refused a record: %v", err)
	}
	if end := tb.lookupTopic("rx").partition(0).highWatermark(); end != 3 {
		t.Fatalf("rx holds %d records, want the 3 valid ones", end)
	}
}

// BenchmarkSchemaValidation measures the per-record cost of broker-side
// validation on a batch of 100 records of 1 KiB.
func BenchmarkSchemaValidation(b *testing.B) {
	tb := startBroker(b, nil)
	if code, msg := tb.createTopic(context.Background(), "rx", 1, 1, map[string]*string{"confluent.value.schema.validation": kadm.StringPtr("true")}, false); code != 0 {
		b.Fatal(msg)
	}
	registerSchema(b, tb, "rx-value", 1, 7, false)
	var recs []records.Record
	for i := 0; i < 100; i++ {
		recs = append(recs, records.Record{Value: wire(7, string(make([]byte, 1019)))})
	}
	batch := records.BuildBatch(records.CodecNone, 1, recs)
	p := tb.lookupTopic("rx").partition(0)
	v := p.topic.settings.Load().schemas
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tb.validateSchemas(p, v, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/record")
}
