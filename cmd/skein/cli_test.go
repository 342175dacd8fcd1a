package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// newCluster starts an in-memory Kafka-compatible cluster for one test and
// returns its bootstrap address.
func newCluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// cli runs the skein command line in-process against bootstrap with stdin
// and returns stdout, stderr and the command's error.
func cli(t *testing.T, bootstrap, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--bootstrap", bootstrap)
	err = run(t.Context(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustCLI is cli that fails the test on a command error.
func mustCLI(t *testing.T, bootstrap, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := cli(t, bootstrap, stdin, args...)
	if err != nil {
		t.Fatalf("skein %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// decodeJSONLines parses consume --format json output.
func decodeJSONLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// TestTopicLifecycle drives create, list, describe, alter-config,
// add-partitions and delete against the fake cluster and checks each
// command's output and its Kafka errors.
func TestTopicLifecycle(t *testing.T) {
	bs := newCluster(t)

	out := mustCLI(t, bs, "", "topic", "create", "orders", "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=60000", "--config", "cleanup.policy=compact")
	if !strings.Contains(out, "created topic orders (partitions 3, replication factor 1") {
		t.Fatalf("create output: %q", out)
	}
	_, errOut, err := cli(t, bs, "", "topic", "create", "orders", "--partitions", "3")
	if err == nil || !strings.Contains(errOut, "TOPIC_ALREADY_EXISTS") {
		t.Fatalf("second create: err %v, stderr %q", err, errOut)
	}
	mustCLI(t, bs, "", "topic", "create", "orders", "--if-not-exists")

	out = mustCLI(t, bs, "", "topic", "list")
	if !regexpMatch(out, `(?m)^orders\s+3\s+1\s+false$`) {
		t.Fatalf("list output:\n%s", out)
	}

	mustCLI(t, bs, "a\nb\nc\n", "produce", "orders", "--partition", "1")
	out = mustCLI(t, bs, "", "topic", "describe", "orders")
	for _, want := range []string{
		"Topic: orders", "Partitions: 3", "ReplicationFactor: 1",
		"cleanup.policy=compact (DYNAMIC_TOPIC_CONFIG)", "retention.ms=60000 (DYNAMIC_TOPIC_CONFIG)",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("describe output lacks %q:\n%s", want, out)
		}
	}
	if !regexpMatch(out, `(?m)^1\s+0\s+\d+\s+0\s+0\s+0\s+3$`) || !regexpMatch(out, `(?m)^0\s+0\s+\d+\s+0\s+0\s+0\s+0$`) {
		t.Fatalf("describe partition rows:\n%s", out)
	}
	if regexpMatch(out, `TopicID: 0+$`) {
		t.Fatalf("describe: zero topic ID:\n%s", out)
	}

	mustCLI(t, bs, "", "topic", "alter-config", "orders", "--set", "retention.ms=1000", "--delete", "cleanup.policy")
	out = mustCLI(t, bs, "", "topic", "describe", "orders")
	if !strings.Contains(out, "retention.ms=1000") || strings.Contains(out, "cleanup.policy=compact") {
		t.Fatalf("describe after alter:\n%s", out)
	}

	mustCLI(t, bs, "", "topic", "add-partitions", "orders", "--total", "5")
	out = mustCLI(t, bs, "", "topic", "describe", "orders")
	if !strings.Contains(out, "Partitions: 5") {
		t.Fatalf("describe after add-partitions:\n%s", out)
	}

	out = mustCLI(t, bs, "", "topic", "delete", "orders")
	if out != "deleted topic orders\n" {
		t.Fatalf("delete output: %q", out)
	}
	out = mustCLI(t, bs, "", "topic", "list")
	if strings.Contains(out, "orders") {
		t.Fatalf("list after delete:\n%s", out)
	}
	for _, args := range [][]string{
		{"topic", "delete", "orders"},
		{"topic", "describe", "orders"},
		{"consume", "orders"},
	} {
		if _, errOut, err := cli(t, bs, "", args...); err == nil || !strings.Contains(errOut, "UNKNOWN_TOPIC_OR_PARTITION") {
			t.Fatalf("%v on a deleted topic: err %v, stderr %q", args, err, errOut)
		}
	}
}

// TestProduceConsumePlain round-trips keyed plain lines with headers
// through produce and consume, in both output formats.
func TestProduceConsumePlain(t *testing.T) {
	bs := newCluster(t)
	mustCLI(t, bs, "", "topic", "create", "t", "--partitions", "1")

	_, errOut, err := cli(t, bs, "k1:v1\nk2:v:2\r\n:empty-key\n", "produce", "t",
		"--key-separator", ":", "--header", "src=test", "--header", "n=1", "--compression", "zstd", "--acks", "1")
	if err != nil || errOut != "produced 3 records to t\n" {
		t.Fatalf("produce: err %v, stderr %q", err, errOut)
	}

	out := mustCLI(t, bs, "", "consume", "t", "--from-beginning", "--print-key")
	if out != "k1\tv1\nk2\tv:2\n\tempty-key\n" {
		t.Fatalf("plain consume: %q", out)
	}

	recs := decodeJSONLines(t, mustCLI(t, bs, "", "consume", "t", "--from-beginning", "--format", "json"))
	if len(recs) != 3 {
		t.Fatalf("got %d records", len(recs))
	}
	for i, want := range []struct{ key, value string }{{"k1", "v1"}, {"k2", "v:2"}, {"", "empty-key"}} {
		r := recs[i]
		if r["key"] != want.key || r["value"] != want.value || r["offset"] != float64(i) || r["topic"] != "t" {
			t.Fatalf("record %d: %v", i, r)
		}
		if h, _ := r["headers"].(map[string]any); h["src"] != "test" || h["n"] != "1" {
			t.Fatalf("record %d headers: %v", i, r["headers"])
		}
	}
}

// TestProduceConsumeJSON feeds JSON input (binary values, explicit
// partitions, timestamps) to produce and checks consume's JSON output, then
// pipes that output back through produce into a second topic.
func TestProduceConsumeJSON(t *testing.T) {
	bs := newCluster(t)
	mustCLI(t, bs, "", "topic", "create", "src", "--partitions", "2")
	mustCLI(t, bs, "", "topic", "create", "dst", "--partitions", "2")

	in := `{"key":"a","value":"one","partition":1,"timestamp":1000,"headers":{"h":"1","h":"2"}}

{"value":"/wA=","value_encoding":"base64","partition":0,"timestamp":"1970-01-01T00:00:02Z"}
{"key":null,"value":{"nested":true},"partition":1,"timestamp":3000}
`
	mustCLI(t, bs, in, "produce", "src", "--format", "json")
	out := mustCLI(t, bs, "", "consume", "src", "--from-beginning", "--format", "json")
	recs := decodeJSONLines(t, out)
	if len(recs) != 3 {
		t.Fatalf("got %d records:\n%s", len(recs), out)
	}
	slices.SortFunc(recs, func(a, b map[string]any) int { return int(a["timestamp"].(float64) - b["timestamp"].(float64)) })
	if r := recs[0]; r["partition"] != 1.0 || r["key"] != "a" || r["value"] != "one" || r["timestamp"] != 1000.0 {
		t.Fatalf("record a: %v", r)
	}
	if !strings.Contains(out, `"headers":{"h":"1","h":"2"}`) {
		t.Fatalf("repeated headers lost:\n%s", out)
	}
	if r := recs[1]; r["partition"] != 0.0 || r["value"] != "/wA=" || r["value_encoding"] != "base64" || r["key"] != nil {
		t.Fatalf("binary record: %v", r)
	}
	if r := recs[2]; r["value"] != `{"nested":true}` || r["timestamp"] != 3000.0 {
		t.Fatalf("raw JSON record: %v", r)
	}

	mustCLI(t, bs, out, "produce", "dst", "--format", "json")
	copied := mustCLI(t, bs, "", "consume", "dst", "--from-beginning", "--format", "json")
	if strings.ReplaceAll(copied, `"topic":"dst"`, `"topic":"src"`) != out {
		t.Fatalf("copy differs:\n%s\nvs\n%s", copied, out)
	}
}

// TestConsumeStartPositions checks --offset (all partitions and one),
// --from-timestamp in both forms, --max-messages, the default start at the
// end, and that an empty selection exits at once.
func TestConsumeStartPositions(t *testing.T) {
	bs := newCluster(t)
	mustCLI(t, bs, "", "topic", "create", "t", "--partitions", "2")
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, `{"value":"v%d","partition":%d,"timestamp":%d}`+"\n", i, i%2, (i+1)*1000)
	}
	mustCLI(t, bs, in.String(), "produce", "t", "--format", "json")

	lines := func(args ...string) []string {
		t.Helper()
		out := mustCLI(t, bs, "", append([]string{"consume", "t"}, args...)...)
		l := strings.Fields(out)
		slices.Sort(l)
		return l
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--offset", "3"}, []string{"v6", "v7", "v8", "v9"}},
		{[]string{"--offset", "3", "--partition", "1"}, []string{"v7", "v9"}},
		{[]string{"--offset", "100"}, nil},
		{[]string{"--from-timestamp", "8000"}, []string{"v7", "v8", "v9"}},
		{[]string{"--from-timestamp", "1970-01-01T00:00:09.500Z"}, []string{"v9"}},
		{[]string{"--from-timestamp", "99999"}, nil},
		{[]string{"--from-beginning", "--partition", "0"}, []string{"v0", "v2", "v4", "v6", "v8"}},
		{[]string{}, nil},
	} {
		if got := lines(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("consume %v = %v, want %v", tc.args, got, tc.want)
		}
	}
	if got := lines("--from-beginning", "--max-messages", "4"); len(got) != 4 {
		t.Errorf("--max-messages 4: got %v", got)
	}
	mustCLI(t, bs, "", "topic", "create", "empty")
	if out := mustCLI(t, bs, "", "consume", "empty", "--from-beginning"); out != "" {
		t.Errorf("empty topic: %q", out)
	}
}

// TestConsumeGroup checks that a group consumer commits exactly what it
// printed, so a second run resumes after it.
func TestConsumeGroup(t *testing.T) {
	bs := newCluster(t)
	mustCLI(t, bs, "", "topic", "create", "t", "--partitions", "1")
	mustCLI(t, bs, "1\n2\n3\n4\n5\n", "produce", "t")

	first := mustCLI(t, bs, "", "consume", "t", "--group", "g", "--from-beginning", "--max-messages", "2")
	if first != "1\n2\n" {
		t.Fatalf("first run: %q", first)
	}
	rest := mustCLI(t, bs, "", "consume", "t", "--group", "g", "--from-beginning")
	if rest != "3\n4\n5\n" {
		t.Fatalf("second run: %q", rest)
	}
	if again := mustCLI(t, bs, "", "consume", "t", "--group", "g", "--from-beginning"); again != "" {
		t.Fatalf("third run: %q", again)
	}
}

// TestProduceErrors checks that bad input and failed records give a
// non-zero result with a useful message.
func TestProduceErrors(t *testing.T) {
	bs := newCluster(t)
	mustCLI(t, bs, "", "topic", "create", "t", "--partitions", "1")
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"k:v\nnokey\n", []string{"--key-separator", ":"}, "line 2: no key separator"},
		{"x\n", []string{"--partition", "4"}, "invalid record partitioning"},
		{"{bad\n", []string{"--format", "json"}, "line 1: invalid JSON"},
		{"x\n", []string{"--acks", "2"}, "--acks"},
		{"x\n", []string{"--header", "nokv"}, "--header"},
	} {
		_, errOut, err := cli(t, bs, tc.stdin, append([]string{"produce", "t"}, tc.args...)...)
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("produce %v: err %v, stderr %q, want %q", tc.args, err, errOut, tc.want)
		}
	}
}

// TestVersion checks the version command's output shape.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, strings.NewReader(""), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "skein dev ") {
		t.Fatalf("version: %q", out.String())
	}
}

// TestBenchCommands runs each bench subcommand briefly through the CLI and
// checks that stdout is exactly one JSON result line with the expected
// workload and record count, and that the topic is created on demand.
func TestBenchCommands(t *testing.T) {
	bs := newCluster(t)
	for _, tc := range []struct {
		args     []string
		workload string
		records  float64
	}{
		{[]string{"bench", "produce", "--records", "300", "--warmup", "10ms", "--record-size", "64", "--partitions", "2", "--producers", "2", "--compression", "lz4", "--acks", "1"}, "produce", 300},
		{[]string{"bench", "consume", "--records", "300"}, "consume", 300},
		{[]string{"bench", "e2e", "--topic", "lat", "--rate", "5000", "--records", "100", "--warmup", "10ms", "--record-size", "16"}, "e2e", 100},
	} {
		out, errOut, err := cli(t, bs, "", append(tc.args, "--progress", "0")...)
		if err != nil {
			t.Fatalf("%v: %v\nstderr: %s", tc.args, err, errOut)
		}
		var res map[string]any
		if strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("%v: stdout is not one JSON line: %q", tc.args, out)
		}
		if res["workload"] != tc.workload || res["records"] != tc.records {
			t.Fatalf("%v: result %v", tc.args, res)
		}
	}
	out := mustCLI(t, bs, "", "topic", "list")
	if !regexpMatch(out, `(?m)^skein-bench\s+2\s`) || !regexpMatch(out, `(?m)^lat\s+6\s`) {
		t.Fatalf("bench topics:\n%s", out)
	}
	if _, errOut, err := cli(t, bs, "", "bench", "e2e", "--record-size", "4", "--records", "1"); err == nil {
		t.Fatalf("e2e with 4-byte records: want error, stderr %q", errOut)
	}
}

// cancelAfter is a writer that cancels a context once it has seen a
// marker, standing in for an interrupt once --follow output has arrived.
type cancelAfter struct {
	buf    bytes.Buffer
	marker string
	cancel func()
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.marker) {
		w.cancel()
	}
	return n, err
}

// TestConsumeFollow checks that --follow keeps consuming past the end
// offsets until interrupted, that an interrupt is a clean exit, and that
// --max-messages ends a follow.
func TestConsumeFollow(t *testing.T) {
	bs := newCluster(t)
	mustCLI(t, bs, "", "topic", "create", "t", "--partitions", "1")
	mustCLI(t, bs, "a\nb\n", "produce", "t")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &cancelAfter{marker: "b\n", cancel: cancel}
	var errOut bytes.Buffer
	err := run(ctx, []string{"consume", "t", "--from-beginning", "--follow", "--bootstrap", bs}, strings.NewReader(""), out, &errOut)
	if err != nil || out.buf.String() != "a\nb\n" {
		t.Fatalf("follow: err %v, out %q, stderr %q", err, out.buf.String(), errOut.String())
	}

	if got := mustCLI(t, bs, "", "consume", "t", "--from-beginning", "--follow", "--max-messages", "1"); got != "a\n" {
		t.Fatalf("follow with max: %q", got)
	}
}
