package clustertest

import (
	"bufio"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer accepts connections and echoes lines back.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader, msg string, timeout time.Duration) (string, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

// TestNetworkCutAndHeal checks the proxy: a connection is attributed to
// the node whose process opened it; a cut link holds the traffic of
// established connections and of new ones until it heals, and then
// delivers it; an exempt proxy is never cut.
func TestNetworkCutAndHeal(t *testing.T) {
	n := NewNetwork()
	t.Cleanup(n.Close)
	target := echoServer(t)
	const node, self = int32(1), int32(7)
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	px, err := n.listen(port, node, target, false)
	if err != nil {
		t.Fatal(err)
	}
	bport, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	back, err := n.listen(bport, node, target, true)
	if err != nil {
		t.Fatal(err)
	}
	// This test process plays node 7.
	n.setPID(os.Getpid(), self)

	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if got, err := roundTrip(c, r, "one", 5*time.Second); err != nil || got != "one\n" {
		t.Fatalf("before the cut: %q, %v", got, err)
	}
	if got := n.Accepted(self, node); got != 1 {
		t.Fatalf("connections attributed to node %d: %d, want 1", self, got)
	}

	n.Cut(self, node)
	if _, err := roundTrip(c, r, "two", 300*time.Millisecond); err == nil {
		t.Fatal("a round trip went through a cut link")
	}
	// A new connection across the cut is accepted but goes nowhere.
	c2, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	r2 := bufio.NewReader(c2)
	if _, err := roundTrip(c2, r2, "three", 300*time.Millisecond); err == nil {
		t.Fatal("a new connection went through a cut link")
	}
	// The exempt proxy still works.
	c3, err := net.Dial("tcp", back.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got, err := roundTrip(c3, bufio.NewReader(c3), "four", 5*time.Second); err != nil || got != "four\n" {
		t.Fatalf("through the exempt proxy: %q, %v", got, err)
	}

	n.Heal()
	// What was held is delivered, in order, then new traffic flows.
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := r.ReadString('\n'); err != nil || got != "two\n" {
		t.Fatalf("held data after healing: %q, %v", got, err)
	}
	if got, err := roundTrip(c, r, "five", 5*time.Second); err != nil || got != "five\n" {
		t.Fatalf("after healing: %q, %v", got, err)
	}
	if err := c2.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, err := r2.ReadString('\n'); err != nil || got != "three\n" {
		t.Fatalf("held connection after healing: %q, %v", got, err)
	}
	// Connections from processes that are no node are clients.
	n.setPID(0, self)
	c4, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c4.Close()
	if got, err := roundTrip(c4, bufio.NewReader(c4), "six", 5*time.Second); err != nil || got != "six\n" {
		t.Fatalf("client connection: %q, %v", got, err)
	}
	if got := n.Accepted(Client, node); got != 1 {
		t.Fatalf("client connections: %d, want 1", got)
	}
}

func TestValueRoundTrip(t *testing.T) {
	id := RecordID{Producer: 3, Partition: 2, Seq: 12345}
	v := Value("x", id)
	if len(v) != ValueBytes {
		t.Fatalf("value of %d bytes", len(v))
	}
	got, ok := ParseValue("x", v)
	if !ok || got != id {
		t.Fatalf("ParseValue = %v, %v", got, ok)
	}
	if _, ok := ParseValue("y", v); ok {
		t.Fatal("parsed under another prefix")
	}
	bad := []byte(v)
	bad[len(bad)-1] ^= 1
	if _, ok := ParseValue("x", string(bad)); ok {
		t.Fatal("parsed a damaged value")
	}
}
