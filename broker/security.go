package broker

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// listenerSASL is the SASL configuration of one SASL_PLAINTEXT or SASL_SSL
// listener.
type listenerSASL struct {
	// mechanisms are the enabled mechanisms, in configuration order.
	mechanisms []string
	// plainUsers are the PLAIN users (name → password) from the
	// listener's PLAIN JAAS configuration.
	plainUsers map[string]string
	// reauth is connections.max.reauth.ms; zero turns KIP-368
	// re-authentication off.
	reauth time.Duration
	// oauth validates OAUTHBEARER tokens (security_oauth.go);
	// oauthHTTP, when set, is its http(s) key set, fetched at Start.
	oauth     sasl.TokenValidator
	oauthHTTP *sasl.HTTPKeys
}

// configureSecurity reads the ssl.* and sasl.* settings of each listener:
// it fills in the TLS configuration of SSL and SASL_SSL listeners that have
// none, and the SASL configuration of SASL listeners. Errors name the
// setting at fault.
func (b *Broker) configureSecurity() error {
	values := b.cfg.Settings
	listeners := slices.Clone(b.cfg.Listeners)
	b.sasl = map[string]*listenerSASL{}
	jwks := map[string]*sasl.HTTPKeys{}
	for i := range listeners {
		l := &listeners[i]
		get := func(name string) string {
			v, _ := config.ListenerValue(values, l.Name, name)
			return v
		}
		switch l.SecurityProtocol {
		case "PLAINTEXT", "SASL_PLAINTEXT":
		case "SSL", "SASL_SSL":
			if l.TLS != nil {
				break
			}
			for _, unsupported := range []string{config.SSLKeystorePassword, config.SSLKeyPassword} {
				if get(unsupported) != "" {
					return fmt.Errorf("listener %s: %s is set, but Skein reads unencrypted PEM keys only", l.Name, unsupported)
				}
			}
			tc := &protocol.TLSConfig{
				KeystoreLocation:       get(config.SSLKeystoreLocation),
				CertificateChain:       get(config.SSLKeystoreCertificateChain),
				Key:                    get(config.SSLKeystoreKey),
				TruststoreLocation:     get(config.SSLTruststoreLocation),
				TruststoreCertificates: get(config.SSLTruststoreCertificates),
				ClientAuth:             get(config.SSLClientAuth),
				PrincipalMappingRules:  get(config.SSLPrincipalMappingRules),
			}
			for _, p := range strings.Split(get(config.SSLEnabledProtocols), ",") {
				if p = strings.TrimSpace(p); p != "" {
					tc.Protocols = append(tc.Protocols, p)
				}
			}
			if tc.KeystoreLocation == "" && (tc.CertificateChain == "" || tc.Key == "") {
				return fmt.Errorf("listener %s uses %s: set ssl.keystore.location (a PEM file with the certificate chain and key), or ssl.keystore.certificate.chain and ssl.keystore.key, optionally as listener.name.%s.<name>",
					l.Name, l.SecurityProtocol, strings.ToLower(l.Name))
			}
			if _, err := protocol.ParsePrincipalMappingRules(tc.PrincipalMappingRules); err != nil {
				return err
			}
			l.TLS = tc
		default:
			return fmt.Errorf("listener %s: unknown security protocol %s", l.Name, l.SecurityProtocol)
		}
		if l.SecurityProtocol != "SASL_PLAINTEXT" && l.SecurityProtocol != "SASL_SSL" {
			continue
		}
		ls := &listenerSASL{}
		for _, m := range strings.Split(get(config.SASLEnabledMechanisms), ",") {
			m = strings.TrimSpace(m)
			if m == "" {
				continue
			}
			if !slices.Contains(sasl.Supported, m) {
				return fmt.Errorf("listener %s: sasl.enabled.mechanisms: %s is not supported; Skein serves %s", l.Name, m, strings.Join(sasl.Supported, ", "))
			}
			ls.mechanisms = append(ls.mechanisms, m)
		}
		if len(ls.mechanisms) == 0 {
			return fmt.Errorf("listener %s: sasl.enabled.mechanisms is empty", l.Name)
		}
		if slices.Contains(ls.mechanisms, sasl.Plain) {
			key := "listener.name." + strings.ToLower(l.Name) + ".plain." + config.SASLJaasConfig
			jaas, ok := values[key]
			if !ok {
				jaas, ok = values[config.SASLJaasConfig]
			}
			if !ok {
				return fmt.Errorf("listener %s: PLAIN is enabled but %s is not set", l.Name, key)
			}
			j, err := sasl.ParseJAAS(jaas)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			users, err := sasl.PlainUsers(j)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			ls.plainUsers = users
		}
		if slices.Contains(ls.mechanisms, sasl.OAuthBearer) {
			v, httpKeys, err := b.configureOAuthBearer(l, values, jwks)
			if err != nil {
				return err
			}
			ls.oauth, ls.oauthHTTP = v, httpKeys
		}
		ms, err := strconv.ParseInt(get(config.ConnectionsMaxReauthMs), 10, 64)
		if err != nil || ms < 0 {
			return fmt.Errorf("listener %s: %s: %q is not a non-negative number", l.Name, config.ConnectionsMaxReauthMs, get(config.ConnectionsMaxReauthMs))
		}
		ls.reauth = time.Duration(ms) * time.Millisecond
		b.sasl[l.Name] = ls
	}
	b.cfg.Listeners = listeners
	return b.configureInterBroker()
}

// scramCredential returns a user's SCRAM credential for a mechanism from
// the metadata image.
func (b *Broker) scramCredential(mechanism string) func(user string) (sasl.Credential, bool) {
	return func(user string) (sasl.Credential, bool) {
		r, ok := b.meta.Image().ScramCredentials[ScramCredentialRecord{User: user, Mechanism: mechanism}.key()]
		if !ok {
			return sasl.Credential{}, false
		}
		return sasl.Credential{Salt: r.Salt, StoredKey: r.StoredKey, ServerKey: r.ServerKey, Iterations: r.Iterations}, true
	}
}

// saslExchange is a SASL authentication in progress on a connection,
// kept in the session between SaslHandshake and SaslAuthenticate.
type saslExchange struct {
	mechanism string
	mech      sasl.Mechanism
	// reauth is set when the connection was already authenticated
	// (KIP-368 re-authentication); the principal must not change.
	reauth bool
	// badMechanism, when set, is why the exchange fails at its first
	// SaslAuthenticate: a re-authentication asked for another mechanism.
	badMechanism string
}
