package storage

import "time"

// SetFsyncObserver makes fn receive the duration of every successful fsync
// round of the log (data, index and directory fsyncs of one group commit),
// measured with the real clock. fn runs with the log's fsync lock held, so
// it must be quick; a histogram's Observe is. A nil fn removes the
// observer.
func (l *Log) SetFsyncObserver(fn func(time.Duration)) {
	if fn == nil {
		l.fsyncObserver.Store(nil)
		return
	}
	l.fsyncObserver.Store(&fn)
}

func (l *Log) observeFsync(d time.Duration) {
	if fn := l.fsyncObserver.Load(); fn != nil {
		(*fn)(d)
	}
}

// Failure returns the error that failed the log permanently (an fsync or
// write error), or nil while the log is usable. A failed log is what Kafka
// calls an offline partition.
func (l *Log) Failure() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}
