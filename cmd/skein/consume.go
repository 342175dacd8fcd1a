package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeFlags are the flags of skein consume.
type consumeFlags struct {
	client        clientFlags
	fromBeginning bool
	offset        int64
	partition     int32
	fromTimestamp string
	group         string
	maxMessages   int64
	follow        bool
	format        string
	printKey      bool
}

func newConsumeCmd() *cobra.Command {
	f := &consumeFlags{}
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records from a topic",
		Long: "Print records from a topic, one per line.\n\n" +
			"Without --follow, consume lists the end offsets (high watermarks) when it\n" +
			"starts and exits once every partition has been read up to them. The start\n" +
			"is the end of each partition unless --from-beginning, --offset or\n" +
			"--from-timestamp says otherwise; with --group, committed offsets win and\n" +
			"those flags only apply to partitions without one. With --group, exiting\n" +
			"when caught up assumes this consumer is assigned every partition.\n\n" +
			"--format json writes one object per record with topic, partition, offset,\n" +
			"timestamp (Unix ms), key, value and headers; bytes that are not valid UTF-8\n" +
			"are base64 with key_encoding, value_encoding or headers_encoding \"base64\".",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.startSpec(cmd.Flags().Changed("offset"))
			if err != nil {
				return err
			}
			return runConsume(cmd.Context(), f, spec, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f.client.register(cmd.Flags())
	fl := cmd.Flags()
	fl.BoolVar(&f.fromBeginning, "from-beginning", false, "start at the log start offset")
	fl.Int64Var(&f.offset, "offset", 0, "start at this offset in every partition (or in --partition)")
	fl.Int32Var(&f.partition, "partition", -1, "consume only this partition (-1: all)")
	fl.StringVar(&f.fromTimestamp, "from-timestamp", "", "start at the first record at or after this time (RFC 3339 or Unix ms)")
	fl.StringVar(&f.group, "group", "", "consume as a member of this consumer group and commit what is printed")
	fl.Int64Var(&f.maxMessages, "max-messages", 0, "exit after printing this many records (0: no limit)")
	fl.BoolVar(&f.follow, "follow", false, "keep waiting for new records instead of exiting when caught up")
	fl.StringVar(&f.format, "format", formatPlain, "output format: plain or json")
	fl.BoolVar(&f.printKey, "print-key", false, "plain format: print the key and a tab before the value")
	return cmd
}

// startMode says where consumption starts in a partition without a
// committed offset.
type startMode int

const (
	startLatest startMode = iota
	startEarliest
	startOffset
	startTimestamp
)

// startSpec is a parsed start position.
type startSpec struct {
	mode startMode
	// offset is the start offset for startOffset.
	offset int64
	// millis is the Unix millisecond time for startTimestamp.
	millis int64
}

// startSpec validates the flag combination and parses the start position.
// offsetSet reports whether --offset was given, since 0 is a valid offset.
func (f *consumeFlags) startSpec(offsetSet bool) (startSpec, error) {
	if err := checkFormat(f.format); err != nil {
		return startSpec{}, err
	}
	if f.maxMessages < 0 {
		return startSpec{}, errors.New("--max-messages: must be >= 0")
	}
	n := 0
	for _, set := range []bool{f.fromBeginning, offsetSet, f.fromTimestamp != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return startSpec{}, errors.New("give at most one of --from-beginning, --offset and --from-timestamp")
	}
	if f.group != "" && (offsetSet || f.partition >= 0) {
		return startSpec{}, errors.New("--offset and --partition cannot be used with --group")
	}
	switch {
	case f.fromBeginning:
		return startSpec{mode: startEarliest}, nil
	case offsetSet:
		if f.offset < 0 {
			return startSpec{}, errors.New("--offset: must be >= 0")
		}
		return startSpec{mode: startOffset, offset: f.offset}, nil
	case f.fromTimestamp != "":
		t, err := parseTimestamp(f.fromTimestamp)
		if err != nil {
			return startSpec{}, fmt.Errorf("--from-timestamp: %w", err)
		}
		return startSpec{mode: startTimestamp, millis: t.UnixMilli()}, nil
	}
	return startSpec{mode: startLatest}, nil
}

// resetOffset is the kgo reset offset matching the start mode, used for
// group partitions without a committed offset.
func (s startSpec) resetOffset() kgo.Offset {
	switch s.mode {
	case startEarliest:
		return kgo.NewOffset().AtStart()
	case startTimestamp:
		return kgo.NewOffset().AfterMilli(s.millis)
	}
	return kgo.NewOffset().AtEnd()
}

// consumePlan is where each partition starts and, for deciding when we
// are caught up, the end offsets sampled before consuming.
type consumePlan struct {
	start map[int32]int64
	end   map[int32]int64
}

// planConsume lists offsets with ListOffsets (and OffsetFetch for a group)
// to resolve the start and end of every selected partition.
func planConsume(ctx context.Context, adm *kadm.Client, f *consumeFlags, spec startSpec, topic string) (*consumePlan, error) {
	ends, err := listOffsets(ctx, topic, func() (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, topic) })
	if err != nil {
		return nil, err
	}
	if f.partition >= 0 {
		e, ok := ends[f.partition]
		if !ok {
			return nil, fmt.Errorf("topic %s has no partition %d", topic, f.partition)
		}
		ends = map[int32]int64{f.partition: e}
	}
	var starts map[int32]int64
	if spec.mode != startLatest {
		starts, err = listOffsets(ctx, topic, func() (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, topic) })
		if err != nil {
			return nil, err
		}
	}
	var after map[int32]int64
	if spec.mode == startTimestamp {
		after, err = listOffsets(ctx, topic, func() (kadm.ListedOffsets, error) {
			return adm.ListOffsetsAfterMilli(ctx, spec.millis, topic)
		})
		if err != nil {
			return nil, err
		}
	}
	plan := &consumePlan{start: make(map[int32]int64, len(ends)), end: ends}
	for p, end := range ends {
		switch spec.mode {
		case startLatest:
			plan.start[p] = end
		case startEarliest:
			plan.start[p] = starts[p]
		case startOffset:
			plan.start[p] = min(max(spec.offset, starts[p]), end)
		case startTimestamp:
			plan.start[p] = end
			if o, ok := after[p]; ok && o >= 0 {
				plan.start[p] = o
			}
		}
	}
	if f.group != "" {
		committed, err := adm.FetchOffsets(ctx, f.group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			// Some brokers answer this for a group that has never
			// committed, which is the same as having no commits.
			committed, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("group %s: fetch committed offsets: %w", f.group, err)
		}
		for p := range ends {
			if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
				plan.start[p] = c.At
			}
		}
	}
	return plan, nil
}

// listOffsets runs one kadm offset listing for topic and flattens it to
// partition → offset, failing on any partition error (an unknown topic is
// reported as UNKNOWN_TOPIC_OR_PARTITION).
func listOffsets(ctx context.Context, topic string, list func() (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	listed, err := list()
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(listed[topic]))
	for p, o := range listed[topic] {
		if o.Err != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", topic, o.Err)
		}
		out[p] = o.Offset
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("list offsets of %s: no partitions", topic)
	}
	return out, nil
}

// pending returns, for every partition that has records before its end
// offset, the end offset to read up to.
func (p *consumePlan) pending() map[int32]int64 {
	out := make(map[int32]int64)
	for part, end := range p.end {
		if p.start[part] < end {
			out[part] = end
		}
	}
	return out
}

// runConsume prints records of topic to w until caught up, the record limit
// is reached, or ctx ends. An interrupt is a normal way to stop.
func runConsume(ctx context.Context, f *consumeFlags, spec startSpec, topic string, w, status io.Writer) error {
	admCl, err := f.client.newClient()
	if err != nil {
		return err
	}
	plan, err := planConsume(ctx, kadm.NewClient(admCl), f, spec, topic)
	admCl.Close()
	if err != nil {
		return err
	}
	pending := plan.pending()
	if !f.follow && len(pending) == 0 {
		return nil
	}

	opts := []kgo.Opt{kgo.KeepControlRecords()}
	if f.group != "" {
		opts = append(opts, kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(spec.resetOffset()), kgo.AutoCommitMarks())
	} else {
		parts := make(map[int32]kgo.Offset, len(plan.start))
		for p, o := range plan.start {
			parts[p] = kgo.NewOffset().At(o)
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	}
	cl, err := f.client.newClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	c := &consumer{flags: f, out: bufio.NewWriterSize(w, 64<<10), pending: pending}
	c.enc = json.NewEncoder(c.out)
	c.enc.SetEscapeHTML(false)
	loopErr := c.loop(ctx, cl)
	if flushErr := c.out.Flush(); loopErr == nil {
		loopErr = flushErr
	}
	if f.group != "" {
		// Commit what was printed even when interrupted.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := cl.CommitMarkedOffsets(cctx); err != nil && loopErr == nil {
			loopErr = fmt.Errorf("group %s: commit: %w", f.group, err)
		}
	}
	fmt.Fprintf(status, "consumed %d records from %s\n", c.printed, topic)
	return loopErr
}

// consumer is the state of one consume loop.
type consumer struct {
	flags *consumeFlags
	out   *bufio.Writer
	enc   *json.Encoder
	// pending maps each partition not yet caught up to its end offset.
	pending map[int32]int64
	printed int64
}

// done reports whether the loop should stop.
func (c *consumer) done() bool {
	if c.flags.maxMessages > 0 && c.printed >= c.flags.maxMessages {
		return true
	}
	return !c.flags.follow && len(c.pending) == 0
}

// loop polls and prints until done or ctx ends, flushing after each poll
// so that --follow output appears promptly.
func (c *consumer) loop(ctx context.Context, cl *kgo.Client) error {
	for !c.done() {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err := fetchError(fetches); err != nil {
			return err
		}
		for it := fetches.RecordIter(); !it.Done() && !c.done(); {
			if err := c.handle(cl, it.Next()); err != nil {
				return err
			}
		}
		if err := c.out.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// handle prints a data record and advances the caught-up tracking; control
// records (transaction markers) only advance the tracking.
func (c *consumer) handle(cl *kgo.Client, r *kgo.Record) error {
	if end, ok := c.pending[r.Partition]; ok && r.Offset+1 >= end {
		delete(c.pending, r.Partition)
	}
	if r.Attrs.IsControl() {
		return nil
	}
	if err := writeRecord(c.out, c.enc, r, c.flags.format, c.flags.printKey); err != nil {
		return err
	}
	c.printed++
	if c.flags.group != "" {
		cl.MarkCommitRecords(r)
	}
	return nil
}

// fetchError returns the first fetch error, if any.
func fetchError(fetches kgo.Fetches) error {
	errs := fetches.Errors()
	if len(errs) == 0 {
		return nil
	}
	slices.SortFunc(errs, func(a, b kgo.FetchError) int { return int(a.Partition - b.Partition) })
	e := errs[0]
	if e.Topic == "" {
		return fmt.Errorf("consume: %w", e.Err)
	}
	return fmt.Errorf("consume %s partition %d: %w", e.Topic, e.Partition, e.Err)
}

// writeRecord writes one record in the given format. Plain format writes
// the value (and the key and a tab with printKey); a nil key or value is
// written as "null".
func writeRecord(w *bufio.Writer, enc *json.Encoder, r *kgo.Record, format string, printKey bool) error {
	if format == formatJSON {
		return enc.Encode(newJSONRecordOut(r))
	}
	if printKey {
		writeNullable(w, r.Key)
		w.WriteByte('\t')
	}
	writeNullable(w, r.Value)
	return w.WriteByte('\n')
}

func writeNullable(w *bufio.Writer, b []byte) {
	if b == nil {
		w.WriteString("null")
		return
	}
	w.Write(b)
}
