package broker

// DescribeTransactions (key 65), version 0.
//
// Behavior: the coordinator's state of each transactional id (KIP-664):
// state name, timeout, start timestamp of the ongoing transaction (-1 if
// none), producer id and epoch, and the partitions of the transaction. An
// unknown id gets TRANSACTIONAL_ID_NOT_FOUND. With an authorizer, each id
// needs DESCRIBE (TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise) and only
// the partitions of topics the principal may DESCRIBE are listed.
// Version notes: v0 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeTransactions(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	var allowed []string
	codes := map[string]int16{}
	for _, id := range req.TransactionalIDs {
		switch {
		case !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTransactionalID, id):
			codes[id] = kerr.TransactionalIDAuthorizationFailed.Code
		case b.txnCoordinatorCode(id) != 0:
			codes[id] = kerr.NotCoordinator.Code
		default:
			allowed = append(allowed, id)
		}
	}
	described := b.txns.coord.Describe(allowed)
	for _, id := range req.TransactionalIDs {
		if len(allowed) > 0 && allowed[0] == id {
			st := described[0]
			allowed, described = allowed[1:], described[1:]
			topics := st.Topics[:0]
			for _, t := range st.Topics {
				if b.authorizeQuietly(r.Session, acl.OpDescribe, acl.ResourceTopic, t.Topic) {
					topics = append(topics, t)
				}
			}
			st.Topics = topics
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ErrorCode = id, codes[id]
		st.StartTimestamp, st.ProducerID, st.ProducerEpoch = -1, -1, -1
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}
