package broker

import (
	"context"
	"crypto/elliptic"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/internal/jwttest"
	"github.com/skein-streaming/skein/protocol"
)

const (
	testIssuerURL     = "https://idp.test/realms/skein"
	invalidTokenError = `{"status":"invalid_token"}`
)

var saslPlaintext = protocol.ListenerConfig{Name: "SASL_PLAINTEXT", SecurityProtocol: "SASL_PLAINTEXT", Addr: "127.0.0.1:0"}

// oauthSettings are a listener's OAUTHBEARER settings as a Kafka
// server.properties spells them, with the JWKS in a file.
func oauthSettings(jwksPath string) map[string]string {
	p := "listener.name.sasl_plaintext.oauthbearer."
	return map[string]string{
		"sasl.enabled.mechanisms":                "OAUTHBEARER",
		p + "sasl.server.callback.handler.class": config.OAuthBearerValidatorCallbackHandler,
		p + "sasl.jaas.config":                   "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;",
		p + "sasl.oauthbearer.jwks.endpoint.url": "file://" + jwksPath,
		p + "sasl.oauthbearer.expected.audience": "skein,kafka",
		"sasl.oauthbearer.expected.issuer":       testIssuerURL,
	}
}

// oauthBroker runs a broker with a SASL_PLAINTEXT OAUTHBEARER listener
// whose JWKS file holds an RSA key "rsa-1" and a P-256 key "ec-1".
func oauthBroker(t *testing.T, extra map[string]string) (is *jwttest.Issuer, jwksPath, addr string) {
	t.Helper()
	is = jwttest.New()
	if err := is.AddRSA("rsa-1", 2048); err != nil {
		t.Fatal(err)
	}
	if err := is.AddEC("ec-1", elliptic.P256()); err != nil {
		t.Fatal(err)
	}
	jwksPath = filepath.Join(t.TempDir(), "jwks.json")
	if err := is.WriteJWKS(jwksPath); err != nil {
		t.Fatal(err)
	}
	settings := oauthSettings(jwksPath)
	for k, v := range extra {
		settings[k] = v
	}
	// The names are Kafka's and pass the broker's config checks.
	if err := config.ValidateBroker(settings); err != nil {
		t.Fatal(err)
	}
	_, _, addr = secureBroker(t, t.TempDir(), saslPlaintext, settings)
	return is, jwksPath, addr
}

func mustSign(t *testing.T, is *jwttest.Issuer, kid string, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	tok, err := is.Sign(kid, alg, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func goodClaims(sub string) map[string]any {
	return jwttest.Claims(sub, testIssuerURL, "skein", time.Now(), time.Hour)
}

func bearer(tok string) kgo.Opt {
	return kgo.SASL(oauth.Auth{Token: tok}.AsMechanism())
}

// expectOAuthFailure checks a client with the token fails with
// SASL_AUTHENTICATION_FAILED and the message.
func expectOAuthFailure(t *testing.T, ctx context.Context, addr string, auth oauth.Auth, msg string) {
	t.Helper()
	err := newClient(t, addr, kgo.SASL(auth.AsMechanism())).Ping(ctx)
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.HasSuffix(err.Error(), ": "+msg) {
		t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED: %s", err, msg)
	}
}

// TestOAuthBearer authenticates franz-go clients with signed tokens: RSA
// and EC tokens produce and consume as the token's subject; expired,
// wrongly addressed, forged and unsigned tokens fail with
// SASL_AUTHENTICATION_FAILED and Kafka's {"status":"invalid_token"}.
func TestOAuthBearer(t *testing.T) {
	ctx := testCtx(t)
	is, _, addr := oauthBroker(t, map[string]string{
		"authorizer.class.name": config.StandardAuthorizer,
		"super.users":           "User:alice",
	})
	produceConsume(t, ctx, addr, "oauth-rsa", bearer(mustSign(t, is, "rsa-1", jose.RS256, goodClaims("alice"))))
	produceConsume(t, ctx, addr, "oauth-ec", bearer(mustSign(t, is, "ec-1", jose.ES256, goodClaims("alice"))))
	produceConsume(t, ctx, addr, "oauth-ps", bearer(mustSign(t, is, "rsa-1", jose.PS512, goodClaims("alice"))))

	// The principal is the token's sub: bob is authenticated but not a
	// super user, so the authorizer refuses him.
	bob := newClient(t, addr, bearer(mustSign(t, is, "rsa-1", jose.RS256, goodClaims("bob"))))
	if err := bob.Ping(ctx); err != nil {
		t.Fatalf("bob authenticates: %v", err)
	}
	if err := bob.ProduceSync(ctx, &kgo.Record{Topic: "oauth-rsa", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob produces: %v", err)
	}

	claims := func(f func(map[string]any)) map[string]any {
		c := goodClaims("alice")
		f(c)
		return c
	}
	other := jwttest.New()
	if err := other.AddRSA("rsa-9", 2048); err != nil {
		t.Fatal(err)
	}
	hs, err := jwttest.HMAC("rsa-1", []byte(strings.Repeat("s", 32)), goodClaims("alice"))
	if err != nil {
		t.Fatal(err)
	}
	forged := mustSign(t, is, "rsa-1", jose.RS256, goodClaims("alice"))
	parts := strings.Split(forged, ".")
	forged = parts[0] + "." + strings.Split(mustSign(t, is, "rsa-1", jose.RS256, goodClaims("root")), ".")[1] + "." + parts[2]
	for name, tok := range map[string]string{
		"expired": mustSign(t, is, "rsa-1", jose.RS256, claims(func(c map[string]any) {
			c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
			c["exp"] = time.Now().Add(-time.Minute).Unix()
		})),
		"wrong audience": mustSign(t, is, "rsa-1", jose.RS256, claims(func(c map[string]any) { c["aud"] = "billing" })),
		"wrong issuer":   mustSign(t, is, "ec-1", jose.ES256, claims(func(c map[string]any) { c["iss"] = "https://evil.test" })),
		"bad signature":  forged,
		"unknown kid":    mustSign(t, other, "rsa-9", jose.RS256, goodClaims("alice")),
		"alg none":       jwttest.Unsigned("rsa-1", goodClaims("alice")),
		"HS256":          hs,
	} {
		t.Run(name, func(t *testing.T) {
			expectOAuthFailure(t, ctx, addr, oauth.Auth{Token: tok}, invalidTokenError)
		})
	}
	expectOAuthFailure(t, ctx, addr, oauth.Auth{Zid: "bob", Token: mustSign(t, is, "rsa-1", jose.RS256, goodClaims("alice"))},
		"Authentication failed: Client requested an authorization id (bob) that is different from the token's principal name (alice)")
	// Still serving, and the extensions a client sends are accepted.
	produceConsume(t, ctx, addr, "oauth-ext", kgo.SASL(oauth.Auth{Zid: "alice", Token: mustSign(t, is, "rsa-1", jose.RS256, goodClaims("alice")),
		Extensions: map[string]string{"traceId": "abc"}}.AsMechanism()))
}

// TestOAuthBearerKeyRotation rotates the JWKS file: a token of a new key
// is accepted and one of the removed key refused, without a restart.
func TestOAuthBearerKeyRotation(t *testing.T) {
	ctx := testCtx(t)
	is, jwksPath, addr := oauthBroker(t, nil)
	old := mustSign(t, is, "rsa-1", jose.RS256, goodClaims("alice"))
	produceConsume(t, ctx, addr, "rotate-1", bearer(old))

	if err := is.AddRSA("rsa-2", 3072); err != nil {
		t.Fatal(err)
	}
	next := mustSign(t, is, "rsa-2", jose.RS384, goodClaims("alice"))
	expectOAuthFailure(t, ctx, addr, oauth.Auth{Token: next}, invalidTokenError)
	is.Remove("rsa-1")
	if err := is.WriteJWKS(jwksPath); err != nil {
		t.Fatal(err)
	}
	produceConsume(t, ctx, addr, "rotate-2", bearer(next))
	expectOAuthFailure(t, ctx, addr, oauth.Auth{Token: old}, invalidTokenError)
}

// TestOAuthBearerReauthentication gives franz-go tokens that live four
// seconds: the session lifetime follows the token, the client
// re-authenticates on its open connections with fresh tokens, and every
// produce succeeds.
func TestOAuthBearerReauthentication(t *testing.T) {
	ctx := testCtx(t)
	is, _, addr := oauthBroker(t, map[string]string{"listener.name.sasl_plaintext.sasl.oauthbearer.clock.skew.seconds": "0"})
	var auths, connects atomic.Int32
	mech := oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		auths.Add(1)
		tok, err := is.Sign("ec-1", jose.ES256, jwttest.Claims("alice", testIssuerURL, "kafka", time.Now(), 4*time.Second))
		return oauth.Auth{Token: tok}, err
	})
	cl := newClient(t, addr, kgo.SASL(mech), kgo.AllowAutoTopicCreation(), kgo.WithHooks(connectHook{&connects}))
	deadline := time.Now().Add(40 * time.Second)
	for i := 0; auths.Load() < connects.Load()+2; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d produces: %d authentications on %d connections", i, auths.Load(), connects.Load())
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth-oauth", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond) // pace the produces
	}
}

type connectHook struct{ n *atomic.Int32 }

func (h connectHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		h.n.Add(1)
	}
}

// oauthRaw authenticates a raw connection with SaslHandshake and
// SaslAuthenticate v1+ and returns the SaslAuthenticate response.
func oauthRaw(t *testing.T, c net.Conn, corr int32, msg string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "OAUTHBEARER"
	if resp := rawRequest(t, c, corr, hs).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
		t.Fatalf("handshake: error %d", resp.ErrorCode)
	}
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(2)
	auth.SASLAuthBytes = []byte(msg)
	return rawRequest(t, c, corr+1, auth).(*kmsg.SASLAuthenticateResponse)
}

func clientFirst(tok string) string { return "n,,\x01auth=Bearer " + tok + "\x01\x01" }

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByPeer reports whether the broker closed the connection.
func closedByPeer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return err != nil
}

// TestOAuthBearerSession checks the protocol exchange on raw connections:
// session_lifetime_ms follows the token's exp (and connections.max.reauth.ms
// when smaller); the error challenge and %x01; Kafka's hidden message for
// a malformed first message; a re-authentication with another principal
// is refused with Kafka's message; and a connection whose token expired
// without re-authentication is closed at its next request.
func TestOAuthBearerSession(t *testing.T) {
	is, _, addr := oauthBroker(t, map[string]string{"listener.name.sasl_plaintext.sasl.oauthbearer.clock.skew.seconds": "0"})
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(4)

	// The lifetime follows exp.
	c := dialT(t, addr)
	resp := oauthRaw(t, c, 1, clientFirst(mustSign(t, is, "rsa-1", jose.RS256, jwttest.Claims("alice", testIssuerURL, "skein", time.Now(), time.Minute))))
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 58000 || resp.SessionLifetimeMillis > 60000 {
		t.Fatalf("authenticate: error %d, session lifetime %d", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
	rawRequest(t, c, 3, md)
	// Re-authentication as someone else is refused and closes.
	resp = oauthRaw(t, c, 4, clientFirst(mustSign(t, is, "rsa-1", jose.RS256, goodClaims("bob"))))
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil ||
		*resp.ErrorMessage != "Cannot change principals during re-authentication from User.alice: User.bob" {
		t.Fatalf("re-authentication as bob: %d %v", resp.ErrorCode, resp.ErrorMessage)
	}
	if !closedByPeer(c) {
		t.Fatal("connection open after a refused re-authentication")
	}

	// A refused token: the error challenge, %x01, then the failure.
	c = dialT(t, addr)
	resp = oauthRaw(t, c, 1, clientFirst(jwttest.Unsigned("rsa-1", goodClaims("alice"))))
	if resp.ErrorCode != 0 || string(resp.SASLAuthBytes) != invalidTokenError {
		t.Fatalf("refused token challenge: %d %q", resp.ErrorCode, resp.SASLAuthBytes)
	}
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(1)
	auth.SASLAuthBytes = []byte{1}
	resp = rawRequest(t, c, 3, auth).(*kmsg.SASLAuthenticateResponse)
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil || *resp.ErrorMessage != invalidTokenError {
		t.Fatalf("after %%x01: %d %v", resp.ErrorCode, resp.ErrorMessage)
	}

	// A malformed first message.
	c = dialT(t, addr)
	resp = oauthRaw(t, c, 1, "n,,auth=Bearer x")
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil ||
		*resp.ErrorMessage != "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER" {
		t.Fatalf("malformed: %d %v", resp.ErrorCode, resp.ErrorMessage)
	}

	// A token that expires in two seconds: served until then, closed at
	// the first request after.
	c = dialT(t, addr)
	start := time.Now()
	exp := start.Add(2 * time.Second)
	resp = oauthRaw(t, c, 1, clientFirst(mustSign(t, is, "ec-1", jose.ES256, map[string]any{
		"sub": "alice", "iss": testIssuerURL, "aud": "skein", "iat": start.Unix(), "exp": exp.Unix(),
	})))
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 0 || resp.SessionLifetimeMillis > 2000 {
		t.Fatalf("short token: error %d, lifetime %d", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
	sessionEnd := start.Add(time.Duration(resp.SessionLifetimeMillis) * time.Millisecond)
	rawRequest(t, c, 3, md)
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))
	deadline := time.Now().Add(20 * time.Second)
	for corr := int32(4); ; corr++ {
		if time.Now().After(deadline) {
			t.Fatal("expired session still served")
		}
		c.Write(f.AppendRequest(nil, md, corr))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var size [4]byte
		if _, err := io.ReadFull(c, size[:]); err != nil {
			if time.Now().Before(sessionEnd) {
				t.Fatalf("closed %v before the session's end", sessionEnd.Sub(time.Now()))
			}
			break
		}
		io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:])))
		time.Sleep(100 * time.Millisecond) // poll interval
	}

	// connections.max.reauth.ms bounds the lifetime when smaller.
	_, _, addr2 := oauthBrokerWith(t, is, map[string]string{"connections.max.reauth.ms": "1500"})
	c = dialT(t, addr2)
	resp = oauthRaw(t, c, 1, clientFirst(mustSign(t, is, "rsa-1", jose.RS256, goodClaims("alice"))))
	if resp.ErrorCode != 0 || resp.SessionLifetimeMillis != 1500 {
		t.Fatalf("with connections.max.reauth.ms: error %d, lifetime %d", resp.ErrorCode, resp.SessionLifetimeMillis)
	}
}

// oauthBrokerWith runs another OAUTHBEARER broker trusting is.
func oauthBrokerWith(t *testing.T, is *jwttest.Issuer, extra map[string]string) (*jwttest.Issuer, string, string) {
	t.Helper()
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	if err := is.WriteJWKS(jwksPath); err != nil {
		t.Fatal(err)
	}
	settings := oauthSettings(jwksPath)
	for k, v := range extra {
		settings[k] = v
	}
	_, _, addr := secureBroker(t, t.TempDir(), saslPlaintext, settings)
	return is, jwksPath, addr
}

// TestOAuthBearerHandshakeV0 authenticates with SaslHandshake v0 and bare
// tokens.
func TestOAuthBearerHandshakeV0(t *testing.T) {
	is, _, addr := oauthBroker(t, nil)
	for _, tc := range []struct {
		tok string
		ok  bool
	}{{mustSign(t, is, "rsa-1", jose.RS256, goodClaims("alice")), true}, {jwttest.Unsigned("rsa-1", goodClaims("alice")), false}} {
		c := dialT(t, addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(0)
		hs.Mechanism = "OAUTHBEARER"
		if resp := rawRequest(t, c, 1, hs).(*kmsg.SASLHandshakeResponse); resp.ErrorCode != 0 {
			t.Fatalf("handshake error %d", resp.ErrorCode)
		}
		writeToken := func(b []byte) {
			c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
			c.Write(b)
		}
		readToken := func() ([]byte, error) {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			var size [4]byte
			if _, err := io.ReadFull(c, size[:]); err != nil {
				return nil, err
			}
			b := make([]byte, binary.BigEndian.Uint32(size[:]))
			_, err := io.ReadFull(c, b)
			return b, err
		}
		writeToken([]byte(clientFirst(tc.tok)))
		got, err := readToken()
		if err != nil {
			t.Fatal(err)
		}
		if tc.ok {
			if len(got) != 0 {
				t.Fatalf("answer %q", got)
			}
			md := kmsg.NewPtrMetadataRequest()
			md.SetVersion(4)
			rawRequest(t, c, 2, md)
			continue
		}
		if string(got) != invalidTokenError {
			t.Fatalf("challenge %q", got)
		}
		writeToken([]byte{1})
		if _, err := readToken(); err == nil {
			t.Fatal("refused token answered")
		}
	}
}

// TestOAuthBearerGlobalSettings uses unprefixed settings, another subject
// claim and no expected audience: a token with aud is then refused, as
// Kafka refuses it.
func TestOAuthBearerGlobalSettings(t *testing.T) {
	ctx := testCtx(t)
	is := jwttest.New()
	if err := is.AddEC("k", elliptic.P384()); err != nil {
		t.Fatal(err)
	}
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	is.WriteJWKS(jwksPath)
	settings := map[string]string{
		"sasl.enabled.mechanisms":                             "OAUTHBEARER,PLAIN",
		"listener.name.sasl_plaintext.plain.sasl.jaas.config": plainJAAS,
		"sasl.oauthbearer.jwks.endpoint.url":                  "file:" + jwksPath,
		"sasl.oauthbearer.sub.claim.name":                     "client_id",
	}
	if err := config.ValidateBroker(settings); err != nil {
		t.Fatal(err)
	}
	_, _, addr := secureBroker(t, t.TempDir(), saslPlaintext, settings)
	c := jwttest.Claims("ignored", "", "", time.Now(), time.Hour)
	c["client_id"] = "svc-orders"
	produceConsume(t, ctx, addr, "global", bearer(mustSign(t, is, "k", jose.ES384, c)))
	c["aud"] = "skein"
	expectOAuthFailure(t, ctx, addr, oauth.Auth{Token: mustSign(t, is, "k", jose.ES384, c)}, invalidTokenError)
}

// TestOAuthBearerHTTPSJWKS fetches the JWKS from an https endpoint whose
// CA the JAAS options name; a token of a key added later is accepted once
// the unknown key ID has brought a refresh.
func TestOAuthBearerHTTPSJWKS(t *testing.T) {
	ctx := testCtx(t)
	is := jwttest.New()
	if err := is.AddRSA("k1", 2048); err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(is.JWKS())
	}))
	// The untrusted attempt below fails its handshakes on purpose.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	p := "listener.name.sasl_plaintext.oauthbearer."
	settings := map[string]string{
		"sasl.enabled.mechanisms":                       "OAUTHBEARER",
		p + "sasl.jaas.config":                          `org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ssl.truststore.type="PEM" ssl.truststore.location="` + caFile + `";`,
		p + "sasl.oauthbearer.jwks.endpoint.url":        srv.URL + "/jwks",
		p + "sasl.oauthbearer.jwks.endpoint.refresh.ms": "3600000",
	}
	_, _, addr := secureBroker(t, t.TempDir(), saslPlaintext, settings)
	if fetches.Load() != 1 {
		t.Fatalf("%d fetches at start", fetches.Load())
	}
	produceConsume(t, ctx, addr, "https-jwks", bearer(mustSign(t, is, "k1", jose.RS256, jwttest.Claims("alice", "", "", time.Now(), time.Hour))))

	if err := is.AddRSA("k2", 2048); err != nil {
		t.Fatal(err)
	}
	tok := mustSign(t, is, "k2", jose.RS256, jwttest.Claims("alice", "", "", time.Now(), time.Hour))
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := newClient(t, addr, bearer(tok)).Ping(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || time.Now().After(deadline) {
			t.Fatalf("k2 token: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
	if fetches.Load() < 2 {
		t.Fatal("no refresh")
	}

	// Without the CA the endpoint is not trusted, and a broker whose
	// JWKS cannot be fetched does not start.
	delete(settings, p+"sasl.jaas.config")
	settings[p+"sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms"] = "50"
	b, err := New(Config{NodeID: 1, DataDir: t.TempDir(), Listeners: []protocol.ListenerConfig{saslPlaintext}, Settings: settings})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err == nil || !strings.Contains(err.Error(), "JWKS") {
		b.Close()
		t.Fatalf("started with an untrusted JWKS endpoint: %v", err)
	}
}

func TestOAuthBearerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	is := jwttest.New()
	is.AddRSA("k", 2048)
	jwks := filepath.Join(dir, "jwks.json")
	is.WriteJWKS(jwks)
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"keys":[]}`), 0o600)
	p := "listener.name.sasl_plaintext.oauthbearer."
	for name, tc := range map[string]struct {
		settings map[string]string
		want     string
	}{
		"no jwks url":    {map[string]string{}, "sasl.oauthbearer.jwks.endpoint.url is not set"},
		"ftp":            {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "ftp://x/jwks"}, "neither"},
		"missing file":   {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "file://" + filepath.Join(dir, "nope")}, "no such file"},
		"empty jwks":     {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "file://" + empty}, "no usable"},
		"remote file":    {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "file://host" + jwks}, "remote host"},
		"unsecured":      {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "file://" + jwks, p + "sasl.server.callback.handler.class": "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"}, "must be one of"},
		"wrong jaas":     {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "file://" + jwks, p + "sasl.jaas.config": plainJAAS}, "OAuthBearerLoginModule"},
		"jks truststore": {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "https://idp.test/jwks", p + "sasl.jaas.config": oauthBearerLoginModule + ` required ssl.truststore.type=JKS;`}, "PEM"},
		"negative skew":  {map[string]string{p + "sasl.oauthbearer.jwks.endpoint.url": "file://" + jwks, "sasl.oauthbearer.clock.skew.seconds": "-1"}, "clock.skew"},
	} {
		t.Run(name, func(t *testing.T) {
			settings := map[string]string{"sasl.enabled.mechanisms": "OAUTHBEARER"}
			for k, v := range tc.settings {
				settings[k] = v
			}
			_, err := New(Config{NodeID: 1, DataDir: t.TempDir(), Listeners: []protocol.ListenerConfig{saslPlaintext}, Settings: settings})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// The registry refuses an unsupported callback handler too.
	if err := config.ValidateBroker(map[string]string{p + "sasl.server.callback.handler.class": "com.example.Handler"}); err == nil {
		t.Fatal("unknown callback handler class accepted")
	}
}
