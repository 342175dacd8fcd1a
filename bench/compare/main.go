// Command compare runs the same skein bench workloads against Skein and
// Apache Kafka side by side on this machine, in alternation, under two
// durability settings, and writes a report with ratio tables and charts.
//
// It is run by make bench-compare, which builds bin/skein and copies
// Kafka's jars from Maven Central first. Settings come from environment
// variables (see loadConfig) so that a longer run needs no code change.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// config is the run's settings.
type config struct {
	skein    string // path to the skein binary
	kafkaLib string // directory of Kafka's jars
	outDir   string // raw results, logs and profiles
	docsDir  string // where benchmarks.md and the PNGs go

	Duration      time.Duration // measured time of each timed run
	Warmup        time.Duration
	Rounds        int
	Modes         []string
	Producers     int   // producer clients of the produce runs
	RecordBytes   int   // value bytes per record
	ConsumeRecs   int64 // records produced, then read, by the consume run
	E2ERates      []int
	Partitions    []int32
	ProfileSecs   int  // CPU profile length of Skein's worst workload
	SkipProfile   bool `json:"-"`
	KafkaVersion  string
	SkeinRevision string
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fatalf("%s: %v", name, err)
		}
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fatalf("%s: %v", name, err)
		}
		return n
	}
	return def
}

func envList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// loadConfig reads the flags and the BENCH_* environment variables.
func loadConfig() *config {
	c := &config{}
	flag.StringVar(&c.skein, "skein", "../../bin/skein", "skein binary")
	flag.StringVar(&c.kafkaLib, "kafka-lib", "kafka/lib", "directory of Kafka's broker jars")
	flag.StringVar(&c.outDir, "out", "out", "directory for raw results, broker logs and profiles")
	flag.StringVar(&c.docsDir, "docs", "../../docs", "directory for benchmarks.md and bench-*.png")
	reportOnly := flag.Bool("report-only", false, "redraw the report and charts from out/results.json without running")
	flag.Parse()
	c.Duration = envDuration("BENCH_DURATION", 5*time.Second)
	c.Warmup = envDuration("BENCH_WARMUP", 2*time.Second)
	c.Rounds = envInt("BENCH_ROUNDS", 2)
	c.Modes = envList("BENCH_MODES", modeFsync+","+modeBuffered)
	c.Producers = envInt("BENCH_PRODUCERS", 4)
	c.RecordBytes = envInt("BENCH_RECORD_BYTES", 1024)
	c.ConsumeRecs = int64(envInt("BENCH_CONSUME_RECORDS", 1000000))
	for _, s := range envList("BENCH_E2E_RATES", "5000,50000") {
		n, err := strconv.Atoi(s)
		if err != nil {
			fatalf("BENCH_E2E_RATES: %v", err)
		}
		c.E2ERates = append(c.E2ERates, n)
	}
	for _, s := range envList("BENCH_PARTITIONS", "1,8,64") {
		n, err := strconv.Atoi(s)
		if err != nil {
			fatalf("BENCH_PARTITIONS: %v", err)
		}
		c.Partitions = append(c.Partitions, int32(n))
	}
	c.ProfileSecs = envInt("BENCH_PROFILE_SECONDS", 10)
	c.SkipProfile = os.Getenv("BENCH_PROFILE") == "0"
	c.KafkaVersion = os.Getenv("KAFKA_VERSION")
	c.SkeinRevision = os.Getenv("SKEIN_REVISION")
	if *reportOnly {
		var res results
		raw, err := os.ReadFile(filepath.Join(c.outDir, "results.json"))
		if err != nil {
			fatalf("%v", err)
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			fatalf("%v", err)
		}
		render(c, &res)
		os.Exit(0)
	}
	return c
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-compare: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func main() {
	c := loadConfig()
	if err := os.MkdirAll(c.outDir, 0o755); err != nil {
		fatalf("%v", err)
	}
	res := &results{Config: *c, Started: time.Now().UTC(), Machine: describeMachine()}
	start := time.Now()
	for _, mode := range c.Modes {
		if err := runMode(c, mode, res); err != nil {
			fatalf("%s: %v", mode, err)
		}
	}
	if !c.SkipProfile {
		if err := profileSkein(c, res); err != nil {
			logf("profile: %v", err)
		}
	}
	res.Elapsed = time.Since(start).Round(time.Second).String()
	raw, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(c.outDir, "results.json"), raw, 0o644); err != nil {
		fatalf("%v", err)
	}
	render(c, res)
	logf("done in %s", res.Elapsed)
}

// render prints the ratio table and writes the report and the charts.
func render(c *config, res *results) {
	fmt.Print(ratioTable(res))
	if err := writeCharts(c.docsDir, res); err != nil {
		fatalf("charts: %v", err)
	}
	if err := writeReport(c, res); err != nil {
		fatalf("report: %v", err)
	}
}
