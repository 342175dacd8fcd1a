//go:build compat

package compat

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

// TestClusterRollingRestartJava is test/cluster's TestRollingRestart with
// the Java client beside franz-go: a three-node cluster is restarted node
// by node (SIGTERM, clean exit, start, back in every ISR) while
// java/src/main/java/dev/skein/compat/RollingCheck.java produces
// (idempotent, acks=all) and consumes with a group (commitSync after each
// poll), and franz-go producers and a consumer group do the same on
// another topic. kafka-clients and franz-go retry leader and coordinator
// moves on their own: no exception may reach either application, and
// every acknowledged record must be consumed.
func TestClusterRollingRestartJava(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test; skipped with -short")
	}
	java, jar := javaJar(t)
	bin, err := clustertest.BuildSkein(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := clustertest.Start(t, clustertest.Options{Nodes: 3, Binary: bin})
	const (
		javaTopic  = "rolling-java"
		goTopic    = "rolling-go"
		partitions = 3
	)
	for _, topic := range []string{javaTopic, goTopic} {
		clustertest.CreateTopic(c, topic, partitions, 3, map[string]string{"min.insync.replicas": "2"})
	}
	ledger := clustertest.NewLedger(goTopic, partitions, "rolling-go")
	prods := clustertest.StartProducers(c, ledger, 1, 2, 10*time.Millisecond)
	group := clustertest.StartGroupConsumers(c, ledger, "rolling-go-group", 2)

	jc := startRollingJava(t, java, jar, c.BootstrapString(), javaTopic, "rolling-java-group")
	jc.waitReady(t, 2*time.Minute)
	c.WaitFullISR(time.Minute, clustertest.ConsumerOffsetsTopic, clustertest.OffsetsTopicPartitions)

	took := clustertest.RollingRestart(c, map[string]int32{
		javaTopic:                        partitions,
		goTopic:                          partitions,
		clustertest.ConsumerOffsetsTopic: clustertest.OffsetsTopicPartitions,
	})
	t.Logf("rolling restart: per node %s", clustertest.Stats(took))
	c.PollUntil(time.Minute, "franz-go acknowledgements after the restart", func() error {
		if ledger.AckedSince(0, time.Now().Add(-time.Second)) == 0 {
			return fmt.Errorf("no acknowledgement in the last second")
		}
		return nil
	})

	out := jc.finish(t, 5*time.Minute)
	t.Logf("java: %s", lastLine(out, "PASS", "FAIL"))

	prods.Stop(time.Minute)
	produced, acked, failed, pending := ledger.Counts()
	t.Logf("franz-go: produced %d records: %d acknowledged, %d failed, %d pending", produced, acked, failed, pending)
	if failed+pending != 0 {
		t.Errorf("franz-go: %d records failed and %d are pending (%s)", failed, pending, ledger.Errors())
	}
	group.WaitConsumed(c, 2*time.Minute)
	group.Stop()
	for _, e := range group.RetriedCommits() {
		t.Logf("franz-go consumer group: retried a commit: %s", e)
	}
	for _, e := range group.Errors() {
		t.Errorf("franz-go consumer group: %s", e)
	}
	clustertest.VerifyTopic(c, ledger, clustertest.VerifyOptions{})
}

// rollingJava is the running RollingCheck program.
type rollingJava struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready chan struct{}
	done  chan struct{}

	mu  sync.Mutex
	out strings.Builder
	err error
}

func startRollingJava(t *testing.T, java, jar, bootstrap, topic, group string) *rollingJava {
	t.Helper()
	cmd := exec.Command(java, "-cp", jar, "dev.skein.compat.RollingCheck", bootstrap, topic, group, "900")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = nil
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "java-stderr.log")
	errFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = errFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	clientsMu.Lock()
	clients[cmd.Process.Pid] = true
	clientsMu.Unlock()
	j := &rollingJava{cmd: cmd, stdin: stdin, ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			j.mu.Lock()
			j.out.WriteString(line + "\n")
			j.mu.Unlock()
			if line == "READY" {
				once.Do(func() { close(j.ready) })
			}
		}
		err := cmd.Wait()
		errFile.Close()
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
		close(j.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-j.done
		clientsMu.Lock()
		delete(clients, cmd.Process.Pid)
		clientsMu.Unlock()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- java stdout ---\n%s--- java stderr ---\n%s", j.output(), b)
		}
	})
	return j
}

func (j *rollingJava) output() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.out.String()
}

func (j *rollingJava) waitReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-j.ready:
	case <-j.done:
		t.Fatalf("RollingCheck exited before it was ready: %v\n%s", j.err, j.output())
	case <-time.After(timeout):
		t.Fatalf("RollingCheck not ready after %v\n%s", timeout, j.output())
	}
}

// finish tells the program to stop and waits for its verdict.
func (j *rollingJava) finish(t *testing.T, timeout time.Duration) string {
	t.Helper()
	_, _ = io.WriteString(j.stdin, "stop\n")
	j.stdin.Close()
	select {
	case <-j.done:
	case <-time.After(timeout):
		t.Fatalf("RollingCheck did not finish within %v after being told to stop\n%s", timeout, j.output())
	}
	out := j.output()
	if j.err != nil || !strings.Contains(out, "\nPASS ") && !strings.HasPrefix(out, "PASS ") {
		t.Errorf("RollingCheck failed (%v):\n%s", j.err, out)
	}
	return out
}

// lastLine returns the last line of out starting with one of prefixes.
func lastLine(out string, prefixes ...string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		for _, p := range prefixes {
			if strings.HasPrefix(lines[i], p) {
				return lines[i]
			}
		}
	}
	return ""
}
