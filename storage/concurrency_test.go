package storage

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestConcurrentAppendReadRetention runs a writer that rolls segments
// and syncs, a reader that follows the log end verifying every batch's
// header and CRC and offset continuity, and a retention loop deleting old
// segments, all at once (meaningful under -race). After Close, no
// goroutine started by the log is left.
func TestConcurrentAppendReadRetention(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := testConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.RetentionBytes = 64 << 10
	cfg.RetentionMs = -1
	l := openLog(t, t.TempDir(), cfg, nil)
	const batches = 800
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	done := make(chan struct{})
	wg.Add(3)
	go func() { // writer
		defer wg.Done()
		defer close(done)
		for i := 0; i < batches; i++ {
			_, last, err := l.Append(makeBatch(t, spec{records: 1 + i%5, valueBytes: 50 + i%200}, byte(i)))
			if err == nil && i%50 == 0 {
				err = l.SyncTo(last)
			}
			if err != nil {
				errs <- fmt.Errorf("append %d: %w", i, err)
				return
			}
		}
	}()
	go func() { // reader
		defer wg.Done()
		buf := make([]byte, 4096)
		next := int64(0)
		for {
			select {
			case <-done:
				if next >= l.LogEndOffset() {
					return
				}
			default:
			}
			res, err := l.Read(next, 4096, math.MaxInt64, true, buf)
			if errors.Is(err, ErrOffsetOutOfRange) && next < l.LogStartOffset() {
				next = l.LogStartOffset()
				continue
			}
			if err != nil {
				errs <- fmt.Errorf("read %d: %w", next, err)
				return
			}
			for b := res.Data; len(b) > 0; b = b[batchSize(b):] {
				if err := checkBatchCRC(b[:batchSize(b)]); err != nil || batchBaseOffset(b)+int64(batchLastOffsetDelta(b)) < next {
					errs <- fmt.Errorf("read %d: bad batch at %d: %v", next, batchBaseOffset(b), err)
					return
				}
			}
			if res.NextOffset > 0 {
				next = res.NextOffset
			}
			buf = res.Data[:0]
		}
	}()
	go func() { // retention
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.EnforceRetention(); err != nil {
				errs <- fmt.Errorf("retention: %w", err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustClose(t, l)
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := runtime.NumGoroutine(); n > before {
			return fmt.Errorf("%d goroutines, %d before Open", n, before)
		}
		return nil
	})
}
