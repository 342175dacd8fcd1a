package broker

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// aclSettings turns the authorizer on with User:admin as the super user.
func aclSettings(extra map[string]string) map[string]string {
	s := map[string]string{
		config.AuthorizerClassName: config.StandardAuthorizer,
		config.SuperUsers:          "User:admin",
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// startACLBroker starts a broker with the StandardAuthorizer in dir. Until
// clients authenticate over SASL, a test client's principal is its client
// id: a client with id "alice" acts as User:alice (see aclClient).
func startACLBroker(t testing.TB, dir string, settings map[string]string) *testBroker {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("SKEIN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	b, err := New(Config{
		NodeID:    1,
		DataDir:   dir,
		Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:  settings,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatal(err)
	}
	b.principalOf = func(s *protocol.Session) string { return "User:" + s.ClientID() }
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{Broker: b, t: t, dir: dir, addr: b.Addrs()[0].String(), setting: settings}
	t.Cleanup(func() { b.Close() })
	return tb
}

// aclClient returns a client acting as User:<user>.
func (tb *testBroker) aclClient(user string, opts ...kgo.Opt) *kgo.Client {
	return tb.client(append([]kgo.Opt{kgo.ClientID(user)}, opts...)...)
}

func (tb *testBroker) aclAdmin(user string) *kadm.Client {
	return kadm.NewClient(tb.aclClient(user))
}

// mustCreateACLs creates the builder's bindings as the super user.
func mustCreateACLs(t *testing.T, ctx context.Context, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create acl %s %s %v: %v %s", r.Principal, r.Name, r.Operation, r.Err, r.ErrMessage)
		}
	}
}
