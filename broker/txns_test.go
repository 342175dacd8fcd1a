package broker

import (
	"errors"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnConn sends raw transaction requests at fixed versions.
type txnConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func (tc *txnConn) do(req kmsg.Request, version int16) kmsg.Response {
	tc.t.Helper()
	req.SetVersion(version)
	tc.corr++
	return rawRequest(tc.t, tc.c, tc.corr, req)
}

func (tc *txnConn) initProducerID(txnID *string, timeoutMs int32, version int16) *kmsg.InitProducerIDResponse {
	tc.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = txnID, timeoutMs
	return tc.do(req, version).(*kmsg.InitProducerIDResponse)
}

func (tc *txnConn) addPartitions(txnID string, pid int64, epoch int16, topic string, parts ...int32) []kmsg.AddPartitionsToTxnResponseTopicPartition {
	tc.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: parts}}
	return tc.do(req, 3).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions
}

func (tc *txnConn) endTxn(txnID string, pid int64, epoch int16, commit bool, version int16) int16 {
	tc.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = txnID, pid, epoch, commit
	return tc.do(req, version).(*kmsg.EndTxnResponse).ErrorCode
}

func (tc *txnConn) describe(txnID string) kmsg.DescribeTransactionsResponseTransactionState {
	tc.t.Helper()
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{txnID}
	return tc.do(req, 0).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
}

func newTxnConn(t *testing.T, tb *testBroker) *txnConn {
	return &txnConn{t: t, c: tb.dial()}
}

// TestInitProducerIDIdempotent checks producer ids for idempotent
// producers: fresh ids at epoch 0 at every version, a v3+ recovery request
// gets a fresh id too (as in Kafka), half-set recovery fields are
// INVALID_REQUEST, and ids are never handed out again after a restart.
func TestInitProducerIDIdempotent(t *testing.T) {
	tb := startBroker(t, nil)
	tc := newTxnConn(t, tb)
	seen := map[int64]bool{}
	var last int64 = -1
	for v := int16(0); v <= 5; v++ {
		r := tc.initProducerID(nil, 0, v)
		if r.ErrorCode != 0 || r.ProducerEpoch != 0 || seen[r.ProducerID] || r.ProducerID <= last {
			t.Fatalf("v%d: %+v", v, r)
		}
		seen[r.ProducerID], last = true, r.ProducerID
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.ProducerID, req.ProducerEpoch = last, 0
	if r := tc.do(req, 4).(*kmsg.InitProducerIDResponse); r.ErrorCode != 0 || r.ProducerID <= last || r.ProducerEpoch != 0 {
		t.Fatalf("recovery: %+v", r)
	} else {
		last = r.ProducerID
	}
	req.ProducerID, req.ProducerEpoch = -1, 3
	if r := tc.do(req, 4).(*kmsg.InitProducerIDResponse); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("half-set recovery fields: %+v", r)
	}

	tb = tb.restart()
	tc = newTxnConn(t, tb)
	if r := tc.initProducerID(nil, 0, 4); r.ErrorCode != 0 || r.ProducerID <= last {
		t.Fatalf("after restart got %d, last before was %d", r.ProducerID, last)
	}
	if next := tb.meta.Image().NextProducerID; next != 2*producerIDBlockSize {
		t.Fatalf("reserved up to %d", next)
	}
}

// TestTransactionRequests drives a transaction with raw requests: init,
// AddPartitionsToTxn with an unknown partition and then valid ones, the
// in-process produce verification, EndTxn writing markers, the admin
// APIs, a restart that reloads the state from __transaction_state, and
// fencing with old-version error codes.
func TestTransactionRequests(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	tc := newTxnConn(t, tb)
	id := "tx"
	if r := tc.initProducerID(&id, 900001, 4); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout over the max: %+v", r)
	}
	r := tc.initProducerID(&id, 60000, 4)
	if r.ErrorCode != 0 || r.ProducerEpoch != 0 {
		t.Fatalf("init: %+v", r)
	}
	if tb.lookupTopic(txnStateTopic) == nil {
		t.Fatal("__transaction_state not created")
	}
	pid, epoch := r.ProducerID, r.ProducerEpoch

	got := tc.addPartitions(id, pid, epoch, "t", 0, 7)
	if got[0].ErrorCode != kerr.OperationNotAttempted.Code || got[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown partition: %+v", got)
	}
	for _, p := range tc.addPartitions(id, pid, epoch, "t", 0, 1) {
		if p.ErrorCode != 0 {
			t.Fatalf("add: %+v", p)
		}
	}
	if err := tb.txnVerify(id, pid, epoch, "t", 0); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := tb.txnVerify(id, pid, epoch+1, "t", 0); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("verify with another epoch: %v", err)
	}
	if err := tb.txnVerify(id, pid, epoch, "other", 0); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("verify of a partition outside the transaction: %v", err)
	}

	// The batched verification path of brokers (v4).
	ver := kmsg.NewPtrAddPartitionsToTxnRequest()
	ver.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: id, ProducerID: pid, ProducerEpoch: epoch, VerifyOnly: true,
		Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "t", Partitions: []int32{0}}, {Topic: "nope", Partitions: []int32{0}}}}}
	vr := tc.do(ver, 4).(*kmsg.AddPartitionsToTxnResponse)
	if vt := vr.Transactions[0].Topics; vt[0].Partitions[0].ErrorCode != 0 || vt[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("verify only: %+v", vr)
	}

	d := tc.describe(id)
	if d.ErrorCode != 0 || d.State != "Ongoing" || d.ProducerID != pid || len(d.Topics) != 1 || len(d.Topics[0].Partitions) != 2 || d.StartTimestamp < 0 {
		t.Fatalf("describe: %+v", d)
	}
	lr := tc.do(kmsg.NewPtrListTransactionsRequest(), 1).(*kmsg.ListTransactionsResponse)
	if lr.ErrorCode != 0 || len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionState != "Ongoing" {
		t.Fatalf("list: %+v", lr)
	}

	leo := tb.lookupTopic("t").partition(0).log.LogEndOffset()
	if code := tc.endTxn(id, pid, epoch, true, 3); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	if got := tb.lookupTopic("t").partition(0).log.LogEndOffset(); got != leo+1 {
		t.Fatalf("log end offset %d after the commit marker, want %d", got, leo+1)
	}
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "t", Partitions: []int32{0, 9}}}
	dpr := tc.do(dp, 0).(*kmsg.DescribeProducersResponse)
	parts := dpr.Topics[0].Partitions
	if parts[0].ErrorCode != 0 || len(parts[0].ActiveProducers) != 1 || parts[0].ActiveProducers[0].ProducerID != pid || parts[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("describe producers: %+v", dpr)
	}

	tb = tb.restart()
	tc = newTxnConn(t, tb)
	if d := tc.describe(id); d.State != "CompleteCommit" || d.ProducerID != pid || d.ProducerEpoch != epoch {
		t.Fatalf("after restart: %+v", d)
	}
	if code := tc.endTxn(id, pid, epoch, true, 3); code != 0 {
		t.Fatalf("retried commit after restart: %v", kerr.ErrorForCode(code))
	}
	// A new producer fences the old one; v1 requests get
	// INVALID_PRODUCER_EPOCH, v2+ PRODUCER_FENCED.
	if r := tc.initProducerID(&id, 60000, 4); r.ErrorCode != 0 || r.ProducerEpoch != epoch+1 {
		t.Fatalf("second producer: %+v", r)
	}
	if code := tc.endTxn(id, pid, epoch, false, 1); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced v1: %v", kerr.ErrorForCode(code))
	}
	if code := tc.endTxn(id, pid, epoch, false, 2); code != kerr.ProducerFenced.Code {
		t.Fatalf("fenced v2: %v", kerr.ErrorForCode(code))
	}
	if d := tc.describe("missing"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("describe unknown: %+v", d)
	}
}

// TestWriteTxnMarkers checks the inter-broker marker API answers each
// partition: written, unknown partition, or a marker older than the
// producer's epoch there.
func TestWriteTxnMarkers(t *testing.T) {
	tb := startBroker(t, nil)
	if _, err := tb.admin().CreateTopic(testCtx(t), 1, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	tc := newTxnConn(t, tb)
	write := func(epoch int16) []kmsg.WriteTxnMarkersResponseMarkerTopic {
		req := kmsg.NewPtrWriteTxnMarkersRequest()
		req.Markers = []kmsg.WriteTxnMarkersRequestMarker{{ProducerID: 42, ProducerEpoch: epoch, Committed: false,
			Topics: []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: "t", Partitions: []int32{0, 3}}}}}
		return tc.do(req, 1).(*kmsg.WriteTxnMarkersResponse).Markers[0].Topics
	}
	got := write(5)
	if p := got[0].Partitions; p[0].ErrorCode != 0 || p[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("markers: %+v", got)
	}
	if p := write(4)[0].Partitions; p[0].ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("stale marker: %+v", p)
	}
	if leo := tb.lookupTopic("t").partition(0).log.LogEndOffset(); leo != 1 {
		t.Fatalf("log end offset %d", leo)
	}
}
