package broker

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/skein-streaming/skein/protocol/records"
)

// TestPartitionTransactions drives the partition side of transactions
// directly: open transactions hold the last stable offset back, an abort
// marker records the aborted range for read_committed fetches, a commit
// releases the LSO, and all of it is rebuilt after a restart.
func TestPartitionTransactions(t *testing.T) {
	tb := startBroker(t, nil)
	if code, msg := tb.createTopic(testCtx(t), "tx", 1, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	appendTxn := func(tb *testBroker, pid int64, seq int32) int64 {
		t.Helper()
		p := tb.lookupTopic("tx").partition(0)
		batch, err := records.AppendBatch(nil, records.BatchOptions{Codec: records.CodecNone, BaseTimestamp: 1, ProducerID: pid, ProducerEpoch: 0, BaseSequence: seq, Transactional: true},
			[]records.Record{{Value: []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		base, last, _, _, err := p.appendProducer(batch, &batchProducer{id: pid, epoch: 0, firstSeq: seq, lastSeq: seq, transactional: true}, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The LSO is bounded by the high watermark: wait for it.
		if err := p.awaitReplicationNow(testCtx(t), last, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		return base
	}
	p := tb.lookupTopic("tx").partition(0)
	if _, _, err := p.append(records.BuildBatch(records.CodecNone, 1, []records.Record{{Value: []byte("plain")}})); err != nil {
		t.Fatal(err)
	}
	a0 := appendTxn(tb, 1, 0) // offset 1, producer 1
	b0 := appendTxn(tb, 2, 0) // offset 2, producer 2
	appendTxn(tb, 1, 1)       // offset 3
	if got := p.lastStableOffset(); got != a0 {
		t.Fatalf("LSO with two open transactions %d, want %d", got, a0)
	}
	abortAt, err := p.writeTxnMarker(1, 0, false, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.lastStableOffset(); got != b0 {
		t.Fatalf("LSO after abort %d, want %d", got, b0)
	}
	if _, err := p.writeTxnMarker(2, 0, true, 5); err != nil {
		t.Fatal(err)
	}
	if got, hw := p.lastStableOffset(), p.highWatermark(); got != hw {
		t.Fatalf("LSO %d with no open transaction, want high watermark %d", got, hw)
	}
	check := func(p *partition) {
		t.Helper()
		ab := p.abortedIn(0, p.highWatermark())
		if len(ab) != 1 || ab[0].ProducerID != 1 || ab[0].FirstOffset != a0 {
			t.Fatalf("aborted transactions %+v", ab)
		}
		if ab := p.abortedIn(abortAt+1, p.highWatermark()); len(ab) != 0 {
			t.Fatalf("aborted transactions after the marker: %+v", ab)
		}
		if _, err := p.writeTxnMarker(1, -1, true, 5); err == nil {
			t.Fatal("marker with an older epoch accepted")
		}
	}
	check(p)
	tb = tb.restart()
	check(tb.lookupTopic("tx").partition(0))
	// Without the snapshot the state is rebuilt from the markers in the log.
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(tb.dir, "tx-0", producerSnapshotFile)); err != nil {
		t.Fatal(err)
	}
	tb = startBrokerIn(t, tb.dir, nil)
	check(tb.lookupTopic("tx").partition(0))
}

// TestTxnGuardRefusesAppendAfterMarker checks that a transactional batch
// verified before its transaction's marker is refused after it, instead
// of landing after the marker outside any transaction.
func TestTxnGuardRefusesAppendAfterMarker(t *testing.T) {
	tb := startBroker(t, nil)
	if code, msg := tb.createTopic(testCtx(t), "guard", 1, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	p := tb.lookupTopic("guard").partition(0)
	batch := func(seq int32) []byte {
		b, err := records.AppendBatch(nil, records.BatchOptions{Codec: records.CodecNone, BaseTimestamp: 1, ProducerID: 9, BaseSequence: seq, Transactional: true}, []records.Record{{Value: []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g := p.txnGuard(9)
	if _, _, _, _, err := p.appendProducer(batch(0), &batchProducer{id: 9, firstSeq: 0, lastSeq: 0, transactional: true, guard: g}, 0); err != nil {
		t.Fatal(err)
	}
	g = p.txnGuard(9)
	if _, err := p.writeTxnMarker(9, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := p.appendProducer(batch(1), &batchProducer{id: 9, firstSeq: 1, lastSeq: 1, transactional: true, guard: g}, 0); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("append verified before the marker: %v", err)
	}
	if got, hw := p.lastStableOffset(), p.highWatermark(); got != hw {
		t.Fatalf("LSO %d, high watermark %d: a transaction was left open", got, hw)
	}
}
