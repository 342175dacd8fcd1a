package sasl

import (
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/skein-streaming/skein/internal/jwttest"
)

func TestParseClientFirstMessage(t *testing.T) {
	for _, tc := range []struct {
		msg     string
		authzid string
		token   string
		ext     map[string]string
		err     string
	}{
		{msg: "n,,\x01auth=Bearer abc.def.ghi\x01\x01", token: "abc.def.ghi", ext: map[string]string{}},
		{msg: "n,a=alice,\x01auth=bearer t-_.0\x01\x01", authzid: "alice", token: "t-_.0", ext: map[string]string{}},
		{msg: "n,a=a=2Cb=3D,\x01auth=BEARER   tok\x01\x01", authzid: "a=2Cb=3D", token: "tok", ext: map[string]string{}},
		{msg: "n,,\x01traceId=a b=c\x01auth=Bearer tok\x01logicalCluster=lkc-1\x01\x01", token: "tok",
			ext: map[string]string{"traceId": "a b=c", "logicalCluster": "lkc-1"}},
		// Kafka's grammar: no kvpairs separator, no auth, bad scheme.
		{msg: "n,,auth=Bearer tok\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,,\x01auth=Bearer tok\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "y,,\x01auth=Bearer tok\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,a=,\x01auth=Bearer tok\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,a=x,y\x01auth=Bearer tok\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,,\x01kx=v\x01\x01", err: "'auth' not specified"},
		{msg: "n,,\x01auth=Bearer\x01\x01", err: "invalid 'auth' format"},
		{msg: "n,,\x01auth=Bearer tok+/=\x01\x01", err: "invalid 'auth' format"},
		{msg: "n,,\x01auth=Basic dXNlcjpwYXNz\x01\x01", err: "Invalid scheme in OAUTHBEARER client first message: Basic"},
		{msg: "n,,\x01auth=Bearer tok\x01bad_key=v\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,,\x01auth=Bearer tok\x01k=\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "n,,\x01auth=Bearer tok\x01k=\xff\x01\x01", err: "Invalid OAUTHBEARER client first message"},
		{msg: "", err: "Invalid OAUTHBEARER client first message"},
		{msg: "\x01", err: "Invalid OAUTHBEARER client first message"},
	} {
		cm, err := ParseClientFirstMessage([]byte(tc.msg))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got %v, want %q", tc.msg, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.msg, err)
			continue
		}
		if cm.AuthzID != tc.authzid || cm.Token != tc.token || len(cm.Extensions) != len(tc.ext) {
			t.Errorf("%q: got %+v", tc.msg, cm)
		}
		for k, v := range tc.ext {
			if cm.Extensions[k] != v {
				t.Errorf("%q: extension %s = %q, want %q", tc.msg, k, cm.Extensions[k], v)
			}
		}
	}
	big := "n,,\x01auth=Bearer " + strings.Repeat("a", MaxOAuthBearerMessage) + "\x01\x01"
	if _, err := ParseClientFirstMessage([]byte(big)); err == nil {
		t.Error("oversized message accepted")
	}
}

// staticKeys is a KeyResolver over fixed keys.
type staticKeys []jose.JSONWebKey

func (s staticKeys) Keys(kid string) []jose.JSONWebKey { return selectKeys(s, kid) }

func parseKeys(t *testing.T, is *jwttest.Issuer) staticKeys {
	t.Helper()
	keys, skipped, err := ParseJWKS(is.JWKS())
	if err != nil || len(skipped) > 0 {
		t.Fatalf("ParseJWKS: %v %v", err, skipped)
	}
	return keys
}

func testIssuer(t *testing.T) *jwttest.Issuer {
	t.Helper()
	is := jwttest.New()
	for _, err := range []error{
		is.AddRSA("rsa", 2048), is.AddEC("p256", elliptic.P256()), is.AddEC("p384", elliptic.P384()),
		is.AddEC("p521", elliptic.P521()), is.AddEd25519("ed"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return is
}

func sign(t *testing.T, is *jwttest.Issuer, kid string, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	tok, err := is.Sign(kid, alg, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestJWTValidator(t *testing.T) {
	is := testIssuer(t)
	now := time.Unix(1_800_000_000, 0)
	v, err := NewJWTValidator(JWTValidatorConfig{
		Keys: parseKeys(t, is), ExpectedAudience: []string{"skein", "kafka"}, ExpectedIssuer: "https://idp.test",
		ClockSkew: 30 * time.Second, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	good := func() map[string]any { return jwttest.Claims("alice", "https://idp.test", "skein", now, time.Hour) }

	for _, tc := range []struct {
		kid string
		alg jose.SignatureAlgorithm
	}{
		{"rsa", jose.RS256}, {"rsa", jose.RS384}, {"rsa", jose.RS512},
		{"rsa", jose.PS256}, {"rsa", jose.PS384}, {"rsa", jose.PS512},
		{"p256", jose.ES256}, {"p384", jose.ES384}, {"p521", jose.ES512}, {"ed", jose.EdDSA},
	} {
		tok, err := v.Validate(sign(t, is, tc.kid, tc.alg, good()))
		if err != nil {
			t.Errorf("%s %s: %v", tc.kid, tc.alg, err)
			continue
		}
		if tok.Principal != "alice" || !tok.Expiry.Equal(now.Add(time.Hour)) || !tok.IssuedAt.Equal(now) || len(tok.Scope) != 1 || tok.Scope[0] != "kafka" {
			t.Errorf("%s %s: token %+v", tc.kid, tc.alg, tok)
		}
	}

	with := func(f func(c map[string]any)) map[string]any {
		c := good()
		f(c)
		return c
	}
	refused := map[string]struct {
		tok  string
		want string
	}{
		"expired":            {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["exp"] = now.Add(-31 * time.Second).Unix() })), "no longer valid"},
		"expired at skew":    {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })), "no longer valid"},
		"no exp":             {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { delete(c, "exp") })), "no Expiration Time"},
		"exp not a number":   {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["exp"] = "tomorrow" })), "'exp' claim"},
		"no iat":             {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { delete(c, "iat") })), "no Issued At"},
		"iat in the future":  {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["iat"] = now.Add(31 * time.Second).Unix() })), "issued in the future"},
		"nbf in the future":  {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["nbf"] = now.Add(31 * time.Second).Unix() })), "not yet valid"},
		"wrong audience":     {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["aud"] = []string{"other", "more"} })), "acceptable identifier"},
		"no audience":        {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { delete(c, "aud") })), "no Audience"},
		"bad audience type":  {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["aud"] = 7 })), "'aud' claim"},
		"wrong issuer":       {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["iss"] = "https://evil.test" })), "doesn't match expected"},
		"no issuer":          {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { delete(c, "iss") })), "no Issuer"},
		"no sub":             {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { delete(c, "sub") })), "sub value must be non-null"},
		"empty sub":          {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["sub"] = "" })), "sub value must be non-empty"},
		"blank sub":          {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["sub"] = "  " })), "only whitespace"},
		"sub not a string":   {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["sub"] = 12 })), "'sub' claim"},
		"empty scope":        {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["scope"] = "" })), "scope value must be non-empty"},
		"duplicate scopes":   {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["scope"] = []string{"a", " a"} })), "duplicates"},
		"scope not a string": {sign(t, is, "rsa", jose.RS256, with(func(c map[string]any) { c["scope"] = []any{"a", 1} })), "'scope' claim"},
		"alg none":           {jwttest.Unsigned("rsa", good()), "could not parse"},
		"unknown kid":        {sign(t, testIssuerWith(t, "other"), "other", jose.RS256, good()), "no verification key"},
		"alg for other key":  {retag(t, sign(t, is, "p256", jose.ES256, good()), "rsa"), "no verification key"},
		"header retagged":    {retag(t, sign(t, is, "p256", jose.ES256, good()), "p384"), "does not verify"},
		"not a JWT":          {"abc", "malformed JWT"},
		"JSON serialization": {`{"payload":"e30","signatures":[]}`, "malformed JWT"},
		"bad signature":      {tamper(t, sign(t, is, "rsa", jose.RS256, good())), "does not verify"},
		"claims not object":  {sign(t, is, "rsa", jose.RS256, nil), "claims"},
	}
	hs, err := jwttest.HMAC("rsa", []byte(strings.Repeat("k", 32)), good())
	if err != nil {
		t.Fatal(err)
	}
	refused["HS256"] = struct{ tok, want string }{hs, "could not parse"}
	for name, tc := range refused {
		if _, err := v.Validate(tc.tok); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}

	// Within the clock skew.
	for name, c := range map[string]map[string]any{
		"expired within skew": with(func(c map[string]any) { c["exp"] = now.Add(-29 * time.Second).Unix() }),
		"nbf within skew":     with(func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() }),
		"iat within skew":     with(func(c map[string]any) { c["iat"] = now.Add(30 * time.Second).Unix() }),
		"audience in a list":  with(func(c map[string]any) { c["aud"] = []string{"x", "kafka"} }),
		"fractional dates":    with(func(c map[string]any) { c["exp"] = float64(now.Unix()) + 100.5 }),
		"scope array":         with(func(c map[string]any) { c["scope"] = []string{"read", "write"} }),
		"no scope":            with(func(c map[string]any) { delete(c, "scope") }),
		"sub trimmed":         with(func(c map[string]any) { c["sub"] = " alice " }),
	} {
		tok, err := v.Validate(sign(t, is, "p256", jose.ES256, c))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if tok.Principal != "alice" {
			t.Errorf("%s: principal %q", name, tok.Principal)
		}
	}

	// Without an expected audience a token with aud is refused (jose4j's
	// default in Kafka), one without is accepted; the sub claim name is
	// configurable.
	v2, _ := NewJWTValidator(JWTValidatorConfig{Keys: parseKeys(t, is), SubClaim: "client_id", Now: func() time.Time { return now }})
	c := jwttest.Claims("ignored", "", "", now, time.Minute)
	c["client_id"] = "svc-orders"
	if tok, err := v2.Validate(sign(t, is, "rsa", jose.RS256, c)); err != nil || tok.Principal != "svc-orders" {
		t.Fatalf("client_id principal: %v %+v", err, tok)
	}
	c["aud"] = "skein"
	if _, err := v2.Validate(sign(t, is, "rsa", jose.RS256, c)); err == nil || !strings.Contains(err.Error(), "no expected audience") {
		t.Fatalf("aud without expected audience: %v", err)
	}
	// Without a kid every key of a fitting type is tried.
	c = jwttest.Claims("x", "", "", now, time.Minute)
	c["client_id"] = "bob"
	noKid, err := is.SignWithoutKeyID("p384", jose.ES384, c)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := v2.Validate(noKid); err != nil || tok.Principal != "bob" {
		t.Fatalf("no kid: %v", err)
	}
}

func testIssuerWith(t *testing.T, kid string) *jwttest.Issuer {
	t.Helper()
	is := jwttest.New()
	if err := is.AddRSA(kid, 2048); err != nil {
		t.Fatal(err)
	}
	return is
}

// retag re-encodes a token's header with another kid (none when empty);
// the signature no longer covers the header, so only a wrong-key or
// no-kid lookup is exercised.
func retag(t *testing.T, tok, kid string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr map[string]any
	json.Unmarshal(raw, &hdr)
	if kid == "" {
		delete(hdr, "kid")
	} else {
		hdr["kid"] = kid
	}
	raw, _ = json.Marshal(hdr)
	return base64.RawURLEncoding.EncodeToString(raw) + "." + parts[1] + "." + parts[2]
}

// tamper changes the payload's sub and keeps the signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	json.Unmarshal(raw, &c)
	c["sub"] = "admin"
	raw, _ = json.Marshal(c)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

func TestParseJWKSSkipsUnusableKeys(t *testing.T) {
	is := testIssuer(t)
	small := jwttest.New()
	if err := small.AddRSA("small", 1024); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Keys []json.RawMessage }
	json.Unmarshal(is.JWKS(), &doc)
	var smallDoc struct{ Keys []json.RawMessage }
	json.Unmarshal(small.JWKS(), &smallDoc)
	doc.Keys = append(doc.Keys, smallDoc.Keys...)
	doc.Keys = append(doc.Keys,
		json.RawMessage(`{"kty":"oct","kid":"hmac","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`),
		json.RawMessage(`{"kty":"XYZ","kid":"odd"}`),
		json.RawMessage(`{"kty":"EC","kid":"enc","use":"enc","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	data, _ := json.Marshal(map[string]any{"keys": doc.Keys})
	keys, skipped, err := ParseJWKS(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 || len(skipped) != 4 {
		t.Fatalf("%d keys, skipped %v", len(keys), skipped)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"keys":{}}`, `nope`} {
		if _, _, err := ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

type fakeValidator map[string]*Token

func (f fakeValidator) Validate(tok string) (*Token, error) {
	if t, ok := f[tok]; ok {
		c := *t
		return &c, nil
	}
	return nil, errors.New("refused")
}

func TestOAuthBearerExchange(t *testing.T) {
	exp := time.Unix(1_900_000_000, 0)
	v := fakeValidator{"good": {Principal: "alice", Expiry: exp}}

	m := NewOAuthBearer(v)
	out, done, err := m.Step([]byte("n,,\x01auth=Bearer good\x01ext=1\x01\x01"))
	if err != nil || !done || len(out) != 0 || m.User() != "alice" || !m.(Expiring).CredentialExpiry().Equal(exp) {
		t.Fatalf("good token: %q %v %v %q", out, done, err, m.User())
	}
	if _, _, err := m.Step([]byte("\x01")); err == nil {
		t.Fatal("step after completion accepted")
	}

	// A refused token: the JSON error challenge, then %x01, then failure
	// with the JSON as the message.
	m = NewOAuthBearer(v)
	out, done, err = m.Step([]byte("n,,\x01auth=Bearer bad\x01\x01"))
	if err != nil || done || string(out) != `{"status":"invalid_token"}` {
		t.Fatalf("refused token: %q %v %v", out, done, err)
	}
	_, _, err = m.Step([]byte{0x01})
	var se *Error
	if !errors.As(err, &se) || se.Msg != `{"status":"invalid_token"}` || se.Cause == nil {
		t.Fatalf("after %%x01: %v", err)
	}
	// Anything but %x01 after the error challenge is a hidden failure.
	m = NewOAuthBearer(v)
	m.Step([]byte("n,,\x01auth=Bearer bad\x01\x01"))
	_, _, err = m.Step([]byte("n,,\x01auth=Bearer good\x01\x01"))
	var he *HiddenError
	if !errors.As(err, &he) {
		t.Fatalf("retry after error: %v", err)
	}
	// A malformed message is a hidden failure; a %x01 first is too.
	for _, msg := range []string{"garbage", "\x01"} {
		_, _, err = NewOAuthBearer(v).Step([]byte(msg))
		if !errors.As(err, &he) {
			t.Fatalf("%q: %v", msg, err)
		}
	}
	// An authorization id other than the token's principal.
	_, _, err = NewOAuthBearer(v).Step([]byte("n,a=bob,\x01auth=Bearer good\x01\x01"))
	if !errors.As(err, &se) || se.Msg != "Authentication failed: Client requested an authorization id (bob) that is different from the token's principal name (alice)" {
		t.Fatalf("authzid: %v", err)
	}
	if _, done, err := NewOAuthBearer(v).Step([]byte("n,a=alice,\x01auth=Bearer good\x01\x01")); err != nil || !done {
		t.Fatalf("matching authzid: %v", err)
	}
	if GenericFailure(OAuthBearer, true) != "Authentication failed during re-authentication due to invalid credentials with SASL mechanism OAUTHBEARER" {
		t.Fatal(GenericFailure(OAuthBearer, true))
	}
}

func TestFileKeysReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	is := testIssuerWith(t, "k1")
	if err := is.WriteJWKS(path); err != nil {
		t.Fatal(err)
	}
	fk, err := NewFileKeys(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fk.Keys("k1")) != 1 || len(fk.Keys("k2")) != 0 {
		t.Fatal("initial keys")
	}
	// Rotation: k2 added, k1 removed, by renaming a new file over it.
	if err := is.AddRSA("k2", 2048); err != nil {
		t.Fatal(err)
	}
	is.Remove("k1")
	if err := is.WriteJWKS(path); err != nil {
		t.Fatal(err)
	}
	if len(fk.Keys("k2")) != 1 || len(fk.Keys("k1")) != 0 {
		t.Fatal("rotated keys not seen")
	}
	// A broken file keeps the keys in use.
	if err := os.WriteFile(path, []byte(`{"keys":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if len(fk.Keys("k2")) != 1 {
		t.Fatal("keys lost to a broken file")
	}
	os.Remove(path)
	if len(fk.Keys("k2")) != 1 {
		t.Fatal("keys lost to a missing file")
	}
	// At start a file must hold a usable key.
	os.WriteFile(path, []byte(`{"keys":[]}`), 0o600)
	if _, err := NewFileKeys(path, nil); err == nil {
		t.Fatal("empty JWKS accepted at start")
	}
	if _, err := NewFileKeys(filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestHTTPKeys(t *testing.T) {
	is := testIssuerWith(t, "k1")
	var mu sync.Mutex
	fail := 2 // the first fetches fail: retried with backoff
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(is.JWKS())
	}))
	defer srv.Close()

	h, err := NewHTTPKeys(HTTPKeysConfig{URL: srv.URL, Refresh: time.Hour, RetryBackoff: time.Millisecond, RetryBackoffMax: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3 (two failures retried)", n)
	}
	if len(h.Keys("k1")) != 1 {
		t.Fatal("k1 missing")
	}
	done := make(chan struct{})
	go func() { h.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// A new key is fetched early when a token names it.
	if err := is.AddRSA("k2", 2048); err != nil {
		t.Fatal(err)
	}
	if len(h.Keys("k2")) != 0 {
		t.Fatal("k2 known before the refresh")
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.Keys("k2")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("unknown kid did not bring a refresh")
		}
		time.Sleep(5 * time.Millisecond) // poll interval
	}

	// A fetch that keeps failing gives up after the retry budget.
	bad := httptest.NewServer(http.NotFoundHandler())
	defer bad.Close()
	h2, _ := NewHTTPKeys(HTTPKeysConfig{URL: bad.URL, Refresh: time.Hour, RetryBackoff: time.Millisecond, RetryBackoffMax: 20 * time.Millisecond})
	if err := h2.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("failing endpoint: %v", err)
	}
}

// FuzzOAuthBearerClientFirstMessage runs arbitrary client first messages
// through the exchange with a real validator: no panic, and a message that
// parses keeps Kafka's grammar.
func FuzzOAuthBearerClientFirstMessage(f *testing.F) {
	for _, s := range []string{
		"n,,\x01auth=Bearer abc.def.ghi\x01\x01",
		"n,a=alice,\x01auth=Bearer t\x01k=v v\x01\x01",
		"n,a=x=2C,\x01auth=bearer eyJhbGciOiJub25lIn0.e30.\x01\x01",
		"\x01", "", "n,,\x01\x01",
	} {
		f.Add([]byte(s))
	}
	is := jwttest.New()
	if err := is.AddEC("k", elliptic.P256()); err != nil {
		f.Fatal(err)
	}
	keys, _, _ := ParseJWKS(is.JWKS())
	v, _ := NewJWTValidator(JWTValidatorConfig{Keys: staticKeys(keys)})
	f.Fuzz(func(t *testing.T, msg []byte) {
		cm, err := ParseClientFirstMessage(msg)
		if err == nil {
			if cm.Token == "" || strings.ContainsAny(cm.Token, " \x01") {
				t.Fatalf("token %q", cm.Token)
			}
			if _, ok := cm.Extensions["auth"]; ok {
				t.Fatal("auth kept as an extension")
			}
		}
		m := NewOAuthBearer(v)
		out, done, err := m.Step(msg)
		if done {
			t.Fatal("authenticated without a signed token")
		}
		if err == nil {
			if string(out) != `{"status":"invalid_token"}` {
				t.Fatalf("challenge %q", out)
			}
			if _, _, err := m.Step([]byte{1}); err == nil {
				t.Fatalf("no failure after the %%x01 answer")
			}
		}
	})
}

// FuzzOAuthBearerJWT validates arbitrary tokens, and signed tokens with
// arbitrary claims: no panic, and nothing unsigned is accepted.
func FuzzOAuthBearerJWT(f *testing.F) {
	is := jwttest.New()
	if err := is.AddEC("k", elliptic.P256()); err != nil {
		f.Fatal(err)
	}
	keys, _, _ := ParseJWKS(is.JWKS())
	v, _ := NewJWTValidator(JWTValidatorConfig{Keys: staticKeys(keys), ClockSkew: 30 * time.Second})
	now := time.Now()
	good, _ := is.Sign("k", jose.ES256, jwttest.Claims("alice", "", "", now, time.Hour))
	f.Add(good, []byte(`{"sub":"a","exp":99999999999,"iat":1}`))
	f.Add(jwttest.Unsigned("k", jwttest.Claims("alice", "", "", now, time.Hour)), []byte(`{"sub":1}`))
	f.Add("a.b.c", []byte(`{"exp":1e400,"iat":-1,"sub":" ","scope":[1]}`))
	f.Add("..", []byte(`[]`))
	f.Fuzz(func(t *testing.T, raw string, claims []byte) {
		if tok, err := v.Validate(raw); err == nil && raw != good {
			// Only a token signed by the key can pass: its payload
			// must have come from the issuer.
			if tok.Principal == "" {
				t.Fatalf("accepted %q with an empty principal", raw)
			}
		}
		// Signed arbitrary claims exercise the claim checks.
		var c map[string]any
		if json.Unmarshal(claims, &c) == nil {
			if tok, err := is.Sign("k", jose.ES256, c); err == nil {
				if got, err := v.Validate(tok); err == nil {
					if got.Principal == "" || got.Expiry.IsZero() {
						t.Fatalf("accepted %s as %+v", claims, got)
					}
				}
			}
		}
	})
}
