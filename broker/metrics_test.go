package broker

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"gopkg.in/yaml.v3"

	"github.com/skein-streaming/skein/internal/admin"
)

// startAdmin serves tb's metrics and readiness on a loopback port and
// returns the base URL.
func startAdmin(t *testing.T, b *Broker) string {
	t.Helper()
	s := admin.New(admin.Config{Addr: "127.0.0.1:0", Gatherer: b.Metrics(), Ready: b.CheckReady})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return "http://" + s.Addr().String()
}

func httpGet(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// scrape is one parsed /metrics page.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, base string) scrape {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// value returns the value of the series of family name whose labels
// include labels (name=value pairs), summed over the matching series; for
// histograms it is the sample count. found is false when no series
// matches.
func (s scrape) value(name string, labels ...string) (v float64, found bool) {
	mf := s[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.Metric {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		}
	}
	return v, found
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		ok := false
		for _, lp := range m.Label {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (s scrape) must(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in /metrics", name, labels)
	}
	return v
}

// TestMetricsProduceFetch checks that the counters on /metrics move by the
// right amounts. Method: an in-process broker with its admin server on a
// loopback port; a franz-go client produces n records with acks=all into a
// two-partition topic and consumes them back; one request fails on purpose
// (creating an existing topic). The scrape after that must show n messages
// in, bytes out at least the bytes in, one request latency sample per
// Produce request, fsyncs, log end offsets summing to n, and the error.
func TestMetricsProduceFetch(t *testing.T) {
	tb := startBroker(t, nil)
	base := startAdmin(t, tb.Broker)
	ctx := testCtx(t)
	const topic, n = "metrics-topic", 500

	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %s, want 200", code, body)
	}
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	if resp, _ := adm.CreateTopic(ctx, 2, 1, nil, topic); !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("second CreateTopic: %v, want TOPIC_ALREADY_EXISTS", resp.Err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte("value-" + strconv.Itoa(i))}
		if i%10 == 0 {
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}

	s := scrapeMetrics(t, base)
	if v := s.must(t, "skein_broker_messages_in_total"); v != n {
		t.Errorf("skein_broker_messages_in_total = %v, want %d", v, n)
	}
	if v := s.must(t, "skein_broker_topic_messages_in_total", "topic", topic); v != n {
		t.Errorf("skein_broker_topic_messages_in_total{topic=%q} = %v, want %d", topic, v, n)
	}
	bytesIn := s.must(t, "skein_broker_bytes_in_total")
	if topicIn := s.must(t, "skein_broker_topic_bytes_in_total", "topic", topic); bytesIn <= 0 || topicIn != bytesIn {
		t.Errorf("bytes in: total %v, topic %v; want equal and positive", bytesIn, topicIn)
	}
	bytesOut := s.must(t, "skein_broker_bytes_out_total")
	if topicOut := s.must(t, "skein_broker_topic_bytes_out_total", "topic", topic); bytesOut < bytesIn || topicOut != bytesOut {
		t.Errorf("bytes out: total %v, topic %v; want equal and at least the bytes in (%v)", bytesOut, topicOut, bytesIn)
	}
	produces := s.must(t, "skein_request_total", "api", "Produce")
	if produces < 1 {
		t.Errorf("no Produce requests counted")
	}
	if v := s.must(t, "skein_request_duration_seconds", "api", "Produce"); v != produces {
		t.Errorf("Produce latency samples = %v, want one per request (%v)", v, produces)
	}
	for _, api := range []string{"ApiVersions", "Metadata", "CreateTopics", "Fetch"} {
		if v := s.must(t, "skein_request_total", "api", api); v < 1 {
			t.Errorf("skein_request_total{api=%q} = %v, want >= 1", api, v)
		}
		if v := s.must(t, "skein_request_duration_seconds", "api", api); v < 1 {
			t.Errorf("skein_request_duration_seconds{api=%q} has %v samples, want >= 1", api, v)
		}
	}
	if v := s.must(t, "skein_request_errors_total", "api", "CreateTopics", "error", "TOPIC_ALREADY_EXISTS"); v != 1 {
		t.Errorf("CreateTopics TOPIC_ALREADY_EXISTS errors = %v, want 1", v)
	}
	if _, ok := s.value("skein_request_errors_total", "api", "Produce"); ok {
		t.Errorf("Produce errors counted for a clean run")
	}
	if v := s.must(t, "skein_log_fsync_duration_seconds"); v < 1 {
		t.Errorf("no fsync latency samples after acks=all produces")
	}
	if v := s.must(t, "skein_log_end_offset", "topic", topic); v != n {
		t.Errorf("log end offsets sum to %v, want %d", v, n)
	}
	if v := s.must(t, "skein_log_start_offset", "topic", topic); v != 0 {
		t.Errorf("log start offsets sum to %v, want 0", v)
	}
	for p := range 2 {
		part := strconv.Itoa(p)
		if v := s.must(t, "skein_log_size_bytes", "topic", topic, "partition", part); v <= 0 {
			t.Errorf("partition %d log size %v, want > 0", p, v)
		}
		if v := s.must(t, "skein_log_segments", "topic", topic, "partition", part); v != 1 {
			t.Errorf("partition %d has %v segments, want 1", p, v)
		}
	}
	if v := s.must(t, "skein_replica_partitions"); v != 2 {
		t.Errorf("skein_replica_partitions = %v, want 2", v)
	}
	for name, want := range map[string]float64{
		"skein_controller_active_count":             1,
		"skein_controller_offline_partitions":       0,
		"skein_replica_under_replicated_partitions": 0,
		"skein_network_protocol_errors_total":       0,
	} {
		if v := s.must(t, name); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	// Clients are open: the admin client, the producer and the consumer
	// each hold at least one connection.
	if v := s.must(t, "skein_network_connections", "listener", "PLAINTEXT"); v < 3 {
		t.Errorf("open PLAINTEXT connections = %v, want >= 3", v)
	}
	if v := s.must(t, "skein_network_connections_accepted_total"); v < 3 {
		t.Errorf("connections accepted = %v, want >= 3", v)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "skein_purgatory_requests"} {
		s.must(t, name)
	}
}

// TestMetricsAcksZeroAndPurgatory checks two paths without a plain
// response: acks=0 produces are counted although nothing is answered, and a
// fetch long poll shows in the fetch purgatory while it waits. Method:
// produce with acks=0 and wait until the log end offset shows every
// record; then start a consumer at the log end with a long max wait and
// poll /metrics until the purgatory gauge reads 1.
func TestMetricsAcksZeroAndPurgatory(t *testing.T) {
	tb := startBroker(t, nil)
	base := startAdmin(t, tb.Broker)
	ctx := testCtx(t)
	const topic, n = "acks0", 50
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.NoAck()))
	for i := 0; i < n; i++ {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, base, "skein_log_end_offset", n, "topic", topic)
	waitMetric(t, base, "skein_broker_messages_in_total", n)

	cons := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()), kgo.FetchMaxWait(30*time.Second))
	pollCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		cons.PollFetches(pollCtx)
	}()
	waitMetric(t, base, "skein_purgatory_requests", 1, "operation", "fetch")
	if v := scrapeMetrics(t, base).must(t, "skein_purgatory_requests", "operation", "produce"); v != 0 {
		t.Errorf("produce purgatory = %v with acks=0 only, want 0", v)
	}
	cancel()
	<-done
}

// waitMetric polls /metrics until the series reads want, or fails after
// ten seconds.
func waitMetric(t *testing.T, base, name string, want float64, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var v float64
	for time.Now().Before(deadline) {
		v, _ = scrapeMetrics(t, base).value(name, labels...)
		if v == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s%v = %v, want %v", name, labels, v, want)
}

// TestMetricsBrokersDoNotCollide checks that brokers in one process keep
// separate registries: building three must not panic on duplicate
// registration, and each counts only its own records. Method: produce a
// different number of records to each and gather each registry.
func TestMetricsBrokersDoNotCollide(t *testing.T) {
	ctx := testCtx(t)
	for i := 1; i <= 3; i++ {
		tb := startBroker(t, nil)
		if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "t"); err != nil {
			t.Fatal(err)
		}
		prod := tb.client(kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("t"))
		for j := 0; j < i; j++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		mfs, err := tb.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		s := scrape{}
		for _, mf := range mfs {
			s[mf.GetName()] = mf
		}
		if v := s.must(t, "skein_broker_messages_in_total"); v != float64(i) {
			t.Errorf("broker %d: messages in = %v, want %d", i, v, i)
		}
	}
}

// TestCheckReady checks /readyz's source: not ready before Start, ready
// after, not ready again once Close begins.
func TestCheckReady(t *testing.T) {
	tb := startBroker(t, nil)
	if err := tb.CheckReady(); err != nil {
		t.Fatalf("started broker not ready: %v", err)
	}
	tb.Close()
	if err := tb.CheckReady(); err == nil {
		t.Fatal("closed broker reports ready")
	}
	b, err := New(Config{NodeID: 1, DataDir: t.TempDir(), Listeners: tb.cfg.Listeners})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckReady(); err == nil {
		t.Fatal("broker that was never started reports ready")
	}
	// Scraping before Start must work too (the admin server starts
	// first, while logs recover).
	if _, err := b.Metrics().Gather(); err != nil {
		t.Fatal(err)
	}
}

// TestForEachErrorCode checks the error-code walk on a response served by
// reflection and on one walked directly.
func TestForEachErrorCode(t *testing.T) {
	collect := func(r kmsg.Response) []int16 {
		var out []int16
		forEachErrorCode(r, func(c int16) { out = append(out, c) })
		slices.Sort(out)
		return out
	}
	del := &kmsg.DeleteTopicsResponse{Topics: []kmsg.DeleteTopicsResponseTopic{{ErrorCode: 3}, {ErrorCode: 0}, {ErrorCode: 41}}}
	if got := collect(del); !slices.Equal(got, []int16{0, 3, 41}) {
		t.Errorf("DeleteTopics codes = %v", got)
	}
	fetch := &kmsg.FetchResponse{ErrorCode: 0, Topics: []kmsg.FetchResponseTopic{{Partitions: []kmsg.FetchResponseTopicPartition{{ErrorCode: 1}, {ErrorCode: 6}}}}}
	if got := collect(fetch); !slices.Equal(got, []int16{0, 1, 6}) {
		t.Errorf("Fetch codes = %v", got)
	}
	if got := errorName(3); got != "UNKNOWN_TOPIC_OR_PARTITION" {
		t.Errorf("errorName(3) = %q", got)
	}
	if got := errorName(9999); got != "9999" {
		t.Errorf("errorName(9999) = %q", got)
	}
}

// exportedMetricNames returns the metric family names a busy broker
// exports, with an error counted so that label-only families appear.
func exportedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	adm := tb.admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "names"); err != nil {
		t.Fatal(err)
	}
	adm.CreateTopic(ctx, 1, 1, nil, "names") // TOPIC_ALREADY_EXISTS
	// Quotas far above what the test sends, so that quota sensors exist.
	mustAlterQuotas(t, ctx, adm,
		kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=<default>"), Ops: []kadm.AlterClientQuotaOp{
			setQuota(quotaProducerByteRate, 1<<40), setQuota(quotaConsumerByteRate, 1<<40), setQuota(quotaRequestPercentage, 1e6),
			setQuota(quotaControllerMutationRate, 1e6)}},
		kadm.AlterClientQuotaEntry{Entity: admEntity("ip=<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaConnectionCreationRate, 1e6)}})
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "names-mutation"); err != nil { // a controller mutation sensor
		t.Fatal(err)
	}
	prod := tb.client(kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("names"))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := tb.client(kgo.ConsumeTopics("names"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := cons.PollFetches(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// A committed group offset, so that the group offset and lag series exist.
	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: "names", Partition: 0, At: 1, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "names", offsets); err != nil {
		t.Fatal(err)
	}
	mfs, err := tb.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	// A follower, so that the replication lag series exist.
	c := startCluster(t, 2, nil)
	c.createAssigned(1, "followed", []int32{1, 2})
	checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
		if len(c.brokers[2].replicas.followerLags()) == 0 {
			return errors.New("broker 2 follows nothing yet")
		}
		return nil
	})
	fmfs, err := c.brokers[2].Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	mfs = append(mfs, fmfs...)
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+suffix] = true
			}
		}
	}
	return names
}

// promQLIdent finds identifiers in PromQL; metric names are those among
// them that start with skein_, go_ or process_.
var promQLIdent = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// metricNamesIn returns the Skein, Go and process metric names an
// expression refers to. Label values in quotes are removed first, and
// label names never carry those prefixes.
func metricNamesIn(expr string) []string {
	expr = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`).ReplaceAllString(expr, `""`)
	var out []string
	for _, id := range promQLIdent.FindAllString(expr, -1) {
		if strings.HasPrefix(id, "skein_") || strings.HasPrefix(id, "go_") || strings.HasPrefix(id, "process_") {
			out = append(out, id)
		}
	}
	return out
}

// TestAlertRulesUseExportedMetrics parses docs/prometheus-alerts.yml and
// checks that every rule is complete (alert name, expression, severity,
// summary) and that every metric its expression names is one Skein
// exports. The Grafana dashboard's queries are held to the same check.
// Method: gather the registry of a broker that has served produce, fetch
// and a failing request, and compare names.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	exported := exportedMetricNames(t)
	raw, err := os.ReadFile("../docs/prometheus-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatalf("prometheus-alerts.yml: %v", err)
	}
	rules := 0
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			rules++
			if r.Alert == "" || strings.TrimSpace(r.Expr) == "" {
				t.Errorf("group %s: rule without alert name or expr: %+v", g.Name, r)
				continue
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("alert %s: needs a severity label and a summary annotation", r.Alert)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("alert %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			names := metricNamesIn(r.Expr)
			if len(names) == 0 {
				t.Errorf("alert %s: expression names no Skein metric: %s", r.Alert, r.Expr)
			}
			for _, name := range names {
				if !exported[name] {
					t.Errorf("alert %s: metric %s is not exported", r.Alert, name)
				}
			}
		}
	}
	if rules < 5 {
		t.Errorf("found %d alert rules, want at least 5", rules)
	}

	dash, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs := regexp.MustCompile(`"expr":\s*"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(string(dash), -1)
	if len(exprs) == 0 {
		t.Fatal("grafana-dashboard.json has no queries")
	}
	for _, m := range exprs {
		expr, err := strconv.Unquote(`"` + m[1] + `"`)
		if err != nil {
			t.Fatalf("dashboard expr %s: %v", m[1], err)
		}
		for _, name := range metricNamesIn(expr) {
			if !exported[name] {
				t.Errorf("dashboard query uses %s, which is not exported: %s", name, expr)
			}
		}
	}
}

// TestMetricsDocumented checks that docs/metrics.md lists every skein_
// metric family the broker exports, and nothing else under that prefix.
func TestMetricsDocumented(t *testing.T) {
	exported := exportedMetricNames(t)
	raw, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(skein_[a-z0-9_]+)`").FindAllStringSubmatch(string(raw), -1) {
		documented[m[1]] = true
	}
	var missing, stale []string
	for name := range exported {
		if strings.HasPrefix(name, "skein_") && !documented[name] && !isHistogramSeries(name, exported) {
			missing = append(missing, name)
		}
	}
	for name := range documented {
		if !exported[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("exported but not in docs/metrics.md: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("in docs/metrics.md but not exported: %v", stale)
	}
}

// isHistogramSeries reports whether name is the _bucket, _sum or _count
// series of an exported histogram.
func isHistogramSeries(name string, exported map[string]bool) bool {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] && exported[base+"_bucket"] {
			return true
		}
	}
	return false
}
