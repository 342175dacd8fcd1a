// Package bench implements the workloads of skein bench against any
// Kafka-compatible cluster through franz-go:
//
//   - produce: throughput of one or more producers writing random payloads,
//     with per-record produce latency (Produce call to acknowledgement);
//   - consume: throughput of draining a topic from its log start offset to
//     the end offsets listed when the run starts;
//   - e2e: produce-to-consume latency at a fixed record rate.
//
// Every workload returns a Result that renders as one JSON line. Payloads
// are random bytes so that compression, which franz-go enables by default
// and the caller must switch off explicitly unless it is measuring it, sees
// realistic data. Rates are in records per second and MiB (2^20 bytes) per
// second, matching Apache Kafka's perf-test tools. Latencies are recorded in
// microseconds in HDR histograms with three significant digits.
//
// Invariants: only the measured phase counts toward a Result; warm-up
// records are produced and acknowledged (or, for e2e, received) but never
// counted; every goroutine a workload starts has exited when it returns.
package bench
