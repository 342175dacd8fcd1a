package broker

// The client side of the inter-broker listener: every connection this
// broker opens to another broker (replica fetchers, transaction markers and
// verification) goes through interBrokerDialer, built once from the
// inter-broker listener's settings as an Apache Kafka broker reads them:
//
//   - SSL and SASL_SSL: the server certificate must chain to the CAs of
//     this broker's truststore for that listener
//     (listener.name.<l>.ssl.truststore.*, else ssl.truststore.*), and name
//     the advertised host unless ssl.endpoint.identification.algorithm is
//     empty; this broker presents its own keystore certificate, so that
//     ssl.client.auth=required works between brokers; TLS 1.2 or later
//     (ssl.enabled.protocols).
//   - SASL_PLAINTEXT and SASL_SSL: sasl.mechanism.inter.broker.protocol
//     (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) with the username and
//     password options of listener.name.<l>.<mechanism>.sasl.jaas.config,
//     else sasl.jaas.config; SaslHandshake v1 then SaslAuthenticate. When
//     the server gives the session a lifetime (KIP-368,
//     connections.max.reauth.ms), the connection re-authenticates before
//     its next request once 85% of the lifetime has passed, on the same
//     connection, so that fetch sessions survive.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// interBrokerDialer connects to other brokers' inter-broker listener.
type interBrokerDialer struct {
	// listener is the inter-broker listener's name.
	listener string
	// protocol is its security protocol.
	protocol string
	// tls is the listener's TLS settings (SSL, SASL_SSL); verifyHost is
	// ssl.endpoint.identification.algorithm=https.
	tls        *protocol.TLSConfig
	verifyHost bool
	// sasl is the broker's identity (SASL_PLAINTEXT, SASL_SSL).
	sasl *peerSASL
	// missing, when set, is why this broker has no identity for its SASL
	// inter-broker listener (sasl.mechanism.inter.broker.protocol not
	// set): every connection to another broker fails with it.
	missing error
}

// peerSASL is the mechanism and credentials a broker authenticates with.
type peerSASL struct {
	mechanism, user, pass string
}

// errPeerSecurity marks a failure of TLS or SASL towards another broker:
// a configuration or credential problem an operator must fix, logged as
// an error.
var errPeerSecurity = errors.New("inter-broker security")

// configureInterBroker builds the inter-broker dialer from the listener
// settings filled in by configureSecurity. Errors name the setting at
// fault.
func (b *Broker) configureInterBroker() error {
	if len(b.cfg.Listeners) == 0 {
		return nil
	}
	values := b.cfg.Settings
	lookup := config.MapLookup(values)
	name, err := config.ResolveInterBrokerListener(lookup)
	if err != nil {
		return err
	}
	d := &interBrokerDialer{listener: name}
	var own *protocol.ListenerConfig
	for i := range b.cfg.Listeners {
		l := &b.cfg.Listeners[i]
		if (name == "" && i == 0) || strings.EqualFold(l.Name, name) {
			own = l
			break
		}
	}
	if own == nil {
		// Kafka refuses a broker without its inter-broker listener
		// (config validation names the setting).
		return fmt.Errorf("inter-broker listener %s: the broker has no listener of that name (%s / %s)", name, config.InterBrokerListenerName, config.SecurityInterBrokerProtocol)
	}
	d.listener, d.protocol = own.Name, own.SecurityProtocol
	get := func(setting string) string {
		v, _ := config.ListenerValue(values, d.listener, setting)
		return v
	}
	if d.protocol == "SSL" || d.protocol == "SASL_SSL" {
		d.tls = own.TLS
		d.verifyHost = strings.TrimSpace(get(config.SSLEndpointIdentificationAlgorithm)) != ""
		if _, err := d.tls.ClientConfig("localhost", d.verifyHost); err != nil {
			return fmt.Errorf("inter-broker listener %s: %w", d.listener, err)
		}
	}
	if d.protocol == "SASL_PLAINTEXT" || d.protocol == "SASL_SSL" {
		mech, err := config.InterBrokerSASLMechanism(lookup, d.listener)
		if err != nil && !config.InterBrokerSASLMechanismSet(lookup) {
			// A node that is alone, with a SASL listener for its
			// clients, never connects to another broker: it starts,
			// and says what a second broker would need.
			d.missing = err
			b.interBroker = d
			b.log.Warn("no inter-broker identity: this broker cannot connect to other brokers until it has one", "err", err)
			return nil
		}
		if err != nil {
			return err
		}
		key := "listener.name." + strings.ToLower(d.listener) + "." + strings.ToLower(mech) + "." + config.SASLJaasConfig
		jaas, ok := values[key]
		if !ok {
			jaas, ok = values[config.SASLJaasConfig]
		}
		if !ok {
			return fmt.Errorf("inter-broker listener %s uses %s with %s: set %s with the broker's username and password options", d.listener, d.protocol, mech, key)
		}
		j, err := sasl.ParseJAAS(jaas)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		user, hasUser := j.Options["username"]
		pass, hasPass := j.Options["password"]
		if !hasUser || !hasPass || user == "" {
			return fmt.Errorf("%s: the broker's inter-broker identity needs the username and password options (the login module's username=\"...\" password=\"...\")", key)
		}
		d.sasl = &peerSASL{mechanism: mech, user: user, pass: pass}
	}
	b.interBroker = d
	return nil
}

// interBrokerListener is the listener other brokers are reached on.
func (b *Broker) interBrokerListener() string {
	if b.interBroker != nil {
		return b.interBroker.listener
	}
	return b.cfg.Listeners[0].Name
}

// dialInterBroker connects to another broker's inter-broker listener
// endpoint and negotiates API versions, TLS and SASL as the listener
// requires. maxLen bounds the size of any response; the connection is
// closed when ctx ends.
func (b *Broker) dialInterBroker(ctx context.Context, ep BrokerEndpoint, clientID string, timeout time.Duration, maxLen int32) (*brokerConn, error) {
	d := b.interBroker
	var sec peerSecurity
	if d != nil {
		if d.missing != nil {
			return nil, fmt.Errorf("%w: %v", errPeerSecurity, d.missing)
		}
		if ep.SecurityProtocol != "" && ep.SecurityProtocol != d.protocol {
			return nil, fmt.Errorf("%w: the broker at %s registered its %s listener as %s, this broker's is %s; the brokers' listener.security.protocol.map must agree",
				errPeerSecurity, brokerAddr(ep), d.listener, ep.SecurityProtocol, d.protocol)
		}
		if d.tls != nil {
			tc, err := d.tls.ClientConfig(ep.Host, d.verifyHost)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %v", errPeerSecurity, d.listener, err)
			}
			sec.tls = tc
		}
		sec.sasl = d.sasl
	}
	return dialBroker(ctx, brokerAddr(ep), sec, clientID, timeout, b.Versions, maxLen)
}

// peerSecurity is the security of one connection to another broker.
type peerSecurity struct {
	// tls, when set, wraps the connection (SSL, SASL_SSL).
	tls *tls.Config
	// sasl, when set, authenticates it (SASL_PLAINTEXT, SASL_SSL).
	sasl *peerSASL
}

// handshakeTLS runs the TLS handshake on nc within timeout.
func handshakeTLS(ctx context.Context, nc net.Conn, tc *tls.Config, timeout time.Duration) (net.Conn, error) {
	tlsConn := tls.Client(nc, tc)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tlsConn.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("%w: TLS handshake: %v", errPeerSecurity, err)
	}
	return tlsConn, nil
}

// client returns the SASL client of the mechanism (franz-go's).
func (s *peerSASL) client() kgosasl.Mechanism {
	switch s.mechanism {
	case sasl.ScramSHA256:
		return scram.Auth{User: s.user, Pass: s.pass}.AsSha256Mechanism()
	case sasl.ScramSHA512:
		return scram.Auth{User: s.user, Pass: s.pass}.AsSha512Mechanism()
	}
	return plain.Auth{User: s.user, Pass: s.pass}.AsMechanism()
}

// reauthShare is the part of a SASL session's lifetime after which the
// connection re-authenticates before its next request.
const reauthShare = 0.85

// authenticate runs SaslHandshake v1 and the SaslAuthenticate exchange of
// the connection's mechanism, as first authentication or as KIP-368
// re-authentication, and schedules the next re-authentication from the
// session lifetime the server answers.
func (c *brokerConn) authenticate(timeout time.Duration) error {
	s := c.sasl
	hv, err := c.version(kmsg.SASLHandshake.Int16(), 1, 1)
	if err != nil {
		return fmt.Errorf("%w: SASL: %v", errPeerSecurity, err)
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(hv)
	hs.Mechanism = s.mechanism
	resp, err := c.roundTrip(hs, timeout)
	if err != nil {
		return fmt.Errorf("SaslHandshake: %w", err)
	}
	if hr := resp.(*kmsg.SASLHandshakeResponse); hr.ErrorCode != 0 {
		return fmt.Errorf("%w: SaslHandshake %s: %v (the listener enables %s)", errPeerSecurity, s.mechanism,
			kerr.ErrorForCode(hr.ErrorCode), strings.Join(hr.SupportedMechanisms, ", "))
	}
	av, err := c.version(kmsg.SASLAuthenticate.Int16(), 0, 2)
	if err != nil {
		return fmt.Errorf("%w: SASL: %v", errPeerSecurity, err)
	}
	start := time.Now()
	session, out, err := s.client().Authenticate(context.Background(), "")
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errPeerSecurity, s.mechanism, err)
	}
	var lifetime int64
	for done := false; !done; {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(av)
		req.SASLAuthBytes = out
		resp, err := c.roundTrip(req, timeout)
		if err != nil {
			return fmt.Errorf("SaslAuthenticate: %w", err)
		}
		ar := resp.(*kmsg.SASLAuthenticateResponse)
		if ar.ErrorCode != 0 {
			msg := ""
			if ar.ErrorMessage != nil {
				msg = ": " + *ar.ErrorMessage
			}
			return fmt.Errorf("%w: %s authentication as %q: %v%s", errPeerSecurity, s.mechanism, s.user, kerr.ErrorForCode(ar.ErrorCode), msg)
		}
		lifetime = ar.SessionLifetimeMillis
		done, out, err = session.Challenge(ar.SASLAuthBytes)
		if err != nil {
			return fmt.Errorf("%w: %s authentication as %q: %v", errPeerSecurity, s.mechanism, s.user, err)
		}
		if !done && len(out) == 0 {
			return fmt.Errorf("%w: %s authentication as %q: the exchange stalled", errPeerSecurity, s.mechanism, s.user)
		}
	}
	c.reauthAt = time.Time{}
	if lifetime > 0 {
		c.reauthAt = start.Add(time.Duration(float64(lifetime)*reauthShare) * time.Millisecond)
	}
	return nil
}

// logPeerDenied logs another broker's refusal of an inter-broker request
// for want of CLUSTER_ACTION: with an authorizer, the principal this
// broker authenticates as on the inter-broker listener must be a super
// user (super.users) or hold CLUSTER_ACTION on the cluster.
func (b *Broker) logPeerDenied(node int32, api string) {
	b.log.Error("another broker refused an inter-broker request: this broker's principal on the inter-broker listener lacks CLUSTER_ACTION on the cluster; add it to super.users on every broker",
		"broker", node, "request", api, "listener", b.interBrokerListener(), "principal", b.interBrokerPrincipalHint())
}

// interBrokerPrincipalHint is the principal other brokers see for this
// broker when it can tell: User:<username> with SASL; with TLS client
// certificates it is mapped from the certificate's subject by the other
// broker's ssl.principal.mapping.rules.
func (b *Broker) interBrokerPrincipalHint() string {
	d := b.interBroker
	switch {
	case d == nil:
		return "User:ANONYMOUS"
	case d.sasl != nil:
		return "User:" + d.sasl.user
	case d.tls != nil:
		return "the subject of this broker's certificate, mapped by ssl.principal.mapping.rules"
	}
	return "User:ANONYMOUS"
}
