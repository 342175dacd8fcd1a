package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// RunConsume reads cfg.Topic from its log start offsets up to the end
// offsets listed at the start (or cfg.Records records, if fewer) and
// reports the read throughput. The offset listing goes through the
// consuming client, so metadata and connections are warm when the clock
// starts.
func RunConsume(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Topic == "" || cfg.Records < 0 {
		return Result{}, fmt.Errorf("bench consume: need a topic and a non-negative record count")
	}
	cl, err := kgo.NewClient(cfg.ClientOpts...)
	if err != nil {
		return Result{}, fmt.Errorf("bench consume: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	listed, err := adm.ListStartOffsets(ctx, cfg.Topic)
	starts, err := listOffsets(cfg.Topic, listed, err)
	if err != nil {
		return Result{}, fmt.Errorf("bench consume: %w", err)
	}
	listed, err = adm.ListEndOffsets(ctx, cfg.Topic)
	ends, err := listOffsets(cfg.Topic, listed, err)
	if err != nil {
		return Result{}, fmt.Errorf("bench consume: %w", err)
	}
	var total int64
	parts := make(map[int32]kgo.Offset, len(starts))
	for p, s := range starts {
		total += max(ends[p]-s, 0)
		parts[p] = kgo.NewOffset().At(s)
	}
	if total == 0 {
		return Result{}, fmt.Errorf("bench consume: topic %s is empty; fill it with bench produce first", cfg.Topic)
	}
	target := total
	if cfg.Records > 0 {
		target = min(cfg.Records, total)
	}

	var records, bytes atomic.Int64
	rl := &rateLine{workload: "consume"}
	p := startProgress(cfg.Progress, cfg.ProgressInterval, func(elapsed time.Duration) string {
		return rl.line(elapsed, records.Load(), bytes.Load())
	})
	defer p.stop()
	start := time.Now()
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: parts})
	for records.Load() < target {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Result{}, fmt.Errorf("bench consume: %w", err)
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			e := errs[0]
			return Result{}, fmt.Errorf("bench consume: partition %d: %w", e.Partition, e.Err)
		}
		for it := fetches.RecordIter(); !it.Done() && records.Load() < target; {
			r := it.Next()
			records.Add(1)
			bytes.Add(int64(len(r.Key) + len(r.Value)))
		}
	}
	return newResult("consume", records.Load(), bytes.Load(), time.Since(start), nil), nil
}
