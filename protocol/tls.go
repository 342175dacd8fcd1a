package protocol

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// TLSConfig is the TLS side of an SSL or SASL_SSL listener, from Kafka's
// ssl.* settings with ssl.keystore.type=PEM and ssl.truststore.type=PEM.
//
// Files are read when the listener starts (errors are reported then) and
// again at a handshake after their modification time or size changed, so a
// renewed certificate is served without a restart. A file that fails to
// load on reload leaves the previous certificate in use and is logged.
type TLSConfig struct {
	// KeystoreLocation is a PEM file holding the certificate chain (leaf
	// first) and the unencrypted private key (ssl.keystore.location).
	KeystoreLocation string
	// CertificateChain and Key are the same in PEM text
	// (ssl.keystore.certificate.chain, ssl.keystore.key), used when
	// KeystoreLocation is empty.
	CertificateChain string
	Key              string
	// TruststoreLocation is a PEM file of CA certificates that client
	// certificates must chain to (ssl.truststore.location); empty uses
	// TruststoreCertificates, then the system roots.
	TruststoreLocation     string
	TruststoreCertificates string
	// ClientAuth is ssl.client.auth: "required", "requested" or "none".
	ClientAuth string
	// Protocols is ssl.enabled.protocols: TLSv1.2 and/or TLSv1.3.
	Protocols []string
	// PrincipalMappingRules is ssl.principal.mapping.rules (default
	// DEFAULT).
	PrincipalMappingRules string
}

// tlsListener holds a listener's live TLS state.
type tlsListener struct {
	cfg    TLSConfig
	base   *tls.Config
	mapper *PrincipalMapper
	log    *slog.Logger

	mu       sync.Mutex
	current  *tls.Config
	keyStat  fileStamp
	trstStat fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stamp(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

// newTLSListener validates cfg and loads its certificates.
func newTLSListener(cfg TLSConfig, log *slog.Logger) (*tlsListener, error) {
	t := &tlsListener{cfg: cfg, log: log}
	m, err := ParsePrincipalMappingRules(cfg.PrincipalMappingRules)
	if err != nil {
		return nil, err
	}
	t.mapper = m
	base, err := cfg.baseConfig()
	if err != nil {
		return nil, err
	}
	switch cfg.ClientAuth {
	case "", "none":
		base.ClientAuth = tls.NoClientCert
	case "requested":
		base.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		base.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, fmt.Errorf("ssl.client.auth: %q is not one of required, requested, none", cfg.ClientAuth)
	}
	t.base = base
	cur, err := t.load()
	if err != nil {
		return nil, err
	}
	t.current = cur
	t.keyStat, t.trstStat = stamp(cfg.KeystoreLocation), stamp(cfg.TruststoreLocation)
	return t, nil
}

// baseConfig is a tls.Config with the TLS versions of ssl.enabled.protocols
// (TLSv1.2 and TLSv1.3 when unset).
func (cfg TLSConfig) baseConfig() (*tls.Config, error) {
	base := &tls.Config{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13}
	if len(cfg.Protocols) > 0 {
		base.MinVersion, base.MaxVersion = 0, 0
		for _, p := range cfg.Protocols {
			var v uint16
			switch strings.TrimSpace(p) {
			case "TLSv1.2":
				v = tls.VersionTLS12
			case "TLSv1.3":
				v = tls.VersionTLS13
			default:
				return nil, fmt.Errorf("ssl.enabled.protocols: %q is not supported; use TLSv1.2 and/or TLSv1.3", p)
			}
			if base.MinVersion == 0 || v < base.MinVersion {
				base.MinVersion = v
			}
			if v > base.MaxVersion {
				base.MaxVersion = v
			}
		}
	}
	return base, nil
}

// hasKeystore reports whether a keystore is configured.
func (cfg TLSConfig) hasKeystore() bool {
	return cfg.KeystoreLocation != "" || (cfg.CertificateChain != "" && cfg.Key != "")
}

// loadKeystore reads the certificate chain and key of the keystore.
func (cfg TLSConfig) loadKeystore() (tls.Certificate, error) {
	var chainPEM, keyPEM []byte
	if cfg.KeystoreLocation != "" {
		data, err := os.ReadFile(cfg.KeystoreLocation)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("ssl.keystore.location: %w", err)
		}
		chainPEM, keyPEM = data, data
	} else {
		if cfg.CertificateChain == "" || cfg.Key == "" {
			return tls.Certificate{}, errors.New("a TLS listener needs ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key (PEM)")
		}
		chainPEM, keyPEM = []byte(cfg.CertificateChain), []byte(cfg.Key)
	}
	cert, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("keystore: %w", err)
	}
	return cert, nil
}

// loadTruststore reads the CA certificates of the truststore: the file,
// else the PEM text, else the system roots.
func (cfg TLSConfig) loadTruststore() (*x509.CertPool, error) {
	var caPEM []byte
	switch {
	case cfg.TruststoreLocation != "":
		data, err := os.ReadFile(cfg.TruststoreLocation)
		if err != nil {
			return nil, fmt.Errorf("ssl.truststore.location: %w", err)
		}
		caPEM = data
	case cfg.TruststoreCertificates != "":
		caPEM = []byte(cfg.TruststoreCertificates)
	}
	if caPEM == nil {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("truststore: %w", err)
		}
		return pool, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("truststore: no PEM certificate found")
	}
	return pool, nil
}

// ClientConfig is the client side of cfg, for a connection to serverName
// (a host name or IP address): the server's certificate must chain to the
// truststore's CAs (the system roots when no truststore is configured) and,
// when verifyHostname is set (Kafka's ssl.endpoint.identification.algorithm
// https), name serverName; the keystore's certificate, when one is
// configured, is presented for ssl.client.auth. The files are read on each
// call, so a renewed certificate is used by the next connection.
func (cfg TLSConfig) ClientConfig(serverName string, verifyHostname bool) (*tls.Config, error) {
	c, err := cfg.baseConfig()
	if err != nil {
		return nil, err
	}
	if cfg.hasKeystore() {
		cert, err := cfg.loadKeystore()
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	roots, err := cfg.loadTruststore()
	if err != nil {
		return nil, err
	}
	c.RootCAs, c.ServerName = roots, serverName
	if !verifyHostname {
		// The chain is verified without the host name.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tls: the server presented no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return c, nil
}

// load reads the keystore and truststore into a fresh tls.Config.
func (t *tlsListener) load() (*tls.Config, error) {
	cert, err := t.cfg.loadKeystore()
	if err != nil {
		return nil, err
	}
	c := t.base.Clone()
	c.Certificates = []tls.Certificate{cert}
	if c.ClientAuth != tls.NoClientCert {
		pool, err := t.cfg.loadTruststore()
		if err != nil {
			return nil, err
		}
		c.ClientCAs = pool
	}
	return c, nil
}

// config returns the tls.Config for the next handshake, reloading the
// files if they changed.
func (t *tlsListener) config() *tls.Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	ks, ts := stamp(t.cfg.KeystoreLocation), stamp(t.cfg.TruststoreLocation)
	if ks != t.keyStat || ts != t.trstStat {
		t.keyStat, t.trstStat = ks, ts
		c, err := t.load()
		if err != nil {
			t.log.Warn("TLS files changed but do not load; serving the previous certificate", "err", err)
		} else {
			t.current = c
			t.log.Info("TLS certificate reloaded")
		}
	}
	return t.current
}

// serverConfig is what tls.Server gets: each handshake picks the current
// configuration.
func (t *tlsListener) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: t.base.MinVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.config(), nil
		},
	}
}

// ServerConfig validates cfg, loads its keystore (and truststore, when
// ssl.client.auth asks for client certificates) and returns the tls.Config
// of a server other than a Kafka listener (the schema registry's HTTPS):
// each handshake uses the current files, reloaded as a listener's are
// when they change.
func (cfg TLSConfig) ServerConfig(log *slog.Logger) (*tls.Config, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t, err := newTLSListener(cfg, log)
	if err != nil {
		return nil, err
	}
	return t.serverConfig(), nil
}

// principal returns the principal of a verified client certificate.
func (t *tlsListener) principal(cert *x509.Certificate) (string, error) {
	name, err := t.mapper.Map(SubjectDN(cert))
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

// SubjectDN returns the certificate's subject distinguished name in the
// RFC 2253 form Java's X500Principal.getName() produces, which is what
// Kafka's principal mapping rules match: the RDNs from last to first,
// CN, C, L, ST, O, OU, STREET, DC and UID by name and other attributes as
// dotted OIDs with the hex DER value.
func SubjectDN(cert *x509.Certificate) string {
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil {
		return cert.Subject.String()
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i != len(seq)-1 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			key, named := dnKeywords[atv.Type.String()]
			if !named {
				key = atv.Type.String()
			}
			b.WriteString(key)
			b.WriteByte('=')
			s, isString := atv.Value.(string)
			if named && isString {
				b.WriteString(escapeDNValue(s))
				continue
			}
			der, err := asn1.Marshal(atv.Value)
			if err != nil {
				der = nil
			}
			b.WriteByte('#')
			b.WriteString(hex.EncodeToString(der))
		}
	}
	return b.String()
}

var dnKeywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// escapeDNValue escapes an attribute value as RFC 2253 section 2.4 asks.
func escapeDNValue(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case strings.ContainsRune(",+\"\\<>;", r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(s)-utf8.RuneLen(r) && r == ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// PrincipalMapper applies ssl.principal.mapping.rules to a certificate's
// distinguished name, as Kafka's SslPrincipalMapper does.
type PrincipalMapper struct {
	rules []mappingRule
	text  string
}

type mappingRule struct {
	isDefault bool
	pattern   *regexp.Regexp
	repl      string
	lower     bool
	upper     bool
}

// ruleSplitter and ruleParser are Kafka's SslPrincipalMapper
// RULE_SPLITTER and RULE_PARSER.
var (
	ruleSplitter = regexp.MustCompile(`\s*(DEFAULT|RULE:(?:\\.|[^\\/])*/(?:\\.|[^\\/])*/[LU]?.*?|.*?)\s*(?:[,\n]\s*|$)`)
	ruleParser   = regexp.MustCompile(`^(?:(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?))$`)
)

// ParsePrincipalMappingRules parses Kafka's ssl.principal.mapping.rules:
// a comma- or newline-separated list of DEFAULT and
// RULE:pattern/replacement/[LU] entries. An empty value is DEFAULT.
func ParsePrincipalMappingRules(s string) (*PrincipalMapper, error) {
	m := &PrincipalMapper{text: s}
	for _, item := range ruleSplitter.FindAllStringSubmatch(strings.TrimSpace(s), -1) {
		rule := item[1]
		if rule == "" {
			continue // Kafka ignores empty rules
		}
		p := ruleParser.FindStringSubmatch(rule)
		if p == nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: invalid rule: %s", rule)
		}
		if p[1] != "" {
			m.rules = append(m.rules, mappingRule{isDefault: true})
			continue
		}
		re, err := regexp.Compile("^(?:" + p[2] + ")$")
		if err != nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: rule %s: %v", rule, err)
		}
		m.rules = append(m.rules, mappingRule{pattern: re, repl: javaReplacement(p[3]), lower: p[4] == "L", upper: p[4] == "U"})
	}
	if len(m.rules) == 0 {
		m.rules = []mappingRule{{isDefault: true}}
	}
	return m, nil
}

// javaReplacement turns a java.util.regex replacement ($1, \$) into a
// Go template (${1}, $$).
func javaReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		switch c := r[i]; {
		case c == '\\' && i+1 < len(r):
			i++
			if r[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(r[i])
			}
		case c == '$':
			j := i + 1
			for j < len(r) && r[j] >= '0' && r[j] <= '9' {
				j++
			}
			b.WriteString("${" + r[i+1:j] + "}")
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Map returns the principal name for a distinguished name: the result of
// the first rule whose pattern matches all of it.
func (m *PrincipalMapper) Map(dn string) (string, error) {
	for _, r := range m.rules {
		if r.isDefault {
			return dn, nil
		}
		idx := r.pattern.FindStringSubmatchIndex(dn)
		if idx == nil {
			continue
		}
		out := string(r.pattern.ExpandString(nil, r.repl, dn, idx))
		switch {
		case r.lower:
			out = strings.ToLower(out)
		case r.upper:
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("no rule of ssl.principal.mapping.rules (%s) applies to %s", m.text, dn)
}
