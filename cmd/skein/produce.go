package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceFlags are the flags of skein produce.
type produceFlags struct {
	client       clientFlags
	file         string
	keySeparator string
	headers      []string
	partition    int32
	acks         string
	compression  string
	format       string
}

func newProduceCmd() *cobra.Command {
	f := &produceFlags{}
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce records read one per line from stdin or --file",
		Long: "Produce records read one per line from stdin or --file.\n\n" +
			"With --format plain each line is a value, or key SEP value with --key-separator.\n" +
			"With --format json each line is an object with optional fields key, value,\n" +
			"headers (object of strings), partition and timestamp (Unix ms or RFC 3339);\n" +
			"key_encoding, value_encoding and headers_encoding may be \"base64\".\n" +
			"The output of consume --format json is valid input.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if f.file != "" {
				file, err := os.Open(f.file)
				if err != nil {
					return err
				}
				defer file.Close()
				in = file
			}
			return runProduce(cmd.Context(), f, args[0], in, cmd.ErrOrStderr())
		},
	}
	f.client.register(cmd.Flags())
	fl := cmd.Flags()
	fl.StringVar(&f.file, "file", "", "read records from this file instead of stdin")
	fl.StringVar(&f.keySeparator, "key-separator", "", "plain format: split each line into key and value at the first SEP")
	fl.StringArrayVar(&f.headers, "header", nil, "header key=value added to every record (repeatable)")
	fl.Int32Var(&f.partition, "partition", -1, "produce every record to this partition (-1: partition by key)")
	fl.StringVar(&f.acks, "acks", "all", "required acks: all, 1 or 0")
	fl.StringVar(&f.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	fl.StringVar(&f.format, "format", formatPlain, "input format: plain or json")
	return cmd
}

// produceResult counts produced records. Its fields are guarded by mu
// because kgo calls the promises from its own goroutines.
type produceResult struct {
	mu struct {
		sync.Mutex
		ok, failed int64
		// firstErr is the first produce error, which is reported.
		firstErr error
	}
}

func (r *produceResult) promise(_ *kgo.Record, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.mu.failed++
		if r.mu.firstErr == nil {
			r.mu.firstErr = err
		}
		return
	}
	r.mu.ok++
}

func (r *produceResult) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.firstErr != nil
}

// runProduce reads records from in and produces them to topic, reporting the
// count on status. It stops reading at the first bad line or failed record.
func runProduce(ctx context.Context, f *produceFlags, topic string, in io.Reader, status io.Writer) error {
	if err := checkFormat(f.format); err != nil {
		return err
	}
	if f.format == formatJSON && f.keySeparator != "" {
		return errors.New("--key-separator applies to --format plain only")
	}
	headers, err := parseHeaders(f.headers)
	if err != nil {
		return err
	}
	opts, err := acksOpts(f.acks)
	if err != nil {
		return err
	}
	comp, err := compressionOpt(f.compression)
	if err != nil {
		return err
	}
	opts = append(opts, comp, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(explicitPartitioner{}))
	cl, err := f.client.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := f.client.checkSecurity(ctx, cl); err != nil {
		return err
	}

	res := &produceResult{}
	readErr := readRecords(in, f, headers, func(r *kgo.Record) bool {
		cl.Produce(ctx, r, res.promise)
		return !res.failed()
	})
	flushErr := cl.Flush(ctx)

	res.mu.Lock()
	defer res.mu.Unlock()
	fmt.Fprintf(status, "produced %d records to %s", res.mu.ok, topic)
	if res.mu.failed > 0 {
		fmt.Fprintf(status, ", %d failed", res.mu.failed)
	}
	fmt.Fprintln(status)
	switch {
	case readErr != nil:
		return readErr
	case res.mu.firstErr != nil:
		return fmt.Errorf("produce: %w", res.mu.firstErr)
	case flushErr != nil:
		return fmt.Errorf("produce: flush: %w", flushErr)
	}
	return nil
}

// readRecords parses in line by line and hands each record to emit until
// emit returns false or the input ends. Lines may end in \n or \r\n. In
// plain format an empty line is an empty value; in json format blank lines
// are skipped.
func readRecords(in io.Reader, f *produceFlags, headers []kgo.RecordHeader, emit func(*kgo.Record) bool) error {
	br := bufio.NewReaderSize(in, 1<<20)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("reading input: %w", err)
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		r, perr := parseLine(line, f)
		if perr != nil {
			return fmt.Errorf("line %d: %w", lineNo, perr)
		}
		if r != nil {
			r.Headers = append(r.Headers, headers...)
			if !emit(r) {
				return nil
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// parseLine turns one input line into a record, or nil for a skipped line.
// The returned record's Partition is -1 unless one was requested.
func parseLine(line []byte, f *produceFlags) (*kgo.Record, error) {
	var r *kgo.Record
	if f.format == formatJSON {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil, nil
		}
		var err error
		if r, err = parseJSONRecord(line); err != nil {
			return nil, err
		}
	} else {
		key, value, err := splitKey(line, f.keySeparator)
		if err != nil {
			return nil, err
		}
		// ReadBytes returns a fresh slice per line, so the record may
		// keep it.
		r = &kgo.Record{Key: key, Value: value, Partition: -1}
	}
	if f.partition >= 0 {
		r.Partition = f.partition
	}
	return r, nil
}

// explicitPartitioner sends a record with Partition >= 0 to that partition
// and partitions the rest as Kafka's default partitioner does: murmur2 of
// the key, or sticky batches for records without a key.
type explicitPartitioner struct{}

func (explicitPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return explicitTopicPartitioner{next: kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
}

type explicitTopicPartitioner struct {
	next kgo.TopicPartitioner
}

func (p explicitTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.next.RequiresConsistency(r)
}

// Partition returns the requested partition as is; kgo fails the record
// when it is out of range.
func (p explicitTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.next.Partition(r, n)
}

// OnNewBatch lets the sticky partitioner move keyless records on.
func (p explicitTopicPartitioner) OnNewBatch() {
	if nb, ok := p.next.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
