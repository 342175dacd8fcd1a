package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newDevCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Development helpers",
	}
	cmd.AddCommand(newDevClusterCmd())
	return cmd
}

type devClusterOptions struct {
	nodes   int
	dir     string
	timeout time.Duration
}

func newDevClusterCmd() *cobra.Command {
	var o devClusterOptions
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Run a local cluster of combined nodes, one process each",
		Long: "Start --nodes combined nodes (broker and controller) as separate skein serve\n" +
			"processes on 127.0.0.1 with free ports, each with its configuration, data and\n" +
			"log under --dir/node-<id>, and a schema registry on a port of its own. Once\n" +
			"every broker and registry serves, the bootstrap list and the registry URLs\n" +
			"are printed; Ctrl-C or SIGTERM stops every node. Running it again on the same\n" +
			"--dir restarts the same cluster with its data.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevCluster(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "number of nodes")
	f.StringVar(&o.dir, "dir", "./skein-dev-cluster", "directory of the nodes' configurations, data and logs")
	f.DurationVar(&o.timeout, "start-timeout", 2*time.Minute, "how long to wait for every node to serve")
	return cmd
}

// devNode is one node of a dev cluster.
type devNode struct {
	id         int
	dir        string
	brokerAddr string
	ctrlAddr   string
	// registryAddr is skein.registry.address, "" when the node runs no
	// schema registry (a configuration of an older run).
	registryAddr string
	cmd          *exec.Cmd
	exited       chan struct{}
	err          error
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// devConfig reads back the listeners of a node configured by an earlier
// run, if any.
func devConfig(n *devNode) error {
	path := filepath.Join(n.dir, "server.properties")
	if data, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "skein.registry.address="); ok {
				n.registryAddr = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "listeners="); ok {
				for _, l := range strings.Split(v, ",") {
					name, addr, _ := strings.Cut(l, "://")
					switch name {
					case "PLAINTEXT":
						n.brokerAddr = addr
					case "CONTROLLER":
						n.ctrlAddr = addr
					}
				}
			}
		}
		if n.brokerAddr == "" || n.ctrlAddr == "" {
			return fmt.Errorf("%s: no PLAINTEXT and CONTROLLER listeners", path)
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func writeDevConfig(n *devNode, nodes []*devNode) error {
	var voters []string
	for _, o := range nodes {
		voters = append(voters, fmt.Sprintf("%d@%s", o.id, o.ctrlAddr))
	}
	rf := min(len(nodes), 3)
	cfg := strings.Join([]string{
		"# skein dev cluster node " + strconv.Itoa(n.id),
		"process.roles=broker,controller",
		"node.id=" + strconv.Itoa(n.id),
		"controller.quorum.voters=" + strings.Join(voters, ","),
		"listeners=PLAINTEXT://" + n.brokerAddr + ",CONTROLLER://" + n.ctrlAddr,
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
		"log.dirs=" + filepath.Join(n.dir, "data"),
		"offsets.topic.replication.factor=" + strconv.Itoa(rf),
		"transaction.state.log.replication.factor=" + strconv.Itoa(rf),
		"skein.admin.address=",
		"skein.registry.address=" + n.registryAddr,
		"",
	}, "\n")
	return os.WriteFile(filepath.Join(n.dir, "server.properties"), []byte(cfg), 0o644)
}

func runDevCluster(ctx context.Context, o devClusterOptions, stdout, stderr io.Writer) error {
	if o.nodes < 1 || o.nodes > 99 {
		return fmt.Errorf("--nodes %d: want 1 to 99", o.nodes)
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	nodes := make([]*devNode, o.nodes)
	fresh := false
	for i := range nodes {
		n := &devNode{id: i + 1, dir: filepath.Join(dir, fmt.Sprintf("node-%d", i+1)), exited: make(chan struct{})}
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			return err
		}
		if err := devConfig(n); err != nil {
			return err
		}
		if n.brokerAddr == "" {
			fresh = true
		}
		nodes[i] = n
	}
	if fresh {
		for _, n := range nodes {
			if n.brokerAddr != "" {
				return fmt.Errorf("%s holds the configuration of some nodes only: remove it or use --nodes as before", dir)
			}
			if n.brokerAddr, err = freeAddr(); err != nil {
				return err
			}
			if n.ctrlAddr, err = freeAddr(); err != nil {
				return err
			}
			if n.registryAddr, err = freeAddr(); err != nil {
				return err
			}
		}
		for _, n := range nodes {
			if err := writeDevConfig(n, nodes); err != nil {
				return err
			}
		}
	}
	if extra, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("node-%d", o.nodes+1))); len(extra) > 0 {
		return fmt.Errorf("%s holds a cluster of more than %d nodes: use its --nodes", dir, o.nodes)
	}

	for _, n := range nodes {
		logf, err := os.OpenFile(filepath.Join(n.dir, "skein.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			stopDevNodes(nodes)
			return err
		}
		n.cmd = exec.Command(self, "serve", "--config", filepath.Join(n.dir, "server.properties"))
		n.cmd.Stdout, n.cmd.Stderr = logf, logf
		// Its own process group: a Ctrl-C reaches this command, which
		// stops the nodes in order.
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := n.cmd.Start(); err != nil {
			logf.Close()
			stopDevNodes(nodes)
			return fmt.Errorf("starting node %d: %w", n.id, err)
		}
		go func() {
			n.err = n.cmd.Wait()
			logf.Close()
			close(n.exited)
		}()
		registry := "off"
		if n.registryAddr != "" {
			registry = "http://" + n.registryAddr
		}
		fmt.Fprintf(stderr, "node %d: pid %d, broker %s, controller %s, schema registry %s, log %s\n", n.id, n.cmd.Process.Pid, n.brokerAddr, n.ctrlAddr, registry, filepath.Join(n.dir, "skein.log"))
	}
	var bootstrap, registries []string
	for _, n := range nodes {
		bootstrap = append(bootstrap, n.brokerAddr)
		if n.registryAddr != "" {
			registries = append(registries, "http://"+n.registryAddr)
		}
	}
	if err := waitDevCluster(ctx, nodes, bootstrap, registries, o.timeout); err != nil {
		stopDevNodes(nodes)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	fmt.Fprintf(stdout, "bootstrap.servers=%s\n", strings.Join(bootstrap, ","))
	if len(registries) > 0 {
		fmt.Fprintf(stdout, "schema.registry.url=%s\n", strings.Join(registries, ","))
	}
	fmt.Fprintf(stderr, "%d nodes serving; Ctrl-C stops them\n", len(nodes))
	exited := make(chan *devNode, len(nodes))
	for _, n := range nodes {
		go func() {
			<-n.exited
			exited <- n
		}()
	}
	var stopErr error
	select {
	case <-ctx.Done():
	case n := <-exited:
		stopErr = fmt.Errorf("node %d exited (%v); see %s", n.id, n.err, filepath.Join(n.dir, "skein.log"))
	}
	fmt.Fprintln(stderr, "stopping the nodes")
	stopDevNodes(nodes)
	return stopErr
}

// waitDevCluster waits until every node's broker is registered, unfenced
// and answers and every schema registry serves, or a node exits.
func waitDevCluster(ctx context.Context, nodes []*devNode, bootstrap, registries []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		for _, n := range nodes {
			select {
			case <-n.exited:
				return fmt.Errorf("node %d exited while starting (%v):\n%s", n.id, n.err, tail(filepath.Join(n.dir, "skein.log"), 15))
			default:
			}
		}
		if last = devClusterReady(ctx, bootstrap, len(nodes)); last == nil {
			if last = devRegistriesReady(ctx, registries); last == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the cluster did not start within %v: %v", timeout, last)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// devClusterReady asks each broker for the cluster's brokers.
func devClusterReady(ctx context.Context, bootstrap []string, n int) error {
	for _, addr := range bootstrap {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequestRetries(0))
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req := kmsg.NewPtrDescribeClusterRequest()
		req.EndpointType = 1
		resp, err := req.RequestWith(rctx, cl)
		cancel()
		cl.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		if len(resp.Brokers) != n {
			return fmt.Errorf("%s: %d of %d brokers serving", addr, len(resp.Brokers), n)
		}
	}
	return nil
}

// devRegistriesReady asks each schema registry for its subjects; a
// registry answers once it has read the _schemas topic to its end.
func devRegistriesReady(ctx context.Context, registries []string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range registries {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/subjects", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("schema registry %s: %w", u, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("schema registry %s: %s", u, resp.Status)
		}
	}
	return nil
}

// stopDevNodes sends SIGTERM to every running node and waits for them,
// killing those that do not stop within 30 seconds.
func stopDevNodes(nodes []*devNode) {
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == nil || n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		select {
		case <-n.exited:
			continue
		default:
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-n.exited:
			case <-time.After(30 * time.Second):
				n.cmd.Process.Kill()
				<-n.exited
			}
		}()
	}
	wg.Wait()
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
