package clustertest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLedgerVerify checks that Verify accepts a correct log and reports
// each kind of fault it exists to catch.
func TestLedgerVerify(t *testing.T) {
	l := NewLedger("t", 1, "x")
	id := func(p int32, seq int64) RecordID { return RecordID{Producer: p, Partition: 0, Seq: seq} }
	// Producer 1: seq 0 acked at 0, seq 1 failed (absent), seq 2 acked at 1.
	// Producer 2: seq 0 acked at 2, seq 1 failed but present at 3.
	for _, r := range []RecordID{id(1, 0), id(1, 1), id(1, 2), id(2, 0), id(2, 1)} {
		l.produced(r, time.Now())
	}
	l.done(id(1, 0), 0, nil)
	l.done(id(1, 1), -1, errors.New("timed out"))
	l.done(id(1, 2), 1, nil)
	l.done(id(2, 0), 2, nil)
	l.done(id(2, 1), -1, errors.New("timed out"))
	rec := func(off int64, r RecordID) RecordLite { return RecordLite{Offset: off, Value: Value("x", r)} }
	good := []RecordLite{rec(0, id(1, 0)), rec(1, id(1, 2)), rec(2, id(2, 0)), rec(3, id(2, 1))}
	if p := l.Verify(0, good); len(p) != 0 {
		t.Fatalf("a correct log: %v", p)
	}
	for _, tc := range []struct {
		name string
		recs []RecordLite
		want string
	}{
		{"lost", []RecordLite{rec(0, id(1, 0)), rec(1, id(1, 2))}, "missing: lost"},
		{"duplicate", []RecordLite{rec(0, id(1, 0)), rec(1, id(1, 2)), rec(2, id(2, 0)), rec(3, id(2, 0))}, "twice"},
		{"reordered", []RecordLite{rec(0, id(1, 2)), rec(1, id(1, 0)), rec(2, id(2, 0))}, "reordered"},
		{"moved", []RecordLite{rec(0, id(1, 0)), rec(1, id(2, 0)), rec(2, id(1, 2))}, "acknowledged at offset"},
		{"gap", []RecordLite{rec(0, id(1, 0)), rec(2, id(1, 2))}, "gap"},
		{"unknown", append(good[:4:4], RecordLite{Offset: 4, Value: "pinned"}), "never produced"},
	} {
		p := l.Verify(0, tc.recs)
		if !strings.Contains(strings.Join(p, "\n"), tc.want) {
			t.Errorf("%s: problems %q, want one containing %q", tc.name, p, tc.want)
		}
	}
	// A second acknowledgement of one offset is split brain.
	l.produced(id(3, 0), time.Now())
	l.done(id(3, 0), 1, nil)
	if p := l.Problems(); len(p) != 1 || !strings.Contains(p[0], "acknowledged twice") {
		t.Fatalf("problems %q, want an offset acknowledged twice", p)
	}
}
