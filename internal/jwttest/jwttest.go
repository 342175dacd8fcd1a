// Package jwttest issues signed JWT access tokens and the JWKS that
// verifies them, for tests of OAUTHBEARER authentication.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Issuer holds signing keys by key ID.
type Issuer struct {
	mu   sync.Mutex
	keys map[string]jose.JSONWebKey
}

// New returns an issuer without keys.
func New() *Issuer { return &Issuer{keys: map[string]jose.JSONWebKey{}} }

// AddRSA adds a new RSA key of bits bits under kid.
func (is *Issuer) AddRSA(kid string, bits int) error {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return err
	}
	is.add(kid, k, "")
	return nil
}

// AddEC adds a new ECDSA key on curve under kid.
func (is *Issuer) AddEC(kid string, curve elliptic.Curve) error {
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return err
	}
	is.add(kid, k, "")
	return nil
}

// AddEd25519 adds a new Ed25519 key under kid.
func (is *Issuer) AddEd25519(kid string) error {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	is.add(kid, k, "")
	return nil
}

func (is *Issuer) add(kid string, key crypto.PrivateKey, alg string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys[kid] = jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: "sig"}
}

// Remove drops a key.
func (is *Issuer) Remove(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	delete(is.keys, kid)
}

// JWKS returns the public keys as a JWKS document, in key ID order.
func (is *Issuer) JWKS() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	kids := make([]string, 0, len(is.keys))
	for kid := range is.keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	set := jose.JSONWebKeySet{}
	for _, kid := range kids {
		k := is.keys[kid]
		set.Keys = append(set.Keys, k.Public())
	}
	data, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return data
}

// WriteJWKS replaces the file at path with the JWKS atomically (a new file
// renamed over it), as an operator should rotate a JWKS file.
func (is *Issuer) WriteJWKS(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".jwks-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(is.JWKS()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Sign signs claims with the key kid and algorithm alg, as a JWS compact
// serialization with typ JWT and the key ID in the header.
func (is *Issuer) Sign(kid string, alg jose.SignatureAlgorithm, claims map[string]any) (string, error) {
	return is.sign(kid, alg, claims, true)
}

// SignWithoutKeyID signs as Sign does but leaves the key ID out of the
// header.
func (is *Issuer) SignWithoutKeyID(kid string, alg jose.SignatureAlgorithm, claims map[string]any) (string, error) {
	return is.sign(kid, alg, claims, false)
}

func (is *Issuer) sign(kid string, alg jose.SignatureAlgorithm, claims map[string]any, withKid bool) (string, error) {
	is.mu.Lock()
	k, ok := is.keys[kid]
	is.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("no key %q", kid)
	}
	var key any = k
	if !withKid {
		key = k.Key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Claims returns the claims of a token for sub valid from now for ttl:
// iat now, exp now+ttl, and iss and aud when non-empty.
func Claims(sub, iss, aud string, now time.Time, ttl time.Duration) map[string]any {
	c := map[string]any{"sub": sub, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "scope": "kafka"}
	if iss != "" {
		c["iss"] = iss
	}
	if aud != "" {
		c["aud"] = aud
	}
	return c
}

// Unsigned returns an unsecured JWS (alg none, RFC 7515 appendix A.5) of
// claims with key ID kid.
func Unsigned(kid string, claims map[string]any) string {
	hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT", "kid": kid})
	payload, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload) + "."
}

// HMAC returns claims signed with HS256 under key ID kid with secret.
func HMAC(kid string, secret []byte, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
