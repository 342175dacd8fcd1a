package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skein-streaming/skein/internal/config"
)

// selfSignedKeystore writes a self-signed certificate for 127.0.0.1 and
// its key into one PEM file (the keystore; the certificate is its own
// truststore) and returns the path and the certificate.
func selfSignedKeystore(t *testing.T, dir string) (string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "registry.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return path, cert
}

// TestEmbeddedRegistryHTTPSBasic starts the embedded registry with
// skein.registry.address=https://… and BASIC authentication and registers
// a schema through it; without credentials it answers 401.
func TestEmbeddedRegistryHTTPSBasic(t *testing.T) {
	dir := t.TempDir()
	keystore, cert := selfSignedKeystore(t, dir)
	users := filepath.Join(dir, "users.properties")
	if err := os.WriteFile(users, []byte("alice: alice-pw,admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startTestBroker(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := startEmbeddedRegistry(ctx, map[string]string{
		config.RegistryAddress:                 "https://127.0.0.1:0",
		config.RegistrySSLKeystoreLocation:     keystore,
		config.RegistryAuthenticationMethod:    "BASIC",
		config.RegistryAuthenticationRoles:     "admin",
		config.RegistryAuthenticationUsersFile: users,
	}, b, nil, 0, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		e.wait()
	})
	if !strings.HasPrefix(e.url, "https://127.0.0.1:") {
		t.Fatalf("advertised URL %s is not https", e.url)
	}
	select {
	case <-e.reg.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("registry not ready")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	do := func(user, pass string) (int, string) {
		req, _ := http.NewRequest("POST", e.url+"/subjects/embedded-value/versions", strings.NewReader(`{"schema":"\"string\""}`))
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	if status, body := do("", ""); status != http.StatusUnauthorized {
		t.Errorf("without credentials: %d %s", status, body)
	}
	// The writer is elected through a group: poll until it accepts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body := do("alice", "alice-pw")
		if status == http.StatusOK {
			if body != `{"id":1}` {
				t.Errorf("register: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("register: %d %s", status, body)
		}
		changed := e.reg.WriterChanged()
		select {
		case <-changed:
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}

	// skein schema with --registry-config: Confluent's client keys, the
	// certificate as truststore.
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	props := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := props("good.properties", "schema.registry.url="+e.url+"\nbasic.auth.credentials.source=USER_INFO\nschema.registry.basic.auth.user.info=alice:alice-pw\nssl.truststore.location="+caFile+"\n")
	if out, err := schemaCLI(t, e.url, "get", "--id", "1", "--raw", "--registry-config", good); err != nil || strings.TrimSpace(out) != `"string"` {
		t.Errorf("schema get with the registry config: %q %v", out, err)
	}
	wrong := props("wrong.properties", "basic.auth.user.info=alice:nope\nssl.truststore.location="+caFile+"\n")
	if _, err := schemaCLI(t, e.url, "get", "--id", "1", "--registry-config", wrong); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("schema get with a wrong password: %v", err)
	}
	untrusted := props("untrusted.properties", "basic.auth.user.info=alice:alice-pw\n")
	if _, err := schemaCLI(t, e.url, "get", "--id", "1", "--registry-config", untrusted); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("schema get without the registry's CA: %v", err)
	}
	bad := props("bad.properties", "basic.auth.credentials.source=SASL_INHERIT\n")
	if _, err := schemaCLI(t, e.url, "get", "--id", "1", "--registry-config", bad); err == nil || !strings.Contains(err.Error(), "basic.auth.credentials.source") {
		t.Errorf("an unsupported credentials source: %v", err)
	}
}

// TestRegistrySecuritySettingsErrors: misconfigured security stops the
// embedded registry and skein registry from starting.
func TestRegistrySecuritySettingsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := registrySecurity(map[string]string{config.RegistrySSLKeystoreLocation: "/k.pem"}, "127.0.0.1:0"); err == nil ||
		!strings.Contains(err.Error(), "skein.registry.address=https://host:port") {
		t.Errorf("keystore with a plain address: %v", err)
	}
	if _, err := registrySecurity(map[string]string{config.RegistryAuthenticationMethod: "BASIC"}, "127.0.0.1:0"); err == nil ||
		!strings.Contains(err.Error(), config.RegistryAuthenticationUsersFile) {
		t.Errorf("BASIC without users: %v", err)
	}
	write := func(content string) string {
		p := filepath.Join(dir, "registry.properties")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sec, err := registrySecurityFile(write("listeners=https://127.0.0.1:8443\nssl.keystore.location=/k.pem\nssl.client.authentication=REQUIRED\nauthentication.method=BASIC\nauthentication.users.file=/u\n"))
	if err != nil || sec.Listen != "127.0.0.1:8443" || sec.TLS == nil || sec.TLS.ClientAuth != "required" || sec.BasicAuth == nil {
		t.Errorf("--config: %+v %v", sec, err)
	}
	if _, err := registrySecurityFile(write("listeners=https://127.0.0.1:8443\nssl.keystore.location=/k.pem\nauthentication.methd=BASIC\n")); err == nil ||
		!strings.Contains(err.Error(), "authentication.methd is not read") {
		t.Errorf("misspelt setting: %v", err)
	}
}
