package broker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// aclSettings turns the authorizer on with User:admin as the super user.
func aclSettings(extra map[string]string) map[string]string {
	s := map[string]string{
		config.AuthorizerClassName: config.StandardAuthorizer,
		config.SuperUsers:          "User:admin",
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// startACLBroker starts a broker with the StandardAuthorizer in dir. Until
// clients authenticate over SASL, a test client's principal is its client
// id: a client with id "alice" acts as User:alice (see aclClient).
func startACLBroker(t testing.TB, dir string, settings map[string]string) *testBroker {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("SKEIN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	b, err := New(Config{
		NodeID:    1,
		DataDir:   dir,
		Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:  settings,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.principalOf = func(s *protocol.Session) string { return "User:" + s.ClientID() }
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{Broker: b, t: t, dir: dir, addr: b.Addrs()[0].String(), setting: settings}
	t.Cleanup(func() { b.Close() })
	return tb
}

// aclClient returns a client acting as User:<user>.
func (tb *testBroker) aclClient(user string, opts ...kgo.Opt) *kgo.Client {
	return tb.client(append([]kgo.Opt{kgo.ClientID(user)}, opts...)...)
}

func (tb *testBroker) aclAdmin(user string) *kadm.Client {
	return kadm.NewClient(tb.aclClient(user))
}

// mustCreateACLs creates the builder's bindings as the super user.
func mustCreateACLs(t *testing.T, ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create acl %s %s %v: %v %s", r.Principal, r.Name, r.Operation, r.Err, r.ErrMessage)
		}
	}
}

// TestAuthorizeProduceFetchMetadata covers the topic checks of Produce,
// Fetch and Metadata: WRITE to produce (nothing written without it), READ
// to fetch, DESCRIBE to see a topic; prefixed ACLs, DENY over ALLOW and the
// super user bypass.
func TestAuthorizeProduceFetchMetadata(t *testing.T) {
	ctx := testCtx(t)
	tb := startACLBroker(t, t.TempDir(), aclSettings(map[string]string{config.AutoCreateTopicsEnable: "false"}))
	adm := tb.aclAdmin("admin")
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "phi-records", "phi-secret", "other"); err != nil {
		t.Fatal(err)
	}
	// alice: READ and WRITE on every phi- topic, but DENY on phi-secret.
	// bob: DESCRIBE only on phi-records.
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("phi-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpRead, kadm.OpWrite))
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("phi-secret").Deny("User:alice").Operations(kadm.OpAll))
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("phi-records").Allow("User:bob").Operations(kadm.OpDescribe))

	produce := func(user, topic string) error {
		cl := tb.aclClient(user, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.RetryTimeout(time.Second))
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	}
	if err := produce("alice", "phi-records"); err != nil {
		t.Fatalf("alice produce to phi-records: %v", err)
	}
	for _, c := range []struct{ user, topic string }{{"alice", "phi-secret"}, {"alice", "other"}, {"bob", "phi-records"}} {
		if err := produce(c.user, c.topic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("%s produce to %s: %v, want TOPIC_AUTHORIZATION_FAILED", c.user, c.topic, err)
		}
	}
	if err := produce("admin", "phi-secret"); err != nil {
		t.Fatalf("super user produce: %v", err)
	}
	// Nothing bob or alice were refused was written.
	ends, err := adm.ListEndOffsets(ctx, "phi-records", "phi-secret", "other")
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int64{"phi-records": 1, "phi-secret": 1, "other": 0} {
		if o, _ := ends.Lookup(topic, 0); o.Offset != want {
			t.Errorf("%s end offset %d, want %d", topic, o.Offset, want)
		}
	}

	// Fetch needs READ.
	fetch := func(user, topic string) error {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionEpoch = 1<<20, -1
		req.Topics = []kmsg.FetchRequestTopic{{Topic: topic, TopicID: tb.lookupTopic(topic).id, Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}}}}
		resp, err := req.RequestWith(ctx, tb.aclClient(user))
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	if err := fetch("alice", "phi-records"); err != nil {
		t.Fatalf("alice fetch: %v", err)
	}
	if err := fetch("bob", "phi-records"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob fetch with DESCRIBE only: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// Metadata: all topics lists only what the principal may DESCRIBE
	// (READ and WRITE imply it); a named topic without it is refused.
	visible := func(user string) []string {
		req := kmsg.NewPtrMetadataRequest()
		resp, err := req.RequestWith(ctx, tb.aclClient(user))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, mt := range resp.Topics {
			names = append(names, *mt.Topic)
		}
		sort.Strings(names)
		return names
	}
	if got := visible("alice"); !slices.Equal(got, []string{"phi-records"}) {
		t.Errorf("alice sees %v", got)
	}
	if got := visible("bob"); !slices.Equal(got, []string{"phi-records"}) {
		t.Errorf("bob sees %v", got)
	}
	if got := visible("carol"); len(got) != 0 {
		t.Errorf("carol sees %v", got)
	}
	if got := visible("admin"); !slices.Equal(got, []string{"other", "phi-records", "phi-secret"}) {
		t.Errorf("admin sees %v", got)
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("phi-secret")}}
	resp, err := req.RequestWith(ctx, tb.aclClient("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || len(resp.Topics[0].Partitions) != 0 {
		t.Errorf("alice named phi-secret: %+v", resp.Topics[0])
	}
}

// TestAuthorizeAllowEveryoneIfNoACL: with allow.everyone.if.no.acl.found a
// topic without any ACL is open to all, and one ACL on it closes it to
// everyone else.
func TestAuthorizeAllowEveryoneIfNoACL(t *testing.T) {
	ctx := testCtx(t)
	tb := startACLBroker(t, t.TempDir(), aclSettings(map[string]string{config.AllowEveryoneIfNoACLFound: "true"}))
	adm := tb.aclAdmin("admin")
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "open", "closed"); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("closed").Allow("User:alice").Operations(kadm.OpWrite))
	produce := func(user, topic string) error {
		cl := tb.aclClient(user, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.RetryTimeout(time.Second))
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	}
	if err := produce("bob", "open"); err != nil {
		t.Fatalf("bob to a topic without ACLs: %v", err)
	}
	if err := produce("alice", "closed"); err != nil {
		t.Fatalf("alice to closed: %v", err)
	}
	if err := produce("bob", "closed"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob to closed: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// TestAuthorizeGroupAndIdempotence: joining a group and committing offsets
// need READ on the group (and READ on the topic to commit); an idempotent
// producer id needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
func TestAuthorizeGroupAndIdempotence(t *testing.T) {
	ctx := testCtx(t)
	tb := startACLBroker(t, t.TempDir(), aclSettings(nil))
	adm := tb.aclAdmin("admin")
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Groups("g").Allow("User:alice").Operations(kadm.OpRead))
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("events").Allow("User:alice").Operations(kadm.OpWrite))
	join := func(user string) int16 {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = "g", 10000, 10000, "consumer"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
		resp, err := req.RequestWith(ctx, tb.aclClient(user))
		if errors.Is(err, kerr.GroupAuthorizationFailed) {
			return kerr.GroupAuthorizationFailed.Code // refused by FindCoordinator
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	if code := join("bob"); code != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("bob join: error %d, want GROUP_AUTHORIZATION_FAILED", code)
	}
	if code := join("alice"); code == kerr.GroupAuthorizationFailed.Code {
		t.Fatal("alice join refused")
	}
	commit := func(user string) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "g", -1
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "events", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}}}
		resp, err := req.RequestWith(ctx, tb.aclClient(user))
		if errors.Is(err, kerr.GroupAuthorizationFailed) {
			return kerr.GroupAuthorizationFailed.Code // refused by FindCoordinator
		}
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	// alice has READ on the group but only WRITE on the topic.
	if code := commit("alice"); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("alice commit: error %d, want TOPIC_AUTHORIZATION_FAILED", code)
	}
	if code := commit("bob"); code != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("bob commit: error %d, want GROUP_AUTHORIZATION_FAILED", code)
	}
	initPID := func(user string) int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.ProducerID, req.ProducerEpoch, req.TransactionTimeoutMillis = -1, -1, 60000
		resp, err := req.RequestWith(ctx, tb.aclClient(user))
		if err != nil {
			t.Fatal(err)
		}
		return resp.ErrorCode
	}
	if code := initPID("alice"); code != 0 {
		t.Fatalf("alice (WRITE on a topic) init producer id: error %d", code)
	}
	if code := initPID("bob"); code != kerr.ClusterAuthorizationFailed.Code {
		t.Fatalf("bob init producer id: error %d, want CLUSTER_AUTHORIZATION_FAILED", code)
	}
}
