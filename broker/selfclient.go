package broker

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// SelfClient is how a Kafka client running in the broker's own process
// (the schema registry that skein serve embeds) connects to the cluster.
type SelfClient struct {
	// Listener and Protocol name the listener connected to and its
	// security protocol.
	Listener, Protocol string
	// Addr is the host:port to bootstrap from.
	Addr string
	// TLS, for SSL and SASL_SSL, is the client side of the listener's
	// TLS settings: its truststore, its keystore presented as client
	// certificate, and the host name check of
	// ssl.endpoint.identification.algorithm. ServerName is empty, so
	// that each broker dialed is checked against its own host.
	TLS *tls.Config
	// SASLMechanism, Username and Password, for SASL_PLAINTEXT and
	// SASL_SSL, are the broker's inter-broker identity
	// (sasl.mechanism.inter.broker.protocol and the sasl.jaas.config of
	// the listener).
	SASLMechanism, Username, Password string
}

// SelfClient returns the connection settings of a client in the broker's
// process, once the broker has started: a PLAINTEXT listener when the
// broker has one (the client is then User:ANONYMOUS), else the
// inter-broker listener with the broker's own inter-broker identity (its
// certificate for SSL, its SASL user for SASL_PLAINTEXT and SASL_SSL).
// Such a client acts as the broker's principal, which with an authorizer
// is a super user as inter-broker traffic requires. An error says why
// neither is usable.
func (b *Broker) SelfClient() (SelfClient, error) {
	if b.server == nil {
		return SelfClient{}, fmt.Errorf("the broker has not started")
	}
	addrs := b.server.Addrs()
	for i, l := range b.cfg.Listeners {
		if l.SecurityProtocol == "PLAINTEXT" && i < len(addrs) {
			return SelfClient{Listener: l.Name, Protocol: l.SecurityProtocol, Addr: dialableAddr(addrs[i].String())}, nil
		}
	}
	d := b.interBroker
	if d == nil {
		return SelfClient{}, fmt.Errorf("the broker has no PLAINTEXT listener and no inter-broker listener")
	}
	if d.missing != nil {
		return SelfClient{}, fmt.Errorf("the broker has no PLAINTEXT listener, and no identity on its inter-broker listener %s: %w", d.listener, d.missing)
	}
	c := SelfClient{Listener: d.listener, Protocol: d.protocol}
	for i, l := range b.cfg.Listeners {
		if strings.EqualFold(l.Name, d.listener) && i < len(addrs) {
			c.Addr = dialableAddr(addrs[i].String())
		}
	}
	if c.Addr == "" {
		return SelfClient{}, fmt.Errorf("inter-broker listener %s is not bound", d.listener)
	}
	if d.tls != nil {
		if d.verifyHost {
			// The certificate names the advertised host, which other
			// brokers reach this one by.
			if host, port := b.advertisedFor(d.listener); host != "" && port > 0 {
				c.Addr = dialableAddr(net.JoinHostPort(host, strconv.Itoa(int(port))))
			}
		}
		tc, err := d.tls.ClientConfig("", d.verifyHost)
		if err != nil {
			return SelfClient{}, fmt.Errorf("inter-broker listener %s: %w", d.listener, err)
		}
		c.TLS = tc
	}
	if d.sasl != nil {
		c.SASLMechanism, c.Username, c.Password = d.sasl.mechanism, d.sasl.user, d.sasl.pass
	}
	return c, nil
}

// dialableAddr turns a bound address into one to connect to: an
// unspecified host (0.0.0.0, ::, empty) becomes loopback.
func dialableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if strings.Contains(host, ":") {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}
