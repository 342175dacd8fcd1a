package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Durability modes. In fsync mode both brokers make every batch durable
// before acknowledging it (Kafka log.flush.interval.messages=1, Skein's
// default write.caching=false); in buffered mode both leave writes to
// the OS page cache (Kafka's defaults, Skein log.write.caching=true).
const (
	modeFsync    = "fsync"
	modeBuffered = "buffered"
)

// brokerProc is one running broker process.
type brokerProc struct {
	name  string // "skein" or "kafka"
	addr  string // host:port of the PLAINTEXT listener
	admin string // Skein's admin address, when asked for
	cmd   *exec.Cmd
	dir   string
	log   *os.File
	// startup is the time from spawning the process to the first
	// acknowledged produce; idleRSS the resident set a moment later.
	startup time.Duration
	idleRSS int64
	// formatTime is how long Kafka's storage format took (before spawn).
	formatTime time.Duration
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startSkein spawns skein serve on a fresh data directory. adminAddr is
// empty to keep the admin server off.
func startSkein(cfg *config, mode, dir, adminAddr string) (*brokerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"serve",
		"--data-dir", filepath.Join(dir, "data"),
		"--listeners", fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", port),
		"--set", "skein.admin.address=" + adminAddr,
		// The broker alone, as Kafka runs alone: no embedded registry,
		// whose topics would be created during the start-up timing.
		"--set", "skein.registry.address=",
	}
	if mode == modeBuffered {
		args = append(args, "--set", "log.write.caching=true")
	}
	p := &brokerProc{name: "skein", addr: fmt.Sprintf("127.0.0.1:%d", port), admin: adminAddr, dir: dir}
	return p, p.spawn(exec.Command(cfg.skein, args...))
}

// kafkaJVMOpts are the options kafka-server-start.sh and
// kafka-run-class.sh use by default.
var kafkaJVMOpts = []string{
	"-Xmx1G", "-Xms1G",
	"-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
	"-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true",
}

// startKafka writes a KRaft single-node (broker and controller) config,
// formats the storage with a random cluster id and a standalone
// controller quorum, and spawns kafka.Kafka.
func startKafka(cfg *config, mode, dir string) (*brokerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	props := []string{
		"process.roles=broker,controller",
		"node.id=1",
		fmt.Sprintf("controller.quorum.bootstrap.servers=127.0.0.1:%d", cport),
		fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d", port, cport),
		fmt.Sprintf("advertised.listeners=PLAINTEXT://127.0.0.1:%d", port),
		"controller.listener.names=CONTROLLER",
		"listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
		"log.dirs=" + filepath.Join(dir, "data"),
		// A single node: internal topics with one replica, as Skein.
		"offsets.topic.replication.factor=1",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
	}
	if mode == modeFsync {
		props = append(props, "log.flush.interval.messages=1")
	}
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	log4j := filepath.Join(dir, "log4j2.properties")
	if err := os.WriteFile(log4j, []byte(log4jConfig), 0o644); err != nil {
		return nil, err
	}
	cp := filepath.Join(cfg.kafkaLib, "*")
	jvm := append(append([]string{}, kafkaJVMOpts...), "-Dlog4j2.configurationFile="+log4j, "-cp", cp)

	var id [16]byte
	rand.Read(id[:])
	clusterID := base64.RawURLEncoding.EncodeToString(id[:])
	start := time.Now()
	format := exec.Command("java", append(append([]string{}, jvm...), "kafka.tools.StorageTool", "format",
		"-t", clusterID, "-c", propsFile, "--standalone")...)
	if out, err := format.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kafka storage format: %v\n%s", err, out)
	}
	p := &brokerProc{name: "kafka", addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, formatTime: time.Since(start)}
	return p, p.spawn(exec.Command("java", append(jvm, "kafka.Kafka", propsFile)...))
}

const log4jConfig = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.stdout.ref = STDOUT
`

// spawn starts cmd with its output in the broker's log file, then
// measures the time to the first acknowledged produce and the idle RSS.
func (p *brokerProc) spawn(cmd *exec.Cmd) error {
	f, err := os.Create(filepath.Join(p.dir, p.name+".log"))
	if err != nil {
		return err
	}
	p.log = f
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd = cmd
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := firstAck(ctx, p.addr, exited); err != nil {
		p.stop()
		return fmt.Errorf("%s: no acknowledged produce: %w (log: %s)", p.name, err, f.Name())
	}
	p.startup = time.Since(start)
	time.Sleep(idleSettle)
	p.idleRSS, _ = p.rss("VmRSS")
	return nil
}

// idleSettle is how long a broker sits without load before its idle RSS
// is read.
const idleSettle = 3 * time.Second

// firstAck loops creating a one-partition topic and producing one record
// with a short timeout, each try on a new client, until one produce is
// acknowledged (acks=all).
func firstAck(ctx context.Context, addr string, exited <-chan error) error {
	for ctx.Err() == nil {
		select {
		case err := <-exited:
			return fmt.Errorf("process exited: %v", err)
		default:
		}
		if tryProduce(ctx, addr) == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ctx.Err()
}

func tryProduce(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(250*time.Millisecond),
		kgo.DefaultProduceTopic("first-ack"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "first-ack"); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return err
	}
	return cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
}

// stop sends SIGTERM and waits up to 30 s before SIGKILL, then removes
// the data directory.
func (p *brokerProc) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		pgid := p.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) && syscall.Kill(pgid, 0) == nil && !zombie(pgid) {
			time.Sleep(100 * time.Millisecond)
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if p.log != nil {
		p.log.Close()
	}
	os.RemoveAll(filepath.Join(p.dir, "data"))
}

// zombie reports whether pid has exited but not been reaped (cmd.Wait
// in spawn reaps it).
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}

// rss reads a field of /proc/PID/status (VmRSS, VmHWM) in bytes.
func (p *brokerProc) rss(field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, p.cmd.Process.Pid)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds is the process's user plus system CPU time so far.
func (p *brokerProc) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}
