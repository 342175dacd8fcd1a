package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/internal/syncbuf"
	"github.com/skein-streaming/skein/protocol"
)

// testCA issues the certificates of the security tests.
type testCA struct {
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// truststore is the CA certificate as a PEM file.
	truststore string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Skein CLI test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{dir: t.TempDir(), cert: cert, key: key}
	ca.truststore = filepath.Join(ca.dir, "ca.pem")
	writeTestFile(t, ca.truststore, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return ca
}

// keystore writes a PEM keystore (certificate, then its key) for CN=cn:
// a server certificate for 127.0.0.1 and localhost, or a client one.
func (ca *testCA) keystore(t *testing.T, cn string, server bool) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ca.dir, cn+".pem")
	writeTestFile(t, path, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...))
	return path
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// properties writes a client properties file.
func properties(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client.properties")
	writeTestFile(t, path, []byte(strings.Join(lines, "\n")+"\n"))
	return path
}

// startSecureBroker starts a broker whose only listener is proto, with
// the StandardAuthorizer and super.users=User:admin. SCRAM-SHA-512
// credentials for users (name to password) are created first, over a
// PLAINTEXT listener of an earlier run of the broker on the same data
// directory, as an operator provisions them before closing that
// listener.
func startSecureBroker(t *testing.T, proto string, settings map[string]string, users map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"authorizer.class.name":            config.StandardAuthorizer,
		"super.users":                      "User:admin",
		"group.initial.rebalance.delay.ms": "0",
		"offsets.topic.replication.factor": "1",
		"skein.admin.address":              "",
		"skein.registry.address":           "",
	}
	if len(users) > 0 {
		s := map[string]string{}
		for k, v := range base {
			s[k] = v
		}
		s["super.users"] = "User:ANONYMOUS"
		b := newTestBroker(t, dir, []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}}, s)
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()))
		if err != nil {
			t.Fatal(err)
		}
		var upserts []kadm.UpsertSCRAM
		for u, p := range users {
			upserts = append(upserts, kadm.UpsertSCRAM{User: u, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: p})
		}
		res, err := kadm.NewClient(cl).AlterUserSCRAMs(t.Context(), nil, upserts)
		cl.Close()
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("creating SCRAM credentials: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range settings {
		base[k] = v
	}
	b := newTestBroker(t, dir, []protocol.ListenerConfig{{Name: proto, SecurityProtocol: proto, Addr: "127.0.0.1:0"}}, base)
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the broker: %v", err)
		}
	})
	return b.Addrs()[0].String()
}

func newTestBroker(t *testing.T, dir string, listeners []protocol.ListenerConfig, settings map[string]string) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{NodeID: 1, DataDir: dir, Listeners: listeners, Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	return b
}

// secureCLI runs skein with --bootstrap and --command-config.
func secureCLI(t *testing.T, bootstrap, props, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args = append(args, "--bootstrap", bootstrap, "--command-config", props)
	err := run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func mustSecureCLI(t *testing.T, bootstrap, props, stdin string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := secureCLI(t, bootstrap, props, stdin, args...)
	if err != nil {
		t.Fatalf("skein %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

// wantCLIError runs a command that must fail with an error naming want.
func wantCLIError(t *testing.T, bootstrap, props, stdin, want string, args ...string) {
	t.Helper()
	_, errOut, err := secureCLI(t, bootstrap, props, stdin, args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("skein %s: got %v (stderr %q), want an error with %q", strings.Join(args, " "), err, errOut, want)
	}
	t.Logf("skein %s: %v", strings.Join(args, " "), err)
}

const scramJAAS = `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`

// TestCommandConfigSASLSSL drives the client commands against a broker
// whose only listener is SASL_SSL with SCRAM-SHA-512 and an authorizer:
// with the super user's credentials in --command-config, topic create,
// acl add and list, produce and consume work; a wrong password fails with
// the broker's SASL authentication error; a user without ACLs gets
// TOPIC_AUTHORIZATION_FAILED and CLUSTER_AUTHORIZATION_FAILED, and the
// ACL the super user adds then lets it produce.
func TestCommandConfigSASLSSL(t *testing.T) {
	ca := newTestCA(t)
	bs := startSecureBroker(t, "SASL_SSL", map[string]string{
		"ssl.keystore.location":   ca.keystore(t, "broker", true),
		"sasl.enabled.mechanisms": "SCRAM-SHA-512",
	}, map[string]string{"admin": "admin-secret", "alice": "alice-secret"})
	client := func(user, pass string) string {
		return properties(t,
			"# the Kafka client settings of the CLI",
			"security.protocol=SASL_SSL",
			"sasl.mechanism=SCRAM-SHA-512",
			fmt.Sprintf(scramJAAS, user, pass),
			"ssl.truststore.type=PEM",
			"ssl.truststore.location="+ca.truststore,
		)
	}
	admin, alice := client("admin", "admin-secret"), client("alice", "alice-secret")

	mustSecureCLI(t, bs, admin, "", "topic", "create", "phi", "--partitions", "1")
	out, _ := mustSecureCLI(t, bs, admin, "", "acl", "add", "--allow-principal", "User:alice", "--operation", "Write", "--operation", "Describe", "--topic", "phi")
	if strings.Count(out, "added ALLOW User:alice") != 2 {
		t.Fatalf("acl add output:\n%s", out)
	}
	out, _ = mustSecureCLI(t, bs, admin, "", "acl", "list")
	if !strings.Contains(out, "User:alice") || !strings.Contains(out, "WRITE") {
		t.Fatalf("acl list output:\n%s", out)
	}
	if _, errOut := mustSecureCLI(t, bs, admin, "a\nb\n", "produce", "phi"); errOut != "produced 2 records to phi\n" {
		t.Fatalf("produce stderr %q", errOut)
	}
	if out, _ := mustSecureCLI(t, bs, admin, "", "consume", "phi", "--from-beginning"); out != "a\nb\n" {
		t.Fatalf("consume output %q", out)
	}

	// A wrong password: the broker's SASL error.
	wrong := client("admin", "not-the-secret")
	wantCLIError(t, bs, wrong, "", "SASL_AUTHENTICATION_FAILED", "topic", "list")
	wantCLIError(t, bs, wrong, "x\n", "SASL_AUTHENTICATION_FAILED", "produce", "phi")

	// A user who is not a super user.
	wantCLIError(t, bs, alice, "", "CLUSTER_AUTHORIZATION_FAILED", "acl", "add", "--allow-principal", "User:alice", "--operation", "All", "--topic", "phi")
	wantCLIError(t, bs, alice, "", "TOPIC_AUTHORIZATION_FAILED", "topic", "create", "other", "--partitions", "1")
	wantCLIError(t, bs, alice, "", "TOPIC_AUTHORIZATION_FAILED", "consume", "phi", "--from-beginning")
	if _, errOut := mustSecureCLI(t, bs, alice, "c\n", "produce", "phi"); errOut != "produced 1 records to phi\n" {
		t.Fatalf("produce stderr %q", errOut)
	}
}

// TestCommandConfigMutualTLS drives the commands against a broker whose
// only listener is SSL with ssl.client.auth=required: the client
// certificate of the keystore in --command-config is the super user; a
// client without a keystore is refused; another certificate is not
// authorized.
func TestCommandConfigMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	bs := startSecureBroker(t, "SSL", map[string]string{
		"ssl.keystore.location":       ca.keystore(t, "broker", true),
		"ssl.truststore.location":     ca.truststore,
		"ssl.client.auth":             "required",
		"ssl.principal.mapping.rules": "RULE:^CN=(.*)$/$1/,DEFAULT",
	}, nil)
	client := func(keystore string) string {
		lines := []string{"security.protocol=SSL", "ssl.truststore.location=" + ca.truststore, "ssl.endpoint.identification.algorithm=https"}
		if keystore != "" {
			lines = append(lines, "ssl.keystore.type=PEM", "ssl.keystore.location="+keystore)
		}
		return properties(t, lines...)
	}
	admin := client(ca.keystore(t, "admin", false))
	mustSecureCLI(t, bs, admin, "", "topic", "create", "phi", "--partitions", "1")
	mustSecureCLI(t, bs, admin, "r1\n", "produce", "phi")
	if out, _ := mustSecureCLI(t, bs, admin, "", "consume", "phi", "--from-beginning"); out != "r1\n" {
		t.Fatalf("consume output %q", out)
	}
	mustSecureCLI(t, bs, admin, "", "acl", "add", "--allow-principal", "User:bob", "--operation", "Read", "--topic", "phi")
	if out, _ := mustSecureCLI(t, bs, admin, "", "acl", "list", "--topic", "phi"); !strings.Contains(out, "User:bob") {
		t.Fatalf("acl list output:\n%s", out)
	}
	mustSecureCLI(t, bs, admin, "", "topic", "create", "other", "--partitions", "1")
	// CN=bob maps to User:bob, who may read phi only.
	bob := client(ca.keystore(t, "bob", false))
	if out, _ := mustSecureCLI(t, bs, bob, "", "consume", "phi", "--from-beginning"); out != "r1\n" {
		t.Fatalf("consume output for bob %q", out)
	}
	wantCLIError(t, bs, bob, "", "TOPIC_AUTHORIZATION_FAILED", "consume", "other", "--from-beginning")
	wantCLIError(t, bs, bob, "", "CLUSTER_AUTHORIZATION_FAILED", "acl", "list")
	// The idempotent producer needs Write on some topic (or
	// IdempotentWrite on the cluster), as in Kafka.
	wantCLIError(t, bs, bob, "x\n", "CLUSTER_AUTHORIZATION_FAILED", "produce", "phi")
	// Without a client certificate the broker ends the handshake.
	if _, _, err := secureCLI(t, bs, client(""), "", "topic", "list"); err == nil {
		t.Fatal("topic list without a client certificate succeeded")
	}
}

// TestCommandConfigErrors checks the file's errors name their key, and
// unknown keys are reported on stderr and ignored.
func TestCommandConfigErrors(t *testing.T) {
	for _, c := range []struct {
		lines []string
		want  string
	}{
		{[]string{"security.protocol=TLS"}, "security.protocol"},
		{[]string{"security.protocol=SASL_PLAINTEXT"}, "sasl.mechanism: unset"},
		{[]string{"security.protocol=SASL_PLAINTEXT", "sasl.mechanism=GSSAPI"}, "sasl.mechanism: \"GSSAPI\" is not supported"},
		{[]string{"security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN"}, "sasl.jaas.config: required"},
		{[]string{"security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN", "sasl.jaas.config=x required username=\"a\";"}, "sasl.jaas.config: the login module needs"},
		{[]string{"security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN", "sasl.jaas.config=x maybe;"}, "sasl.jaas.config"},
		{[]string{"security.protocol=SASL_SSL", "sasl.mechanism=OAUTHBEARER", "sasl.oauthbearer.token.endpoint.url=https://idp.example/token"}, "sasl.oauthbearer.token.endpoint.url"},
		{[]string{"security.protocol=SASL_SSL", "sasl.mechanism=OAUTHBEARER", "sasl.oauthbearer.token.endpoint.url=file:/nonexistent/token"}, "sasl.oauthbearer.token.endpoint.url"},
		{[]string{"security.protocol=SSL", "ssl.truststore.type=JKS"}, "ssl.truststore.type"},
		{[]string{"security.protocol=SSL", "ssl.keystore.type=PKCS12"}, "ssl.keystore.type"},
		{[]string{"security.protocol=SSL", "ssl.truststore.location=/nonexistent/ca.pem"}, "ssl.truststore.location"},
		{[]string{"security.protocol=SSL", "ssl.keystore.location=/nonexistent/me.pem"}, "ssl.keystore.location"},
		{[]string{"security.protocol=SSL", "ssl.keystore.key=x"}, "ssl.keystore.certificate.chain"},
		{[]string{"security.protocol=SSL", "ssl.endpoint.identification.algorithm=dns"}, "ssl.endpoint.identification.algorithm"},
		{[]string{"security.protocol=SSL", "ssl.enabled.protocols=TLSv1.1"}, "ssl.enabled.protocols"},
		{[]string{"security.protocol=SSL", "ssl.key.password=secret"}, "ssl.key.password: encrypted private keys are not supported"},
	} {
		_, _, err := secureCLI(t, "127.0.0.1:1", properties(t, c.lines...), "", "topic", "list")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error with %q", c.lines, err, c.want)
		}
	}
	if _, _, err := secureCLI(t, "127.0.0.1:1", filepath.Join(t.TempDir(), "missing.properties"), "", "topic", "list"); err == nil || !strings.Contains(err.Error(), "--command-config") {
		t.Errorf("missing file: %v", err)
	}

	// Unknown keys are reported and ignored; SKEIN_COMMAND_CONFIG is the
	// default of the flag; the registry command also accepts the
	// kafkastore. prefix.
	var warn bytes.Buffer
	opts, err := loadClientProperties(properties(t, "client.id=x", "security.protocol=PLAINTEXT"), false, &warn)
	if err != nil || len(opts) != 0 || !strings.Contains(warn.String(), "client.id is not a known client config") {
		t.Fatalf("unknown key: %v, %d options, warning %q", err, len(opts), warn.String())
	}
	warn.Reset()
	props := properties(t, "kafkastore.security.protocol=SASL_SSL", "kafkastore.sasl.mechanism=PLAIN",
		`kafkastore.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="sr" password="pw";`)
	if opts, err := loadClientProperties(props, true, &warn); err != nil || len(opts) != 2 || warn.Len() != 0 {
		t.Fatalf("kafkastore. keys: %v, %d options, warnings %q", err, len(opts), warn.String())
	}
	if opts, err := loadClientProperties(props, false, &warn); err != nil || len(opts) != 0 || !strings.Contains(warn.String(), "kafkastore.security.protocol") {
		t.Fatalf("kafkastore. keys outside the registry: %v, %d options, warnings %q", err, len(opts), warn.String())
	}
	token := filepath.Join(t.TempDir(), "token")
	writeTestFile(t, token, []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln\n"))
	if opts, err := loadClientProperties(properties(t, "security.protocol=SASL_SSL", "sasl.mechanism=OAUTHBEARER",
		"sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler",
		"sasl.oauthbearer.token.endpoint.url=file://"+token), false, &warn); err != nil || len(opts) != 2 {
		t.Fatalf("OAUTHBEARER with a token file: %v, %d options", err, len(opts))
	}
	t.Setenv(commandConfigEnv, properties(t, "security.protocol=BOGUS"))
	if _, _, err := cliEnvOnly(t, "topic", "list", "--bootstrap", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "security.protocol") {
		t.Fatalf("%s: %v", commandConfigEnv, err)
	}
}

// cliEnvOnly runs skein with args as given.
func cliEnvOnly(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestServeRegistrySASLSSLOnly runs skein serve with a single SASL_SSL
// listener (PLAIN), an authorizer and the broker's principal as the only
// super user: the embedded registry connects with the broker's
// inter-broker identity, and a schema registered over HTTP is read back.
func TestServeRegistrySASLSSLOnly(t *testing.T) {
	ca := newTestCA(t)
	ctx, cancel := context.WithCancel(t.Context())
	var stderr syncbuf.Buffer
	done := make(chan error, 1)
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" user_broker="broker-secret";`
	go func() {
		done <- run(ctx, []string{"serve",
			"--data-dir", t.TempDir(),
			"--listeners", "SASL_SSL://127.0.0.1:0",
			"--set", "ssl.keystore.location=" + ca.keystore(t, "broker", true),
			"--set", "ssl.truststore.location=" + ca.truststore,
			"--set", "sasl.enabled.mechanisms=PLAIN",
			"--set", "sasl.mechanism.inter.broker.protocol=PLAIN",
			"--set", "listener.name.sasl_ssl.plain.sasl.jaas.config=" + jaas,
			"--set", "authorizer.class.name=" + config.StandardAuthorizer,
			"--set", "super.users=User:broker",
			"--set", "skein.admin.address=",
			"--set", "skein.registry.address=127.0.0.1:0",
		}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("skein serve: %v", err)
		}
	}()
	var url string
	deadline := time.Now().Add(30 * time.Second)
	for url == "" {
		logs := stderr.String()
		if i := strings.Index(logs, `msg="schema registry starting" addr=`); i >= 0 {
			rest := logs[i+len(`msg="schema registry starting" addr=`):]
			url = "http://" + strings.Fields(rest)[0]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("skein serve ended: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no schema registry:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond) // polling the log with a deadline
	}
	if !strings.Contains(stderr.String(), "kafka_listener=SASL_SSL") {
		t.Fatalf("registry not on the SASL_SSL listener:\n%s", stderr.String())
	}
	schema := writeFile(t, "u.avsc", `{"type":"record","name":"U","fields":[{"name":"n","type":"string"}]}`)
	for {
		out, err := schemaCLI(t, url, "register", "u-value", schema)
		if err == nil {
			if out != "1\n" {
				t.Fatalf("register: %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("register: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // the registry is electing its writer
	}
	if out := mustSchema(t, url, "get", "u-value", "1"); !strings.Contains(out, `"id": 1`) {
		t.Fatalf("get: %q", out)
	}
}

// TestEmbeddedRegistryNoIdentity checks that a node whose only listener
// is SASL_SSL without an inter-broker identity skips its registry with the
// default address and refuses a configured one, naming why.
func TestEmbeddedRegistryNoIdentity(t *testing.T) {
	ca := newTestCA(t)
	b := newTestBroker(t, t.TempDir(), []protocol.ListenerConfig{{Name: "SASL_SSL", SecurityProtocol: "SASL_SSL", Addr: "127.0.0.1:0"}}, map[string]string{
		"ssl.keystore.location":   ca.keystore(t, "broker", true),
		"sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"skein.admin.address":     "",
	})
	t.Cleanup(func() { b.Close() })
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	e, err := startEmbeddedRegistry(t.Context(), map[string]string{}, b, nil, 0, logger)
	if err != nil || e != nil || !strings.Contains(logs.String(), "sasl.mechanism.inter.broker.protocol") {
		t.Fatalf("default address: %v, %v; logs:\n%s", e, err, logs.String())
	}
	_, err = startEmbeddedRegistry(t.Context(), map[string]string{config.RegistryAddress: "127.0.0.1:0"}, b, nil, 0, logger)
	if err == nil || !strings.Contains(err.Error(), "no PLAINTEXT listener") || !strings.Contains(err.Error(), "sasl.mechanism.inter.broker.protocol") {
		t.Fatalf("configured address: %v", err)
	}
}
