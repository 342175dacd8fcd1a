package broker

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol/records"
)

// TestProducerStateSequenceRules walks Kafka's idempotence rules: in-order
// batches are accepted, retries of any of the last five batches are
// duplicates, gaps and stale epochs are refused, a new epoch restarts at
// sequence 0, and sequences wrap at MaxInt32.
func TestProducerStateSequenceRules(t *testing.T) {
	st := newProducerState()
	write := func(epoch int16, first, last int32, offset int64) {
		t.Helper()
		bp := batchProducer{id: 7, epoch: epoch, firstSeq: first, lastSeq: last}
		dup, err := st.check(bp)
		if err != nil || dup != nil {
			t.Fatalf("seq %d-%d epoch %d: dup %v err %v", first, last, epoch, dup, err)
		}
		st.update(bp, offset, offset+int64(last-first), 0)
	}
	expect := func(epoch int16, first, last int32, want error) {
		t.Helper()
		_, err := st.check(batchProducer{id: 7, epoch: epoch, firstSeq: first, lastSeq: last})
		if !errors.Is(err, want) {
			t.Fatalf("seq %d-%d epoch %d: got %v, want %v", first, last, epoch, err, want)
		}
	}
	write(0, 0, 9, 0)
	for i := int32(1); i <= 6; i++ {
		write(0, i*10, i*10+9, int64(i*10))
	}
	// The last five batches are duplicates with their original offsets.
	for i := int32(2); i <= 6; i++ {
		dup, err := st.check(batchProducer{id: 7, epoch: 0, firstSeq: i * 10, lastSeq: i*10 + 9})
		if err != nil || dup == nil || dup.FirstOffset != int64(i*10) {
			t.Fatalf("retry of batch %d: dup %+v err %v", i, dup, err)
		}
	}
	expect(0, 0, 9, kerr.OutOfOrderSequenceNumber) // too old to be remembered
	expect(0, 80, 89, kerr.OutOfOrderSequenceNumber)
	expect(0, 71, 79, kerr.OutOfOrderSequenceNumber)
	expect(1, 5, 9, kerr.OutOfOrderSequenceNumber)
	write(1, 0, 4, 100)
	expect(0, 70, 79, kerr.InvalidProducerEpoch)
	// Wrap-around after MaxInt32.
	st2 := newProducerState()
	bp := batchProducer{id: 1, epoch: 0, firstSeq: math.MaxInt32 - 1, lastSeq: math.MaxInt32}
	st2.update(bp, 0, 1, 0)
	if _, err := st2.check(batchProducer{id: 1, epoch: 0, firstSeq: 0, lastSeq: 3}); err != nil {
		t.Fatalf("wrapped sequence refused: %v", err)
	}
	if got := seqAdd(math.MaxInt32-1, 3); got != 1 {
		t.Fatalf("seqAdd wrap = %d", got)
	}
	// Expiry.
	if n := st.expire(1); n != 1 || len(st.producers) != 0 {
		t.Fatalf("expired %d", n)
	}
}

// TestIdempotentProduceSurvivesRestart writes idempotent batches with raw
// Produce requests, restarts the broker (clean and after the snapshot is
// removed, forcing a log scan) and checks that a retry is still answered
// with the original offset and nothing is written twice.
func TestIdempotentProduceSurvivesRestart(t *testing.T) {
	tb := startBroker(t, nil)
	if code, msg := tb.createTopic(testCtx(t), "idem", 1, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	produce := func(tb *testBroker, seq int32) *kmsg.ProduceResponseTopicPartition {
		t.Helper()
		batch, err := records.AppendBatch(nil, records.BatchOptions{Codec: records.CodecNone, BaseTimestamp: 1, ProducerID: 42, ProducerEpoch: 3, BaseSequence: seq},
			[]records.Record{{Value: []byte("a")}, {Value: []byte("b")}})
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks = -1
		req.TimeoutMillis = 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "idem", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
		resp := rawRequest(t, tb.dial(), 1, req).(*kmsg.ProduceResponse)
		return &resp.Topics[0].Partitions[0]
	}
	for seq := int32(0); seq < 6; seq += 2 {
		if r := produce(tb, seq); r.ErrorCode != 0 || r.BaseOffset != int64(seq) {
			t.Fatalf("seq %d: %+v", seq, r)
		}
	}
	check := func(tb *testBroker) {
		t.Helper()
		if r := produce(tb, 4); r.ErrorCode != 0 || r.BaseOffset != 4 {
			t.Fatalf("retry after restart: error %d offset %d", r.ErrorCode, r.BaseOffset)
		}
		if r := produce(tb, 10); r.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
			t.Fatalf("gap after restart: error %d", r.ErrorCode)
		}
		if end := tb.lookupTopic("idem").partition(0).log.LogEndOffset(); end != 6 {
			t.Fatalf("log end offset %d, want 6", end)
		}
	}
	tb = tb.restart()
	check(tb)
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(tb.dir, "idem-0", producerSnapshotFile)); err != nil {
		t.Fatal(err)
	}
	tb = startBrokerIn(t, tb.dir, nil)
	check(tb)
}
