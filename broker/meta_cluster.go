package broker

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
)

// BrokerRegistration is one broker of the cluster, as KRaft's
// RegisterBrokerRecord: its node id, the incarnation of its running
// process, the endpoint of each listener and its rack.
type BrokerRegistration struct {
	ID int32 `json:"id"`
	// Incarnation is chosen at random each time the broker process
	// starts, so that records about an older run of the same node id
	// (a late fence of a process since restarted) are told apart.
	Incarnation string           `json:"incarnation,omitempty"`
	Endpoints   []BrokerEndpoint `json:"endpoints,omitempty"`
	Rack        string           `json:"rack,omitempty"`
	// Fenced brokers are not listed to clients and lead no new
	// partition.
	Fenced bool `json:"fenced,omitempty"`
	// ControlledShutdown is set by a broker that is shutting down
	// cleanly; new partitions get no replica on it.
	ControlledShutdown bool `json:"controlled_shutdown,omitempty"`
}

// BrokerEndpoint is the advertised address of one listener of a broker.
type BrokerEndpoint struct {
	Name             string `json:"name"`
	Host             string `json:"host"`
	Port             int32  `json:"port"`
	SecurityProtocol string `json:"security_protocol,omitempty"`
}

// Endpoint returns the broker's endpoint for a listener name.
func (r BrokerRegistration) Endpoint(listener string) (BrokerEndpoint, bool) {
	for _, e := range r.Endpoints {
		if e.Name == listener {
			return e, true
		}
	}
	return BrokerEndpoint{}, false
}

// active reports whether the broker may lead partitions and take new
// replicas: registered, unfenced and not shutting down (Kafka's
// ClusterControlManager.isActive).
func (r BrokerRegistration) active() bool { return !r.Fenced && !r.ControlledShutdown }

// PartitionState is the replica assignment and leadership of one
// partition, as KRaft's PartitionRegistration.
type PartitionState struct {
	// Replicas lists the brokers holding a replica; the first one is the
	// preferred leader.
	Replicas []int32 `json:"replicas"`
	// ISR lists the in-sync replicas, a subset of Replicas.
	ISR []int32 `json:"isr"`
	// Leader is the node id of the leader, a member of the ISR, or -1
	// when the partition has none.
	Leader int32 `json:"leader"`
	// LeaderEpoch rises each time the leader changes; replicas stamp it
	// into the batches the leader writes.
	LeaderEpoch int32 `json:"leader_epoch"`
	// PartitionEpoch rises with every change of the state: a
	// compare-and-set names the epoch it read.
	PartitionEpoch int32 `json:"partition_epoch"`
	// AddingReplicas and RemovingReplicas are the replicas a
	// reassignment adds and removes, both within Replicas.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
}

// NoLeader is the Leader of a partition that has none.
const NoLeader int32 = -1

// validate checks the invariants every applied state keeps.
func (s PartitionState) validate() error {
	if len(s.Replicas) == 0 {
		return errors.New("no replicas")
	}
	if err := distinctIDs("replicas", s.Replicas, nil); err != nil {
		return err
	}
	for _, l := range []struct {
		name string
		ids  []int32
	}{{"isr", s.ISR}, {"adding replicas", s.AddingReplicas}, {"removing replicas", s.RemovingReplicas}} {
		if err := distinctIDs(l.name, l.ids, s.Replicas); err != nil {
			return err
		}
	}
	if s.Leader != NoLeader && !slices.Contains(s.ISR, s.Leader) {
		return fmt.Errorf("leader %d is not in the isr %v", s.Leader, s.ISR)
	}
	if s.LeaderEpoch < 0 || s.PartitionEpoch < 0 {
		return fmt.Errorf("negative epoch (leader epoch %d, partition epoch %d)", s.LeaderEpoch, s.PartitionEpoch)
	}
	return nil
}

// distinctIDs checks that ids are valid node ids, each once, and all in
// within when within is not nil.
func distinctIDs(name string, ids, within []int32) error {
	for i, id := range ids {
		if id < 0 {
			return fmt.Errorf("%s: invalid node id %d", name, id)
		}
		if slices.Contains(ids[:i], id) {
			return fmt.Errorf("%s: node %d listed twice", name, id)
		}
		if within != nil && !slices.Contains(within, id) {
			return fmt.Errorf("%s: node %d is not a replica", name, id)
		}
	}
	return nil
}

func (s PartitionState) clone() PartitionState {
	s.Replicas = slices.Clone(s.Replicas)
	s.ISR = slices.Clone(s.ISR)
	s.AddingReplicas = slices.Clone(s.AddingReplicas)
	s.RemovingReplicas = slices.Clone(s.RemovingReplicas)
	return s
}

// PartitionRecord sets the state of one partition. Any broker may propose
// one: the leader to shrink or expand the ISR, the controller to elect a
// leader or reassign replicas. Applying it keeps the epochs consistent:
//
//   - On a partition with no state yet (a new partition, or a snapshot
//     being replayed), State is taken as given, epochs included.
//   - On a partition with a state, the epochs in State are ignored: the
//     partition epoch rises by one, and the leader epoch rises by one when
//     the leader changes or BumpLeaderEpoch is set.
//   - With ExpectedPartitionEpoch set, the record is a compare-and-set: it
//     is rejected (error wrapping ErrPartitionEpochMismatch, and nothing of
//     its batch applies) unless the partition has a state with that
//     partition epoch. The outcome depends only on the records before it,
//     so every replica of a replicated metadata log decides the same.
type PartitionRecord struct {
	TopicID                TopicID        `json:"topic_id"`
	Partition              int32          `json:"partition"`
	State                  PartitionState `json:"state"`
	ExpectedPartitionEpoch *int32         `json:"expected_partition_epoch,omitempty"`
	BumpLeaderEpoch        bool           `json:"bump_leader_epoch,omitempty"`
}

// Errors a record can fail with, for callers that act on them.
var (
	// ErrPartitionEpochMismatch: a compare-and-set partition record read
	// an older (or newer) state than the current one.
	ErrPartitionEpochMismatch = errors.New("partition epoch mismatch")
	// ErrBrokerIncarnationMismatch: a broker record names an incarnation
	// that is not the registered one (the broker restarted since).
	ErrBrokerIncarnationMismatch = errors.New("broker incarnation mismatch")
	// ErrTopicExists: a topic record names a topic that exists.
	ErrTopicExists = errors.New("topic already exists")
)

// Partition returns the state of partition i, and false if the topic has
// no such partition or no state is recorded for it.
func (t *TopicImage) Partition(i int32) (PartitionState, bool) {
	if i < 0 || i >= t.Partitions {
		return PartitionState{}, false
	}
	st, ok := t.Assignment[i]
	return st, ok
}

// Broker returns the registration of a node id.
func (im *MetadataImage) Broker(id int32) (BrokerRegistration, bool) {
	r, ok := im.Brokers[id]
	return r, ok
}

// BrokerIDs returns the registered node ids in ascending order.
func (im *MetadataImage) BrokerIDs() []int32 {
	ids := make([]int32, 0, len(im.Brokers))
	for id := range im.Brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// activeBroker reports whether id is registered and active.
func (im *MetadataImage) activeBroker(id int32) bool {
	r, ok := im.Brokers[id]
	return ok && r.active()
}

func (im *MetadataImage) applyRegisterBroker(r *BrokerRegistration) error {
	if r == nil || r.ID < 0 {
		return errors.New("broker registration without a valid node id")
	}
	if r.Incarnation == "" {
		return fmt.Errorf("broker %d registration without an incarnation", r.ID)
	}
	for i, e := range r.Endpoints {
		if e.Name == "" || e.Port < 0 || e.Port > 65535 {
			return fmt.Errorf("broker %d: invalid endpoint %q %s:%d", r.ID, e.Name, e.Host, e.Port)
		}
		for _, prev := range r.Endpoints[:i] {
			if prev.Name == e.Name {
				return fmt.Errorf("broker %d: listener %q registered twice", r.ID, e.Name)
			}
		}
	}
	reg := *r
	reg.Endpoints = slices.Clone(r.Endpoints)
	im.Brokers = maps.Clone(im.Brokers)
	if im.Brokers == nil {
		im.Brokers = map[int32]BrokerRegistration{}
	}
	im.Brokers[reg.ID] = reg
	return nil
}

// registeredBroker returns the registration r names, checking the
// incarnation when r gives one.
func (im *MetadataImage) registeredBroker(r *BrokerRegistration, what string) (BrokerRegistration, error) {
	if r == nil {
		return BrokerRegistration{}, fmt.Errorf("%s record without a broker", what)
	}
	cur, ok := im.Brokers[r.ID]
	if !ok {
		return BrokerRegistration{}, fmt.Errorf("%s record for unregistered broker %d", what, r.ID)
	}
	if r.Incarnation != "" && r.Incarnation != cur.Incarnation {
		return BrokerRegistration{}, fmt.Errorf("%w: %s record for incarnation %s of broker %d, registered %s", ErrBrokerIncarnationMismatch, what, r.Incarnation, r.ID, cur.Incarnation)
	}
	return cur, nil
}

func (im *MetadataImage) applyUnregisterBroker(r *BrokerRegistration) error {
	if _, err := im.registeredBroker(r, "unregister broker"); err != nil {
		return err
	}
	im.Brokers = maps.Clone(im.Brokers)
	delete(im.Brokers, r.ID)
	return nil
}

func (im *MetadataImage) applyBrokerState(r *BrokerRegistration) error {
	cur, err := im.registeredBroker(r, "broker state")
	if err != nil {
		return err
	}
	cur.Fenced, cur.ControlledShutdown = r.Fenced, r.ControlledShutdown
	im.Brokers = maps.Clone(im.Brokers)
	im.Brokers[r.ID] = cur
	return nil
}

func (im *MetadataImage) applyPartition(r *PartitionRecord) error {
	if r == nil {
		return errors.New("partition record without a partition")
	}
	t, ok := im.mutableTopic(r.TopicID)
	if !ok {
		return fmt.Errorf("partition record for unknown topic id %s", r.TopicID)
	}
	if r.Partition < 0 || r.Partition >= t.Partitions {
		return fmt.Errorf("partition record for partition %d of topic %q, which has %d", r.Partition, t.Name, t.Partitions)
	}
	if err := r.State.validate(); err != nil {
		return fmt.Errorf("partition %s-%d: %w", t.Name, r.Partition, err)
	}
	cur, exists := t.Partition(r.Partition)
	if r.ExpectedPartitionEpoch != nil && (!exists || cur.PartitionEpoch != *r.ExpectedPartitionEpoch) {
		have := "no state"
		if exists {
			have = fmt.Sprintf("partition epoch %d", cur.PartitionEpoch)
		}
		return fmt.Errorf("%w: partition %s-%d expected partition epoch %d, has %s", ErrPartitionEpochMismatch, t.Name, r.Partition, *r.ExpectedPartitionEpoch, have)
	}
	next := r.State.clone()
	if exists {
		next.PartitionEpoch = cur.PartitionEpoch + 1
		next.LeaderEpoch = cur.LeaderEpoch
		if next.Leader != cur.Leader || r.BumpLeaderEpoch {
			next.LeaderEpoch++
		}
	}
	if t.Assignment == nil {
		t.Assignment = map[int32]PartitionState{}
	}
	t.Assignment[r.Partition] = next
	return nil
}

// brokerRecords returns the records that rebuild the registrations.
func (im *MetadataImage) brokerRecords() []MetadataRecord {
	out := make([]MetadataRecord, 0, len(im.Brokers))
	for _, id := range im.BrokerIDs() {
		reg := im.Brokers[id]
		out = append(out, MetadataRecord{Type: RegisterBrokerRecord, Broker: &reg})
	}
	return out
}

// partitionRecords returns the records that rebuild the topic's partition
// states (replayed after its topic record, they apply as given).
func (t *TopicImage) partitionRecords() []MetadataRecord {
	out := make([]MetadataRecord, 0, len(t.Assignment))
	for _, i := range slices.Sorted(maps.Keys(t.Assignment)) {
		out = append(out, MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: t.ID, Partition: i, State: t.Assignment[i]}})
	}
	return out
}

// sortedTopicNames returns the image's topic names in order.
func (im *MetadataImage) sortedTopicNames() []string {
	names := make([]string, 0, len(im.Topics))
	for name := range im.Topics {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
