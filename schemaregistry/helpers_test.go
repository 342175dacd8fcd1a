package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// startMemory starts a registry over log (a fresh memory log when nil)
// that is the writer when leader is set, or forwards to leaderURL.
func startMemory(t *testing.T, log *memoryLog, leader bool, leaderURL string) (*Registry, string) {
	t.Helper()
	return startMemoryWith(t, log, leader, leaderURL, Config{})
}

// startMemoryWith is startMemory with cfg's other fields (TLS, BasicAuth).
func startMemoryWith(t *testing.T, log *memoryLog, leader bool, leaderURL string, cfg Config) (*Registry, string) {
	t.Helper()
	if log == nil {
		log = newMemoryLog()
	}
	cfg.Bootstrap, cfg.Listen = []string{"unused:9092"}, "127.0.0.1:0"
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.log = log
	r.elector = &staticElector{self: leader, url: leaderURL}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-r.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return r, r.URL()
}

// call sends method path with body (marshalled unless a string) and
// returns the status and the response body.
func call(t *testing.T, base, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != contentType {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp.StatusCode, strings.TrimSpace(string(out))
}

// expect checks a call's status and exact body.
func expect(t *testing.T, base, method, path string, body any, wantStatus int, wantBody string) {
	t.Helper()
	status, got := call(t, base, method, path, body)
	if status != wantStatus || got != wantBody {
		t.Errorf("%s %s:\n got %d %s\nwant %d %s", method, path, status, got, wantStatus, wantBody)
	}
}

// expectCode checks a call's status and error code.
func expectCode(t *testing.T, base, method, path string, body any, wantStatus, wantCode int) {
	t.Helper()
	status, got := call(t, base, method, path, body)
	var e Error
	_ = json.Unmarshal([]byte(got), &e)
	if status != wantStatus || e.Code != wantCode || e.Message == "" {
		t.Errorf("%s %s: got %d %s, want status %d error_code %d", method, path, status, got, wantStatus, wantCode)
	}
}

func schemaBody(schema string) map[string]any { return map[string]any{"schema": schema} }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// callWithType sends a raw body with the given Content-Type.
func callWithType(t *testing.T, base, method, path, ct, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
