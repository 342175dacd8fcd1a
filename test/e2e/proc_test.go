package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// startTimeout bounds how long a broker may take to recover its logs
	// and answer ApiVersions.
	startTimeout = 60 * time.Second
	// exitTimeout bounds how long a process may take to exit after
	// SIGTERM (and, separately, after SIGKILL).
	exitTimeout = 20 * time.Second
	// logTailLines is how much of each broker log a failed test prints.
	logTailLines = 150
)

// skeinProc is one `skein serve` process.
type skeinProc struct {
	t       testing.TB
	dataDir string
	port    int
	addr    string
	cmd     *exec.Cmd
	logPath string
	// exited is closed once the process has been reaped; waitErr is
	// valid after that.
	exited  chan struct{}
	waitErr error
	// signalled records that the test sent SIGKILL or SIGTERM, so an exit
	// is expected.
	signalled atomic.Bool
}

var procSeq atomic.Int64

// errBind is returned by tryStartSkein when the listener could not bind.
var errBind = errors.New("listener could not bind")

// startSkein starts `skein serve` on dataDir, listening on 127.0.0.1:port
// (port 0 picks a free one), and waits until it answers ApiVersions. If the
// port cannot be bound (another process took it between the probe and the
// bind), it retries on a fresh port. The process is stopped when the test
// ends: SIGTERM, then SIGKILL if it has not exited in time.
func startSkein(t testing.TB, dataDir string, port int, args ...string) *skeinProc {
	t.Helper()
	const attempts = 5
	for i := 0; ; i++ {
		p := port
		if p == 0 || i > 0 {
			p = freePort(t)
		}
		sp, err := tryStartSkein(t, dataDir, p, args)
		if err == nil {
			return sp
		}
		if errors.Is(err, errBind) && i+1 < attempts {
			t.Logf("port %d: %v; retrying on another port", p, err)
			continue
		}
		t.Fatalf("starting skein: %v", err)
	}
}

func tryStartSkein(t testing.TB, dataDir string, port int, args []string) (*skeinProc, error) {
	t.Helper()
	n := procSeq.Add(1)
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("skein-%d.log", n))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	argv := []string{"serve", "--data-dir", dataDir, "--listeners", "PLAINTEXT://" + addr,
		// No operator HTTP server and no embedded schema registry:
		// their default ports are fixed and would be shared by every
		// broker these tests start, and the registry creates topics
		// of its own.
		"--set", "skein.admin.address=", "--set", "skein.registry.address="}
	argv = append(argv, args...)
	cmd := exec.Command(skeinBin, argv...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	sp := &skeinProc{t: t, dataDir: dataDir, port: port, addr: addr, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		sp.waitErr = cmd.Wait()
		logFile.Close()
		close(sp.exited)
	}()
	// Cleanups run last-registered first: stop the process, then print
	// its (now complete) log if the test failed.
	t.Cleanup(func() {
		if t.Failed() {
			sp.dumpLog()
		}
	})
	t.Cleanup(sp.stop)

	if err := sp.waitReady(); err != nil {
		sp.stop()
		if strings.Contains(sp.readLog(), "address already in use") {
			return nil, fmt.Errorf("%w: %v", errBind, err)
		}
		sp.dumpLog()
		return nil, err
	}
	return sp, nil
}

// waitReady polls until the broker answers an ApiVersions request, the
// process exits, or startTimeout passes.
func (sp *skeinProc) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-sp.exited:
			return fmt.Errorf("skein exited before serving (%v)", sp.waitErr)
		default:
		}
		if err := probeApiVersions(sp.addr); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("skein on %s not serving after %v: %v", sp.addr, startTimeout, err)
		}
		select {
		case <-sp.exited:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// probeApiVersions sends one ApiVersions request on a new connection and
// checks the answer.
func probeApiVersions(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName = "skein-e2e"
	req.ClientSoftwareVersion = "1"
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write(encodeRequest(req, 1)); err != nil {
		return err
	}
	corr, body, err := readFrame(c)
	if err != nil {
		return err
	}
	if corr != 1 {
		return fmt.Errorf("correlation id %d, want 1", corr)
	}
	resp, err := decodeResponse(req, body)
	if err != nil {
		return err
	}
	if code := resp.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
		return fmt.Errorf("ApiVersions error code %d", code)
	}
	return nil
}

// pid is the broker's process id.
func (sp *skeinProc) pid() int { return sp.cmd.Process.Pid }

// alive reports whether the process has not exited.
func (sp *skeinProc) alive() bool {
	select {
	case <-sp.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (sp *skeinProc) kill() {
	sp.t.Helper()
	sp.signalled.Store(true)
	if err := syscall.Kill(sp.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		sp.t.Fatalf("SIGKILL pid %d: %v", sp.pid(), err)
	}
	select {
	case <-sp.exited:
	case <-time.After(exitTimeout):
		sp.t.Fatalf("pid %d did not exit %v after SIGKILL", sp.pid(), exitTimeout)
	}
}

// stop sends SIGTERM, waits up to exitTimeout, then SIGKILLs. A broker that
// exits with an error after SIGTERM fails the test: shutdown must be clean.
// It is idempotent.
func (sp *skeinProc) stop() {
	if !sp.alive() {
		return
	}
	sp.signalled.Store(true)
	_ = syscall.Kill(sp.pid(), syscall.SIGTERM)
	select {
	case <-sp.exited:
		if sp.waitErr != nil {
			sp.t.Errorf("skein pid %d exited with %v after SIGTERM", sp.pid(), sp.waitErr)
		}
		return
	case <-time.After(exitTimeout):
	}
	sp.t.Errorf("skein pid %d still running %v after SIGTERM; sending SIGKILL", sp.pid(), exitTimeout)
	_ = syscall.Kill(sp.pid(), syscall.SIGKILL)
	select {
	case <-sp.exited:
	case <-time.After(exitTimeout):
		sp.t.Errorf("skein pid %d still running %v after SIGKILL", sp.pid(), exitTimeout)
	}
}

// checkAlive fails the test if the process has exited on its own.
func (sp *skeinProc) checkAlive() {
	sp.t.Helper()
	if !sp.alive() && !sp.signalled.Load() {
		sp.t.Fatalf("skein pid %d exited unexpectedly: %v", sp.pid(), sp.waitErr)
	}
}

// rssBytes is the process's resident set size from /proc/PID/status.
func (sp *skeinProc) rssBytes() int64 {
	sp.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", sp.pid()))
	if err != nil {
		sp.t.Fatalf("reading RSS: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				sp.t.Fatalf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				sp.t.Fatalf("unexpected VmRSS line %q", line)
			}
			return kb << 10
		}
	}
	sp.t.Fatalf("no VmRSS in /proc/%d/status", sp.pid())
	return 0
}

func (sp *skeinProc) readLog() string {
	b, _ := os.ReadFile(sp.logPath)
	return string(b)
}

// dumpLog prints the tail of the broker's log.
func (sp *skeinProc) dumpLog() {
	lines := strings.Split(strings.TrimRight(sp.readLog(), "\n"), "\n")
	skipped := 0
	if len(lines) > logTailLines {
		skipped = len(lines) - logTailLines
		lines = lines[skipped:]
	}
	sp.t.Logf("---- skein %s (pid %d, %d earlier lines omitted; full log %s) ----\n%s\n---- end of skein log ----",
		sp.addr, sp.pid(), skipped, sp.logPath, strings.Join(lines, "\n"))
}

// freePort returns a port that was free a moment ago. Another process may
// take it before skein binds; startSkein retries on a bind failure.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// checkFor polls cond every poll until it returns nil or total passes, and
// fails the test with cond's last error.
func checkFor(t testing.TB, total, poll time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %v: %v", total, err)
		}
		time.Sleep(poll)
	}
}

// envInt reads an integer override from the environment.
func envInt(t testing.TB, name string, def int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}
