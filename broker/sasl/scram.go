package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// Kafka's bounds on SCRAM iterations (ScramMechanism minIterations, and
// the maximum AlterUserScramCredentials accepts).
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// Credential is a stored SCRAM credential (RFC 5802 section 2.2): the
// password itself is never kept.
type Credential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// hashFor returns the hash of a SCRAM mechanism.
func hashFor(mechanism string) (func() hash.Hash, error) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, nil
	case ScramSHA512:
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unsupported SCRAM mechanism %q", mechanism)
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// NewCredential derives the stored and server keys from a salted password
// (Hi(password, salt, iterations), which AlterUserScramCredentials
// carries).
func NewCredential(mechanism string, salt, saltedPassword []byte, iterations int32) (Credential, error) {
	h, err := hashFor(mechanism)
	if err != nil {
		return Credential{}, err
	}
	if len(saltedPassword) != h().Size() {
		return Credential{}, fmt.Errorf("salted password of %d bytes, %s needs %d", len(saltedPassword), mechanism, h().Size())
	}
	clientKey := hmacSum(h, saltedPassword, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return Credential{
		Salt:       append([]byte(nil), salt...),
		StoredKey:  sum.Sum(nil),
		ServerKey:  hmacSum(h, saltedPassword, "Server Key"),
		Iterations: iterations,
	}, nil
}

// SaltedPassword is Hi(password, salt, iterations) of RFC 5802 (PBKDF2
// with the mechanism's HMAC), what a client computes and
// AlterUserScramCredentials carries; NewCredential turns it into the
// stored credential.
func SaltedPassword(mechanism, password string, salt []byte, iterations int32) ([]byte, error) {
	h, err := hashFor(mechanism)
	if err != nil {
		return nil, err
	}
	if iterations < 1 {
		return nil, fmt.Errorf("invalid iteration count %d", iterations)
	}
	return pbkdf2.Key(h, password, salt, int(iterations), h().Size())
}

// NewScram returns a SCRAM exchange. lookup finds a user's credential for
// the mechanism.
func NewScram(mechanism string, lookup func(user string) (Credential, bool)) (Mechanism, error) {
	h, err := hashFor(mechanism)
	if err != nil {
		return nil, err
	}
	return &scram{mech: mechanism, h: h, lookup: lookup}, nil
}

type scram struct {
	mech   string
	h      func() hash.Hash
	lookup func(string) (Credential, bool)

	step        int
	user        string
	claimed     string
	known       bool
	cred        Credential
	clientBare  string
	serverFirst string
	nonce       string
	done        bool
}

func (s *scram) failed(cause error) error {
	return &Error{Msg: "Authentication failed during authentication due to invalid credentials with SASL mechanism " + s.mech, Cause: cause}
}

func (s *scram) Step(token []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step++
		return s.clientFirst(string(token))
	case 1:
		s.step++
		return s.clientFinal(string(token))
	}
	return nil, false, &Error{Msg: "Authentication failed: unexpected SASL token after the SCRAM exchange completed"}
}

func (s *scram) User() string {
	if !s.done {
		return ""
	}
	return s.user
}

func (s *scram) Claimed() string { return s.claimed }

// unusedSecret keys the fake credentials of unknown users.
var unusedSecret = func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}()

func (s *scram) clientFirst(msg string) ([]byte, bool, error) {
	// gs2-header: channel binding flag, optional authzid.
	cb, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, false, s.failed(errors.New("invalid client-first-message"))
	}
	if cb != "n" && cb != "y" {
		return nil, false, s.failed(errors.New("channel binding is not supported"))
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, false, s.failed(errors.New("invalid client-first-message"))
	}
	attrs, err := parseAttrs(bare)
	if err != nil {
		return nil, false, s.failed(err)
	}
	if len(attrs) < 2 || attrs[0].k != 'n' || attrs[1].k != 'r' {
		return nil, false, s.failed(errors.New("client-first-message must start with n= and r="))
	}
	if len(attrs) > 2 {
		// Extensions such as tokenauth=true (delegation tokens) are
		// not served.
		return nil, false, s.failed(errors.New("SCRAM extensions are not supported"))
	}
	user, err := saslName(attrs[0].v)
	if err != nil {
		return nil, false, s.failed(err)
	}
	s.claimed = user
	if authzid != "" {
		az, err := saslName(strings.TrimPrefix(authzid, "a="))
		if err != nil || !strings.HasPrefix(authzid, "a=") || az != user {
			return nil, false, &Error{Msg: "Authentication failed: Client requested an authorization id that is different from username"}
		}
	}
	if attrs[1].v == "" {
		return nil, false, s.failed(errors.New("empty client nonce"))
	}
	s.user, s.clientBare = user, bare
	s.cred, s.known = s.lookup(user)
	if !s.known {
		// Answer as for a real user, so that the exchange does not
		// reveal which users exist; the final step fails.
		salt := hmacSum(sha256.New, unusedSecret, s.mech+"\x00"+user)[:16]
		s.cred = Credential{Salt: salt, StoredKey: make([]byte, s.h().Size()), ServerKey: make([]byte, s.h().Size()), Iterations: MinIterations}
	}
	nb := make([]byte, 24)
	rand.Read(nb)
	s.nonce = attrs[1].v + base64.RawURLEncoding.EncodeToString(nb)
	s.serverFirst = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) + ",i=" + strconv.Itoa(int(s.cred.Iterations))
	return []byte(s.serverFirst), false, nil
}

func (s *scram) clientFinal(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, s.failed(errors.New("client-final-message without proof"))
	}
	withoutProof := msg[:i]
	attrs, err := parseAttrs(withoutProof)
	if err != nil {
		return nil, false, s.failed(err)
	}
	if len(attrs) < 2 || attrs[0].k != 'c' || attrs[1].k != 'r' {
		return nil, false, s.failed(errors.New("client-final-message must start with c= and r="))
	}
	if attrs[0].v != "biws" && attrs[0].v != "eSws" { // base64 of "n,," and "y,,"
		return nil, false, s.failed(errors.New("channel binding is not supported"))
	}
	if !strings.HasSuffix(attrs[1].v, s.nonce) {
		return nil, false, s.failed(errors.New("invalid client nonce in the final client message"))
	}
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) != s.h().Size() {
		return nil, false, s.failed(errors.New("invalid client proof"))
	}
	authMessage := s.clientBare + "," + s.serverFirst + "," + withoutProof
	clientSig := hmacSum(s.h, s.cred.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ clientSig[j]
	}
	sum := s.h()
	sum.Write(clientKey)
	if subtle.ConstantTimeCompare(sum.Sum(nil), s.cred.StoredKey) != 1 || !s.known {
		return nil, false, s.failed(errors.New("invalid client credentials"))
	}
	s.done = true
	serverSig := hmacSum(s.h, s.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), true, nil
}

type attr struct {
	k byte
	v string
}

func parseAttrs(s string) ([]attr, error) {
	var out []attr
	for _, part := range strings.Split(s, ",") {
		if len(part) < 2 || part[1] != '=' {
			return nil, fmt.Errorf("invalid SCRAM attribute %q", part)
		}
		out = append(out, attr{k: part[0], v: part[2:]})
	}
	return out, nil
}

// saslName decodes =2C and =3D (RFC 5802 section 5.1).
func saslName(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty user name")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("invalid escape in user name %q", s)
		}
		i += 2
	}
	return b.String(), nil
}
