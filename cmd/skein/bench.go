package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/cmd/skein/internal/bench"
)

// benchFlags are the flags of the skein bench subcommands.
type benchFlags struct {
	client            clientFlags
	topic             string
	progress          time.Duration
	seed              uint64
	recordSize        int
	records           int64
	duration          time.Duration
	warmup            time.Duration
	partitions        int32
	replicationFactor int16
	acks              string
	linger            time.Duration
	producers         int
	compression       string
	rate              int
}

func newBenchCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure produce and consume throughput and end-to-end latency",
		Long: "Measure a cluster with random payloads. Progress goes to stderr every\n" +
			"--progress; the result is one JSON line on stdout:\n" +
			`{"workload":..,"records":..,"records_per_sec":..,"mb_per_sec":..,"p50_ms":..,` + "\n" +
			`"p99_ms":..,"p999_ms":..,"max_ms":..,"bytes":..,"seconds":..}` + "\n" +
			"MB is 2^20 bytes. Latency fields are absent for consume.",
	}
	f.client.register(cmd.PersistentFlags())
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.topic, "topic", "skein-bench", "topic to use; produce and e2e create it if missing")
	pf.DurationVar(&f.progress, "progress", time.Second, "progress line interval on stderr (0: none)")
	pf.Uint64Var(&f.seed, "seed", 1, "seed of the random payloads")
	cmd.AddCommand(newBenchProduceCmd(f), newBenchConsumeCmd(f), newBenchE2ECmd(f))
	return cmd
}

func newBenchProduceCmd(f *benchFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Produce throughput and produce latency (call to acknowledgement)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, true, bench.RunProduce)
		},
	}
	fl := cmd.Flags()
	f.registerProducer(fl, 5*time.Millisecond)
	fl.Int64Var(&f.records, "records", 0, "measured records (0: run for --duration)")
	fl.DurationVar(&f.duration, "duration", 30*time.Second, "measured time when --records is 0")
	fl.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured time before measuring")
	fl.IntVar(&f.producers, "producers", 1, "concurrent producer clients")
	return cmd
}

func newBenchConsumeCmd(f *benchFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Consume throughput draining a filled topic from its start",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, false, bench.RunConsume)
		},
	}
	cmd.Flags().Int64Var(&f.records, "records", 0, "records to read (0: up to the end offsets at start)")
	return cmd
}

func newBenchE2ECmd(f *benchFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "End-to-end latency (scheduled send to receive) at a fixed --rate",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, true, bench.RunE2E)
		},
	}
	fl := cmd.Flags()
	f.registerProducer(fl, 0)
	fl.IntVar(&f.rate, "rate", 1000, "records per second")
	fl.Int64Var(&f.records, "records", 0, "measured records (0: run for --duration)")
	fl.DurationVar(&f.duration, "duration", 30*time.Second, "measured time when --records is 0")
	fl.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured time before measuring")
	return cmd
}

// registerProducer adds the flags of workloads that produce.
func (f *benchFlags) registerProducer(fl *pflag.FlagSet, linger time.Duration) {
	fl.IntVar(&f.recordSize, "record-size", 1024, "value bytes per record")
	fl.Int32Var(&f.partitions, "partitions", 6, "partitions when creating the topic")
	fl.Int16Var(&f.replicationFactor, "replication-factor", -1, "replication factor when creating the topic (-1: broker default)")
	fl.StringVar(&f.acks, "acks", "all", "required acks: all, 1 or 0")
	fl.DurationVar(&f.linger, "linger", linger, "producer linger")
	fl.StringVar(&f.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
}

// run builds the workload config, creates the topic for producing
// workloads, runs the workload and prints its result line.
func (f *benchFlags) run(cmd *cobra.Command, produces bool, workload func(context.Context, bench.Config) (bench.Result, error)) error {
	ctx := cmd.Context()
	cfg, err := f.config(produces)
	if err != nil {
		return err
	}
	if produces {
		if err := f.ensureTopic(ctx, cmd); err != nil {
			return err
		}
	}
	cfg.Progress = cmd.ErrOrStderr()
	res, err := workload(ctx, cfg)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), res.JSON())
	return err
}

// config turns the flags into a workload config.
func (f *benchFlags) config(produces bool) (bench.Config, error) {
	clientOpts, err := f.client.opts()
	if err != nil {
		return bench.Config{}, err
	}
	cfg := bench.Config{
		Topic:            f.topic,
		RecordBytes:      f.recordSize,
		Records:          f.records,
		Duration:         f.duration,
		Warmup:           f.warmup,
		Producers:        f.producers,
		Rate:             f.rate,
		ClientOpts:       clientOpts,
		ProgressInterval: f.progress,
		Seed:             f.seed,
	}
	if !produces {
		return cfg, nil
	}
	acks, err := acksOpts(f.acks)
	if err != nil {
		return bench.Config{}, err
	}
	comp, err := compressionOpt(f.compression)
	if err != nil {
		return bench.Config{}, err
	}
	cfg.ProducerOpts = append(acks, comp, kgo.ProducerLinger(f.linger))
	return cfg, nil
}

// ensureTopic creates the bench topic if it does not exist.
func (f *benchFlags) ensureTopic(ctx context.Context, cmd *cobra.Command) error {
	cl, err := f.client.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	created, err := bench.EnsureTopic(ctx, cl, f.topic, f.partitions, f.replicationFactor)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(cmd.ErrOrStderr(), "created topic %s with %d partitions\n", f.topic, f.partitions)
	}
	return nil
}
