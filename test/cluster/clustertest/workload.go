package clustertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ValueBytes is the size of every value the producers write.
const ValueBytes = 120

// RecordID names one produced record: producer, partition and the
// producer's sequence number on that partition (from 0).
type RecordID struct {
	Producer  int32
	Partition int32
	Seq       int64
}

func (r RecordID) String() string {
	return fmt.Sprintf("producer %d partition %d seq %d", r.Producer, r.Partition, r.Seq)
}

// Value is the value of record r under prefix: "<prefix> p=<producer>
// part=<partition> seq=<seq> " padded to ValueBytes with characters
// derived from all three, so that a torn or shifted value does not parse.
func Value(prefix string, r RecordID) string {
	var b strings.Builder
	b.Grow(ValueBytes)
	fmt.Fprintf(&b, "%s p=%d part=%d seq=%d ", prefix, r.Producer, r.Partition, r.Seq)
	pad := rand.New(rand.NewPCG(uint64(r.Producer)<<32|uint64(r.Partition), uint64(r.Seq)))
	for b.Len() < ValueBytes {
		b.WriteByte('!' + byte(pad.IntN(94)))
	}
	return b.String()
}

// ParseValue returns the record a value names, or false if it is not
// exactly a value Value(prefix, ...) makes.
func ParseValue(prefix, v string) (RecordID, bool) {
	rest, ok := strings.CutPrefix(v, prefix+" ")
	if !ok {
		return RecordID{}, false
	}
	f := strings.SplitN(rest, " ", 4)
	if len(f) < 3 {
		return RecordID{}, false
	}
	p, ok1 := strings.CutPrefix(f[0], "p=")
	part, ok2 := strings.CutPrefix(f[1], "part=")
	seq, ok3 := strings.CutPrefix(f[2], "seq=")
	if !ok1 || !ok2 || !ok3 {
		return RecordID{}, false
	}
	pi, err1 := strconv.ParseInt(p, 10, 32)
	parti, err2 := strconv.ParseInt(part, 10, 32)
	seqi, err3 := strconv.ParseInt(seq, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return RecordID{}, false
	}
	id := RecordID{Producer: int32(pi), Partition: int32(parti), Seq: seqi}
	if Value(prefix, id) != v {
		return RecordID{}, false
	}
	return id, true
}

type recordState uint8

const (
	statePending recordState = iota
	stateAcked
	stateFailed
)

type recordInfo struct {
	state      recordState
	offset     int64
	producedAt time.Time
	doneAt     time.Time
	err        error
}

// ackEvent is one acknowledgement, for failover timing.
type ackEvent struct {
	producedAt, doneAt time.Time
}

// Ledger records every record the producers of one topic produce and
// what became of it: acknowledged at an offset, failed, or (while running)
// pending.
type Ledger struct {
	Topic      string
	Partitions int32
	Prefix     string

	mu       sync.Mutex
	records  map[RecordID]*recordInfo
	byOffset map[int32]map[int64]RecordID // acknowledged offsets
	acks     map[int32][]ackEvent         // by partition, in callback order
	problems []string
	errCount map[string]int // failures by error text
}

// NewLedger returns an empty ledger for topic.
func NewLedger(topic string, partitions int32, prefix string) *Ledger {
	return &Ledger{
		Topic: topic, Partitions: partitions, Prefix: prefix,
		records:  map[RecordID]*recordInfo{},
		byOffset: map[int32]map[int64]RecordID{},
		acks:     map[int32][]ackEvent{},
		errCount: map[string]int{},
	}
}

func (l *Ledger) produced(id RecordID, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records[id] = &recordInfo{producedAt: at}
}

func (l *Ledger) done(id RecordID, offset int64, err error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	ri := l.records[id]
	if ri == nil {
		l.problems = append(l.problems, fmt.Sprintf("promise for %v, which was never produced", id))
		return
	}
	if ri.state != statePending {
		l.problems = append(l.problems, fmt.Sprintf("second promise for %v", id))
		return
	}
	ri.doneAt = now
	if err != nil {
		ri.state, ri.err = stateFailed, err
		l.errCount[errText(err)]++
		return
	}
	ri.state, ri.offset = stateAcked, offset
	m := l.byOffset[id.Partition]
	if m == nil {
		m = map[int64]RecordID{}
		l.byOffset[id.Partition] = m
	}
	if prev, ok := m[offset]; ok {
		// Two acknowledgements of one offset: two leaders accepted
		// writes at the same offset (split brain), or an offset was
		// reused after it was acknowledged.
		l.problems = append(l.problems, fmt.Sprintf("partition %d offset %d acknowledged twice: %v, then %v", id.Partition, offset, prev, id))
	}
	m[offset] = id
	l.acks[id.Partition] = append(l.acks[id.Partition], ackEvent{producedAt: ri.producedAt, doneAt: now})
}

func errText(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// Acked is the number of acknowledged records.
func (l *Ledger) Acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.byOffset {
		n += len(m)
	}
	return n
}

// AckedOn is the number of acknowledged records of one partition.
func (l *Ledger) AckedOn(partition int32) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.byOffset[partition])
}

// Counts returns how many records were produced, acknowledged, failed and
// are pending.
func (l *Ledger) Counts() (produced, acked, failed, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ri := range l.records {
		switch ri.state {
		case stateAcked:
			acked++
		case stateFailed:
			failed++
		default:
			pending++
		}
	}
	return len(l.records), acked, failed, pending
}

// Errors summarizes the errors records failed with.
func (l *Ledger) Errors() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range l.errCount {
			if !yield(k) {
				return
			}
		}
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d× %s", l.errCount[k], k))
	}
	return strings.Join(parts, "; ")
}

// Problems returns what the ledger found wrong while recording.
func (l *Ledger) Problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.problems)
}

// FirstAckAfter returns how long after t the first record produced after
// t was acknowledged on partition, and false if none was.
func (l *Ledger) FirstAckAfter(partition int32, t time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	best := time.Duration(-1)
	for _, a := range l.acks[partition] {
		if a.producedAt.After(t) {
			if d := a.doneAt.Sub(t); best < 0 || d < best {
				best = d
			}
		}
	}
	return best, best >= 0
}

// AckedSince counts the acknowledgements on partition of records produced
// after t.
func (l *Ledger) AckedSince(partition int32, t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, a := range l.acks[partition] {
		if a.producedAt.After(t) {
			n++
		}
	}
	return n
}

// Verify checks one partition's whole log, records in offset order from
// offset 0 to its high watermark: offsets contiguous; every value one the
// producers made for this partition (a record made by no producer, a
// pinned client's for example, is reported); each producer's sequence
// numbers strictly increasing (no duplicate, no reordering); every
// acknowledged record present exactly once, at the offset it was
// acknowledged with; a record missing from between present ones only if
// it failed. It returns the problems found.
func (l *Ledger) Verify(partition int32, recs []RecordLite) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < 30 {
			problems = append(problems, fmt.Sprintf("partition %d: ", partition)+fmt.Sprintf(format, args...))
		}
	}
	lastSeq := map[int32]int64{}
	present := map[RecordID]bool{}
	for i, r := range recs {
		if r.Offset != int64(i) {
			add("record %d of the log has offset %d (gap or duplicate offset)", i, r.Offset)
			return problems
		}
		id, ok := ParseValue(l.Prefix, r.Value)
		if !ok {
			add("offset %d: value %.60q was never produced by the producers", r.Offset, r.Value)
			continue
		}
		if id.Partition != partition {
			add("offset %d: %v belongs to partition %d", r.Offset, id, id.Partition)
			continue
		}
		ri := l.records[id]
		if ri == nil {
			add("offset %d: %v was never produced", r.Offset, id)
			continue
		}
		if present[id] {
			add("offset %d: %v is in the log twice", r.Offset, id)
			continue
		}
		present[id] = true
		if ri.state == stateAcked && ri.offset != r.Offset {
			add("%v acknowledged at offset %d, found at %d", id, ri.offset, r.Offset)
		}
		if last, ok := lastSeq[id.Producer]; ok {
			if id.Seq <= last {
				add("offset %d: producer %d seq %d after seq %d (reordered)", r.Offset, id.Producer, id.Seq, last)
			}
			for s := last + 1; s < id.Seq; s++ {
				if mi := l.records[RecordID{id.Producer, partition, s}]; mi != nil && mi.state != stateFailed {
					add("producer %d: seq %d (%s) is missing between seq %d and %d at offset %d", id.Producer, s, stateName(mi.state), last, id.Seq, r.Offset)
				}
			}
		}
		lastSeq[id.Producer] = id.Seq
	}
	for off, id := range l.byOffset[partition] {
		if !present[id] {
			add("acknowledged %v (offset %d) is missing: lost", id, off)
		}
	}
	return problems
}

func stateName(s recordState) string {
	switch s {
	case stateAcked:
		return "acknowledged"
	case stateFailed:
		return "failed"
	}
	return "pending"
}

// RecordLite is a record's offset and value.
type RecordLite struct {
	Offset int64
	Value  string
}

// Lite converts records.
func Lite(recs []*kgo.Record) []RecordLite {
	out := make([]RecordLite, len(recs))
	for i, r := range recs {
		out[i] = RecordLite{Offset: r.Offset, Value: string(r.Value)}
	}
	return out
}

// Producers are franz-go idempotent producers at acks=all, each
// producing to every partition of the ledger's topic, one record per
// partition per interval.
type Producers struct {
	ledger  *Ledger
	clients []*kgo.Client
	stop    chan struct{}
	loops   sync.WaitGroup
	pending sync.WaitGroup
	cancel  context.CancelFunc
	ctx     context.Context
	// DataLoss counts the producers' data loss detections (an
	// OUT_OF_ORDER_SEQUENCE_NUMBER meaning the broker lost records it
	// had acknowledged).
	DataLoss atomic.Int64
	lossMu   sync.Mutex
	lossLog  []string
}

// StartProducers starts n producers (ids first..first+n-1).
func StartProducers(c *Cluster, l *Ledger, first int32, n int, interval time.Duration, opts ...kgo.Opt) *Producers {
	c.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producers{ledger: l, stop: make(chan struct{}), ctx: ctx, cancel: cancel}
	for i := 0; i < n; i++ {
		id := first + int32(i)
		base := []kgo.Opt{
			kgo.DefaultProduceTopic(l.Topic),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(2 * time.Millisecond),
			kgo.RecordDeliveryTimeout(45 * time.Second),
			kgo.ProduceRequestTimeout(3 * time.Second),
			kgo.MaxBufferedRecords(20000),
			kgo.ProducerOnDataLossDetected(func(topic string, partition int32) {
				p.DataLoss.Add(1)
				p.lossMu.Lock()
				p.lossLog = append(p.lossLog, fmt.Sprintf("producer %d: data loss detected on %s-%d at %s", id, topic, partition, time.Now().Format("15:04:05.000")))
				p.lossMu.Unlock()
			}),
			kgo.ClientID(fmt.Sprintf("clustertest-producer-%d", id)),
		}
		cl := c.NewClient(append(base, opts...)...)
		p.clients = append(p.clients, cl)
		p.loops.Add(1)
		go p.run(cl, id, interval)
	}
	c.T.Cleanup(func() { p.Stop(5 * time.Second) })
	return p
}

func (p *Producers) run(cl *kgo.Client, id int32, interval time.Duration) {
	defer p.loops.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	seqs := make([]int64, p.ledger.Partitions)
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		for part := int32(0); part < p.ledger.Partitions; part++ {
			rid := RecordID{Producer: id, Partition: part, Seq: seqs[part]}
			seqs[part]++
			p.ledger.produced(rid, time.Now())
			p.pending.Add(1)
			cl.Produce(p.ctx, &kgo.Record{Partition: part, Value: []byte(Value(p.ledger.Prefix, rid))}, func(r *kgo.Record, err error) {
				defer p.pending.Done()
				p.ledger.done(rid, r.Offset, err)
			})
		}
	}
}

// DataLossLog lists the data loss detections.
func (p *Producers) DataLossLog() []string {
	p.lossMu.Lock()
	defer p.lossMu.Unlock()
	return slices.Clone(p.lossLog)
}

// Stop stops producing, waits up to flush for every record to be
// acknowledged or to fail, then closes the clients (failing whatever is
// still buffered). It is idempotent.
func (p *Producers) Stop(flush time.Duration) {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.loops.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), flush)
	defer cancel()
	var wg sync.WaitGroup
	for _, cl := range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cl.Flush(ctx)
		}()
	}
	wg.Wait()
	p.cancel()
	for _, cl := range p.clients {
		cl.Close()
	}
	p.pending.Wait()
}

// Tail is a consumer that reads every partition of a topic from offset 0
// while the test runs, directly (no group), and records what it saw at
// each offset.
type Tail struct {
	topic  string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	seen     map[int32][]string
	problems []string
	rewinds  int
	fetchErr map[string]int
}

// StartTail starts a tail consumer of topic's partitions.
func StartTail(c *Cluster, topic string, partitions int32) *Tail {
	c.T.Helper()
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = kgo.NewOffset().At(0)
	}
	cl := c.NewClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.ClientID("clustertest-tail"),
	)
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tail{topic: topic, cl: cl, cancel: cancel, done: make(chan struct{}), seen: map[int32][]string{}, fetchErr: map[string]int{}}
	go t.run(ctx)
	c.T.Cleanup(t.Stop)
	return t
}

func (t *Tail) run(ctx context.Context) {
	defer close(t.done)
	for ctx.Err() == nil {
		fs := t.cl.PollFetches(ctx)
		t.mu.Lock()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				t.fetchErr[errText(err)]++
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			s := t.seen[r.Partition]
			switch {
			case r.Offset == int64(len(s)):
				t.seen[r.Partition] = append(s, string(r.Value))
			case r.Offset < int64(len(s)):
				// Read again (the client reset its position): it
				// must be the same record.
				t.rewinds++
				if s[r.Offset] != string(r.Value) {
					t.problem("partition %d offset %d read again with another value", r.Partition, r.Offset)
				}
			default:
				t.problem("partition %d: offset %d after offset %d: gap of %d offsets", r.Partition, r.Offset, len(s)-1, r.Offset-int64(len(s)))
				// Keep positions aligned with offsets from here.
				for int64(len(s)) < r.Offset {
					s = append(s, "")
				}
				t.seen[r.Partition] = append(s, string(r.Value))
			}
		})
		t.mu.Unlock()
	}
}

func (t *Tail) problem(format string, args ...any) {
	if len(t.problems) < 30 {
		t.problems = append(t.problems, fmt.Sprintf(format, args...))
	}
}

// Stop stops the tail consumer; idempotent.
func (t *Tail) Stop() {
	t.cancel()
	<-t.done
	t.cl.Close()
}

// Seen returns how many records of partition the tail saw.
func (t *Tail) Seen(partition int32) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen[partition])
}

// Check compares what the tail saw with the final log of each partition
// (records from offset 0): every offset it saw must hold the same value
// in the final log (it never read a record that was later truncated),
// and it saw no gaps.
func (t *Tail) Check(final map[int32][]RecordLite) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	problems := slices.Clone(t.problems)
	for p, s := range t.seen {
		f := final[p]
		for o, v := range s {
			if o >= len(f) {
				problems = append(problems, fmt.Sprintf("partition %d: the tail read offset %d, beyond the final log end %d (a record that was lost or truncated)", p, o, len(f)))
				break
			}
			if v != f[o].Value {
				problems = append(problems, fmt.Sprintf("partition %d offset %d: the tail read %.50q, the final log holds %.50q", p, o, v, f[o].Value))
				break
			}
		}
	}
	return problems
}

// Summary describes what the tail saw.
func (t *Tail) Summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for _, p := range slices.Sorted(func(yield func(int32) bool) {
		for k := range t.seen {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("p%d=%d", p, len(t.seen[p])))
	}
	var errs []string
	for k, n := range t.fetchErr {
		errs = append(errs, fmt.Sprintf("%d× %s", n, k))
	}
	sort.Strings(errs)
	return fmt.Sprintf("read %s, %d re-reads, fetch errors: [%s]", strings.Join(parts, " "), t.rewinds, strings.Join(errs, "; "))
}

// ConsumeGroup reads topic from the start through a new consumer group
// until every partition has been read up to ends[p] (exclusive), and
// returns the records by partition in offset order (a record delivered
// twice, after a rebalance, is kept once if its value is the same).
func ConsumeGroup(c *Cluster, topic, group string, ends map[int32]int64, timeout time.Duration) (map[int32][]RecordLite, error) {
	cl := c.NewClient(
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.ClientID("clustertest-group-reader"),
	)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out := map[int32][]RecordLite{}
	complete := func() bool {
		for p, end := range ends {
			if int64(len(out[p])) < end {
				return false
			}
		}
		return true
	}
	for !complete() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			var parts []string
			for p, end := range ends {
				parts = append(parts, fmt.Sprintf("p%d %d/%d", p, len(out[p]), end))
			}
			sort.Strings(parts)
			return out, fmt.Errorf("group %s read only %s after %v", group, strings.Join(parts, ", "), timeout)
		}
		var err error
		fs.EachRecord(func(r *kgo.Record) {
			s := out[r.Partition]
			switch {
			case r.Offset == int64(len(s)):
				out[r.Partition] = append(s, RecordLite{Offset: r.Offset, Value: string(r.Value)})
			case r.Offset < int64(len(s)):
				if s[r.Offset].Value != string(r.Value) && err == nil {
					err = fmt.Errorf("group %s: partition %d offset %d delivered twice with different values", group, r.Partition, r.Offset)
				}
			default:
				if err == nil {
					err = fmt.Errorf("group %s: partition %d: offset %d after %d (gap)", group, r.Partition, r.Offset, len(s)-1)
				}
			}
		})
		if err != nil {
			return out, err
		}
	}
	// Keep only what is below the ends (the caller's high watermarks).
	for p, end := range ends {
		if int64(len(out[p])) > end {
			out[p] = out[p][:end]
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		return out, fmt.Errorf("group %s: commit: %w", group, err)
	}
	return out, nil
}

// HighWatermarks returns the end offset (high watermark) of every
// partition of topic, asked of the leaders.
func HighWatermarks(c *Cluster, topic string) (map[int32]int64, error) {
	cl := c.NewClient()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var ferr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && ferr == nil {
			ferr = fmt.Errorf("%s-%d: %w", o.Topic, o.Partition, o.Err)
		}
		out[o.Partition] = o.Offset
	})
	return out, ferr
}

// CreateTopic creates topic with partitions and replication factor rf
// and configs, and waits until every running broker knows every
// partition's leader.
func CreateTopic(c *Cluster, topic string, partitions int32, rf int16, configs map[string]string) {
	c.T.Helper()
	cl := c.NewClient()
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kadm.StringPtr(v)
	}
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, rf, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		c.T.Fatalf("clustertest: creating %s: %v", topic, err)
	}
	for p := int32(0); p < partitions; p++ {
		c.WaitLeader(60*time.Second, topic, p, -1)
	}
}
