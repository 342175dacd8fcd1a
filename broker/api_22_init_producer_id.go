package broker

// InitProducerId (key 22), versions 0–5.
//
// Behavior: without a transactional id, a new producer id with epoch 0,
// from blocks of ids reserved in the metadata log so that no id is handed
// out twice across restarts; as in Kafka this holds for v3+ requests that
// name the producer's current id and epoch too (KIP-360: the idempotent
// producer gets a fresh id). With a transactional id, the transaction
// coordinator (package txn) creates or loads the id, bumps the epoch to
// fence older producers, and aborts a transaction the previous producer
// left open (markers written) before answering; the timeout must be within
// transaction.max.timeout.ms (INVALID_TRANSACTION_TIMEOUT), an empty id is
// INVALID_REQUEST, a producer id and epoch where only one is -1 is
// INVALID_REQUEST. Exhausted epochs move the id to a new producer id.
// Unlike Kafka, the fence of an open transaction is not answered with
// CONCURRENT_TRANSACTIONS first; the answer is the epoch Kafka's retry
// would get.
// Version notes: v1 no change (throttling); v2 flexible; v3 producer id and
// epoch for recovery (KIP-360); v4 PRODUCER_FENCED, older versions get
// INVALID_PRODUCER_EPOCH instead (KIP-588); v5 TRANSACTION_ABORTABLE may be
// returned (KIP-890), never by this coordinator.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/txn"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleInitProducerID(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	var expected *txn.ProducerIDEpoch
	if req.Version >= 3 {
		switch {
		case req.ProducerID == -1 && req.ProducerEpoch == -1:
		case req.ProducerID == -1 || req.ProducerEpoch == -1:
			resp.ErrorCode = kerr.InvalidRequest.Code
			return protocol.Reply{Resp: resp}
		default:
			expected = &txn.ProducerIDEpoch{ID: req.ProducerID, Epoch: req.ProducerEpoch}
		}
	}
	switch {
	case req.TransactionalID == nil && b.authorizationOn() &&
		!b.authorizeQuietly(r.Session, acl.OpIdempotentWrite, acl.ResourceCluster, acl.ClusterName) &&
		!b.authorizeAnyTopic(r.Session, acl.OpWrite):
		// KIP-679: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return protocol.Reply{Resp: resp}
	case req.TransactionalID != nil && !b.authorize(r.Session, acl.OpWrite, acl.ResourceTransactionalID, *req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		if req.TransactionalID == nil {
			id, err := b.newProducerID()
			if err != nil {
				b.log.Error("producer id allocation failed", "err", err)
				resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				return resp
			}
			resp.ProducerID, resp.ProducerEpoch = id, 0
			return resp
		}
		if code := b.txnCoordinatorCode(*req.TransactionalID); code != 0 {
			resp.ErrorCode = code
			return resp
		}
		timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
		pe, err := b.txns.coord.InitProducerID(*req.TransactionalID, timeout, expected)
		if err != nil {
			resp.ErrorCode = fencedForVersion(b.txnErrorCode(err), req.Version, 4)
			return resp
		}
		resp.ProducerID, resp.ProducerEpoch = pe.ID, pe.Epoch
		return resp
	}}
}

// fencedForVersion maps PRODUCER_FENCED to INVALID_PRODUCER_EPOCH below
// the version that introduced it (KIP-588), as Kafka does.
func fencedForVersion(code, version, since int16) int16 {
	if code == kerr.ProducerFenced.Code && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
