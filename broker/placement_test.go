package broker

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

// rackBrokers returns brokers 1..n spread over racks round robin (no racks
// when racks is 0).
func rackedBrokers(n, racks int) []usableBroker {
	out := make([]usableBroker, n)
	for i := range out {
		out[i] = usableBroker{id: int32(i + 1)}
		if racks > 0 {
			out[i].rack = fmt.Sprintf("rack-%d", i%racks)
		}
	}
	return out
}

// checkPlacement checks the properties every placement keeps: rf distinct
// replicas per partition, all among the brokers, the first unfenced.
func checkPlacement(t *testing.T, brokers []usableBroker, got [][]int32, n, rf int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%d partitions placed, want %d", len(got), n)
	}
	byID := map[int32]usableBroker{}
	for _, b := range brokers {
		byID[b.id] = b
	}
	for p, replicas := range got {
		if len(replicas) != rf {
			t.Fatalf("partition %d: replicas %v, want %d", p, replicas, rf)
		}
		for i, id := range replicas {
			if _, ok := byID[id]; !ok {
				t.Fatalf("partition %d: unknown broker %d", p, id)
			}
			if slices.Contains(replicas[:i], id) {
				t.Fatalf("partition %d: broker %d twice in %v", p, id, replicas)
			}
		}
		if byID[replicas[0]].fenced {
			t.Fatalf("partition %d: fenced leader %d", p, replicas[0])
		}
	}
}

// TestPlacementSpreadsLeadersAndReplicas places 12 partitions of 3
// replicas on 6 brokers in 3 racks: every partition has one replica per
// rack, and leaders and replicas are spread evenly.
func TestPlacementSpreadsLeadersAndReplicas(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		brokers := rackedBrokers(6, 3)
		got, err := placeReplicas(seeded(seed), brokers, nil, 12, 3)
		if err != nil {
			t.Fatal(err)
		}
		checkPlacement(t, brokers, got, 12, 3)
		leaders, replicas := map[int32]int{}, map[int32]int{}
		for p, rs := range got {
			racks := map[string]bool{}
			for _, id := range rs {
				racks[brokers[id-1].rack] = true
				replicas[id]++
			}
			if len(racks) != 3 {
				t.Fatalf("seed %d partition %d: replicas %v share a rack", seed, p, rs)
			}
			leaders[rs[0]]++
		}
		for id := int32(1); id <= 6; id++ {
			if leaders[id] != 2 || replicas[id] != 6 {
				t.Fatalf("seed %d: broker %d leads %d and holds %d replicas, want 2 and 6 (%v)", seed, id, leaders[id], replicas[id], got)
			}
		}
	}
}

// TestPlacementWithoutRacks places as many partitions as brokers: each
// broker leads one, and the random start differs between runs.
func TestPlacementWithoutRacks(t *testing.T) {
	firstLeaders := map[int32]bool{}
	for seed := uint64(0); seed < 30; seed++ {
		brokers := rackedBrokers(3, 0)
		got, err := placeReplicas(seeded(seed), brokers, nil, 3, 3)
		if err != nil {
			t.Fatal(err)
		}
		checkPlacement(t, brokers, got, 3, 3)
		leaders := map[int32]bool{}
		for _, rs := range got {
			leaders[rs[0]] = true
		}
		if len(leaders) != 3 {
			t.Fatalf("seed %d: leaders %v", seed, got)
		}
		firstLeaders[got[0][0]] = true
	}
	if len(firstLeaders) < 2 {
		t.Fatalf("placement always starts at broker %v", firstLeaders)
	}
}

// TestPlacementUnevenRacks keeps rack diversity while a rack has brokers
// left: 2 racks of 3 and 1 broker, RF 2, every partition in both racks.
func TestPlacementUnevenRacks(t *testing.T) {
	brokers := []usableBroker{{id: 1, rack: "a"}, {id: 2, rack: "a"}, {id: 3, rack: "a"}, {id: 4, rack: "b"}}
	got, err := placeReplicas(seeded(3), brokers, nil, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkPlacement(t, brokers, got, 8, 2)
	for p, rs := range got {
		if !slices.Contains(rs, 4) {
			t.Fatalf("partition %d: %v has no replica in rack b", p, rs)
		}
	}
}

// TestPlacementFencedBrokers never makes a fenced broker the leader, but
// uses it for a follower replica when the unfenced ones are not enough.
func TestPlacementFencedBrokers(t *testing.T) {
	brokers := []usableBroker{{id: 1}, {id: 2}, {id: 3, fenced: true}}
	for seed := uint64(0); seed < 10; seed++ {
		got, err := placeReplicas(seeded(seed), brokers, nil, 6, 3)
		if err != nil {
			t.Fatal(err)
		}
		checkPlacement(t, brokers, got, 6, 3)
	}
	got, err := placeReplicas(seeded(1), brokers, nil, 6, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range got {
		if slices.Contains(rs, 3) {
			t.Fatalf("fenced broker used although unfenced ones sufficed: %v", got)
		}
	}
}

// TestPlacementErrors returns Kafka's INVALID_REPLICATION_FACTOR messages.
func TestPlacementErrors(t *testing.T) {
	cases := []struct {
		brokers []usableBroker
		rf      int
		msg     string
	}{
		{rackedBrokers(3, 0), 4, "The target replication factor of 4 cannot be reached because only 3 broker(s) are registered."},
		{rackedBrokers(3, 0), 0, "Invalid replication factor 0: the replication factor must be positive."},
		{[]usableBroker{{id: 1, fenced: true}}, 1, "All brokers are currently fenced."},
		{nil, 1, "All brokers are currently fenced."},
	}
	for _, c := range cases {
		_, err := placeReplicas(seeded(1), c.brokers, nil, 1, c.rf)
		if err == nil || err.code != kerr.InvalidReplicationFactor || err.msg != c.msg {
			t.Errorf("rf %d on %v: %v, want %q", c.rf, c.brokers, err, c.msg)
		}
	}
}

// TestPlacementContinuesExistingPartitions continues the stripe after a
// topic's existing partitions, as Kafka does for CreatePartitions.
func TestPlacementContinuesExistingPartitions(t *testing.T) {
	brokers := rackedBrokers(3, 0)
	for seed := uint64(0); seed < 10; seed++ {
		existing, err := placeReplicas(seeded(seed), brokers, nil, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		more, err := placeReplicas(seeded(seed+100), brokers, existing, 4, 2)
		if err != nil {
			t.Fatal(err)
		}
		checkPlacement(t, brokers, more, 4, 2)
		// The first new leader follows the last existing one.
		last := existing[len(existing)-1][0]
		if want := last%3 + 1; more[0][0] != want {
			t.Fatalf("seed %d: existing %v, new %v: first new leader %d, want %d", seed, existing, more, more[0][0], want)
		}
		leaders := map[int32]bool{}
		for _, rs := range more[:3] {
			leaders[rs[0]] = true
		}
		if len(leaders) != 3 {
			t.Fatalf("seed %d: new leaders not spread: %v", seed, more)
		}
	}
}

// TestManualAssignmentValidation checks Kafka's messages for manual
// assignments and the initial states built from them.
func TestManualAssignmentValidation(t *testing.T) {
	img, _ := clusterImage(t) // brokers 1, 2, 3
	cases := []struct {
		replicas []int32
		rf       int
		msg      string
	}{
		{nil, 0, "The manual partition assignment includes an empty replica list."},
		{[]int32{9, 1, 7}, 0, "The manual partition assignment includes broker 7, but no such broker is registered."},
		{[]int32{2, 1, 2}, 0, "The manual partition assignment includes the broker 2 more than once."},
		{[]int32{1}, 2, "The manual partition assignment includes a partition with 1 replica(s), but this is not consistent with previous partitions, which have 2 replica(s)."},
	}
	for _, c := range cases {
		err := validateManualAssignment(img, c.replicas, c.rf)
		if err == nil || err.code != kerr.InvalidReplicaAssignment || err.msg != c.msg {
			t.Errorf("%v rf %d: %v, want %q", c.replicas, c.rf, err, c.msg)
		}
	}
	if err := validateManualAssignment(img, []int32{3, 1}, 2); err != nil {
		t.Fatal(err)
	}
	// Broker 3 shuts down: it stays a replica, out of the ISR.
	img = mustApply(t, img, MetadataRecord{Type: BrokerStateRecord, Broker: &BrokerRegistration{ID: 3, Fenced: true, ControlledShutdown: true}})
	states, err := newPartitionStates(img, nil, 0, 0, -1, [][]int32{{3, 1}, {2, 3}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if st := states[0]; !slices.Equal(st.Replicas, []int32{3, 1}) || !slices.Equal(st.ISR, []int32{1}) || st.Leader != 1 {
		t.Fatalf("state of [3 1]: %+v", st)
	}
	if _, err := newPartitionStates(img, nil, 0, 0, -1, [][]int32{{1, 2}, {3, 2}, {3}}, true); err == nil || err.code != kerr.InvalidReplicaAssignment {
		t.Fatalf("inconsistent replica counts: %v", err)
	}
	_, err = newPartitionStates(img, nil, 4, 0, -1, [][]int32{{3}}, true)
	if err == nil || err.msg != "All brokers specified in the manual partition assignment for partition 4 are fenced or in controlled shutdown." {
		t.Fatalf("assignment on a fenced broker only: %v", err)
	}
	// Placed: only 2 usable brokers remain.
	_, err = newPartitionStates(img, nil, 0, 1, 3, nil, true)
	if err == nil || err.code != kerr.InvalidReplicationFactor || err.msg != "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 broker(s) are registered." {
		t.Fatalf("rf 3 on 2 usable brokers: %v", err)
	}
}
