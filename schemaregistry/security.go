package schemaregistry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skein-streaming/skein/protocol"
)

// The security settings of the REST API, by Confluent Schema Registry's
// names (PropUsersFile is Skein's: Confluent names the file in a JAAS
// configuration instead).
const (
	PropListeners               = "listeners"
	PropSSLKeystoreLocation     = "ssl.keystore.location"
	PropSSLTruststoreLocation   = "ssl.truststore.location"
	PropSSLClientAuthentication = "ssl.client.authentication"
	PropSSLClientAuth           = "ssl.client.auth"
	PropSSLEnabledProtocols     = "ssl.enabled.protocols"
	PropAuthenticationMethod    = "authentication.method"
	PropAuthenticationRealm     = "authentication.realm"
	PropAuthenticationRoles     = "authentication.roles"
	PropUsersFile               = "authentication.users.file"
)

// SecurityProps lists the settings ParseSecurity reads.
var SecurityProps = []string{
	PropListeners, PropSSLKeystoreLocation, PropSSLTruststoreLocation,
	PropSSLClientAuthentication, PropSSLClientAuth, PropSSLEnabledProtocols,
	PropAuthenticationMethod, PropAuthenticationRealm, PropAuthenticationRoles,
	PropUsersFile,
}

// DefaultRealm is the realm named in WWW-Authenticate when
// authentication.realm is unset.
const DefaultRealm = "SchemaRegistry"

// Security is the REST API's security, parsed from Confluent-style
// settings by ParseSecurity.
type Security struct {
	// Listen is the host:port of listeners, "" when it is not set.
	Listen string
	// TLS is set when the listener is https://.
	TLS *protocol.TLSConfig
	// BasicAuth is set when authentication.method is BASIC.
	BasicAuth *BasicAuth
}

// ParseSecurity reads the REST API's security settings from props, keyed
// by Confluent's names (PropListeners …). listeners is one
// http://host:port or https://host:port (a bare host:port is http); an
// https listener needs ssl.keystore.location (PEM, as every TLS setting of
// Skein), and the ssl.* settings are refused with an http one, so that a
// registry meant to be encrypted never serves in the clear.
//
// prefix, when not empty, is put before every name (the embedded
// registry's skein.registry.), and listenersName, when not empty, replaces
// prefix+listeners; both for reading props and in errors.
func ParseSecurity(props map[string]string, prefix, listenersName string) (Security, error) {
	var s Security
	name := func(k string) string {
		if k == PropListeners && listenersName != "" {
			return listenersName
		}
		return prefix + k
	}
	get := func(k string) string { return strings.TrimSpace(props[name(k)]) }
	scheme := "http"
	if l := get(PropListeners); l != "" {
		if strings.Contains(l, ",") {
			return s, fmt.Errorf("%s: %q: one listener is served", name(PropListeners), l)
		}
		host := l
		if i := strings.Index(l, "://"); i >= 0 {
			scheme, host = strings.ToLower(l[:i]), l[i+3:]
		}
		if scheme != "http" && scheme != "https" {
			return s, fmt.Errorf("%s: %q: the scheme must be http or https", name(PropListeners), l)
		}
		if _, _, err := net.SplitHostPort(host); err != nil {
			return s, fmt.Errorf("%s: %q: %v", name(PropListeners), l, err)
		}
		s.Listen = host
	}
	tc := protocol.TLSConfig{
		KeystoreLocation:   get(PropSSLKeystoreLocation),
		TruststoreLocation: get(PropSSLTruststoreLocation),
	}
	clientAuth, err := parseClientAuth(get, name)
	if err != nil {
		return s, err
	}
	tc.ClientAuth = clientAuth
	if p := get(PropSSLEnabledProtocols); p != "" {
		for _, v := range strings.Split(p, ",") {
			tc.Protocols = append(tc.Protocols, strings.TrimSpace(v))
		}
	}
	if scheme == "https" {
		if tc.KeystoreLocation == "" {
			return s, fmt.Errorf("%s: an https listener needs %s (a PEM file of the certificate chain and key)", name(PropListeners), name(PropSSLKeystoreLocation))
		}
		s.TLS = &tc
	} else {
		for _, k := range []string{PropSSLKeystoreLocation, PropSSLTruststoreLocation, PropSSLClientAuthentication, PropSSLClientAuth} {
			if v := get(k); v != "" && !strings.EqualFold(v, "NONE") && !strings.EqualFold(v, "false") {
				return s, fmt.Errorf("%s is set but the listener is not https:// (set %s=https://host:port)", name(k), name(PropListeners))
			}
		}
	}
	switch m := strings.ToUpper(get(PropAuthenticationMethod)); m {
	case "", "NONE":
		for _, k := range []string{PropUsersFile} {
			if get(k) != "" {
				return s, fmt.Errorf("%s is set but %s is not BASIC", name(k), name(PropAuthenticationMethod))
			}
		}
	case "BASIC":
		file := get(PropUsersFile)
		if file == "" {
			return s, fmt.Errorf("%s=BASIC needs %s (a file of username: password[,role…] lines)", name(PropAuthenticationMethod), name(PropUsersFile))
		}
		ba := &BasicAuth{Realm: get(PropAuthenticationRealm), UsersFile: file}
		if r := get(PropAuthenticationRoles); r != "" {
			for _, role := range strings.Split(r, ",") {
				if role = strings.TrimSpace(role); role != "" {
					ba.Roles = append(ba.Roles, role)
				}
			}
		}
		s.BasicAuth = ba
	default:
		return s, fmt.Errorf("%s: %q is not NONE or BASIC", name(PropAuthenticationMethod), m)
	}
	return s, nil
}

// parseClientAuth maps ssl.client.authentication (NONE, REQUESTED,
// REQUIRED) or, when it is unset, the older ssl.client.auth (true is
// REQUIRED) to protocol.TLSConfig's ClientAuth.
func parseClientAuth(get, name func(string) string) (string, error) {
	if v := get(PropSSLClientAuthentication); v != "" {
		switch strings.ToUpper(v) {
		case "NONE":
			return "none", nil
		case "REQUESTED":
			return "requested", nil
		case "REQUIRED":
			return "required", nil
		}
		return "", fmt.Errorf("%s: %q is not one of NONE, REQUESTED, REQUIRED", name(PropSSLClientAuthentication), v)
	}
	switch v := get(PropSSLClientAuth); strings.ToLower(v) {
	case "", "false":
		return "none", nil
	case "true":
		return "required", nil
	default:
		return "", fmt.Errorf("%s: %q is not true or false", name(PropSSLClientAuth), v)
	}
}

// scheme is the URL scheme the registry serves.
func (c Config) scheme() string {
	if c.TLS != nil {
		return "https"
	}
	return "http"
}

// forwardClient is the HTTP client writes are forwarded with. With TLS it
// trusts the truststore (the system roots without one), checks that the
// writer's certificate names the host of its URL, and presents the
// keystore's certificate when this registry requires client certificates,
// as its peers then do too. The files are read at each connection, so
// renewed certificates are used without a restart.
func forwardClient(cfg Config) *http.Client {
	if cfg.TLS == nil {
		return &http.Client{Timeout: cfg.RequestTimeout}
	}
	tc := *cfg.TLS
	if tc.ClientAuth != "required" {
		tc.KeystoreLocation, tc.CertificateChain, tc.Key = "", "", ""
	}
	dialer := &net.Dialer{Timeout: cfg.RequestTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: cfg.RequestTimeout,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			c, err := tc.ClientConfig(host, true)
			if err != nil {
				return nil, fmt.Errorf("TLS client configuration: %w", err)
			}
			raw, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			conn := tls.Client(raw, c)
			if err := conn.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return conn, nil
		},
	}
	return &http.Client{Timeout: cfg.RequestTimeout, Transport: tr}
}

// secure wraps the REST API with Basic authentication, when configured,
// and logs the principal of a client certificate.
func (r *Registry) secure(next http.Handler) http.Handler {
	if r.auth == nil && r.cfg.TLS == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var principal string
		if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
			principal = protocol.SubjectDN(req.TLS.PeerCertificates[0])
		}
		user := ""
		if r.auth != nil {
			var e *Error
			user, e = r.auth.authenticate(req)
			if e != nil {
				r.logger.Warn("schema registry request refused", "status", e.Status, "remote", req.RemoteAddr, "user", user, "tls_principal", principal, "method", req.Method, "path", req.URL.Path)
				if e.Status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Basic realm="`+r.auth.realm()+`"`)
				}
				writeError(w, e)
				return
			}
		}
		if r.logger.Enabled(req.Context(), slog.LevelDebug) {
			r.logger.Debug("schema registry request", "remote", req.RemoteAddr, "user", user, "tls_principal", principal, "method", req.Method, "path", req.URL.Path)
		}
		next.ServeHTTP(w, req)
	})
}

// validateAdvertised checks that an advertised URL has the scheme served.
func validateAdvertised(c Config) error {
	if c.AdvertisedURL == "" {
		return nil
	}
	u, err := url.Parse(c.AdvertisedURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("schemaregistry: AdvertisedURL %q is not a URL", c.AdvertisedURL)
	}
	if u.Scheme != c.scheme() {
		return errors.New("schemaregistry: AdvertisedURL " + c.AdvertisedURL + " does not use " + c.scheme() + "://, which the registry serves")
	}
	return nil
}
