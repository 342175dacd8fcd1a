package broker

import (
	"context"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/protocol"
)

// testBroker starts a broker on a random loopback port in a temp dir and
// stops it when the test ends.
type testBroker struct {
	*Broker
	t       testing.TB
	dir     string
	addr    string
	setting map[string]string
}

func startBroker(t testing.TB, settings map[string]string) *testBroker {
	t.Helper()
	return startBrokerIn(t, t.TempDir(), settings)
}

func startBrokerIn(t testing.TB, dir string, settings map[string]string) *testBroker {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("SKEIN_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	b, err := New(Config{
		NodeID:    1,
		DataDir:   dir,
		Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:  settings,
		Logger:    logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	tb := &testBroker{Broker: b, t: t, dir: dir, addr: b.Addrs()[0].String(), setting: settings}
	t.Cleanup(func() { b.Close() })
	return tb
}

// restart closes the broker cleanly and starts a new one on the same data
// directory.
func (tb *testBroker) restart() *testBroker {
	tb.t.Helper()
	if err := tb.Close(); err != nil {
		tb.t.Fatal(err)
	}
	return startBrokerIn(tb.t, tb.dir, tb.setting)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// client returns a franz-go client for the broker, closed at test end.
func (tb *testBroker) client(opts ...kgo.Opt) *kgo.Client {
	tb.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(tb.addr), kgo.RetryTimeout(20 * time.Second)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(cl.Close)
	return cl
}

func (tb *testBroker) admin() *kadm.Client {
	return kadm.NewClient(tb.client())
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dial opens a raw connection to the broker.
func (tb *testBroker) dial() net.Conn {
	tb.t.Helper()
	c, err := net.DialTimeout("tcp", tb.addr, 5*time.Second)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(func() { c.Close() })
	return c
}
