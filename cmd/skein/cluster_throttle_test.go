package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPlanThrottle(t *testing.T) {
	pl := planThrottle(3, []int32{2, 1}, []int32{1, 4, 5})
	if !slices.Equal(pl.leader, []string{"3:2", "3:1"}) || !slices.Equal(pl.follower, []string{"3:4", "3:5"}) || !slices.Equal(pl.brokers, []int32{1, 2, 4, 5}) {
		t.Fatalf("plan %+v", pl)
	}
}

// TestReassignThrottle runs a two-broker cluster (a combined node and a
// broker-only node) and moves a partition with `cluster reassign
// --throttle`: the rates are set on both brokers and the topic lists
// name the current replica (leader side) and the new one (follower side).
// `--verify` then reports the reassignment done and removes them all.
func TestReassignThrottle(t *testing.T) {
	b1, c1, b2, c2 := freePort(t), freePort(t), freePort(t), freePort(t)
	base := t.TempDir()
	_, logs1 := serveNode(t, "--set", "process.roles=broker,controller", "--set", "node.id=1",
		"--set", "controller.quorum.bootstrap.servers="+c1, "--listeners", "PLAINTEXT://"+b1+",CONTROLLER://"+c1,
		"--set", "controller.listener.names=CONTROLLER", "--data-dir", base+"/1")
	_, logs2 := serveNode(t, "--set", "process.roles=broker", "--set", "node.id=2",
		"--set", "controller.quorum.bootstrap.servers="+c1, "--listeners", "PLAINTEXT://"+b2+",CONTROLLER://"+c2,
		"--set", "controller.listener.names=CONTROLLER", "--data-dir", base+"/2")
	waitBrokers(t, b1, 2, logs1, logs2)

	mustCLI(t, b1, "", "topic", "create", "moved", "--partitions", "1", "--replication-factor", "1")
	mustCLI(t, b1, "a\nb\nc\n", "produce", "moved", "--acks", "all")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := t.Context()
	td, err := adm.ListTopics(ctx, "moved")
	if err != nil {
		t.Fatal(err)
	}
	from := td["moved"].Partitions[0].Replicas
	if len(from) != 1 {
		t.Fatalf("replicas %v", from)
	}
	to := 3 - from[0]

	out := mustCLI(t, b1, "", "cluster", "reassign", "--topic", "moved", "--partition", "0", "--replicas", fmt.Sprintf("%d,%d", from[0], to), "--throttle", "1048576")
	for _, want := range []string{"throttle limit was set to 1048576 B/s on brokers 1,2", "reassignment of moved-0 to", "--verify"} {
		if !strings.Contains(out, want) {
			t.Fatalf("reassign output lacks %q:\n%s", want, out)
		}
	}
	brokerRates := func() map[int32]map[string]string {
		got := map[int32]map[string]string{}
		for _, id := range []int32{1, 2} {
			rcs, err := adm.DescribeBrokerConfigs(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			got[id] = map[string]string{}
			for _, c := range rcs[0].Configs {
				if slices.Contains(throttleRates, c.Key) && c.Source == kmsg.ConfigSourceDynamicBrokerConfig {
					got[id][c.Key] = c.MaybeValue()
				}
			}
		}
		return got
	}
	want := map[string]string{throttleLists[0]: fmt.Sprintf("0:%d", from[0]), throttleLists[1]: fmt.Sprintf("0:%d", to)}
	applied := func() error {
		for id, rates := range brokerRates() {
			for _, name := range throttleRates {
				if rates[name] != "1048576" {
					return fmt.Errorf("broker %d: %s = %q, want 1048576", id, name, rates[name])
				}
			}
		}
		lists, err := topicThrottleLists(ctx, adm, "moved")
		if err != nil {
			return err
		}
		for k, v := range want {
			if lists[k] != v {
				return fmt.Errorf("%s = %q, want %q", k, lists[k], v)
			}
		}
		return nil
	}
	pollConfigs(t, applied)

	// --verify until the move is done; then nothing is left.
	var verified string
	deadline := time.Now().Add(60 * time.Second)
	for {
		verified = mustCLI(t, b1, "", "cluster", "reassign", "--verify", "--topic", "moved", "--partition", "0", "--replicas", fmt.Sprintf("%d,%d", from[0], to))
		if strings.Contains(verified, "Reassignment of partition moved-0 is completed.") {
			break
		}
		if !strings.Contains(verified, "is still in progress") || !strings.Contains(verified, "Keeping the throttles") {
			t.Fatalf("verify output:\n%s", verified)
		}
		if time.Now().After(deadline) {
			t.Fatalf("reassignment not done:\n%s", verified)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{"Clearing topic-level throttles on topic moved", "Clearing broker-level throttles on brokers 1,2"} {
		if !strings.Contains(verified, want) {
			t.Fatalf("verify output lacks %q:\n%s", want, verified)
		}
	}
	pollConfigs(t, func() error {
		if lists, err := topicThrottleLists(ctx, adm, "moved"); err != nil || len(lists) != 0 {
			return fmt.Errorf("topic throttles left: %v %v", lists, err)
		}
		for id, rates := range brokerRates() {
			if len(rates) != 0 {
				return fmt.Errorf("broker %d: rates left: %v", id, rates)
			}
		}
		return nil
	})
	// Verifying again changes nothing.
	again := mustCLI(t, b1, "", "cluster", "reassign", "--verify", "--topic", "moved")
	if strings.Contains(again, "Clearing") || !strings.Contains(again, "No reassignment of topic moved is in progress.") {
		t.Fatalf("second verify:\n%s", again)
	}

	// Flag checks.
	for _, args := range [][]string{
		{"cluster", "reassign", "--verify"},
		{"cluster", "reassign", "--topic", "moved", "--partition", "0", "--cancel", "--throttle", "10"},
		{"cluster", "reassign", "--topic", "moved", "--partition", "0", "--replicas", "1", "--throttle", "-5"},
	} {
		if _, _, err := cli(t, b1, "", args...); err == nil {
			t.Errorf("skein %s: no error", strings.Join(args, " "))
		}
	}
}

// pollConfigs polls, for at most 20 s, until check passes: configs are in
// the metadata log once a command returns, and each broker answers
// DescribeConfigs from its own copy, which may lag a moment.
func pollConfigs(t *testing.T, check func() error) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}
