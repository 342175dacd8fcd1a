package broker

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

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

// aclExpectation is a denial the matrix expects in the audit log.
type aclExpectation struct {
	principal, operation, resourceType, resource string
	// host, when set, is the client address the denial must name.
	host string
}

// TestACLMatrix is the acceptance test of authorization and its audit
// trail. Clients authenticate with SASL/PLAIN as real principals; each row
// of the matrix exercises one rule over topics, groups, the cluster and
// transactional ids: WRITE to produce (and nothing written without it),
// DESCRIBE to see a topic (the same answer for existing and missing
// topics), READ to fetch, literal, prefixed and wildcard ('*') patterns,
// DENY over ALLOW, host-specific bindings, group READ to commit, WRITE on
// a transactional id for transactions, and IDEMPOTENT_WRITE on the cluster
// or WRITE on some topic for idempotent producers (Kafka's KIP-679 rule).
// Every denial is then found in the audit topic, read by the super user,
// with its principal, operation, resource and host; and administrative
// changes appear there with their results.
func TestACLMatrix(t *testing.T) {
	ctx := testCtx(t)
	tb := startSASLACLBroker(t, t.TempDir(), map[string]string{config.GroupInitialRebalanceDelayMs: "0"})
	adm := kadm.NewClient(tb.saslClient("admin"))
	topics := []string{"phi-records", "phi-secret", "other", "ops-metrics"}
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, topics...); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*kadm.ACLBuilder{
		// alice: READ and WRITE on every phi- topic (prefixed), but a
		// DENY of everything on phi-secret (literal); READ on her
		// alice- groups; WRITE on her transactional id.
		kadm.NewACLs().Topics("phi-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpRead, kadm.OpWrite),
		kadm.NewACLs().Topics("phi-secret").Deny("User:alice").Operations(kadm.OpAll),
		kadm.NewACLs().Groups("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpRead),
		kadm.NewACLs().TransactionalIDs("alice-tx").Allow("User:alice").Operations(kadm.OpWrite),
		// bob: DESCRIBE only, on phi-records.
		kadm.NewACLs().Topics("phi-records").Allow("User:bob").Operations(kadm.OpDescribe),
		// carol: WRITE on every topic (the literal wildcard), but not to
		// other from 127.0.0.2.
		kadm.NewACLs().Topics("*").Allow("User:carol").Operations(kadm.OpWrite),
		kadm.NewACLs().Topics("other").Deny("User:carol").DenyHosts("127.0.0.2").Operations(kadm.OpWrite),
		// dave: may see ops-metrics, and write to it from 127.0.0.2
		// only.
		kadm.NewACLs().Topics("ops-metrics").Allow("User:dave").Operations(kadm.OpDescribe),
		kadm.NewACLs().Topics("ops-metrics").Allow("User:dave").AllowHosts("127.0.0.2").Operations(kadm.OpWrite),
		// frank: IDEMPOTENT_WRITE on the cluster, nothing else. erin:
		// nothing at all.
		kadm.NewACLs().Clusters().Allow("User:frank").Operations(kadm.OpIdempotentWrite),
	} {
		mustCreateACLs(t, ctx, adm, b)
	}

	var expect []aclExpectation
	deny := func(principal, op, rt, name string) {
		expect = append(expect, aclExpectation{principal: "User:" + principal, operation: op, resourceType: rt, resource: name})
	}
	denyFrom := func(principal, op, rt, name, host string) {
		expect = append(expect, aclExpectation{principal: "User:" + principal, operation: op, resourceType: rt, resource: name, host: host})
	}

	// Produce. A producer without DESCRIBE is refused at its Metadata
	// request; one with DESCRIBE but not WRITE at its Produce.
	produce := func(user, topic string, opts ...kgo.Opt) error {
		cl := tb.saslClient(user, append([]kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RecordRetries(0)}, opts...)...)
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(user)}).FirstErr()
	}
	for _, c := range []struct {
		name, user, topic, host string
		allowed                 bool
		// denied is the operation refused; empty when allowed.
		denied string
	}{
		{name: "prefixed ALLOW grants", user: "alice", topic: "phi-records", allowed: true},
		{name: "DENY overrides ALLOW", user: "alice", topic: "phi-secret", denied: "Describe"},
		{name: "no ACL", user: "alice", topic: "other", denied: "Describe"},
		{name: "DESCRIBE without WRITE", user: "bob", topic: "phi-records", denied: "Write"},
		{name: "nothing at all", user: "erin", topic: "phi-records", denied: "Describe"},
		{name: "wildcard ALLOW grants", user: "carol", topic: "other", allowed: true},
		{name: "host DENY", user: "carol", topic: "other", host: "127.0.0.2", denied: "Write"},
		{name: "host ALLOW, other host", user: "dave", topic: "ops-metrics", denied: "Write"},
		{name: "host ALLOW", user: "dave", topic: "ops-metrics", host: "127.0.0.2", allowed: true},
		{name: "super user", user: "admin", topic: "phi-secret", allowed: true},
	} {
		var opts []kgo.Opt
		host := "127.0.0.1"
		if c.host != "" {
			opts, host = append(opts, fromHost(c.host)), c.host
		}
		err := produce(c.user, c.topic, opts...)
		switch {
		case c.allowed && err != nil:
			t.Errorf("produce %s: %s to %s from %s: %v", c.name, c.user, c.topic, host, err)
		case !c.allowed && !errors.Is(err, kerr.TopicAuthorizationFailed):
			t.Errorf("produce %s: %s to %s from %s: %v, want TOPIC_AUTHORIZATION_FAILED", c.name, c.user, c.topic, host, err)
		case !c.allowed:
			denyFrom(c.user, c.denied, "Topic", c.topic, host)
		}
	}
	// Exactly the allowed records were written.
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]int64{"phi-records": 1, "phi-secret": 1, "other": 1, "ops-metrics": 1} {
		if o, _ := ends.Lookup(topic, 0); o.Offset != want {
			t.Errorf("%s end offset %d, want %d", topic, o.Offset, want)
		}
	}

	// Fetch needs READ.
	fetch := func(user, topic string) int16 {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionEpoch = 1<<20, -1
		req.Topics = []kmsg.FetchRequestTopic{{Topic: topic, TopicID: tb.lookupTopic(topic).id, Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}}}}
		resp, err := req.RequestWith(ctx, tb.saslClient(user))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := fetch("alice", "phi-records"); code != 0 {
		t.Errorf("alice fetch: error %d", code)
	}
	if code := fetch("bob", "phi-records"); code != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("bob fetch with DESCRIBE only: error %d", code)
	}
	deny("bob", "Read", "Topic", "phi-records")

	// Metadata of all topics lists what the principal may DESCRIBE
	// (READ, WRITE, DELETE and ALTER imply it); the audit topic only to
	// super users and principals an ACL names (carol's wildcard).
	visible := func(user string) []string {
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, tb.saslClient(user))
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
	everything := append(slices.Clone(topics), config.DefaultAuditTopic)
	sort.Strings(everything)
	for user, want := range map[string][]string{
		"alice": {"phi-records"},
		"bob":   {"phi-records"},
		"dave":  {"ops-metrics"},
		"erin":  nil,
		"carol": everything,
		"admin": everything,
	} {
		if got := visible(user); !slices.Equal(got, want) {
			t.Errorf("%s sees %v, want %v", user, got, want)
		}
	}
	// A named topic without DESCRIBE: the same answer whether it exists
	// or not, and nothing is auto-created.
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("phi-records")}, {Topic: kmsg.StringPtr("no-such-topic")}}
	resp, err := req.RequestWith(ctx, tb.saslClient("erin"))
	if err != nil {
		t.Fatal(err)
	}
	existing, missing := resp.Topics[0], resp.Topics[1]
	if existing.ErrorCode != kerr.TopicAuthorizationFailed.Code || len(existing.Partitions) != 0 || existing.TopicID != [16]byte{} {
		t.Errorf("erin named phi-records: %+v", existing)
	}
	existing.Topic, missing.Topic = nil, nil
	if !reflect.DeepEqual(existing, missing) {
		t.Errorf("existing and missing topics answered differently:\n%+v\n%+v", existing, missing)
	}
	if tb.lookupTopic("no-such-topic") != nil {
		t.Error("no-such-topic was created")
	}
	deny("erin", "Describe", "Topic", "phi-records")
	deny("erin", "Describe", "Topic", "no-such-topic")

	// Groups: committing needs READ on the group and on each topic. The
	// requests go to the broker directly, past FindCoordinator.
	direct := func(user string) *kgo.Broker {
		cl := tb.saslClient(user)
		if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
		return cl.Broker(1)
	}
	commit := func(user, group, topic string) (groupCode, topicCode int16) {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, -1
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
		r, err := direct(user).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		code := r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		if code == kerr.GroupAuthorizationFailed.Code {
			return code, 0
		}
		return 0, code
	}
	for _, c := range []struct {
		user, group, topic   string
		groupCode, topicCode int16
	}{
		{"alice", "alice-etl", "phi-records", 0, 0},
		{"alice", "alice-etl", "other", 0, kerr.TopicAuthorizationFailed.Code},
		{"alice", "team", "phi-records", kerr.GroupAuthorizationFailed.Code, 0},
		{"bob", "alice-etl", "phi-records", kerr.GroupAuthorizationFailed.Code, 0},
	} {
		g, tc := commit(c.user, c.group, c.topic)
		if g != c.groupCode || tc != c.topicCode {
			t.Errorf("%s commits %s/%s: group error %d, topic error %d; want %d, %d", c.user, c.group, c.topic, g, tc, c.groupCode, c.topicCode)
		}
		switch {
		case c.groupCode != 0:
			deny(c.user, "Read", "Group", c.group)
		case c.topicCode != 0:
			deny(c.user, "Read", "Topic", c.topic)
		}
	}
	// A real consumer group of alice's: join, sync, fetch and commit.
	consumer := tb.saslClient("alice", kgo.ConsumerGroup("alice-consumers"), kgo.ConsumeTopics("phi-records"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if fs := consumer.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() != 1 {
		t.Fatalf("alice's consumer: %v, %d records", fs.Err0(), fs.NumRecords())
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice's commit: %v", err)
	}
	offsets, err := adm.FetchOffsets(ctx, "alice-consumers")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offsets.Lookup("phi-records", 0); o.At != 1 {
		t.Errorf("alice-consumers committed %d, want 1", o.At)
	}
	consumer.Close()

	// Transactions need WRITE on the transactional id.
	txn := tb.saslClient("alice", kgo.TransactionalID("alice-tx"), kgo.RecordRetries(0))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, &kgo.Record{Topic: "phi-records", Value: []byte("in a transaction")}).FirstErr(); err != nil {
		t.Fatalf("alice's transactional produce: %v", err)
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("alice's commit: %v", err)
	}
	initPID := func(user string, txnID *string) int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = txnID
		req.ProducerID, req.ProducerEpoch, req.TransactionTimeoutMillis = -1, -1, 60000
		r, err := direct(user).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.InitProducerIDResponse).ErrorCode
	}
	if code := initPID("alice", kmsg.StringPtr("bob-tx")); code != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("alice init producer id for bob-tx: error %d", code)
	}
	deny("alice", "Write", "TransactionalId", "bob-tx")
	// Idempotent producers: IDEMPOTENT_WRITE on the cluster, or WRITE
	// on any topic.
	for user, want := range map[string]int16{"frank": 0, "alice": 0, "carol": 0, "bob": kerr.ClusterAuthorizationFailed.Code, "erin": kerr.ClusterAuthorizationFailed.Code} {
		if code := initPID(user, nil); code != want {
			t.Errorf("%s idempotent init producer id: error %d, want %d", user, code, want)
		}
	}
	deny("bob", "Write", "Topic", "*")
	deny("erin", "Write", "Topic", "*")

	// Cluster: creating topics needs CREATE, ACLs ALTER on the cluster.
	aliceAdm := kadm.NewClient(tb.saslClient("alice"))
	if res, err := aliceAdm.CreateTopics(ctx, 1, 1, nil, "phi-new"); err != nil || !errors.Is(res["phi-new"].Err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice creates a topic: %v %v", err, res["phi-new"].Err)
	}
	deny("alice", "Create", "Topic", "phi-new")
	if res, err := aliceAdm.CreateACLs(ctx, kadm.NewACLs().Topics("other").Allow("User:alice").Operations(kadm.OpAll)); err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice creates an ACL: %v %+v", err, res)
	}
	deny("alice", "Alter", "Cluster", "kafka-cluster")
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "phi-new"); err != nil {
		t.Fatal(err)
	}

	// The audit trail, read by the super user.
	ar := tb.auditReader(t, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism()))
	for _, e := range expect {
		what := e.principal + " " + e.operation + " " + e.resourceType + " " + e.resource
		ev := ar.await(ctx, what, denial(e.principal, e.operation, e.resourceType, e.resource))
		if e.host != "" && ev.Data.AuthorizationInfo.Host != e.host {
			// Several denials may match; find the one from the host.
			ar.await(ctx, what+" from "+e.host, func(ev *auditEvent) bool {
				return denial(e.principal, e.operation, e.resourceType, e.resource)(ev) && ev.Data.AuthorizationInfo.Host == e.host && ev.Data.RequestMetadata.ClientAddress == e.host
			})
		}
	}
	// The DENY binding that refused alice is named.
	ev := ar.await(ctx, "alice's DENY", denial("User:alice", "Describe", "Topic", "phi-secret"))
	if a := ev.Data.AuthorizationInfo.ACLAuthorization; ev.Data.AuthorizationInfo.Rule != "MatchingAcl" || a == nil || a.PermissionType != "DENY" || a.Operation != "All" || a.ResourceName != "phi-secret" {
		t.Errorf("alice's DENY: %+v %+v", ev.Data.AuthorizationInfo, a)
	}
	// Administrative changes with their results: the ACLs created above,
	// alice's refused creations, the super user's topic.
	ev = ar.await(ctx, "CreateAcls of carol's host DENY", func(ev *auditEvent) bool {
		d, _ := ev.Data.Request.Data.(map[string]any)
		a, _ := d["acl"].(map[string]any)
		return adminEvent("User:admin", "kafka.CreateAcls", "", auditSuccess)(ev) && a["principal"] == "User:carol" && a["host"] == "127.0.0.2" && a["permissionType"] == "DENY"
	})
	if ev.Data.Result.ErrorCode != 0 {
		t.Errorf("CreateAcls result %+v", ev.Data.Result)
	}
	ar.await(ctx, "alice's refused CreateAcls", func(ev *auditEvent) bool {
		return adminEvent("User:alice", "kafka.CreateAcls", "", auditFailure)(ev) && ev.Data.Result.Error == "CLUSTER_AUTHORIZATION_FAILED"
	})
	ar.await(ctx, "alice's refused CreateTopics", func(ev *auditEvent) bool {
		return adminEvent("User:alice", "kafka.CreateTopics", "/topic=phi-new", auditFailure)(ev) && ev.Data.Result.Error == "TOPIC_AUTHORIZATION_FAILED"
	})
	ar.await(ctx, "admin's CreateTopics", adminEvent("User:admin", "kafka.CreateTopics", "/topic=phi-new", auditSuccess))
	// Granted authorizations are not logged by default.
	if i := ar.index(func(ev *auditEvent) bool {
		return ev.Data.AuthorizationInfo != nil && ev.Data.AuthorizationInfo.Granted
	}); i >= 0 {
		t.Errorf("a granted authorization was logged: %s", ar.raw[i])
	}
}

// TestAuditLogAllowed checks skein.audit.log.allowed: granted
// authorizations are logged too, with the binding or super user rule that
// granted them.
func TestAuditLogAllowed(t *testing.T) {
	ctx := testCtx(t)
	tb := startSASLACLBroker(t, t.TempDir(), map[string]string{config.AuditLogAllowed: "true"})
	adm := kadm.NewClient(tb.saslClient("admin"))
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "vitals"); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("vit").ResourcePatternType(kadm.ACLPatternPrefixed).Allow("User:alice").Operations(kadm.OpWrite))
	if err := tb.saslClient("alice", kgo.DisableIdempotentWrite()).ProduceSync(ctx, &kgo.Record{Topic: "vitals", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ar := tb.auditReader(t, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism()))
	ev := ar.await(ctx, "alice's granted WRITE", func(ev *auditEvent) bool {
		ai := ev.Data.AuthorizationInfo
		return ai != nil && ai.Granted && ev.Data.AuthenticationInfo.Principal == "User:alice" && ai.Operation == "Write" && ai.ResourceName == "vitals"
	})
	if a := ev.Data.AuthorizationInfo.ACLAuthorization; ev.Data.Result.Status != auditAllowed || a == nil || a.PatternType != "PREFIXED" || a.ResourceName != "vit" || a.PermissionType != "ALLOW" {
		t.Errorf("granted event: %+v %+v", ev.Data, a)
	}
	ev = ar.await(ctx, "admin's ALTER of the cluster (CreateAcls)", func(ev *auditEvent) bool {
		ai := ev.Data.AuthorizationInfo
		return ai != nil && ai.Granted && ev.Data.AuthenticationInfo.Principal == "User:admin" && ai.Operation == "Alter" && ai.ResourceType == "Cluster"
	})
	if !ev.Data.AuthorizationInfo.SuperUserAuthorization || ev.Data.AuthorizationInfo.Rule != "SuperUser" {
		t.Errorf("super user grant: %+v", ev.Data.AuthorizationInfo)
	}
}
