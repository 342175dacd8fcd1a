package sasl

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"time"
)

// Mechanism names.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
	OAuthBearer = "OAUTHBEARER"
)

// Supported lists the mechanisms this package serves.
var Supported = []string{Plain, ScramSHA256, ScramSHA512, OAuthBearer}

// Mechanism is the server side of one authentication exchange.
type Mechanism interface {
	// Step consumes the client's next token and returns the server's
	// answer; done is true once the client is authenticated. An error
	// ends the exchange: authentication failed.
	Step(token []byte) (resp []byte, done bool, err error)
	// User is the authenticated user name once Step reported done.
	User() string
	// Claimed is the user name the client gave, authenticated or not
	// ("" before it gave one), for logging failed attempts. It never
	// holds a password.
	Claimed() string
}

// Error is an authentication failure. Its message is what Kafka sends the
// client in SaslAuthenticate's error message.
type Error struct {
	Msg string
	// Cause is logged, never sent.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Msg + ": " + e.Cause.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Cause }

// HiddenError is an authentication failure whose detail Kafka keeps from
// the client (a SaslException in Kafka's SASL servers): the client is told
// only GenericFailure. Cause is logged.
type HiddenError struct {
	Cause error
}

func (e *HiddenError) Error() string { return e.Cause.Error() }

func (e *HiddenError) Unwrap() error { return e.Cause }

// GenericFailure is the message Kafka's SaslServerAuthenticator sends for
// a HiddenError.
func GenericFailure(mechanism string, reauth bool) string {
	what := "authentication"
	if reauth {
		what = "re-authentication"
	}
	return "Authentication failed during " + what + " due to invalid credentials with SASL mechanism " + mechanism
}

// Expiring is implemented by mechanisms whose credential carries its own
// lifetime (an OAUTHBEARER token's exp). The session lifetime of KIP-368
// is bounded by it, as Kafka's CREDENTIAL.LIFETIME.MS negotiated property
// bounds it.
type Expiring interface {
	// CredentialExpiry is the credential's expiry once Step reported
	// done; zero for none.
	CredentialExpiry() time.Time
}

// InvalidCredentials is Kafka's message for a wrong user name or password.
const InvalidCredentials = "Authentication failed: Invalid username or password"

// NewPlain returns a PLAIN exchange against users (name → password).
func NewPlain(users map[string]string) Mechanism {
	return &plain{users: users}
}

type plain struct {
	users   map[string]string
	user    string
	claimed string
}

// Step checks a PLAIN message, authzid NUL authcid NUL passwd, with
// PlainSaslServer's messages.
func (p *plain) Step(token []byte) ([]byte, bool, error) {
	parts := bytes.Split(token, []byte{0})
	if len(parts) != 3 {
		return nil, false, &Error{Msg: fmt.Sprintf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts))}
	}
	authzid, user, pass := string(parts[0]), string(parts[1]), parts[2]
	p.claimed = user
	switch {
	case user == "":
		return nil, false, &Error{Msg: "Authentication failed: username not specified"}
	case len(pass) == 0:
		return nil, false, &Error{Msg: "Authentication failed: password not specified"}
	case authzid != "" && authzid != user:
		return nil, false, &Error{Msg: "Authentication failed: Client requested an authorization id that is different from username"}
	}
	want, ok := p.users[user]
	// Compare even for an unknown user so that timing does not tell
	// which users exist.
	if subtle.ConstantTimeCompare([]byte(want), pass) != 1 || !ok {
		return nil, false, &Error{Msg: InvalidCredentials}
	}
	p.user = user
	return []byte{}, true, nil
}

func (p *plain) User() string { return p.user }

func (p *plain) Claimed() string { return p.claimed }
