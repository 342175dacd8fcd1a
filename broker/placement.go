package broker

// Replica placement for new partitions, as Kafka's StripedReplicaPlacer:
// racks are visited round robin and, inside each rack, brokers round
// robin, starting from a random rack and broker; each partition starts
// one rack further, so leaders spread over racks and brokers. Unfenced
// brokers are used first; a fenced broker may get a follower replica once
// its rack's unfenced brokers are used, never the first (leader) replica.
// Brokers in controlled shutdown get nothing. CreatePartitions continues
// the stripe after the topic's existing partitions.

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// placementError is a failed placement or manual assignment: the Kafka
// error to answer and its message.
type placementError struct {
	code *kerr.Error
	msg  string
}

func (e *placementError) Error() string { return e.msg }

func invalidReplicationFactor(format string, args ...any) *placementError {
	return &placementError{code: kerr.InvalidReplicationFactor, msg: fmt.Sprintf(format, args...)}
}

func invalidReplicaAssignment(format string, args ...any) *placementError {
	return &placementError{code: kerr.InvalidReplicaAssignment, msg: fmt.Sprintf(format, args...)}
}

// usableBroker is a broker that may get replicas (Kafka's UsableBroker).
type usableBroker struct {
	id     int32
	rack   string
	fenced bool
}

// usableBrokers lists the registered brokers not in controlled shutdown.
func usableBrokers(img *MetadataImage) []usableBroker {
	var out []usableBroker
	for _, id := range img.BrokerIDs() {
		r := img.Brokers[id]
		if !r.ControlledShutdown {
			out = append(out, usableBroker{id: id, rack: r.Rack, fenced: r.Fenced})
		}
	}
	return out
}

// brokerList is the brokers of one rack of one kind (fenced or not),
// iterated once per placement epoch from a rotating start.
type brokerList struct {
	brokers []int32
	// index counts the brokers returned in the current epoch; offset is
	// where the iteration starts.
	index, offset, epoch int
}

func (l *brokerList) initialize(rnd *rand.Rand) {
	if len(l.brokers) > 0 {
		slices.Sort(l.brokers)
		l.offset = rnd.IntN(len(l.brokers))
	}
}

// initializeAfter starts the iteration after the broker at position prev
// (of the sorted list), continuing an earlier placement.
func (l *brokerList) initializeAfter(prev int) {
	if len(l.brokers) > 0 {
		slices.Sort(l.brokers)
		l.offset = (prev + 1) % len(l.brokers)
	}
}

// next returns the next broker of this epoch, or -1 when every broker of
// the list was returned in it.
func (l *brokerList) next(epoch int) int32 {
	if len(l.brokers) == 0 {
		return -1
	}
	if l.epoch != epoch {
		l.epoch = epoch
		l.index = 0
		l.offset = (l.offset + 1) % len(l.brokers)
	}
	if l.index >= len(l.brokers) {
		return -1
	}
	b := l.brokers[(l.index+l.offset)%len(l.brokers)]
	l.index++
	return b
}

type rackBrokers struct {
	fenced, unfenced brokerList
}

// next returns an unfenced broker of the rack if one is left in this
// epoch, else a fenced one.
func (r *rackBrokers) next(epoch int) int32 {
	if b := r.unfenced.next(epoch); b >= 0 {
		return b
	}
	return r.fenced.next(epoch)
}

// rackList stripes placements over the racks.
type rackList struct {
	rnd      *rand.Rand
	racks    map[string]*rackBrokers
	names    []string // sorted; "" (no rack) first
	total    int
	unfenced int
	epoch    int
	offset   int
}

// newRackList builds the stripe over brokers. existing holds the replica
// lists of the topic's current partitions (CreatePartitions): the stripe
// then continues after the last of them instead of starting at random.
func newRackList(rnd *rand.Rand, brokers []usableBroker, existing [][]int32) *rackList {
	rl := &rackList{rnd: rnd, racks: map[string]*rackBrokers{}}
	rackOf := map[int32]string{}
	for _, b := range brokers {
		rackOf[b.id] = b.rack
		r := rl.racks[b.rack]
		if r == nil {
			r = &rackBrokers{}
			rl.racks[b.rack] = r
			rl.names = append(rl.names, b.rack)
		}
		if b.fenced {
			r.fenced.brokers = append(r.fenced.brokers, b.id)
		} else {
			r.unfenced.brokers = append(r.unfenced.brokers, b.id)
			rl.unfenced++
		}
		rl.total++
	}
	for name, r := range rl.racks {
		r.fenced.initialize(rnd)
		if prev, ok := previousBrokerOffset(rackOf, existing, name, r.unfenced.brokers); ok {
			r.unfenced.initializeAfter(prev)
		} else {
			r.unfenced.initialize(rnd)
		}
	}
	slices.Sort(rl.names)
	if prev, ok := previousRackOffset(rackOf, existing, rl.names); ok {
		rl.offset = (prev + 1) % len(rl.names)
	} else if len(rl.names) > 0 {
		rl.offset = rnd.IntN(len(rl.names))
	}
	return rl
}

// previousRackOffset is the position of the rack of the last existing
// partition's leader.
func previousRackOffset(rackOf map[int32]string, existing [][]int32, names []string) (int, bool) {
	if len(existing) == 0 || len(existing[len(existing)-1]) == 0 {
		return 0, false
	}
	r, ok := rackOf[existing[len(existing)-1][0]]
	if !ok {
		return 0, false
	}
	i := slices.Index(names, r)
	return i, i >= 0
}

// previousBrokerOffset is the position, in the rack's sorted unfenced
// brokers, of the latest replica placed in that rack.
func previousBrokerOffset(rackOf map[int32]string, existing [][]int32, rack string, unfenced []int32) (int, bool) {
	sorted := slices.Clone(unfenced)
	slices.Sort(sorted)
	for i := len(existing) - 1; i >= 0; i-- {
		for _, id := range existing[i] {
			r, ok := rackOf[id]
			if !ok || r != rack {
				continue
			}
			j := slices.Index(sorted, id)
			return j, j >= 0
		}
	}
	return 0, false
}

func (rl *rackList) check(rf int) *placementError {
	switch {
	case rf <= 0:
		return invalidReplicationFactor("Invalid replication factor %d: the replication factor must be positive.", rf)
	case rl.unfenced == 0:
		return invalidReplicationFactor("All brokers are currently fenced.")
	case rf > rl.total:
		return invalidReplicationFactor("The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rl.total)
	}
	return nil
}

// place returns the replicas of one partition; the first, the leader, is
// always an unfenced broker. check must have passed.
func (rl *rackList) place(rf int) []int32 {
	// After as many placements as there are unfenced brokers, reshuffle
	// so that the same assignments do not repeat (not with a single
	// unfenced broker: every epoch would look the same).
	if rl.epoch == rl.unfenced && rl.unfenced > 1 {
		rl.shuffle()
		rl.epoch = 0
	}
	if rl.offset == len(rl.names) {
		rl.offset = 0
	}
	out := make([]int32, 0, rf)
	first := rl.offset
	for {
		if b := rl.racks[rl.names[first]].unfenced.next(rl.epoch); b >= 0 {
			out = append(out, b)
			break
		}
		if first++; first == len(rl.names) {
			first = 0
		}
	}
	ri := rl.offset
	for len(out) < rf {
		b := int32(-1)
		for b < 0 {
			if ri == first {
				first = -1 // the leader's rack comes last in this round
			} else {
				b = rl.racks[rl.names[ri]].next(rl.epoch)
			}
			if ri++; ri == len(rl.names) {
				ri = 0
			}
		}
		out = append(out, b)
	}
	rl.epoch++
	rl.offset++
	return out
}

func (rl *rackList) shuffle() {
	rl.rnd.Shuffle(len(rl.names), func(i, j int) { rl.names[i], rl.names[j] = rl.names[j], rl.names[i] })
	for _, r := range rl.racks {
		for _, l := range []*brokerList{&r.fenced, &r.unfenced} {
			rl.rnd.Shuffle(len(l.brokers), func(i, j int) { l.brokers[i], l.brokers[j] = l.brokers[j], l.brokers[i] })
		}
	}
}

// placeReplicas chooses the replicas of n new partitions with rf replicas
// each over brokers, continuing after the existing partitions' replica
// lists. It fails with INVALID_REPLICATION_FACTOR and Kafka's message.
func placeReplicas(rnd *rand.Rand, brokers []usableBroker, existing [][]int32, n, rf int) ([][]int32, *placementError) {
	rl := newRackList(rnd, brokers, existing)
	if err := rl.check(rf); err != nil {
		return nil, err
	}
	out := make([][]int32, n)
	for i := range out {
		out[i] = rl.place(rf)
	}
	return out, nil
}

// validateManualAssignment checks one partition's replica list from a
// CreateTopics or CreatePartitions assignment as Kafka's controller does:
// not empty, every broker registered, none twice (brokers are checked in
// ascending id order, so the message names the lowest offender), and as
// many replicas as rf when rf > 0.
func validateManualAssignment(img *MetadataImage, replicas []int32, rf int) *placementError {
	if len(replicas) == 0 {
		return invalidReplicaAssignment("The manual partition assignment includes an empty replica list.")
	}
	sorted := slices.Clone(replicas)
	slices.Sort(sorted)
	for i, id := range sorted {
		if _, ok := img.Brokers[id]; !ok {
			return invalidReplicaAssignment("The manual partition assignment includes broker %d, but no such broker is registered.", id)
		}
		if i > 0 && sorted[i-1] == id {
			return invalidReplicaAssignment("The manual partition assignment includes the broker %d more than once.", id)
		}
	}
	if rf > 0 && len(replicas) != rf {
		return invalidReplicaAssignment("The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(replicas), rf)
	}
	return nil
}

// initialState is the state of a new partition with the given replicas:
// the ISR is the active replicas, in order, and the first of them leads
// (epochs 0), as Kafka's controller builds a new PartitionRegistration. It
// returns false when no replica is active.
func initialState(img *MetadataImage, replicas []int32) (PartitionState, bool) {
	var isr []int32
	for _, id := range replicas {
		if img.activeBroker(id) {
			isr = append(isr, id)
		}
	}
	if len(isr) == 0 {
		return PartitionState{}, false
	}
	return PartitionState{Replicas: slices.Clone(replicas), ISR: isr, Leader: isr[0]}, true
}

// newPartitionStates returns the states of new partitions first, first+1,
// ...: from assignment when given (validated as manual assignments, with
// rf replicas each when rf > 0), else n partitions of rf replicas placed by
// the striped placer after the existing ones. For a topic creation
// (creating), the placer's messages start with "Unable to replicate the
// partition <rf> time(s): ", as Kafka's CreateTopics words them.
func newPartitionStates(img *MetadataImage, existing [][]int32, first int32, n int, rf int, assignment [][]int32, creating bool) ([]PartitionState, *placementError) {
	manual := assignment != nil
	if manual {
		for _, replicas := range assignment {
			if err := validateManualAssignment(img, replicas, rf); err != nil {
				return nil, err
			}
			rf = len(replicas)
		}
	} else {
		var err *placementError
		assignment, err = placeReplicas(rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())), usableBrokers(img), existing, n, rf)
		if err != nil {
			if creating {
				err.msg = fmt.Sprintf("Unable to replicate the partition %d time(s): %s", rf, err.msg)
			}
			return nil, err
		}
	}
	out := make([]PartitionState, len(assignment))
	for i, replicas := range assignment {
		st, ok := initialState(img, replicas)
		if !ok && manual {
			return nil, invalidReplicaAssignment("All brokers specified in the manual partition assignment for partition %d are fenced or in controlled shutdown.", first+int32(i))
		}
		if !ok {
			return nil, invalidReplicationFactor("Unable to replicate the partition %d time(s): All brokers are currently fenced or in controlled shutdown.", rf)
		}
		out[i] = st
	}
	return out, nil
}

// replicaLists returns the replica list of each partition of t that has a
// state.
func replicaLists(t *TopicImage) [][]int32 {
	out := make([][]int32, 0, t.Partitions)
	for i := int32(0); i < t.Partitions; i++ {
		if st, ok := t.Partition(i); ok {
			out = append(out, st.Replicas)
		}
	}
	return out
}
