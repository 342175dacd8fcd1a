package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/syncbuf"
)

// serveNode runs `skein serve` in-process until the test ends (or stop is
// called) and returns a function that stops it and returns its error.
func serveNode(t *testing.T, args ...string) (stop func() error, logs *syncbuf.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--set", "skein.admin.address=", "--set", "skein.registry.address="}, args...), strings.NewReader(""), logs, logs)
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				err = errors.New("serve did not stop")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop, logs
}

func freePort(t *testing.T) string {
	t.Helper()
	a, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitBrokers waits until the broker at addr lists n brokers.
func waitBrokers(t *testing.T, addr string, n int, logs ...*syncbuf.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := devClusterReady(t.Context(), []string{addr}, n)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			var all []string
			for _, l := range logs {
				all = append(all, l.String())
			}
			t.Fatalf("brokers not serving: %v\n%s", err, strings.Join(all, "\n----\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeControllerOnlyAndBrokerOnly runs a controller-only node that
// starts a quorum alone (its only bootstrap server is itself), a
// broker-only node that joins it as a learner through
// controller.quorum.bootstrap.servers, and a second controller that joins
// and is promoted with `skein cluster add-controller`, then removed with
// remove-controller. The broker serves clients; cluster status shows the
// quorum.
func TestServeControllerOnlyAndBrokerOnly(t *testing.T) {
	c1, b2, c2, c3 := freePort(t), freePort(t), freePort(t), freePort(t)
	base := t.TempDir()
	stop1, logs1 := serveNode(t, "--set", "process.roles=controller", "--set", "node.id=1",
		"--set", "controller.quorum.bootstrap.servers="+c1, "--listeners", "CONTROLLER://"+c1,
		"--set", "controller.listener.names=CONTROLLER", "--data-dir", base+"/1")
	stop2, logs2 := serveNode(t, "--set", "process.roles=broker", "--set", "node.id=2",
		"--set", "controller.quorum.bootstrap.servers="+c1, "--listeners", "PLAINTEXT://"+b2+",CONTROLLER://"+c2,
		"--set", "controller.listener.names=CONTROLLER", "--data-dir", base+"/2")
	waitBrokers(t, b2, 1, logs1, logs2)

	mustCLI(t, b2, "", "topic", "create", "t", "--partitions", "2", "--replication-factor", "1")
	mustCLI(t, b2, "a\nb\nc\n", "produce", "t", "--acks", "all")
	if out := mustCLI(t, b2, "", "consume", "t", "--from-beginning", "--max-messages", "3"); strings.Count(out, "\n") != 3 {
		t.Fatalf("consumed:\n%s", out)
	}
	status := mustCLI(t, b2, "", "cluster", "status")
	for _, want := range []string{"Controller: 2", "Leader: 1", "1   leader", "2   observer", "Offline partitions: 0"} {
		if !strings.Contains(status, want) {
			t.Fatalf("status lacks %q:\n%s", want, status)
		}
	}

	stop3, logs3 := serveNode(t, "--set", "process.roles=controller", "--set", "node.id=3",
		"--set", "controller.quorum.bootstrap.servers="+c1, "--listeners", "CONTROLLER://"+c3,
		"--set", "controller.listener.names=CONTROLLER", "--data-dir", base+"/3")
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(logs3.String(), "skein controller started") {
		if time.Now().After(deadline) {
			t.Fatalf("controller 3 did not start:\n%s", logs3.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		_, errOut, err := cli(t, b2, "", "cluster", "add-controller", "--id", "3", "--timeout", "5s")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("add-controller: %v %s\n%s", err, errOut, logs3.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	voters := func() []int32 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b2))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		resp, err := describeQuorum(t.Context(), cl)
		if err != nil {
			t.Fatal(err)
		}
		var out []int32
		for _, v := range resp.Topics[0].Partitions[0].CurrentVoters {
			out = append(out, v.ReplicaID)
		}
		return out
	}
	if v := voters(); len(v) != 2 {
		t.Fatalf("voters after add-controller: %v", v)
	}
	mustCLI(t, b2, "", "cluster", "remove-controller", "--id", "3")
	if v := voters(); len(v) != 1 || v[0] != 1 {
		t.Fatalf("voters after remove-controller: %v", v)
	}
	// The removed controller learns of its removal from the leader's
	// last message to it; wait for that before stopping it.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(logs3.String(), "removed from the metadata quorum"); {
		if time.Now().After(deadline) {
			t.Fatalf("removed controller did not notice:\n%s", logs3.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop3(); err != nil {
		t.Fatalf("removed controller: %v\n%s", err, logs3.String())
	}
	// The only broker cannot be removed: its replicas have nowhere to go.
	if _, _, err := cli(t, b2, "", "cluster", "remove-broker", "--id", "2", "--wait", "1s"); err == nil || !strings.Contains(err.Error(), "has its only replica on broker 2") {
		t.Fatalf("remove-broker of the only broker: %v", err)
	}
	if _, _, err := cli(t, b2, "", "cluster", "remove-broker", "--id", "9"); err == nil || !strings.Contains(err.Error(), "broker 9 is not registered") {
		t.Fatalf("remove-broker of an unknown broker: %v", err)
	}
	if err := stop2(); err != nil {
		t.Fatalf("broker: %v\n%s", err, logs2.String())
	}
	if err := stop1(); err != nil {
		t.Fatalf("controller: %v\n%s", err, logs1.String())
	}
}

// TestServeCheckConfigQuorum runs --check-config on a combined node's
// settings and refuses a controller that is not among the voters.
func TestServeCheckConfigQuorum(t *testing.T) {
	var out, errOut bytes.Buffer
	args := []string{"serve", "--check-config", "--set", "process.roles=broker,controller", "--set", "node.id=1",
		"--set", "controller.quorum.voters=1@127.0.0.1:19093", "--listeners", "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
		"--set", "controller.listener.names=CONTROLLER", "--data-dir", t.TempDir()}
	if err := run(t.Context(), args, strings.NewReader(""), &out, &errOut); err != nil || !strings.Contains(out.String(), "configuration is valid") {
		t.Fatalf("check-config: %v %s %s", err, out.String(), errOut.String())
	}
	args[7] = "controller.quorum.voters=2@127.0.0.1:19093"
	out.Reset()
	errOut.Reset()
	err := run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "must be included in the set of voters") {
		t.Fatalf("controller outside the voters: %v", err)
	}
}

// TestQuorumFromSettings splits the controller listener off the broker's
// listeners and reads the quorum settings.
func TestQuorumFromSettings(t *testing.T) {
	values, err := serveSettings(serveOptions{sets: []string{"process.roles=broker,controller", "node.id=2",
		"controller.quorum.voters=1@h1:9093,2@h2:9093", "controller.listener.names=CONTROLLER",
		"advertised.listeners=PLAINTEXT://b2:9092,CONTROLLER://h2:9093", "controller.quorum.election.timeout.ms=2000"},
		listeners: "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093", dataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := brokerConfig(values)
	if err != nil {
		t.Fatal(err)
	}
	q, err := quorumFromSettings(values, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Name != "PLAINTEXT" || len(cfg.Advertised) != 1 || cfg.Advertised[0].Host != "b2" {
		t.Fatalf("broker listeners %+v advertised %+v", cfg.Listeners, cfg.Advertised)
	}
	if q.listener.Name != "CONTROLLER" || q.advertise != "h2:9093" || len(q.voters) != 2 || q.voters[1].Addr != "h2:9093" || q.electionTicks != 20 || !q.roles.Broker || !q.roles.Controller {
		t.Fatalf("quorum %+v", q)
	}
	if got := advertisedAddr("0.0.0.0:0", &net.TCPAddr{IP: net.IPv4zero, Port: 5}); !strings.HasSuffix(got, ":5") || strings.HasPrefix(got, "0.0.0.0") {
		t.Fatalf("advertised %q", got)
	}
	values["process.roles"] = ""
	if q, err := quorumFromSettings(values, &cfg); q != nil || err != nil {
		t.Fatalf("single node: %+v %v", q, err)
	}
	_ = fmt.Sprint(kmsg.DescribeQuorum)
}
