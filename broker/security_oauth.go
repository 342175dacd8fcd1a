package broker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/skein-streaming/skein/broker/sasl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// OAUTHBEARER settings, as Kafka reads them for its secured validator
// (OAuthBearerValidatorCallbackHandler, KIP-768): each sasl.oauthbearer.*
// setting may be given as listener.name.<listener>.oauthbearer.<name>,
// listener.name.<listener>.<name>, or <name>, the first found winning.

// oauthBearerLoginModule is the login module an OAUTHBEARER JAAS entry
// names.
const oauthBearerLoginModule = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"

// jwksFetchTimeout bounds one fetch of an http(s) JWKS.
const jwksFetchTimeout = 10 * time.Second

// configureOAuthBearer builds the token validator of a listener that
// enables OAUTHBEARER. http(s) key sets are shared by listeners with the
// same endpoint settings (as Kafka shares its resolvers) through shared;
// they fetch nothing until the broker starts.
func (b *Broker) configureOAuthBearer(l *protocol.ListenerConfig, values map[string]string, shared map[string]*sasl.HTTPKeys) (sasl.TokenValidator, *sasl.HTTPKeys, error) {
	lname := strings.ToLower(l.Name)
	mechPrefix := "listener.name." + lname + ".oauthbearer."
	get := func(name string) (string, bool) {
		if v, ok := values[mechPrefix+name]; ok {
			return v, true
		}
		return config.ListenerValue(values, l.Name, name)
	}
	getInt := func(name string) (int64, error) {
		v, _ := get(name)
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("listener %s: %s: %q is not a non-negative number", l.Name, name, v)
		}
		return n, nil
	}
	if h, ok := get(config.SASLServerCallbackHandlerClass); ok && h != config.OAuthBearerValidatorCallbackHandler && h != config.OAuthBearerValidatorCallbackHandlerV3 {
		return nil, nil, fmt.Errorf("listener %s: %s: %s is not supported; Skein validates OAUTHBEARER tokens with %s only",
			l.Name, config.SASLServerCallbackHandlerClass, h, config.OAuthBearerValidatorCallbackHandler)
	}
	jaasOpts, err := oauthBearerJAAS(l.Name, values)
	if err != nil {
		return nil, nil, err
	}

	rawURL, ok := get(config.SASLOAuthBearerJWKSEndpointURL)
	if !ok || strings.TrimSpace(rawURL) == "" {
		return nil, nil, fmt.Errorf("listener %s: OAUTHBEARER is enabled but %s is not set (as %s%s or %s); Skein accepts signed JWTs only, checked against the keys of a JWKS",
			l.Name, config.SASLOAuthBearerJWKSEndpointURL, mechPrefix, config.SASLOAuthBearerJWKSEndpointURL, config.SASLOAuthBearerJWKSEndpointURL)
	}
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, nil, fmt.Errorf("listener %s: %s: %v", l.Name, config.SASLOAuthBearerJWKSEndpointURL, err)
	}
	var keys sasl.KeyResolver
	var httpKeys *sasl.HTTPKeys
	switch strings.ToLower(u.Scheme) {
	case "file":
		path := u.Path
		if u.Opaque != "" {
			path = u.Opaque
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, nil, fmt.Errorf("listener %s: %s: %s names a remote host; a file: URL must name a local file", l.Name, config.SASLOAuthBearerJWKSEndpointURL, rawURL)
		}
		if st, err := os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("listener %s: %s: %w", l.Name, config.SASLOAuthBearerJWKSEndpointURL, err)
		} else if st.IsDir() {
			return nil, nil, fmt.Errorf("listener %s: %s: %s is a directory", l.Name, config.SASLOAuthBearerJWKSEndpointURL, path)
		}
		fk, err := sasl.NewFileKeys(path, b.log.With("listener", l.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("listener %s: %s: %w", l.Name, config.SASLOAuthBearerJWKSEndpointURL, err)
		}
		keys = fk
	case "http", "https":
		if u.Host == "" {
			return nil, nil, fmt.Errorf("listener %s: %s: %s has no host", l.Name, config.SASLOAuthBearerJWKSEndpointURL, rawURL)
		}
		refresh, err := getInt(config.SASLOAuthBearerJWKSRefreshMs)
		if err != nil {
			return nil, nil, err
		}
		if refresh == 0 {
			return nil, nil, fmt.Errorf("listener %s: %s must be positive", l.Name, config.SASLOAuthBearerJWKSRefreshMs)
		}
		backoff, err := getInt(config.SASLOAuthBearerJWKSRetryBackoffMs)
		if err != nil {
			return nil, nil, err
		}
		backoffMax, err := getInt(config.SASLOAuthBearerJWKSRetryBackoffMaxMs)
		if err != nil {
			return nil, nil, err
		}
		var tc *tls.Config
		trust := ""
		if strings.ToLower(u.Scheme) == "https" {
			tc, trust, err = jwksTLS(l.Name, jaasOpts)
			if err != nil {
				return nil, nil, err
			}
		}
		key := strings.Join([]string{u.String(), strconv.FormatInt(refresh, 10), strconv.FormatInt(backoff, 10), strconv.FormatInt(backoffMax, 10), trust}, "\x00")
		if httpKeys = shared[key]; httpKeys == nil {
			httpKeys, err = sasl.NewHTTPKeys(sasl.HTTPKeysConfig{
				URL:             u.String(),
				Refresh:         time.Duration(refresh) * time.Millisecond,
				RetryBackoff:    time.Duration(backoff) * time.Millisecond,
				RetryBackoffMax: time.Duration(backoffMax) * time.Millisecond,
				Timeout:         jwksFetchTimeout,
				TLS:             tc,
				Log:             b.log.With("listener", l.Name),
			})
			if err != nil {
				return nil, nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
			shared[key] = httpKeys
		}
		keys = httpKeys
	default:
		return nil, nil, fmt.Errorf("listener %s: %s: %q is neither an https, http nor file URL", l.Name, config.SASLOAuthBearerJWKSEndpointURL, rawURL)
	}

	skew, err := getInt(config.SASLOAuthBearerClockSkewSeconds)
	if err != nil {
		return nil, nil, err
	}
	var audience []string
	if v, ok := get(config.SASLOAuthBearerExpectedAudience); ok {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				audience = append(audience, a)
			}
		}
	}
	issuer, _ := get(config.SASLOAuthBearerExpectedIssuer)
	sub, _ := get(config.SASLOAuthBearerSubClaimName)
	scope, _ := get(config.SASLOAuthBearerScopeClaimName)
	if strings.TrimSpace(sub) == "" || strings.TrimSpace(scope) == "" {
		return nil, nil, fmt.Errorf("listener %s: %s and %s must not be blank", l.Name, config.SASLOAuthBearerSubClaimName, config.SASLOAuthBearerScopeClaimName)
	}
	v, err := sasl.NewJWTValidator(sasl.JWTValidatorConfig{
		Keys:             keys,
		ExpectedAudience: audience,
		ExpectedIssuer:   strings.TrimSpace(issuer),
		ClockSkew:        time.Duration(skew) * time.Second,
		SubClaim:         strings.TrimSpace(sub),
		ScopeClaim:       strings.TrimSpace(scope),
		Now:              b.now,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listener %s: %w", l.Name, err)
	}
	return v, httpKeys, nil
}

// oauthBearerJAAS returns the options of a listener's OAUTHBEARER JAAS
// entry: listener.name.<listener>.oauthbearer.sasl.jaas.config, else
// sasl.jaas.config when it names the OAUTHBEARER login module. The entry
// is optional.
func oauthBearerJAAS(listener string, values map[string]string) (map[string]string, error) {
	key := "listener.name." + strings.ToLower(listener) + ".oauthbearer." + config.SASLJaasConfig
	if v, ok := values[key]; ok {
		j, err := sasl.ParseJAAS(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if j.LoginModule != oauthBearerLoginModule {
			return nil, fmt.Errorf("%s: OAUTHBEARER needs %s, got %s", key, oauthBearerLoginModule, j.LoginModule)
		}
		return j.Options, nil
	}
	if v, ok := values[config.SASLJaasConfig]; ok {
		if j, err := sasl.ParseJAAS(v); err == nil && j.LoginModule == oauthBearerLoginModule {
			return j.Options, nil
		}
	}
	return map[string]string{}, nil
}

// jwksTLS returns the client TLS configuration for an https JWKS
// endpoint: the system roots, or the PEM CA certificates the JAAS options
// ssl.truststore.location or ssl.truststore.certificates name, as Kafka
// reads its JWKS trust store from the JAAS options. trust identifies the
// choice for sharing.
func jwksTLS(listener string, opts map[string]string) (tc *tls.Config, trust string, err error) {
	if t, ok := opts["ssl.truststore.type"]; ok && !strings.EqualFold(t, "PEM") {
		return nil, "", fmt.Errorf("listener %s: OAUTHBEARER JAAS option ssl.truststore.type=%s: Skein reads PEM trust stores only", listener, t)
	}
	var pemData []byte
	switch {
	case opts["ssl.truststore.location"] != "":
		trust = "file:" + opts["ssl.truststore.location"]
		pemData, err = os.ReadFile(opts["ssl.truststore.location"])
		if err != nil {
			return nil, "", fmt.Errorf("listener %s: OAUTHBEARER JAAS option ssl.truststore.location: %w", listener, err)
		}
	case opts["ssl.truststore.certificates"] != "":
		trust = "pem:" + opts["ssl.truststore.certificates"]
		pemData = []byte(opts["ssl.truststore.certificates"])
	default:
		return &tls.Config{MinVersion: tls.VersionTLS12}, "", nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return nil, "", fmt.Errorf("listener %s: OAUTHBEARER JAAS trust store holds no PEM certificate", listener)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, trust, nil
}

// startOAuthBearer fetches the http(s) key sets of the OAUTHBEARER
// listeners, as Kafka fetches them when it configures its validator: a
// broker whose JWKS cannot be fetched does not start.
func (b *Broker) startOAuthBearer() error {
	seen := map[*sasl.HTTPKeys]bool{}
	for _, ls := range b.sasl {
		if ls.oauthHTTP == nil || seen[ls.oauthHTTP] {
			continue
		}
		seen[ls.oauthHTTP] = true
		if err := ls.oauthHTTP.Start(b.bgCtx); err != nil {
			return fmt.Errorf("OAUTHBEARER: %w", err)
		}
	}
	return nil
}

// runOAuthBearer refreshes the http(s) key sets until the broker closes.
func (b *Broker) runOAuthBearer() {
	seen := map[*sasl.HTTPKeys]bool{}
	for _, ls := range b.sasl {
		if ls.oauthHTTP == nil || seen[ls.oauthHTTP] {
			continue
		}
		seen[ls.oauthHTTP] = true
		k := ls.oauthHTTP
		b.bgWG.Add(1)
		go func() {
			defer b.bgWG.Done()
			k.Run(b.bgCtx)
		}()
	}
}
