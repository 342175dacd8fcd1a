package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupTestStart is the timestamp of the first record of each partition;
// record i of a partition is stamped groupTestStart + i minutes.
var groupTestStart = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	groupTestTopic      = "events"
	groupTestPartitions = 2
	groupTestRecords    = 10 // per partition
)

// produceTimed writes groupTestRecords records to each partition of the
// test topic with known timestamps.
func produceTimed(t *testing.T, ctx context.Context, bs string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := range int32(groupTestPartitions) {
		for i := range groupTestRecords {
			recs = append(recs, &kgo.Record{
				Topic: groupTestTopic, Partition: p,
				Value:     fmt.Appendf(nil, "p%d-%d", p, i),
				Timestamp: groupTestStart.Add(time.Duration(i) * time.Minute),
			})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// committed returns the group's committed offsets of the test topic by
// partition.
func committed(t *testing.T, ctx context.Context, bs, group string) map[int32]int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resps, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	for p, o := range resps[groupTestTopic] {
		out[p] = o.At
	}
	return out
}

// waitOutput runs the command until its output matches re, failing the
// test after a deadline.
func waitOutput(t *testing.T, bs, re string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, errOut, err := cli(t, bs, "", args...)
		if err == nil && regexpMatch(out, re) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("skein %s: no output matching %s before the deadline; last: err %v\n%s%s", strings.Join(args, " "), re, err, out, errOut)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// TestGroupCommands runs a group consumer against a Skein broker, commits
// known offsets, and checks group list, describe (members and lag),
// reset-offsets (refused while the consumer is active; dry run; each mode
// with --execute) and delete. It runs once with a classic group and once
// with a consumer group (KIP-848).
func TestGroupCommands(t *testing.T) {
	for _, tc := range []struct {
		name     string
		typ      string
		opts     []kgo.Opt
		assignor string
	}{
		{name: "classic", typ: "classic", assignor: "range", opts: []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}},
		{name: "consumer", typ: "consumer", assignor: "range", opts: []kgo.Opt{kgo.Balancers(kgo.RangeBalancer()), kgo.ServerSideBalancer()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testGroupCommands(t, tc.typ, tc.assignor, tc.opts)
		})
	}
}

func testGroupCommands(t *testing.T, typ, assignor string, opts []kgo.Opt) {
	bs := newSkein(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	mustCLI(t, bs, "", "topic", "create", groupTestTopic, "--partitions", fmt.Sprint(groupTestPartitions))
	produceTimed(t, ctx, bs)

	const group = "readers"
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(bs),
		kgo.ClientID("group-test-consumer"),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(groupTestTopic),
		kgo.DisableAutoCommit(),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			cl.Close()
		}
	}()
	for seen := 0; seen < groupTestPartitions*groupTestRecords; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d records: %v", seen, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", topic, p, err) })
		seen += fs.NumRecords()
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{groupTestTopic: {
		0: {Epoch: -1, Offset: 6},
		1: {Epoch: -1, Offset: 4},
	}}, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err == nil {
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && commitErr == nil {
						commitErr = fmt.Errorf("%s-%d: %w", rt.Topic, rp.Partition, err)
					}
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}

	out := waitOutput(t, bs, `(?m)^readers\s+`+typ+`\s+Stable\s+consumer\s+1$`, "group", "list")
	if !strings.HasPrefix(out, "GROUP ") {
		t.Fatalf("list output:\n%s", out)
	}

	out = mustCLI(t, bs, "", "group", "describe", group)
	for _, want := range []string{
		`(?m)^Group:\s+readers$`,
		`(?m)^Type:\s+` + typ + `$`,
		`(?m)^State:\s+Stable$`,
		`(?m)^Assignor:\s+` + assignor + `$`,
		`(?m)^Members:\s+1$`,
		`(?m)^\S+\s+-\s+group-test-consumer\s+\S+\s+events\[0,1\]$`,
		`(?m)^events\s+0\s+6\s+10\s+4\s+\S+\s+\S+\s+group-test-consumer$`,
		`(?m)^events\s+1\s+4\s+10\s+6\s+\S+\s+\S+\s+group-test-consumer$`,
	} {
		if !regexpMatch(out, want) {
			t.Fatalf("describe output lacks %s:\n%s", want, out)
		}
	}

	// The consumer is active: no reset and no delete.
	_, errOut, err := cli(t, bs, "", "group", "reset-offsets", group, "--topic", groupTestTopic, "--to-earliest", "--execute")
	if err == nil || !strings.Contains(errOut, "Assignments can only be reset if the group 'readers' is inactive, but the current state is Stable.") {
		t.Fatalf("reset of an active group: err %v, stderr %q", err, errOut)
	}
	_, errOut, err = cli(t, bs, "", "group", "delete", group)
	if err == nil || !strings.Contains(errOut, "NON_EMPTY_GROUP") {
		t.Fatalf("delete of an active group: err %v, stderr %q", err, errOut)
	}
	want := map[int32]int64{0: 6, 1: 4}
	if got := committed(t, ctx, bs, group); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("committed after refused reset: %v, want %v", got, want)
	}

	cl.Close() // leaves the group
	closed = true
	waitOutput(t, bs, `(?m)^readers\s+`+typ+`\s+Empty\s+consumer\s+0$`, "group", "list")
	out = mustCLI(t, bs, "", "group", "describe", group)
	if !regexpMatch(out, `(?m)^events\s+0\s+6\s+10\s+4\s+-\s+-\s+-$`) || !regexpMatch(out, `(?m)^State:\s+Empty$`) {
		t.Fatalf("describe of the empty group:\n%s", out)
	}

	// A dry run prints the plan and commits nothing.
	out, errOut, err = cli(t, bs, "", "group", "reset-offsets", group, "--topic", groupTestTopic, "--to-earliest")
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, errOut)
	}
	if !regexpMatch(out, `(?m)^TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+NEW-OFFSET$`) ||
		!regexpMatch(out, `(?m)^events\s+0\s+6\s+0$`) || !regexpMatch(out, `(?m)^events\s+1\s+4\s+0$`) ||
		!strings.Contains(errOut, "dry run") {
		t.Fatalf("dry run output:\n%s\nstderr: %s", out, errOut)
	}
	if got := committed(t, ctx, bs, group); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("committed after a dry run: %v, want %v", got, want)
	}

	for _, step := range []struct {
		args []string
		want map[int32]int64
	}{
		{[]string{"--topic", groupTestTopic, "--to-earliest"}, map[int32]int64{0: 0, 1: 0}},
		{[]string{"--topic", groupTestTopic, "--to-latest"}, map[int32]int64{0: 10, 1: 10}},
		// Record 3 of each partition is the first at or after start+3m.
		{[]string{"--topic", groupTestTopic, "--to-datetime", groupTestStart.Add(150 * time.Second).Format(time.RFC3339)}, map[int32]int64{0: 3, 1: 3}},
		{[]string{"--topic", groupTestTopic + ":1", "--shift-by", "4"}, map[int32]int64{0: 3, 1: 7}},
		{[]string{"--all-topics", "--shift-by", "-5"}, map[int32]int64{0: 0, 1: 2}},
		{[]string{"--topic", groupTestTopic + ":0", "--to-offset", "8"}, map[int32]int64{0: 8, 1: 2}},
		{[]string{"--topic", groupTestTopic, "--to-offset", "99"}, map[int32]int64{0: 10, 1: 10}},
		// After every record: the end of each partition.
		{[]string{"--topic", groupTestTopic, "--to-datetime", groupTestStart.Add(time.Hour).Format(time.RFC3339)}, map[int32]int64{0: 10, 1: 10}},
		{[]string{"--topic", groupTestTopic, "--to-datetime", groupTestStart.Format(time.RFC3339)}, map[int32]int64{0: 0, 1: 0}},
	} {
		args := append([]string{"group", "reset-offsets", group, "--execute"}, step.args...)
		out := mustCLI(t, bs, "", args...)
		if !strings.Contains(out, "committed new offsets") {
			t.Fatalf("skein %s: output:\n%s", strings.Join(args, " "), out)
		}
		if got := committed(t, ctx, bs, group); fmt.Sprint(got) != fmt.Sprint(step.want) {
			t.Fatalf("skein %s: committed %v, want %v\n%s", strings.Join(args, " "), got, step.want, out)
		}
	}

	for _, bad := range [][]string{
		{"--topic", groupTestTopic},                                  // no mode
		{"--topic", groupTestTopic, "--to-earliest", "--to-latest"},  // two modes
		{"--to-earliest"},                                            // no scope
		{"--topic", groupTestTopic + ":7", "--to-earliest"},          // no such partition
		{"--topic", "nosuchtopic", "--to-earliest"},                  // no such topic
		{"--topic", groupTestTopic, "--to-datetime", "yesterday"},    // bad time
		{"--topic", groupTestTopic + ":x", "--to-earliest"},          // bad partition
		{"--all-topics", "--topic", groupTestTopic, "--to-earliest"}, // two scopes
	} {
		args := append([]string{"group", "reset-offsets", group}, bad...)
		if _, _, err := cli(t, bs, "", args...); err == nil {
			t.Fatalf("skein %s: no error", strings.Join(args, " "))
		}
	}

	mustCLI(t, bs, "", "group", "delete", group)
	out = mustCLI(t, bs, "", "group", "list")
	if strings.Contains(out, "readers") {
		t.Fatalf("list after delete:\n%s", out)
	}
	if _, errOut, err := cli(t, bs, "", "group", "describe", group); err == nil || !strings.Contains(errOut, "does not exist") {
		t.Fatalf("describe of a deleted group: err %v, stderr %q", err, errOut)
	}
	// A group that does not exist yet may get offsets: that is how a new
	// consumer is made to start at a point in time.
	mustCLI(t, bs, "", "group", "reset-offsets", "fresh", "--topic", groupTestTopic, "--to-offset", "5", "--execute")
	if got := committed(t, ctx, bs, "fresh"); fmt.Sprint(got) != fmt.Sprint(map[int32]int64{0: 5, 1: 5}) {
		t.Fatalf("offsets of a new group: %v", got)
	}
}

// TestGroupReplayFromDatetime consumes a topic to its end in a group, stops
// the group, resets it with --to-datetime and checks that the group's
// next consumer re-reads exactly the records from that time on: replay of
// events after an incident.
func TestGroupReplayFromDatetime(t *testing.T) {
	bs := newSkein(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mustCLI(t, bs, "", "topic", "create", groupTestTopic, "--partitions", fmt.Sprint(groupTestPartitions))
	produceTimed(t, ctx, bs)
	const group = "replayers"
	consume := func() map[string]bool {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.ConsumerGroup(group), kgo.ConsumeTopics(groupTestTopic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		seen := map[string]bool{}
		end := committed(t, ctx, bs, group)
		want := 0
		for p := range int32(groupTestPartitions) {
			want += groupTestRecords - int(end[p])
		}
		for len(seen) < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", len(seen), want)
			}
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return seen
	}
	if n := len(consume()); n != groupTestPartitions*groupTestRecords {
		t.Fatalf("first pass read %d records", n)
	}
	// Replay from the record stamped start+6 minutes (offset 6 of each
	// partition).
	mustCLI(t, bs, "", "group", "reset-offsets", group, "--topic", groupTestTopic,
		"--to-datetime", groupTestStart.Add(6*time.Minute).Format(time.RFC3339), "--execute")
	seen := consume()
	if len(seen) != groupTestPartitions*(groupTestRecords-6) {
		t.Fatalf("replay read %d records: %v", len(seen), seen)
	}
	for p := range groupTestPartitions {
		for i := 6; i < groupTestRecords; i++ {
			if !seen[fmt.Sprintf("p%d-%d", p, i)] {
				t.Fatalf("replay missed p%d-%d", p, i)
			}
		}
	}
}
