package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/skein-streaming/skein/protocol"
)

// rejectCA is a test CA that issues client and server certificates.
type rejectCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newRejectCA(t testing.TB, name string) *rejectCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
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
	return &rejectCA{cert: cert, key: key}
}

// issue returns a certificate and key (PEM) for cn, for a server (with
// 127.0.0.1) or a client.
func (ca *rejectCA) issue(t *testing.T, cn string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

func (ca *rejectCA) clientCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, cn, false)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TestSecurityRejectionsReleaseConnections sends each kind of rejected
// client to a broker with PLAINTEXT, SASL_SSL (SCRAM-SHA-512) and SSL
// (ssl.client.auth=required) listeners: a wrong SCRAM password, an unknown
// user, an untrusted client certificate (from an impostor CA with the
// trusted CA's name), no client certificate, TLS to the PLAINTEXT port and
// plaintext to the SSL port. Each gets its specific error; afterwards no
// listener holds a connection, and good clients are served on every
// listener at once.
func TestSecurityRejectionsReleaseConnections(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	ca := newRejectCA(t, "Reject CA")
	impostor := newRejectCA(t, "Reject CA")
	certPEM, keyPEM := ca.issue(t, "broker", true)
	keystore, truststore := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(keystore, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truststore, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{
		NodeID:  1,
		DataDir: filepath.Join(dir, "data"),
		Listeners: []protocol.ListenerConfig{
			{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
			{Name: "SASL_SSL", SecurityProtocol: "SASL_SSL", Addr: "127.0.0.1:0"},
			{Name: "SSL", SecurityProtocol: "SSL", Addr: "127.0.0.1:0"},
		},
		Settings: map[string]string{
			"sasl.enabled.mechanisms":           "SCRAM-SHA-512",
			"ssl.keystore.location":             keystore,
			"ssl.truststore.location":           truststore,
			"listener.name.ssl.ssl.client.auth": "required",
		},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	addrs := map[string]string{"PLAINTEXT": b.Addrs()[0].String(), "SASL_SSL": b.Addrs()[1].String(), "SSL": b.Addrs()[2].String()}

	adm := kadm.NewClient(newClient(t, addrs["PLAINTEXT"]))
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "carol", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "carol-secret"}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	adm.Close()

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	good := ca.clientCert(t, "alice")
	untrusted := impostor.clientCert(t, "alice")
	tlsConfig := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: roots, Certificates: certs}
	}
	// ping runs one Metadata request with a client of its own, closed
	// before it returns.
	ping := func(addr string, opts ...kgo.Opt) error {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0), kgo.RetryTimeout(2 * time.Second), kgo.DialTimeout(5 * time.Second)}, opts...)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err = kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
		return err
	}
	// handshake dials addr with TLS and reads: with TLS 1.3 a rejected
	// client certificate shows on the first read.
	handshake := func(addr string, cfg *tls.Config) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		return err
	}
	scramOpt := func(user, pass string) kgo.Opt {
		return kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
	}
	const scramFailed = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
	isSCRAMFailure := func(err error) bool {
		return errors.Is(err, kerr.SaslAuthenticationFailed) && strings.Contains(err.Error(), scramFailed)
	}
	isTLSMissing := func(err error) bool { return err != nil && strings.Contains(err.Error(), "is TLS missing?") }
	for _, tc := range []struct {
		name string
		run  func() error
		want func(error) bool
	}{
		{"wrong password", func() error {
			return ping(addrs["SASL_SSL"], kgo.DialTLSConfig(tlsConfig()), scramOpt("carol", "wrong"))
		}, isSCRAMFailure},
		{"unknown user", func() error {
			return ping(addrs["SASL_SSL"], kgo.DialTLSConfig(tlsConfig()), scramOpt("nobody", "carol-secret"))
		}, isSCRAMFailure},
		{"untrusted client certificate", func() error { return handshake(addrs["SSL"], tlsConfig(untrusted)) },
			func(err error) bool {
				return err != nil && strings.Contains(err.Error(), "unknown certificate authority")
			}},
		{"no client certificate", func() error { return handshake(addrs["SSL"], tlsConfig()) },
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "certificate required") }},
		// The broker closes the connection on the ClientHello, read as a
		// frame size of about 350 MB.
		{"TLS to the PLAINTEXT port", func() error { return handshake(addrs["PLAINTEXT"], tlsConfig()) },
			func(err error) bool { return errors.Is(err, io.EOF) }},
		// franz-go recognizes a connection closed on its ApiVersions.
		{"plaintext to the SSL port", func() error { return ping(addrs["SSL"]) }, isTLSMissing},
		{"plaintext to the SASL_SSL port", func() error { return ping(addrs["SASL_SSL"], scramOpt("carol", "carol-secret")) }, isTLSMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			accepted := b.server.Stats().ConnectionsAccepted.Load()
			start := time.Now()
			err := tc.run()
			if !tc.want(err) {
				t.Fatalf("got %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the rejection took %v", d)
			}
			if b.server.Stats().ConnectionsAccepted.Load() == accepted {
				t.Fatal("the client never reached the broker")
			}
			t.Logf("rejected in %v: %v", time.Since(start).Round(time.Millisecond), err)
			waitNoConnections(t, b)
			for listener, opts := range map[string][]kgo.Opt{
				"PLAINTEXT": nil,
				"SASL_SSL":  {kgo.DialTLSConfig(tlsConfig()), scramOpt("carol", "carol-secret")},
				"SSL":       {kgo.DialTLSConfig(tlsConfig(good))},
			} {
				if err := ping(addrs[listener], opts...); err != nil {
					t.Fatalf("a good client on %s: %v", listener, err)
				}
			}
			waitNoConnections(t, b)
		})
	}
}

// waitNoConnections polls until no listener of b has an open connection.
func waitNoConnections(t *testing.T, b *Broker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var open []string
		b.server.ListenerConnections(func(listener string, n int64) {
			if n != 0 {
				open = append(open, fmt.Sprintf("%s=%d", listener, n))
			}
		})
		if len(open) == 0 && b.server.Stats().ConnectionsOpen.Load() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections still open: %v (total %d)", open, b.server.Stats().ConnectionsOpen.Load())
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}
