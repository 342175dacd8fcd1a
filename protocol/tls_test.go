package protocol

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testCA is a certificate authority generated for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

var serial atomic.Int64

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for subject, signed by the CA.
func (ca *testCA) issue(t *testing.T, subject pkix.Name, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// principalHandler answers ApiVersions and Metadata and records the
// principal each request arrived with.
type principalHandler struct {
	principals chan string
}

func (h *principalHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case kmsg.Metadata.Int16(), kmsg.ApiVersions.Int16():
		return 0, kmsg.RequestForKey(key).MaxVersion(), true
	}
	return 0, 0, false
}

func (h *principalHandler) Handle(_ context.Context, req *Request) Reply {
	select {
	case h.principals <- req.Session.Principal():
	default:
	}
	return Reply{Resp: req.Msg.ResponseKind()}
}

type tlsFixture struct {
	ca       *testCA
	dir      string
	keystore string
	trust    string
}

func newTLSFixture(t *testing.T) *tlsFixture {
	f := &tlsFixture{ca: newTestCA(t, "Test CA"), dir: t.TempDir()}
	cert, key := f.ca.issue(t, pkix.Name{CommonName: "localhost"}, true)
	f.keystore = filepath.Join(f.dir, "broker.pem")
	f.trust = filepath.Join(f.dir, "ca.pem")
	if err := os.WriteFile(f.keystore, append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.trust, f.ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *tlsFixture) start(t *testing.T, tc TLSConfig) (*Server, *principalHandler) {
	t.Helper()
	tc.KeystoreLocation = f.keystore
	tc.TruststoreLocation = f.trust
	h := &principalHandler{principals: make(chan string, 16)}
	s := NewServer(Config{Listeners: []ListenerConfig{
		{Name: "SSL", SecurityProtocol: "SSL", Addr: "127.0.0.1:0", TLS: &tc},
		{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"},
	}, MaxRequestBytes: 1 << 20}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, h
}

func (f *tlsFixture) clientConfig(t *testing.T, client *tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.cert)
	c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if client != nil {
		c.Certificates = []tls.Certificate{*client}
	}
	return c
}

func dialTLS(t *testing.T, addr net.Addr, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr.String(), cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// roundTrip sends a Metadata request and returns the principal the server
// saw, or an error if the connection failed.
func roundTrip(t *testing.T, c net.Conn, h *principalHandler) (string, error) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrMetadataRequest(), 7)); err != nil {
		return "", err
	}
	var b [4]byte
	if _, err := c.Read(b[:]); err != nil {
		return "", err
	}
	return <-h.principals, nil
}

func TestTLSServerOnly(t *testing.T) {
	f := newTLSFixture(t)
	s, h := f.start(t, TLSConfig{ClientAuth: "none"})
	c, err := dialTLS(t, s.Addrs()[0], f.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := roundTrip(t, c, h)
	if err != nil {
		t.Fatal(err)
	}
	if p != AnonymousPrincipal {
		t.Fatalf("principal %q", p)
	}
	if v := c.ConnectionState().Version; v < tls.VersionTLS12 {
		t.Fatalf("negotiated TLS version %x", v)
	}
	// TLS 1.1 is refused.
	old := f.clientConfig(t, nil)
	old.MaxVersion = tls.VersionTLS11
	old.MinVersion = tls.VersionTLS10
	if _, err := dialTLS(t, s.Addrs()[0], old); err == nil {
		t.Fatal("TLS 1.1 handshake succeeded")
	}
}

func TestMutualTLSPrincipal(t *testing.T) {
	f := newTLSFixture(t)
	for _, tc := range []struct {
		rules string
		want  string
	}{
		{"", "User:CN=alice,OU=Eng,O=Acme\\, Inc.,C=US"},
		{"DEFAULT", "User:CN=alice,OU=Eng,O=Acme\\, Inc.,C=US"},
		{"RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/L,DEFAULT", "User:alice@eng"},
	} {
		t.Run(tc.rules, func(t *testing.T) {
			s, h := f.start(t, TLSConfig{ClientAuth: "required", PrincipalMappingRules: tc.rules})
			certPEM, keyPEM := f.ca.issue(t, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"Eng"}, Organization: []string{"Acme, Inc."}, Country: []string{"US"}}, false)
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			c, err := dialTLS(t, s.Addrs()[0], f.clientConfig(t, &cert))
			if err != nil {
				t.Fatal(err)
			}
			p, err := roundTrip(t, c, h)
			if err != nil {
				t.Fatal(err)
			}
			if p != tc.want {
				t.Fatalf("principal %q, want %q", p, tc.want)
			}
		})
	}
}

// TestMutualTLSRejects checks that a missing or untrusted client
// certificate fails the connection while the listener keeps serving.
func TestMutualTLSRejects(t *testing.T) {
	f := newTLSFixture(t)
	s, h := f.start(t, TLSConfig{ClientAuth: "required"})
	other := newTestCA(t, "Other CA")
	certPEM, keyPEM := other.issue(t, pkix.Name{CommonName: "mallory"}, false)
	untrusted, _ := tls.X509KeyPair(certPEM, keyPEM)
	for name, cert := range map[string]*tls.Certificate{"untrusted": &untrusted, "none": nil} {
		t.Run(name, func(t *testing.T) {
			c, err := dialTLS(t, s.Addrs()[0], f.clientConfig(t, cert))
			if err == nil {
				// With TLS 1.3 the client learns of the rejection
				// on its first read.
				_, err = roundTrip(t, c, h)
			}
			if err == nil {
				t.Fatal("connection with a bad client certificate served")
			}
		})
	}
	certPEM, keyPEM = f.ca.issue(t, pkix.Name{CommonName: "bob"}, false)
	good, _ := tls.X509KeyPair(certPEM, keyPEM)
	c, err := dialTLS(t, s.Addrs()[0], f.clientConfig(t, &good))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := roundTrip(t, c, h); err != nil || p != "User:CN=bob" {
		t.Fatalf("principal %q, err %v", p, err)
	}
}

// TestTLSProtocolMismatch speaks TLS to the plaintext port and plaintext to
// the TLS port: both fail promptly and both listeners keep serving.
func TestTLSProtocolMismatch(t *testing.T) {
	f := newTLSFixture(t)
	s, h := f.start(t, TLSConfig{})
	tlsAddr, plainAddr := s.Addrs()[0], s.Addrs()[1]

	start := time.Now()
	if c, err := dialTLS(t, plainAddr, f.clientConfig(t, nil)); err == nil {
		if _, err := roundTrip(t, c, h); err == nil {
			t.Fatal("TLS client served by the plaintext listener")
		}
	}
	plain, err := net.Dial("tcp", tlsAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := roundTrip(t, plain, h); err == nil {
		t.Fatal("plaintext client served by the TLS listener")
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("mismatched connections took %v to fail", d)
	}

	good, err := dialTLS(t, tlsAddr, f.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := roundTrip(t, good, h); err != nil {
		t.Fatal(err)
	}
	pc, err := net.Dial("tcp", plainAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := roundTrip(t, pc, h); err != nil {
		t.Fatal(err)
	}
}

// TestTLSReload replaces the keystore file and checks the next handshake
// serves the new certificate.
func TestTLSReload(t *testing.T) {
	f := newTLSFixture(t)
	s, _ := f.start(t, TLSConfig{})
	first, err := dialTLS(t, s.Addrs()[0], f.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if cn := first.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "localhost" {
		t.Fatalf("served %q", cn)
	}
	cert, key := f.ca.issue(t, pkix.Name{CommonName: "renewed"}, true)
	if err := os.WriteFile(f.keystore, append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(f.keystore, later, later)
	second, err := dialTLS(t, s.Addrs()[0], f.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if cn := second.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "renewed" {
		t.Fatalf("after reload served %q", cn)
	}
	// A broken file keeps the last good certificate.
	os.WriteFile(f.keystore, []byte("garbage"), 0o600)
	later = later.Add(time.Minute)
	os.Chtimes(f.keystore, later, later)
	third, err := dialTLS(t, s.Addrs()[0], f.clientConfig(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if cn := third.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "renewed" {
		t.Fatalf("after a bad reload served %q", cn)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	f := newTLSFixture(t)
	for name, tc := range map[string]TLSConfig{
		"no keystore":   {},
		"bad auth":      {KeystoreLocation: f.keystore, ClientAuth: "sometimes"},
		"bad protocol":  {KeystoreLocation: f.keystore, Protocols: []string{"TLSv1.1"}},
		"bad rules":     {KeystoreLocation: f.keystore, PrincipalMappingRules: "RULE:oops"},
		"missing file":  {KeystoreLocation: filepath.Join(f.dir, "nope.pem")},
		"missing trust": {KeystoreLocation: f.keystore, ClientAuth: "required", TruststoreLocation: filepath.Join(f.dir, "nope.pem")},
	} {
		t.Run(name, func(t *testing.T) {
			s := NewServer(Config{Listeners: []ListenerConfig{{Name: "SSL", SecurityProtocol: "SSL", Addr: "127.0.0.1:0", TLS: &tc}}}, &principalHandler{})
			if err := s.Start(); err == nil {
				s.Close()
				t.Fatal("started")
			} else {
				t.Log(err)
			}
		})
	}
}

// TestPrincipalMappingRules follows the cases of Kafka's
// SslPrincipalMapperTest.
func TestPrincipalMappingRules(t *testing.T) {
	for _, tc := range []struct{ rules, dn, want string }{
		{"DEFAULT", "CN=Duke,OU=ServiceUsers,O=Org,C=US", "CN=Duke,OU=ServiceUsers,O=Org,C=US"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=Duke,OU=ServiceUsers,O=Org,C=US", "Duke"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,DEFAULT", "CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/U,DEFAULT", "CN=Duke,OU=ServiceUsers,O=Org,C=US", "DUKE"},
		{"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=Duke,OU=Other,O=Org,C=US", "CN=Duke,OU=Other,O=Org,C=US"},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,DEFAULT",
			"CN=Duke,OU=JavaSoft,O=Sun Microsystems,C=US", "duke"},
		{"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\nRULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,\nDEFAULT",
			"CN=Duke,OU=JavaSoft,O=Sun Microsystems,L=Santa Clara,ST=CA,C=US", "duke@javasoft"},
		{"RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U", "cn=a,ou=b,dc=c,dc=d", "A@B"},
		{"RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/,DEFAULT", "CN=Some Name,OU=x", "Some Name"},
	} {
		m, err := ParsePrincipalMappingRules(tc.rules)
		if err != nil {
			t.Fatalf("%q: %v", tc.rules, err)
		}
		got, err := m.Map(tc.dn)
		if err != nil || got != tc.want {
			t.Errorf("rules %q on %q: got %q, %v; want %q", tc.rules, tc.dn, got, err, tc.want)
		}
	}
	for _, bad := range []string{"DEFAULTS", "RULE:", "RULE:/", "RULE:^CN=(.*?)$/$1", "RULE:^CN=(.*?)$/$1/Z", "DEFAULT,RULE:x"} {
		if _, err := ParsePrincipalMappingRules(bad); err == nil {
			t.Errorf("rules %q accepted", bad)
		}
	}
	m, _ := ParsePrincipalMappingRules("RULE:^CN=(.*)$/$1/")
	if _, err := m.Map("OU=nobody"); err == nil {
		t.Error("no rule applies, yet mapped")
	}
}

// TestSASLGate checks that a SASL listener closes a connection that sends a
// request other than ApiVersions before authenticating.
func TestSASLGate(t *testing.T) {
	h := &principalHandler{principals: make(chan string, 16)}
	s := NewServer(Config{Listeners: []ListenerConfig{{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"}}}, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send(t, c, 1, kmsg.NewPtrApiVersionsRequest())
	if got := readCorr(t, c); got != 1 {
		t.Fatalf("ApiVersions answered with correlation id %d", got)
	}
	if _, err := roundTrip(t, c, h); err == nil {
		t.Fatal("Metadata served before authentication")
	}
}
