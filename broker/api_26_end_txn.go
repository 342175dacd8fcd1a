package broker

// EndTxn (key 26), versions 0–4.
//
// Behavior: commits or aborts the producer's ongoing transaction:
// PrepareCommit or PrepareAbort is written to __transaction_state and
// fsynced, markers are written to every partition of the transaction
// (and, for __consumer_offsets partitions, the group coordinator is told),
// then CompleteCommit or CompleteAbort is written. Unlike Kafka, which
// answers once the decision is durable and writes markers afterwards, the
// answer waits for the markers, so that data is visible to read_committed
// consumers once EndTxn returns; if markers cannot be written the answer
// still reports success (the decision is durable) and the coordinator
// retries them. A retry of a completed EndTxn is answered with success.
// Not served: v5 (KIP-890 part 2, transaction version 2: the epoch bump on
// every EndTxn) needs Produce to add partitions implicitly, which this
// broker does not do; the transaction.version feature is not advertised.
// Version notes: v1 no change; v2 PRODUCER_FENCED, older versions get
// INVALID_PRODUCER_EPOCH (KIP-588); v3 flexible; v4 TRANSACTION_ABORTABLE
// may be returned (KIP-890).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleEndTxn(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !b.authorize(r.Session, acl.OpWrite, acl.ResourceTransactionalID, req.TransactionalID) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		if code := b.txnCoordinatorCode(req.TransactionalID); code != 0 {
			resp.ErrorCode = code
			return resp
		}
		err := b.txns.coord.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		resp.ErrorCode = fencedForVersion(b.txnErrorCode(err), req.Version, 2)
		return resp
	}}
}
