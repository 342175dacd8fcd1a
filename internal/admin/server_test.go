package admin

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestServerRoutes checks every route of a running admin server: /healthz
// answers 200 at once, /readyz follows the readiness function (503 with the
// reason, then 200), /metrics serves the given registry in the text format,
// and /debug/pprof/ lists the profiles. Method: a real listener on port 0
// and plain HTTP requests.
func TestServerRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	var ready atomic.Bool
	s := New(Config{Addr: "127.0.0.1:0", Gatherer: reg, Ready: func() error {
		if !ready.Load() {
			return errors.New("still recovering")
		}
		return nil
	}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	base := "http://" + s.Addr().String()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "still recovering") {
		t.Errorf("/readyz before ready = %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d, want 200", code)
	}
	if code, body := get("/metrics"); code != http.StatusOK || !strings.Contains(body, "skein_test_total 3") {
		t.Errorf("/metrics = %d, body lacks skein_test_total 3:\n%s", code, body)
	}
	if code, body := get("/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d, want the profile index", code)
	}
	if code, _ := get("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
