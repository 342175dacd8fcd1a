package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/internal/config"
)

// startTestRegistry starts the registry as skein serve embeds it, on a
// random port, and waits until it accepts writes.
func startTestRegistry(t *testing.T) string {
	t.Helper()
	b := startTestBroker(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := startEmbeddedRegistry(ctx, map[string]string{config.RegistryAddress: "127.0.0.1:0"}, b, nil, 0, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		e.wait()
	})
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	select {
	case <-e.reg.Ready():
	case <-deadline.C:
		t.Fatal("registry not ready")
	}
	for {
		changed := e.reg.WriterChanged()
		if _, self := e.reg.Writer(); self {
			return e.url
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatal("registry not elected writer")
		}
	}
}

// schemaCLI runs skein schema against registry.
func schemaCLI(t *testing.T, registry string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(append([]string{"schema"}, args...), "--registry", registry)
	err := run(t.Context(), args, strings.NewReader(""), &out, &errOut)
	return out.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSchemaCommands drives skein schema register, get, list, check and
// delete against the registry that skein serve embeds.
func TestSchemaCommands(t *testing.T) {
	reg := startTestRegistry(t)
	v1 := writeFile(t, "v1.avsc", `{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}`)
	v2 := writeFile(t, "v2.avsc", `{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}`)
	bad := writeFile(t, "bad.avsc", `{"type":"record","name":"User","fields":[{"name":"name","type":"int"}]}`)

	must := func(want string, args ...string) {
		t.Helper()
		out, err := schemaCLI(t, reg, args...)
		if err != nil {
			t.Fatalf("skein schema %s: %v", strings.Join(args, " "), err)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("skein schema %s: output %q lacks %q", strings.Join(args, " "), out, want)
		}
	}
	must("1\n", "register", "users-value", v1)
	must("compatible\n", "check", "users-value", v2)
	must("2\n", "register", "users-value", v2)
	must("users-value\n", "list")
	must("1\n2\n", "list", "users-value")
	must(`"version": 2`, "get", "users-value")
	must(`"id": 1`, "get", "users-value", "1")
	must(`"name": "User"`, "get", "--id", "2", "--raw")

	out, err := schemaCLI(t, reg, "check", "users-value", bad)
	if err == nil || !strings.HasPrefix(out, "incompatible\n  ") {
		t.Fatalf("check of an incompatible schema: %q, %v", out, err)
	}
	if _, err := schemaCLI(t, reg, "register", "users-value", bad); err == nil || !strings.Contains(err.Error(), "error code 409") {
		t.Fatalf("registering an incompatible schema: %v", err)
	}
	if _, err := schemaCLI(t, reg, "get", "nope"); err == nil || !strings.Contains(err.Error(), "40401") {
		t.Fatalf("get of an unknown subject: %v", err)
	}
	must("deleted 2", "delete", "users-value", "2")
	must("1\n", "list", "users-value")
	must("1\n2\n", "list", "users-value", "--deleted")
	must("deleted [1]", "delete", "users-value")
	must("deleted [1,2]", "delete", "users-value", "--permanent")
	if out := mustSchema(t, reg, "list", "--deleted"); out != "" {
		t.Fatalf("subjects after a permanent delete: %q", out)
	}
}

func mustSchema(t *testing.T, reg string, args ...string) string {
	t.Helper()
	out, err := schemaCLI(t, reg, args...)
	if err != nil {
		t.Fatalf("skein schema %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestEmbeddedRegistryOff checks that an empty skein.registry.address
// turns the embedded registry off.
func TestEmbeddedRegistryOff(t *testing.T) {
	b := startTestBroker(t, nil)
	e, err := startEmbeddedRegistry(t.Context(), map[string]string{config.RegistryAddress: ""}, b, nil, 0, slog.New(slog.DiscardHandler))
	if err != nil || e != nil {
		t.Fatalf("got %v, %v; want no registry", e, err)
	}
	e.wait()
}

// TestRegistryAdvertisedURL checks the default of
// skein.registry.advertised.url: the bound address, with an unspecified
// host replaced by the broker's advertised host (the inter-broker
// listener's first), else the host name.
func TestRegistryAdvertisedURL(t *testing.T) {
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	adv := []broker.Advertised{
		{Name: "EXTERNAL", Host: "public.example.com", Port: 19092},
		{Name: "INTERNAL", Host: "skein-2.example.internal", Port: 9092},
	}
	hostname, _ := os.Hostname()
	for _, c := range []struct {
		bound       string
		adv         []broker.Advertised
		interBroker string
		want        string
	}{
		{"127.0.0.1:8081", adv, "INTERNAL", "http://127.0.0.1:8081"},
		{"10.1.2.3:8081", nil, "", "http://10.1.2.3:8081"},
		{"0.0.0.0:8081", adv, "INTERNAL", "http://skein-2.example.internal:8081"},
		{"0.0.0.0:8081", adv, "", "http://public.example.com:8081"},
		{"[::]:8082", adv, "internal", "http://skein-2.example.internal:8082"},
		{"0.0.0.0:8081", nil, "", "http://" + net.JoinHostPort(hostname, "8081")},
	} {
		if got := registryAdvertisedURL(tcp(c.bound), c.adv, c.interBroker); got != c.want {
			t.Errorf("registryAdvertisedURL(%s, %v, %q) = %s, want %s", c.bound, c.adv, c.interBroker, got, c.want)
		}
	}
}
