package broker

import (
	"net"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// cgMember drives one KIP-848 member over a raw connection.
type cgMember struct {
	t     *testing.T
	c     net.Conn
	corr  int32
	id    string
	epoch int32
	owned map[[16]byte][]int32
}

func (m *cgMember) heartbeat(group string, mutate func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.SetVersion(1)
	req.Group, req.MemberID, req.MemberEpoch = group, m.id, m.epoch
	req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for id, ps := range m.owned {
		req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: ps})
	}
	if mutate != nil {
		mutate(req)
	}
	m.corr++
	resp := rawRequest(m.t, m.c, m.corr, req).(*kmsg.ConsumerGroupHeartbeatResponse)
	if resp.ErrorCode != 0 {
		m.t.Fatalf("member %s heartbeat: %v", m.id, kerr.ErrorForCode(resp.ErrorCode))
	}
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		// The member takes what it is given at once: a real client
		// would first finish processing revoked partitions.
		m.owned = map[[16]byte][]int32{}
		for _, t := range resp.Assignment.Topics {
			m.owned[t.TopicID] = t.Partitions
		}
	}
	return resp
}

func (m *cgMember) count() int {
	n := 0
	for _, ps := range m.owned {
		n += len(ps)
	}
	return n
}

// TestConsumerGroupHeartbeatProtocol drives two KIP-848 members with raw
// requests: the first gets every partition; when the second joins, the
// first must revoke before the second receives the revoked partitions;
// the assignment converges to 3+3 at the same epoch; and a regex
// subscription picks up a topic created later.
func TestConsumerGroupHeartbeatProtocol(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if _, err := tb.admin().CreateTopic(ctx, 6, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	a := &cgMember{t: t, c: tb.dial(), id: "member-a"}
	b := &cgMember{t: t, c: tb.dial(), id: "member-b"}
	join := func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.RebalanceTimeoutMillis = 30000
		r.SubscribedTopicRegex = kmsg.StringPtr("orders.*")
	}
	a.heartbeat("cg", join)
	if a.count() != 6 || a.epoch != 1 {
		t.Fatalf("first member owns %d partitions at epoch %d", a.count(), a.epoch)
	}
	b.heartbeat("cg", join)
	if b.count() != 0 {
		t.Fatalf("second member got %d partitions before the first revoked", b.count())
	}
	// a is told to keep 3; until it reports them released, b gets none.
	before := a.epoch
	a.heartbeat("cg", func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		// Report the old ownership: revocation not yet done.
		r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{{TopicID: tb.lookupTopic("orders").id, Partitions: []int32{0, 1, 2, 3, 4, 5}}}
	})
	if a.count() != 3 || a.epoch != before {
		t.Fatalf("revoking member owns %d at epoch %d (was %d)", a.count(), a.epoch, before)
	}
	b.heartbeat("cg", func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.Topics = nil })
	if b.count() != 0 {
		t.Fatalf("partitions reassigned before revocation: %v", b.owned)
	}
	a.heartbeat("cg", nil) // now reports 3 owned: revocation done
	b.heartbeat("cg", nil)
	if a.count() != 3 || b.count() != 3 || a.epoch != b.epoch {
		t.Fatalf("not converged: a %v@%d b %v@%d", a.owned, a.epoch, b.owned, b.epoch)
	}
	for _, p := range b.owned[tb.lookupTopic("orders").id] {
		if slices.Contains(a.owned[tb.lookupTopic("orders").id], p) {
			t.Fatalf("partition %d owned twice", p)
		}
	}
	// A new topic matching the regex is assigned on the next heartbeats.
	if _, err := tb.admin().CreateTopic(ctx, 2, 1, nil, "orders-eu"); err != nil {
		t.Fatal(err)
	}
	a.heartbeat("cg", nil)
	b.heartbeat("cg", nil)
	a.heartbeat("cg", nil)
	b.heartbeat("cg", nil)
	if a.count()+b.count() != 8 {
		t.Fatalf("regex subscription: a %v b %v", a.owned, b.owned)
	}
	desc := kmsg.NewPtrConsumerGroupDescribeRequest()
	desc.Groups = []string{"cg"}
	a.corr++
	dr := rawRequest(t, a.c, a.corr, desc).(*kmsg.ConsumerGroupDescribeResponse)
	if g := dr.Groups[0]; g.ErrorCode != 0 || g.State != "Stable" || len(g.Members) != 2 {
		t.Fatalf("describe: %+v", g)
	}
	// b leaves; a gets everything back.
	b.epoch = -1
	b.heartbeat("cg", nil)
	a.heartbeat("cg", nil)
	if a.count() != 8 {
		t.Fatalf("after leave a owns %d", a.count())
	}
}
