package broker

// Partition leadership and replica changes, as KRaft's
// PartitionChangeBuilder computes them: what the active controller writes
// when brokers are fenced, shut down or come back, what ElectLeaders and
// reassignments write. Each function returns the next state of one
// partition; callers write it as a compare-and-set partition record on
// the state's partition epoch, so a change computed from a stale image is
// refused and computed again.

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/skein-streaming/skein/internal/config"
)

// firstActive returns the first of ids that is an active broker and, when
// within is not nil, a member of within; -1 when there is none.
func firstActive(img *MetadataImage, ids, within []int32) int32 {
	for _, id := range ids {
		if img.activeBroker(id) && (within == nil || slices.Contains(within, id)) {
			return id
		}
	}
	return NoLeader
}

// without returns ids minus drop, in order.
func without(ids, drop []int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

// intersect returns the members of ids that are in in, in the order of ids.
func intersect(ids, in []int32) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if slices.Contains(in, id) {
			out = append(out, id)
		}
	}
	return out
}

// stateEqual reports whether two states have the same replicas, ISR,
// leader and reassignment (epochs aside).
func stateEqual(a, b PartitionState) bool {
	return a.Leader == b.Leader && slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.AddingReplicas, b.AddingReplicas) && slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

// brokerChange is the state a partition moves to after brokers were
// fenced, started a controlled shutdown or came back, as KRaft's
// controller computes it:
//
//   - brokers that are not active (fenced, shutting down, unregistered)
//     leave the ISR, except that the ISR never becomes empty: when none of
//     its members is active it is kept, so that one of them can lead again
//     without losing acknowledged records;
//   - a leader that is not active, or no leader, is replaced by the first
//     active replica (in replica order) of the ISR; with unclean election
//     enabled for the topic, when no ISR member is active, by the first
//     active replica outside it (which becomes the whole ISR);
//   - a reassignment whose adding replicas are all in the ISR completes.
//
// When no active replica can lead, the partition keeps its leader (it is
// unavailable until that broker or another ISR member returns), where
// KRaft would record no leader: the broker that returns leads again with
// no election. It returns false when nothing changes.
func brokerChange(img *MetadataImage, st PartitionState, unclean func() bool) (PartitionState, bool) {
	next := st.clone()
	isr := make([]int32, 0, len(st.ISR))
	for _, id := range st.ISR {
		if img.activeBroker(id) {
			isr = append(isr, id)
		}
	}
	if len(isr) > 0 {
		next.ISR = isr
	}
	next = completeReassignment(img, next)
	if next.Leader == NoLeader || !img.activeBroker(next.Leader) || !slices.Contains(next.ISR, next.Leader) {
		switch cand := firstActive(img, next.Replicas, next.ISR); {
		case cand != NoLeader:
			next.Leader = cand
		case firstActive(img, next.Replicas, nil) != NoLeader && unclean():
			cand = firstActive(img, next.Replicas, nil)
			next.Leader, next.ISR = cand, []int32{cand}
		case slices.Contains(next.ISR, next.Leader):
			// No one else can lead: keep the leader.
		default:
			next.Leader = NoLeader
		}
	}
	if stateEqual(next, st) {
		return st, false
	}
	return next, true
}

// completeReassignment finishes a reassignment once every adding replica
// is in the ISR (KRaft's maybeCompleteReassignment): the removing
// replicas leave the replicas and the ISR, and the lists are cleared. A
// reassignment that would leave the ISR empty does not complete. The
// leader is not changed here; a leader that left is replaced by the
// caller's election.
func completeReassignment(img *MetadataImage, st PartitionState) PartitionState {
	if len(st.AddingReplicas) == 0 && len(st.RemovingReplicas) == 0 {
		return st
	}
	isr := without(st.ISR, st.RemovingReplicas)
	if len(isr) == 0 {
		return st
	}
	for _, id := range st.AddingReplicas {
		if !slices.Contains(isr, id) {
			return st
		}
	}
	st.Replicas = without(st.Replicas, st.RemovingReplicas)
	st.ISR = isr
	st.AddingReplicas, st.RemovingReplicas = nil, nil
	if !slices.Contains(st.ISR, st.Leader) {
		st.Leader = firstActive(img, st.Replicas, st.ISR)
		if st.Leader == NoLeader {
			st.Leader = st.ISR[0]
		}
	}
	return st
}

// electPreferred moves the leadership to the preferred replica (the first
// one) when it is active and in sync, as ElectLeaders with the PREFERRED
// type does. The error is the Kafka error to answer:
// ELECTION_NOT_NEEDED when it already leads,
// PREFERRED_LEADER_NOT_AVAILABLE when it cannot.
func electPreferred(img *MetadataImage, st PartitionState) (PartitionState, *kerr.Error) {
	pref := st.Replicas[0]
	if st.Leader == pref {
		return st, kerr.ElectionNotNeeded
	}
	if !img.activeBroker(pref) || !slices.Contains(st.ISR, pref) {
		return st, kerr.PreferredLeaderNotAvailable
	}
	next := st.clone()
	next.Leader = pref
	return next, nil
}

// electUnclean elects a leader for a partition without an active one, as
// ElectLeaders with the UNCLEAN type does: the first active ISR member,
// else the first active replica, which becomes the whole ISR.
// ELECTION_NOT_NEEDED when an active leader exists,
// ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is active.
func electUnclean(img *MetadataImage, st PartitionState) (PartitionState, *kerr.Error) {
	if st.Leader != NoLeader && img.activeBroker(st.Leader) {
		return st, kerr.ElectionNotNeeded
	}
	next := st.clone()
	if cand := firstActive(img, st.Replicas, st.ISR); cand != NoLeader {
		next.Leader = cand
		return next, nil
	}
	cand := firstActive(img, st.Replicas, nil)
	if cand == NoLeader {
		return st, kerr.EligibleLeadersNotAvailable
	}
	next.Leader, next.ISR = cand, []int32{cand}
	return next, nil
}

// originalReplicas are the replicas of a partition before its ongoing
// reassignment (KRaft's PartitionReassignmentRevert).
func originalReplicas(st PartitionState) []int32 { return without(st.Replicas, st.AddingReplicas) }

// reassign starts moving a partition to target, as KRaft's
// changePartitionReassignment does: the replicas become the target
// followed by the replicas it drops (removing), the new ones are adding;
// brokers open the adding replicas as followers, and once they are all in
// the ISR the reassignment completes (completeReassignment). A
// reassignment that adds nothing completes at once. A partition that is
// being reassigned is first reverted to its original replicas.
func reassign(img *MetadataImage, st PartitionState, target []int32) (PartitionState, *placementError) {
	if perr := validateManualAssignment(img, target, 0); perr != nil {
		return st, perr
	}
	if len(st.AddingReplicas) == 0 && len(st.RemovingReplicas) == 0 && slices.Equal(st.Replicas, target) {
		return st, nil // already there
	}
	orig := originalReplicas(st)
	adding := without(target, orig)
	removing := without(orig, target)
	next := st.clone()
	next.Replicas = append(slices.Clone(target), removing...)
	next.ISR = intersect(st.ISR, next.Replicas)
	if len(next.ISR) == 0 {
		return st, invalidReplicaAssignment("The partition has no in-sync replica among the replicas of the reassignment.")
	}
	next.AddingReplicas, next.RemovingReplicas = adding, removing
	if len(adding) == 0 {
		next.AddingReplicas = nil
	}
	if len(removing) == 0 {
		next.RemovingReplicas = nil
	}
	next = completeReassignment(img, next)
	if !slices.Contains(next.ISR, next.Leader) || !img.activeBroker(next.Leader) {
		if cand := firstActive(img, next.Replicas, next.ISR); cand != NoLeader {
			next.Leader = cand
		} else if !slices.Contains(next.ISR, next.Leader) {
			next.Leader = NoLeader
		}
	}
	return next, nil
}

// cancelReassignment reverts an ongoing reassignment: the adding replicas
// leave the replicas and the ISR (KRaft's PartitionReassignmentRevert).
// When that would empty the ISR, the first active original replica
// becomes the ISR (an unclean election, as KRaft performs one then). The
// error is NO_REASSIGNMENT_IN_PROGRESS when there is none.
func cancelReassignment(img *MetadataImage, st PartitionState) (PartitionState, *kerr.Error) {
	if len(st.AddingReplicas) == 0 && len(st.RemovingReplicas) == 0 {
		return st, kerr.NoReassignmentInProgress
	}
	next := st.clone()
	next.Replicas = originalReplicas(st)
	next.ISR = without(st.ISR, st.AddingReplicas)
	next.AddingReplicas, next.RemovingReplicas = nil, nil
	if len(next.ISR) == 0 {
		cand := firstActive(img, next.Replicas, nil)
		if cand == NoLeader {
			cand = next.Replicas[0]
		}
		next.ISR = []int32{cand}
	}
	if !slices.Contains(next.ISR, next.Leader) || !img.activeBroker(next.Leader) {
		if cand := firstActive(img, next.Replicas, next.ISR); cand != NoLeader {
			next.Leader = cand
		} else if !slices.Contains(next.ISR, next.Leader) {
			next.Leader = NoLeader
		}
	}
	return next, nil
}

// casRecord is the compare-and-set record that moves a partition from
// cur (as read) to next.
func casRecord(id TopicID, p int32, cur, next PartitionState) MetadataRecord {
	epoch := cur.PartitionEpoch
	return MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: id, Partition: p, State: next, ExpectedPartitionEpoch: &epoch}}
}

// uncleanElection reports whether unclean.leader.election.enable holds for
// a topic with the given overrides.
func (s *settingsResolver) uncleanElection(overrides map[string]string) bool {
	r := s.cur.Load()
	v, err := r.Topic(overrides)
	if err != nil {
		v = r.TopicDefaults()
	}
	return v.Bool(config.UncleanLeaderElectionEnable)
}

// brokerChanges returns the compare-and-set records that bring every
// partition in line with the brokers' states (brokerChange).
func brokerChanges(img *MetadataImage, settings *settingsResolver) []MetadataRecord {
	return brokerChangesInvolving(img, settings, -1)
}

// brokerChangesInvolving is brokerChanges for the partitions whose
// replicas include broker id (all partitions when id is -1).
func brokerChangesInvolving(img *MetadataImage, settings *settingsResolver, id int32) []MetadataRecord {
	var recs []MetadataRecord
	for _, name := range img.sortedTopicNames() {
		t := img.Topics[name]
		var unclean, resolved bool
		uncleanFn := func() bool {
			if !resolved {
				unclean, resolved = settings.uncleanElection(t.Configs), true
			}
			return unclean
		}
		for _, p := range sortedPartitions(t) {
			st := t.Assignment[p]
			if id >= 0 && !slices.Contains(st.Replicas, id) {
				continue
			}
			if next, ok := brokerChange(img, st, uncleanFn); ok {
				recs = append(recs, casRecord(t.ID, p, st, next))
			}
		}
	}
	return recs
}

// sortedPartitions lists the partitions of t that have a state, in order.
func sortedPartitions(t *TopicImage) []int32 {
	ps := make([]int32, 0, len(t.Assignment))
	for p := range t.Assignment {
		if p >= 0 && p < t.Partitions {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	return ps
}

// withBrokerState returns a copy of img in which broker id has the given
// flags (to compute the changes a fence or a shutdown brings before
// writing it).
func withBrokerState(img *MetadataImage, id int32, fenced, shutdown bool) (*MetadataImage, error) {
	next, err := img.applyBatch([]MetadataRecord{{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: id, Fenced: fenced, ControlledShutdown: shutdown}}})
	if err != nil {
		return nil, fmt.Errorf("broker %d: %w", id, err)
	}
	return next, nil
}

// freshImage returns the metadata image once this broker's member of the
// quorum has applied everything committed before the call (a linearizable
// read), so that an admin request decides on the current state. A store
// without such a barrier answers its image as is.
func (b *Broker) freshImage(ctx context.Context) *MetadataImage {
	if s, ok := b.meta.(interface{ Barrier(context.Context) error }); ok {
		if err := s.Barrier(ctx); err != nil {
			b.log.Debug("metadata barrier failed; answering from the local image", "err", err)
		}
	}
	return b.meta.Image()
}
