package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RunProduce runs cfg.Producers producer clients writing random values of
// cfg.RecordBytes to cfg.Topic: a warm-up phase of cfg.Warmup, then a
// measured phase of cfg.Records records or cfg.Duration. Each phase ends
// with a flush, so the measured time covers every acknowledgement.
func RunProduce(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(1); err != nil {
		return Result{}, fmt.Errorf("bench produce: %w", err)
	}
	if cfg.Producers <= 0 {
		return Result{}, errors.New("bench produce: need at least one producer")
	}
	clients := make([]*kgo.Client, cfg.Producers)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clients {
		opts := append(append(append([]kgo.Opt{}, cfg.ClientOpts...), cfg.ProducerOpts...), kgo.DefaultProduceTopic(cfg.Topic))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return Result{}, fmt.Errorf("bench produce: %w", err)
		}
		clients[i] = cl
	}
	srcs := make([]*payloads, len(clients))
	for i := range srcs {
		srcs[i] = newPayloads(cfg.Seed+uint64(i), cfg.RecordBytes)
	}
	if cfg.Warmup > 0 {
		warm := &producePhase{duration: cfg.Warmup}
		if err := warm.run(ctx, clients, srcs, nil); err != nil {
			return Result{}, fmt.Errorf("bench produce: warm-up: %w", err)
		}
	}
	measured := &producePhase{records: cfg.Records, duration: cfg.Duration}
	p := startProgress(cfg.Progress, cfg.ProgressInterval, measured.progressLine())
	err := measured.run(ctx, clients, srcs, measured.latencies(len(clients)))
	p.stop()
	if err != nil {
		return Result{}, fmt.Errorf("bench produce: %w", err)
	}
	return newResult("produce", measured.acked.Load(), measured.bytes.Load(), measured.elapsed, measured.merged()), nil
}

// producePhase is one produce phase shared by all producer goroutines.
type producePhase struct {
	// records bounds the phase by count when > 0, else duration does.
	records  int64
	duration time.Duration

	// sent reserves record slots when records bounds the phase.
	sent  atomic.Int64
	stop  atomic.Bool
	acked atomic.Int64
	bytes atomic.Int64
	// elapsed is the phase's wall time, set by run.
	elapsed time.Duration

	// hists holds one latency histogram per producer, each guarded by its
	// own mutex because promises run on client goroutines.
	hists []*lockedHistogram

	errMu    sync.Mutex
	firstErr error
}

type lockedHistogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func (ph *producePhase) latencies(n int) []*lockedHistogram {
	ph.hists = make([]*lockedHistogram, n)
	for i := range ph.hists {
		ph.hists[i] = &lockedHistogram{h: newLatencyHistogram()}
	}
	return ph.hists
}

// merged folds the per-producer histograms into one.
func (ph *producePhase) merged() *hdrhistogram.Histogram {
	all := newLatencyHistogram()
	for _, lh := range ph.hists {
		lh.mu.Lock()
		all.Merge(lh.h)
		lh.mu.Unlock()
	}
	return all
}

func (ph *producePhase) progressLine() func(time.Duration) string {
	rl := &rateLine{workload: "produce"}
	return func(elapsed time.Duration) string {
		return rl.line(elapsed, ph.acked.Load(), ph.bytes.Load())
	}
}

// take reports whether a producer may send one more record.
func (ph *producePhase) take() bool {
	if ph.stop.Load() {
		return false
	}
	if ph.records > 0 {
		return ph.sent.Add(1) <= ph.records
	}
	return true
}

func (ph *producePhase) fail(err error) {
	ph.errMu.Lock()
	defer ph.errMu.Unlock()
	if ph.firstErr == nil {
		ph.firstErr = err
	}
	ph.stop.Store(true)
}

// run produces until the phase's bound and flushes every client. hists may
// be nil to skip latency recording.
func (ph *producePhase) run(ctx context.Context, clients []*kgo.Client, srcs []*payloads, hists []*lockedHistogram) error {
	start := time.Now()
	if ph.records == 0 {
		timer := time.AfterFunc(ph.duration, func() { ph.stop.Store(true) })
		defer timer.Stop()
	}
	var wg sync.WaitGroup
	for i, cl := range clients {
		var lh *lockedHistogram
		if hists != nil {
			lh = hists[i]
		}
		wg.Go(func() { ph.produce(ctx, cl, srcs[i], lh) })
	}
	wg.Wait()
	ph.elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return err
	}
	ph.errMu.Lock()
	defer ph.errMu.Unlock()
	return ph.firstErr
}

// produce is one producer goroutine: send until the phase ends, then flush.
func (ph *producePhase) produce(ctx context.Context, cl *kgo.Client, src *payloads, lh *lockedHistogram) {
	for ph.take() && ctx.Err() == nil {
		r := &kgo.Record{Value: src.next()}
		sentAt := time.Now()
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err != nil {
				ph.fail(err)
				return
			}
			if lh != nil {
				d := time.Since(sentAt)
				lh.mu.Lock()
				recordLatency(lh.h, d)
				lh.mu.Unlock()
			}
			ph.acked.Add(1)
			ph.bytes.Add(int64(len(r.Key) + len(r.Value)))
		})
	}
	if err := cl.Flush(ctx); err != nil && ctx.Err() == nil {
		ph.fail(err)
	}
}
