package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/skein-streaming/skein/protocol"
)

const plainJAAS = `org.apache.kafka.common.security.plain.PlainLoginModule required
	user_alice="alice-secret" user_bob="bob \"quoted\" secret";`

// secureBroker runs a broker with a PLAINTEXT listener (first) and the
// given secure listener (second).
func secureBroker(t *testing.T, dir string, secure protocol.ListenerConfig, settings map[string]string) (b *Broker, plainAddr, secureAddr string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := New(Config{
		NodeID:  1,
		DataDir: dir,
		Listeners: []protocol.ListenerConfig{
			{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
			secure,
		},
		Settings: settings,
		Logger:   logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, b.Addrs()[0].String(), b.Addrs()[1].String()
}

func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(5 * time.Second), kgo.RequestRetries(1)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceConsume produces a record to topic and reads it back.
func produceConsume(t *testing.T, ctx context.Context, addr, topic string, opts ...kgo.Opt) {
	t.Helper()
	p := newClient(t, addr, append(opts, kgo.AllowAutoTopicCreation())...)
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	c := newClient(t, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	fs := c.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatalf("consume: %v", err)
	}
	if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != "hello" {
		t.Fatalf("consumed %d records", len(rs))
	}
}

// expectAuthFailure checks a client with mech fails with
// SASL_AUTHENTICATION_FAILED.
func expectAuthFailure(t *testing.T, ctx context.Context, addr string, mech sasl.Mechanism, opts ...kgo.Opt) {
	t.Helper()
	cl := newClient(t, addr, append(opts, kgo.SASL(mech))...)
	err := cl.Ping(ctx)
	if !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}

func TestSASLPlain(t *testing.T) {
	ctx := testCtx(t)
	_, plainAddr, addr := secureBroker(t, t.TempDir(), protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
		map[string]string{
			"sasl.enabled.mechanisms":                             "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": plainJAAS,
		})
	produceConsume(t, ctx, addr, "plain", kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	produceConsume(t, ctx, addr, "plain2", kgo.SASL(plain.Auth{User: "bob", Pass: `bob "quoted" secret`}.AsMechanism()))
	expectAuthFailure(t, ctx, addr, plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism())
	expectAuthFailure(t, ctx, addr, plain.Auth{User: "mallory", Pass: "alice-secret"}.AsMechanism())
	// A client without SASL is disconnected at its first request.
	if err := newClient(t, addr).Ping(ctx); err == nil {
		t.Fatal("unauthenticated client served")
	}
	// SCRAM is not enabled on this listener.
	cl := newClient(t, addr, kgo.SASL(scram.Auth{User: "alice", Pass: "x"}.AsSha256Mechanism()))
	if err := cl.Ping(ctx); !errors.Is(err, kerr.UnsupportedSaslMechanism) {
		t.Fatalf("SCRAM on a PLAIN listener: %v", err)
	}
	// Still serving.
	produceConsume(t, ctx, addr, "plain3", kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	if err := newClient(t, plainAddr).Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSASLHandshakeV0 authenticates with SaslHandshake v0 and a bare PLAIN
// token, as old clients do, then sends a request.
func TestSASLHandshakeV0(t *testing.T) {
	_, _, addr := secureBroker(t, t.TempDir(), protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
		map[string]string{
			"sasl.enabled.mechanisms":                             "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": plainJAAS,
		})
	for _, tc := range []struct {
		pass string
		ok   bool
	}{{"alice-secret", true}, {"wrong", false}} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(0)
		hs.Mechanism = "PLAIN"
		if resp := rawRequest(t, c, 1, hs).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
			t.Fatalf("handshake error %d", resp.ErrorCode)
		}
		tok := []byte("\x00alice\x00" + tc.pass)
		c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))
		c.Write(tok)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		_, err = io.ReadFull(c, size[:])
		if !tc.ok {
			if err == nil {
				t.Fatal("wrong password answered with a token")
			}
			continue
		}
		if err != nil || binary.BigEndian.Uint32(size[:]) != 0 {
			t.Fatalf("PLAIN v0 answer: %v, size %d", err, binary.BigEndian.Uint32(size[:]))
		}
		md := kmsg.NewPtrMetadataRequest()
		md.SetVersion(4)
		rawRequest(t, c, 2, md)
	}
}

// TestSASLReauthentication checks session_lifetime_ms, that franz-go
// re-authenticates and keeps working, and that a connection that does not
// re-authenticate is closed after its session expires.
func TestSASLReauthentication(t *testing.T) {
	ctx := testCtx(t)
	_, _, addr := secureBroker(t, t.TempDir(), protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
		map[string]string{
			"sasl.enabled.mechanisms":                             "PLAIN",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": plainJAAS,
			"connections.max.reauth.ms":                           "1000",
		})
	cl := newClient(t, addr, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()), kgo.AllowAutoTopicCreation())
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		time.Sleep(700 * time.Millisecond)
	}

	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	rawRequest(t, c, 1, hs)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(1)
	auth.SASLAuthBytes = []byte("\x00alice\x00alice-secret")
	resp := rawRequest(t, c, 2, auth).(*kmsg.SASLAuthenticateResponse)
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis != 1000 {
		t.Fatalf("authenticate: error %d, session lifetime %d", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(4)
	rawRequest(t, c, 3, md)
	time.Sleep(1200 * time.Millisecond)
	c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, md, 4))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("expired session still served")
	}
}

// tlsFiles writes a CA and a broker keystore for 127.0.0.1 and returns the
// paths and a client TLS config trusting the CA.
func tlsFiles(t *testing.T) (keystore, truststore string, client *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	keystore, truststore = filepath.Join(dir, "broker.pem"), filepath.Join(dir, "ca.pem")
	pemData := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(keystore, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(truststore, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return keystore, truststore, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// TestSCRAMOverSASLSSL creates SCRAM credentials with kadm, authenticates
// over SASL_SSL with SCRAM-SHA-512 and SCRAM-SHA-256, and checks the
// credentials survive a restart.
func TestSCRAMOverSASLSSL(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	keystore, _, clientTLS := tlsFiles(t)
	settings := map[string]string{
		"sasl.enabled.mechanisms":                      "SCRAM-SHA-512,SCRAM-SHA-256",
		"listener.name.sasl_ssl.ssl.keystore.location": keystore,
	}
	lc := protocol.ListenerConfig{Name: "SASL_SSL", SecurityProtocol: "SASL_SSL", Addr: "127.0.0.1:0"}
	b, plainAddr, addr := secureBroker(t, dir, lc, settings)

	adm := kadm.NewClient(newClient(t, plainAddr))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "carol-secret"},
		{User: "dave", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "dave-secret"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res["carol"].Err; err != nil {
		t.Fatal(err)
	}
	weak := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	weak.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: "weak", Mechanism: 1, Iterations: 1000, Salt: []byte("salt"), SaltedPassword: make([]byte, 32)}}
	wr, err := weak.RequestWith(ctx, newClient(t, plainAddr))
	if err != nil || len(wr.Results) != 1 || wr.Results[0].ErrorCode != kerr.UnacceptableCredential.Code {
		t.Fatalf("1000 iterations: %v %+v", err, wr)
	}

	tlsOpt := kgo.DialTLSConfig(clientTLS)
	produceConsume(t, ctx, addr, "scram", tlsOpt, kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha512Mechanism()))
	produceConsume(t, ctx, addr, "scram256", tlsOpt, kgo.SASL(scram.Auth{User: "dave", Pass: "dave-secret"}.AsSha256Mechanism()))
	expectAuthFailure(t, ctx, addr, scram.Auth{User: "carol", Pass: "wrong"}.AsSha512Mechanism(), tlsOpt)
	expectAuthFailure(t, ctx, addr, scram.Auth{User: "nobody", Pass: "carol-secret"}.AsSha512Mechanism(), tlsOpt)
	// carol has no SCRAM-SHA-256 credential.
	expectAuthFailure(t, ctx, addr, scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism(), tlsOpt)
	// Plaintext on the TLS port fails, and the broker keeps serving.
	if err := newClient(t, addr, kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha512Mechanism()), kgo.DialTimeout(2*time.Second)).Ping(ctx); err == nil {
		t.Fatal("plaintext client served on SASL_SSL")
	}

	// Only salted keys are stored.
	for _, c := range b.meta.Image().ScramCredentials {
		if len(c.StoredKey) == 0 || len(c.ServerKey) == 0 || len(c.Salt) == 0 {
			t.Fatalf("credential %+v", c)
		}
	}

	b.Close()
	_, plainAddr, addr = secureBroker(t, dir, lc, settings)
	adm = kadm.NewClient(newClient(t, plainAddr))
	desc, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(desc) != 2 || len(desc["carol"].CredInfos) != 1 || desc["carol"].CredInfos[0].Mechanism != kadm.ScramSha512 || desc["carol"].CredInfos[0].Iterations != 8192 {
		t.Fatalf("described after restart: %+v", desc)
	}
	produceConsume(t, ctx, addr, "scram-restart", tlsOpt, kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha512Mechanism()))

	// Deletion, then the user cannot authenticate.
	res, err = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || res["carol"].Err != nil {
		t.Fatalf("delete: %v %v", err, res["carol"].Err)
	}
	expectAuthFailure(t, ctx, addr, scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha512Mechanism(), tlsOpt)
	res, _ = adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "carol", Mechanism: kadm.ScramSha512}}, nil)
	if !errors.Is(res["carol"].Err, kerr.ResourceNotFound) {
		t.Fatalf("second delete: %v", res["carol"].Err)
	}
	desc, _ = adm.DescribeUserSCRAMs(ctx, "carol")
	if !errors.Is(desc["carol"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe deleted: %+v", desc["carol"])
	}
}

func TestSecurityConfigErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		lc       protocol.ListenerConfig
		settings map[string]string
	}{
		"gssapi": {protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"}, nil},
		"no jaas": {protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
			map[string]string{"sasl.enabled.mechanisms": "PLAIN"}},
		"bad jaas": {protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
			map[string]string{"sasl.enabled.mechanisms": "PLAIN", "listener.name.sasl_plaintext.plain.sasl.jaas.config": `PlainLoginModule required user_a="x"`}},
		"no keystore": {protocol.ListenerConfig{Name: "SSL", SecurityProtocol: "SSL", Addr: "127.0.0.1:0"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{NodeID: 1, DataDir: t.TempDir(), Listeners: []protocol.ListenerConfig{tc.lc}, Settings: tc.settings})
			if err == nil {
				t.Fatal("accepted")
			}
			t.Log(err)
		})
	}
}

// TestSASLReauthenticationKeepsMechanism re-authenticates a PLAIN session
// with SCRAM-SHA-256: the handshake is answered, the exchange fails with
// Kafka's message and the connection is closed.
func TestSASLReauthenticationKeepsMechanism(t *testing.T) {
	_, _, addr := secureBroker(t, t.TempDir(), protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"},
		map[string]string{
			"sasl.enabled.mechanisms":                             "PLAIN,SCRAM-SHA-256",
			"listener.name.sasl_plaintext.plain.sasl.jaas.config": plainJAAS,
			"connections.max.reauth.ms":                           "60000",
		})
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	rawRequest(t, c, 1, hs)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(1)
	auth.SASLAuthBytes = []byte("\x00alice\x00alice-secret")
	if resp := rawRequest(t, c, 2, auth).(*kmsg.SASLAuthenticateResponse); resp.ErrorCode != 0 {
		t.Fatalf("authenticate: error %d", resp.ErrorCode)
	}
	hs.Mechanism = "SCRAM-SHA-256"
	if resp := rawRequest(t, c, 3, hs).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
		t.Fatalf("re-authentication handshake: error %d", resp.ErrorCode)
	}
	auth.SASLAuthBytes = []byte("n,,n=alice,r=abcdefgh")
	resp := rawRequest(t, c, 4, auth).(*kmsg.SASLAuthenticateResponse)
	want := "SASL mechanism 'SCRAM-SHA-256' requested by client is not supported for re-authentication of mechanism 'PLAIN'"
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != want {
		t.Fatalf("re-authentication with another mechanism: error %d %v", resp.ErrorCode, resp.ErrorMessage)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after a failed re-authentication")
	}
}
