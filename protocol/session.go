package protocol

import (
	"crypto/x509"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Session is the state of one client connection. The broker reads it to
// attribute requests (client id, principal, listener); the security layer
// sets the principal once a client authenticates.
type Session struct {
	// ID is unique per server for the life of the process.
	ID uint64
	// Listener is the name of the listener the connection arrived on
	// (PLAINTEXT, or a custom name from listener.security.protocol.map).
	Listener string
	// SecurityProtocol is the listener's protocol: PLAINTEXT, SSL,
	// SASL_PLAINTEXT or SASL_SSL.
	SecurityProtocol string
	Local            net.Addr
	Remote           net.Addr

	// mutedUntil is the time, in Unix nanoseconds, before which the
	// server reads no further request from the connection (see
	// MuteUntil).
	mutedUntil atomic.Int64

	mu struct {
		sync.Mutex
		clientID              string
		clientSoftwareName    string
		clientSoftwareVersion string
		principal             string
		authenticated         bool
		sessionExpiry         time.Time
		saslMechanism         string
		rawSASL               bool
		authState             any
		peerCerts             []*x509.Certificate
		request               Header
	}
}

// AnonymousPrincipal is the principal of an unauthenticated connection, as
// Kafka names it.
const AnonymousPrincipal = "User:ANONYMOUS"

func newSession(id uint64, l *listener, c net.Conn) *Session {
	s := &Session{
		ID:               id,
		Listener:         l.cfg.Name,
		SecurityProtocol: l.cfg.SecurityProtocol,
		Local:            c.LocalAddr(),
		Remote:           c.RemoteAddr(),
	}
	s.mu.principal = AnonymousPrincipal
	return s
}

// ClientID returns the client id of the most recent request.
func (s *Session) ClientID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.clientID
}

func (s *Session) setClientID(id *string) {
	v := ""
	if id != nil {
		v = *id
	}
	s.mu.Lock()
	s.mu.clientID = v
	s.mu.Unlock()
}

// setRequest records the header of the request being dispatched.
func (s *Session) setRequest(h Header) {
	s.mu.Lock()
	s.mu.request = Header{Key: h.Key, Version: h.Version, CorrelationID: h.CorrelationID}
	s.mu.Unlock()
}

// Request returns the API key, version and correlation id of the request
// the connection is dispatching (the latest one read), for attributing
// decisions made while it is handled, such as audit events. Its client id
// is left out: ClientID has it.
func (s *Session) Request() Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.request
}

// SetClientSoftware records the name and version a client reported in
// ApiVersions v3+ (KIP-511).
func (s *Session) SetClientSoftware(name, version string) {
	s.mu.Lock()
	s.mu.clientSoftwareName, s.mu.clientSoftwareVersion = name, version
	s.mu.Unlock()
}

// ClientSoftware returns what SetClientSoftware recorded.
func (s *Session) ClientSoftware() (name, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.clientSoftwareName, s.mu.clientSoftwareVersion
}

// Principal returns the authenticated principal, "User:ANONYMOUS" until a
// client authenticates.
func (s *Session) Principal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.principal
}

// SetPrincipal records the principal a client authenticated as.
func (s *Session) SetPrincipal(p string) {
	s.mu.Lock()
	s.mu.principal = p
	s.mu.Unlock()
}

// RequiresSASL reports whether the connection's listener authenticates
// clients with SASL (SASL_PLAINTEXT or SASL_SSL).
func (s *Session) RequiresSASL() bool {
	return s.SecurityProtocol == "SASL_PLAINTEXT" || s.SecurityProtocol == "SASL_SSL"
}

// Authenticated reports whether a SASL client has completed
// authentication; connections on other listeners are always
// authenticated.
func (s *Session) Authenticated() bool {
	if !s.RequiresSASL() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.authenticated
}

// Authenticate records a completed SASL authentication: the principal and,
// when connections.max.reauth.ms is positive, the time by which the client
// must re-authenticate (zero for none). Requests arriving after that time,
// other than those of a re-authentication, close the connection (KIP-368).
func (s *Session) Authenticate(principal string, expiry time.Time) {
	s.mu.Lock()
	s.mu.principal = principal
	s.mu.authenticated = true
	s.mu.sessionExpiry = expiry
	s.mu.rawSASL = false
	s.mu.authState = nil
	s.mu.Unlock()
}

// SetSASLMechanism records the mechanism of a completed SASL
// authentication; re-authentication must use the same one (KIP-368).
func (s *Session) SetSASLMechanism(m string) {
	s.mu.Lock()
	s.mu.saslMechanism = m
	s.mu.Unlock()
}

// SASLMechanism is the mechanism the session authenticated with, "" before
// a SASL authentication completed.
func (s *Session) SASLMechanism() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.saslMechanism
}

// SessionExpiry returns the re-authentication deadline of the current SASL
// session, zero when there is none.
func (s *Session) SessionExpiry() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.sessionExpiry
}

// AuthState returns the state an authentication in progress keeps between
// SaslHandshake and SaslAuthenticate requests.
func (s *Session) AuthState() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.authState
}

// SetAuthState replaces the state of the authentication in progress.
func (s *Session) SetAuthState(v any) {
	s.mu.Lock()
	s.mu.authState = v
	s.mu.Unlock()
}

// BeginRawSASL switches the connection to SaslHandshake v0 framing: until
// authentication completes, each frame from the client is a bare SASL
// token, handed to the handler as a SaslAuthenticate v0 request, and the
// answer is written back as a bare token (or, on failure, the connection
// closes).
func (s *Session) BeginRawSASL() {
	s.mu.Lock()
	s.mu.rawSASL = true
	s.mu.Unlock()
}

func (s *Session) inRawSASL() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.rawSASL && !s.mu.authenticated
}

// PeerCertificates returns the verified certificate chain of a TLS client,
// nil when the client sent none.
func (s *Session) PeerCertificates() []*x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.peerCerts
}

func (s *Session) setPeer(certs []*x509.Certificate, principal string) {
	s.mu.Lock()
	s.mu.peerCerts = certs
	if principal != "" {
		s.mu.principal = principal
	}
	s.mu.Unlock()
}

// MuteUntil stops the server from reading the connection's next request
// before t, as Kafka mutes the channel of a client over its quota
// (KIP-219): the response that reports the throttle time is sent at once,
// and the client's next request waits. A later call extends the mute; an
// earlier t than the current one changes nothing.
func (s *Session) MuteUntil(t time.Time) {
	n := t.UnixNano()
	for {
		cur := s.mutedUntil.Load()
		if n <= cur || s.mutedUntil.CompareAndSwap(cur, n) {
			return
		}
	}
}

// MutedUntil returns the end of the current mute, zero when the
// connection was never muted.
func (s *Session) MutedUntil() time.Time {
	n := s.mutedUntil.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
