package broker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol/records"
)

// TestTxnAcrossBrokers runs transactions whose partitions are led by three
// different brokers while broker 1 coordinates them: the coordinator
// sends the markers of an aborted and of a committed transaction to the
// other leaders (WriteTxnMarkers), the leaders verify transactional
// batches with the coordinator (AddPartitionsToTxn VerifyOnly), and a
// read_committed consumer sees exactly the committed records.
func TestTxnAcrossBrokers(t *testing.T) {
	c := startCluster(t, 3, map[string]string{"transaction.state.log.num.partitions": "1", "transaction.state.log.replication.factor": "1"})
	ctx := testCtx(t)
	c.createWithConfigs(1, "xt", nil, []int32{1}, []int32{2}, []int32{3})
	c.createWithConfigs(1, txnStateTopic, map[string]string{"cleanup.policy": "compact"}, []int32{1})
	for p := int32(0); p < 3; p++ {
		c.waitRole("xt", p, p+1, 0)
	}

	txp := c.client(1, kgo.TransactionalID("x1"), kgo.DefaultProduceTopic("xt"), kgo.TransactionTimeout(30*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer txp.Close()
	for _, end := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := txp.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 3; p++ {
			v := fmt.Sprintf("aborted-%d", p)
			if end == kgo.TryCommit {
				v = fmt.Sprintf("committed-%d", p)
			}
			if err := txp.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := txp.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}

	// Every partition holds its aborted record, the abort marker, its
	// committed record and the commit marker: the last stable offset is
	// the high watermark, 4, on each leader.
	for p := int32(0); p < 3; p++ {
		leader := c.brokers[p+1]
		for _, iso := range []int8{0, 1} {
			lo := kmsg.NewPtrListOffsetsRequest()
			lo.SetVersion(7)
			lo.IsolationLevel = iso
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition, lp.Timestamp = p, -1
			lo.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "xt", Partitions: []kmsg.ListOffsetsRequestTopicPartition{lp}}}
			got := rawRequest(t, leader.dial(), 1, lo).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
			if got.ErrorCode != 0 || got.Offset != 4 {
				t.Fatalf("partition %d isolation %d: offset %d (%v), want 4", p, iso, got.Offset, kerr.ErrorForCode(got.ErrorCode))
			}
		}
		var controls int
		for _, b := range logBatches(t, leader, "xt", p) {
			if b[22]&attrControl != 0 { // the attributes' low byte
				controls++
			}
		}
		if controls != 2 {
			t.Fatalf("partition %d has %d markers, want 2", p, controls)
		}
	}

	// A read_committed consumer sees the three committed records, and
	// none of the aborted ones (they come first in every partition).
	cons := c.client(1, kgo.ConsumeTopics("xt"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cons.Close()
	var got []string
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v: %v", got, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	slices.Sort(got)
	if want := []string{"committed-0", "committed-1", "committed-2"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed consumer got %v, want %v", got, want)
	}

	// A transactional batch for a partition led by broker 2 that is not
	// part of the transaction is refused there; once added, it is taken.
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.SetVersion(4)
	ip.TransactionalID, ip.TransactionTimeoutMillis = kmsg.StringPtr("x2"), 30000
	ipr := rawRequest(t, c.brokers[1].dial(), 1, ip).(*kmsg.InitProducerIDResponse)
	if ipr.ErrorCode != 0 {
		t.Fatalf("init producer id: %v", kerr.ErrorForCode(ipr.ErrorCode))
	}
	add := func(p int32) {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.SetVersion(3)
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = "x2", ipr.ProducerID, ipr.ProducerEpoch
		req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "xt", Partitions: []int32{p}}}
		resp := rawRequest(t, c.brokers[1].dial(), 1, req).(*kmsg.AddPartitionsToTxnResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("add partition %d: %v", p, kerr.ErrorForCode(code))
		}
	}
	add(0)
	batch, err := records.AppendBatch(nil, records.BatchOptions{Codec: records.CodecNone, BaseTimestamp: time.Now().UnixMilli(),
		ProducerID: ipr.ProducerID, ProducerEpoch: ipr.ProducerEpoch, BaseSequence: 0, Transactional: true},
		[]records.Record{{Value: []byte("stray")}})
	if err != nil {
		t.Fatal(err)
	}
	produce := func() kmsg.ProduceResponseTopicPartition {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.TransactionID = kmsg.StringPtr("x2")
		req.Acks, req.TimeoutMillis = -1, 10000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "xt", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 1, Records: batch}}}}
		return rawRequest(t, c.brokers[2].dial(), 1, req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	if sp := produce(); sp.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("produce to a partition not in the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(sp.ErrorCode))
	}
	if hw := c.brokers[2].lookupTopic("xt").partition(1).log.LogEndOffset(); hw != 4 {
		t.Fatalf("refused batch was appended: log end %d, want 4", hw)
	}
	add(1)
	if sp := produce(); sp.ErrorCode != 0 || sp.BaseOffset != 4 {
		t.Fatalf("produce to a partition added to the transaction: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}
