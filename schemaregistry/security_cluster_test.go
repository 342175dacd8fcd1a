package schemaregistry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/protocol"
)

// TestTwoInstancesHTTPSBasic runs two registries over one broker, both
// serving HTTPS with required client certificates and Basic
// authentication, elected through the group: a write through the
// instance that is not the writer is forwarded over HTTPS (trusting the
// writer through the truststore, presenting the keystore) with the
// caller's credentials, and shows through both.
func TestTwoInstancesHTTPSBasic(t *testing.T) {
	b, err := broker.New(broker.Config{
		NodeID:    1,
		DataDir:   t.TempDir(),
		Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:  map[string]string{"group.initial.rebalance.delay.ms": "0", "skein.admin.address": ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	pki := newTestPKI(t)
	users := writeUsers(t, pki.dir, "alice: alice-pw,admin\n")
	_, clientCert := pki.issue(t, "client")
	start := func(name string) *Registry {
		ks, _ := pki.issue(t, name)
		reg, err := New(Config{
			Bootstrap:         []string{b.Addrs()[0].String()},
			Listen:            "127.0.0.1:0",
			HeartbeatInterval: 100 * time.Millisecond,
			SessionTimeout:    6 * time.Second,
			TLS:               &protocol.TLSConfig{KeystoreLocation: ks, TruststoreLocation: pki.caFile, ClientAuth: "required"},
			BasicAuth:         &BasicAuth{Roles: []string{"admin"}, UsersFile: users},
			Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- reg.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		select {
		case <-reg.Ready():
		case err := <-done:
			t.Fatalf("Run: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("registry not ready after 30s")
		}
		if !strings.HasPrefix(reg.URL(), "https://") {
			t.Fatalf("URL %s", reg.URL())
		}
		return reg
	}
	a := start("a")
	c := start("c")
	// Wait until both name the same writer, one of them.
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	var follower *Registry
	for follower == nil {
		changedA, changedC := a.WriterChanged(), c.WriterChanged()
		ua, selfA := a.Writer()
		uc, selfC := c.Writer()
		if ua != "" && ua == uc && selfA != selfC {
			follower = a
			if selfA {
				follower = c
			}
			break
		}
		select {
		case <-changedA:
		case <-changedC:
		case <-deadline.C:
			t.Fatal("no agreed writer within 30s")
		}
	}
	hc := pki.client(&clientCert)
	resp, body, err := send(t, hc, "POST", follower.URL()+"/subjects/tls-value/versions", "alice:alice-pw", `{"schema":"\"string\""}`)
	if err != nil || resp.StatusCode != http.StatusOK || body != `{"id":1}` {
		t.Fatalf("register through the follower: %v %v %s", resp, err, body)
	}
	for _, r := range []*Registry{a, c} {
		resp, body, err := send(t, hc, "GET", r.URL()+"/schemas/ids/1", "alice:alice-pw", "")
		if err != nil || resp.StatusCode != http.StatusOK || body != `{"schema":"\"string\""}` {
			t.Errorf("id 1 via %s: %v %v %s", r.URL(), resp, err, body)
		}
	}
	if resp, _, err := send(t, hc, "POST", follower.URL()+"/subjects/tls-value/versions", "alice:bad", `{"schema":"\"int\""}`); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad password through the follower: %v %v", resp, err)
	}
}
