package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// saslUsers are the PLAIN users of startSASLACLBroker; each one's
// password is <name>-secret.
var saslUsers = []string{"admin", "alice", "bob", "carol", "dave", "erin", "frank"}

// startSASLACLBroker starts a broker whose only listener is SASL_PLAINTEXT
// (PLAIN for saslUsers, and SCRAM-SHA-256), with the StandardAuthorizer
// and User:admin as the super user. Clients authenticate for real: see
// saslClient.
func startSASLACLBroker(t *testing.T, dir string, extra map[string]string) *testBroker {
	t.Helper()
	var jaas strings.Builder
	jaas.WriteString("org.apache.kafka.common.security.plain.PlainLoginModule required")
	for _, u := range saslUsers {
		jaas.WriteString(" user_" + u + `="` + u + `-secret"`)
	}
	jaas.WriteString(";")
	settings := aclSettings(map[string]string{
		"sasl.enabled.mechanisms":                             "PLAIN,SCRAM-SHA-256",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas.String(),
	})
	for k, v := range extra {
		settings[k] = v
	}
	level := slog.LevelWarn
	if os.Getenv("SKEIN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	b, err := New(Config{
		NodeID:    1,
		DataDir:   dir,
		Listeners: []protocol.ListenerConfig{{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:  settings,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{Broker: b, t: t, dir: dir, addr: b.Addrs()[0].String(), setting: settings}
	t.Cleanup(func() { b.Close() })
	return tb
}

// saslClient returns a client authenticated with PLAIN as user.
func (tb *testBroker) saslClient(user string, opts ...kgo.Opt) *kgo.Client {
	return tb.client(append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism())}, opts...)...)
}

// fromHost makes a client connect from the loopback address ip
// (127.0.0.2), for host-specific ACLs.
func fromHost(ip string) kgo.Opt {
	return kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return d.DialContext(ctx, network, host)
	})
}

// auditReader consumes the audit topic and keeps every event read.
type auditReader struct {
	t      *testing.T
	cl     *kgo.Client
	events []*auditEvent
	// raw holds each event's record value, in the same order.
	raw [][]byte
	// headers holds each record's headers, in the same order.
	headers [][]kgo.RecordHeader
}

// auditReader reads the audit topic from its start with cl's options (a
// super user's credentials).
func (tb *testBroker) auditReader(t *testing.T, opts ...kgo.Opt) *auditReader {
	opts = append(opts, kgo.ConsumeTopics(config.DefaultAuditTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	return &auditReader{t: t, cl: tb.client(opts...)}
}

// poll reads what is available within a second.
func (ar *auditReader) poll(ctx context.Context) {
	ar.t.Helper()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	fs := ar.cl.PollFetches(pctx)
	cancel()
	for _, fe := range fs.Errors() {
		if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
			ar.t.Fatalf("consuming the audit topic: %v", fe.Err)
		}
	}
	fs.EachRecord(func(r *kgo.Record) {
		var ev auditEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			ar.t.Fatalf("audit record at offset %d is not an event: %v: %s", r.Offset, err, r.Value)
		}
		ar.events = append(ar.events, &ev)
		ar.raw = append(ar.raw, r.Value)
		ar.headers = append(ar.headers, r.Headers)
	})
}

// await returns the first event matching, reading more until it appears
// or the test's deadline nears.
func (ar *auditReader) await(ctx context.Context, what string, match func(*auditEvent) bool) *auditEvent {
	ar.t.Helper()
	if i := ar.index(match); i >= 0 {
		return ar.events[i]
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ar.poll(ctx)
		if i := ar.index(match); i >= 0 {
			return ar.events[i]
		}
	}
	ar.t.Fatalf("no audit event %s among %d read", what, len(ar.events))
	return nil
}

func (ar *auditReader) index(match func(*auditEvent) bool) int {
	for i, ev := range ar.events {
		if match(ev) {
			return i
		}
	}
	return -1
}

// denial matches the authorization denial of op on a resource for
// principal.
func denial(principal, op, resourceType, name string) func(*auditEvent) bool {
	return func(ev *auditEvent) bool {
		ai := ev.Data.AuthorizationInfo
		return ev.Type == auditTypeAuthorization && ai != nil && !ai.Granted && ev.Data.Result.Status == auditDenied &&
			ev.Data.AuthenticationInfo.Principal == principal && ai.Operation == op && ai.ResourceType == resourceType && ai.ResourceName == name
	}
}

// adminEvent matches the administrative request method on resourceName
// (the CRN's last segment, "topic=x") with status.
func adminEvent(principal, method, segment, status string) func(*auditEvent) bool {
	return func(ev *auditEvent) bool {
		return ev.Type == auditTypeRequest && ev.Data.MethodName == method && ev.Data.AuthenticationInfo.Principal == principal &&
			strings.HasSuffix(ev.Data.ResourceName, segment) && ev.Data.Result.Status == status
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestAuditEventFormat checks the CloudEvents envelope and Confluent's data
// layout on the raw JSON of a denial and of an administrative change, and
// the record's content-type header.
func TestAuditEventFormat(t *testing.T) {
	ctx := testCtx(t)
	tb := startSASLACLBroker(t, t.TempDir(), nil)
	adm := kadm.NewClient(tb.saslClient("admin"))
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "format"); err != nil {
		t.Fatal(err)
	}
	// alice may see the topic, not write to it.
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("format").Allow("User:alice").Operations(kadm.OpDescribe))
	cl := tb.saslClient("alice", kgo.ClientID("alice-app"), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "format", Value: []byte("v")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produce: %v", err)
	}
	ar := tb.auditReader(t, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism()))
	denied := ar.await(ctx, "alice WRITE format", denial("User:alice", "Write", "Topic", "format"))
	created := ar.await(ctx, "CreateTopics format", adminEvent("User:admin", "kafka.CreateTopics", "/topic=format", auditSuccess))
	clusterID := tb.meta.Image().ClusterID

	raw := func(ev *auditEvent) map[string]any {
		i := slices.Index(ar.events, ev)
		var m map[string]any
		if err := json.Unmarshal(ar.raw[i], &m); err != nil {
			t.Fatal(err)
		}
		var ct string
		for _, h := range ar.headers[i] {
			if h.Key == "content-type" {
				ct = string(h.Value)
			}
		}
		if !strings.HasPrefix(ct, "application/cloudevents+json") {
			t.Errorf("content-type header %q", ct)
		}
		return m
	}
	get := func(m map[string]any, path string) any {
		var cur any = m
		for _, k := range strings.Split(path, ".") {
			mm, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = mm[k]
		}
		return cur
	}
	for name, c := range map[string]struct {
		ev   *auditEvent
		want map[string]any
	}{
		"denial": {denied, map[string]any{
			"specversion":                                   "1.0",
			"type":                                          "io.skein.kafka.server/authorization",
			"source":                                        "crn:///kafka=" + clusterID + "/broker=1",
			"datacontenttype":                               "application/json",
			"subject":                                       "crn:///kafka=" + clusterID + "/topic=format",
			"data.serviceName":                              "crn:///kafka=" + clusterID,
			"data.methodName":                               "kafka.Produce",
			"data.resourceName":                             "crn:///kafka=" + clusterID + "/topic=format",
			"data.authenticationInfo.principal":             "User:alice",
			"data.authorizationInfo.granted":                false,
			"data.authorizationInfo.operation":              "Write",
			"data.authorizationInfo.resourceType":           "Topic",
			"data.authorizationInfo.resourceName":           "format",
			"data.authorizationInfo.patternType":            "LITERAL",
			"data.authorizationInfo.host":                   "127.0.0.1",
			"data.authorizationInfo.rule":                   "DefaultDeny",
			"data.request.clientId":                         "alice-app",
			"data.request.apiKey":                           "Produce",
			"data.requestMetadata.clientAddress":            "127.0.0.1",
			"data.requestMetadata.listener":                 "SASL_PLAINTEXT",
			"data.requestMetadata.securityProtocol":         "SASL_PLAINTEXT",
			"data.result.status":                            "DENIED",
			"data.result.error":                             "TOPIC_AUTHORIZATION_FAILED",
			"data.result.errorCode":                         float64(kerr.TopicAuthorizationFailed.Code),
			"data.brokerId":                                 float64(1),
			"data.authenticationInfo.metadata":              nil,
			"data.authorizationInfo.aclAuthorization":       nil,
			"data.authorizationInfo.superUserAuthorization": nil,
		}},
		"admin": {created, map[string]any{
			"specversion":                       "1.0",
			"type":                              "io.skein.kafka.server/request",
			"subject":                           "crn:///kafka=" + clusterID + "/topic=format",
			"data.methodName":                   "kafka.CreateTopics",
			"data.authenticationInfo.principal": "User:admin",
			"data.request.data.numPartitions":   float64(1),
			"data.request.data.validateOnly":    false,
			"data.result.status":                "SUCCESS",
			"data.result.errorCode":             nil,
			"data.authorizationInfo":            nil,
		}},
	} {
		m := raw(c.ev)
		for path, want := range c.want {
			if got := get(m, path); got != want {
				t.Errorf("%s: %s = %#v, want %#v", name, path, got, want)
			}
		}
		if id, _ := m["id"].(string); !uuidPattern.MatchString(id) {
			t.Errorf("%s: id %q is not a UUID", name, id)
		}
		ts, _ := m["time"].(string)
		if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(tm) > time.Minute || !strings.HasSuffix(ts, "Z") {
			t.Errorf("%s: time %q: %v", name, ts, err)
		}
		if corr, _ := get(m, "data.request.correlationId").(string); corr == "" {
			t.Errorf("%s: no correlation id", name)
		}
		if port, _ := get(m, "data.requestMetadata.clientPort").(float64); port <= 0 {
			t.Errorf("%s: client port %v", name, port)
		}
		if conn, _ := get(m, "data.requestMetadata.connectionId").(string); !strings.Contains(conn, tb.addr) {
			t.Errorf("%s: connection id %q does not name the listener %s", name, conn, tb.addr)
		}
	}
	if denied.ID == created.ID {
		t.Fatal("two events share an id")
	}
}

// TestAuditAuthentication checks the events of SASL authentications: PLAIN
// and SCRAM successes with the principal and mechanism, failures with the
// user name claimed (and never the password), and a mechanism the
// listener does not offer.
func TestAuditAuthentication(t *testing.T) {
	ctx := testCtx(t)
	tb := startSASLACLBroker(t, t.TempDir(), nil)
	adm := kadm.NewClient(tb.saslClient("admin"))
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "sam", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "sam-secret"}}); err != nil {
		t.Fatal(err)
	}
	if err := tb.saslClient("alice").Ping(ctx); err != nil {
		t.Fatal(err)
	}
	scramClient := func(user, pass string) *kgo.Client {
		return tb.client(kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
	}
	if err := scramClient("sam", "sam-secret").Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*kgo.Client{
		tb.client(kgo.SASL(plain.Auth{User: "mallory", Pass: "guess-one"}.AsMechanism())),
		scramClient("sam", "guess-two"),
		tb.client(kgo.SASL(scram.Auth{User: "sam", Pass: "x"}.AsSha512Mechanism())),
	} {
		if err := c.Ping(ctx); err == nil {
			t.Fatal("bad credentials accepted")
		}
	}
	ar := tb.auditReader(t, kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism()))
	auth := func(principal, mechanism, identifier, status string) func(*auditEvent) bool {
		return func(ev *auditEvent) bool {
			md := ev.Data.AuthenticationInfo.Metadata
			return ev.Type == auditTypeAuthentication && ev.Data.MethodName == "kafka.Authentication" && md != nil &&
				ev.Data.AuthenticationInfo.Principal == principal && md.Mechanism == mechanism && md.Identifier == identifier && ev.Data.Result.Status == status
		}
	}
	ar.await(ctx, "alice PLAIN success", auth("User:alice", "SASL_PLAINTEXT/PLAIN", "alice", auditSuccess))
	ar.await(ctx, "sam SCRAM success", auth("User:sam", "SASL_PLAINTEXT/SCRAM-SHA-256", "sam", auditSuccess))
	ev := ar.await(ctx, "mallory PLAIN failure", auth("", "SASL_PLAINTEXT/PLAIN", "mallory", auditFailure))
	if ev.Data.Result.Error != "SASL_AUTHENTICATION_FAILED" || ev.Data.Result.Message != "Authentication failed: Invalid username or password" {
		t.Errorf("mallory's failure: %+v", ev.Data.Result)
	}
	ar.await(ctx, "sam SCRAM failure", auth("", "SASL_PLAINTEXT/SCRAM-SHA-256", "sam", auditFailure))
	ev = ar.await(ctx, "SCRAM-SHA-512 refused", auth("", "SASL_PLAINTEXT/SCRAM-SHA-512", "", auditFailure))
	if ev.Data.Result.Error != "UNSUPPORTED_SASL_MECHANISM" {
		t.Errorf("unsupported mechanism: %+v", ev.Data.Result)
	}
	for _, r := range ar.raw {
		for _, secret := range []string{"guess-one", "guess-two", "sam-secret", "alice-secret"} {
			if bytes.Contains(r, []byte(secret)) {
				t.Fatalf("an audit event holds a password: %s", r)
			}
		}
	}
}

// mtlsFiles writes a CA, a broker keystore and truststore, and returns
// client configurations presenting a certificate for CN=reporting,O=Clinic
// and one for CN=admin.
func mtlsFiles(t *testing.T) (keystore, truststore string, reporting, admin *tls.Config) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Audit Test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	srvDER, srvKey := issue(2, pkix.Name{CommonName: "broker"}, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cliDER, cliKey := issue(3, pkix.Name{CommonName: "reporting", Organization: []string{"Clinic"}}, x509.ExtKeyUsageClientAuth, nil)
	admDER, admKey := issue(4, pkix.Name{CommonName: "admin"}, x509.ExtKeyUsageClientAuth, nil)
	kder, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	dir := t.TempDir()
	keystore, truststore = filepath.Join(dir, "broker.pem"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(keystore, append(pemBlock("CERTIFICATE", srvDER), pemBlock("PRIVATE KEY", kder)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truststore, pemBlock("CERTIFICATE", caDER), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	client := func(der []byte, key *ecdsa.PrivateKey) *tls.Config {
		return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	}
	return keystore, truststore, client(cliDER, cliKey), client(admDER, admKey)
}

func pemBlock(typ string, der []byte) []byte {
	var buf bytes.Buffer
	buf.WriteString("-----BEGIN " + typ + "-----\n")
	enc := base64.StdEncoding.EncodeToString(der)
	for len(enc) > 64 {
		buf.WriteString(enc[:64] + "\n")
		enc = enc[64:]
	}
	buf.WriteString(enc + "\n-----END " + typ + "-----\n")
	return buf.Bytes()
}

// TestAuditTLSAuthentication checks that a client certificate on an SSL
// listener (ssl.client.auth=required) is logged with its principal at
// connection, that a client without one is logged as a failure, and that
// the certificate's principal is what authorizations then name.
func TestAuditTLSAuthentication(t *testing.T) {
	ctx := testCtx(t)
	keystore, truststore, clientTLS, adminTLS := mtlsFiles(t)
	settings := aclSettings(map[string]string{
		config.SuperUsers:                           "User:CN=admin",
		"listener.name.ssl.ssl.keystore.location":   keystore,
		"listener.name.ssl.ssl.truststore.location": truststore,
		"listener.name.ssl.ssl.client.auth":         "required",
	})
	b, err := New(Config{
		NodeID:  1,
		DataDir: t.TempDir(),
		Listeners: []protocol.ListenerConfig{
			{Name: "SSL", SecurityProtocol: "SSL", Addr: "127.0.0.1:0"},
		},
		Settings: settings,
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tb := &testBroker{Broker: b, t: t, addr: b.Addrs()[0].String(), setting: settings}
	const principal = "User:CN=reporting,O=Clinic"

	// The certificate's principal may not produce to a topic it has no
	// ACL for.
	cl := tb.client(kgo.DialTLSConfig(clientTLS), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "labs", Value: []byte("v")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce: %v", err)
	}
	// Without a client certificate the handshake fails.
	noCert := clientTLS.Clone()
	noCert.Certificates = nil
	if err := tb.client(kgo.DialTLSConfig(noCert), kgo.DialTimeout(5*time.Second), kgo.RequestRetries(0)).Ping(ctx); err == nil {
		t.Fatal("client without certificate served")
	}

	ar := tb.auditReader(t, kgo.DialTLSConfig(adminTLS))
	ev := ar.await(ctx, "TLS success", func(ev *auditEvent) bool {
		md := ev.Data.AuthenticationInfo.Metadata
		return ev.Type == auditTypeAuthentication && md != nil && md.Mechanism == "SSL" && ev.Data.Result.Status == auditSuccess &&
			ev.Data.AuthenticationInfo.Principal == principal
	})
	if ev.Data.AuthenticationInfo.Metadata.Identifier != "CN=reporting,O=Clinic" {
		t.Errorf("TLS authentication: %+v", ev.Data.AuthenticationInfo)
	}
	if ev.Data.RequestMetadata.Listener != "SSL" || ev.Data.RequestMetadata.ClientAddress != "127.0.0.1" {
		t.Errorf("TLS authentication metadata: %+v", ev.Data.RequestMetadata)
	}
	ar.await(ctx, "TLS failure", func(ev *auditEvent) bool {
		md := ev.Data.AuthenticationInfo.Metadata
		return ev.Type == auditTypeAuthentication && md != nil && md.Mechanism == "SSL" && ev.Data.Result.Status == auditFailure &&
			ev.Data.AuthenticationInfo.Principal == "" && ev.Data.Result.Message != ""
	})
	// Without DESCRIBE the producer is refused at its Metadata request.
	ar.await(ctx, "certificate principal denied", denial(principal, "Describe", "Topic", "labs"))
}

// TestAuditTopicProtected checks the audit topic's own protection: even
// with allow.everyone.if.no.acl.found nobody but super users and
// principals with an ACL sees or reads it, and no client, super users
// included, may produce to it (nothing is written).
func TestAuditTopicProtected(t *testing.T) {
	ctx := testCtx(t)
	tb := startSASLACLBroker(t, t.TempDir(), map[string]string{config.AllowEveryoneIfNoACLFound: "true"})
	adm := kadm.NewClient(tb.saslClient("admin"))
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics(config.DefaultAuditTopic).Allow("User:carol").Operations(kadm.OpRead))
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "open"); err != nil {
		t.Fatal(err)
	}
	// allow.everyone.if.no.acl.found still opens other topics.
	produce := func(user, topic string) error {
		cl := tb.saslClient(user, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("forged")}).FirstErr()
	}
	if err := produce("bob", "open"); err != nil {
		t.Fatalf("bob to a topic without ACLs: %v", err)
	}
	ends := func() int64 {
		o, err := adm.ListEndOffsets(ctx, config.DefaultAuditTopic)
		if err != nil {
			t.Fatal(err)
		}
		lo, _ := o.Lookup(config.DefaultAuditTopic, 0)
		return lo.Offset
	}
	for _, user := range []string{"admin", "bob", "carol"} {
		if err := produce(user, config.DefaultAuditTopic); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("%s produced to the audit topic: %v", user, err)
		}
	}
	// Metadata: bob does not see it, carol and admin do.
	visible := func(user string) bool {
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, tb.saslClient(user))
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range resp.Topics {
			if *mt.Topic == config.DefaultAuditTopic {
				return true
			}
		}
		return false
	}
	if visible("bob") || !visible("carol") || !visible("admin") {
		t.Fatalf("audit topic visible to bob %v, carol %v, admin %v", visible("bob"), visible("carol"), visible("admin"))
	}
	// Fetch: bob is refused, carol reads.
	fetch := func(user string) int16 {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes, req.SessionEpoch = 1<<20, -1
		req.Topics = []kmsg.FetchRequestTopic{{Topic: config.DefaultAuditTopic, TopicID: tb.lookupTopic(config.DefaultAuditTopic).id,
			Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}}}}
		resp, err := req.RequestWith(ctx, tb.saslClient(user))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := fetch("bob"); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("bob fetch of the audit topic: error %d", code)
	}
	if code := fetch("carol"); code != 0 {
		t.Fatalf("carol fetch of the audit topic: error %d", code)
	}
	// Every refused write is itself in the log, and no forged record is.
	ar := tb.auditReader(t, kgo.SASL(plain.Auth{User: "carol", Pass: "carol-secret"}.AsMechanism()))
	for _, user := range []string{"admin", "carol"} {
		ev := ar.await(ctx, user+" write to the audit topic", denial("User:"+user, "Write", "Topic", config.DefaultAuditTopic))
		if ev.Data.AuthorizationInfo.Rule != "AuditLogProtection" {
			t.Errorf("%s: rule %q", user, ev.Data.AuthorizationInfo.Rule)
		}
	}
	// bob may not even describe it: his producer is refused at Metadata.
	ar.await(ctx, "bob describe of the audit topic", denial("User:bob", "Describe", "Topic", config.DefaultAuditTopic))
	ar.await(ctx, "bob fetch", denial("User:bob", "Read", "Topic", config.DefaultAuditTopic))
	end := ends()
	for len(ar.events) < int(end) && ctx.Err() == nil {
		ar.poll(ctx)
	}
	if len(ar.events) < int(end) {
		t.Fatalf("read %d of %d audit events", len(ar.events), end)
	}
	for i, r := range ar.raw {
		if bytes.Contains(r, []byte("forged")) || ar.events[i].SpecVersion != "1.0" {
			t.Fatalf("a client's record reached the audit topic: %s", r)
		}
	}
}

// TestAuditAdminChanges checks the event of each administrative request,
// with its result and details, as a file sink writes them; and that no
// secret reaches it: SCRAM salts and salted passwords, sensitive config
// values.
func TestAuditAdminChanges(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "audit.log")
	tb := startSASLACLBroker(t, dir, map[string]string{config.AuditFile: file})
	adm := kadm.NewClient(tb.saslClient("admin"))
	if _, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("3600000")}, "ward"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.UpdatePartitions(ctx, 2, "ward"); err != nil {
		t.Fatal(err)
	}
	if err := tb.saslClient("admin", kgo.RecordPartitioner(kgo.ManualPartitioner())).ProduceSync(ctx, &kgo.Record{Topic: "ward", Partition: 0, Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteRecords(ctx, kadm.Offsets{"ward": {0: {Topic: "ward", Partition: 0, At: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("7200000")}}, "ward"); err != nil {
		t.Fatal(err)
	}
	// A sensitive broker config (it is refused: it cannot change at
	// runtime), whose value must not be logged anyway.
	legacy := kmsg.NewPtrAlterConfigsRequest()
	legacy.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1",
		Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "ssl.keystore.password", Value: kmsg.StringPtr("keystore-pass-123")}}}}
	if _, err := legacy.RequestWith(ctx, tb.saslClient("admin")); err != nil {
		t.Fatal(err)
	}
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("ward").Allow("User:alice").Operations(kadm.OpRead))
	if _, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("ward").Allow("User:alice").AllowHosts("*").Operations(kadm.OpRead)); err != nil {
		t.Fatal(err)
	}
	salt, salted := []byte("salt-bytes-0123456789"), bytes.Repeat([]byte{0xAB}, 32)
	scramReq := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	scramReq.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: "nurse", Mechanism: 1, Iterations: 8192, Salt: salt, SaltedPassword: salted}}
	if resp, err := scramReq.RequestWith(ctx, tb.saslClient("admin")); err != nil || resp.Results[0].ErrorCode != 0 {
		t.Fatalf("scram upsert: %v %+v", err, resp)
	}
	// A group to delete, and one committed offset to delete.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "charts", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "ward", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	if _, err := commit.RequestWith(ctx, tb.saslClient("admin")); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteOffsets(ctx, "charts", kadm.TopicsSet{"ward": {0: {}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteGroups(ctx, "charts"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopics(ctx, "ward"); err != nil {
		t.Fatal(err)
	}
	// A refused change is logged with its failure.
	if _, err := kadm.NewClient(tb.saslClient("alice")).CreateTopics(ctx, 1, 1, nil, "alice-topic"); err != nil {
		t.Fatal(err)
	}

	// The broker writes what is queued before it closes; then the file
	// holds every event, one JSON object per line.
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []*auditEvent
	var all []byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, auditMaxEventBytes+1)
	for sc.Scan() {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v", len(events)+1, err)
		}
		events = append(events, &ev)
		all = append(all, sc.Bytes()...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	find := func(what string, match func(*auditEvent) bool) *auditEvent {
		t.Helper()
		for _, ev := range events {
			if match(ev) {
				return ev
			}
		}
		for _, ev := range events {
			t.Logf("%s %s %s %+v %v", ev.Data.MethodName, ev.Data.AuthenticationInfo.Principal, ev.Data.ResourceName, ev.Data.Result, ev.Data.Request.Data)
		}
		t.Fatalf("no event %s in the audit file (%d events)", what, len(events))
		return nil
	}
	details := func(ev *auditEvent) map[string]any {
		m, _ := ev.Data.Request.Data.(map[string]any)
		return m
	}
	const admin = "User:admin"
	ev := find("CreateTopics", adminEvent(admin, "kafka.CreateTopics", "/topic=ward", auditSuccess))
	if cfg, _ := details(ev)["configs"].(map[string]any); cfg["retention.ms"] != "3600000" || details(ev)["topicId"] == nil {
		t.Errorf("CreateTopics details %v", details(ev))
	}
	ev = find("CreatePartitions", adminEvent(admin, "kafka.CreatePartitions", "/topic=ward", auditSuccess))
	if details(ev)["count"] != float64(2) {
		t.Errorf("CreatePartitions details %v", details(ev))
	}
	ev = find("DeleteRecords", adminEvent(admin, "kafka.DeleteRecords", "/topic=ward", auditSuccess))
	if parts, _ := details(ev)["partitions"].([]any); len(parts) != 1 || parts[0].(map[string]any)["lowWatermark"] != float64(1) {
		t.Errorf("DeleteRecords details %v", details(ev))
	}
	ev = find("IncrementalAlterConfigs", adminEvent(admin, "kafka.IncrementalAlterConfigs", "/topic=ward", auditSuccess))
	if cfgs, _ := details(ev)["configs"].([]any); len(cfgs) != 1 || cfgs[0].(map[string]any)["value"] != "7200000" || cfgs[0].(map[string]any)["operation"] != "SET" {
		t.Errorf("IncrementalAlterConfigs details %v", details(ev))
	}
	ev = find("AlterConfigs", adminEvent(admin, "kafka.AlterConfigs", "/broker=1", auditFailure))
	if cfgs, _ := details(ev)["configs"].([]any); len(cfgs) != 1 || cfgs[0].(map[string]any)["value"] != auditHidden {
		t.Errorf("AlterConfigs details %v", details(ev))
	}
	ev = find("CreateAcls", adminEvent(admin, "kafka.CreateAcls", "", auditSuccess))
	if a, _ := details(ev)["acl"].(map[string]any); a["principal"] != "User:alice" || a["resourceName"] != "ward" || a["operation"] != "Read" || a["permissionType"] != "ALLOW" {
		t.Errorf("CreateAcls details %v", details(ev))
	}
	ev = find("DeleteAcls", adminEvent(admin, "kafka.DeleteAcls", "", auditSuccess))
	if del, _ := details(ev)["deleted"].([]any); len(del) != 1 {
		t.Errorf("DeleteAcls details %v", details(ev))
	}
	ev = find("AlterUserScramCredentials", adminEvent(admin, "kafka.AlterUserScramCredentials", "/user=nurse", auditSuccess))
	if creds, _ := details(ev)["credentials"].([]any); len(creds) != 1 || creds[0].(map[string]any)["mechanism"] != "SCRAM-SHA-256" || creds[0].(map[string]any)["iterations"] != float64(8192) {
		t.Errorf("AlterUserScramCredentials details %v", details(ev))
	}
	find("OffsetDelete", adminEvent(admin, "kafka.OffsetDelete", "/group=charts", auditSuccess))
	find("DeleteGroups", adminEvent(admin, "kafka.DeleteGroups", "/group=charts", auditSuccess))
	find("DeleteTopics", adminEvent(admin, "kafka.DeleteTopics", "/topic=ward", auditSuccess))
	ev = find("alice's refused CreateTopics", adminEvent("User:alice", "kafka.CreateTopics", "/topic=alice-topic", auditFailure))
	if ev.Data.Result.Error != "TOPIC_AUTHORIZATION_FAILED" {
		t.Errorf("alice's CreateTopics result %+v", ev.Data.Result)
	}
	find("alice's CreateTopics denial", denial("User:alice", "Create", "Topic", "alice-topic"))
	for _, secret := range [][]byte{
		[]byte("keystore-pass-123"), salt, salted,
		[]byte(base64.StdEncoding.EncodeToString(salt)), []byte(base64.StdEncoding.EncodeToString(salted)),
		[]byte(hex.EncodeToString(salted)),
	} {
		if bytes.Contains(all, secret) {
			t.Fatalf("the audit file holds a secret %q", secret)
		}
	}
}

// TestAuditQueueFull checks that a full queue drops events without
// blocking, and counts them.
func TestAuditQueueFull(t *testing.T) {
	settings, err := newSettingsResolver(aclSettings(map[string]string{config.AuditQueueMaxEvents: "2"}))
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{cfg: Config{NodeID: 1}, now: time.Now, settings: settings, log: slog.New(slog.DiscardHandler)}
	b.authorizer.Store(newAuthorizer(settings))
	reg := prometheus.NewRegistry()
	au := newAuditor(b, reg)
	if au == nil {
		t.Fatal("audit log off")
	}
	// No writer runs: the queue only fills.
	for i := 0; i < 5; i++ {
		au.emit(auditTypeRequest, auditTopicResource("t"), auditData{MethodName: "kafka.CreateTopics"})
	}
	counter := func(c prometheus.Counter) float64 {
		var m dto.Metric
		if err := c.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}
	if got := counter(au.queueFull); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	if got := counter(au.events.WithLabelValues(auditTypeRequest)); got != 2 {
		t.Fatalf("queued %v, want 2", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"skein_audit_events_total", "skein_audit_events_dropped_total", "skein_audit_queue_events"} {
		if !slices.Contains(names, want) {
			t.Errorf("metric %s not registered (%v)", want, names)
		}
	}
}

// TestAuditOff checks that without an authorizer, or with
// skein.audit.enable=false, there is no audit log and no audit topic.
func TestAuditOff(t *testing.T) {
	for name, settings := range map[string]map[string]string{
		"no authorizer": nil,
		"disabled":      aclSettings(map[string]string{config.AuditEnable: "false"}),
	} {
		t.Run(name, func(t *testing.T) {
			tb := startBroker(t, settings)
			if tb.audit != nil || tb.lookupTopic(config.DefaultAuditTopic) != nil {
				t.Fatal("audit log on")
			}
		})
	}
}

// TestAuditStrings checks the bounds and escapes applied to what events
// copy from requests.
func TestAuditStrings(t *testing.T) {
	long := strings.Repeat("é", auditMaxString)
	got := auditString(long)
	if len(got) > auditMaxString+len("...(truncated)") || !strings.HasSuffix(got, "...(truncated)") || !utf8.ValidString(got) {
		t.Fatalf("truncated to %d bytes: %q...", len(got), got[:20])
	}
	if auditString("phi") != "phi" {
		t.Fatal("short string changed")
	}
	for in, want := range map[string]string{
		"phi-records_1.v2": "phi-records_1.v2",
		"a/b=c d%":         "a%2Fb%3Dc%20d%25",
	} {
		if got := crnEscape(in); got != want {
			t.Errorf("crnEscape(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"IDEMPOTENT_WRITE": "IdempotentWrite", "TRANSACTIONAL_ID": "TransactionalId", "READ": "Read"} {
		if got := camelName(in); got != want {
			t.Errorf("camelName(%q) = %q", in, got)
		}
	}
	if auditACLResource(acl.ResourceTransactionalID, "tx").crn != "transactional-id" {
		t.Error("transactional id resource")
	}
	q := auditClientQuotaResource([]kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("alice")}, {Type: "client-id"}})
	if q.name != "user=alice,client-id=<default>" || q.crn != "client-quota" {
		t.Errorf("client quota resource %+v", q)
	}
	for key, want := range map[kmsg.Key]string{
		kmsg.CreateACLs: "CreateAcls", kmsg.SASLAuthenticate: "SaslAuthenticate", kmsg.InitProducerID: "InitProducerId",
		kmsg.AlterUserSCRAMCredentials: "AlterUserScramCredentials", kmsg.LeaderAndISR: "LeaderAndIsr", kmsg.CreateTopics: "CreateTopics",
	} {
		if got := kafkaAPIName(key.Int16()); got != want {
			t.Errorf("kafkaAPIName(%d) = %q, want %q", key, got, want)
		}
	}
}

// FuzzAuditStrings checks that what events copy from requests is bounded,
// stays valid UTF-8 when it was, and that resource names escape to the
// CRN's safe characters, whatever the input.
func FuzzAuditStrings(f *testing.F) {
	for _, seed := range []string{"", "phi-records", "a/b=c d%", strings.Repeat("é", 600), strings.Repeat("x", auditMaxString+1), "\xff\xfe", "user=alice,client-id=<default>"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := auditString(s)
		if len(got) > auditMaxString+len("...(truncated)") {
			t.Fatalf("auditString kept %d bytes", len(got))
		}
		if len(s) <= auditMaxString && got != s {
			t.Fatalf("short string changed: %q -> %q", s, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("auditString broke UTF-8: %q", got)
		}
		esc := crnEscape(s)
		for i := 0; i < len(esc); i++ {
			c := esc[i]
			if c == '/' || c == '=' || c == ',' || c < 0x21 || c > 0x7e {
				t.Fatalf("crnEscape(%q) = %q keeps %q", s, esc, c)
			}
		}
	})
}
