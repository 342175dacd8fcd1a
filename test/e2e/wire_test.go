package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponseBytes bounds a response frame these tests accept.
const maxResponseBytes = 64 << 20

var reqFormatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("skein-e2e"))

// encodeRequest returns a complete request frame: size prefix, header
// (with the tagged-field section for flexible versions) and body, at the
// version set on req.
func encodeRequest(req kmsg.Request, corrID int32) []byte {
	return reqFormatter.AppendRequest(nil, req, corrID)
}

// readFrame reads one response frame and returns its correlation id and the
// rest of it (the response header's tags, if any, and the body).
func readFrame(r io.Reader) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxResponseBytes {
		return 0, nil, fmt.Errorf("response size %d out of range", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// decodeResponse decodes a response body (after the correlation id) to req
// at req's version. Flexible responses carry a tagged-field section in the
// header, except ApiVersions, whose header is always v0.
func decodeResponse(req kmsg.Request, body []byte) (kmsg.Response, error) {
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		r := kbin.Reader{Src: body}
		for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if !r.Ok() {
			return nil, errors.New("truncated response header tags")
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decoding %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// wireConn is a raw client connection that writes hand-made bytes.
type wireConn struct {
	t    testing.TB
	c    net.Conn
	corr int32
}

func dialWire(t testing.TB, addr string) *wireConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &wireConn{t: t, c: c}
}

// write writes b, failing the test on error unless the broker has already
// closed the connection (which is an allowed reaction to a bad prefix).
func (w *wireConn) write(b []byte) {
	w.t.Helper()
	if err := w.c.SetWriteDeadline(time.Now().Add(30 * time.Second)); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.c.Write(b); err != nil && !isConnClosed(err) {
		w.t.Fatalf("write: %v", err)
	}
}

// send writes req with the next correlation id and returns that id.
func (w *wireConn) send(req kmsg.Request) int32 {
	w.t.Helper()
	w.corr++
	w.write(encodeRequest(req, w.corr))
	return w.corr
}

// read reads one response frame within timeout.
func (w *wireConn) read(timeout time.Duration) (int32, []byte, error) {
	if err := w.c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, nil, err
	}
	return readFrame(w.c)
}

// roundTrip sends req at its version and decodes the response, checking
// the correlation id.
func (w *wireConn) roundTrip(req kmsg.Request) kmsg.Response {
	w.t.Helper()
	corr := w.send(req)
	got, body, err := w.read(30 * time.Second)
	if err != nil {
		w.t.Fatalf("%s v%d: reading response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	if got != corr {
		w.t.Fatalf("%s v%d: correlation id %d, want %d", kmsg.NameForKey(req.Key()), req.GetVersion(), got, corr)
	}
	resp, err := decodeResponse(req, body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp
}

// expectClosed asserts that the broker closes the connection within
// `within` without sending anything: a read returns EOF or a reset.
func (w *wireConn) expectClosed(within time.Duration) {
	w.t.Helper()
	if err := w.c.SetReadDeadline(time.Now().Add(within)); err != nil {
		w.t.Fatal(err)
	}
	var buf [512]byte
	n, err := io.ReadFull(w.c, buf[:])
	switch {
	case n > 0:
		w.t.Fatalf("broker sent %d bytes (% x) instead of closing the connection", n, buf[:min(n, 32)])
	case isTimeout(err):
		w.t.Fatalf("connection still open after %v", within)
	case !isConnClosed(err):
		w.t.Fatalf("read: %v; want EOF or connection reset", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// isConnClosed reports an error that means the peer closed the connection.
func isConnClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// frameWithSize returns a 4-byte size prefix followed by body.
func frameWithSize(size int32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	return append(b, body...)
}
