package schemaregistry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/schemaregistry"
)

// startBroker starts a single in-process broker and returns its address.
func startBroker(t *testing.T) string {
	t.Helper()
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
	return b.Addrs()[0].String()
}

// instance is a running registry and the means to stop it.
type instance struct {
	reg  *schemaregistry.Registry
	url  string
	stop func()
}

func startRegistry(t *testing.T, bootstrap string) *instance {
	t.Helper()
	reg, err := schemaregistry.New(schemaregistry.Config{
		Bootstrap:         []string{bootstrap},
		Listen:            "127.0.0.1:0",
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-reg.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("registry not ready after 30s")
	}
	return &instance{reg: reg, url: reg.URL(), stop: stop}
}

// waitWriter waits until every instance names the same writer, which is
// one of them.
func waitWriter(t *testing.T, insts ...*instance) string {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		var changed []<-chan struct{}
		for _, in := range insts {
			changed = append(changed, in.reg.WriterChanged())
		}
		url, selves, agree := "", 0, true
		for i, in := range insts {
			u, self := in.reg.Writer()
			if self {
				selves++
			}
			if u == "" || (i > 0 && u != url) {
				agree = false
			}
			url = u
		}
		if agree && selves == 1 {
			return url
		}
		cases := make(chan struct{}, len(changed))
		stopWatch := make(chan struct{})
		for _, c := range changed {
			go func() {
				select {
				case <-c:
					cases <- struct{}{}
				case <-stopWatch:
				}
			}()
		}
		select {
		case <-cases:
		case <-deadline.C:
			close(stopWatch)
			t.Fatal("instances did not agree on a writer within 30s")
		}
		close(stopWatch)
	}
}

func post(t *testing.T, base, path string, body any) (int, []byte) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(base+path, "application/vnd.schemaregistry.v1+json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func get(t *testing.T, base, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// register registers an Avro schema and returns its id.
func register(t *testing.T, base, subject, schema string) int {
	t.Helper()
	status, out := post(t, base, "/subjects/"+subject+"/versions", map[string]string{"schema": schema})
	if status != 200 {
		t.Fatalf("register %s via %s: %d %s", subject, base, status, out)
	}
	var r struct{ ID int }
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func enumSchema(i int) string {
	return fmt.Sprintf(`{"type":"enum","name":"E%d","symbols":["A"]}`, i)
}

// TestTwoInstancesShareTopic runs two registries over one broker: writes
// through either are seen by both, concurrent writes never get colliding
// ids, a restart keeps every id, and the survivor takes over writes when
// the writer stops.
func TestTwoInstancesShareTopic(t *testing.T) {
	bootstrap := startBroker(t)
	a := startRegistry(t, bootstrap)
	waitWriter(t, a)
	b := startRegistry(t, bootstrap)
	waitWriter(t, a, b)

	ids := map[int]string{}
	for i := range 6 {
		via := []*instance{a, b}[i%2]
		id := register(t, via.url, fmt.Sprintf("s%d", i), enumSchema(i))
		if prev, dup := ids[id]; dup {
			t.Fatalf("id %d given to %s and %s", id, prev, enumSchema(i))
		}
		ids[id] = enumSchema(i)
		for _, in := range []*instance{a, b} {
			status, out := get(t, in.url, fmt.Sprintf("/schemas/ids/%d/schema", id))
			if status != 200 || string(out) != enumSchema(i) {
				t.Fatalf("id %d via %s: %d %s", id, in.url, status, out)
			}
		}
	}

	// Concurrent registrations through both instances.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 6; i < 26; i++ {
		via := []*instance{a, b}[i%2]
		wg.Go(func() {
			status, out := post(t, via.url, fmt.Sprintf("/subjects/c%d/versions", i), map[string]string{"schema": enumSchema(i)})
			if status != 200 {
				t.Errorf("concurrent register %d: %d %s", i, status, out)
				return
			}
			var r struct{ ID int }
			json.Unmarshal(out, &r)
			mu.Lock()
			defer mu.Unlock()
			if prev, dup := ids[r.ID]; dup {
				t.Errorf("id %d given to %s and %s", r.ID, prev, enumSchema(i))
			}
			ids[r.ID] = enumSchema(i)
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Restart both: every id resolves to its schema, re-registering
	// returns the same id, and a new schema gets a fresh one.
	a.stop()
	b.stop()
	c := startRegistry(t, bootstrap)
	d := startRegistry(t, bootstrap)
	waitWriter(t, c, d)
	maxID := 0
	for id, schema := range ids {
		maxID = max(maxID, id)
		for _, in := range []*instance{c, d} {
			status, out := get(t, in.url, fmt.Sprintf("/schemas/ids/%d/schema", id))
			if status != 200 || string(out) != schema {
				t.Fatalf("after restart, id %d via %s: %d %s, want %s", id, in.url, status, out, schema)
			}
		}
	}
	if got := register(t, d.url, "s0", enumSchema(0)); ids[got] != enumSchema(0) {
		t.Fatalf("re-registering after restart gave id %d", got)
	}
	if got := register(t, c.url, "new", enumSchema(99)); got != maxID+1 {
		t.Fatalf("new schema after restart got id %d, want %d", got, maxID+1)
	}

	// The writer stops; the other instance takes over.
	writer, follower := c, d
	if _, self := d.reg.Writer(); self {
		writer, follower = d, c
	}
	writer.stop()
	waitWriter(t, follower)
	if got := register(t, follower.url, "after-failover", enumSchema(100)); got != maxID+2 {
		t.Fatalf("after failover got id %d, want %d", got, maxID+2)
	}
}
