package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNewResult checks rate arithmetic, MiB units, rounding and the
// percentiles taken from a histogram with a known distribution.
func TestNewResult(t *testing.T) {
	h := newLatencyHistogram()
	for i := 1; i <= 1000; i++ {
		recordLatency(h, time.Duration(i)*time.Millisecond)
	}
	r := newResult("produce", 2000, 4*mib, 2*time.Second, h)
	if r.RecordsPerSec != 1000 || r.MBPerSec != 2 || r.Seconds != 2 || r.Bytes != 4*mib {
		t.Fatalf("rates: %+v", r)
	}
	// Three significant digits: values are within 0.1% of the exact ones.
	for _, c := range []struct {
		name      string
		got       *float64
		wantMilli float64
	}{{"p50", r.P50Ms, 500}, {"p99", r.P99Ms, 990}, {"p999", r.P999Ms, 999}, {"max", r.MaxMs, 1000}} {
		if c.got == nil || *c.got < c.wantMilli*0.999 || *c.got > c.wantMilli*1.001 {
			t.Errorf("%s = %v, want ≈%v", c.name, c.got, c.wantMilli)
		}
	}

	var m map[string]any
	if err := json.Unmarshal([]byte(r.JSON()), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workload", "records", "records_per_sec", "mb_per_sec", "p50_ms", "p99_ms", "p999_ms", "max_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, r.JSON())
		}
	}
	if !strings.HasPrefix(r.JSON(), `{"workload":"produce","records":2000,`) {
		t.Errorf("field order: %s", r.JSON())
	}

	noLat := newResult("consume", 10, 10, 0, nil)
	if noLat.RecordsPerSec != 0 || strings.Contains(noLat.JSON(), "p50_ms") {
		t.Errorf("no latency, zero time: %s", noLat.JSON())
	}
}

// TestRecordLatencyClamps checks that out-of-range latencies are clamped
// rather than dropped.
func TestRecordLatencyClamps(t *testing.T) {
	h := newLatencyHistogram()
	recordLatency(h, -time.Second)
	recordLatency(h, time.Hour)
	if h.TotalCount() != 2 || h.Min() != 1 || !h.ValuesAreEquivalent(h.Max(), latencyMaxUs) {
		t.Fatalf("count %d min %d max %d", h.TotalCount(), h.Min(), h.Max())
	}
}

// TestPayloads checks payloads are the requested size, not zeros, differ
// from each other, and are reproducible from the seed.
func TestPayloads(t *testing.T) {
	a, b := newPayloads(7, 100), newPayloads(7, 100)
	seen := map[string]bool{}
	for range 100 {
		pa, pb := a.next(), b.next()
		if len(pa) != 100 || !bytes.Equal(pa, pb) {
			t.Fatalf("payload size %d, seeds reproduce: %t", len(pa), bytes.Equal(pa, pb))
		}
		if bytes.Count(pa, []byte{0}) > 10 {
			t.Fatalf("payload looks zero-filled: %x", pa)
		}
		seen[string(pa)] = true
	}
	if len(seen) < 99 {
		t.Fatalf("only %d distinct payloads of 100", len(seen))
	}
}

// TestE2EPayload checks the e2e header round trip and the random tail.
func TestE2EPayload(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	random := newPayloads(1, 32).next()
	for _, warm := range []bool{false, true} {
		b := e2ePayload(at, warm, random)
		gotAt, gotWarm, ok := parseE2EPayload(b)
		if !ok || !gotAt.Equal(at) || gotWarm != warm || len(b) != 32 || !bytes.Equal(b[e2eHeaderBytes:], random[e2eHeaderBytes:]) {
			t.Fatalf("warm %t: at %v warm %t ok %t", warm, gotAt, gotWarm, ok)
		}
	}
	if _, _, ok := parseE2EPayload([]byte("short")); ok {
		t.Fatal("short payload parsed")
	}
}

// TestWorkloads runs tiny produce, consume and e2e workloads against an
// in-memory cluster and checks the counts they report. Rates and
// latencies depend on the machine and are only checked for sanity.
func TestWorkloads(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, topic := range []string{"bench", "e2e"} {
		if created, err := EnsureTopic(t.Context(), cl, topic, 3, 1); err != nil || !created {
			t.Fatalf("EnsureTopic %s: %t, %v", topic, created, err)
		}
	}
	if created, err := EnsureTopic(t.Context(), cl, "bench", 3, 1); err != nil || created {
		t.Fatalf("EnsureTopic again: %t, %v", created, err)
	}

	var progress bytes.Buffer
	cfg := Config{
		Topic:        "bench",
		RecordBytes:  100,
		Records:      500,
		Warmup:       20 * time.Millisecond,
		Producers:    2,
		ClientOpts:   []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)},
		ProducerOpts: []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(time.Millisecond)},
		Progress:     &progress,
	}
	res, err := RunProduce(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Workload != "produce" || res.Records != 500 || res.Bytes != 500*100 || res.RecordsPerSec <= 0 || res.P50Ms == nil {
		t.Fatalf("produce: %s", res.JSON())
	}

	listed, err := kadmEnd(t, cl, "bench")
	if err != nil {
		t.Fatal(err)
	}
	if listed < 500 {
		t.Fatalf("topic holds %d records, want >= 500", listed)
	}

	cfg.Records = 0
	res, err = RunConsume(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Workload != "consume" || res.Records != listed || res.P50Ms != nil {
		t.Fatalf("consume: %s, want %d records", res.JSON(), listed)
	}
	cfg.Records = 10
	if res, err = RunConsume(t.Context(), cfg); err != nil || res.Records != 10 {
		t.Fatalf("consume 10: %s, %v", res.JSON(), err)
	}

	cfg.Topic, cfg.Records, cfg.Rate = "e2e", 200, 5000
	res, err = RunE2E(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Workload != "e2e" || res.Records != 200 || res.P99Ms == nil || *res.P50Ms <= 0 || *res.MaxMs < *res.P99Ms {
		t.Fatalf("e2e: %s", res.JSON())
	}
	if progress.Len() != 0 {
		t.Fatalf("progress written without an interval: %q", progress.String())
	}
}

// TestConsumeEmptyTopic checks the consume workload refuses an empty topic.
func TestConsumeEmptyTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "empty"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = RunConsume(t.Context(), Config{Topic: "empty", ClientOpts: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("got %v", err)
	}
}

// TestConfigValidate checks rejected workload configs.
func TestConfigValidate(t *testing.T) {
	ok := Config{Topic: "t", RecordBytes: 10, Records: 1}
	if err := ok.validate(e2eHeaderBytes); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Config{
		{RecordBytes: 10, Records: 1},
		{Topic: "t", RecordBytes: 5, Records: 1},
		{Topic: "t", RecordBytes: 10},
		{Topic: "t", RecordBytes: 10, Records: -1},
		{Topic: "t", RecordBytes: 10, Records: 1, Warmup: -1},
	} {
		if err := bad.validate(e2eHeaderBytes); err == nil {
			t.Errorf("%+v: want error", bad)
		}
	}
}

// TestRateLine checks that progress rates cover only the last interval.
func TestRateLine(t *testing.T) {
	rl := &rateLine{workload: "produce"}
	if got := rl.line(time.Second, 1000, mib); got != "[1s] produce: 1000 records, 1000 records/s, 1.00 MB/s" {
		t.Fatalf("first line: %q", got)
	}
	if got := rl.line(3*time.Second, 5000, 5*mib); got != "[3s] produce: 5000 records, 2000 records/s, 2.00 MB/s" {
		t.Fatalf("second line: %q", got)
	}
}
