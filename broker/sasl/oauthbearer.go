package sasl

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer serves it.
//
// The client's first message is a GS2 header and key/value pairs separated
// by %x01:
//
//	n,[a=<authzid>],%x01auth=Bearer <token>%x01[<key>=<value>%x01]...%x01
//
// A malformed message fails with Kafka's generic message (HiddenError). A
// token the validator refuses is answered with the JSON error
// {"status":"invalid_token"} as a server challenge; the client then sends
// %x01 and the exchange fails with that JSON as the message, as Kafka
// does. A valid token authenticates its principal (the sub claim, or the
// configured one) until its exp.

// MaxOAuthBearerMessage bounds the client's first message: Kafka's
// sasl.server.max.receive.size default, the largest SASL message its
// broker reads before authentication.
const MaxOAuthBearerMessage = 524288

// invalidTokenJSON is the server's error challenge for a refused token
// (OAuthBearerValidatorCallbackHandler reports the status invalid_token).
const invalidTokenJSON = `{"status":"invalid_token"}`

// The client first message grammar of Kafka's
// OAuthBearerClientInitialResponse. SASLNAME is [\x01-\x7F] without '='
// and ',' (Java's class intersection spelled out), or the escapes =2C and
// =3D, which are kept as sent.
var (
	clientFirstMessage = regexp.MustCompile(`\An,(?:a=((?:[\x01-\x2B\x2D-\x3C\x3E-\x7F]|=2C|=3D)+))?,\x01((?:[A-Za-z]+=[\x21-\x7E \t\r\n]+\x01)*)\x01\z`)
	authValue          = regexp.MustCompile(`\A([a-zA-Z0-9_]+) +([-_.a-zA-Z0-9]+)\z`)
)

// ClientFirstMessage is a parsed OAUTHBEARER client first message.
type ClientFirstMessage struct {
	// AuthzID is the authorization identity of the GS2 header, empty
	// when absent.
	AuthzID string
	// Token is the bearer token of the auth key.
	Token string
	// Extensions are the other key/value pairs (SASL extensions,
	// KIP-342).
	Extensions map[string]string
}

// ParseClientFirstMessage parses msg with Kafka's grammar and messages.
func ParseClientFirstMessage(msg []byte) (ClientFirstMessage, error) {
	var cm ClientFirstMessage
	if len(msg) > MaxOAuthBearerMessage {
		return cm, fmt.Errorf("OAUTHBEARER client first message of %d bytes exceeds %d", len(msg), MaxOAuthBearerMessage)
	}
	m := clientFirstMessage.FindSubmatch(msg)
	if m == nil {
		return cm, errors.New("Invalid OAUTHBEARER client first message")
	}
	cm.AuthzID = string(m[1])
	props := map[string]string{}
	for _, kv := range strings.Split(string(m[2]), "\x01") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		props[k] = v
	}
	auth, ok := props["auth"]
	if !ok {
		return cm, errors.New("Invalid OAUTHBEARER client first message: 'auth' not specified")
	}
	delete(props, "auth")
	am := authValue.FindStringSubmatch(auth)
	if am == nil {
		return cm, errors.New("Invalid OAUTHBEARER client first message: invalid 'auth' format")
	}
	if !strings.EqualFold(am[1], "bearer") {
		return cm, fmt.Errorf("Invalid scheme in OAUTHBEARER client first message: %s", am[1])
	}
	cm.Token = am[2]
	cm.Extensions = props
	return cm, nil
}

// Token is a validated OAUTHBEARER access token.
type Token struct {
	// Value is the token as the client sent it.
	Value string
	// Principal is the principal name: the sub claim (or
	// sasl.oauthbearer.sub.claim.name), trimmed.
	Principal string
	// Scope holds the scope claim's values.
	Scope []string
	// Expiry is the exp claim.
	Expiry time.Time
	// IssuedAt is the iat claim.
	IssuedAt time.Time
	// Extensions are the client's SASL extensions, all accepted as
	// Kafka's validator callback handler accepts them.
	Extensions map[string]string
}

// TokenValidator validates a bearer token.
type TokenValidator interface {
	// Validate returns the token's principal and lifetime, or why the
	// token is refused.
	Validate(token string) (*Token, error)
}

// NewOAuthBearer returns an OAUTHBEARER exchange whose tokens v checks.
func NewOAuthBearer(v TokenValidator) Mechanism {
	return &oauthBearer{v: v}
}

type oauthBearer struct {
	v TokenValidator
	// refused is set once the error challenge was sent; the client must
	// answer it with %x01.
	refused error
	token   *Token
	// claimed is the authorization id the client named, if any: a
	// refused token's claims are not trusted, so they are not reported.
	claimed string
}

// Step runs one step of the exchange.
func (o *oauthBearer) Step(msg []byte) ([]byte, bool, error) {
	if o.token != nil {
		return nil, false, &HiddenError{Cause: errors.New("OAUTHBEARER exchange already complete")}
	}
	if o.refused != nil {
		if len(msg) == 1 && msg[0] == 0x01 {
			return nil, false, &Error{Msg: invalidTokenJSON, Cause: o.refused}
		}
		// RFC 7628 section 3.2.3: after an error the client must send
		// a single %x01.
		return nil, false, &HiddenError{Cause: fmt.Errorf("client answered the error challenge with %d bytes instead of %%x01 (token refused: %w)", len(msg), o.refused)}
	}
	cm, err := ParseClientFirstMessage(msg)
	if err != nil {
		return nil, false, &HiddenError{Cause: err}
	}
	o.claimed = cm.AuthzID
	tok, err := o.v.Validate(cm.Token)
	if err != nil {
		o.refused = err
		return []byte(invalidTokenJSON), false, nil
	}
	if cm.AuthzID != "" && cm.AuthzID != tok.Principal {
		return nil, false, &Error{Msg: fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", cm.AuthzID, tok.Principal)}
	}
	tok.Extensions = cm.Extensions
	o.token = tok
	return []byte{}, true, nil
}

// User is the token's principal name.
func (o *oauthBearer) User() string {
	if o.token == nil {
		return ""
	}
	return o.token.Principal
}

// Claimed is the token's principal once it is validated, else the
// authorization id the client named ("" when it named none).
func (o *oauthBearer) Claimed() string {
	if o.token != nil {
		return o.token.Principal
	}
	return o.claimed
}

// CredentialExpiry is the token's exp.
func (o *oauthBearer) CredentialExpiry() time.Time {
	if o.token == nil {
		return time.Time{}
	}
	return o.token.Expiry
}
