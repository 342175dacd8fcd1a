package broker

// AddOffsetsToTxn (key 25), versions 0–4.
//
// Behavior: adds the group's __consumer_offsets partition
// (abs(javaHashCode(group)) % partitions, as the group coordinator places
// the group) to the producer's transaction, so that the transaction's end
// writes a marker there too and the group's transactional offset commits
// become visible or are dropped with it.
// Version notes: v1 no change; v2 PRODUCER_FENCED, older versions get
// INVALID_PRODUCER_EPOCH (KIP-588); v3 flexible; v4 TRANSACTION_ABORTABLE
// may be returned (KIP-890).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/txn"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleAddOffsetsToTxn(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !b.authorize(r.Session, acl.OpWrite, acl.ResourceTransactionalID, req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return protocol.Reply{Resp: resp}
	case !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		if code := b.txnCoordinatorCode(req.TransactionalID); code != 0 {
			resp.ErrorCode = code
			return resp
		}
		tp := txn.TopicPartition{Topic: offsetsTopic, Partition: b.groupOffsetsPartition(req.Group)}
		err := b.txns.coord.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []txn.TopicPartition{tp})
		resp.ErrorCode = fencedForVersion(b.txnErrorCode(err), req.Version, 2)
		return resp
	}}
}
