package sasl

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// JWTAlgorithms are the JWS algorithms a token may be signed with: the
// asymmetric ones. "none" is never accepted (jose4j's DISALLOW_NONE, which
// Kafka sets), and neither are the HMAC algorithms, whose key would have
// to be shared with every token issuer and is never published in a JWKS.
var JWTAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// KeyResolver finds the keys that may have signed a token.
type KeyResolver interface {
	// Keys returns the verification keys with key ID kid, or all keys
	// when kid is empty. A resolver may refresh its keys when none
	// match.
	Keys(kid string) []jose.JSONWebKey
}

// JWTValidatorConfig configures a JWTValidator with Kafka's
// sasl.oauthbearer.* settings.
type JWTValidatorConfig struct {
	Keys KeyResolver
	// ExpectedAudience (sasl.oauthbearer.expected.audience): when
	// non-empty, the token's aud must hold one of these values; when
	// empty, a token with an aud claim is refused, as Kafka's jose4j
	// consumer refuses it.
	ExpectedAudience []string
	// ExpectedIssuer (sasl.oauthbearer.expected.issuer): when non-empty,
	// the token's iss must equal it.
	ExpectedIssuer string
	// ClockSkew (sasl.oauthbearer.clock.skew.seconds) is allowed on exp,
	// nbf and iat.
	ClockSkew time.Duration
	// SubClaim (sasl.oauthbearer.sub.claim.name, "sub") holds the
	// principal name; ScopeClaim (sasl.oauthbearer.scope.claim.name,
	// "scope") the scopes.
	SubClaim, ScopeClaim string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// JWTValidator checks signed JWT access tokens as Kafka's
// BrokerJwtValidator does: a JWS compact serialization signed with an
// asymmetric algorithm by a key of the resolver (matched by kid), exp and
// iat present, exp and nbf honored with the clock skew, the expected
// audience and issuer, a non-blank subject, and well-formed scopes. It
// also refuses a token issued (iat) further in the future than the clock
// skew.
type JWTValidator struct {
	cfg JWTValidatorConfig
}

// NewJWTValidator returns a validator; it fills in Kafka's defaults for
// the claim names.
func NewJWTValidator(cfg JWTValidatorConfig) (*JWTValidator, error) {
	if cfg.Keys == nil {
		return nil, errors.New("JWT validator: no key resolver")
	}
	if cfg.ClockSkew < 0 {
		return nil, fmt.Errorf("JWT validator: negative clock skew %v", cfg.ClockSkew)
	}
	if cfg.SubClaim == "" {
		cfg.SubClaim = "sub"
	}
	if cfg.ScopeClaim == "" {
		cfg.ScopeClaim = "scope"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.ExpectedAudience = slices.Clone(cfg.ExpectedAudience)
	return &JWTValidator{cfg: cfg}, nil
}

// Validate checks a token and returns its principal and lifetime. The
// error says why a token is refused; it is logged, never sent to the
// client.
func (v *JWTValidator) Validate(raw string) (*Token, error) {
	raw = strings.TrimSpace(raw)
	if strings.Count(raw, ".") != 2 {
		return nil, errors.New("malformed JWT provided; expected three sections (header, payload, and signature)")
	}
	jws, err := jose.ParseSignedCompact(raw, JWTAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("could not parse the access token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("could not parse the access token: expected one signature")
	}
	hdr := jws.Signatures[0].Protected
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	candidates := v.cfg.Keys.Keys(hdr.KeyID)
	var payload []byte
	tried := 0
	for i := range candidates {
		k := &candidates[i]
		if !keyFitsAlgorithm(k, alg) {
			continue
		}
		tried++
		if p, err := jws.Verify(k); err == nil {
			payload = p
			break
		}
	}
	switch {
	case tried == 0:
		return nil, fmt.Errorf("no verification key in the JWKS matches the token (kid %q, alg %s)", hdr.KeyID, alg)
	case payload == nil:
		return nil, fmt.Errorf("the token's signature does not verify with the JWKS key (kid %q, alg %s)", hdr.KeyID, alg)
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, fmt.Errorf("could not parse the access token's claims: %w", err)
	}
	return v.checkClaims(raw, claims)
}

// keyFitsAlgorithm reports whether key may verify a signature made with
// alg: a public signature key of the algorithm's type whose own alg, when
// given, is alg.
func keyFitsAlgorithm(k *jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Use == "enc" || (k.Algorithm != "" && k.Algorithm != string(alg)) {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		return strings.HasPrefix(string(alg), "ES")
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// decodeClaims decodes a JWT claims set, keeping numbers exact.
func decodeClaims(payload []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var claims map[string]any
	if err := d.Decode(&claims); err != nil {
		return nil, err
	}
	if claims == nil {
		return nil, errors.New("the claims set is not a JSON object")
	}
	if d.More() {
		return nil, errors.New("data after the claims set")
	}
	return claims, nil
}

// numericDate reads a NumericDate claim (seconds since the epoch; a
// fraction is dropped, as jose4j drops it). ok is false when the claim is
// absent.
func numericDate(claims map[string]any, name string) (sec int64, ok bool, err error) {
	v, present := claims[name]
	if !present || v == nil {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, false, fmt.Errorf("could not extract the '%s' claim from the access token: not a number", name)
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || f > math.MaxInt64/1000 || f < math.MinInt64/1000 {
		return 0, false, fmt.Errorf("could not extract the '%s' claim from the access token: %s is out of range", name, n)
	}
	return int64(f), true, nil
}

// stringList reads a claim that is a string or an array of strings.
func stringList(claims map[string]any, name string) (vals []string, present bool, err error) {
	v, present := claims[name]
	if !present || v == nil {
		return nil, false, nil
	}
	switch x := v.(type) {
	case string:
		return []string{x}, true, nil
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, true, fmt.Errorf("could not extract the '%s' claim from the access token: an element is not a string", name)
			}
			vals = append(vals, s)
		}
		return vals, true, nil
	}
	return nil, true, fmt.Errorf("could not extract the '%s' claim from the access token: neither a string nor an array of strings", name)
}

// validString is Kafka's ClaimValidationUtils.validateString: non-empty
// and not only whitespace; the value is trimmed.
func validString(name, s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%s value must be non-empty", name)
	}
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("%s value must not contain only whitespace", name)
	}
	return t, nil
}

func (v *JWTValidator) checkClaims(raw string, claims map[string]any) (*Token, error) {
	now := v.cfg.Now().Unix()
	skew := int64(v.cfg.ClockSkew / time.Second)

	exp, ok, err := numericDate(claims, "exp")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errors.New("no Expiration Time (exp) claim present")
	case exp < 0:
		return nil, fmt.Errorf("exp value must be non-negative; value given was %d", exp)
	case now-skew >= exp:
		return nil, fmt.Errorf("the JWT is no longer valid: the evaluation time %d is on or after the Expiration Time (exp=%d) claim value (allowed clock skew %d seconds)", now, exp, skew)
	}
	iat, ok, err := numericDate(claims, "iat")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, errors.New("no Issued At (iat) claim present")
	case iat < 0:
		return nil, fmt.Errorf("iat value must be null or non-negative; value given was %d", iat)
	case iat > now+skew:
		return nil, fmt.Errorf("the JWT was issued in the future: Issued At (iat=%d) is after the evaluation time %d (allowed clock skew %d seconds)", iat, now, skew)
	}
	nbf, ok, err := numericDate(claims, "nbf")
	if err != nil {
		return nil, err
	}
	if ok && now+skew < nbf {
		return nil, fmt.Errorf("the JWT is not yet valid: the evaluation time %d is before the Not Before (nbf=%d) claim time (allowed clock skew %d seconds)", now, nbf, skew)
	}

	if want := v.cfg.ExpectedIssuer; want != "" {
		iss, present := claims["iss"]
		s, isString := iss.(string)
		switch {
		case !present || iss == nil:
			return nil, fmt.Errorf("no Issuer (iss) claim present but was expecting %s", want)
		case !isString:
			return nil, errors.New("could not extract the 'iss' claim from the access token: not a string")
		case s != want:
			return nil, fmt.Errorf("issuer (iss) claim value (%s) doesn't match expected value of %s", s, want)
		}
	}

	aud, present, err := stringList(claims, "aud")
	if err != nil {
		return nil, err
	}
	switch {
	case len(v.cfg.ExpectedAudience) == 0 && present:
		return nil, fmt.Errorf("audience (aud) claim %q present in the JWT but no expected audience value(s) were configured (sasl.oauthbearer.expected.audience)", aud)
	case len(v.cfg.ExpectedAudience) > 0 && !present:
		return nil, errors.New("no Audience (aud) claim present")
	case len(v.cfg.ExpectedAudience) > 0 && !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(v.cfg.ExpectedAudience, a) }):
		return nil, fmt.Errorf("audience (aud) claim %q doesn't contain an acceptable identifier; expected one of %q", aud, v.cfg.ExpectedAudience)
	}

	subRaw, present := claims[v.cfg.SubClaim]
	if !present || subRaw == nil {
		return nil, fmt.Errorf("%s value must be non-null", v.cfg.SubClaim)
	}
	sub, isString := subRaw.(string)
	if !isString {
		return nil, fmt.Errorf("could not extract the '%s' claim from the access token: not a string", v.cfg.SubClaim)
	}
	principal, err := validString(v.cfg.SubClaim, sub)
	if err != nil {
		return nil, err
	}

	// The scope claim: a string is one scope, as Kafka takes it; an
	// array holds one scope per element; any other type is no scope.
	var scopes []string
	if sv, ok := claims[v.cfg.ScopeClaim]; ok {
		var list []string
		switch x := sv.(type) {
		case string:
			list = []string{x}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("could not extract the '%s' claim from the access token: an element is not a string", v.cfg.ScopeClaim)
				}
				list = append(list, s)
			}
		}
		for _, s := range list {
			s, err := validString(v.cfg.ScopeClaim, s)
			if err != nil {
				return nil, err
			}
			if slices.Contains(scopes, s) {
				return nil, fmt.Errorf("%s value must not contain duplicates - %s already present", v.cfg.ScopeClaim, s)
			}
			scopes = append(scopes, s)
		}
	}
	return &Token{
		Value:     raw,
		Principal: principal,
		Scope:     scopes,
		Expiry:    time.Unix(exp, 0),
		IssuedAt:  time.Unix(iat, 0),
	}, nil
}
