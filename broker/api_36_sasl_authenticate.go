package broker

// SaslAuthenticate (key 36), versions 0–2.
//
// Behavior: carries one token of the exchange SaslHandshake began. On
// success the session's principal becomes User:<name>. A failure answers
// SASL_AUTHENTICATION_FAILED with Kafka's message ("Authentication failed:
// Invalid username or password" for PLAIN) and closes the connection. A
// request with no exchange in progress answers ILLEGAL_SASL_STATE (and
// closes the connection on SASL listeners). Re-authentication must keep the
// principal, as Kafka's ensurePrincipalUnchanged requires.
//
// Version notes:
//   - v1: session_lifetime_ms (KIP-368), connections.max.reauth.ms when
//     positive; the connection is closed at its first request after the
//     session expires unless the client re-authenticated.
//   - v2: flexible versions.

import (
	"context"
	"errors"
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
		b.audit.authentication(sess, requestOf(r), mechanism, ex.mech.Claimed(), "", resp.ErrorCode, msg, details)
		return protocol.Reply{Resp: resp, Close: true}
	}
	out, done, err := ex.mech.Step(req.SASLAuthBytes)
	if err != nil {
		msg := sasl.InvalidCredentials
		var se *sasl.Error
		if errors.As(err, &se) {
			msg = se.Msg
		}
		return fail(msg, err)
	}
	resp.SASLAuthBytes = out
	if !done {
		return protocol.Reply{Resp: resp}
	}
	principal := "User:" + ex.mech.User()
	if ex.reauth && principal != sess.Principal() {
		return fail("Cannot change principals during re-authentication from "+sess.Principal()+" to "+principal, nil)
	}
	// The protocol layer checks the expiry against the wall clock.
	var expiry time.Time
	if ls.reauth > 0 {
		expiry = time.Now().Add(ls.reauth)
		resp.SessionLifetimeMillis = ls.reauth.Milliseconds()
	}
	sess.Authenticate(principal, expiry)
	var details map[string]any
	if ex.reauth {
		details = map[string]any{"reauthentication": true}
	}
	b.audit.authentication(sess, requestOf(r), mechanism, ex.mech.User(), principal, 0, "", details)
	return protocol.Reply{Resp: resp}
}
