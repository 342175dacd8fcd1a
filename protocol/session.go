package protocol

import (
	"net"
	"sync"
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

	mu struct {
		sync.Mutex
		clientID              string
		clientSoftwareName    string
		clientSoftwareVersion string
		principal             string
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
