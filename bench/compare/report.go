package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// median of the values; NaN when there are none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pick returns the values of f over the runs of one mode, broker and
// workload, one per round.
func pick(res *results, mode, broker, wl string, f func(runResult) (float64, bool)) []float64 {
	var out []float64
	for _, r := range res.Runs {
		if r.Mode == mode && r.Broker == broker && r.Workload == wl {
			if v, ok := f(r); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

func mbps(r runResult) (float64, bool)     { return r.Result.MBPerSec, true }
func cpuPerGB(r runResult) (float64, bool) { return r.CPUPerGB, r.CPUPerGB > 0 }

func pct(which string) func(runResult) (float64, bool) {
	return func(r runResult) (float64, bool) {
		var p *float64
		switch which {
		case "p50":
			p = r.Result.P50Ms
		case "p99":
			p = r.Result.P99Ms
		case "p99.9":
			p = r.Result.P999Ms
		case "max":
			p = r.Result.MaxMs
		}
		if p == nil {
			return 0, false
		}
		return *p, true
	}
}

// workloadIDs lists the workloads of a mode in run order.
func workloadIDs(res *results, mode string) []string {
	var ids []string
	seen := map[string]bool{}
	for _, r := range res.Runs {
		if r.Mode == mode && !seen[r.Workload] {
			seen[r.Workload] = true
			ids = append(ids, r.Workload)
		}
	}
	return ids
}

func modes(res *results) []string {
	var ms []string
	seen := map[string]bool{}
	for _, r := range res.Runs {
		if !seen[r.Mode] {
			seen[r.Mode] = true
			ms = append(ms, r.Mode)
		}
	}
	return ms
}

func stats(res *results, mode, broker string) brokerStats {
	for _, b := range res.Brokers {
		if b.Mode == mode && b.Broker == broker {
			return b
		}
	}
	return brokerStats{}
}

// row is one line of the ratio table.
type row struct {
	mode, metric string
	skein, kafka float64
	unit, better string
	format       string
	roundsSkein  []float64
	roundsKafka  []float64
	isThroughput bool
	workload     string
}

func (r row) ratio() float64 { return r.skein / r.kafka }

// rows builds the ratio table from the medians over the rounds.
func rows(res *results) []row {
	var out []row
	for _, mode := range modes(res) {
		add := func(wl, metric, unit, better, format string, f func(runResult) (float64, bool)) {
			s, k := pick(res, mode, "skein", wl, f), pick(res, mode, "kafka", wl, f)
			if len(s) == 0 || len(k) == 0 {
				return
			}
			out = append(out, row{mode: mode, metric: metric, skein: median(s), kafka: median(k), unit: unit, better: better,
				format: format, roundsSkein: s, roundsKafka: k, workload: wl,
				isThroughput: unit == "MB/s"})
		}
		for _, wl := range workloadIDs(res, mode) {
			switch {
			case strings.HasPrefix(wl, "e2e"):
				for _, q := range []string{"p50", "p99", "p99.9"} {
					add(wl, wl+" latency "+q, "ms", "lower", "%.2f", pct(q))
				}
			default:
				add(wl, wl, "MB/s", "higher", "%.1f", mbps)
			}
		}
		for _, wl := range workloadIDs(res, mode) {
			if strings.HasPrefix(wl, "produce acks=all") || wl == "consume" {
				add(wl, "CPU per GB, "+wl, "CPU s/GB", "lower", "%.2f", cpuPerGB)
			}
		}
		s, k := stats(res, mode, "skein"), stats(res, mode, "kafka")
		out = append(out,
			row{mode: mode, metric: "start to first acknowledged produce", skein: s.StartupSec, kafka: k.StartupSec, unit: "s", better: "lower", format: "%.2f"},
			row{mode: mode, metric: "idle RSS", skein: mib(s.IdleRSS), kafka: mib(k.IdleRSS), unit: "MiB", better: "lower", format: "%.0f"},
			row{mode: mode, metric: "peak RSS (VmHWM)", skein: mib(s.PeakRSS), kafka: mib(k.PeakRSS), unit: "MiB", better: "lower", format: "%.0f"},
		)
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// ratioTable renders the rows as a Markdown table.
func ratioTable(res *results) string {
	var b strings.Builder
	b.WriteString("| mode | metric | Skein | Kafka | unit | Skein / Kafka | better when |\n|---|---|--:|--:|---|--:|---|\n")
	for _, r := range rows(res) {
		fmt.Fprintf(&b, "| %s | %s | "+r.format+" | "+r.format+" | %s | **%.2f** | %s |\n", r.mode, r.metric, r.skein, r.kafka, r.unit, r.ratio(), r.better)
	}
	return b.String()
}

// worstThroughput is the workload of a kind (produce, consume) with the
// lowest Skein / Kafka throughput ratio, if it is below 1.
func worstThroughput(res *results, kind string) (mode, wl string, ratio float64) {
	ratio = 1
	for _, r := range rows(res) {
		if r.isThroughput && strings.HasPrefix(r.workload, kind) && r.ratio() < ratio {
			mode, wl, ratio = r.mode, r.workload, r.ratio()
		}
	}
	return mode, wl, ratio
}

// rawTable lists every run.
func rawTable(res *results) string {
	var b strings.Builder
	b.WriteString("| mode | round | workload | broker | records | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | broker CPU s | CPU s/GB |\n|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	f := func(p *float64) string {
		if p == nil {
			return ""
		}
		return fmt.Sprintf("%.2f", *p)
	}
	for _, r := range res.Runs {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %d | %.1f | %s | %s | %s | %s | %.2f | %.2f |\n", r.Mode, r.Round, r.Workload, r.Broker,
			r.Result.Records, r.Result.MBPerSec, f(r.Result.P50Ms), f(r.Result.P99Ms), f(r.Result.P999Ms), f(r.Result.MaxMs), r.CPUSeconds, r.CPUPerGB)
	}
	return b.String()
}

func resourceTable(res *results) string {
	var b strings.Builder
	b.WriteString("| mode | broker | start to first ack s | storage format s | idle RSS MiB | peak RSS MiB |\n|---|---|--:|--:|--:|--:|\n")
	for _, s := range res.Brokers {
		format := "–"
		if s.FormatSec > 0 {
			format = fmt.Sprintf("%.2f", s.FormatSec)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %.0f | %.0f |\n", s.Mode, s.Broker, s.StartupSec, format, mib(s.IdleRSS), mib(s.PeakRSS))
	}
	return b.String()
}

// Markers around the hand-written analysis, which a new run keeps.
const (
	analysisBegin = "<!-- analysis: written by hand, kept when the report is regenerated -->"
	analysisEnd   = "<!-- end of analysis -->"
)

func keptAnalysis(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	s := string(b)
	i, j := strings.Index(s, analysisBegin), strings.Index(s, analysisEnd)
	if i < 0 || j < i {
		return ""
	}
	return strings.TrimSpace(s[i+len(analysisBegin) : j])
}

// writeReport writes docs/benchmarks.md.
func writeReport(c *config, res *results) error {
	path := filepath.Join(c.docsDir, "benchmarks.md")
	analysis := keptAnalysis(path)
	if analysis == "" {
		analysis = "_No analysis has been written for these numbers yet._"
	}
	cfg := res.Config
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks: Skein beside Apache Kafka\n\n")
	w("Generated by `make bench-compare` (bench/compare) on %s, in %s. ", res.Started.Format(time.DateOnly), res.Elapsed)
	w("Both brokers run on this machine at the same time, each a single node on loopback, and the same `skein bench` ")
	w("workloads (franz-go clients) run against each in turn, alternating which goes first. Every number below is the ")
	w("median over %d rounds; ratios are Skein / Kafka, so above 1 means Skein is higher.\n\n", cfg.Rounds)
	w("**Read the ratios, not the absolute numbers.** This is a shared 2-core virtual machine where two identical brokers ")
	w("differ by up to ±35%% in throughput and 3× in p99.9 between rounds (docs/performance.md); the broker, its ")
	w("client and the idle other broker share the two cores, so the figures say how the two compare here, not what ")
	w("either does on a real server.\n\n")

	w("## Ratios\n\n%s\n", ratioTable(res))
	w("![Throughput, fsync per batch](bench-throughput-fsync.png)\n\n")
	w("![Throughput, OS-buffered writes](bench-throughput-buffered.png)\n\n")
	w("![End-to-end latency, fsync per batch](bench-latency-fsync.png)\n\n")
	w("![End-to-end latency, OS-buffered writes](bench-latency-buffered.png)\n\n")

	w("## Where the time goes in Skein\n\n%s\n%s\n%s\n\n", analysisBegin, analysis, analysisEnd)
	for _, p := range res.Profiles {
		w("### CPU profile: %s, %s mode\n\n", p.Workload, p.Mode)
		w("Skein / Kafka throughput on this workload was %.2f. It was run again against a Skein with its admin server on, ", p.Ratio)
		w("and `/debug/pprof/profile?seconds=%d` taken in the middle of the measured phase (`go tool pprof -top`):\n\n", p.Seconds)
		w("```\n%s```\n\nBy cumulative time:\n\n```\n%s```\n\n", trimPprof(p.Top, 32), trimPprof(p.TopCum, 42))
	}
	w("## Setup\n\n")
	w("- **Apache Kafka %s**, broker jars (`org.apache.kafka:kafka_2.13` and its runtime dependencies) from Maven Central ", orDash(cfg.KafkaVersion))
	w("through `mvn dependency:copy-dependencies` (bench/compare/kafka/pom.xml). KRaft single node, `process.roles=broker,controller`, ")
	w("storage formatted by `kafka.tools.StorageTool format --standalone` with a random cluster id, JVM options of ")
	w("`kafka-server-start.sh` (`%s`). Internal topics with one replica; otherwise Kafka's defaults.\n", strings.Join(kafkaJVMOpts, " "))
	w("- **Skein**, `bin/skein` built from the work tree at %s: `skein serve` with `--set skein.admin.address=` and `--set skein.registry.address=` (the broker alone: no admin server and no embedded registry during the comparison), otherwise defaults.\n", orDash(cfg.SkeinRevision))
	w("- **Durability, two modes, the same on both brokers:**\n")
	w("  - `fsync`: every batch is fsynced before it is acknowledged, acks=1 included. Kafka `log.flush.interval.messages=1`; Skein's default (`log.write.caching=false`).\n")
	w("  - `buffered`: writes stay in the OS page cache and are acknowledged at once. Kafka's defaults; Skein `--set log.write.caching=true`.\n")
	w("- **Workloads** (`skein bench`, uncompressed random %d-byte values, franz-go's default snappy switched off by the tool): ", cfg.RecordBytes)
	w("produce with %d producer clients at acks=all and acks=1 into topics of %s partitions, %s warm-up then %s measured; ", cfg.Producers, joinInts32(cfg.Partitions), cfg.Warmup, cfg.Duration)
	w("end-to-end latency (produce to consume, one record at a time at a fixed rate) at %s records/s into 8 partitions; ", joinInts(cfg.E2ERates))
	w("consume: %d records produced at acks=1 into 8 partitions (unmeasured), then read back by one consumer. Each run gets a ", cfg.ConsumeRecs)
	w("new topic, created (and its leaders awaited) before the run and deleted after it.\n")
	w("- **acks=1** switches franz-go's idempotent producer off (it needs acks=all), and without it franz-go allows one ")
	w("produce request in flight per broker connection instead of five, so the acks=1 runs are bound by each request's ")
	w("round trip and come out slower than acks=all on both brokers.\n")
	w("- **Produce latency** in the raw table is the time from the client's produce call to its acknowledgement while the ")
	w("producers run flat out, so it is mostly time queued in the client; the end-to-end runs are the latency measurement.\n")
	w("- **Resource use:** broker CPU is user+system time from `/proc/PID/stat`, sampled when the warm-up should be over ")
	w("(%s after the client starts) and when the client exits, divided by the bytes the run measured (1 GB = 10⁹ bytes). ", clientStartSlack)
	w("Peak RSS is `VmHWM` from `/proc/PID/status` at the end of a mode's runs; idle RSS is `VmRSS` %s after the first ", idleSettle)
	w("acknowledged produce. *Start to first acknowledged produce* is the wall time from spawning the process (Kafka: ")
	w("after its storage format, timed separately) to the first acknowledged acks=all produce, found by a loop that ")
	w("creates a one-partition topic and produces one record with a 1 s timeout on a new client every 10 ms.\n\n")

	w("## Resource use\n\n%s\n", resourceTable(res))
	w("## Raw numbers\n\n%s\n", rawTable(res))
	m := res.Machine
	w("## Machine\n\n")
	w("%s, %d cores, %.0f GiB memory, Linux %s; %s; %s. A shared virtual machine with one virtual disk: ", orDash(m.CPU), m.Cores, m.MemoryGB, m.Kernel, m.Go, orDash(m.Java))
	w("fdatasync of 4 KiB takes about 0.2 ms at p50 (docs/performance.md), loopback TCP costs about 1.3 cores per ")
	w("22 Gbit/s stream, and both brokers, the bench client and the JVM's and Go's garbage collectors compete for the two cores.\n\n")

	w("## How to reproduce\n\n")
	w("```\nmake bench-compare\n```\n\n")
	w("This builds `bin/skein`, copies Kafka's jars into `bench/compare/kafka/lib` with Maven (the only download), runs ")
	w("both modes (about 15 minutes on this machine) and rewrites this file and `docs/bench-*.png`; raw results, broker ")
	w("logs and the CPU profile are in `bench/compare/out/`. Environment variables lengthen or narrow the run:\n\n")
	w("| variable | default | meaning |\n|---|---|---|\n")
	w("| `BENCH_DURATION` | 5s | measured time of each produce and end-to-end run |\n")
	w("| `BENCH_WARMUP` | 2s | unmeasured time before it |\n")
	w("| `BENCH_ROUNDS` | 2 | rounds of every workload against each broker |\n")
	w("| `BENCH_MODES` | fsync,buffered | durability modes to run |\n")
	w("| `BENCH_PARTITIONS` | 1,8,64 | partition counts of the produce runs |\n")
	w("| `BENCH_E2E_RATES` | 5000,50000 | end-to-end rates, records/s |\n")
	w("| `BENCH_PRODUCERS` | 4 | producer clients per produce run |\n")
	w("| `BENCH_RECORD_BYTES` | 1024 | value bytes per record |\n")
	w("| `BENCH_CONSUME_RECORDS` | 1000000 | records of the consume run |\n")
	w("| `BENCH_PROFILE` | 1 | 0 skips the CPU profile of Skein |\n")
	w("| `BENCH_PROFILE_SECONDS` | 10 | length of that profile |\n")
	w("| `KAFKA_VERSION` | 4.4.0 | Kafka release fetched from Maven Central |\n\n")
	w("`go run . -report-only` in bench/compare redraws this file and the charts from `out/results.json`.\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// trimPprof keeps the first n lines of pprof output.
func trimPprof(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func joinInts(v []int) string {
	var s []string
	for _, n := range v {
		s = append(s, fmt.Sprintf("%d", n))
	}
	return strings.Join(s, " and ")
}

func joinInts32(v []int32) string {
	var s []string
	for _, n := range v {
		s = append(s, fmt.Sprintf("%d", n))
	}
	return strings.Join(s, ", ")
}
