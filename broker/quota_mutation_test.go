package broker

import (
	"errors"
	"log/slog"
	"net"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

// TestTokenBucketMutations checks the controller mutation quota against
// hand-computed token counts: a new bucket holds quota × quota.window.num
// × window seconds; a strict quota admits while the bucket is not
// negative and throttles for the time to refill to zero; a permissive
// one admits everything; the bucket refills at the quota up to the burst.
// It also checks that a user quota is shared by the user's client ids and
// that clients without a quota are not limited.
func TestTokenBucketMutations(t *testing.T) {
	q := newQuotaManager(11, time.Second)
	q.cfg.Store(newQuotaConfig(quotaImageOf(t, map[string]map[string]float64{
		"user=alice":  {quotaControllerMutationRate: 2},
		"client-id=x": {quotaProducerByteRate: 100},
	}), nil))
	var now atomic.Int64
	now.Store(1_000_000)
	clock := now.Load

	strict := q.newMutationQuota("alice", "app1", true, clock)
	for i, want := range []bool{true, true, true, false, false} {
		if got := strict.admit(10); got != want {
			t.Fatalf("strict topic %d of 10 partitions: admitted %v, want %v", i, got, want)
		}
	}
	// 22 - 30 = -8 tokens: 4 s at 2/s.
	if got := strict.throttleTime(); got != 4000 {
		t.Fatalf("strict throttle %d ms, want 4000", got)
	}
	now.Add(1000)
	if got := strict.throttleTime(); got != 3000 {
		t.Fatalf("throttle a second later %d ms, want 3000", got)
	}
	// Another client id of alice shares the bucket (-6 now).
	perm := q.newMutationQuota("alice", "app2", false, clock)
	if !perm.admit(4) {
		t.Fatal("a permissive quota refused")
	}
	if got := perm.throttleTime(); got != 5000 {
		t.Fatalf("permissive throttle %d ms, want 5000 (-10 tokens)", got)
	}
	// A client under no controller_mutation_rate is not limited.
	if free := q.newMutationQuota("bob", "x", true, clock); !free.admit(1000) || free.throttleTime() != 0 {
		t.Fatal("a client without a quota was limited")
	}
	// 5 s later the bucket is at 0: admitted (not negative before).
	now.Add(5000)
	s2 := q.newMutationQuota("alice", "app1", true, clock)
	if !s2.admit(1) || s2.throttleTime() != 0 {
		t.Fatalf("at 0 tokens: refused or throttled %d", s2.throttleTime())
	}
	// The refill stops at the burst: an hour later, 22 fit and 23 drive
	// the bucket to -1 (500 ms).
	now.Add(3600_000)
	s3 := q.newMutationQuota("alice", "app1", false, clock)
	s3.admit(23)
	if got := s3.throttleTime(); got != 500 {
		t.Fatalf("after a full refill, 23 partitions: throttle %d, want 500", got)
	}
	// Without any controller_mutation_rate there is no quota object.
	q.cfg.Store(newQuotaConfig(nil, nil))
	if m := q.newMutationQuota("alice", "app1", true, clock); m != nil || !m.admit(1e9) || m.throttleTime() != 0 {
		t.Fatal("a quota applies with none set")
	}
}

// startBrokerClock starts a test broker whose quota clock only moves when
// the test advances it (the rest of the broker keeps real time, so that
// its registration does not lapse).
func startBrokerClock(t *testing.T) (*testBroker, *atomic.Int64) {
	t.Helper()
	var offset atomic.Int64
	base := time.Now()
	b, err := New(Config{
		NodeID:    1,
		DataDir:   t.TempDir(),
		Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.quotas.clock = func() time.Time { return base.Add(time.Duration(offset.Load())) }
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &testBroker{Broker: b, t: t, addr: b.Addrs()[0].String()}, &offset
}

type topicResult struct {
	code int16
	msg  string
}

func createTopicsAs(t *testing.T, c net.Conn, client string, version int16, validateOnly bool, partitions int32, names ...string) (map[string]topicResult, int32) {
	t.Helper()
	r := kmsg.NewPtrCreateTopicsRequest()
	r.Version, r.TimeoutMillis, r.ValidateOnly = version, 5000, validateOnly
	for _, n := range names {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = n, partitions, 1
		r.Topics = append(r.Topics, rt)
	}
	resp := requestAs(t, c, client, 1, r).(*kmsg.CreateTopicsResponse)
	out := map[string]topicResult{}
	for _, st := range resp.Topics {
		out[st.Topic] = topicResult{st.ErrorCode, deref(st.ErrorMessage)}
	}
	return out, resp.ThrottleMillis
}

func deleteTopicsAs(t *testing.T, c net.Conn, client string, version int16, names ...string) (map[string]topicResult, int32) {
	t.Helper()
	r := kmsg.NewPtrDeleteTopicsRequest()
	r.Version, r.TimeoutMillis, r.TopicNames = version, 5000, names
	resp := requestAs(t, c, client, 1, r).(*kmsg.DeleteTopicsResponse)
	out := map[string]topicResult{}
	for _, st := range resp.Topics {
		out[deref(st.Topic)] = topicResult{st.ErrorCode, deref(st.ErrorMessage)}
	}
	return out, resp.ThrottleMillis
}

func createPartitionsAs(t *testing.T, c net.Conn, client string, version int16, validateOnly bool, counts map[string]int32) (map[string]topicResult, int32) {
	t.Helper()
	r := kmsg.NewPtrCreatePartitionsRequest()
	r.Version, r.TimeoutMillis, r.ValidateOnly = version, 5000, validateOnly
	var names []string
	for n := range counts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = n, counts[n]
		r.Topics = append(r.Topics, rt)
	}
	resp := requestAs(t, c, client, 1, r).(*kmsg.CreatePartitionsResponse)
	out := map[string]topicResult{}
	for _, st := range resp.Topics {
		out[st.Topic] = topicResult{st.ErrorCode, deref(st.ErrorMessage)}
	}
	return out, resp.ThrottleMillis
}

// wantCodes checks each topic's error code; a THROTTLING_QUOTA_EXCEEDED
// carries Kafka's message.
func wantCodes(t *testing.T, what string, got map[string]topicResult, want map[string]int16) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d topics answered, want %d: %v", what, len(got), len(want), got)
	}
	for n, code := range want {
		r := got[n]
		if r.code != code {
			t.Fatalf("%s: topic %s code %d (%s), want %d; all: %v", what, n, r.code, r.msg, code, got)
		}
		if code == kerr.ThrottlingQuotaExceeded.Code && r.msg != "The throttling quota has been exceeded." {
			t.Fatalf("%s: topic %s message %q", what, n, r.msg)
		}
	}
}

// TestControllerMutationQuota runs KIP-599 over the wire with a clock the
// test moves, controller_mutation_rate=2 for client id cm (a burst of 22
// partitions). Strict versions (CreateTopics v7, DeleteTopics v5,
// CreatePartitions v3) apply the topics taken while the bucket was not
// negative and refuse the rest with THROTTLING_QUOTA_EXCEEDED; permissive
// ones (CreateTopics v5, DeleteTopics v4, CreatePartitions v2) apply
// everything; both answer the time until the bucket is back at zero as
// throttle_time_ms and mute the connection. validate_only counts nothing,
// and another client id is not limited.
func TestControllerMutationQuota(t *testing.T) {
	tb, clock := startBrokerClock(t)
	ctx := testCtx(t)
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=cm"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaControllerMutationRate, 2)}})
	ok, throttled := int16(0), kerr.ThrottlingQuotaExceeded.Code
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	exists := func(names ...string) {
		t.Helper()
		for _, n := range names {
			if tb.lookupTopic(n) == nil {
				t.Fatalf("topic %s does not exist", n)
			}
		}
	}
	gone := func(names ...string) {
		t.Helper()
		for _, n := range names {
			if tb.lookupTopic(n) != nil {
				t.Fatalf("topic %s exists", n)
			}
		}
	}

	// validate_only takes no tokens: 100 partitions pass twice.
	for range 2 {
		res, th := createTopicsAs(t, tb.dial(), "cm", 7, true, 50, "v1", "v2")
		wantCodes(t, "validate_only", res, map[string]int16{"v1": ok, "v2": ok})
		if th != 0 {
			t.Fatalf("validate_only throttled %d ms", th)
		}
	}
	gone("v1", "v2")

	// Strict: 22 → 12 → 2 → -8; d and e refused; 8 tokens at 2/s = 4 s.
	c := tb.dial()
	res, th := createTopicsAs(t, c, "cm", 7, false, 10, "a", "b", "c", "d", "e")
	wantCodes(t, "strict create", res, map[string]int16{"a": ok, "b": ok, "c": ok, "d": throttled, "e": throttled})
	if th != 4000 {
		t.Fatalf("strict create: throttle_time_ms %d, want 4000", th)
	}
	exists("a", "b", "c")
	gone("d", "e")
	// The connection is muted for the throttle time.
	start := time.Now()
	rawMetadata(t, c, "cm", 2)
	if waited := time.Since(start); waited < 4000*time.Millisecond-muteSlack {
		t.Fatalf("next request answered after %v on a connection throttled for 4 s", waited)
	}

	// Another client id is not limited.
	res, th = createTopicsAs(t, tb.dial(), "free", 7, false, 10, "g", "h")
	wantCodes(t, "other client", res, map[string]int16{"g": ok, "h": ok})
	if th != 0 {
		t.Fatalf("a client without the quota was throttled %d ms", th)
	}

	// Permissive (v5): created anyway; -8 - 10 = -18 tokens: 9 s.
	res, th = createTopicsAs(t, tb.dial(), "cm", 5, false, 10, "f")
	wantCodes(t, "permissive create", res, map[string]int16{"f": ok})
	if th != 9000 {
		t.Fatalf("permissive create: throttle_time_ms %d, want 9000", th)
	}
	exists("f")

	// 9 s later the bucket is at 0. Strict delete: a (10 partitions) is
	// deleted (0 is not negative), b refused: -10 tokens, 5 s.
	advance(9 * time.Second)
	res, th = deleteTopicsAs(t, tb.dial(), "cm", 5, "a", "b")
	wantCodes(t, "strict delete", res, map[string]int16{"a": ok, "b": throttled})
	if th != 5000 {
		t.Fatalf("strict delete: throttle_time_ms %d, want 5000", th)
	}
	gone("a")
	exists("b")
	// Permissive delete (v4): b deleted, -20 tokens: 10 s.
	res, th = deleteTopicsAs(t, tb.dial(), "cm", 4, "b")
	wantCodes(t, "permissive delete", res, map[string]int16{"b": ok})
	if th != 10000 {
		t.Fatalf("permissive delete: throttle_time_ms %d, want 10000", th)
	}
	gone("b")

	// A minute later the bucket is full again (22). validate_only adds
	// nothing; strict: c +20 (→ 2), f +10 (→ -8), g +5 refused: 4 s.
	advance(time.Minute)
	res, th = createPartitionsAs(t, tb.dial(), "cm", 3, true, map[string]int32{"c": 1000})
	wantCodes(t, "validate_only partitions", res, map[string]int16{"c": ok})
	if th != 0 {
		t.Fatalf("validate_only partitions throttled %d ms", th)
	}
	res, th = createPartitionsAs(t, tb.dial(), "cm", 3, false, map[string]int32{"c": 30, "f": 20, "g": 15})
	wantCodes(t, "strict partitions", res, map[string]int16{"c": ok, "f": ok, "g": throttled})
	if th != 4000 {
		t.Fatalf("strict partitions: throttle_time_ms %d, want 4000", th)
	}
	if c, f, g := tb.lookupTopic("c").numPartitions(), tb.lookupTopic("f").numPartitions(), tb.lookupTopic("g").numPartitions(); c != 30 || f != 20 || g != 10 {
		t.Fatalf("partitions c %d f %d g %d, want 30 20 10", c, f, g)
	}
	// Permissive (v2): g +5 applied, -13 tokens: 6.5 s.
	res, th = createPartitionsAs(t, tb.dial(), "cm", 2, false, map[string]int32{"g": 15})
	wantCodes(t, "permissive partitions", res, map[string]int16{"g": ok})
	if th != 6500 {
		t.Fatalf("permissive partitions: throttle_time_ms %d, want 6500", th)
	}
	if g := tb.lookupTopic("g").numPartitions(); g != 15 {
		t.Fatalf("g has %d partitions, want 15", g)
	}

	sc := gatherScrape(t, tb)
	labels := []string{"quota", "controller_mutation", "user", "", "client_id", "cm"}
	// Throttled responses: strict create, permissive create, both
	// deletes, both partition requests.
	if v := sc.must(t, "skein_quota_throttled_responses_total", labels...); v != 6 {
		t.Errorf("%v throttled responses, want 6", v)
	}
	if v := sc.must(t, "skein_quota_throttle_time_seconds_total", labels...); v != 4+9+5+10+4+6.5 {
		t.Errorf("throttle time %v s", v)
	}
	if v := sc.must(t, "skein_quota_limit", labels...); v != 2 {
		t.Errorf("limit %v", v)
	}
	if v := sc.must(t, "skein_quota_controller_mutation_tokens", "user", "", "client_id", "cm"); v != -13 {
		t.Errorf("tokens %v, want -13", v)
	}
	if v := sc.must(t, "skein_quota_usage", labels...); v <= 0 {
		t.Errorf("mutation rate %v", v)
	}
}

// TestControllerMutationQuotaFranzGo shows what a franz-go admin client
// sees: kadm sends CreateTopics v7, and the topics past the quota come
// back with kerr.ThrottlingQuotaExceeded. franz-go does not retry them
// (it retries an admin request only on NOT_CONTROLLER), so the error
// reaches the application, which may retry after the throttle.
func TestControllerMutationQuotaFranzGo(t *testing.T) {
	tb, _ := startBrokerClock(t)
	ctx := testCtx(t)
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=limited-admin"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaControllerMutationRate, 2)}})
	adm := kadm.NewClient(tb.client(kgo.ClientID("limited-admin")))
	resps, err := adm.CreateTopics(ctx, 10, 1, nil, "k1", "k2", "k3", "k4")
	if err != nil {
		t.Fatal(err)
	}
	var created, refused int
	for _, r := range resps.Sorted() {
		switch {
		case r.Err == nil:
			created++
		case errors.Is(r.Err, kerr.ThrottlingQuotaExceeded):
			refused++
		default:
			t.Fatalf("topic %s: %v", r.Topic, r.Err)
		}
	}
	// 22 tokens: three topics of 10 fit (the third drives it to -8).
	if created != 3 || refused != 1 {
		t.Fatalf("%d created, %d refused; want 3 and 1", created, refused)
	}
}
