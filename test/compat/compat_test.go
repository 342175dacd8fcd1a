//go:build compat

package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// clientTimeout bounds one client program (five codecs).
	clientTimeout = 20 * time.Minute
	// brokerStartTimeout bounds building nothing and starting skein serve
	// until it answers a Metadata request.
	brokerStartTimeout = 60 * time.Second
	// brokerStopTimeout is how long SIGTERM gets before SIGKILL.
	brokerStopTimeout = 30 * time.Second
)

// compatDir is the directory of this package (test/compat).
var compatDir = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}()

const installHint = "run `bash test/compat/install.sh` first"

// The broker is shared by all tests of the package: started on first use,
// stopped by TestMain.
var (
	brokerOnce sync.Once
	brokerMu   sync.Mutex
	brokerInst *broker
	brokerErr  error
)

type broker struct {
	stopOnce sync.Once
	stopErr  error
	addr     string
	// registryURL is the embedded schema registry's, on a free port too.
	registryURL string
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process has exited
	waitErr     error
	logPath     string
	tmp         string
}

// Process groups of running client programs, killed if the test binary is
// interrupted.
var (
	clientsMu sync.Mutex
	clients   = map[int]bool{}
)

func TestMain(m *testing.M) {
	// On SIGINT/SIGTERM (Ctrl-C, go test's own timeout handling aside) stop
	// everything this binary started before exiting.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "compat: %v: stopping the clients and skein\n", sig)
		clientsMu.Lock()
		for pgid := range clients {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		clientsMu.Unlock()
		if b := startedBroker(); b != nil {
			_ = b.stop()
		}
		os.Exit(1)
	}()
	code := m.Run()
	signal.Stop(sigs)
	if b := startedBroker(); b != nil {
		if err := b.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "compat: stopping skein: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// startedBroker returns the broker if one was started, without starting one.
func startedBroker() *broker {
	brokerMu.Lock()
	defer brokerMu.Unlock()
	return brokerInst
}

// bootstrap returns the address of the broker under test, starting skein
// serve the first time unless SKEIN_COMPAT_BOOTSTRAP names a broker.
func bootstrap(t *testing.T) (addr string, b *broker) {
	t.Helper()
	if addr := os.Getenv("SKEIN_COMPAT_BOOTSTRAP"); addr != "" {
		return addr, nil
	}
	brokerOnce.Do(func() {
		b, err := startBroker()
		brokerMu.Lock()
		brokerInst, brokerErr = b, err
		brokerMu.Unlock()
	})
	if brokerErr != nil {
		t.Fatalf("starting skein serve: %v", brokerErr)
	}
	return brokerInst.addr, brokerInst
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the skein Go module")
	}
	return filepath.Dir(gomod), nil
}

func startBroker() (*broker, error) {
	tmp, err := os.MkdirTemp("", "skein-compat-")
	if err != nil {
		return nil, err
	}
	bin := os.Getenv("SKEIN_COMPAT_SKEIN")
	if bin == "" {
		root, err := repoRoot()
		if err != nil {
			os.RemoveAll(tmp)
			return nil, err
		}
		bin = filepath.Join(tmp, "skein")
		build := exec.Command("go", "build", "-o", bin, "./cmd/skein")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("go build ./cmd/skein: %v\n%s", err, out)
		}
	}
	// The free port is found by binding :0 and closing it, so another
	// process may take it before skein binds it: retry on a new port when
	// skein exits during start-up.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		b, err := launch(bin, tmp, attempt)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	os.RemoveAll(tmp)
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(bin, tmp string, attempt int) (*broker, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	regPort, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dataDir := filepath.Join(tmp, fmt.Sprintf("data-%d", attempt))
	logPath := filepath.Join(tmp, fmt.Sprintf("skein-%d.log", attempt))
	// The schema registry on a free port and no admin server, so that
	// nothing listens on a fixed port other runs may want.
	b, err := startSkein(logPath, bin, "serve",
		"--listeners", "PLAINTEXT://"+addr,
		"--data-dir", dataDir,
		"--set", fmt.Sprintf("skein.registry.address=127.0.0.1:%d", regPort),
		"--set", "skein.admin.address=",
	)
	if err != nil {
		return nil, err
	}
	b.addr, b.registryURL, b.tmp = addr, fmt.Sprintf("http://127.0.0.1:%d", regPort), tmp
	if err := b.waitReady(); err != nil {
		b.kill()
		return nil, fmt.Errorf("skein serve on %s: %v\n--- skein log ---\n%s", addr, err, b.logTail(60))
	}
	return b, nil
}

// waitReady polls until the broker answers a Metadata request and the
// registry's port accepts connections, the process exits, or the start-up
// deadline passes.
// startSkein starts a skein process (argv) writing its output to
// logPath, and returns it as a broker whose done closes when it exits.
// The process has its own process group (a terminal's Ctrl-C reaches
// TestMain, which stops skein in order) and is SIGKILLed if the test
// binary dies without doing so (a panic, go test's -timeout): Pdeathsig
// follows the thread that started the process, so that goroutine keeps
// its thread until the end.
func startSkein(logPath string, argv ...string) (*broker, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	b := &broker{cmd: cmd, done: make(chan struct{}), logPath: logPath}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			logFile.Close()
			started <- err
			return
		}
		started <- nil
		b.waitErr = cmd.Wait()
		logFile.Close()
		close(b.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return b, nil
}

func (b *broker) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), brokerStartTimeout)
	defer cancel()
	var lastErr error
	for {
		select {
		case <-b.done:
			return fmt.Errorf("exited during start-up: %v", b.waitErr)
		default:
		}
		lastErr = probeMetadata(ctx, b.addr)
		if lastErr == nil {
			// The registry binds its port once the broker has started.
			var conn net.Conn
			if conn, lastErr = net.DialTimeout("tcp", strings.TrimPrefix(b.registryURL, "http://"), time.Second); lastErr == nil {
				conn.Close()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", brokerStartTimeout, lastErr)
		case <-b.done:
			return fmt.Errorf("exited during start-up: %v", b.waitErr)
		case <-time.After(50 * time.Millisecond): // poll interval
		}
	}
}

func probeMetadata(ctx context.Context, addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	conn.Close()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DialTimeout(time.Second),
		kgo.RequestRetries(0),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Brokers) == 0 {
		return errors.New("metadata response lists no brokers")
	}
	return nil
}

// stop sends SIGTERM, waits for the exit, and sends SIGKILL after a
// deadline. Only the first call does anything.
func (b *broker) stop() error {
	b.stopOnce.Do(func() { b.stopErr = b.doStop() })
	return b.stopErr
}

func (b *broker) doStop() error {
	defer os.RemoveAll(b.tmp)
	select {
	case <-b.done:
		return fmt.Errorf("skein exited before the end of the tests: %v\n%s", b.waitErr, b.logTail(60))
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		return nil
	case <-time.After(brokerStopTimeout):
		b.kill()
		return fmt.Errorf("skein did not exit within %v of SIGTERM; killed", brokerStopTimeout)
	}
}

func (b *broker) kill() {
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	<-b.done
}

func (b *broker) logTail(n int) string { return logTail(b.logPath, n) }

// logTail returns the last n lines of the log file at path.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d earlier lines)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// topicPrefix is unique per run so that the tests can share a broker that
// has seen earlier runs.
func topicPrefix() string {
	return fmt.Sprintf("compat-%d-%04x", time.Now().Unix(), rand.IntN(1<<16))
}

// lineLogger writes each complete line to the test log as it arrives.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err == io.EOF {
			l.buf.WriteString(line) // incomplete: keep for later
			break
		}
		l.t.Log(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 {
		l.t.Log(l.buf.String())
		l.buf.Reset()
	}
}

// runClient runs one client program against the broker with the bootstrap
// address and a fresh topic prefix, logging its output; the test fails when
// the program exits non-zero.
func runClient(t *testing.T, name string, argv ...string) {
	t.Helper()
	addr, _ := bootstrap(t)
	args := []string{addr, topicPrefix()}
	if codecs := os.Getenv("SKEIN_COMPAT_CODECS"); codecs != "" {
		args = append(args, codecs)
	}
	runProgram(t, name, append(argv[:len(argv):len(argv)], args...))
}

// runProgram runs argv (the program and all its arguments) against the
// broker that bootstrap returned, logging its output; the test fails when
// the program exits non-zero.
func runProgram(t *testing.T, name string, argv []string) {
	t.Helper()
	_, b := bootstrap(t)
	logPath := ""
	if b != nil {
		logPath = b.logPath
	}
	runProgramLogging(t, name, argv, logPath)
}

// runProgramLogging runs a client program (argv: the program and all its
// arguments), logging its output; the test fails when it exits non-zero
// or outlives clientTimeout, and then shows the tail of the skein log at
// logPath (if any).
func runProgramLogging(t *testing.T, name string, argv []string, logPath string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = compatDir
	cmd.Stdin = nil
	out := &lineLogger{t: t}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Pdeathsig follows the starting thread: keep it for the client's life.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// On timeout, kill the client's whole process group (kcat children too).
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	t.Logf("%s: %s", name, strings.Join(cmd.Args, " "))
	start := time.Now()
	clientsMu.Lock() // held across Start so an interrupt sees the new group
	err := cmd.Start()
	if err == nil {
		clients[cmd.Process.Pid] = true
	}
	clientsMu.Unlock()
	if err == nil {
		err = cmd.Wait()
		clientsMu.Lock()
		delete(clients, cmd.Process.Pid)
		clientsMu.Unlock()
	}
	out.flush()
	if err != nil {
		if ctx.Err() != nil {
			t.Errorf("%s: timed out after %v", name, clientTimeout)
		} else {
			t.Errorf("%s: %v (took %v)", name, err, time.Since(start).Round(time.Millisecond))
		}
		if logPath != "" {
			t.Logf("--- tail of the skein log (%s) ---\n%s", logPath, logTail(logPath, 80))
		}
		return
	}
	t.Logf("%s: passed in %v", name, time.Since(start).Round(time.Millisecond))
}

func venvPython(t *testing.T) string {
	t.Helper()
	py := filepath.Join(compatDir, ".venv", "bin", "python")
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("the Python venv %s is missing: %s", py, installHint)
	}
	if out, err := exec.Command(py, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
		t.Fatalf("confluent_kafka does not import in %s: %v\n%s\n%s", py, err, out, installHint)
	}
	return py
}

func TestCompatKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat is not installed: %s", installHint)
	}
	py := venvPython(t)
	runClient(t, "kcat", py, filepath.Join(compatDir, "kcat", "kcat_check.py"))
}

func TestCompatPython(t *testing.T) {
	py := venvPython(t)
	runClient(t, "confluent-kafka", py, filepath.Join(compatDir, "python", "compat_check.py"))
}

func TestCompatJava(t *testing.T) {
	java, jar := javaJar(t)
	runClient(t, "java kafka-clients", java, "-jar", jar)
}

// javaJar returns the java command and the check program's jar, failing
// the test when either is missing or the jar is older than its sources.
func javaJar(t *testing.T) (java, jar string) {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatalf("java is not installed (Java 17 or newer is needed)")
	}
	jar = filepath.Join(compatDir, "java", "target", "compat-check.jar")
	st, err := os.Stat(jar)
	if err != nil {
		t.Fatalf("%s is missing: %s", jar, installHint)
	}
	// A jar older than its sources would test stale code.
	_ = filepath.WalkDir(filepath.Join(compatDir, "java", "src"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil && info.ModTime().After(st.ModTime()) {
				t.Fatalf("%s is older than %s: %s", jar, p, installHint)
			}
		}
		return nil
	})
	if info, err := os.Stat(filepath.Join(compatDir, "java", "pom.xml")); err == nil && info.ModTime().After(st.ModTime()) {
		t.Fatalf("%s is older than pom.xml: %s", jar, installHint)
	}
	return java, jar
}
