package broker

// ListTransactions (key 66), versions 0–2.
//
// Behavior: lists the transactional ids of the coordinator (KIP-664),
// filtered by state names (names that are no state are returned in
// UnknownStateFilters) and producer ids; v1 by duration (KIP-994: only
// transactions running longer than DurationFilterMillis; as in Kafka an id
// without a transaction counts as running since the epoch); v2 by a
// regular expression the whole id must match (KIP-1152). Patterns are Go
// RE2 syntax, which agrees with Java's for common patterns; one that does
// not compile is INVALID_REGULAR_EXPRESSION.
// With an authorizer, only the ids the principal may DESCRIBE are listed.
// Version notes: v0 flexible; v1 duration filter; v2 id pattern.

import (
	"context"
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/txn"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleListTransactions(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	f := txn.ListFilter{States: req.StateFilters, ProducerIDs: req.ProducerIDFilters, MinDuration: -1}
	if req.Version >= 1 && req.DurationFilterMillis >= 0 {
		f.MinDuration = time.Duration(req.DurationFilterMillis) * time.Millisecond
	}
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile(`^(?:` + *req.TransactionalIDPattern + `)$`)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp
		}
		f.Pattern = re
	}
	states, unknown, err := b.txns.coord.List(f)
	resp.UnknownStateFilters = unknown
	if err != nil {
		resp.ErrorCode = b.txnErrorCode(err)
		return resp
	}
	for _, s := range states {
		if b.authorizeQuietly(r.Session, acl.OpDescribe, acl.ResourceTransactionalID, s.TransactionalID) {
			resp.TransactionStates = append(resp.TransactionStates, s)
		}
	}
	return resp
}
