package broker

// AddPartitionsToTxn (key 24), versions 0–5.
//
// Behavior: v0–v3 (clients) add partitions to the producer's transaction,
// starting it if none is ongoing; the change is in __transaction_state and
// fsynced before the answer. Partitions that do not exist get
// UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED, as in
// Kafka; otherwise every partition gets the coordinator's answer (one code
// for all). v4+ (brokers, KIP-890) batch several transactions, each
// answered on its own; with VerifyOnly a partition that is not part of the
// ongoing transaction gets INVALID_TXN_STATE, as Kafka 3.6 answers (later
// Kafka versions answer TRANSACTION_ABORTABLE). Partition leaders of this
// broker verify in-process when this broker coordinates the transactional
// id, else they send this API (see txnVerify, remoteTxnVerify).
// Version notes: v1 no change; v2 PRODUCER_FENCED, older versions get
// INVALID_PRODUCER_EPOCH (KIP-588); v3 flexible; v4 batched transactions
// and VerifyOnly for brokers (KIP-890); v5 TRANSACTION_ABORTABLE may be
// returned (KIP-890).
//
// With an authorizer, v0–v3 need WRITE on the transactional id (every
// partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED otherwise) and WRITE on
// each topic, never granted for internal topics: the partitions of a topic
// without it are TOPIC_AUTHORIZATION_FAILED, the others
// OPERATION_NOT_ATTEMPTED, and nothing is added. v4+ come from brokers and
// need CLUSTER_ACTION on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/txn"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleAddPartitionsToTxn(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if req.Version >= 4 {
		if !b.authorizeCluster(r.Session, acl.OpClusterAction) {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return protocol.Reply{Resp: resp}
		}
		return protocol.Reply{Wait: func(context.Context) kmsg.Response {
			for _, rt := range req.Transactions {
				resp.Transactions = append(resp.Transactions, b.addPartitionsBatched(req.Version, rt))
			}
			return resp
		}}
	}
	fill := func(code func(tp txn.TopicPartition) int16) {
		for _, rt := range req.Topics {
			st := kmsg.AddPartitionsToTxnResponseTopic{Topic: rt.Topic}
			for _, p := range rt.Partitions {
				st.Partitions = append(st.Partitions, kmsg.AddPartitionsToTxnResponseTopicPartition{Partition: p, ErrorCode: code(txn.TopicPartition{Topic: rt.Topic, Partition: p})})
			}
			resp.Topics = append(resp.Topics, st)
		}
	}
	if !b.authorize(r.Session, acl.OpWrite, acl.ResourceTransactionalID, req.TransactionalID) {
		fill(func(txn.TopicPartition) int16 { return kerr.TransactionalIDAuthorizationFailed.Code })
		return protocol.Reply{Resp: resp}
	}
	var denied map[string]bool
	if b.authorizationOn() {
		for _, rt := range req.Topics {
			if internalTopics[rt.Topic] || !b.authorize(r.Session, acl.OpWrite, acl.ResourceTopic, rt.Topic) {
				if denied == nil {
					denied = map[string]bool{}
				}
				denied[rt.Topic] = true
			}
		}
	}
	parts, unknown := b.txnPartitions(req.Topics)
	if len(unknown) > 0 || len(denied) > 0 {
		fill(func(tp txn.TopicPartition) int16 {
			switch {
			case denied[tp.Topic]:
				return kerr.TopicAuthorizationFailed.Code
			case unknown[tp]:
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		})
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		code := b.txnCoordinatorCode(req.TransactionalID)
		if code == 0 {
			err := b.txns.coord.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts)
			code = fencedForVersion(b.txnErrorCode(err), req.Version, 2)
		}
		fill(func(txn.TopicPartition) int16 { return code })
		return resp
	}}
}

// addPartitionsBatched serves one transaction of a v4+ request.
func (b *Broker) addPartitionsBatched(version int16, rt kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	topics := make([]kmsg.AddPartitionsToTxnRequestTopic, len(rt.Topics))
	for i, t := range rt.Topics {
		topics[i] = kmsg.AddPartitionsToTxnRequestTopic{Topic: t.Topic, Partitions: t.Partitions}
	}
	parts, unknown := b.txnPartitions(topics)
	coordErr := b.txnCoordinatorCode(rt.TransactionalID)
	var addErr int16
	if coordErr == 0 && !rt.VerifyOnly && len(unknown) == 0 {
		addErr = b.txnErrorCode(b.txns.coord.AddPartitions(rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, parts))
	}
	out := kmsg.AddPartitionsToTxnResponseTransaction{TransactionalID: rt.TransactionalID}
	for _, t := range rt.Topics {
		st := kmsg.AddPartitionsToTxnResponseTransactionTopic{Topic: t.Topic}
		for _, p := range t.Partitions {
			tp := txn.TopicPartition{Topic: t.Topic, Partition: p}
			code := addErr
			switch {
			case coordErr != 0:
				code = coordErr
			case unknown[tp]:
				code = kerr.UnknownTopicOrPartition.Code
			case len(unknown) > 0 && !rt.VerifyOnly:
				code = kerr.OperationNotAttempted.Code
			case rt.VerifyOnly:
				code = b.txnErrorCode(b.txns.coord.Verify(rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, tp))
			}
			st.Partitions = append(st.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p, ErrorCode: code})
		}
		out.Topics = append(out.Topics, st)
	}
	return out
}

// txnPartitions lists the requested partitions, and those of them that do
// not exist.
func (b *Broker) txnPartitions(topics []kmsg.AddPartitionsToTxnRequestTopic) ([]txn.TopicPartition, map[txn.TopicPartition]bool) {
	var parts []txn.TopicPartition
	var unknown map[txn.TopicPartition]bool
	for _, rt := range topics {
		t := b.lookupTopic(rt.Topic)
		for _, p := range rt.Partitions {
			tp := txn.TopicPartition{Topic: rt.Topic, Partition: p}
			parts = append(parts, tp)
			if t == nil || p < 0 || p >= t.numPartitions() {
				if unknown == nil {
					unknown = map[txn.TopicPartition]bool{}
				}
				unknown[tp] = true
			}
		}
	}
	return parts, unknown
}
