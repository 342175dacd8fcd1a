package storage

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// SyncTo returns once every record up to and including offset is
// fsynced. Concurrent callers share fsyncs (group commit): callers queue
// on syncMu, the first one fsyncs everything written so far, and the ones
// behind it usually find their offset already durable and return without
// an fsync of their own. An offset at or beyond the LogEndOffset cannot be
// made durable and yields ErrOffsetOutOfRange. An fsync error fails the
// log permanently.
func (l *Log) SyncTo(offset int64) error {
	if err := l.usable(); err != nil {
		return err
	}
	if offset < l.syncedEnd.Load() {
		return nil
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if offset < l.syncedEnd.Load() {
		return nil
	}
	if leo := l.logEndOffset.Load(); offset >= leo {
		return fmt.Errorf("storage: sync to offset %d, log end offset is %d: %w", offset, leo, ErrOffsetOutOfRange)
	}
	return l.syncLocked()
}

// Sync fsyncs everything appended so far.
func (l *Log) Sync() error {
	if err := l.usable(); err != nil {
		return err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.syncLocked()
}

// MaybeFlush applies flush.ms: it fsyncs when the last fsync is at least
// FlushMs old and there is unsynced data. It also removes segment files
// whose file.delete.delay.ms has passed. The broker calls it periodically.
func (l *Log) MaybeFlush() error {
	if err := l.usable(); err != nil {
		return err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	nowMs := l.nowMs()
	l.removeDueDeletes(nowMs)
	cfg := l.cfg.Load()
	due := time.Duration(nowMs-l.lastFlush.Load())*time.Millisecond >= cfg.FlushMs
	if !due || l.syncedEnd.Load() >= l.logEndOffset.Load() {
		return nil
	}
	return l.syncLocked()
}

// syncLocked runs with syncMu held. It fsyncs the sealed segments not yet
// fsynced (data and index files), the active segment and, if files were
// created since the last round, the directory. Then it publishes the new
// durable offset. Sealed segments, once durable, are reopened read-only
// and the recovery point moves to the active segment.
func (l *Log) syncLocked() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	l.mu.RLock()
	target := l.logEndOffset.Load()
	active := l.mu.segments[len(l.mu.segments)-1]
	sealed := append(l.syncScratch[:0], l.mu.sealedUnsynced...)
	dirGen := l.mu.dirGen
	l.mu.RUnlock()
	l.syncScratch = sealed[:0]
	if target <= l.syncedEnd.Load() && len(sealed) == 0 && dirGen == l.dirGenSynced {
		return nil
	}
	l.syncRounds.Add(1)
	start := time.Now()
	if l.beforeFsync != nil {
		if err := l.beforeFsync(); err != nil {
			return l.fail(fmt.Errorf("fsync: %w", err))
		}
	}
	for _, s := range sealed {
		if err := fdatasync(s.file); err != nil {
			return l.fail(fmt.Errorf("segment %d: fsync: %w", s.baseOffset, err))
		}
		if err := s.syncIndexes(); err != nil {
			return l.fail(fmt.Errorf("segment %d: fsync indexes: %w", s.baseOffset, err))
		}
	}
	if err := fdatasync(active.file); err != nil {
		return l.fail(fmt.Errorf("segment %d: fsync: %w", active.baseOffset, err))
	}
	if dirGen != l.dirGenSynced {
		if err := syncDir(l.dir); err != nil {
			return l.fail(fmt.Errorf("fsync directory: %w", err))
		}
		l.dirGenSynced = dirGen
	}
	if len(sealed) > 0 {
		if err := l.sealSynced(sealed, active.baseOffset); err != nil {
			return err
		}
	}
	if target > l.syncedEnd.Load() {
		l.syncedEnd.Store(target)
	}
	l.observeFsync(time.Since(start))
	l.lastFlush.Store(l.nowMs())
	return nil
}

// sealSynced swaps the writable files of durable sealed segments for
// read-only ones and advances the recovery point to rp, the base offset
// of the segment that was active when the fsync round began.
func (l *Log) sealSynced(sealed []*segment, rp int64) error {
	for _, s := range sealed {
		f, err := os.Open(s.logPath())
		if err != nil {
			return l.fail(fmt.Errorf("segment %d: reopen read-only: %w", s.baseOffset, err))
		}
		l.mu.Lock()
		old := s.file
		s.file, s.writable = f, false
		l.mu.sealedUnsynced = slices.DeleteFunc(l.mu.sealedUnsynced, func(x *segment) bool { return x == s })
		l.mu.Unlock()
		if err := old.Close(); err != nil {
			return l.fail(fmt.Errorf("segment %d: close writable file: %w", s.baseOffset, err))
		}
	}
	if rp <= l.recoveryPoint {
		return nil
	}
	if err := writeCheckpoint(l.dir, recoveryPointFile, encodeOffsetCheckpoint(rp)); err != nil {
		return l.fail(fmt.Errorf("write %s: %w", recoveryPointFile, err))
	}
	l.recoveryPoint = rp
	return nil
}
