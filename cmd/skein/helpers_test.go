package main

import (
	"maps"
	"net"
	"regexp"
	"testing"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/protocol"
)

// regexpMatch reports whether s matches the regular expression re.
func regexpMatch(s, re string) bool {
	return regexp.MustCompile(re).MatchString(s)
}

// startTestBroker starts an in-process broker with one PLAINTEXT listener
// on a random loopback port for one test, with settings on top of
// defaults that keep it quick and alone (no operator endpoints, no
// initial rebalance delay). It is closed when the test ends.
func startTestBroker(t *testing.T, settings map[string]string) *broker.Broker {
	t.Helper()
	s := map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		"skein.admin.address":              "",
		"skein.registry.address":           "",
	}
	maps.Copy(s, settings)
	b, err := broker.New(broker.Config{
		NodeID:    1,
		DataDir:   t.TempDir(),
		Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		Settings:  s,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing the broker: %v", err)
		}
	})
	return b
}

// newSkein starts a test broker and returns its bootstrap address.
func newSkein(t *testing.T) string {
	t.Helper()
	return startTestBroker(t, nil).Addrs()[0].(*net.TCPAddr).String()
}
