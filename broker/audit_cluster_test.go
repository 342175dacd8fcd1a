package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// startAuditCluster starts brokers 1..n sharing one metadata store, each
// with the StandardAuthorizer and two listeners: BROKER (PLAINTEXT), the
// inter-broker listener, whose connections act as User:ANONYMOUS, a super
// user as brokers are (except a client with id "mallory", which acts as
// User:mallory); and SASL_PLAINTEXT for clients (PLAIN for saslUsers,
// User:admin the other super user). The audit topic has two partitions,
// each on all n brokers. The audit writer's waits are shortened; tune,
// when set, changes a broker's auditor before it starts.
func startAuditCluster(t *testing.T, n int, tune func(id int32, au *auditor)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, meta: newSharedMetadata(1), dirs: map[int32]string{}, settings: map[int32]map[string]string{}, brokers: map[int32]*testBroker{}}
	var jaas strings.Builder
	jaas.WriteString("org.apache.kafka.common.security.plain.PlainLoginModule required")
	for _, u := range saslUsers {
		jaas.WriteString(" user_" + u + `="` + u + `-secret"`)
	}
	jaas.WriteString(";")
	settings := aclSettings(map[string]string{
		config.SuperUsers:                                     "User:admin;User:ANONYMOUS",
		config.InterBrokerListenerName:                        "BROKER",
		"listeners":                                           "BROKER://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"listener.security.protocol.map":                      "BROKER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
		"sasl.enabled.mechanisms":                             "PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas.String(),
		// The audit topic is created by the last broker to start, once
		// n brokers can hold its replicas.
		"default.replication.factor":       fmt.Sprint(n),
		config.AuditTopicPartitions:        "2",
		"auto.leader.rebalance.enable":     "false",
		"offsets.topic.replication.factor": "1",
	})
	level := slog.LevelWarn
	if os.Getenv("SKEIN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	for id := int32(1); id <= int32(n); id++ {
		c.dirs[id], c.settings[id] = t.TempDir(), maps.Clone(settings)
		b, err := New(Config{
			NodeID:  id,
			DataDir: c.dirs[id],
			Listeners: []protocol.ListenerConfig{
				{Name: "BROKER", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
				{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
			},
			Settings: c.settings[id],
			Metadata: c.meta.view(),
			Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})).With("broker", id),
		})
		if err != nil {
			t.Fatal(err)
		}
		b.principalOf = func(s *protocol.Session) string {
			if s.ClientID() == "mallory" {
				return "User:mallory"
			}
			return s.Principal()
		}
		b.audit.forwardAfter = 200 * time.Millisecond
		b.audit.retryMax = 400 * time.Millisecond
		b.audit.drainTimeout = 2 * time.Second
		if tune != nil {
			tune(id, b.audit)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		tb := &testBroker{Broker: b, t: t, dir: c.dirs[id], addr: b.Addrs()[0].String(), setting: c.settings[id]}
		t.Cleanup(func() { b.Close() })
		c.brokers[id] = tb
	}
	c.waitAll(func(tb *testBroker) error {
		if t := tb.lookupTopic(config.DefaultAuditTopic); t == nil || t.numPartitions() != 2 {
			return errors.New("audit topic not live")
		}
		return nil
	})
	return c
}

// saslClientOf returns a client of broker id's SASL_PLAINTEXT listener
// authenticated as user; it knows only that broker at first. It produces
// with v12 at most (topic names, not ids).
func (c *testCluster) saslClientOf(id int32, user string, opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(kmsg.Produce.Int16(), 12)
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.brokers[id].Addrs()[1].String()), kgo.RetryTimeout(20 * time.Second), kgo.MaxVersions(versions),
		kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism())}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// setAuditLeaders moves the leadership of the audit partitions: leaders[i]
// leads partition i (NoLeader: none), every replica in sync; it waits
// until every running broker has applied it.
func (c *testCluster) setAuditLeaders(leaders ...int32) {
	c.t.Helper()
	for i, leader := range leaders {
		cur, _ := c.meta.Image().Topics[config.DefaultAuditTopic].Partition(int32(i))
		st := c.setPartition(config.DefaultAuditTopic, int32(i), PartitionState{Replicas: cur.Replicas, ISR: cur.Replicas, Leader: leader})
		c.waitRole(config.DefaultAuditTopic, int32(i), leader, st.LeaderEpoch)
	}
}

// deniedProduce has cl produce to topic through its seed broker id only
// (no other broker is asked), which the authorizer refuses: broker id
// emits the denial's audit event.
func (c *testCluster) deniedProduce(cl *kgo.Client, id int32, topic string) {
	c.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: recordsBatch(c.t, "x")}}
	req.Topics = []kmsg.ProduceRequestTopic{rt}
	resp, err := cl.SeedBrokers()[0].Request(testCtx(c.t), req)
	if err != nil {
		c.t.Fatal(err)
	}
	if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
		c.t.Fatalf("produce to %s through broker %d: error %v, want TOPIC_AUTHORIZATION_FAILED", topic, id, kerr.ErrorForCode(code))
	}
}

// auditLogEvents reads every event of the audit topic's partitions from
// their leaders' logs, per partition in offset order.
func (c *testCluster) auditLogEvents() map[int32][]*auditEvent {
	c.t.Helper()
	out := map[int32][]*auditEvent{}
	img := c.meta.Image()
	for p := int32(0); p < 2; p++ {
		st, _ := img.Topics[config.DefaultAuditTopic].Partition(p)
		holder := st.Leader
		if holder == NoLeader {
			holder = st.Replicas[0]
		}
		for _, batch := range logBatches(c.t, c.brokers[holder], config.DefaultAuditTopic, p) {
			values, err := recordValues(batch)
			if err != nil {
				c.t.Fatal(err)
			}
			for _, v := range values {
				var ev auditEvent
				if err := json.Unmarshal(v, &ev); err != nil {
					c.t.Fatalf("audit record is not an event: %v: %s", err, v)
				}
				out[p] = append(out[p], &ev)
			}
		}
	}
	return out
}

// producedDenials returns, per partition, the topics of the Produce
// denials broker id logged with a topic name starting with prefix, in log
// order; it fails on an event id seen twice anywhere in the topic.
func producedDenials(t *testing.T, events map[int32][]*auditEvent, id int32, prefix string) map[int32][]string {
	t.Helper()
	seen := map[string]bool{}
	out := map[int32][]string{}
	for p, evs := range events {
		for _, ev := range evs {
			if seen[ev.ID] {
				t.Fatalf("event %s written twice", ev.ID)
			}
			seen[ev.ID] = true
			ai := ev.Data.AuthorizationInfo
			if ev.Data.Broker != id || ev.Data.MethodName != "kafka.Produce" || ai == nil || !strings.HasPrefix(ai.ResourceName, prefix) {
				continue
			}
			out[p] = append(out[p], ai.ResourceName)
		}
	}
	return out
}

// TestAuditClusterForwarding: broker 3 leads no audit partition (brokers
// 1 and 2 lead them); a denial on broker 3 is forwarded to a leader and
// read back by a consumer. Clients may still not produce to the audit
// topic, super users on the client listener and non-super users on the
// inter-broker listener included.
func TestAuditClusterForwarding(t *testing.T) {
	c := startAuditCluster(t, 3, nil)
	ctx := testCtx(t)
	c.setAuditLeaders(1, 2)
	for _, p := range c.brokers[3].lookupTopic(config.DefaultAuditTopic).hosted() {
		if p.isLeader() {
			t.Fatalf("broker 3 leads audit partition %d", p.index)
		}
	}
	bob := c.saslClientOf(3, "bob")
	c.deniedProduce(bob, 3, "phi-records")

	ar := c.brokers[1].auditReader(t)
	ev := ar.await(ctx, "bob's denial on broker 3", denial("User:bob", "Write", "Topic", "phi-records"))
	if ev.Data.Broker != 3 || !strings.HasSuffix(ev.Source, "/broker=3") || ev.Data.RequestMetadata.Listener != "SASL_PLAINTEXT" {
		t.Fatalf("event from broker %d, source %s, listener %s", ev.Data.Broker, ev.Source, ev.Data.RequestMetadata.Listener)
	}
	// The leader's answer may reach broker 3 after the consumer read it.
	checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if got := counterValue(t, c.brokers[3].audit.forwarded); got < 1 {
			return fmt.Errorf("broker 3 forwarded %v events", got)
		}
		return nil
	})
	for _, p := range c.brokers[3].lookupTopic(config.DefaultAuditTopic).hosted() {
		if p.isLeader() {
			t.Fatalf("broker 3 leads audit partition %d", p.index)
		}
	}

	// Clients are refused: admin (a super user) on the client listener,
	// mallory on the inter-broker listener, and a transactional or
	// acks=1 produce even from a super user on the inter-broker listener.
	forge := func(cl *kgo.Client, mutate func(*kmsg.ProduceRequest)) int16 {
		t.Helper()
		ti := c.meta.Image().Topics[config.DefaultAuditTopic]
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = config.DefaultAuditTopic, [16]byte(ti.ID)
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: recordsBatch(t, "forged")}}
		req.Topics = []kmsg.ProduceRequestTopic{rt}
		if mutate != nil {
			mutate(req)
		}
		resp, err := cl.SeedBrokers()[0].Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	admin := c.saslClientOf(1, "admin")
	if code := forge(admin, nil); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("admin on the client listener: error %v", kerr.ErrorForCode(code))
	}
	mallory := c.brokers[1].client(kgo.ClientID("mallory"))
	if code := forge(mallory, nil); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("mallory on the inter-broker listener: error %v", kerr.ErrorForCode(code))
	}
	anon := c.brokers[1].client()
	// (franz-go sends a Produce with the acks of its client's options.)
	anonAcks1 := c.brokers[1].client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if code := forge(anonAcks1, nil); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("acks=1 on the inter-broker listener: error %v", kerr.ErrorForCode(code))
	}
	if code := forge(anon, func(r *kmsg.ProduceRequest) { r.TransactionID = kmsg.StringPtr("tx") }); code != kerr.TransactionalIDAuthorizationFailed.Code && code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("transactional produce on the inter-broker listener: error %v", kerr.ErrorForCode(code))
	}
	for _, who := range []string{"User:admin", "User:mallory"} {
		ev := ar.await(ctx, who+"'s refused write", denial(who, "Write", "Topic", config.DefaultAuditTopic))
		if ev.Data.AuthorizationInfo.Rule != "AuditLogProtection" {
			t.Fatalf("%s: rule %s", who, ev.Data.AuthorizationInfo.Rule)
		}
	}
	for p, evs := range c.auditLogEvents() {
		for _, ev := range evs {
			if ev.SpecVersion != "1.0" {
				t.Fatalf("a client's record reached audit partition %d", p)
			}
		}
	}
}

// TestAuditClusterQueuedUntilLeader: while no broker leads an audit
// partition, events stay queued on the broker that made them and are
// retried; once a leader is back (remote: forwarded; then local) they are
// written in order, exactly once. Shutdown writes what it can and counts
// what it could not.
func TestAuditClusterQueuedUntilLeader(t *testing.T) {
	// Broker 2 never forwards while it runs: only its shutdown does.
	c := startAuditCluster(t, 3, func(id int32, au *auditor) {
		if id == 2 {
			au.forwardAfter = time.Hour
		}
	})
	b3 := c.brokers[3]
	bob := c.saslClientOf(3, "bob")
	queued := func(tb *testBroker) int {
		tb.audit.mu.Lock()
		defer tb.audit.mu.Unlock()
		return len(tb.audit.mu.queue)
	}
	// awaitRetries waits until the writer of tb has failed n more times
	// since base: it then waited past forwardAfter and tried to forward.
	awaitRetries := func(tb *testBroker, base float64, n float64) {
		t.Helper()
		checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
			if got := counterValue(t, tb.audit.retries); got < base+n {
				return fmt.Errorf("%v write retries", got-base)
			}
			return nil
		})
	}
	drained := func(tb *testBroker) {
		t.Helper()
		checkFor(t, 30*time.Second, 10*time.Millisecond, func() error {
			if n := queued(tb); n != 0 {
				return fmt.Errorf("%d events queued", n)
			}
			return nil
		})
	}
	inOrderOnce := func(prefix string, n int) int32 {
		t.Helper()
		got := producedDenials(t, c.auditLogEvents(), 3, prefix)
		var want []string
		for i := range n {
			want = append(want, fmt.Sprintf("%s%d", prefix, i))
		}
		for p, names := range got {
			if slices.Equal(names, want) && len(got) == 1 {
				return p
			}
		}
		t.Fatalf("events %s* in the audit topic: %v, want %v in one partition", prefix, got, want)
		return -1
	}

	// Remote leaders come back: the events are forwarded.
	c.setAuditLeaders(NoLeader, NoLeader)
	for i := range 5 {
		c.deniedProduce(bob, 3, fmt.Sprintf("wait-%d", i))
	}
	awaitRetries(b3, 0, 6)
	if n := queued(b3); n < 5 {
		t.Fatalf("%d events queued, want at least 5", n)
	}
	if got := producedDenials(t, c.auditLogEvents(), 3, "wait-"); len(got) != 0 {
		t.Fatalf("events written without a leader: %v", got)
	}
	failed := counterValue(t, b3.audit.topicFailed)
	// bob's authentication is queued too.
	waiting := queued(b3)
	c.setAuditLeaders(1, 2)
	drained(b3)
	inOrderOnce("wait-", 5)
	forwarded := counterValue(t, b3.audit.forwarded)
	if forwarded != float64(waiting) {
		t.Fatalf("broker 3 forwarded %v events, want %d", forwarded, waiting)
	}

	// Broker 3 itself becomes a leader: the events are written locally.
	c.setAuditLeaders(NoLeader, NoLeader)
	base := counterValue(t, b3.audit.retries)
	for i := range 4 {
		c.deniedProduce(bob, 3, fmt.Sprintf("local-%d", i))
	}
	awaitRetries(b3, base, 6)
	c.setAuditLeaders(NoLeader, 3)
	drained(b3)
	if p := inOrderOnce("local-", 4); p != 1 {
		t.Fatalf("written to partition %d, which broker 3 does not lead", p)
	}
	if got := counterValue(t, b3.audit.forwarded); got != forwarded {
		t.Fatalf("broker 3 forwarded %v events, want still %v", got, forwarded)
	}
	if got := counterValue(t, b3.audit.topicFailed); got != failed {
		t.Fatalf("topic_write_failed %v, was %v", got, failed)
	}

	// Shutdown drains into a remote leader: broker 2 leads nothing and
	// does not forward while it runs; its queued events are forwarded at
	// close.
	c.setAuditLeaders(1, NoLeader)
	bob2 := c.saslClientOf(2, "bob")
	for i := range 3 {
		c.deniedProduce(bob2, 2, fmt.Sprintf("close-%d", i))
	}
	b2 := c.brokers[2]
	awaitRetries(b2, 0, 3)
	if got := producedDenials(t, c.auditLogEvents(), 2, "close-"); len(got) != 0 {
		t.Fatalf("broker 2 forwarded before shutdown: %v", got)
	}
	b2.Close()
	if got := counterValue(t, b2.audit.topicFailed); got != 0 {
		t.Fatalf("broker 2 lost %v events at shutdown", got)
	}
	got := producedDenials(t, c.auditLogEvents(), 2, "close-")
	if !slices.Equal(got[0], []string{"close-0", "close-1", "close-2"}) {
		t.Fatalf("broker 2's events at shutdown: %v", got)
	}

	// With no leader anywhere, and none electable (an empty ISR: the
	// controlled shutdown elects none either), shutdown gives up after
	// its bound and counts what it could not write.
	for i := int32(0); i < 2; i++ {
		cur, _ := c.meta.Image().Topics[config.DefaultAuditTopic].Partition(i)
		st := c.setPartition(config.DefaultAuditTopic, i, PartitionState{Replicas: cur.Replicas, ISR: []int32{}, Leader: NoLeader})
		c.waitRole(config.DefaultAuditTopic, i, NoLeader, st.LeaderEpoch)
	}
	for i := range 2 {
		c.deniedProduce(bob, 3, fmt.Sprintf("lost-%d", i))
	}
	pending := queued(b3)
	if pending < 2 {
		t.Fatalf("%d events queued, want at least 2", pending)
	}
	b3.Close()
	if got := counterValue(t, b3.audit.topicFailed); got != failed+float64(pending) {
		t.Fatalf("broker 3 counted %v events failed at shutdown, want %v", got-failed, pending)
	}
	if n := queued(b3); n != 0 {
		t.Fatalf("%d events still queued after shutdown", n)
	}
}
