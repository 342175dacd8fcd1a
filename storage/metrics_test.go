package storage

import (
	"errors"
	"testing"
	"time"
)

// TestFsyncObserverAndFailure checks the two hooks the broker's metrics
// read: every fsync round that makes data durable reports its duration
// once, a round with nothing to do reports nothing, and a failed fsync
// reports nothing but makes Failure return the cause. Method: count
// observer calls around SyncTo and inject a failure with beforeFsync.
func TestFsyncObserverAndFailure(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), newTestClock())
	var calls int
	l.SetFsyncObserver(func(d time.Duration) {
		if d < 0 {
			t.Errorf("negative fsync duration %v", d)
		}
		calls++
	})
	if _, _, err := l.Append(makeBatch(t, spec{records: 3, valueBytes: 10}, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncTo(2); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncTo(2); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("observer called %d times after one fsync round, want 1", calls)
	}
	if err := l.Failure(); err != nil {
		t.Fatalf("Failure() = %v on a healthy log", err)
	}
	boom := errors.New("injected")
	l.beforeFsync = func() error { return boom }
	if _, _, err := l.Append(makeBatch(t, spec{records: 1, valueBytes: 10}, 2)); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncTo(3); !errors.Is(err, boom) {
		t.Fatalf("SyncTo = %v, want the injected error", err)
	}
	if calls != 1 {
		t.Fatalf("observer called for a failed round (%d calls)", calls)
	}
	if err := l.Failure(); !errors.Is(err, boom) || !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Failure() = %v, want ErrLogFailed wrapping the injected error", err)
	}
}
