package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// devCluster is a running `skein dev cluster`.
type devCluster struct {
	cmd       *exec.Cmd
	bootstrap string
	// registries are the schema registries' URLs (schema.registry.url).
	registries []string
	stderr     *bytes.Buffer
	done       chan error
	pids       []int
}

// startDevCluster runs `skein dev cluster --nodes n --dir dir` and waits for
// the bootstrap list and registry URLs it prints once every node serves.
func startDevCluster(t *testing.T, n int, dir string) *devCluster {
	t.Helper()
	cmd := exec.Command(skeinBin, "dev", "cluster", "--nodes", strconv.Itoa(n), "--dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &devCluster{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.stop(t) })
	lines := make(chan [2]string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		var bootstrap string
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "bootstrap.servers="); ok {
				bootstrap = v
			}
			if v, ok := strings.CutPrefix(s.Text(), "schema.registry.url="); ok {
				lines <- [2]string{bootstrap, v}
			}
		}
		d.done <- cmd.Wait()
	}()
	select {
	case l := <-lines:
		d.bootstrap, d.registries = l[0], strings.Split(l[1], ",")
	case err := <-d.done:
		t.Fatalf("skein dev cluster exited before serving: %v\n%s", err, d.stderr)
	case <-time.After(3 * time.Minute):
		t.Fatalf("skein dev cluster did not serve:\n%s", d.stderr)
	}
	for _, line := range strings.Split(d.stderr.String(), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[0] == "node" && f[2] == "pid" {
			pid, err := strconv.Atoi(strings.TrimSuffix(f[3], ","))
			if err == nil {
				d.pids = append(d.pids, pid)
			}
		}
	}
	if len(d.pids) != n || len(d.registries) != n {
		t.Fatalf("node pids %v, registries %v from:\n%s", d.pids, d.registries, d.stderr)
	}
	return d
}

// stop sends SIGTERM to `skein dev cluster` and waits for it, which stops
// its nodes first.
func (d *devCluster) stop(t *testing.T) {
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(90 * time.Second):
		d.cmd.Process.Kill()
		for _, pid := range d.pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		<-d.done
		t.Errorf("skein dev cluster did not stop on SIGTERM:\n%s", d.stderr)
	}
}

// alive reports whether a process still exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestDevCluster starts three combined nodes with `skein dev cluster`,
// creates a topic with replication factor 3 with a franz-go client,
// produces (acks=1) and consumes through every node, registers a schema
// through node 1's schema registry and reads it through node 3's, checks
// `skein cluster status` and `skein cluster elect-leaders`, and stops the
// cluster with SIGTERM: every node process ends. Started again on the same
// directory, the cluster still has the topic, its records and the schema.
func TestDevCluster(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	d := startDevCluster(t, 3, dir)
	seeds := strings.Split(d.bootstrap, ",")
	if len(seeds) != 3 {
		t.Fatalf("bootstrap %q", d.bootstrap)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	created, err := adm.CreateTopic(ctx, 3, 3, nil, "orders")
	if err != nil || created.Err != nil {
		t.Fatal(err, created.Err)
	}
	var leaders []int32
	checkDeadline(t, time.Minute, func() error {
		td, err := adm.ListTopics(ctx, "orders")
		if err != nil {
			return err
		}
		leaders = nil
		for _, p := range td["orders"].Partitions.Sorted() {
			if len(p.Replicas) != 3 || len(p.ISR) != 3 || p.Leader < 0 {
				return fmt.Errorf("partition %+v", p)
			}
			leaders = append(leaders, p.Leader)
		}
		if len(leaders) != 3 {
			return fmt.Errorf("%d partitions", len(leaders))
		}
		return nil
	})
	const n = 30
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: "orders", Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("order-%d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consumeAll := func(seeds []string, topic string, n int) {
		c, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got := map[string]bool{}
		for len(got) < n && ctx.Err() == nil {
			fs := c.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
		}
		if len(got) != n {
			t.Fatalf("%s: consumed %d of %d records", topic, len(got), n)
		}
	}
	for _, s := range seeds {
		consumeAll([]string{s}, "orders", n)
	}
	// A topic whose partitions have one replica each keeps its records
	// where they are across a restart of the whole cluster.
	if created, err := adm.CreateTopic(ctx, 3, 1, nil, "single"); err != nil || created.Err != nil {
		t.Fatal(err, created.Err)
	}
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: "single", Key: []byte(strconv.Itoa(i)), Value: []byte(fmt.Sprintf("single-%d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// The nodes' schema registries are one registry.
	avsc := filepath.Join(t.TempDir(), "order.avsc")
	const orderSchema = `{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}`
	if err := os.WriteFile(avsc, []byte(orderSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runSkein(t, "schema", "register", "orders-value", avsc, "--registry", d.registries[0]); strings.TrimSpace(out) != "1" {
		t.Fatalf("schema register through %s: %q", d.registries[0], out)
	}
	if out := runSkein(t, "schema", "get", "--id", "1", "--raw", "--registry", d.registries[2]); !strings.Contains(out, `"Order"`) {
		t.Fatalf("schema 1 through %s: %q", d.registries[2], out)
	}

	status := runSkein(t, "cluster", "status", "--bootstrap", d.bootstrap)
	for _, want := range []string{"METADATA QUORUM", "Offline partitions: 0", "Under-replicated partitions: 0"} {
		if !strings.Contains(status, want) {
			t.Fatalf("cluster status lacks %q:\n%s", want, status)
		}
	}
	if c := strings.Count(status, "active"); c != 3 {
		t.Fatalf("cluster status lists %d active brokers:\n%s", c, status)
	}
	if c := strings.Count(status, "voter") + strings.Count(status, "leader  "); c < 3 {
		t.Fatalf("cluster status lists %d voters:\n%s", c, status)
	}
	elect := runSkein(t, "cluster", "elect-leaders", "--topic", "orders", "--bootstrap", d.bootstrap)
	if strings.Count(elect, "ELECTION_NOT_NEEDED") != 3 {
		t.Fatalf("elect-leaders:\n%s", elect)
	}
	if out := runSkein(t, "cluster", "reassign", "--list", "--bootstrap", d.bootstrap); strings.Count(out, "\n") != 1 {
		t.Fatalf("reassign --list:\n%s", out)
	}

	pids := d.pids
	d.stop(t)
	for _, pid := range pids {
		if alive(pid) {
			t.Fatalf("node process %d still running after the cluster stopped", pid)
		}
	}
	if !strings.Contains(d.stderr.String(), "stopping the nodes") {
		t.Fatalf("stderr:\n%s", d.stderr)
	}

	d = startDevCluster(t, 3, dir)
	if d.bootstrap != strings.Join(seeds, ",") {
		t.Fatalf("restarted cluster on %s, was %s", d.bootstrap, strings.Join(seeds, ","))
	}
	consumeAll(seeds, "single", n)
	if out := runSkein(t, "schema", "get", "orders-value", "1", "--registry", d.registries[1]); !strings.Contains(out, `"id": 1`) {
		t.Fatalf("orders-value version 1 after restart: %q", out)
	}
	// The replicated topic is there and takes new records.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	td, err := kadm.NewClient(cl2).ListTopics(ctx, "orders")
	if err != nil || len(td["orders"].Partitions) != 3 {
		t.Fatalf("orders after restart: %v %+v", err, td)
	}
	if err := cl2.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("after-restart")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// runSkein runs the skein binary and returns its standard output.
func runSkein(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(skeinBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "SKEIN_BOOTSTRAP=")
	if err := cmd.Run(); err != nil {
		t.Fatalf("skein %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// checkDeadline polls cond until it holds or d passes.
func checkDeadline(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
