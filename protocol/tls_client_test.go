package protocol

import (
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLSClientConfig checks the client side of a TLS listener's settings
// (a broker connecting to another broker): the server certificate (for
// 127.0.0.1 and localhost) must chain to the truststore, its name is
// checked unless host name verification is off, and the keystore's
// certificate is presented for ssl.client.auth=required, mapped to the
// principal.
func TestTLSClientConfig(t *testing.T) {
	f := newTLSFixture(t)
	s, h := f.start(t, TLSConfig{ClientAuth: "required", PrincipalMappingRules: "RULE:^CN=(.*)$/$1/,DEFAULT"})
	addr := s.Addrs()[0]
	clientCert, clientKey := f.ca.issue(t, pkix.Name{CommonName: "broker-2"}, false)
	keystore := filepath.Join(f.dir, "client.pem")
	if err := os.WriteFile(keystore, append(clientCert, clientKey...), 0o600); err != nil {
		t.Fatal(err)
	}
	own := TLSConfig{KeystoreLocation: keystore, TruststoreLocation: f.trust}

	for _, host := range []string{"127.0.0.1", "localhost"} {
		cfg, err := own.ClientConfig(host, true)
		if err != nil {
			t.Fatal(err)
		}
		c, err := dialTLS(t, addr, cfg)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if p, err := roundTrip(t, c, h); err != nil || p != "User:broker-2" {
			t.Fatalf("%s: principal %q, %v", host, p, err)
		}
	}

	// A name the certificate does not hold fails with verification on,
	// and passes with ssl.endpoint.identification.algorithm empty.
	cfg, err := own.ClientConfig("broker.example", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialTLS(t, addr, cfg); err == nil || !strings.Contains(err.Error(), "broker.example") {
		t.Fatalf("wrong host name: %v", err)
	}
	cfg, err = own.ClientConfig("broker.example", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialTLS(t, addr, cfg)
	if err != nil {
		t.Fatalf("without host name verification: %v", err)
	}
	if p, err := roundTrip(t, c, h); err != nil || p != "User:broker-2" {
		t.Fatalf("principal %q, %v", p, err)
	}

	// A server whose CA is not in the truststore fails either way.
	other := newTestCA(t, "Other CA")
	otherTrust := filepath.Join(f.dir, "other.pem")
	if err := os.WriteFile(otherTrust, other.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, verify := range []bool{true, false} {
		cfg, err := TLSConfig{KeystoreLocation: keystore, TruststoreLocation: otherTrust}.ClientConfig("127.0.0.1", verify)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dialTLS(t, addr, cfg); err == nil {
			t.Fatalf("verify=%v: a server of an untrusted CA was accepted", verify)
		}
	}

	// Without a keystore no certificate is presented, which
	// ssl.client.auth=required refuses.
	cfg, err = TLSConfig{TruststoreLocation: f.trust}.ClientConfig("127.0.0.1", true)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := dialTLS(t, addr, cfg); err == nil {
		if _, err := roundTrip(t, c, h); err == nil {
			t.Fatal("a client without a certificate was served")
		}
	}
	if _, err := (TLSConfig{Protocols: []string{"TLSv1.1"}}).ClientConfig("x", true); err == nil {
		t.Fatal("TLSv1.1 accepted")
	}
	if cfg, _ := (TLSConfig{TruststoreLocation: f.trust}).ClientConfig("x", true); cfg.MinVersion < 0x0303 {
		t.Fatalf("min version %x", cfg.MinVersion)
	}
}
