package broker

// FindCoordinator (key 10), versions 0–6.
//
// Behavior: a group is coordinated by the leader of its partition of
// __consumer_offsets (key type 0), a transactional id by the leader of its
// partition of __transaction_state (key type 1); each topic is created on
// the first request, as Kafka creates it. The answer is that leader with
// its endpoint for the listener the request came on, or
// COORDINATOR_NOT_AVAILABLE while the partition has no available leader.
// Any other key type is INVALID_REQUEST, as Kafka rejects an unknown
// coordinator type. With an
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
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.FindCoordinatorResponseCoordinator{Key: key}
		switch {
		case req.CoordinatorType == 0 && !b.authorize(r.Session, acl.OpDescribe, acl.ResourceGroup, key):
			c.ErrorCode = kerr.GroupAuthorizationFailed.Code
		case req.CoordinatorType == 1 && !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTransactionalID, key):
			c.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		case req.CoordinatorType == 0:
			c.ErrorCode = b.ensureOffsetsTopic(ctx)
			if c.ErrorCode == 0 {
				c.ErrorCode = b.coordinatorNode(&c, offsetsTopic, b.groupOffsetsPartition(key), r.Session.Listener)
			}
		case req.CoordinatorType == 1:
			if err := b.ensureTxnStateTopic(ctx); err != nil {
				c.ErrorCode = kerr.CoordinatorNotAvailable.Code
			} else {
				c.ErrorCode = b.coordinatorNode(&c, txnStateTopic, b.txns.coord.Partition(key), r.Session.Listener)
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

// coordinatorNode points c at the leader of partition p of an internal
// topic, with its endpoint on listener, as Kafka does; it answers
// COORDINATOR_NOT_AVAILABLE when the partition has no leader or the leader
// is fenced or has no such endpoint.
func (b *Broker) coordinatorNode(c *kmsg.FindCoordinatorResponseCoordinator, topicName string, p int32, listener string) int16 {
	img := b.meta.Image()
	ti := img.Topics[topicName]
	if ti == nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	st, ok := ti.Partition(p)
	if !ok || st.Leader == NoLeader {
		return kerr.CoordinatorNotAvailable.Code
	}
	ep, _, ok := aliveEndpoint(img, st.Leader, listener)
	if !ok {
		return kerr.CoordinatorNotAvailable.Code
	}
	c.NodeID, c.Host, c.Port = st.Leader, ep.Host, ep.Port
	return 0
}
