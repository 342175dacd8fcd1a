package txn

import (
	"errors"
	"testing"
)

// TestLoadUnloadPartition drops the transactional ids of one
// __transaction_state partition and loads them back from the log: ids of
// other partitions stay, a reloaded id keeps its producer id and epoch,
// and a transaction found prepared is completed.
func TestLoadUnloadPartition(t *testing.T) {
	e := newEnv(t)
	a := e.init("a", nil)
	other := "b"
	for e.c.Partition(other) == e.c.Partition("a") {
		other += "b"
	}
	e.init(other, nil)
	wantErr(t, e.c.AddPartitions("a", a.ID, a.Epoch, []TopicPartition{{Topic: "t", Partition: 0}}), nil)
	p := e.c.Partition("a")

	e.c.UnloadPartition(p)
	if st := e.state("a"); st.ErrorCode == 0 {
		t.Fatalf("unloaded id still known: %+v", st)
	}
	if st := e.state(other); st.ErrorCode != 0 {
		t.Fatalf("id of another partition: %+v", st)
	}
	if err := e.c.LoadPartition(p); err != nil {
		t.Fatal(err)
	}
	st := e.state("a")
	if st.ErrorCode != 0 || st.ProducerID != a.ID || st.ProducerEpoch != a.Epoch || st.State != "Ongoing" {
		t.Fatalf("reloaded id: %+v", st)
	}
	// A prepared commit found on load is completed (its markers
	// written).
	e.markerErr = errors.New("disk on fire")
	wantErr(t, e.c.EndTxn("a", a.ID, a.Epoch, true), nil)
	if st := e.state("a"); st.State != "PrepareCommit" {
		t.Fatalf("state %s", st.State)
	}
	e.markerErr = nil
	e.takeMarkers()
	e.c.UnloadPartition(p)
	if err := e.c.LoadPartition(p); err != nil {
		t.Fatal(err)
	}
	if st := e.state("a"); st.State != "CompleteCommit" {
		t.Fatalf("prepared commit after load: %+v", st)
	}
	if m := e.takeMarkers(); len(m) != 1 || !m[0].commit || m[0].pid != a.ID {
		t.Fatalf("markers after load: %+v", m)
	}
}
