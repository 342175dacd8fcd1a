package broker

// TxnOffsetCommit (key 28), versions 0–4.
//
// Behavior: commits a consumer group's offsets as part of the producer's
// transaction (consume-transform-produce, KIP-98). The group's
// __consumer_offsets partition must be part of the producer's ongoing
// transaction (AddOffsetsToTxn), which is checked with the transaction
// coordinator as Kafka 3.6+ checks it (KIP-890 part 1): a partition not in
// the transaction is INVALID_TXN_STATE, a fenced producer
// INVALID_PRODUCER_EPOCH, and a coordinator busy completing the
// transaction COORDINATOR_NOT_AVAILABLE, which clients retry. The offsets
// are written to that partition as a transactional batch of the producer
// and acknowledged once fsynced; they stay pending, invisible to
// OffsetFetch (require_stable gets UNSTABLE_OFFSET_COMMIT), until the
// transaction's marker commits them (they replace the committed offsets,
// unless a commit written after them did) or aborts them (they are
// dropped). Group, member and generation checks are Kafka's for
// transactional commits: a commit without member id and generation is
// accepted whatever the group's state (versions 0–2 carry neither), a
// commit naming them is checked like OffsetCommit's (UNKNOWN_MEMBER_ID,
// FENCED_INSTANCE_ID, ILLEGAL_GENERATION) but not refused during
// CompletingRebalance, and a group that does not exist is created as a
// simple group unless a generation is given (ILLEGAL_GENERATION).
// Not served: v5 (KIP-890 part 2) tells the broker that the client relies
// on the offsets partition being added to the transaction implicitly;
// transaction version 2 is not served (see EndTxn).
// Version notes: v1 no change; v2 committed leader epoch (KIP-320); v3
// member id, generation and group instance id to fence zombies (KIP-447),
// flexible; v4 TRANSACTION_ABORTABLE may be returned (KIP-890).
//
// With an authorizer, WRITE on the transactional id is needed
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition otherwise),
// then READ on the group (GROUP_AUTHORIZATION_FAILED), then READ on each
// topic: the partitions of a topic without it are TOPIC_AUTHORIZATION_FAILED
// and only the others are committed.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleTxnOffsetCommit(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.TxnOffsetCommitRequest)
	answer := func(topics []kmsg.TxnOffsetCommitRequestTopic, code int16) []kmsg.TxnOffsetCommitResponseTopic {
		var out []kmsg.TxnOffsetCommitResponseTopic
		for _, rt := range topics {
			st := kmsg.TxnOffsetCommitResponseTopic{Topic: rt.Topic}
			for _, rp := range rt.Partitions {
				st.Partitions = append(st.Partitions, kmsg.TxnOffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: code})
			}
			out = append(out, st)
		}
		return out
	}
	var code int16
	switch {
	case !b.authorize(r.Session, acl.OpWrite, acl.ResourceTransactionalID, req.TransactionalID):
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !b.authorize(r.Session, acl.OpRead, acl.ResourceGroup, req.Group):
		code = kerr.GroupAuthorizationFailed.Code
	}
	var denied []kmsg.TxnOffsetCommitResponseTopic
	if code == 0 && b.authorizationOn() {
		var allowed, refused []kmsg.TxnOffsetCommitRequestTopic
		for _, rt := range req.Topics {
			if b.authorize(r.Session, acl.OpRead, acl.ResourceTopic, rt.Topic) {
				allowed = append(allowed, rt)
			} else {
				refused = append(refused, rt)
			}
		}
		if len(refused) > 0 {
			denied = answer(refused, kerr.TopicAuthorizationFailed.Code)
			if len(allowed) == 0 {
				resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
				resp.Topics = denied
				return protocol.Reply{Resp: resp}
			}
			cp := *req
			cp.Topics = allowed
			req = &cp
		}
	}
	if code == 0 {
		code = b.groupCoordinatorCode(ctx, req.Group)
	}
	if code == 0 && req.Group != "" {
		code = b.txnOffsetVerify(req)
	}
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Topics = append(answer(req.Topics, code), denied...)
		return protocol.Reply{Resp: resp}
	}
	resp, wait := b.groups.TxnOffsetCommit(req)
	resp.Topics = append(resp.Topics, denied...)
	if wait == nil {
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		// The batch is written: its fsync does not depend on the
		// client still listening.
		wait()
		return resp
	}}
}

// txnOffsetVerify checks that the group's __consumer_offsets partition
// is part of the producer's ongoing transaction, and returns the Kafka
// error code to answer: the Produce path's answer (txnVerify), with
// NOT_ENOUGH_REPLICAS turned into COORDINATOR_NOT_AVAILABLE as Kafka's
// group coordinator turns it.
func (b *Broker) txnOffsetVerify(req *kmsg.TxnOffsetCommitRequest) int16 {
	err := b.txnVerify(req.TransactionalID, req.ProducerID, req.ProducerEpoch, offsetsTopic, b.groupOffsetsPartition(req.Group))
	if err == nil {
		return 0
	}
	if errors.Is(err, kerr.NotEnoughReplicas) {
		return kerr.CoordinatorNotAvailable.Code
	}
	return b.txnErrorCode(err)
}
