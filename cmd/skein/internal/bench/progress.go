package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress prints a status line to w every interval until stopped. line
// renders the status for the time since the progress started.
type progress struct {
	done chan struct{}
	wg   sync.WaitGroup
}

// startProgress starts the progress goroutine; a nil w or non-positive
// interval starts nothing. The caller must call stop.
func startProgress(w io.Writer, interval time.Duration, line func(elapsed time.Duration) string) *progress {
	p := &progress{done: make(chan struct{})}
	if w == nil || interval <= 0 {
		return p
	}
	start := time.Now()
	p.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case now := <-t.C:
				fmt.Fprintln(w, line(now.Sub(start).Round(100*time.Millisecond)))
			}
		}
	})
	return p
}

// stop ends the progress goroutine and waits for it.
func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
}

// rateLine renders throughput status lines with rates over the interval
// since the previous line. It is used by one progress goroutine only.
type rateLine struct {
	workload               string
	lastRecords, lastBytes int64
	last                   time.Duration
}

// line renders the status at elapsed given cumulative counts.
func (rl *rateLine) line(elapsed time.Duration, records, bytes int64) string {
	s := (elapsed - rl.last).Seconds()
	if s <= 0 {
		s = 1
	}
	line := fmt.Sprintf("[%s] %s: %d records, %.0f records/s, %.2f MB/s",
		elapsed, rl.workload, records, float64(records-rl.lastRecords)/s, float64(bytes-rl.lastBytes)/mib/s)
	rl.lastRecords, rl.lastBytes, rl.last = records, bytes, elapsed
	return line
}
