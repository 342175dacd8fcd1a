package broker

// DescribeTransactions (key 65), version 0.
//
// Behavior: the coordinator's state of each transactional id (KIP-664):
// state name, timeout, start timestamp of the ongoing transaction (-1 if
// none), producer id and epoch, and the partitions of the transaction. An
// unknown id gets TRANSACTIONAL_ID_NOT_FOUND.
// Version notes: v0 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeTransactions(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	resp.TransactionStates = b.txns.coord.Describe(req.TransactionalIDs)
	return resp
}
