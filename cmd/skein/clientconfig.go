package main

// The security settings of the client commands: a Java client properties
// file given by --command-config (Kafka's admin tools' flag), read as
// Apache Kafka's clients read theirs, for the keys below. Every other key
// is reported on stderr as unused and ignored, as Kafka logs unused
// configs; an invalid value is an error naming its key.
//
//	security.protocol                        PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL
//	sasl.mechanism                           PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (Kafka's default GSSAPI is not supported)
//	sasl.jaas.config                         the login module's username and password options (PLAIN, SCRAM)
//	sasl.oauthbearer.token.endpoint.url      file:<path> of an access token (OAUTHBEARER), read at each authentication
//	sasl.login.callback.handler.class        accepted (Kafka's OAUTHBEARER set-up names it), not used
//	ssl.truststore.type                      PEM (the only type supported; the default when unset)
//	ssl.truststore.location                  PEM file of CA certificates; else
//	ssl.truststore.certificates              the CA certificates in PEM text; else the system roots
//	ssl.keystore.type                        PEM
//	ssl.keystore.location                    PEM file with the client certificate chain and its unencrypted key (mTLS); else
//	ssl.keystore.certificate.chain, ssl.keystore.key   the same in PEM text
//	ssl.endpoint.identification.algorithm    https (default): the broker certificate must name the host; empty: it need not
//	ssl.enabled.protocols                    TLSv1.2 and/or TLSv1.3
//	ssl.key.password                         refused: encrypted keys are not supported
//
// The schema registry command also accepts each of these keys prefixed
// with "kafkastore.", as Confluent's registry names them.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
	kgosasl "github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

const (
	// commandConfigEnv names the environment variable that gives the
	// default of --command-config.
	commandConfigEnv = "SKEIN_COMMAND_CONFIG"
	// kafkastorePrefix prefixes the Kafka client keys in a Confluent
	// schema registry configuration.
	kafkastorePrefix = "kafkastore."
)

// Keys of the client properties.
const (
	propSecurityProtocol   = "security.protocol"
	propSASLMechanism      = "sasl.mechanism"
	propSASLJaasConfig     = "sasl.jaas.config"
	propTokenEndpointURL   = "sasl.oauthbearer.token.endpoint.url"
	propLoginCallback      = "sasl.login.callback.handler.class"
	propTruststoreType     = "ssl.truststore.type"
	propTruststoreLocation = "ssl.truststore.location"
	propTruststoreCerts    = "ssl.truststore.certificates"
	propKeystoreType       = "ssl.keystore.type"
	propKeystoreLocation   = "ssl.keystore.location"
	propKeystoreChain      = "ssl.keystore.certificate.chain"
	propKeystoreKey        = "ssl.keystore.key"
	propEndpointID         = "ssl.endpoint.identification.algorithm"
	propEnabledProtocols   = "ssl.enabled.protocols"
	propKeyPassword        = "ssl.key.password"
)

// clientPropertyKeys are the keys read from a client properties file.
var clientPropertyKeys = []string{
	propSecurityProtocol, propSASLMechanism, propSASLJaasConfig, propTokenEndpointURL, propLoginCallback,
	propTruststoreType, propTruststoreLocation, propTruststoreCerts,
	propKeystoreType, propKeystoreLocation, propKeystoreChain, propKeystoreKey,
	propEndpointID, propEnabledProtocols, propKeyPassword,
}

// commandConfigFlag is the value of --command-config: the path of a client
// properties file, and the kgo options read from it.
type commandConfigFlag struct {
	path string
	// kafkastore accepts the keys with the kafkastore. prefix too (skein
	// registry).
	kafkastore bool
	// loaded is set once opts holds what path configures.
	loaded bool
	opts   []kgo.Opt
}

func (c *commandConfigFlag) String() string { return c.path }
func (c *commandConfigFlag) Set(s string) error {
	c.path, c.loaded, c.opts = s, false, nil
	return nil
}
func (c *commandConfigFlag) Type() string { return "file" }

// load reads the file, once; unused keys are reported on warn.
func (c *commandConfigFlag) load(warn io.Writer) error {
	if c.loaded {
		return nil
	}
	if c.path != "" {
		opts, err := loadClientProperties(c.path, c.kafkastore, warn)
		if err != nil {
			return err
		}
		c.opts = opts
	}
	c.loaded = true
	return nil
}

// loadCommandConfig is the root command's pre-run hook: it reads the
// --command-config file of the command about to run, when it has the
// flag, so that a bad file fails the command before it does anything.
func loadCommandConfig(cmd *cobra.Command, _ []string) error {
	fl := cmd.Flags().Lookup("command-config")
	if fl == nil {
		return nil
	}
	c, ok := fl.Value.(*commandConfigFlag)
	if !ok {
		return nil
	}
	return c.load(cmd.ErrOrStderr())
}

// loadClientProperties reads the client properties file at path into kgo
// options.
func loadClientProperties(path string, kafkastore bool, warn io.Writer) ([]kgo.Opt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--command-config: %w", err)
	}
	defer f.Close()
	props, err := config.ReadProperties(f, path)
	if err != nil {
		return nil, fmt.Errorf("--command-config: %w", err)
	}
	values := map[string]string{}
	for _, p := range props {
		key := p.Key
		if kafkastore {
			if k, ok := strings.CutPrefix(key, kafkastorePrefix); ok && slices.Contains(clientPropertyKeys, k) {
				key = k
			}
		}
		if !slices.Contains(clientPropertyKeys, key) {
			fmt.Fprintf(warn, "warning: %s: line %d: %s is not a known client config; it is ignored\n", path, p.Line, p.Key)
			continue
		}
		values[key] = p.Value
	}
	opts, err := clientSecurityOpts(values)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return opts, nil
}

// clientSecurityOpts turns client security properties into kgo options.
// Errors name the key at fault.
func clientSecurityOpts(values map[string]string) ([]kgo.Opt, error) {
	get := func(k string) string { return strings.TrimSpace(values[k]) }
	proto := strings.ToUpper(get(propSecurityProtocol))
	if proto == "" {
		proto = "PLAINTEXT"
	}
	var useTLS, useSASL bool
	switch proto {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, fmt.Errorf("%s: %q is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", propSecurityProtocol, values[propSecurityProtocol])
	}
	var opts []kgo.Opt
	if useTLS {
		tc, err := clientTLS(values)
		if err != nil {
			return nil, err
		}
		opts = append(opts, tc)
	}
	if useSASL {
		mech, err := clientSASL(values)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// clientTLS reads the ssl.* properties into the kgo option that dials
// with TLS.
func clientTLS(values map[string]string) (kgo.Opt, error) {
	tc, err := clientTLSConfig(values)
	if err != nil {
		return nil, err
	}
	return kgo.DialTLSConfig(tc), nil
}

// clientTLSConfig reads the ssl.* properties with protocol's PEM keystore
// and truststore readers. The configuration names no server: the dialer
// checks each host it connects to.
func clientTLSConfig(values map[string]string) (*tls.Config, error) {
	get := func(k string) string { return strings.TrimSpace(values[k]) }
	for _, k := range []string{propTruststoreType, propKeystoreType} {
		if t := get(k); t != "" && !strings.EqualFold(t, "PEM") {
			return nil, fmt.Errorf("%s: %q is not supported; use PEM", k, t)
		}
	}
	if _, set := values[propKeyPassword]; set {
		return nil, fmt.Errorf("%s: encrypted private keys are not supported by the skein commands; give the key unencrypted (PKCS#8 PEM) in %s or %s", propKeyPassword, propKeystoreLocation, propKeystoreKey)
	}
	cfg := protocol.TLSConfig{
		KeystoreLocation:       get(propKeystoreLocation),
		CertificateChain:       values[propKeystoreChain],
		Key:                    values[propKeystoreKey],
		TruststoreLocation:     get(propTruststoreLocation),
		TruststoreCertificates: values[propTruststoreCerts],
	}
	if cfg.KeystoreLocation == "" && (strings.TrimSpace(cfg.CertificateChain) == "") != (strings.TrimSpace(cfg.Key) == "") {
		missing := propKeystoreKey
		if strings.TrimSpace(cfg.CertificateChain) == "" {
			missing = propKeystoreChain
		}
		return nil, fmt.Errorf("%s: set together with %s and %s", missing, propKeystoreChain, propKeystoreKey)
	}
	if p := get(propEnabledProtocols); p != "" {
		cfg.Protocols = strings.Split(p, ",")
	}
	verify := true
	switch alg := get(propEndpointID); strings.ToLower(alg) {
	case "https":
	case "":
		if _, set := values[propEndpointID]; set {
			verify = false
		}
	default:
		return nil, fmt.Errorf("%s: %q is not supported; use https, or empty to skip the host name check", propEndpointID, alg)
	}
	// An empty server name lets the dialer name the host it dials.
	return cfg.ClientConfig("", verify)
}

// clientSASL reads sasl.mechanism and its credentials.
func clientSASL(values map[string]string) (kgosasl.Mechanism, error) {
	mech := strings.TrimSpace(values[propSASLMechanism])
	if mech == "" {
		return nil, fmt.Errorf("%s: unset, and Kafka's default GSSAPI is not supported; set PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", propSASLMechanism)
	}
	if mech == "OAUTHBEARER" {
		return oauthFromTokenFile(values)
	}
	switch mech {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return nil, fmt.Errorf("%s: %q is not supported; use PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", propSASLMechanism, mech)
	}
	jaas, ok := values[propSASLJaasConfig]
	if !ok || strings.TrimSpace(jaas) == "" {
		return nil, fmt.Errorf("%s: required for %s: the login module with username=\"...\" password=\"...\"", propSASLJaasConfig, mech)
	}
	j, err := sasl.ParseJAAS(jaas)
	if err != nil {
		return nil, err
	}
	user, hasUser := j.Options["username"]
	pass, hasPass := j.Options["password"]
	if !hasUser || user == "" || !hasPass {
		return nil, fmt.Errorf("%s: the login module needs the username and password options", propSASLJaasConfig)
	}
	return saslMechanism(mech, user, pass)
}

// saslMechanism is franz-go's client side of a PLAIN or SCRAM mechanism.
func saslMechanism(mech, user, pass string) (kgosasl.Mechanism, error) {
	switch mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("SASL mechanism %q is not supported", mech)
}

// maxTokenFile bounds the size of an OAUTHBEARER token file.
const maxTokenFile = 1 << 20

// oauthFromTokenFile is OAUTHBEARER with the access token of a file:
// token endpoint URL, as Kafka's login callback handler reads it: the
// file holds the token (a JWT in its compact form), read again at each
// authentication so a renewed token is used. Other token endpoints (an
// OAuth client-credentials grant) are not supported.
func oauthFromTokenFile(values map[string]string) (kgosasl.Mechanism, error) {
	raw := strings.TrimSpace(values[propTokenEndpointURL])
	if raw == "" {
		return nil, fmt.Errorf("%s: OAUTHBEARER needs a file:<path> URL of the access token (client-credentials token endpoints are not supported by the skein commands)", propTokenEndpointURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return nil, fmt.Errorf("%s: %q: only file:<path> URLs of an access token are supported (client-credentials token endpoints are not)", propTokenEndpointURL, raw)
	}
	path := u.Path
	if path == "" {
		path = u.Opaque
	}
	if path == "" {
		return nil, fmt.Errorf("%s: %q names no file", propTokenEndpointURL, raw)
	}
	read := func() (string, error) {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", propTokenEndpointURL, err)
		}
		defer f.Close()
		data, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
		if err != nil {
			return "", fmt.Errorf("%s: %w", propTokenEndpointURL, err)
		}
		if len(data) > maxTokenFile {
			return "", fmt.Errorf("%s: %s is larger than %d bytes", propTokenEndpointURL, path, maxTokenFile)
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
			return "", fmt.Errorf("%s: %s does not hold one access token", propTokenEndpointURL, path)
		}
		return tok, nil
	}
	if _, err := read(); err != nil {
		return nil, err
	}
	return oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		tok, err := read()
		if err != nil {
			return oauth.Auth{}, err
		}
		return oauth.Auth{Token: tok}, nil
	}), nil
}
