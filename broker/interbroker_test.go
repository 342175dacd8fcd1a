package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/internal/syncbuf"
	"github.com/skein-streaming/skein/protocol"
)

// brokerKeystore writes a PEM keystore for a broker: a certificate for
// 127.0.0.1 with subject CN=cn, usable as TLS server and client (a broker
// is both to other brokers), and its key.
func (ca *rejectCA) brokerKeystore(t testing.TB, dir, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, cn+"-"+serial.String()+".pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// truststore writes the CA certificate as a PEM truststore.
func (ca *rejectCA) truststore(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// scramRecord is a SCRAM-SHA-512 credential record for user, as
// AlterUserScramCredentials stores it.
func scramRecord(t testing.TB, user, password string) MetadataRecord {
	t.Helper()
	salt := []byte("salt-of-" + user)
	salted, err := pbkdf2.Key(sha512.New, password, salt, sasl.MinIterations, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := sasl.NewCredential(sasl.ScramSHA512, salt, salted, sasl.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return MetadataRecord{Type: ScramCredentialRecordType, Scram: &ScramCredentialRecord{User: user, Mechanism: sasl.ScramSHA512,
		Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: cred.Iterations}}
}

const brokerJAAS = `org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`

// secureCluster is the set-up of a secure test cluster: each broker has a
// PLAINTEXT listener first, for the test's own clients (User:ANONYMOUS, a
// super user), and an inter-broker listener BROKER with protocol proto;
// the StandardAuthorizer is on and super.users names User:broker.
type secureCluster struct {
	proto string
	// override, when set, changes a broker's settings.
	override func(id int32, s map[string]string)
	// logs, when set for a broker, receive its log lines too.
	logs map[int32]*syncbuf.Buffer
	// extra settings for every broker.
	extra map[string]string
}

func (sc secureCluster) start(t testing.TB, n int) *testCluster {
	t.Helper()
	dir := t.TempDir()
	ca := newRejectCA(t, "Inter-broker CA")
	truststore := ca.truststore(t, dir)
	c := &testCluster{t: t, meta: newSharedMetadata(1), dirs: map[int32]string{}, settings: map[int32]map[string]string{}, brokers: map[int32]*testBroker{}}
	if err := c.meta.apply([]MetadataRecord{scramRecord(t, "broker", "broker-secret"), scramRecord(t, "replicator", "replicator-secret")}); err != nil {
		t.Fatal(err)
	}
	c.configure = func(id int32, cfg *Config) {
		cfg.Listeners = append(cfg.Listeners, protocol.ListenerConfig{Name: "BROKER", SecurityProtocol: sc.proto, Addr: "127.0.0.1:0"})
		if buf := sc.logs[id]; buf != nil {
			level := slog.LevelWarn
			if os.Getenv("SKEIN_TEST_DEBUG") != "" {
				level = slog.LevelDebug
			}
			cfg.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{t}, buf), &slog.HandlerOptions{Level: level})).With("broker", id)
		}
	}
	for id := int32(1); id <= int32(n); id++ {
		s := map[string]string{
			"inter.broker.listener.name":               "BROKER",
			"authorizer.class.name":                    config.StandardAuthorizer,
			"super.users":                              "User:broker;User:ANONYMOUS",
			"transaction.state.log.num.partitions":     "1",
			"transaction.state.log.replication.factor": "3",
			// What the listeners of the configuration are (Config.Listeners
			// binds them).
			"listeners":                      "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,BROKER:" + sc.proto,
		}
		maps.Copy(s, sc.extra)
		switch sc.proto {
		case "SSL", "SASL_SSL":
			s["listener.name.broker.ssl.keystore.location"] = ca.brokerKeystore(t, dir, "broker")
			s["listener.name.broker.ssl.truststore.location"] = truststore
		}
		switch sc.proto {
		case "SSL":
			s["listener.name.broker.ssl.client.auth"] = "required"
			s["listener.name.broker.ssl.principal.mapping.rules"] = "RULE:^CN=(.*)$/$1/,DEFAULT"
		case "SASL_SSL", "SASL_PLAINTEXT":
			s["listener.name.broker.sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
			s["sasl.mechanism.inter.broker.protocol"] = "SCRAM-SHA-512"
			s["listener.name.broker.scram-sha-512.sasl.jaas.config"] = fmt.Sprintf(brokerJAAS, "broker", "broker-secret")
		}
		if sc.override != nil {
			sc.override(id, s)
		}
		c.dirs[id], c.settings[id] = t.TempDir(), s
		c.start(id)
	}
	return c
}

// replicateAndCommit checks a secure cluster serves replication and
// transactions across brokers over its inter-broker listener: acks=all
// produces to a partition with three replicas are acknowledged and the
// three logs are identical with the ISR whole, and a transaction whose
// partitions are led by the three brokers (markers and verification
// between brokers) commits and is read back read_committed.
func replicateAndCommit(t *testing.T, c *testCluster) {
	t.Helper()
	ctx := testCtx(t)
	c.createWithConfigs(1, "ib", map[string]string{"min.insync.replicas": "3"}, []int32{1, 2, 3})
	c.waitRole("ib", 0, 1, 0)
	prod := c.client(1, kgo.DefaultProduceTopic("ib"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0))
	for i := range 50 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatalf("acks=all produce %d: %v", i, err)
		}
	}
	batches := c.waitIdentical("ib", 0, 1, 2, 3)
	var n int
	for _, b := range batches {
		n += len(batchValues(t, b))
	}
	if n != 50 {
		t.Fatalf("%d records replicated, want 50", n)
	}
	if isr := c.isr("ib", 0); !slices.Equal(isr, []int32{1, 2, 3}) {
		t.Fatalf("isr %v", isr)
	}

	c.createWithConfigs(1, txnStateTopic, map[string]string{"cleanup.policy": "compact"}, []int32{1, 2, 3})
	c.createWithConfigs(1, "ibx", nil, []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2})
	for p := int32(0); p < 3; p++ {
		c.waitRole("ibx", p, p+1, 0)
	}
	txp := c.client(1, kgo.TransactionalID("ib-txn"), kgo.DefaultProduceTopic("ibx"), kgo.TransactionTimeout(30*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := txp.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		if err := txp.ProduceSync(ctx, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "committed-%d", p)}).FirstErr(); err != nil {
			t.Fatalf("transactional produce to partition %d: %v", p, err)
		}
	}
	if err := txp.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cons := c.client(1, kgo.ConsumeTopics("ibx"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"committed-0", "committed-1", "committed-2"}) {
		t.Fatalf("read_committed %v", got)
	}
	for p := int32(0); p < 3; p++ {
		// The commit markers were written by each leader and
		// replicated to its followers.
		var controls int
		for _, b := range c.waitIdentical("ibx", p, 1, 2, 3) {
			if b[22]&attrControl != 0 {
				controls++
			}
		}
		if controls != 1 {
			t.Fatalf("partition %d has %d markers, want 1", p, controls)
		}
	}
}

// TestInterBrokerSASLSSL runs a 3-broker cluster whose inter-broker
// listener is SASL_SSL with SCRAM-SHA-512, the StandardAuthorizer on and
// super.users=User:broker: replication and a transaction across brokers
// work over it.
func TestInterBrokerSASLSSL(t *testing.T) {
	c := secureCluster{proto: "SASL_SSL"}.start(t, 3)
	if d := c.brokers[2].interBroker; d == nil || d.sasl == nil || d.tls == nil || !d.verifyHost || d.sasl.mechanism != sasl.ScramSHA512 {
		t.Fatalf("inter-broker dialer %+v", d)
	}
	replicateAndCommit(t, c)
}

// TestInterBrokerMutualTLS runs the same over an SSL inter-broker listener
// with ssl.client.auth=required: each broker presents its keystore
// certificate, whose subject maps to User:broker.
func TestInterBrokerMutualTLS(t *testing.T) {
	c := secureCluster{proto: "SSL"}.start(t, 3)
	replicateAndCommit(t, c)
}

// TestInterBrokerRefused starts a cluster where broker 3 cannot replicate:
// with a wrong inter-broker password, or as a principal that is not a
// super user. Broker 3 does not replicate and logs why, and the leader
// shrinks the ISR to {1, 2}, as Kafka does; acks=all produces then
// succeed without it.
func TestInterBrokerRefused(t *testing.T) {
	for _, tc := range []struct {
		name, user, password, logged string
	}{
		{"wrong-password", "broker", "not-the-secret", "SASL_AUTHENTICATION_FAILED"},
		{"not-super-user", "replicator", "replicator-secret", "lacks CLUSTER_ACTION on the cluster; add it to super.users"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			c := secureCluster{
				proto: "SASL_SSL",
				extra: map[string]string{"replica.lag.time.max.ms": "1500", "replica.fetch.wait.max.ms": "200", "replica.fetch.backoff.ms": "100"},
				override: func(id int32, s map[string]string) {
					if id == 3 {
						s["listener.name.broker.scram-sha-512.sasl.jaas.config"] = fmt.Sprintf(brokerJAAS, tc.user, tc.password)
					}
				},
				logs: map[int32]*syncbuf.Buffer{3: logs},
			}.start(t, 3)
			ctx := testCtx(t)
			c.createWithConfigs(1, "ibn", map[string]string{"min.insync.replicas": "2"}, []int32{1, 2, 3})
			c.waitRole("ibn", 0, 1, 0)
			c.waitISR("ibn", 0, 1, 2)
			checkFor(t, 20*time.Second, 5*time.Millisecond, func() error {
				if !strings.Contains(logs.String(), tc.logged) {
					return errors.New("broker 3 has not logged the failure yet")
				}
				return nil
			})
			prod := c.client(1, kgo.DefaultProduceTopic("ibn"))
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			c.waitIdentical("ibn", 0, 1, 2)
			if end := c.brokers[3].lookupTopic("ibn").partition(0).log.LogEndOffset(); end != 0 {
				t.Fatalf("broker 3 replicated up to %d", end)
			}
		})
	}
}

// TestInterBrokerReauthentication checks KIP-368 on an inter-broker
// connection: the server gives the SASL session a lifetime
// (connections.max.reauth.ms), and a connection due for re-authentication
// re-authenticates on the same connection before its next request.
func TestInterBrokerReauthentication(t *testing.T) {
	c := secureCluster{proto: "SASL_PLAINTEXT", extra: map[string]string{"listener.name.broker.connections.max.reauth.ms": "600000"}}.start(t, 1)
	tb := c.brokers[1]
	conn := dialOwnBROKER(t, tb)
	defer conn.close()
	first := conn.reauthAt
	if left := time.Until(first); left <= 0 || left > 600*time.Second {
		t.Fatalf("re-authentication due in %v, want within the 600 s session", left)
	}
	// Make the session due: the next request re-authenticates first, on
	// the same connection.
	nc := conn.nc
	conn.reauthAt = time.Now().Add(-time.Millisecond)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	if _, err := conn.request(req, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if conn.nc != nc || !conn.reauthAt.After(time.Now()) {
		t.Fatalf("not re-authenticated on the same connection: due %v", conn.reauthAt)
	}
}

// TestInterBrokerConfigErrors checks the start-up errors of inter-broker
// security settings.
func TestInterBrokerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newRejectCA(t, "CA")
	keystore := ca.brokerKeystore(t, dir, "broker")
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"gssapi", map[string]string{"listener.name.broker.sasl.enabled.mechanisms": "SCRAM-SHA-512", "sasl.mechanism.inter.broker.protocol": "GSSAPI"},
			"GSSAPI, which Skein does not support between brokers"},
		{"not-enabled", map[string]string{"listener.name.broker.sasl.enabled.mechanisms": "SCRAM-SHA-512", "sasl.mechanism.inter.broker.protocol": "PLAIN"},
			"sasl.mechanism.inter.broker.protocol must be included in sasl.enabled.mechanisms when SASL is used for inter-broker communication"},
		{"no-jaas", map[string]string{"listener.name.broker.sasl.enabled.mechanisms": "SCRAM-SHA-512", "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512"},
			"set listener.name.broker.scram-sha-512.sasl.jaas.config"},
		{"no-username", map[string]string{"listener.name.broker.sasl.enabled.mechanisms": "SCRAM-SHA-512", "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required password="x";`}, "username and password options"},
		{"both-names", map[string]string{"security.inter.broker.protocol": "SASL_SSL"}, "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := map[string]string{"inter.broker.listener.name": "BROKER", "listener.name.broker.ssl.keystore.location": keystore,
				"listeners": "PLAINTEXT://127.0.0.1:0,BROKER://127.0.0.1:0", "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,BROKER:SASL_SSL"}
			maps.Copy(s, tc.settings)
			_, err := New(Config{NodeID: 1, DataDir: t.TempDir(), Settings: s, Listeners: []protocol.ListenerConfig{
				{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
				{Name: "BROKER", SecurityProtocol: "SASL_SSL", Addr: "127.0.0.1:0"},
			}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// dialOwnBROKER connects tb to its own BROKER listener as it would to
// another broker's, once it is registered.
func dialOwnBROKER(t *testing.T, tb *testBroker) *brokerConn {
	t.Helper()
	var ep BrokerEndpoint
	checkFor(t, 10*time.Second, 5*time.Millisecond, func() error {
		reg, ok := tb.meta.Image().Broker(tb.cfg.NodeID)
		if !ok {
			return errors.New("not registered")
		}
		if ep, ok = reg.Endpoint("BROKER"); !ok {
			return errors.New("no BROKER endpoint")
		}
		return nil
	})
	conn, err := tb.dialInterBroker(testCtx(t), ep, "test", 5*time.Second, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestInterBrokerNoIdentity starts a broker whose only listener is
// SASL_SSL without sasl.mechanism.inter.broker.protocol, as a single node
// serving SASL clients is configured: it starts, and a connection to
// another broker fails with the setting to give.
func TestInterBrokerNoIdentity(t *testing.T) {
	dir := t.TempDir()
	ca := newRejectCA(t, "CA")
	s := map[string]string{"listener.name.sasl_ssl.ssl.keystore.location": ca.brokerKeystore(t, dir, "broker"), "sasl.enabled.mechanisms": "SCRAM-SHA-512"}
	b, err := New(Config{NodeID: 1, DataDir: t.TempDir(), Settings: s, Listeners: []protocol.ListenerConfig{
		{Name: "SASL_SSL", SecurityProtocol: "SASL_SSL", Addr: "127.0.0.1:0"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, err = b.dialInterBroker(testCtx(t), BrokerEndpoint{Name: "SASL_SSL", SecurityProtocol: "SASL_SSL", Host: "127.0.0.1", Port: 1}, "t", time.Second, 1<<20)
	if !errors.Is(err, errPeerSecurity) || !strings.Contains(err.Error(), "sasl.mechanism.inter.broker.protocol is unset and defaults to GSSAPI") {
		t.Fatalf("dial without an inter-broker identity: %v", err)
	}
}

// TestInterBrokerPLAIN authenticates between brokers with PLAIN: the
// broker's identity is the username and password options of the PLAIN
// JAAS configuration that also lists the listener's users, as in Kafka.
func TestInterBrokerPLAIN(t *testing.T) {
	c := secureCluster{proto: "SASL_PLAINTEXT", override: func(_ int32, s map[string]string) {
		s["listener.name.broker.sasl.enabled.mechanisms"] = "PLAIN"
		s["sasl.mechanism.inter.broker.protocol"] = "PLAIN"
		s["listener.name.broker.plain.sasl.jaas.config"] = `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="plain-secret" user_broker="plain-secret";`
	}}.start(t, 1)
	tb := c.brokers[1]
	conn := dialOwnBROKER(t, tb)
	defer conn.close()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	if _, err := conn.request(req, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !conn.reauthAt.IsZero() {
		t.Fatalf("re-authentication scheduled without a session lifetime: %v", conn.reauthAt)
	}
}
