package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ReencryptStats describes one ReencryptSegments call.
type ReencryptStats struct {
	// Rolled reports that the active segment held data under another
	// key and was rolled, so that it could be rewritten.
	Rolled bool
	// SegmentsRewritten counts the segments rewritten under the target
	// key; BytesRead and BytesWritten their sizes before and after.
	SegmentsRewritten int
	BytesRead         int64
	BytesWritten      int64
	// Pending counts the non-empty segments still not under the target
	// key when the call returned.
	Pending int
}

// ReencryptSegments rewrites every segment whose data is not under the
// key new data is written with (see NewEncryption): encrypted under an
// older key, in the clear while encryption is on, or encrypted while it
// is off. If the active segment is such a segment, it is rolled and
// fsynced first. Each segment is rewritten, batch by batch, into a new
// segment of the same base offset under the target key, with a fresh
// data key, and swapped in with the crash-safe swap compaction uses (see
// doc.go, "Compaction"): a crash leaves the old segment or the new one.
// Offsets, batches and indexes are unchanged, apart from frame positions.
//
// It runs next to appends, reads, fsyncs and retention; it is serialised
// with Compact. A segment that changed meanwhile (a truncation, or
// retention removing it) is skipped and counted as pending. ctx stops the
// work between batches, with ctx's error. Without Options.Encryption it
// does nothing.
func (l *Log) ReencryptSegments(ctx context.Context) (ReencryptStats, error) {
	var st ReencryptStats
	if l.enc == nil {
		return st, nil
	}
	target, err := l.enc.targetID()
	if err != nil {
		return st, err
	}
	if st.Rolled, err = l.rollForKey(target); err != nil {
		return st, err
	}
	if l.unsyncedNotUnder(target) {
		// Only a segment that is fsynced (and so read-only) can be
		// swapped.
		if err := l.Sync(); err != nil {
			return st, err
		}
	}
	l.cleaner.mu.Lock()
	defer l.cleaner.mu.Unlock()
	var c *Cleaner
	for _, src := range l.segmentsNotUnder(target) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if c == nil {
			c = NewCleaner(CleanerConfig{IOBufferBytes: 256 << 10})
		}
		err := l.rewriteSegment(ctx, c, src, &st)
		if errors.Is(err, ErrCompactionAborted) && !l.closed.Load() {
			continue
		}
		if err != nil {
			st.Pending = l.countNotUnder(target)
			return st, err
		}
	}
	st.Pending = l.countNotUnder(target)
	if st.SegmentsRewritten > 0 {
		l.logger.Info("segments re-encrypted", "key", target, "segments", st.SegmentsRewritten,
			"bytes_read", st.BytesRead, "bytes_written", st.BytesWritten, "pending", st.Pending)
	}
	return st, nil
}

// rollForKey rolls the active segment if it holds data under a key other
// than target.
func (l *Log) rollForKey(target string) (bool, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return false, err
	}
	active := l.mu.segments[len(l.mu.segments)-1]
	if active.size == 0 || active.keyID() == target {
		return false, nil
	}
	if _, err := l.roll(active, l.logEndOffset.Load()); err != nil {
		return false, err
	}
	return true, nil
}

// unsyncedNotUnder reports whether a sealed segment not yet fsynced holds
// data not under key target.
func (l *Log) unsyncedNotUnder(target string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.mu.sealedUnsynced {
		if s.size > 0 && s.keyID() != target {
			return true
		}
	}
	return false
}

// segmentsNotUnder snapshots the sealed, fsynced, non-empty segments whose
// data is not under key target.
func (l *Log) segmentsNotUnder(target string) []cleanSource {
	l.mu.RLock()
	defer l.mu.RUnlock()
	segs := l.mu.segments
	var out []cleanSource
	for _, s := range segs[:len(segs)-1] {
		if s.size == 0 || s.writable || s.keyID() == target {
			continue
		}
		out = append(out, cleanSource{
			seg: s, file: s.file, crypt: s.crypt, base: s.baseOffset, next: s.nextOffset, size: s.size,
			largestTs: s.largestTimestamp(), modTs: s.modTimestamp,
		})
	}
	return out
}

// countNotUnder counts the non-empty segments whose data is not under key
// target.
func (l *Log) countNotUnder(target string) int {
	n := 0
	for id, k := range l.SegmentKeys() {
		if id != target {
			n += k
		}
	}
	return n
}

// rewriteSegment copies src's batches into a new segment of the same
// base offset under the target key and swaps it in. The caller holds
// cleaner.mu.
func (l *Log) rewriteSegment(ctx context.Context, c *Cleaner, src cleanSource, st *ReencryptStats) (err error) {
	out := newSegmentState(l.dir, src.base, l.nowMs())
	out.modTimestamp = src.modTs
	if out.crypt, err = l.enc.newTargetCipher(); err != nil {
		return err
	}
	path := out.logPath() + cleanedSuffix
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("storage: re-encrypt: %w", err)
	}
	swapping := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil && !swapping {
			removeCleanedFiles(out.prefix)
		}
	}()
	in, err := os.Open(src.seg.logPath())
	if err != nil {
		return fmt.Errorf("%w: segment %d: %v", ErrCompactionAborted, src.base, err)
	}
	defer in.Close()
	c.writer.Reset(f)
	interval := l.cfg.Load().IndexIntervalBytes
	br := c.batches(in, &src, 0)
	for {
		b, err := br.next()
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.abortIfClosed(); err != nil {
			return err
		}
		if err := writeCleanedBatch(c, out, b, interval); err != nil {
			return err
		}
	}
	if err := c.writer.Flush(); err != nil {
		return fmt.Errorf("storage: re-encrypt: write %s: %w", path, err)
	}
	if out.nextOffset != src.next {
		// Paired check: every batch was copied.
		return fmt.Errorf("storage: re-encrypt: segment %d rewritten up to offset %d, source ends at %d", src.base, out.nextOffset, src.next)
	}
	if err := l.sealCleaned(f, out); err != nil {
		return err
	}
	f = nil
	if l.crashAt("before-swap") {
		return errSimulatedCrash
	}
	swapping = true
	if err := l.swapGroup([]cleanSource{src}, out, -1); err != nil {
		return err
	}
	st.SegmentsRewritten++
	st.BytesRead += src.size
	st.BytesWritten += out.size
	return nil
}
