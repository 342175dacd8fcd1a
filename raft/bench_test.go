package raft

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchPropose runs b.N proposals of size bytes from conc goroutines and
// reports throughput and latency percentiles.
func benchPropose(b *testing.B, n *Node, conc, size int) {
	data := make([]byte, size)
	lat := make([]time.Duration, b.N)
	var next int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	ctx := context.Background()
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if _, err := n.Propose(ctx, data); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "proposals/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkProposeOneNode: a one-voter quorum on disk, one fsync per Ready.
func BenchmarkProposeOneNode(b *testing.B) {
	for _, conc := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("conc%d", conc), func(b *testing.B) {
			n, err := Start(Config{ID: 1, Dir: b.TempDir(), Peers: []Peer{{ID: 1}}, ManualTick: true,
				StateMachine: &benchSM{}, Logger: testLogger(b)})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			benchPropose(b, n, conc, 256)
		})
	}
}

// BenchmarkProposeThreeNodesMem: three voters on the in-memory network,
// each on disk.
func BenchmarkProposeThreeNodesMem(b *testing.B) {
	for _, conc := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("conc%d", conc), func(b *testing.B) {
			c := newCluster(b, 3, func(cfg *Config) { cfg.StateMachine = &benchSM{} })
			benchPropose(b, c.waitLeader(), conc, 256)
		})
	}
}

// benchSM applies nothing but keeps a count, so the benchmark measures
// the log.
type benchSM struct{ n uint64 }

func (s *benchSM) Apply(Entry) error         { s.n++; return nil }
func (s *benchSM) Snapshot() ([]byte, error) { return fmt.Appendf(nil, "%d", s.n), nil }
func (s *benchSM) Restore([]byte) error      { return nil }
