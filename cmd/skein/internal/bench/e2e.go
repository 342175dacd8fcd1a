package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// e2eHeaderBytes is the e2e payload prefix: the record's scheduled
	// send time in Unix nanoseconds (8 bytes, big endian) and a flag byte
	// that is 1 for warm-up records. The rest of the payload is random.
	e2eHeaderBytes = 9
	// e2eDrainTimeout bounds how long the consumer waits for the last
	// records after the producer has finished.
	e2eDrainTimeout = 30 * time.Second
)

// RunE2E produces at cfg.Rate records per second and consumes the same
// records, measuring the time from each record's scheduled send time to its
// arrival at the consumer. Using the scheduled time rather than the actual
// send time keeps a stalled producer from hiding latency (coordinated
// omission). The consumer reads every partition directly from the end
// offsets listed before producing, so no group rebalance is involved.
// The topic must not receive other writes during the run.
func RunE2E(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.validate(e2eHeaderBytes); err != nil {
		return Result{}, fmt.Errorf("bench e2e: %w", err)
	}
	if cfg.Rate <= 0 {
		return Result{}, errors.New("bench e2e: need a positive rate")
	}
	consumer, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return Result{}, fmt.Errorf("bench e2e: %w", err)
	}
	defer consumer.Close()
	listed, err := kadm.NewClient(consumer).ListEndOffsets(ctx, cfg.Topic)
	ends, err := listOffsets(cfg.Topic, listed, err)
	if err != nil {
		return Result{}, fmt.Errorf("bench e2e: %w", err)
	}
	parts := make(map[int32]kgo.Offset, len(ends))
	for p, o := range ends {
		parts[p] = kgo.NewOffset().At(o)
	}
	consumer.AddConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: parts})

	popts := append(append(append([]kgo.Opt{}, cfg.ClientOpts...), cfg.ProducerOpts...), kgo.DefaultProduceTopic(cfg.Topic))
	producer, err := kgo.NewClient(popts...)
	if err != nil {
		return Result{}, fmt.Errorf("bench e2e: %w", err)
	}
	defer producer.Close()

	run := &e2eRun{cfg: cfg, start: time.Now(), hist: newLatencyHistogram(), produced: make(chan struct{})}
	run.measureStart = run.start.Add(cfg.Warmup)
	p := startProgress(cfg.Progress, cfg.ProgressInterval, func(elapsed time.Duration) string {
		return fmt.Sprintf("[%s] e2e: sent %d, received %d", elapsed, run.sent.Load(), run.received.Load())
	})
	defer p.stop()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// producing ends when the producer finishes; it cuts short the
	// consumer's polls so that the consumer learns the final count.
	producing, producerDone := context.WithCancel(ctx)
	defer producerDone()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer producerDone()
		defer close(run.produced)
		run.produceErr = run.produce(ctx, producer)
	})
	consumeErr := run.consume(ctx, producing, consumer)
	cancel()
	wg.Wait()
	if run.produceErr != nil {
		return Result{}, fmt.Errorf("bench e2e: produce: %w", run.produceErr)
	}
	if consumeErr != nil {
		return Result{}, fmt.Errorf("bench e2e: consume: %w", consumeErr)
	}
	return newResult("e2e", run.measured, run.measuredBytes, run.lastReceive.Sub(run.measureStart), run.hist), nil
}

// e2eRun is the state of one e2e run. The producer goroutine owns the
// produce fields and closes produced when done; consume owns the rest.
type e2eRun struct {
	cfg          Config
	start        time.Time
	measureStart time.Time

	sent       atomic.Int64
	produceErr error // written before produced is closed
	produced   chan struct{}

	received      atomic.Int64
	hist          *hdrhistogram.Histogram
	measured      int64
	measuredBytes int64
	lastReceive   time.Time
}

// produce sends records on a fixed schedule until the measured phase is
// over, then flushes.
func (e *e2eRun) produce(ctx context.Context, cl *kgo.Client) error {
	src := newPayloads(e.cfg.Seed, e.cfg.RecordBytes)
	interval := float64(time.Second) / float64(e.cfg.Rate)
	measureEnd := e.measureStart.Add(e.cfg.Duration)
	timer := time.NewTimer(0)
	defer timer.Stop()

	var (
		failed   atomic.Pointer[error]
		measured int64
	)
	for i := int64(0); failed.Load() == nil; i++ {
		at := e.start.Add(time.Duration(float64(i) * interval))
		warm := at.Before(e.measureStart)
		if !warm && (e.cfg.Records > 0 && measured >= e.cfg.Records || e.cfg.Records == 0 && !at.Before(measureEnd)) {
			break
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		}
		cl.Produce(ctx, &kgo.Record{Value: e2ePayload(at, warm, src.next())}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
		e.sent.Add(1)
		if !warm {
			measured++
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if errp := failed.Load(); errp != nil {
		return *errp
	}
	return nil
}

// e2ePayload builds a payload of len(random) bytes: the e2e header followed
// by the tail of random.
func e2ePayload(at time.Time, warm bool, random []byte) []byte {
	b := make([]byte, len(random))
	binary.BigEndian.PutUint64(b, uint64(at.UnixNano()))
	if warm {
		b[8] = 1
	}
	copy(b[e2eHeaderBytes:], random[e2eHeaderBytes:])
	return b
}

// parseE2EPayload returns a payload's scheduled send time and warm-up flag.
func parseE2EPayload(b []byte) (at time.Time, warm, ok bool) {
	if len(b) < e2eHeaderBytes {
		return time.Time{}, false, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))), b[8] == 1, true
}

// consume receives records until it has every record the producer sent.
// Until the producer finishes, polls use producing, which ends when it
// does; after that, waiting is bounded by e2eDrainTimeout.
func (e *e2eRun) consume(ctx, producing context.Context, cl *kgo.Client) error {
	pollCtx := producing
	total := int64(-1)
	for total < 0 || e.received.Load() < total {
		if total < 0 && pollCtx.Err() != nil {
			select {
			case <-e.produced:
				if e.produceErr != nil {
					return nil
				}
				total = e.sent.Load()
				var cancel context.CancelFunc
				pollCtx, cancel = context.WithTimeout(ctx, e2eDrainTimeout)
				defer cancel()
				continue
			default:
				return ctx.Err()
			}
		}
		fetches := cl.PollFetches(pollCtx)
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, fe := range fetches.Errors() {
			if pollCtx.Err() == nil || !errors.Is(fe.Err, pollCtx.Err()) {
				return fmt.Errorf("partition %d: %w", fe.Partition, fe.Err)
			}
		}
		if total >= 0 && pollCtx.Err() != nil {
			return fmt.Errorf("received %d of %d records within %s of the last send", e.received.Load(), total, e2eDrainTimeout)
		}
		for it := fetches.RecordIter(); !it.Done(); {
			e.observe(it.Next(), time.Now())
		}
	}
	return nil
}

// observe accounts one received record.
func (e *e2eRun) observe(r *kgo.Record, now time.Time) {
	at, warm, ok := parseE2EPayload(r.Value)
	if !ok {
		return
	}
	e.received.Add(1)
	if warm {
		return
	}
	recordLatency(e.hist, now.Sub(at))
	e.measured++
	e.measuredBytes += int64(len(r.Key) + len(r.Value))
	e.lastReceive = now
}
