package storage

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestSyncToGroupCommit holds the first fsync round open until seven
// other writers have appended and called SyncTo; when it is released,
// exactly one more round covers all seven. Every caller's offset must be
// durable when its SyncTo returns.
func TestSyncToGroupCommit(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), nil)
	defer mustClose(t, l)
	release := make(chan struct{})
	entered := make(chan struct{}, 16)
	l.beforeFsync = func() error {
		entered <- struct{}{}
		if l.syncRounds.Load() == 1 {
			<-release
		}
		return nil
	}
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	syncOne := func() {
		defer wg.Done()
		_, last, err := l.Append(makeBatch(t, spec{records: 1, valueBytes: 100}, 0))
		if err == nil {
			err = l.SyncTo(last)
		}
		if err == nil && l.syncedEnd.Load() <= last {
			err = errors.New("SyncTo returned before the offset was durable")
		}
		errs <- err
	}
	wg.Add(1)
	go syncOne()
	<-entered // round 1 is in progress and blocked
	wg.Add(writers - 1)
	for i := 1; i < writers; i++ {
		go syncOne()
	}
	checkFor(t, 10*time.Second, time.Millisecond, func() error {
		if leo := l.LogEndOffset(); leo != writers {
			return errors.New("appends still running")
		}
		return nil
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := l.syncRounds.Load(); got != 2 {
		t.Fatalf("%d fsync rounds for %d SyncTo callers, want 2", got, writers)
	}
	// Already durable: no new round.
	if err := l.SyncTo(3); err != nil || l.syncRounds.Load() != 2 {
		t.Fatalf("SyncTo of durable offset: %v, rounds %d", err, l.syncRounds.Load())
	}
	if err := l.SyncTo(writers); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("SyncTo(LEO) = %v, want ErrOffsetOutOfRange", err)
	}
}

// TestSyncFailureIsPermanent injects an fsync error: SyncTo reports it,
// and every later Append, SyncTo, Sync and Read fails with ErrLogFailed
// even though the next fsync would succeed. Close does not write the
// clean-shutdown marker, so the next Open scans.
func TestSyncFailureIsPermanent(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), nil)
	_, last, err := l.Append(makeBatch(t, spec{records: 2, valueBytes: 10}, 0))
	if err != nil {
		t.Fatal(err)
	}
	injected := errors.New("EIO")
	l.beforeFsync = func() error {
		if injected != nil {
			err := injected
			injected = nil
			return err
		}
		return nil
	}
	if err := l.SyncTo(last); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("SyncTo after fsync error: %v", err)
	}
	if _, _, err := l.Append(makeBatch(t, spec{records: 1}, 0)); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Append after failure: %v", err)
	}
	if err := l.SyncTo(last); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("second SyncTo after failure: %v", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Sync after failure: %v", err)
	}
	if _, err := l.Read(0, 100, 10, true, nil); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Read after failure: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrLogFailed) {
		t.Fatalf("Close after failure: %v", err)
	}
	l = openLog(t, dir, testConfig(), nil)
	defer mustClose(t, l)
	if l.stats.scannedSegments == 0 {
		t.Fatal("open after a failed log did not scan")
	}
	if l.LogEndOffset() != last+1 {
		t.Fatalf("LEO %d, want %d", l.LogEndOffset(), last+1)
	}
}

// TestFlushMessages sets flush.messages to 3: the log is fsynced once at
// least three records are unsynced, and not before.
func TestFlushMessages(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 3
	l := openLog(t, t.TempDir(), cfg, nil)
	defer mustClose(t, l)
	if _, _, err := l.Append(makeBatch(t, spec{records: 2}, 0)); err != nil {
		t.Fatal(err)
	}
	if got := l.syncedEnd.Load(); got != 0 {
		t.Fatalf("synced up to %d after 2 records", got)
	}
	if _, _, err := l.Append(makeBatch(t, spec{records: 1}, 0)); err != nil {
		t.Fatal(err)
	}
	if got := l.syncedEnd.Load(); got != 3 {
		t.Fatalf("synced up to %d after 3 records, want 3", got)
	}
}

// TestMaybeFlush applies flush.ms with the injected clock.
func TestMaybeFlush(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig()
	cfg.FlushMs = time.Second
	l := openLog(t, t.TempDir(), cfg, clock)
	defer mustClose(t, l)
	if _, _, err := l.Append(makeBatch(t, spec{records: 4}, 0)); err != nil {
		t.Fatal(err)
	}
	if err := l.MaybeFlush(); err != nil || l.syncedEnd.Load() != 0 {
		t.Fatalf("MaybeFlush before flush.ms: %v, synced %d", err, l.syncedEnd.Load())
	}
	clock.Advance(time.Second)
	if err := l.MaybeFlush(); err != nil || l.syncedEnd.Load() != 4 {
		t.Fatalf("MaybeFlush after flush.ms: %v, synced %d", err, l.syncedEnd.Load())
	}
}

// TestClosedLog checks ErrClosed and that Close is idempotent.
func TestClosedLog(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), nil)
	mustClose(t, l)
	mustClose(t, l)
	if _, _, err := l.Append(makeBatch(t, spec{records: 1}, 0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := l.Read(0, 1, 1, true, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}
