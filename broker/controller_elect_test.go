package broker

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// electImage is brokers 1..5: 1–3 active, 4 fenced, 5 in controlled
// shutdown.
func electImage(t *testing.T) *MetadataImage {
	t.Helper()
	img := newImage().seal()
	var recs []MetadataRecord
	for id := int32(1); id <= 5; id++ {
		recs = append(recs, MetadataRecord{Type: RegisterBrokerRecord, Broker: &BrokerRegistration{ID: id, Incarnation: "i", Fenced: id == 4, ControlledShutdown: id == 5}})
	}
	next, err := img.applyBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func ps(replicas, isr []int32, leader int32) PartitionState {
	return PartitionState{Replicas: replicas, ISR: isr, Leader: leader}
}

func no() bool  { return false }
func yes() bool { return true }

// TestBrokerChange checks the partition changes the controller derives
// from the brokers' states.
func TestBrokerChange(t *testing.T) {
	img := electImage(t)
	for _, c := range []struct {
		name    string
		st      PartitionState
		unclean func() bool
		want    PartitionState
		changed bool
	}{
		{"all active", ps([]int32{1, 2, 3}, []int32{1, 2, 3}, 1), no, PartitionState{}, false},
		{"fenced follower leaves the isr", ps([]int32{1, 4, 2}, []int32{1, 4, 2}, 1), no, ps([]int32{1, 4, 2}, []int32{1, 2}, 1), true},
		{"fenced leader replaced in replica order", ps([]int32{4, 3, 2}, []int32{2, 3, 4}, 4), no, ps([]int32{4, 3, 2}, []int32{2, 3}, 3), true},
		{"shutting-down leader replaced", ps([]int32{5, 1}, []int32{5, 1}, 5), no, ps([]int32{5, 1}, []int32{1}, 1), true},
		{"last isr member kept, leader kept", ps([]int32{4, 1}, []int32{4}, 4), no, PartitionState{}, false},
		{"unclean elects outside the isr", ps([]int32{4, 1}, []int32{4}, 4), yes, ps([]int32{4, 1}, []int32{1}, 1), true},
		{"leaderless gets an isr member", ps([]int32{2, 3}, []int32{2, 3}, NoLeader), no, ps([]int32{2, 3}, []int32{2, 3}, 2), true},
		{"leaderless without active isr stays", ps([]int32{4, 2}, []int32{4}, NoLeader), no, PartitionState{}, false},
		{"reassignment completes", PartitionState{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2, 3}, Leader: 1, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}, no, ps([]int32{2, 3}, []int32{2, 3}, 2), true},
		{"reassignment waits for adding replicas", PartitionState{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}, no, PartitionState{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, changed := brokerChange(img, c.st, c.unclean)
			if changed != c.changed {
				t.Fatalf("changed %v, want %v: %+v", changed, c.changed, got)
			}
			if changed && (!stateEqual(got, c.want)) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			if changed {
				if err := got.validate(); err != nil {
					t.Fatalf("invalid state %+v: %v", got, err)
				}
			}
		})
	}
}

// TestElections checks ElectLeaders' two election types and reassignments.
func TestElections(t *testing.T) {
	img := electImage(t)
	if _, err := electPreferred(img, ps([]int32{1, 2}, []int32{1, 2}, 1)); err != kerr.ElectionNotNeeded {
		t.Fatalf("preferred leads: %v", err)
	}
	if _, err := electPreferred(img, ps([]int32{1, 2}, []int32{2}, 2)); err != kerr.PreferredLeaderNotAvailable {
		t.Fatalf("preferred out of the isr: %v", err)
	}
	if _, err := electPreferred(img, ps([]int32{4, 2}, []int32{2, 4}, 2)); err != kerr.PreferredLeaderNotAvailable {
		t.Fatalf("preferred fenced: %v", err)
	}
	if got, err := electPreferred(img, ps([]int32{1, 2}, []int32{2, 1}, 2)); err != nil || got.Leader != 1 {
		t.Fatalf("preferred: %+v %v", got, err)
	}
	if _, err := electUnclean(img, ps([]int32{1, 2}, []int32{1}, 1)); err != kerr.ElectionNotNeeded {
		t.Fatalf("unclean with an active leader: %v", err)
	}
	if got, err := electUnclean(img, ps([]int32{4, 2}, []int32{4}, 4)); err != nil || got.Leader != 2 || !slices.Equal(got.ISR, []int32{2}) {
		t.Fatalf("unclean: %+v %v", got, err)
	}
	if _, err := electUnclean(img, ps([]int32{4, 5}, []int32{4}, NoLeader)); err != kerr.EligibleLeadersNotAvailable {
		t.Fatalf("unclean without active replicas: %v", err)
	}

	st := ps([]int32{1, 2, 3}, []int32{1, 2, 3}, 1)
	next, perr := reassign(img, st, []int32{2, 3, 5})
	if perr != nil || !slices.Equal(next.Replicas, []int32{2, 3, 5, 1}) || !slices.Equal(next.AddingReplicas, []int32{5}) || !slices.Equal(next.RemovingReplicas, []int32{1}) || next.Leader != 1 {
		t.Fatalf("reassign: %+v %v", next, perr)
	}
	// A second reassignment starts from the original replicas.
	again, perr := reassign(img, next, []int32{3, 1, 2})
	if perr != nil || !slices.Equal(again.Replicas, []int32{3, 1, 2}) || len(again.AddingReplicas)+len(again.RemovingReplicas) != 0 {
		t.Fatalf("reassign back: %+v %v", again, perr)
	}
	// Removing only: completes at once, the leader moves off.
	shrink, perr := reassign(img, st, []int32{3, 2})
	if perr != nil || !slices.Equal(shrink.Replicas, []int32{3, 2}) || shrink.Leader != 3 || slices.Contains(shrink.ISR, 1) {
		t.Fatalf("shrink: %+v %v", shrink, perr)
	}
	if same, perr := reassign(img, st, []int32{1, 2, 3}); perr != nil || !stateEqual(same, st) {
		t.Fatalf("no-op: %+v %v", same, perr)
	}
	if _, perr := reassign(img, st, []int32{1, 9}); perr == nil || perr.code != kerr.InvalidReplicaAssignment {
		t.Fatalf("unregistered target: %v", perr)
	}
	reverted, kerrv := cancelReassignment(img, next)
	if kerrv != nil || !slices.Equal(reverted.Replicas, []int32{2, 3, 1}) || len(reverted.AddingReplicas) != 0 {
		t.Fatalf("cancel: %+v %v", reverted, kerrv)
	}
	if _, kerrv := cancelReassignment(img, st); kerrv != kerr.NoReassignmentInProgress {
		t.Fatalf("cancel without a reassignment: %v", kerrv)
	}
}

// TestImbalancedElections elects the preferred leaders of a broker whose
// share of preferred partitions led elsewhere is over the threshold.
func TestImbalancedElections(t *testing.T) {
	img := electImage(t)
	id := NewTopicID()
	recs := []MetadataRecord{{Type: TopicRecord, Topic: "t", ID: id, Partitions: 4}}
	for p, st := range []PartitionState{
		ps([]int32{1, 2}, []int32{1, 2}, 2), // preferred 1 led by 2
		ps([]int32{1, 2}, []int32{1, 2}, 1),
		ps([]int32{2, 1}, []int32{2, 1}, 2),
		ps([]int32{2, 1}, []int32{2, 1}, 2),
	} {
		recs = append(recs, partitionRec(id, int32(p), st))
	}
	img, err := img.applyBatch(recs)
	if err != nil {
		t.Fatal(err)
	}
	if got := imbalancedElections(img, 50); len(got) != 0 {
		t.Fatalf("at 50%%: %+v", got)
	}
	got := imbalancedElections(img, 10)
	if len(got) != 1 || got[0].Partition.Partition != 0 || got[0].Partition.State.Leader != 1 || *got[0].Partition.ExpectedPartitionEpoch != 0 {
		t.Fatalf("at 10%%: %+v", got)
	}
}
