package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// TestStaleWriterRecordsIgnored applies the records two writers produce
// when both believe they lead: the second binds an id already taken and a
// subject version already taken. Every instance keeps the first binding
// of each.
func TestStaleWriterRecordsIgnored(t *testing.T) {
	s := newState(slog.New(slog.DiscardHandler))
	apply := func(offset int64, subject string, version, id int, schema string) {
		t.Helper()
		k, v, err := record{key: schemaKey(subject, version), value: &schemaValue{Subject: subject, Version: version, ID: id, Schema: schema}}.encode()
		if err != nil {
			t.Fatal(err)
		}
		s.apply(offset, k, v)
	}
	apply(0, "s", 1, 1, avroUser)
	// A stale writer gives id 1 to another schema: ignored.
	apply(1, "t", 1, 1, avroFixed)
	// A stale writer gives s's version 1 to another schema and id: ignored.
	apply(2, "s", 1, 2, avroUserV2)
	// The soft delete of s's version 1 keeps its id and applies.
	k, v, _ := record{key: schemaKey("s", 1), value: &schemaValue{Subject: "s", Version: 1, ID: 1, Schema: avroUser, Deleted: true}}.encode()
	s.apply(3, k, v)

	if got := s.subjects["s"][1]; got == nil || got.ID != 1 || !got.Deleted {
		t.Fatalf("s version 1 = %+v, want id 1, soft-deleted", got)
	}
	if e := s.ids[1]; e == nil || e.schema != avroUser {
		t.Fatalf("id 1 = %+v, want %s", e, avroUser)
	}
	if s.ids[2] != nil || s.subjects["t"] != nil {
		t.Fatalf("a stale writer's record applied: ids %v, subjects %v", s.ids, s.subjects)
	}
	if s.next != 4 {
		t.Fatalf("next offset %d, want 4", s.next)
	}
	// After a hard delete (tombstone) the version may be given again.
	k, _, _ = record{key: schemaKey("s", 1)}.encode()
	s.apply(4, k, nil)
	apply(5, "s", 1, 2, avroUserV2)
	if got := s.subjects["s"][1]; got == nil || got.ID != 2 {
		t.Fatalf("s version 1 after a hard delete = %+v, want id 2", got)
	}
}

// TestTwoWritersNeverLoseAcknowledged runs two instances that both
// believe they are the writer over one log and registers different
// schemas through both at once under one subject and under subjects of
// their own. Whatever the interleaving, every registration answered 200
// must stay as answered: its id serves its schema and the subject holds
// it, on both instances; losers of a race answer an error instead.
func TestTwoWritersNeverLoseAcknowledged(t *testing.T) {
	log := newMemoryLog()
	_, a := startMemory(t, log, true, "")
	_, b := startMemory(t, log, true, "")
	expect(t, a, "PUT", "/config", map[string]string{"compatibility": "NONE"}, 200, `{"compatibility":"NONE"}`)

	type ack struct {
		subject, schema string
		id              int
	}
	var (
		mu    sync.Mutex
		acked []ack
		lost  int
		wg    sync.WaitGroup
	)
	const perInstance = 40
	for i := range 2 * perInstance {
		base := a
		if i%2 == 1 {
			base = b
		}
		subject := "shared"
		if i%3 == 0 {
			subject = "own-" + strconv.Itoa(i)
		}
		schema := fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"f","type":"int"}]}`, i)
		wg.Go(func() {
			status, body := post(base+"/subjects/"+subject+"/versions", schema)
			mu.Lock()
			defer mu.Unlock()
			if status != http.StatusOK {
				lost++
				return
			}
			var r struct{ ID int }
			if err := json.Unmarshal([]byte(body), &r); err != nil || r.ID <= 0 {
				t.Errorf("register: %d %s", status, body)
				return
			}
			acked = append(acked, ack{subject, schema, r.ID})
		})
	}
	wg.Wait()
	t.Logf("%d registrations acknowledged, %d refused", len(acked), lost)
	if len(acked) == 0 {
		t.Fatal("no registration acknowledged")
	}
	byID := map[int]string{}
	for _, ack := range acked {
		if prev, ok := byID[ack.id]; ok && prev != ack.schema {
			t.Errorf("id %d acknowledged for two schemas", ack.id)
		}
		byID[ack.id] = ack.schema
		for _, base := range []string{a, b} {
			expect(t, base, "GET", fmt.Sprintf("/schemas/ids/%d/schema", ack.id), nil, 200, ack.schema)
			status, body := call(t, base, "POST", "/subjects/"+ack.subject, schemaBody(ack.schema))
			var v struct{ ID int }
			if status != 200 || json.Unmarshal([]byte(body), &v) != nil || v.ID != ack.id {
				t.Errorf("%s: subject %s lookup of id %d: %d %s", base, ack.subject, ack.id, status, body)
			}
		}
	}
}

// post registers schema at url and returns the status and body; it runs
// in goroutines, so it reports no test failure itself.
func post(url, schema string) (int, string) {
	body, _ := json.Marshal(map[string]string{"schema": schema})
	req, err := http.NewRequestWithContext(context.Background(), "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var out json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, string(out)
}
