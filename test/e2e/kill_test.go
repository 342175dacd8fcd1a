package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	killTopic      = "kill-during-produce"
	killPartitions = 3
	// killValueBytes is the size of every produced value.
	killValueBytes = 200
)

// killCodecs are cycled through, one per iteration.
var killCodecs = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"zstd", kgo.ZstdCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"gzip", kgo.GzipCompression()},
}

// TestKillDuringAcksAllProduce SIGKILLs `skein serve` while an acks=all
// producer is running, restarts it on the same data directory and checks
// that every record ever acknowledged is there with its value, that every
// partition's offsets run from 0 to the end with no gap or duplicate, and
// that every batch passes its CRC. The data directory is kept across
// iterations, so each restart also recovers the logs earlier kills left.
//
// SKEIN_KILL_ITERATIONS overrides the iteration count (default 20, 5 with
// -short); SKEIN_KILL_SEED replays a run's kill points and codecs.
func TestKillDuringAcksAllProduce(t *testing.T) {
	defIterations := int64(20)
	if testing.Short() {
		defIterations = 5
	}
	runKillTest(t, int(envInt(t, "SKEIN_KILL_ITERATIONS", defIterations)))
}

// runKillTest runs iterations of TestKillDuringAcksAllProduce, starting
// skein with args.
func runKillTest(t *testing.T, iterations int, args ...string) {
	seed := envInt(t, "SKEIN_KILL_SEED", time.Now().UnixNano())
	t.Logf("seed %d, %d iterations", seed, iterations)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with SKEIN_KILL_SEED=%d SKEIN_KILL_ITERATIONS=%d", seed, iterations)
		}
	})
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5ce1))

	dataDir := t.TempDir()
	sp := startSkein(t, dataDir, 0, args...)
	createKillTopic(t, sp.addr)

	acked := make(ackedSet)
	var logged int64 // records in the log before the iteration
	for it := 0; it < iterations; it++ {
		c := killCodecs[rng.IntN(len(killCodecs))]
		// Mostly mid-stream kills; one in five right after the first
		// acknowledgements, when the restart has just recovered.
		killAfter := 1000 + rng.IntN(7000)
		if rng.IntN(5) == 0 {
			killAfter = 1 + rng.IntN(100)
		}
		linger := time.Duration(rng.IntN(5)) * time.Millisecond
		start := time.Now()
		st := produceAndKill(t, sp, it, c.codec, killAfter, linger)
		for _, a := range st.acks {
			acked.add(t, a)
		}
		// Same data directory and, if it is still free, the same port.
		sp = startSkein(t, dataDir, sp.port, args...)
		ends := verifyKillTopic(t, sp.addr, acked)
		total := ends[0] + ends[1] + ends[2]
		t.Logf("iteration %d: %s, linger %v: killed after %d acks (asked %d); %d failed of %d; %d unacknowledged kept; recovery truncated %s bytes; log ends %v; %d acknowledged in all; %v",
			it, c.name, linger, len(st.acks), killAfter, st.failed, st.attempted, total-logged-int64(len(st.acks)), sumLogField(sp.readLog(), "truncated_bytes"), ends, acked.len(), time.Since(start).Round(time.Millisecond))
		logged = total
		if t.Failed() {
			return
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dataDir, killTopic+"-*", "*.log"))
	t.Logf("%d segments across %d partitions", len(segs), killPartitions)
}

// ack is one acknowledged record.
type ack struct {
	partition int32
	offset    int64
	value     string
}

// ackedSet holds every acknowledged record by partition and offset.
type ackedSet map[int32]map[int64]string

func (s ackedSet) add(t *testing.T, a ack) {
	t.Helper()
	m := s[a.partition]
	if m == nil {
		m = make(map[int64]string)
		s[a.partition] = m
	}
	if prev, ok := m[a.offset]; ok {
		// Two acknowledgements for one offset: the broker reused an
		// offset it had already acknowledged.
		t.Errorf("partition %d offset %d acknowledged twice: %q, then %q", a.partition, a.offset, prev, a.value)
		return
	}
	m[a.offset] = a.value
}

func (s ackedSet) len() int {
	n := 0
	for _, m := range s {
		n += len(m)
	}
	return n
}

// killValue is the value of record seq of iteration it. Its partition is
// seq % killPartitions. The padding is pseudo-random from both, so that a
// value that is torn or shifted does not decode and the log compresses
// little (segments roll).
func killValue(it, seq int) string {
	var b strings.Builder
	b.Grow(killValueBytes)
	fmt.Fprintf(&b, "it=%04d seq=%08d ", it, seq)
	pad := rand.New(rand.NewPCG(uint64(it), uint64(seq)))
	for b.Len() < killValueBytes {
		b.WriteByte('!' + byte(pad.IntN(94)))
	}
	return b.String()
}

// parseKillValue returns the iteration and sequence a value encodes, or
// false if it is not exactly a value killValue produces.
func parseKillValue(v string) (it, seq int, ok bool) {
	if len(v) != killValueBytes || !strings.HasPrefix(v, "it=") || v[7:12] != " seq=" {
		return 0, 0, false
	}
	it, err1 := strconv.Atoi(v[3:7])
	seq, err2 := strconv.Atoi(v[12:20])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return it, seq, killValue(it, seq) == v
}

func createKillTopic(t *testing.T, addr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Small segments and a dense index, so that recovery crosses segment
	// boundaries and rebuilds index entries.
	configs := map[string]*string{
		"segment.bytes":        kadm.StringPtr("1048576"),
		"index.interval.bytes": kadm.StringPtr("1024"),
	}
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, killPartitions, 1, configs, killTopic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", killTopic, err)
	}
}

type produceStats struct {
	acks      []ack
	failed    int64
	attempted int64
}

// produceAndKill runs an acks=all producer against sp, SIGKILLs sp once
// killAfter records are acknowledged while the producer keeps going, then
// stops the producer (failing what it still holds) and returns the
// acknowledged records.
func produceAndKill(t *testing.T, sp *skeinProc, it int, codec kgo.CompressionCodec, killAfter int, linger time.Duration) produceStats {
	t.Helper()
	hook := new(dialFailures)
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(sp.addr),
		kgo.DefaultProduceTopic(killTopic),
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(linger),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		// Small batches and a buffer several requests deep keep
		// produce requests in flight (appended, being fsynced, or
		// on the wire) at any moment the kill lands.
		kgo.MaxBufferedRecords(4096),
		kgo.MaxProduceRequestsInflightPerBroker(4),
		kgo.ProducerBatchMaxBytes(8<<10),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.WithHooks(hook),
	)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			cl.Close()
		}
	}()

	var (
		mu       sync.Mutex
		st       produceStats
		failed   atomic.Int64
		inflight sync.WaitGroup
		reached  = make(chan struct{})
		once     sync.Once
	)
	promise := func(r *kgo.Record, err error) {
		defer inflight.Done()
		if err != nil {
			failed.Add(1)
			return
		}
		mu.Lock()
		st.acks = append(st.acks, ack{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
		n := len(st.acks)
		mu.Unlock()
		if n >= killAfter {
			once.Do(func() { close(reached) })
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var attempted atomic.Int64
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for seq := 0; ctx.Err() == nil; seq++ {
			r := &kgo.Record{Partition: int32(seq % killPartitions), Value: []byte(killValue(it, seq))}
			inflight.Add(1)
			attempted.Add(1)
			cl.Produce(ctx, r, promise)
		}
	}()

	select {
	case <-reached:
	case <-sp.exited:
		t.Fatalf("skein exited during produce: %v", sp.waitErr)
	case <-time.After(2 * time.Minute):
		mu.Lock()
		n := len(st.acks)
		mu.Unlock()
		t.Fatalf("only %d of %d records acknowledged after 2m (%d failed)", n, killAfter, failed.Load())
	}
	// The producer is still running: records are buffered, in flight,
	// or being fsynced when the broker dies.
	attemptedAtKill := attempted.Load()
	sp.kill()
	// Let the producer run into the dead broker before stopping it: it
	// has tried to reconnect, and its buffered records are being retried.
	checkFor(t, 30*time.Second, time.Millisecond, func() error {
		if hook.n.Load() > 0 {
			return nil
		}
		return fmt.Errorf("producer has not tried to reconnect after the kill (%d records produced since)", attempted.Load()-attemptedAtKill)
	})
	cancel()
	cl.Close() // fails every record still buffered or in flight
	closed = true
	select {
	case <-producerDone:
	case <-time.After(time.Minute):
		t.Fatal("producer goroutine did not stop after the client closed")
	}
	waited := make(chan struct{})
	go func() {
		inflight.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		t.Fatal("produce promises not all called after the client closed")
	}
	mu.Lock()
	defer mu.Unlock()
	st.failed = failed.Load()
	st.attempted = attempted.Load()
	return st
}

// sumLogField adds up the integer values of key=N in a broker log, for
// diagnostics ("?" if the log has none).
func sumLogField(log, key string) string {
	var sum int64
	found := false
	for _, f := range strings.Fields(log) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				sum += n
				found = true
			}
		}
	}
	if !found {
		return "?"
	}
	return strconv.FormatInt(sum, 10)
}

// dialFailures counts failed connection attempts.
type dialFailures struct{ n atomic.Int64 }

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h *dialFailures) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.n.Add(1)
	}
}

// verifyKillTopic reads every partition of the kill topic from offset 0 to
// its end with raw fetches and checks each batch (contiguous offsets, CRC,
// magic), each record (contiguous offsets, a value the producer made, on
// the partition it was made for) and every acknowledged record. It returns
// each partition's end offset.
func verifyKillTopic(t *testing.T, addr string, acked ackedSet) []int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)

	details, err := adm.ListTopics(ctx, killTopic)
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	td := details[killTopic]
	if td.Err != nil || len(td.Partitions) != killPartitions {
		t.Fatalf("topic %s after restart: err %v, %d partitions, want %d", killTopic, td.Err, len(td.Partitions), killPartitions)
	}
	starts, err := adm.ListStartOffsets(ctx, killTopic)
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	endOffsets, err := adm.ListEndOffsets(ctx, killTopic)
	if err != nil {
		t.Fatalf("list end offsets: %v", err)
	}
	ends := make([]int64, killPartitions)
	for p := int32(0); p < killPartitions; p++ {
		so, ok1 := starts.Lookup(killTopic, p)
		eo, ok2 := endOffsets.Lookup(killTopic, p)
		if !ok1 || !ok2 || so.Err != nil || eo.Err != nil {
			t.Fatalf("partition %d offsets: start %+v, end %+v", p, so, eo)
		}
		if so.Offset != 0 {
			t.Fatalf("partition %d log start offset %d, want 0 (nothing was deleted)", p, so.Offset)
		}
		ends[p] = eo.Offset
		for off := range acked[p] {
			if off >= eo.Offset {
				t.Errorf("partition %d: acknowledged offset %d is at or beyond the log end %d: lost", p, off, eo.Offset)
			}
		}
		verifyPartition(ctx, t, cl, td.ID, p, eo.Offset, acked[p])
	}
	return ends
}

// verifyPartition fetches partition p from 0 to end.
func verifyPartition(ctx context.Context, t *testing.T, cl *kgo.Client, topicID [16]byte, p int32, end int64, acked map[int64]string) {
	t.Helper()
	found := 0
	next := int64(0)
	for empty := 0; next < end; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = 4 << 20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = killTopic
		rt.TopicID = topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.FetchOffset = next
		rp.PartitionMaxBytes = 4 << 20
		rp.CurrentLeaderEpoch = -1
		rp.LogStartOffset = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		kresp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("partition %d: fetch at %d: %v", p, next, err)
		}
		if err := kerr.ErrorForCode(kresp.ErrorCode); err != nil {
			t.Fatalf("partition %d: fetch at %d: %v", p, next, err)
		}
		if len(kresp.Topics) != 1 || len(kresp.Topics[0].Partitions) != 1 {
			t.Fatalf("partition %d: fetch at %d: response has %d topics", p, next, len(kresp.Topics))
		}
		frp := &kresp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(frp.ErrorCode); err != nil {
			t.Fatalf("partition %d: fetch at %d: %v", p, next, err)
		}
		if frp.HighWatermark != end {
			t.Fatalf("partition %d: fetch high watermark %d, ListOffsets end %d", p, frp.HighWatermark, end)
		}

		// Batch level: walk the raw bytes.
		batchEnd := checkBatches(t, p, next, frp.RecordBatches)

		// Record level: let the client decode (and CRC-check) them.
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: next, Topic: killTopic, Partition: p}, frp, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			t.Fatalf("partition %d: decoding fetch at %d: %v", p, next, fp.Err)
		}
		if len(fp.Records) == 0 {
			empty++
			if empty > 3 {
				t.Fatalf("partition %d: fetch at %d below end %d returned no records (%d bytes)", p, next, end, len(frp.RecordBatches))
			}
			continue
		}
		empty = 0
		for _, r := range fp.Records {
			if r.Offset != next {
				t.Fatalf("partition %d: record at offset %d, want %d (gap or duplicate)", p, r.Offset, next)
			}
			v := string(r.Value)
			it, seq, ok := parseKillValue(v)
			if !ok {
				t.Fatalf("partition %d offset %d: value %q was never produced", p, r.Offset, v)
			}
			if int32(seq%killPartitions) != p {
				t.Fatalf("partition %d offset %d: record it=%d seq=%d belongs to partition %d", p, r.Offset, it, seq, seq%killPartitions)
			}
			if want, ok := acked[r.Offset]; ok {
				found++
				if v != want {
					t.Fatalf("partition %d offset %d: value %q, acknowledged as %q", p, r.Offset, v, want)
				}
			}
			next++
		}
		if next != batchEnd {
			t.Fatalf("partition %d: records end at %d, batches at %d", p, next, batchEnd)
		}
	}
	if next != end {
		t.Fatalf("partition %d: read to %d, end %d", p, next, end)
	}
	if found != len(acked) {
		t.Fatalf("partition %d: %d of %d acknowledged records found", p, found, len(acked))
	}
}

// Record batch v2 layout offsets.
const (
	batchLengthAt     = 8
	batchMagicAt      = 16
	batchCRCAt        = 17
	batchAttributesAt = 21
	batchLastDeltaAt  = 23
	batchCountAt      = 57
	batchHeaderBytes  = 61
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkBatches walks the complete batches in data, which a fetch at offset
// from returned, and checks that they are magic 2 with a good CRC and that
// each starts where the previous ended. A trailing partial batch is allowed
// (a fetch may cut one). It returns the offset after the last whole batch.
func checkBatches(t *testing.T, p int32, from int64, data []byte) int64 {
	t.Helper()
	next := from
	for len(data) >= batchLengthAt+4 {
		base := int64(binary.BigEndian.Uint64(data))
		length := int(int32(binary.BigEndian.Uint32(data[batchLengthAt:])))
		if length < batchHeaderBytes-batchLengthAt-4 {
			t.Fatalf("partition %d: batch at %d has length %d", p, base, length)
		}
		size := batchLengthAt + 4 + length
		if len(data) < size {
			break
		}
		b := data[:size]
		data = data[size:]
		if magic := b[batchMagicAt]; magic != 2 {
			t.Fatalf("partition %d: batch at %d has magic %d", p, base, magic)
		}
		if want, got := binary.BigEndian.Uint32(b[batchCRCAt:]), crc32.Checksum(b[batchAttributesAt:], castagnoli); want != got {
			t.Fatalf("partition %d: batch at %d: CRC %08x, computed %08x", p, base, want, got)
		}
		if base != next {
			t.Fatalf("partition %d: batch starts at %d, previous ended at %d (gap or overlap)", p, base, next)
		}
		lastDelta := int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaAt:])))
		count := int64(int32(binary.BigEndian.Uint32(b[batchCountAt:])))
		if count != lastDelta+1 {
			t.Fatalf("partition %d: batch at %d has %d records, last offset delta %d", p, base, count, lastDelta)
		}
		next = base + lastDelta + 1
	}
	return next
}
