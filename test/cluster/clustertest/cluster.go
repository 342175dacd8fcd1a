package clustertest

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// StartTimeout bounds how long a cluster may take to form: every node
	// serving Metadata that lists every broker.
	StartTimeout = 90 * time.Second
	// ExitTimeout bounds how long a node may take to exit after SIGTERM
	// (and, separately, after SIGKILL).
	ExitTimeout = 30 * time.Second
	// logTailLines is how much of each node's log a failed test prints.
	logTailLines = 120
)

// Listener names the cluster uses, as in Kafka's KRaft examples.
const (
	BrokerListener     = "PLAINTEXT"
	ControllerListener = "CONTROLLER"
)

// Options configure a cluster.
type Options struct {
	// Nodes is the number of nodes started, ids 1..Nodes, each with
	// process.roles=broker,controller and each a voter of the metadata
	// quorum.
	Nodes int
	// Proxy puts a fault-injecting proxy in front of every listener
	// (see Network); Cluster.Net is then set.
	Proxy bool
	// Settings are added to (and override) every node's
	// server.properties; a value "" removes a setting the harness writes.
	Settings map[string]string
	// NodeSettings, when set, returns settings of one node added over
	// Settings (before the node's Extra), e.g. an extra listener with a
	// port of its own; it must return the same for a node each time.
	NodeSettings func(n *Node) map[string]string
	// Binary is the skein binary; required.
	Binary string
}

// OffsetsTopicPartitions is offsets.topic.num.partitions in every
// cluster (few, to keep three nodes light).
const OffsetsTopicPartitions = 6

// FastFailover are the settings every cluster starts with unless
// Options.Settings overrides them: short broker sessions and replica lag
// so that a dead node is noticed within about a second, and internal
// topics replicated three times.
var FastFailover = map[string]string{
	"broker.session.timeout.ms":                "1000",
	"broker.heartbeat.interval.ms":             "200",
	"replica.lag.time.max.ms":                  "3000",
	"replica.fetch.wait.max.ms":                "250",
	"replica.fetch.backoff.ms":                 "50",
	"replica.socket.timeout.ms":                "3000",
	"offsets.topic.replication.factor":         "3",
	"offsets.topic.num.partitions":             strconv.Itoa(OffsetsTopicPartitions),
	"transaction.state.log.replication.factor": "3",
	"transaction.state.log.num.partitions":     "6",
	"transaction.state.log.min.isr":            "2",
	"default.replication.factor":               "3",
	"group.initial.rebalance.delay.ms":         "0",
	"auto.create.topics.enable":                "false",
}

// Cluster is a set of skein processes forming one cluster.
type Cluster struct {
	T    testing.TB
	opts Options
	dir  string
	// Net is the proxy network when Options.Proxy is set.
	Net *Network

	mu    sync.Mutex
	nodes map[int32]*Node
}

// Node is one node of the cluster. Its ports and data directory stay the
// same across restarts.
type Node struct {
	c     *Cluster
	ID    int32
	Roles string // process.roles
	// Voter reports whether the node is in the initial
	// controller.quorum.voters.
	Voter bool
	Dir   string // everything of the node: config, data, logs
	// DataDir is log.dirs.
	DataDir string
	// BrokerAddr and ControllerAddr are the addresses the node binds.
	BrokerAddr, ControllerAddr string
	// AdvertisedAddr is the PLAINTEXT address clients and other nodes
	// use (the proxy's when proxied), and VoterAddr the CONTROLLER
	// address in controller.quorum.voters.
	AdvertisedAddr, VoterAddr string
	// BackdoorAddr reaches the node's PLAINTEXT listener through a proxy
	// that is never cut (proxied clusters only).
	BackdoorAddr string
	// Extra settings of this node only, over the cluster's.
	Extra map[string]string

	cfgPath string
	logPath string

	mu     sync.Mutex
	proc   *proc
	starts int
	paused bool
	probe  *kgo.Client
}

// proc is one run of a node.
type proc struct {
	cmd       *exec.Cmd
	exited    chan struct{}
	waitErr   error
	signalled atomic.Bool
}

// Start starts a cluster of opts.Nodes nodes and waits until every node
// serves Metadata listing every broker. Everything is stopped when the
// test ends, and the nodes' logs are printed if it failed.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Binary == "" {
		t.Fatal("clustertest: Options.Binary is required")
	}
	if opts.Nodes < 1 {
		t.Fatal("clustertest: Options.Nodes must be at least 1")
	}
	c := &Cluster{T: t, opts: opts, dir: t.TempDir(), nodes: map[int32]*Node{}}
	if opts.Proxy {
		c.Net = NewNetwork()
	}
	// Cleanups run last-registered first: stop the nodes, print their
	// logs if the test failed, then close the proxies.
	t.Cleanup(func() {
		if c.Net != nil {
			c.Net.Close()
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs()
		}
	})
	t.Cleanup(c.stopAll)

	for id := int32(1); id <= int32(opts.Nodes); id++ {
		c.newNode(id, "broker,controller", true, nil)
	}
	for _, n := range c.Nodes() {
		n.writeConfig()
	}
	for _, n := range c.Nodes() {
		n.Start()
	}
	c.WaitFormed(StartTimeout)
	return c
}

// newNode allocates a node's ports, proxies and directories.
func (c *Cluster) newNode(id int32, roles string, voter bool, extra map[string]string) *Node {
	t := c.T
	t.Helper()
	dir := filepath.Join(c.dir, fmt.Sprintf("node-%d", id))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := &Node{
		c: c, ID: id, Roles: roles, Voter: voter, Dir: dir,
		DataDir: filepath.Join(dir, "data"),
		cfgPath: filepath.Join(dir, "server.properties"),
		logPath: filepath.Join(dir, "skein.log"),
		Extra:   extra,
	}
	port := func() int {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	n.BrokerAddr, n.ControllerAddr = addr(port()), addr(port())
	n.AdvertisedAddr, n.VoterAddr = n.BrokerAddr, n.ControllerAddr
	if c.Net != nil {
		listen := func(target string, exempt bool) string {
			for i := 0; ; i++ {
				px, err := c.Net.listen(port(), id, target, exempt)
				if err == nil {
					return px.Addr()
				}
				if i == 5 {
					t.Fatalf("clustertest: proxy for node %d: %v", id, err)
				}
			}
		}
		n.AdvertisedAddr = listen(n.BrokerAddr, false)
		n.VoterAddr = listen(n.ControllerAddr, false)
		n.BackdoorAddr = listen(n.BrokerAddr, true)
	}
	probe, err := kgo.NewClient(kgo.SeedBrokers(n.BrokerAddr),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RequestRetries(0),
		kgo.DialTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n.probe = probe
	t.Cleanup(probe.Close)
	c.mu.Lock()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

// Nodes returns every node, by id.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := slices.Sorted(maps.Keys(c.nodes))
	out := make([]*Node, len(ids))
	for i, id := range ids {
		out[i] = c.nodes[id]
	}
	return out
}

// Node returns node id; it fails the test if there is none.
func (c *Cluster) Node(id int32) *Node {
	c.T.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[id]
	if n == nil {
		c.T.Fatalf("clustertest: no node %d", id)
	}
	return n
}

// Running returns the nodes whose process runs (paused ones included).
func (c *Cluster) Running() []*Node {
	var out []*Node
	for _, n := range c.Nodes() {
		if n.Running() {
			out = append(out, n)
		}
	}
	return out
}

// Voters is controller.quorum.voters for the initial voters.
func (c *Cluster) Voters() string {
	var parts []string
	for _, n := range c.Nodes() {
		if n.Voter {
			parts = append(parts, fmt.Sprintf("%d@%s", n.ID, n.VoterAddr))
		}
	}
	return strings.Join(parts, ",")
}

// Bootstrap is the advertised PLAINTEXT address of every node.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.Nodes() {
		out = append(out, n.AdvertisedAddr)
	}
	return out
}

// BootstrapString is Bootstrap joined with commas (bootstrap.servers).
func (c *Cluster) BootstrapString() string { return strings.Join(c.Bootstrap(), ",") }

// Settings returns node n's settings: the harness's, FastFailover,
// Options.Settings, Options.NodeSettings, then the node's Extra.
func (n *Node) Settings() map[string]string {
	c := n.c
	s := map[string]string{
		"node.id":                        strconv.Itoa(int(n.ID)),
		"process.roles":                  n.Roles,
		"controller.quorum.voters":       c.Voters(),
		"controller.listener.names":      ControllerListener,
		"inter.broker.listener.name":     BrokerListener,
		"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"log.dirs":                       n.DataDir,
		// No operator HTTP server and no embedded schema registry:
		// their default ports are fixed and would be shared by every
		// node.
		"skein.admin.address":    "",
		"skein.registry.address": "",
	}
	if strings.Contains(n.Roles, "broker") {
		s["listeners"] = BrokerListener + "://" + n.BrokerAddr + "," + ControllerListener + "://" + n.ControllerAddr
		s["advertised.listeners"] = BrokerListener + "://" + n.AdvertisedAddr
		if strings.Contains(n.Roles, "controller") {
			// The address other quorum members reach this one at
			// (its proxy, when proxied).
			s["advertised.listeners"] += "," + ControllerListener + "://" + n.VoterAddr
		}
	} else {
		s["listeners"] = ControllerListener + "://" + n.ControllerAddr
		delete(s, "inter.broker.listener.name")
	}
	var own map[string]string
	if c.opts.NodeSettings != nil {
		own = c.opts.NodeSettings(n)
	}
	for _, m := range []map[string]string{FastFailover, c.opts.Settings, own, n.Extra} {
		for k, v := range m {
			s[k] = v
		}
	}
	for k, v := range s {
		if v == "" && k != "skein.admin.address" && k != "skein.registry.address" {
			delete(s, k)
		}
	}
	return s
}

// writeConfig writes the node's server.properties.
func (n *Node) writeConfig() {
	n.c.T.Helper()
	s := n.Settings()
	var b strings.Builder
	fmt.Fprintf(&b, "# node %d of a clustertest cluster\n", n.ID)
	for _, k := range slices.Sorted(maps.Keys(s)) {
		fmt.Fprintf(&b, "%s=%s\n", k, s[k])
	}
	if err := os.WriteFile(n.cfgPath, []byte(b.String()), 0o644); err != nil {
		n.c.T.Fatal(err)
	}
}

// SetSetting changes one setting of the node (taking effect at its next
// start).
func (n *Node) SetSetting(name, value string) {
	n.mu.Lock()
	if n.Extra == nil {
		n.Extra = map[string]string{}
	}
	n.Extra[name] = value
	n.mu.Unlock()
	n.writeConfig()
}

// ConfigPath is the node's server.properties.
func (n *Node) ConfigPath() string { return n.cfgPath }

// LogPath is the node's log (stdout and stderr of every run).
func (n *Node) LogPath() string { return n.logPath }

// Start starts the node's process without waiting for it to serve. It
// fails the test if the node runs.
func (n *Node) Start() {
	t := n.c.T
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && n.proc.alive() {
		t.Fatalf("clustertest: node %d is already running", n.ID)
	}
	n.starts++
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(logFile, "==== clustertest: start %d of node %d at %s ====\n", n.starts, n.ID, time.Now().Format("15:04:05.000"))
	cmd := exec.Command(n.c.opts.Binary, "serve", "--config", n.cfgPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("clustertest: starting node %d: %v", n.ID, err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	n.proc = p
	n.paused = false
	if n.c.Net != nil {
		n.c.Net.setPID(cmd.Process.Pid, n.ID)
	}
}

// Restart starts the node and waits until it answers requests.
func (n *Node) Restart() {
	n.c.T.Helper()
	n.Start()
	n.WaitServing(StartTimeout)
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Running reports whether the node's process runs.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && n.proc.alive()
}

// PID is the running process's id, or 0.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil || !n.proc.alive() {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// Starts is how many times the node was started.
func (n *Node) Starts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts
}

func (n *Node) current() *proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Exited is closed when the current run's process exits (nil if never
// started).
func (n *Node) Exited() <-chan struct{} {
	if p := n.current(); p != nil {
		return p.exited
	}
	return nil
}

// ExpectExit declares that the current process may exit on its own from
// now on (a controller being removed from the quorum does, once it
// learns of its removal): CheckAlive no longer fails on its exit.
func (n *Node) ExpectExit() {
	if p := n.current(); p != nil {
		p.signalled.Store(true)
	}
}

// CheckAlive fails the test if the node exited without being told to.
func (n *Node) CheckAlive() {
	n.c.T.Helper()
	p := n.current()
	if p != nil && !p.alive() && !p.signalled.Load() {
		n.c.T.Fatalf("clustertest: node %d exited unexpectedly: %v", n.ID, p.waitErr)
	}
}

// Kill sends SIGKILL and waits until the process is reaped.
func (n *Node) Kill() {
	t := n.c.T
	t.Helper()
	p := n.current()
	if p == nil || !p.alive() {
		t.Fatalf("clustertest: Kill: node %d is not running", n.ID)
	}
	p.signalled.Store(true)
	// A stopped process dies of SIGKILL too.
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("clustertest: SIGKILL node %d: %v", n.ID, err)
	}
	select {
	case <-p.exited:
	case <-time.After(ExitTimeout):
		t.Fatalf("clustertest: node %d did not exit %v after SIGKILL", n.ID, ExitTimeout)
	}
}

// Stop sends SIGTERM and waits until the process exits; a node that exits
// with an error, or not within ExitTimeout, fails the test (it is then
// killed).
func (n *Node) Stop() {
	t := n.c.T
	t.Helper()
	if err := n.stop(); err != nil {
		t.Errorf("clustertest: %v", err)
	}
}

func (n *Node) stop() error {
	p := n.current()
	if p == nil || !p.alive() {
		return nil
	}
	p.signalled.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("node %d exited with %v after SIGTERM", n.ID, p.waitErr)
		}
		return nil
	case <-time.After(ExitTimeout):
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.exited:
	case <-time.After(ExitTimeout):
	}
	return fmt.Errorf("node %d still running %v after SIGTERM; killed", n.ID, ExitTimeout)
}

// Pause stops the process with SIGSTOP: it keeps its sockets but does
// nothing, as a node in a long GC pause or a frozen VM.
func (n *Node) Pause() {
	n.c.T.Helper()
	if p := n.current(); p != nil && p.alive() {
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			n.c.T.Fatalf("clustertest: SIGSTOP node %d: %v", n.ID, err)
		}
		n.mu.Lock()
		n.paused = true
		n.mu.Unlock()
	}
}

// Resume continues a paused process (SIGCONT).
func (n *Node) Resume() {
	n.c.T.Helper()
	if p := n.current(); p != nil && p.alive() {
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			n.c.T.Fatalf("clustertest: SIGCONT node %d: %v", n.ID, err)
		}
		n.mu.Lock()
		n.paused = false
		n.mu.Unlock()
	}
}

// StopAll stops every running node with SIGTERM, all at once, and waits
// for them; errors fail the test.
func (c *Cluster) StopAll() {
	c.T.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(c.Nodes()))
	for _, n := range c.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.stop(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		c.T.Errorf("clustertest: %v", err)
	}
}

// stopAll is the cleanup: like StopAll, but a node that does not stop
// cleanly at the end of a test that already failed adds no error.
func (c *Cluster) stopAll() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.stop(); err != nil && !c.T.Failed() {
				c.T.Errorf("clustertest: at cleanup: %v", err)
			}
		}()
	}
	wg.Wait()
}

// ReadLog returns the node's whole log.
func (n *Node) ReadLog() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

// DumpLogs prints the tail of every node's log.
func (c *Cluster) DumpLogs() {
	for _, n := range c.Nodes() {
		lines := strings.Split(strings.TrimRight(n.ReadLog(), "\n"), "\n")
		skipped := 0
		if len(lines) > logTailLines {
			skipped = len(lines) - logTailLines
			lines = lines[skipped:]
		}
		c.T.Logf("---- node %d (%d earlier lines omitted; full log %s) ----\n%s\n---- end of node %d ----",
			n.ID, skipped, n.logPath, strings.Join(lines, "\n"), n.ID)
	}
}

// CountLog counts the lines of the node's log that contain every one of
// substrs.
func (n *Node) CountLog(substrs ...string) int {
	f, err := os.Open(n.logPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	count := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
outer:
	for sc.Scan() {
		for _, s := range substrs {
			if !strings.Contains(sc.Text(), s) {
				continue outer
			}
		}
		count++
	}
	return count
}

// AddNode creates node id with the given roles, not an initial voter, and
// writes its configuration; extra settings apply to it only. It does not
// start it.
func (c *Cluster) AddNode(id int32, roles string, extra map[string]string) *Node {
	c.T.Helper()
	n := c.newNode(id, roles, false, extra)
	n.writeConfig()
	return n
}

// IDs returns the ids of nodes.
func IDs(nodes []*Node) []int32 {
	out := make([]int32, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
