package broker

// SaslHandshake (key 17), versions 0–1.
//
// Behavior: on a SASL_PLAINTEXT or SASL_SSL listener, selects the mechanism
// of the exchange that follows and lists the enabled mechanisms
// (sasl.enabled.mechanisms; PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and
// OAUTHBEARER are served). A mechanism that is not enabled is answered with
// UNSUPPORTED_SASL_MECHANISM and the connection is closed. On other
// listeners, and on an authenticated connection whose session has no
// lifetime, the answer is ILLEGAL_SASL_STATE, as Kafka gives.
//
// Version notes:
//   - v0: the SASL tokens that follow travel as bare size-prefixed frames
//     without Kafka headers (protocol.Session.BeginRawSASL); a failure
//     closes the connection.
//   - v1: the tokens travel in SaslAuthenticate requests.
//   - KIP-368: a handshake on an authenticated connection whose session
//     has a lifetime (connections.max.reauth.ms > 0, or an OAUTHBEARER
//     token's exp) begins re-authentication; v0 cannot re-authenticate.
//     Re-authentication must use the session's mechanism: another one is
//     answered here and its SaslAuthenticate fails, as in Kafka.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleSaslHandshake(_ context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	ls := b.sasl[r.Session.Listener]
	if ls == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return protocol.Reply{Resp: resp}
	}
	resp.SupportedMechanisms = slices.Clone(ls.mechanisms)
	sess := r.Session
	reauth := sess.Authenticated()
	if (reauth && (sess.SessionExpiry().IsZero() || req.Version == 0)) || sess.AuthState() != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return protocol.Reply{Resp: resp, Close: true}
	}
	if !slices.Contains(ls.mechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		b.audit.authentication(sess, requestOf(r), saslMechanismName(sess, req.Mechanism), "", "",
			resp.ErrorCode, "Unsupported SASL mechanism "+req.Mechanism, nil)
		return protocol.Reply{Resp: resp, Close: true}
	}
	if reauth && sess.SASLMechanism() != req.Mechanism {
		// Kafka answers the handshake and fails the exchange that
		// follows: re-authentication keeps the mechanism.
		sess.SetAuthState(&saslExchange{mechanism: req.Mechanism, reauth: true,
			badMechanism: "SASL mechanism '" + req.Mechanism + "' requested by client is not supported for re-authentication of mechanism '" + sess.SASLMechanism() + "'"})
		return protocol.Reply{Resp: resp}
	}
	var mech sasl.Mechanism
	switch req.Mechanism {
	case sasl.Plain:
		mech = sasl.NewPlain(ls.plainUsers)
	case sasl.OAuthBearer:
		mech = sasl.NewOAuthBearer(ls.oauth)
	default:
		m, err := sasl.NewScram(req.Mechanism, b.scramCredential(req.Mechanism))
		if err != nil {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			return protocol.Reply{Resp: resp, Close: true}
		}
		mech = m
	}
	sess.SetAuthState(&saslExchange{mechanism: req.Mechanism, mech: mech, reauth: reauth})
	if req.Version == 0 {
		sess.BeginRawSASL()
	}
	return protocol.Reply{Resp: resp}
}
