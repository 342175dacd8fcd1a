package broker

// FindCoordinator (key 10), versions 0–6.
//
// Behavior: this node coordinates every group, since it leads every
// partition of __consumer_offsets; the topic is created on the first
// request, as Kafka creates it. Key type 0 (group) is answered with this
// node, and so is key type 1 (transaction), once __transaction_state
// exists (created on the first request); any other key type is
// INVALID_REQUEST, as Kafka rejects an unknown coordinator type. With an
// authorizer, a group key needs DESCRIBE on the group
// (GROUP_AUTHORIZATION_FAILED otherwise) and a transaction key DESCRIBE on
// the transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
// Version notes: v1 key type and error message; v3 flexible; v4 batched
// keys (KIP-699); v5 and v6 allow the new error codes of KIP-890 and
// share groups.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleFindCoordinator(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := b.advertisedFor(r.Session.Listener)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.FindCoordinatorResponseCoordinator{Key: key, NodeID: b.cfg.NodeID, Host: host, Port: port}
		switch {
		case req.CoordinatorType == 0 && !b.authorize(r.Session, acl.OpDescribe, acl.ResourceGroup, key):
			c.ErrorCode = kerr.GroupAuthorizationFailed.Code
		case req.CoordinatorType == 1 && !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTransactionalID, key):
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		case req.CoordinatorType == 0:
			c.ErrorCode = b.ensureOffsetsTopic(ctx)
		case req.CoordinatorType == 1:
			if err := b.ensureTxnStateTopic(ctx); err != nil {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			}
		default:
			c.ErrorCode = kerr.InvalidRequest.Code
		}
		if c.ErrorCode != 0 {
			c.NodeID, c.Host, c.Port = -1, "", -1
			if e := kerr.ErrorForCode(c.ErrorCode); e != nil {
				c.ErrorMessage = kmsg.StringPtr(e.(*kerr.Error).Description)
			}
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.ErrorMessage, c.NodeID, c.Host, c.Port
		resp.Coordinators = nil
	}
	return resp
}
