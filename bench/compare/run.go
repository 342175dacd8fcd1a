package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// results is everything one run measured; out/results.json holds it.
type results struct {
	Config   config
	Started  time.Time
	Elapsed  string
	Machine  machine
	Runs     []runResult
	Brokers  []brokerStats
	Profiles []profile `json:",omitempty"`
}

// benchResult is one JSON line of skein bench.
type benchResult struct {
	Workload      string   `json:"workload"`
	Records       int64    `json:"records"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"`
	P50Ms         *float64 `json:"p50_ms,omitempty"`
	P99Ms         *float64 `json:"p99_ms,omitempty"`
	P999Ms        *float64 `json:"p999_ms,omitempty"`
	MaxMs         *float64 `json:"max_ms,omitempty"`
	Bytes         int64    `json:"bytes"`
	Seconds       float64  `json:"seconds"`
}

// runResult is one workload run against one broker.
type runResult struct {
	Mode     string
	Broker   string
	Workload string
	Round    int
	Result   benchResult
	// CPUSeconds is the broker's user+system CPU time over the measured
	// phase; CPUPerGB that divided by the gigabytes (1e9) moved.
	CPUSeconds float64
	CPUPerGB   float64
}

// brokerStats are a broker's per-mode resource figures.
type brokerStats struct {
	Mode       string
	Broker     string
	StartupSec float64 // spawn to first acknowledged produce
	FormatSec  float64 `json:",omitempty"` // Kafka's storage format, before spawn
	IdleRSS    int64   // bytes, after start with no load
	PeakRSS    int64   // bytes, VmHWM at the end of the mode's runs
}

// workload is one skein bench invocation.
type workload struct {
	id         string // stable name used in tables and charts
	kind       string // produce, e2e, consume
	partitions int32
	args       []string
	// timed is false for runs whose length is set by a record count.
	timed bool
}

func workloads(c *config) []workload {
	var ws []workload
	for _, acks := range []string{"all", "1"} {
		for _, p := range c.Partitions {
			ws = append(ws, workload{
				id: fmt.Sprintf("produce acks=%s %dp", acks, p), kind: "produce", partitions: p, timed: true,
				args: []string{"produce", "--acks", acks, "--producers", strconv.Itoa(c.Producers)},
			})
		}
	}
	for _, rate := range c.E2ERates {
		ws = append(ws, workload{
			id: fmt.Sprintf("e2e %d/s", rate), kind: "e2e", partitions: 8, timed: true,
			args: []string{"e2e", "--rate", strconv.Itoa(rate)},
		})
	}
	ws = append(ws, workload{id: "consume", kind: "consume", partitions: 8})
	return ws
}

// runMode starts both brokers with the mode's durability settings and
// runs every workload against each, alternating which goes first.
func runMode(c *config, mode string, res *results) error {
	logf("== %s: starting brokers", mode)
	base, err := os.MkdirTemp("", "bench-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	procs := map[string]*brokerProc{}
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for _, name := range []string{"skein", "kafka"} {
		dir := filepath.Join(base, name)
		os.MkdirAll(dir, 0o755)
		var p *brokerProc
		if name == "skein" {
			p, err = startSkein(c, mode, dir, "")
		} else {
			p, err = startKafka(c, mode, dir)
		}
		if err != nil {
			return err
		}
		procs[name] = p
		logf("%s up at %s: first ack after %s, idle RSS %d MiB", name, p.addr, p.startup.Round(time.Millisecond), p.idleRSS>>20)
	}
	seq := 0
	for round := 1; round <= c.Rounds; round++ {
		for _, w := range workloads(c) {
			order := []string{"skein", "kafka"}
			if seq%2 == 1 {
				order = []string{"kafka", "skein"}
			}
			seq++
			for _, name := range order {
				r, err := runWorkload(c, procs[name], w, round, mode)
				if err != nil {
					return fmt.Errorf("%s %s round %d: %w", name, w.id, round, err)
				}
				res.Runs = append(res.Runs, r)
				logf("%s %-8s r%d %-22s %8.1f MB/s %s cpu %.1f s/GB", mode, name, round, w.id, r.Result.MBPerSec, latencyText(r.Result), r.CPUPerGB)
			}
		}
	}
	for _, name := range []string{"skein", "kafka"} {
		p := procs[name]
		peak, _ := p.rss("VmHWM")
		res.Brokers = append(res.Brokers, brokerStats{Mode: mode, Broker: name, StartupSec: p.startup.Seconds(),
			FormatSec: p.formatTime.Seconds(), IdleRSS: p.idleRSS, PeakRSS: peak})
		// Keep the broker's log beside the results.
		src := filepath.Join(p.dir, name+".log")
		if b, err := os.ReadFile(src); err == nil {
			os.WriteFile(filepath.Join(c.outDir, fmt.Sprintf("%s-%s.log", name, mode)), tail(b, 1<<20), 0o644)
		}
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func latencyText(r benchResult) string {
	if r.P50Ms == nil {
		return ""
	}
	return fmt.Sprintf("p50 %.2f p99 %.2f p99.9 %.2f ms", *r.P50Ms, *r.P99Ms, *r.P999Ms)
}

// runWorkload creates the workload's topic, runs skein bench against the
// broker, measures the broker's CPU over the measured phase, and deletes
// the topic again so the disk does not fill.
func runWorkload(c *config, p *brokerProc, w workload, round int, mode string) (runResult, error) {
	topic := fmt.Sprintf("cmp-%s-r%d-%s", mode, round, strings.NewReplacer(" ", "-", "=", "", "/", "").Replace(w.id))
	ctx, cancel := context.WithTimeout(context.Background(), c.Warmup+c.Duration+5*time.Minute)
	defer cancel()
	adm, err := newAdmin(p.addr)
	if err != nil {
		return runResult{}, err
	}
	defer adm.Close()
	if err := createTopic(ctx, adm, topic, w.partitions); err != nil {
		return runResult{}, err
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer dcancel()
		adm.DeleteTopics(dctx, topic)
	}()
	common := []string{"bench", "--bootstrap", p.addr, "--topic", topic, "--progress", "0"}
	if w.kind == "consume" {
		// Fill the topic with a fixed number of records first (unmeasured),
		// so both brokers serve the same amount.
		fill := append(append([]string{}, common...), "produce", "--acks", "1", "--producers", strconv.Itoa(c.Producers),
			"--record-size", strconv.Itoa(c.RecordBytes), "--records", strconv.FormatInt(c.ConsumeRecs, 10), "--warmup", "0s")
		if _, err := benchCmd(ctx, c, p, fill, 0); err != nil {
			return runResult{}, fmt.Errorf("filling the topic: %w", err)
		}
		args := append(append([]string{}, common...), "consume", "--records", strconv.FormatInt(c.ConsumeRecs, 10))
		return finish(p, w, round, mode, args, ctx, c, 0)
	}
	args := append(append([]string{}, common...), w.args...)
	args = append(args, "--record-size", strconv.Itoa(c.RecordBytes), "--partitions", strconv.Itoa(int(w.partitions)),
		"--duration", c.Duration.String(), "--warmup", c.Warmup.String())
	return finish(p, w, round, mode, args, ctx, c, c.Warmup)
}

func finish(p *brokerProc, w workload, round int, mode string, args []string, ctx context.Context, c *config, warmup time.Duration) (runResult, error) {
	m, err := benchCmd(ctx, c, p, args, warmup)
	if err != nil {
		return runResult{}, err
	}
	r := runResult{Mode: mode, Broker: p.name, Workload: w.id, Round: round, Result: m.res, CPUSeconds: m.cpu}
	if m.res.Bytes > 0 {
		r.CPUPerGB = m.cpu / (float64(m.res.Bytes) / 1e9)
	}
	return r, nil
}

// measured is a bench run's result and the broker CPU it cost.
type measured struct {
	res benchResult
	cpu float64
}

// clientStartSlack is the time skein bench takes to start, read
// metadata and find the existing topic before its warm-up begins.
const clientStartSlack = 150 * time.Millisecond

// benchCmd runs skein bench and parses its last JSON line. The broker's
// CPU time is sampled when the warm-up should be over and again when
// the command exits.
func benchCmd(ctx context.Context, c *config, p *brokerProc, args []string, warmup time.Duration) (measured, error) {
	cmd := exec.CommandContext(ctx, c.skein, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cpu0 := p.cpuSeconds()
	if err := cmd.Start(); err != nil {
		return measured{}, err
	}
	sampled := make(chan float64, 1)
	timer := time.AfterFunc(warmup+clientStartSlack, func() { sampled <- p.cpuSeconds() })
	err := cmd.Wait()
	cpu1 := p.cpuSeconds()
	if timer.Stop() {
		sampled <- cpu0
	}
	start := <-sampled
	if err != nil {
		return measured{}, fmt.Errorf("skein %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.Bytes(), 2000))
	}
	var res benchResult
	found := false
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &res) == nil {
			found = true
		}
	}
	if !found {
		return measured{}, fmt.Errorf("skein %s printed no result: %s %s", strings.Join(args, " "), stdout.String(), tail(stderr.Bytes(), 2000))
	}
	return measured{res: res, cpu: cpu1 - start}, nil
}

func newAdmin(addr string) (*kadm.Client, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// createTopic creates the topic and waits until every partition has a
// leader in the metadata.
func createTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	for ctx.Err() == nil {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			if t, ok := md.Topics[topic]; ok && t.Err == nil && int32(len(t.Partitions)) == partitions {
				ready := true
				for _, p := range t.Partitions {
					ready = ready && p.Leader >= 0 && p.Err == nil
				}
				if ready {
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}

// machine describes where the run happened.
type machine struct {
	CPU      string
	Cores    int
	MemoryGB float64
	Kernel   string
	Go       string
	Java     string
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%f", &kb)
		m.MemoryGB = kb / (1 << 20)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("java", "-version").CombinedOutput(); err == nil {
		m.Java = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	}
	return m
}

// profile is a CPU profile of Skein under one of its weakest workloads.
type profile struct {
	Mode     string
	Workload string
	Ratio    float64 // Skein / Kafka throughput of that workload
	Seconds  int
	Top      string // go tool pprof -top output, flat
	TopCum   string // the same by cumulative time
	Path     string
}

// profileSkein profiles Skein on the produce workload where its
// throughput is furthest below Kafka's, and on consume if that is below
// Kafka's too.
func profileSkein(c *config, res *results) error {
	for _, kind := range []string{"produce", "consume"} {
		mode, wl, ratio := worstThroughput(res, kind)
		if wl == "" {
			continue
		}
		p, err := profileWorkload(c, mode, wl, ratio)
		if err != nil {
			return fmt.Errorf("%s %s: %w", mode, wl, err)
		}
		res.Profiles = append(res.Profiles, *p)
	}
	return nil
}

// profileWorkload runs the workload again against a Skein with its admin
// server on and takes a CPU profile from /debug/pprof/profile in the
// middle of the measured phase. Consume runs are repeated over the same
// topic until the profile is taken.
func profileWorkload(c *config, mode, wl string, ratio float64) (*profile, error) {
	var w workload
	for _, x := range workloads(c) {
		if x.id == wl {
			w = x
		}
	}
	logf("== profiling skein on %s %s (Skein/Kafka %.2f)", mode, wl, ratio)
	dir, err := os.MkdirTemp("", "bench-compare-profile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := startSkein(c, mode, dir, admin)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	pc := *c
	pc.Duration = time.Duration(c.ProfileSecs)*time.Second + 6*time.Second
	profiled, ready := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		if w.kind != "consume" {
			go func() {
				time.Sleep(c.Warmup + 3*time.Second)
				close(ready)
			}()
			_, err := runWorkload(&pc, p, w, 0, mode)
			done <- err
			return
		}
		done <- repeatConsume(&pc, p, ready, profiled)
	}()
	select {
	case <-ready:
	case err := <-done:
		return nil, fmt.Errorf("workload ended before the profile: %v", err)
	}
	out := filepath.Join(c.outDir, fmt.Sprintf("skein-cpu-%s-%s.pprof", mode, w.kind))
	err = fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, c.ProfileSecs), out)
	close(profiled)
	if werr := <-done; err == nil {
		err = werr
	}
	if err != nil {
		return nil, err
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", c.skein, out).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("pprof: %v: %s", err, top)
	}
	cum, _ := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", c.skein, out).CombinedOutput()
	return &profile{Mode: mode, Workload: wl, Ratio: ratio, Seconds: c.ProfileSecs, Top: string(top), TopCum: string(cum), Path: out}, nil
}

// repeatConsume fills a topic once, closes filled, and reads the topic
// from the start again and again until stop is closed.
func repeatConsume(c *config, p *brokerProc, filled chan<- struct{}, stop <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	adm, err := newAdmin(p.addr)
	if err != nil {
		return err
	}
	defer adm.Close()
	topic := "cmp-profile-consume"
	if err := createTopic(ctx, adm, topic, 8); err != nil {
		return err
	}
	common := []string{"bench", "--bootstrap", p.addr, "--topic", topic, "--progress", "0"}
	fill := append(append([]string{}, common...), "produce", "--acks", "1", "--producers", strconv.Itoa(c.Producers),
		"--record-size", strconv.Itoa(c.RecordBytes), "--records", strconv.FormatInt(c.ConsumeRecs, 10), "--warmup", "0s")
	if _, err := benchCmd(ctx, c, p, fill, 0); err != nil {
		return err
	}
	close(filled)
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		args := append(append([]string{}, common...), "consume", "--records", strconv.FormatInt(c.ConsumeRecs, 10))
		if _, err := benchCmd(ctx, c, p, args, 0); err != nil {
			return err
		}
	}
}

func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
