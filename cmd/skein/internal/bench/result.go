package bench

import (
	"encoding/json"
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is the outcome of one workload run. Latency fields are nil for
// workloads that do not measure latency.
type Result struct {
	Workload      string   `json:"workload"`
	Records       int64    `json:"records"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"`
	P50Ms         *float64 `json:"p50_ms,omitempty"`
	P99Ms         *float64 `json:"p99_ms,omitempty"`
	P999Ms        *float64 `json:"p999_ms,omitempty"`
	MaxMs         *float64 `json:"max_ms,omitempty"`
	// Bytes counts the key and value bytes of the measured records.
	Bytes int64 `json:"bytes"`
	// Seconds is the measured phase's wall time.
	Seconds float64 `json:"seconds"`
}

// JSON renders r as one line of JSON without a trailing newline.
func (r Result) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		// Result holds only numbers and a string.
		panic(err)
	}
	return string(b)
}

const (
	mib = 1 << 20
	// latencyMaxUs is the largest latency a histogram tracks; larger
	// values are clamped to it.
	latencyMaxUs = int64(time.Minute / time.Microsecond)
)

// newResult computes rates for records and bytes over elapsed and, when
// latencies is non-nil, the latency percentiles.
func newResult(workload string, records, bytes int64, elapsed time.Duration, latencies *hdrhistogram.Histogram) Result {
	r := Result{Workload: workload, Records: records, Bytes: bytes, Seconds: round3(elapsed.Seconds())}
	if s := elapsed.Seconds(); s > 0 {
		r.RecordsPerSec = round3(float64(records) / s)
		r.MBPerSec = round3(float64(bytes) / mib / s)
	}
	if latencies != nil {
		ms := func(us int64) *float64 { v := round3(float64(us) / 1000); return &v }
		r.P50Ms = ms(latencies.ValueAtQuantile(50))
		r.P99Ms = ms(latencies.ValueAtQuantile(99))
		r.P999Ms = ms(latencies.ValueAtQuantile(99.9))
		r.MaxMs = ms(latencies.Max())
	}
	return r
}

// newLatencyHistogram returns a histogram of microseconds from 1µs to
// latencyMaxUs with three significant digits.
func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, latencyMaxUs, 3)
}

// recordLatency adds d to h, clamped to the histogram's range.
func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := min(max(d.Microseconds(), 1), latencyMaxUs)
	// In range by construction, so RecordValue cannot fail.
	_ = h.RecordValue(us)
}

func round3(v float64) float64 {
	return math.Round(v*1000) / 1000
}
