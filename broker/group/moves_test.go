package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestLoadUnloadPartition moves the coordination of one __consumer_offsets
// partition: UnloadPartition drops its groups (a member waiting in a join
// is answered NOT_COORDINATOR) and leaves the others; LoadPartition reads
// them back from the log, committed offsets included.
func TestLoadUnloadPartition(t *testing.T) {
	e := newEnv(t)
	// Two groups on different partitions.
	a, chA := e.join("g")
	e.mustReady(chA)
	waitSync(t, e.sync("g", a, 1, nil))
	if code := e.commit("g", a, 1); code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	other := "h"
	for e.c.Partition(other) == e.c.Partition("g") {
		other += "h"
	}
	b, chB := e.join(other)
	e.mustReady(chB)
	waitSync(t, e.sync(other, b, 1, nil))
	// A second member's join waits for the rebalance of g.
	_, waiting := e.join("g")

	p := e.c.Partition("g")
	e.c.UnloadPartition(p)
	if r, ok := ready(waiting); !ok || r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("waiting join after unload: %+v %v", r, ok)
	}
	if got := e.describe("g"); got.State != "Dead" {
		t.Fatalf("unloaded group still described: %+v", got)
	}
	if got := e.describe(other); got.State != "Stable" {
		t.Fatalf("group of another partition: %+v", got)
	}
	if err := e.c.LoadPartition(p); err != nil {
		t.Fatal(err)
	}
	if got := e.describe("g"); got.State != "Stable" || len(got.Members) != 1 {
		t.Fatalf("reloaded group: %+v", got)
	}
	fr := kmsg.NewPtrOffsetFetchRequest()
	fr.Version = 7
	fr.Group = "g"
	fr.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1}}}
	if resp := e.c.OffsetFetch(fr); resp.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offset after reload: %+v", resp)
	}
	// Loading twice replaces, never duplicates.
	if err := e.c.LoadPartition(p); err != nil {
		t.Fatal(err)
	}
	if got := e.describe("g"); len(got.Members) != 1 {
		t.Fatalf("group after a second load: %+v", got)
	}
}

func (e *env) describe(group string) kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Groups = []string{group}
	return e.c.DescribeGroups(r).Groups[0]
}
