package broker

// The broker's part in the cluster: its registration in the metadata, the
// roles of its replicas, and the answers that point clients at the leader
// of a partition or the coordinator of a group or transactional id. A
// single node is the one-broker case of the same code: it registers, leads
// every partition, and is its own controller. docs/cluster.md describes
// the model.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fenceTimeout bounds how long Close waits for its fence record: Close
// must finish even when no metadata quorum is reachable.
const fenceTimeout = 2 * time.Second

// reconcileRetry is how long the broker waits before reconciling again
// after a failure (a log that would not open); it doubles with each
// failure in a row, up to reconcileRetryMax.
const (
	reconcileRetry    = time.Second
	reconcileRetryMax = time.Minute
)

// newIncarnation returns a random id, base64url-encoded like Kafka's
// UUIDs.
func newIncarnation() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// registration is this broker's registration for this run: its node id,
// incarnation, the advertised endpoint of each listener and its rack,
// unfenced.
func (b *Broker) registration() BrokerRegistration {
	reg := BrokerRegistration{ID: b.cfg.NodeID, Incarnation: b.incarnation, Rack: b.settings.brokerString("broker.rack", "")}
	for _, l := range b.cfg.Listeners {
		host, port := b.advertisedFor(l.Name)
		reg.Endpoints = append(reg.Endpoints, BrokerEndpoint{Name: l.Name, Host: host, Port: port, SecurityProtocol: l.SecurityProtocol})
	}
	return reg
}

// register records this broker in the metadata, replacing the
// registration of an earlier run of the same node id. It runs once the
// listeners are bound (their ports are advertised) and before requests
// are served.
func (b *Broker) register() error {
	reg := b.registration()
	ctx, cancel := context.WithTimeout(b.bgCtx, time.Minute)
	defer cancel()
	if err := b.meta.Apply(ctx, MetadataRecord{Type: RegisterBrokerRecord, Broker: &reg}); err != nil {
		return err
	}
	b.registered.Store(true)
	b.log.Info("broker registered", "incarnation", reg.Incarnation, "rack", reg.Rack, "endpoints", len(reg.Endpoints))
	return nil
}

// fenceOnClose is the broker's controlled shutdown: in one metadata batch
// it marks itself fenced and in controlled shutdown (no new partition is
// placed on it, clients stop being sent to it), leaves the ISR of its
// partitions and hands the leadership of those it leads to another active
// in-sync replica, as Kafka's controller does when a broker asks to shut
// down. The partition records are compare-and-sets: a batch that meets a
// newer partition state is computed again. A partition with no other
// active in-sync replica keeps this broker as its leader (it is
// unavailable until the broker returns). It waits at most fenceTimeout: a
// broker that cannot reach the metadata quorum still closes. A record
// naming this run's incarnation cannot fence a newer run of the same node
// id.
func (b *Broker) fenceOnClose() {
	if !b.registered.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), fenceTimeout)
	defer cancel()
	id := b.cfg.NodeID
	fence := MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: id, Incarnation: b.incarnation, Fenced: true, ControlledShutdown: true}}
	var err error
	for attempt := 0; attempt < changeAttempts && ctx.Err() == nil; attempt++ {
		img := b.meta.Image()
		next, nerr := withBrokerState(img, id, true, true)
		if nerr != nil {
			err = nerr
			break
		}
		recs := append([]MetadataRecord{fence}, brokerChangesInvolving(next, b.settings, id)...)
		if err = b.meta.Apply(ctx, recs...); err == nil {
			if len(recs) > 1 {
				b.log.Info("controlled shutdown: partitions handed over", "partitions", len(recs)-1)
			}
			return
		}
		if !errors.Is(err, ErrPartitionEpochMismatch) {
			break
		}
	}
	if ctx.Err() == nil {
		if err = b.meta.Apply(ctx, fence); err == nil {
			return
		}
	}
	b.log.Warn("broker not fenced in the metadata on shutdown", "err", err)
}

// assignStatelessPartitions gives every partition without a recorded
// state (topics created by a single node before partition states were
// recorded) the state of a single replica on this broker: replicas and
// ISR [this node], this node leading, epochs 0. It is the one place that
// fills them; afterwards every partition has a state.
func (b *Broker) assignStatelessPartitions() error {
	img := b.meta.Image()
	var recs []MetadataRecord
	for _, name := range img.sortedTopicNames() {
		t := img.Topics[name]
		for i := int32(0); i < t.Partitions; i++ {
			if _, ok := t.Partition(i); !ok {
				me := []int32{b.cfg.NodeID}
				recs = append(recs, MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: t.ID, Partition: i, State: PartitionState{Replicas: me, ISR: me, Leader: b.cfg.NodeID}}})
			}
		}
	}
	if len(recs) == 0 {
		return nil
	}
	b.log.Info("recording partition states of a single-node metadata log", "partitions", len(recs))
	return b.meta.Apply(context.Background(), recs...)
}

// startMetadataListener reconciles after every metadata change, so that
// changes made through other brokers (topics created, leaders moved)
// reach this one. A failed reconcile is retried with a growing delay.
func (b *Broker) startMetadataListener() {
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		var retry <-chan time.Time
		backoff := reconcileRetry
		for {
			select {
			case <-b.bgCtx.Done():
				return
			case <-b.meta.Updates():
			case <-retry:
			}
			b.adminMu.Lock()
			err := b.reconcile()
			b.adminMu.Unlock()
			if err == nil {
				retry, backoff = nil, reconcileRetry
				continue
			}
			b.log.Error("applying metadata changes failed; retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, reconcileRetryMax)
		}
	}()
}

// reconcilePartitions opens, re-roles and removes t's partitions to match
// ti. A partition that fails to open is left out (its requests answer
// NOT_LEADER_OR_FOLLOWER) and the first error is returned.
func (b *Broker) reconcilePartitions(t *topic, ti *TopicImage, ts *topicSettings) error {
	cur := t.slots()
	next := make([]*partition, max(int(ti.Partitions), len(cur)))
	copy(next, cur)
	changed := len(next) != len(cur)
	var removed []*partition
	var first error
	for i := range next {
		st, ok := ti.Partition(int32(i))
		hosted := ok && slices.Contains(st.Replicas, b.cfg.NodeID)
		p := next[i]
		switch {
		case hosted && p == nil:
			np, err := b.openPartition(t, int32(i), ts)
			if err != nil {
				b.log.Error("cannot open partition", "topic", t.name, "partition", i, "err", err)
				if first == nil {
					first = err
				}
				continue
			}
			np.log.SetFsyncObserver(b.metrics.observeFsync)
			if err := b.applyRole(np, st); err != nil && first == nil {
				first = err
			}
			next[i], changed = np, true
		case !hosted && p != nil:
			next[i], changed = nil, true
			removed = append(removed, p)
			if p.isLeader() {
				b.noteLeadership(t.name, p.index, false)
			}
		case hosted:
			if err := b.applyRole(p, st); err != nil && first == nil {
				first = err
			}
		}
	}
	if changed {
		t.parts.Store(&next)
	}
	// Out of the slice first, so that no request finds them, then
	// closed and deleted.
	for _, p := range removed {
		b.log.Info("partition moved off this broker; deleting its log", "topic", t.name, "partition", p.index)
		b.deletePartitionLog(p)
	}
	return first
}

// applyRole makes p the leader or a follower as st says.
func (b *Broker) applyRole(p *partition, st PartitionState) error {
	if st.Leader == b.cfg.NodeID {
		wasLeader := p.isLeader()
		if err := p.becomeLeader(st); err != nil {
			b.log.Error("becoming leader failed", "topic", p.topic.name, "partition", p.index, "err", err)
			return err
		}
		if !wasLeader {
			b.log.Debug("leading partition", "topic", p.topic.name, "partition", p.index, "leader_epoch", st.LeaderEpoch)
			b.noteLeadership(p.topic.name, p.index, true)
		}
		return nil
	}
	wasLeader := p.isLeader()
	if wasLeader {
		b.log.Info("partition led by another broker now", "topic", p.topic.name, "partition", p.index, "leader", st.Leader, "leader_epoch", st.LeaderEpoch)
	}
	p.becomeFollower(st)
	if wasLeader {
		b.noteLeadership(p.topic.name, p.index, false)
	}
	return nil
}

// partitionState returns the metadata's state of partition i of the topic
// with id id.
func (b *Broker) partitionState(id TopicID, i int32) (PartitionState, bool) {
	ti, ok := b.meta.Image().ByID[id]
	if !ok {
		return PartitionState{}, false
	}
	return ti.Partition(i)
}

// leaderPartition returns partition i of t when this broker leads it, else
// the error to answer, checked in Kafka's order: UNKNOWN_TOPIC_OR_PARTITION
// when the topic has no such partition; NOT_LEADER_OR_FOLLOWER when this
// broker holds no replica of it; FENCED_LEADER_EPOCH or
// UNKNOWN_LEADER_EPOCH when currentEpoch (-1: none) is older or newer than
// the partition's leader epoch; NOT_LEADER_OR_FOLLOWER when this replica
// is a follower.
func leaderPartition(t *topic, i int32, currentEpoch int32) (*partition, int16) {
	if t == nil || i < 0 || i >= t.numPartitions() {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	p := t.partition(i)
	if p == nil {
		return nil, kerr.NotLeaderForPartition.Code
	}
	if code := p.checkLeaderEpoch(currentEpoch); code != 0 {
		return nil, code
	}
	if !p.isLeader() {
		return nil, kerr.NotLeaderForPartition.Code
	}
	return p, 0
}

// leaderMovedCode reports whether code tells a client to refresh where a
// partition's leader is (KIP-951 then sends the current leader along).
func leaderMovedCode(code int16) bool {
	return code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code
}

// currentLeader returns the leader and leader epoch of partition i of the
// topic id (-1, -1 when unknown), and the leader's endpoint on listener
// when it is registered, unfenced and has one (KIP-951).
func (b *Broker) currentLeader(img *MetadataImage, id TopicID, i int32, listener string) (leader, epoch int32, ep BrokerEndpoint, rack string, ok bool) {
	ti, found := img.ByID[id]
	if !found {
		return -1, -1, BrokerEndpoint{}, "", false
	}
	st, found := ti.Partition(i)
	if !found {
		return -1, -1, BrokerEndpoint{}, "", false
	}
	if st.Leader == NoLeader {
		return NoLeader, st.LeaderEpoch, BrokerEndpoint{}, "", false
	}
	reg, found := img.Broker(st.Leader)
	if !found || reg.Fenced {
		return st.Leader, st.LeaderEpoch, BrokerEndpoint{}, "", false
	}
	ep, ok = reg.Endpoint(listener)
	return st.Leader, st.LeaderEpoch, ep, reg.Rack, ok
}

// aliveEndpoint returns the endpoint on listener of a registered, unfenced
// broker (Kafka's getAliveBrokerNode).
func aliveEndpoint(img *MetadataImage, id int32, listener string) (BrokerEndpoint, string, bool) {
	reg, ok := img.Broker(id)
	if !ok || reg.Fenced {
		return BrokerEndpoint{}, "", false
	}
	ep, ok := reg.Endpoint(listener)
	return ep, reg.Rack, ok
}

// rackPtr is a rack for a response: nil when the broker has none.
func rackPtr(rack string) *string {
	if rack == "" {
		return nil
	}
	return &rack
}

// controllerID is the node id reported as the controller (Metadata,
// DescribeCluster): the leader of the metadata quorum. When the leader is
// not an active broker (a controller-only node, which clients cannot
// reach) this broker names itself, as Kafka's brokers name an alive
// broker then: admin clients send it the requests meant for the
// controller, which it serves through the metadata quorum.
func (b *Broker) controllerID() int32 {
	id := b.meta.ControllerID()
	if id < 0 || !b.meta.Image().activeBroker(id) {
		if b.registered.Load() {
			return b.cfg.NodeID
		}
	}
	return id
}

// coordinates reports whether this broker coordinates the keys that map
// to partition p of an internal topic (__consumer_offsets,
// __transaction_state): it leads that partition. While the topic does not
// exist, no coordinator holds any state for those keys, and the local
// coordinator answers (as for an unknown group or transactional id); the
// topic is created on the first write.
func (b *Broker) coordinates(topicName string, p int32) bool {
	t := b.lookupTopic(topicName)
	if t == nil {
		return true
	}
	part := t.partition(p)
	return part != nil && part.isLeader()
}

// groupCoordinatorCode creates __consumer_offsets if needed and returns
// NOT_COORDINATOR when another broker coordinates group (its partition of
// __consumer_offsets is led elsewhere), 0 when this one does.
func (b *Broker) groupCoordinatorCode(ctx context.Context, group string) int16 {
	if code := b.ensureOffsetsTopic(ctx); code != 0 {
		return code
	}
	if !b.coordinates(offsetsTopic, b.groupOffsetsPartition(group)) {
		return kerr.NotCoordinator.Code
	}
	return 0
}

// coordinatesGroup reports whether this broker coordinates group, without
// creating __consumer_offsets.
func (b *Broker) coordinatesGroup(group string) bool {
	return b.coordinates(offsetsTopic, b.groupOffsetsPartition(group))
}

// txnCoordinatorCode returns NOT_COORDINATOR when another broker
// coordinates the transactional id, 0 when this one does.
func (b *Broker) txnCoordinatorCode(txnID string) int16 {
	if !b.coordinates(txnStateTopic, b.txns.coord.Partition(txnID)) {
		return kerr.NotCoordinator.Code
	}
	return 0
}
