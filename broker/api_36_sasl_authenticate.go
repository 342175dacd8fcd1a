package broker

// SaslAuthenticate (key 36), versions 0–2.
//
// Behavior: carries one token of the exchange SaslHandshake began. On
// success the session's principal becomes User:<name>. A failure answers
// SASL_AUTHENTICATION_FAILED with Kafka's message ("Authentication failed:
// Invalid username or password" for PLAIN; {"status":"invalid_token"} for
// a refused OAUTHBEARER token; "Authentication failed during
// authentication due to invalid credentials with SASL mechanism <m>" where
// Kafka hides the detail) and closes the connection. A request with no
// exchange in progress answers ILLEGAL_SASL_STATE (and closes the
// connection on SASL listeners). Re-authentication must keep the
// principal, as Kafka's ensurePrincipalUnchanged requires.
//
// Version notes:
//   - v1: session_lifetime_ms (KIP-368): connections.max.reauth.ms when
//     positive, bounded by the credential's own expiry (an OAUTHBEARER
//     token's exp) as Kafka bounds it; the connection is closed at its
//     first request after the session expires unless the client
//     re-authenticated.
//   - v2: flexible versions.

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleSaslAuthenticate(_ context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	sess := r.Session
	ls := b.sasl[sess.Listener]
	ex, _ := sess.AuthState().(*saslExchange)
	if ls == nil || ex == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "Unexpected SaslAuthenticate request before SaslHandshake"
		resp.ErrorMessage = &msg
		return protocol.Reply{Resp: resp, Close: ls != nil}
	}
	mechanism := saslMechanismName(sess, ex.mechanism)
	fail := func(msg string, cause error) protocol.Reply {
		sess.SetAuthState(nil)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &msg
		b.log.Info("SASL authentication failed", "listener", sess.Listener, "mechanism", ex.mechanism,
			"remote_addr", sess.Remote.String(), "err", cause)
		var details map[string]any
		if ex.reauth {
			details = map[string]any{"reauthentication": true}
		}
		claimed := ""
		if ex.mech != nil {
			claimed = ex.mech.Claimed()
		}
		b.audit.authentication(sess, requestOf(r), mechanism, claimed, "", resp.ErrorCode, msg, details)
		return protocol.Reply{Resp: resp, Close: true}
	}
	if ex.badMechanism != "" {
		return fail(ex.badMechanism, nil)
	}
	out, done, err := ex.mech.Step(req.SASLAuthBytes)
	if err != nil {
		msg := sasl.InvalidCredentials
		var se *sasl.Error
		var he *sasl.HiddenError
		switch {
		case errors.As(err, &se):
			msg = se.Msg
		case errors.As(err, &he):
			msg = sasl.GenericFailure(ex.mechanism, ex.reauth)
		}
		return fail(msg, err)
	}
	resp.SASLAuthBytes = out
	if !done {
		return protocol.Reply{Resp: resp}
	}
	principal := "User:" + ex.mech.User()
	if ex.reauth && principal != sess.Principal() {
		return fail("Cannot change principals during re-authentication from "+kafkaPrincipalText(sess.Principal())+": "+kafkaPrincipalText(principal), nil)
	}
	// The session lifetime, as Kafka's calcCompletionTimesAndReturn-
	// SessionLifetimeMs: connections.max.reauth.ms when positive, the
	// credential's remaining lifetime when it has one, the smaller of
	// both when both; never negative. The protocol layer checks the
	// expiry against the wall clock.
	var lifetime time.Duration
	limited := false
	if ls.reauth > 0 {
		lifetime, limited = ls.reauth, true
	}
	if e, ok := ex.mech.(sasl.Expiring); ok {
		if exp := e.CredentialExpiry(); !exp.IsZero() {
			if left := exp.Sub(b.now()); !limited || left < lifetime {
				lifetime = left
			}
			limited = true
		}
	}
	var expiry time.Time
	if limited {
		lifetime = max(lifetime, 0)
		expiry = time.Now().Add(lifetime)
		resp.SessionLifetimeMillis = lifetime.Milliseconds()
	}
	sess.Authenticate(principal, expiry)
	sess.SetSASLMechanism(ex.mechanism)
	var details map[string]any
	if ex.reauth {
		details = map[string]any{"reauthentication": true}
	}
	b.audit.authentication(sess, requestOf(r), mechanism, ex.mech.User(), principal, 0, "", details)
	return protocol.Reply{Resp: resp}
}

// kafkaPrincipalText spells a principal ("User:alice") as Kafka's
// messages do ("User.alice").
func kafkaPrincipalText(p string) string {
	if typ, name, ok := strings.Cut(p, ":"); ok {
		return typ + "." + name
	}
	return p
}
