package broker

// Transactions whose partitions are led by other brokers than the
// transaction coordinator: the coordinator sends the markers of a
// completed transaction to each partition's leader with WriteTxnMarkers
// (as Kafka's TransactionMarkerChannelManager does), and a partition leader
// asks the coordinator with AddPartitionsToTxn (v4+, VerifyOnly) whether a
// transactional batch's partition is part of the producer's transaction
// (KIP-890 part 1). Both go over the inter-broker listener.

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/txn"
	"github.com/skein-streaming/skein/internal/config"
)

// peerResponseMax bounds the size of a response to a transaction request
// between brokers (they carry no records).
const peerResponseMax = 16 << 20

// peerRetryBackoff is how long a marker write waits before trying again
// after the partition's leader could not be reached or moved.
const peerRetryBackoff = 100 * time.Millisecond

// peerClients holds one connection to each other broker's inter-broker
// listener for transaction requests, used one request at a time.
type peerClients struct {
	mu    sync.Mutex
	conns map[int32]*peerConn
}

type peerConn struct {
	mu sync.Mutex
	c  *brokerConn
	// lastErr is the last TLS or SASL failure logged, so that one that
	// persists is logged once.
	lastErr string
}

// peerRequest sends req to broker node over its inter-broker listener at
// the highest version both serve within [least, limit], dialing on first
// use; a connection that fails is dropped and dialed again next time.
func (b *Broker) peerRequest(node int32, req kmsg.Request, least, limit int16) (kmsg.Response, error) {
	s := &b.txns.peers
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[int32]*peerConn{}
	}
	pc := s.conns[node]
	if pc == nil {
		pc = &peerConn{}
		s.conns[node] = pc
	}
	s.mu.Unlock()

	pc.mu.Lock()
	defer pc.mu.Unlock()
	timeout := time.Duration(b.settings.brokerInt(config.ReplicaSocketTimeoutMs, 30000)) * time.Millisecond
	if pc.c == nil {
		listener := b.interBrokerListener()
		reg, ok := b.meta.Image().Broker(node)
		if !ok || reg.Fenced {
			return nil, fmt.Errorf("%w: broker %d is not registered or fenced", kerr.NotLeaderForPartition, node)
		}
		ep, ok := reg.Endpoint(listener)
		if !ok {
			return nil, fmt.Errorf("broker %d has no endpoint on the inter-broker listener %s", node, listener)
		}
		c, err := b.dialInterBroker(b.bgCtx, ep, fmt.Sprintf("broker-%d-txn", b.cfg.NodeID), timeout, peerResponseMax)
		if err != nil {
			if errors.Is(err, errPeerSecurity) && err.Error() != pc.lastErr {
				pc.lastErr = err.Error()
				b.log.Error("cannot connect to another broker's inter-broker listener", "broker", node, "listener", listener, "addr", brokerAddr(ep), "err", err)
			}
			return nil, fmt.Errorf("connecting to broker %d at %s: %w", node, brokerAddr(ep), err)
		}
		pc.c, pc.lastErr = c, ""
	}
	v, err := pc.c.version(req.Key(), least, limit)
	if err != nil {
		return nil, err
	}
	req.SetVersion(v)
	resp, err := pc.c.request(req, timeout)
	if err != nil {
		pc.c.close()
		pc.c = nil
		return nil, fmt.Errorf("%s to broker %d: %w", kmsg.NameForKey(req.Key()), node, err)
	}
	return resp, nil
}

// partitionLeader is the current leader of a partition in the metadata
// image: ok false when the partition does not exist.
func (b *Broker) partitionLeader(topic string, p int32) (leader int32, ok bool) {
	ti, found := b.meta.Image().Topics[topic]
	if !found {
		return NoLeader, false
	}
	st, found := ti.Partition(p)
	if !found {
		return NoLeader, false
	}
	return st.Leader, true
}

// sendMarker is the coordinator's marker writer: it writes the marker
// locally when this broker leads the partition, else sends WriteTxnMarkers
// to the partition's leader, re-resolving the leader and retrying while
// the leader is unknown, unreachable or moved, for up to
// coordinatorWriteTimeout (the coordinator then retries on its next tick).
func (b *Broker) sendMarker(tp txn.TopicPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	deadline := b.now().Add(coordinatorWriteTimeout)
	for {
		err := b.sendMarkerOnce(tp, producerID, epoch, commit, coordinatorEpoch)
		if err == nil || !retriableMarkerError(err) || !b.now().Before(deadline) {
			return err
		}
		b.log.Debug("transaction marker not written yet; retrying", "topic", tp.Topic, "partition", tp.Partition, "producer_id", producerID, "err", err)
		select {
		case <-b.bgCtx.Done():
			return err
		case <-time.After(peerRetryBackoff):
		}
	}
}

// retriableMarkerError reports whether a marker write may succeed when
// tried again: the leader moved or is not reachable yet, or the ISR is
// too small for now.
func retriableMarkerError(err error) bool {
	if errors.Is(err, txn.ErrUnknownPartition) {
		return false
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable || ke == kerr.NotLeaderForPartition || ke == kerr.FencedLeaderEpoch
	}
	return true // a connection failure
}

func (b *Broker) sendMarkerOnce(tp txn.TopicPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	leader, ok := b.partitionLeader(tp.Topic, tp.Partition)
	if !ok {
		if b.lookupTopic(tp.Topic) == nil {
			return fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, txn.ErrUnknownPartition)
		}
		// Known locally but not in the image (a single broker without a
		// cluster image): write it here.
		leader = b.cfg.NodeID
	}
	switch leader {
	case b.cfg.NodeID:
		return b.writeMarker(tp, producerID, epoch, commit, coordinatorEpoch)
	case NoLeader:
		return fmt.Errorf("%s-%d has no leader: %w", tp.Topic, tp.Partition, kerr.LeaderNotAvailable)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = producerID, epoch, commit, coordinatorEpoch
	m.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: tp.Topic, Partitions: []int32{tp.Partition}}}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{m}
	resp, err := b.peerRequest(leader, req, 0, 1)
	if err != nil {
		return err
	}
	r := resp.(*kmsg.WriteTxnMarkersResponse)
	if len(r.Markers) != 1 || len(r.Markers[0].Topics) != 1 || len(r.Markers[0].Topics[0].Partitions) != 1 {
		return fmt.Errorf("WriteTxnMarkers response from broker %d does not answer %s-%d", leader, tp.Topic, tp.Partition)
	}
	code := r.Markers[0].Topics[0].Partitions[0].ErrorCode
	switch {
	case code == 0:
		return nil
	case code == kerr.ClusterAuthorizationFailed.Code:
		b.logPeerDenied(leader, "WriteTxnMarkers")
	case code == kerr.UnknownTopicOrPartition.Code:
		if _, ok := b.partitionLeader(tp.Topic, tp.Partition); !ok {
			return fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, txn.ErrUnknownPartition)
		}
		// The leader has not opened the partition yet.
		return fmt.Errorf("%s-%d on broker %d: %w", tp.Topic, tp.Partition, leader, kerr.UnknownTopicOrPartition)
	}
	return fmt.Errorf("%s-%d on broker %d: %w", tp.Topic, tp.Partition, leader, kerr.ErrorForCode(code))
}

// remoteTxnVerify asks the coordinator of txnID, another broker, whether
// the partition is part of the producer's ongoing transaction, with
// AddPartitionsToTxn v4+ and VerifyOnly. The answer is the coordinator's
// per-partition error (INVALID_TXN_STATE when not added).
func (b *Broker) remoteTxnVerify(txnID string, producerID int64, epoch int16, topic string, partition int32) error {
	coordinator, ok := b.partitionLeader(txnStateTopic, b.txns.coord.Partition(txnID))
	if !ok || coordinator == NoLeader {
		return fmt.Errorf("%w: no leader for the transactional id's %s partition", kerr.CoordinatorNotAvailable, txnStateTopic)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
	rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = txnID, producerID, epoch, true
	rt.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: topic, Partitions: []int32{partition}}}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{rt}
	resp, err := b.peerRequest(coordinator, req, 4, 4)
	if err != nil {
		return fmt.Errorf("%w: verifying with the transaction coordinator: %v", kerr.CoordinatorNotAvailable, err)
	}
	r := resp.(*kmsg.AddPartitionsToTxnResponse)
	if r.ErrorCode == kerr.ClusterAuthorizationFailed.Code {
		// As Kafka's partition leader, the producer is not told of the
		// brokers' authorization: the verification did not complete.
		b.logPeerDenied(coordinator, "AddPartitionsToTxn")
		return fmt.Errorf("transaction coordinator %d: %w: verification refused (%v)", coordinator, kerr.InvalidTxnState, kerr.ClusterAuthorizationFailed)
	}
	if r.ErrorCode != 0 {
		return fmt.Errorf("transaction coordinator %d: %w", coordinator, kerr.ErrorForCode(r.ErrorCode))
	}
	for _, t := range r.Transactions {
		if t.TransactionalID != txnID {
			continue
		}
		for _, rt := range t.Topics {
			for _, p := range rt.Partitions {
				if rt.Topic == topic && p.Partition == partition {
					if p.ErrorCode == 0 {
						return nil
					}
					return fmt.Errorf("transaction coordinator %d: %w", coordinator, kerr.ErrorForCode(p.ErrorCode))
				}
			}
		}
	}
	return fmt.Errorf("%w: coordinator %d did not answer for %s-%d", kerr.CoordinatorNotAvailable, coordinator, topic, partition)
}
