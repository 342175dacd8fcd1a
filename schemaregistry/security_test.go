package schemaregistry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skein-streaming/skein/protocol"
)

// testPKI is a CA and the files of certificates it issued.
type testPKI struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string // the truststore
	serial int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), serial: 1}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "registry test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.caKey = key
	p.caFile = filepath.Join(p.dir, "ca.pem")
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue writes a keystore (certificate, then key, PEM) for cn, valid for
// 127.0.0.1 and localhost, usable by servers and clients, and returns its
// path and the parsed pair.
func (p *testPKI) issue(t *testing.T, cn string) (string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"skein"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	path := filepath.Join(p.dir, cn+".pem")
	if err := os.WriteFile(path, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return path, pair
}

// client is an HTTPS client trusting the CA, presenting cert when given.
func (p *testPKI) client(cert *tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	c := &tls.Config{RootCAs: pool}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c}}
}

// writeUsers writes a users file and returns its path.
func writeUsers(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "users.properties")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// obfuscate is Jetty's Password.obfuscate, to write OBF: passwords.
func obfuscate(s string) string {
	b := []byte(s)
	var out strings.Builder
	out.WriteString("OBF:")
	for i := range b {
		b1, b2 := int8(b[i]), int8(b[len(b)-(i+1)])
		if b1 < 0 || b2 < 0 {
			i0 := int(b[i])*256 + int(b[len(b)-(i+1)])
			x := strconv.FormatInt(int64(i0), 36)
			out.WriteString("U0000"[:5-len(x)] + x)
		} else {
			i1, i2 := 127+int(b1)+int(b2), 127+int(b1)-int(b2)
			x := strconv.FormatInt(int64(i1*256+i2), 36)
			out.WriteString("000"[:4-len(x)] + x)
		}
	}
	return out.String()
}

// send makes a request with optional Basic credentials ("user:pass").
func send(t *testing.T, c *http.Client, method, url, creds, body string) (*http.Response, string, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if creds != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	return resp, strings.TrimSpace(string(out)), nil
}

func TestDeobfuscate(t *testing.T) {
	// "a": i1 = 127+97+97 = 321, i2 = 127, 321*256+127 = 82303 = "1ri7"
	// in base 36.
	if got, err := Deobfuscate("OBF:1ri7"); err != nil || got != "a" {
		t.Errorf(`Deobfuscate("OBF:1ri7") = %q, %v; want "a"`, got, err)
	}
	for _, pw := range []string{"password", "s3cr3t:with=odd,chars", "pässwörd", "x"} {
		if got, err := Deobfuscate(obfuscate(pw)); err != nil || got != pw {
			t.Errorf("Deobfuscate(%s) = %q, %v; want %q", obfuscate(pw), got, err, pw)
		}
	}
	for _, bad := range []string{"OBF:1ri", "OBF:zz!z", "OBF:U12"} {
		if _, err := Deobfuscate(bad); err == nil {
			t.Errorf("Deobfuscate(%q) succeeded", bad)
		}
	}
}

func TestParseSecurity(t *testing.T) {
	dir := t.TempDir()
	s, err := ParseSecurity(map[string]string{
		PropListeners:               "https://0.0.0.0:8443",
		PropSSLKeystoreLocation:     "/k.pem",
		PropSSLTruststoreLocation:   "/t.pem",
		PropSSLClientAuthentication: "requested",
		PropSSLEnabledProtocols:     "TLSv1.3",
		PropAuthenticationMethod:    "BASIC",
		PropAuthenticationRealm:     "SchemaRegistry-Props",
		PropAuthenticationRoles:     "admin, developer",
		PropUsersFile:               filepath.Join(dir, "u"),
	}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != "0.0.0.0:8443" || s.TLS == nil || s.TLS.KeystoreLocation != "/k.pem" || s.TLS.TruststoreLocation != "/t.pem" ||
		s.TLS.ClientAuth != "requested" || len(s.TLS.Protocols) != 1 || s.BasicAuth == nil ||
		s.BasicAuth.Realm != "SchemaRegistry-Props" || strings.Join(s.BasicAuth.Roles, "|") != "admin|developer" {
		t.Errorf("ParseSecurity: %+v %+v %+v", s, s.TLS, s.BasicAuth)
	}
	s, err = ParseSecurity(map[string]string{PropListeners: "https://h:1", PropSSLKeystoreLocation: "/k", PropSSLClientAuth: "true"}, "", "")
	if err != nil || s.TLS.ClientAuth != "required" {
		t.Errorf("ssl.client.auth=true: %+v %v", s.TLS, err)
	}
	// The embedded registry's names.
	s, err = ParseSecurity(map[string]string{"skein.registry.address": "https://127.0.0.1:0", "skein.registry.ssl.keystore.location": "/k"}, "skein.registry.", "skein.registry.address")
	if err != nil || s.TLS == nil || s.Listen != "127.0.0.1:0" {
		t.Errorf("prefixed: %+v %v", s, err)
	}
	_, err = ParseSecurity(map[string]string{"skein.registry.address": "127.0.0.1:0", "skein.registry.ssl.keystore.location": "/k"}, "skein.registry.", "skein.registry.address")
	if err == nil || err.Error() != "skein.registry.ssl.keystore.location is set but the listener is not https:// (set skein.registry.address=https://host:port)" {
		t.Errorf("prefixed error: %v", err)
	}
	s, err = ParseSecurity(map[string]string{}, "", "")
	if err != nil || s.TLS != nil || s.BasicAuth != nil || s.Listen != "" {
		t.Errorf("no settings: %+v %v", s, err)
	}
	s, err = ParseSecurity(map[string]string{PropListeners: "127.0.0.1:8081"}, "", "")
	if err != nil || s.TLS != nil || s.Listen != "127.0.0.1:8081" {
		t.Errorf("bare listener: %+v %v", s, err)
	}
	for name, props := range map[string]map[string]string{
		"https without keystore":    {PropListeners: "https://h:1"},
		"keystore with http":        {PropListeners: "http://h:1", PropSSLKeystoreLocation: "/k"},
		"keystore without listen":   {PropSSLKeystoreLocation: "/k"},
		"bad scheme":                {PropListeners: "ftp://h:1"},
		"no port":                   {PropListeners: "https://h"},
		"two listeners":             {PropListeners: "http://h:1,https://h:2"},
		"bad client authentication": {PropListeners: "https://h:1", PropSSLKeystoreLocation: "/k", PropSSLClientAuthentication: "SOMETIMES"},
		"bad client auth":           {PropListeners: "https://h:1", PropSSLKeystoreLocation: "/k", PropSSLClientAuth: "yes"},
		"bad method":                {PropAuthenticationMethod: "BEARER"},
		"basic without file":        {PropAuthenticationMethod: "BASIC"},
		"file without basic":        {PropUsersFile: "/u"},
	} {
		if _, err := ParseSecurity(props, "", ""); err == nil {
			t.Errorf("%s: ParseSecurity(%v) succeeded", name, props)
		}
	}
}

func TestUsersFileErrors(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"crypt":   "u: CRYPT:abcdefg,admin\n",
		"bad md5": "u: MD5:1234,admin\n",
		"bad obf": "u: OBF:1ri,admin\n",
	} {
		path := writeUsers(t, dir, content)
		_, err := New(Config{Bootstrap: []string{"unused:9092"}, BasicAuth: &BasicAuth{UsersFile: path}})
		if err == nil {
			t.Errorf("%s: New succeeded", name)
		} else if name == "crypt" && !strings.Contains(err.Error(), "CRYPT: passwords are not supported") {
			t.Errorf("crypt: %v", err)
		}
	}
	if _, err := New(Config{Bootstrap: []string{"unused:9092"}, BasicAuth: &BasicAuth{UsersFile: filepath.Join(dir, "missing")}}); err == nil {
		t.Error("missing users file: New succeeded")
	}
	if _, err := New(Config{Bootstrap: []string{"unused:9092"}, TLS: &protocol.TLSConfig{KeystoreLocation: filepath.Join(dir, "missing")}}); err == nil {
		t.Error("missing keystore: New succeeded")
	}
	if _, err := New(Config{Bootstrap: []string{"unused:9092"}, AdvertisedURL: "http://h:1", TLS: &protocol.TLSConfig{}}); err == nil {
		t.Error("http:// advertised URL with TLS: New succeeded")
	}
}

// TestHTTPSBasicAuth serves HTTPS with Basic authentication and checks
// each answer: 401 with WWW-Authenticate and Confluent's body without
// valid credentials, 403 for a user without a listed role, 200 otherwise;
// plain HTTP and TLS 1.1 are refused; the users file is read again when
// it changes.
func TestHTTPSBasicAuth(t *testing.T) {
	pki := newTestPKI(t)
	keystore, _ := pki.issue(t, "registry")
	md5pw := md5.Sum([]byte("carol-pw"))
	users := writeUsers(t, pki.dir, "# users\n"+
		"alice: alice-pw,admin\n"+
		"bob: "+obfuscate("bob-pw")+",user\n"+
		"carol = MD5:"+hex.EncodeToString(md5pw[:])+", developer, user\n"+
		"dave: dave-pw\n")
	reg, base := startMemoryWith(t, nil, true, "", Config{
		TLS:       &protocol.TLSConfig{KeystoreLocation: keystore},
		BasicAuth: &BasicAuth{Realm: "SchemaRegistry-Props", Roles: []string{"admin", "developer"}, UsersFile: users},
	})
	if !strings.HasPrefix(base, "https://127.0.0.1:") {
		t.Fatalf("URL %s is not https", base)
	}
	c := pki.client(nil)
	const unauthorized = `{"error_code":401,"message":"Unauthorized"}`
	for _, creds := range []string{"", "alice:wrong", "nobody:alice-pw", "alice:", "bob:" + obfuscate("bob-pw")} {
		resp, body, err := send(t, c, "GET", base+"/subjects", creds, "")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || body != unauthorized ||
			resp.Header.Get("WWW-Authenticate") != `Basic realm="SchemaRegistry-Props"` || resp.Header.Get("Content-Type") != contentType {
			t.Errorf("credentials %q: %d %s %q", creds, resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for _, creds := range []string{"bob:bob-pw", "dave:dave-pw"} {
		resp, body, err := send(t, c, "GET", base+"/subjects", creds, "")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusForbidden || body != `{"error_code":403,"message":"Forbidden"}` {
			t.Errorf("%s lacking the roles: %d %s", creds, resp.StatusCode, body)
		}
	}
	resp, body, err := send(t, c, "POST", base+"/subjects/s-value/versions", "alice:alice-pw", `{"schema":"\"string\""}`)
	if err != nil || resp.StatusCode != http.StatusOK || body != `{"id":1}` {
		t.Fatalf("alice registers: %v %v %s", resp, err, body)
	}
	resp, body, err = send(t, c, "GET", base+"/subjects", "carol:carol-pw", "")
	if err != nil || resp.StatusCode != http.StatusOK || body != `["s-value"]` {
		t.Errorf("carol (MD5:) lists: %v %v %s", resp, err, body)
	}

	// Plain HTTP to the HTTPS port gets no API answer.
	if resp, _, err := send(t, http.DefaultClient, "GET", "http"+strings.TrimPrefix(base, "https")+"/subjects", "alice:alice-pw", ""); err == nil && resp.StatusCode == http.StatusOK {
		t.Error("plain HTTP served")
	}
	// TLS 1.1 is refused.
	pool := x509.NewCertPool()
	pool.AddCert(pki.caCert)
	if conn, err := tls.Dial("tcp", reg.Addr().String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		conn.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}

	// A changed users file applies to the next request.
	writeUsers(t, pki.dir, "alice: alice-new-password,admin\n")
	if resp, _, err := send(t, c, "GET", base+"/subjects", "alice:alice-pw", ""); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old password after reload: %v %v", resp, err)
	}
	if resp, _, err := send(t, c, "GET", base+"/subjects", "alice:alice-new-password", ""); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("new password after reload: %v %v", resp, err)
	}
}

// TestHTTPSRequiredClientAuth refuses a client without a certificate, or
// with one from another CA, when ssl.client.authentication is REQUIRED.
func TestHTTPSRequiredClientAuth(t *testing.T) {
	pki := newTestPKI(t)
	keystore, _ := pki.issue(t, "registry")
	_, clientCert := pki.issue(t, "client")
	other := newTestPKI(t)
	_, untrusted := other.issue(t, "client")
	_, base := startMemoryWith(t, nil, true, "", Config{
		TLS: &protocol.TLSConfig{KeystoreLocation: keystore, TruststoreLocation: pki.caFile, ClientAuth: "required"},
	})
	if _, _, err := send(t, pki.client(nil), "GET", base+"/subjects", "", ""); err == nil {
		t.Error("a client without a certificate was served")
	}
	if _, _, err := send(t, pki.client(&untrusted), "GET", base+"/subjects", "", ""); err == nil {
		t.Error("a client with an untrusted certificate was served")
	}
	resp, body, err := send(t, pki.client(&clientCert), "GET", base+"/subjects", "", "")
	if err != nil || resp.StatusCode != http.StatusOK || body != "[]" {
		t.Errorf("client with a certificate: %v %v %s", resp, err, body)
	}
}

// TestForwardHTTPSAuth forwards writes between two instances serving
// HTTPS with required client certificates: the follower trusts the
// writer through its truststore and presents its keystore, and the
// caller's credentials go along. The writer alone authenticating shows
// that the Authorization header is forwarded.
func TestForwardHTTPSAuth(t *testing.T) {
	pki := newTestPKI(t)
	leaderKS, _ := pki.issue(t, "leader")
	followerKS, _ := pki.issue(t, "follower")
	_, clientCert := pki.issue(t, "client")
	users := writeUsers(t, pki.dir, "alice: alice-pw,admin\nbob: bob-pw,user\n")
	auth := &BasicAuth{Roles: []string{"admin"}, UsersFile: users}
	log := newMemoryLog()
	_, leader := startMemoryWith(t, log, true, "", Config{
		TLS:       &protocol.TLSConfig{KeystoreLocation: leaderKS, TruststoreLocation: pki.caFile, ClientAuth: "required"},
		BasicAuth: auth,
	})
	_, follower := startMemoryWith(t, log, false, leader, Config{
		TLS:       &protocol.TLSConfig{KeystoreLocation: followerKS, TruststoreLocation: pki.caFile, ClientAuth: "required"},
		BasicAuth: auth,
	})
	// An instance that does not authenticate itself: the writer does.
	_, open := startMemoryWith(t, log, false, leader, Config{
		TLS: &protocol.TLSConfig{KeystoreLocation: followerKS, TruststoreLocation: pki.caFile, ClientAuth: "required"},
	})
	c := pki.client(&clientCert)
	resp, body, err := send(t, c, "POST", follower+"/subjects/fwd-value/versions", "alice:alice-pw", `{"schema":"\"string\""}`)
	if err != nil || resp.StatusCode != http.StatusOK || body != `{"id":1}` {
		t.Fatalf("forwarded register: %v %v %s", resp, err, body)
	}
	resp, body, err = send(t, c, "GET", follower+"/subjects/fwd-value/versions/1", "alice:alice-pw", "")
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(body, `"id":1`) {
		t.Errorf("read on the follower: %v %v %s", resp, err, body)
	}
	if resp, body, err = send(t, c, "POST", follower+"/subjects/fwd-value/versions", "bob:bob-pw", `{"schema":"\"int\""}`); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob through the follower: %v %v %s", resp, err, body)
	}
	// Through the instance that does not authenticate: the writer
	// answers 401 without credentials, 200 with the forwarded ones.
	resp, body, err = send(t, c, "PUT", open+"/config/fwd-value", "", `{"compatibility":"NONE"}`)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || body != `{"error_code":401,"message":"Unauthorized"}` {
		t.Errorf("forwarded without credentials: %v %v %s", resp, err, body)
	}
	resp, body, err = send(t, c, "PUT", open+"/config/fwd-value", "alice:alice-pw", `{"compatibility":"NONE"}`)
	if err != nil || resp.StatusCode != http.StatusOK || body != `{"compatibility":"NONE"}` {
		t.Errorf("forwarded with credentials: %v %v %s", resp, err, body)
	}
}

// TestForwardHTTPSUntrustedWriter: a follower whose truststore does not
// hold the writer's CA does not forward (50003).
func TestForwardHTTPSUntrustedWriter(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	leaderKS, _ := other.issue(t, "leader")
	followerKS, _ := pki.issue(t, "follower")
	log := newMemoryLog()
	_, leader := startMemoryWith(t, log, true, "", Config{TLS: &protocol.TLSConfig{KeystoreLocation: leaderKS}})
	_, follower := startMemoryWith(t, log, false, leader, Config{TLS: &protocol.TLSConfig{KeystoreLocation: followerKS, TruststoreLocation: pki.caFile}})
	resp, body, err := send(t, pki.client(nil), "POST", follower+"/subjects/x/versions", "", `{"schema":"\"string\""}`)
	if err != nil || resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, `"error_code":50003`) {
		t.Errorf("forward to an untrusted writer: %v %v %s", resp, err, body)
	}
}
