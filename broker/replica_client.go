package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerConn is a connection to another broker's inter-broker listener:
// one request at a time, Kafka's wire format through kmsg. On connect it
// completes TLS when the listener uses it, asks ApiVersions and then uses,
// for each API, the highest version both brokers serve, and authenticates
// with SASL when the listener uses it (interbroker.go).
type brokerConn struct {
	nc     net.Conn
	r      *bufio.Reader
	f      *kmsg.RequestFormatter
	corr   int32
	buf    []byte
	maxV   map[int16]int16
	maxLen int32
	stop   func() bool
	// sasl is the identity the connection authenticated with; reauthAt,
	// when set, is when it re-authenticates (KIP-368).
	sasl     *peerSASL
	reauthAt time.Time
}

// errUnsupportedVersion means the leader does not serve a version of an
// API the follower needs.
var errUnsupportedVersion = errors.New("leader does not serve a version the follower needs")

// dialBroker connects to addr with the security sec and negotiates API
// versions; ours are the versions this broker serves. maxLen bounds the
// size of any response. The connection is closed when ctx ends. Brokers
// dial each other through Broker.dialInterBroker, which fills in sec from
// the inter-broker listener's settings.
func dialBroker(ctx context.Context, addr string, sec peerSecurity, clientID string, timeout time.Duration, ours func(key int16) (int16, int16, bool), maxLen int32) (*brokerConn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if sec.tls != nil {
		tc, err := handshakeTLS(ctx, nc, sec.tls, timeout)
		if err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := &brokerConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)), maxV: map[int16]int16{}, maxLen: maxLen}
	c.stop = context.AfterFunc(ctx, func() { nc.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "skein-replica-fetcher", "1"
	resp, err := c.roundTrip(req, timeout)
	if err != nil {
		c.close()
		return nil, fmt.Errorf("api versions: %w", err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 {
		c.close()
		return nil, fmt.Errorf("api versions: %w", kerr.ErrorForCode(av.ErrorCode))
	}
	for _, k := range av.ApiKeys {
		lo, hi, ok := ours(k.ApiKey)
		if !ok || k.MaxVersion < lo || k.MinVersion > hi {
			continue
		}
		c.maxV[k.ApiKey] = min(hi, k.MaxVersion)
	}
	if sec.sasl != nil {
		c.sasl = sec.sasl
		if err := c.authenticate(timeout); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// version returns the version to use for key: the highest both serve,
// at most limit; an error when that is below least.
func (c *brokerConn) version(key, least, limit int16) (int16, error) {
	v, ok := c.maxV[key]
	if !ok || min(v, limit) < least {
		return 0, fmt.Errorf("%w: %s v%d+", errUnsupportedVersion, kmsg.NameForKey(key), least)
	}
	return min(v, limit), nil
}

func (c *brokerConn) close() {
	c.stop()
	c.nc.Close()
}

// request sends req and reads its response, within timeout; a SASL
// session due for re-authentication re-authenticates first.
func (c *brokerConn) request(req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	if c.sasl != nil && !c.reauthAt.IsZero() && !time.Now().Before(c.reauthAt) {
		if err := c.authenticate(timeout); err != nil {
			return nil, fmt.Errorf("re-authentication: %w", err)
		}
	}
	return c.roundTrip(req, timeout)
}

// roundTrip sends req and reads its response, within timeout.
func (c *brokerConn) roundTrip(req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	c.corr++
	c.buf = c.f.AppendRequest(c.buf[:0], req, c.corr)
	if err := c.nc.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(c.buf); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > c.maxLen {
		return nil, fmt.Errorf("response of %d bytes (at most %d accepted)", n, c.maxLen)
	}
	if cap(c.buf) < int(n) {
		c.buf = make([]byte, n)
	}
	body := c.buf[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	payload, err := parseResponseFrame(body, c.corr, req.Key(), resp.IsFlexible())
	if err != nil {
		return nil, err
	}
	// The response must not alias the read buffer: record batches are
	// appended to the log after the next request reuses it.
	payload = append([]byte(nil), payload...)
	if err := resp.ReadFrom(payload); err != nil {
		return nil, fmt.Errorf("%s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// parseResponseFrame checks a response frame's header (correlation id,
// and for flexible responses other than ApiVersions the tagged fields) and
// returns the body after it.
func parseResponseFrame(frame []byte, corr int32, key int16, flexible bool) ([]byte, error) {
	if len(frame) < 4 {
		return nil, errors.New("response frame without a correlation id")
	}
	r := kbin.Reader{Src: frame}
	if got := r.Int32(); got != corr {
		return nil, fmt.Errorf("response correlation id %d, want %d", got, corr)
	}
	if flexible && key != kmsg.ApiVersions.Int16() {
		n := r.Uvarint()
		for i := uint32(0); i < n && r.Ok(); i++ {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if !r.Ok() {
			return nil, errors.New("truncated response header")
		}
	}
	return r.Src, nil
}

// brokerAddr is host:port of an endpoint.
func brokerAddr(ep BrokerEndpoint) string {
	return net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
}
