package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	// cleanedSuffix marks the files of a segment being written by the
	// cleaner; swapSuffix those of a cleaned segment committed to replace
	// its sources (see doc.go, "Compaction").
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
	// cleanerSwapFile is the swap manifest: the cleaned segment's base
	// offset and the base offsets of the segments it replaces.
	cleanerSwapFile = "cleaner-swap"
)

// errSimulatedCrash is returned where a test's crashAt hook stopped a
// swap.
var errSimulatedCrash = errors.New("storage: simulated crash")

func (l *Log) crashAt(step string) bool {
	return l.cleaner.crashAt != nil && l.cleaner.crashAt(step)
}

// swapGroup replaces the sources of a group with the cleaned segment out,
// whose files (.log, .index, .timeindex, each with the .cleaned suffix)
// are durable. Before the commit point (out's .log renamed to .swap) a
// failure removes the cleaned files and leaves the log as it was; after
// it, a failure fails the log, and Open completes the swap. With
// truncations >= 0, the swap is refused if cleaner.truncations differs:
// the log was truncated since out was computed.
func (l *Log) swapGroup(g []cleanSource, out *segment, truncations int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.usable(); err != nil {
		return l.discardCleaned(out, fmt.Errorf("%w: %w", ErrCompactionAborted, err))
	}
	if truncations >= 0 && l.cleaner.truncations.Load() != truncations {
		return l.discardCleaned(out, fmt.Errorf("%w: the log was truncated during the pass", ErrCompactionAborted))
	}
	if !l.sourcesUnchanged(g) {
		return l.discardCleaned(out, fmt.Errorf("%w: segments %d to %d changed while being cleaned",
			ErrCompactionAborted, g[0].base, g[len(g)-1].base))
	}
	// The manifest names the sources exactly: the cleaned segment's offset
	// range does not, since its last records may have been removed.
	if err := writeCheckpoint(l.dir, cleanerSwapFile, encodeSwapManifest(g)); err != nil {
		return l.discardCleaned(out, fmt.Errorf("storage: compact: write %s: %w", cleanerSwapFile, err))
	}
	if l.crashAt("manifest") {
		return errSimulatedCrash
	}
	// Index files first: the .log's rename is the commit point.
	for _, suf := range []string{offsetIndexSuffix, timeIndexSuffix, logSuffix} {
		if err := os.Rename(out.prefix+suf+cleanedSuffix, out.prefix+suf+swapSuffix); err != nil {
			if suf != logSuffix {
				return l.discardCleaned(out, fmt.Errorf("storage: compact: %w", err))
			}
			return l.fail(fmt.Errorf("compact: commit swap of segment %d: %w", out.baseOffset, err))
		}
		if l.crashAt("swap" + suf) {
			return errSimulatedCrash
		}
	}
	if err := l.finishCommittedSwap(g, out); err != nil {
		if errors.Is(err, errSimulatedCrash) {
			return err
		}
		return l.fail(fmt.Errorf("compact: swap of segment %d: %w", out.baseOffset, err))
	}
	return nil
}

// finishCommittedSwap runs the steps after the commit point: retire the
// sources' files, move the swap files into place, exchange the segments
// in memory, and schedule the old files' removal.
func (l *Log) finishCommittedSwap(g []cleanSource, out *segment) error {
	if err := syncDir(l.dir); err != nil {
		return err
	}
	if l.crashAt("committed") {
		return errSimulatedCrash
	}
	// The sources go before the swap files take their place, so that no
	// crash can leave a source next to the segment that replaced it.
	for _, s := range g {
		for _, suf := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
			if err := os.Rename(s.seg.prefix+suf, s.seg.prefix+suf+deletedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if l.crashAt("retire") {
			return errSimulatedCrash
		}
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	for _, suf := range []string{offsetIndexSuffix, timeIndexSuffix, logSuffix} {
		if err := os.Rename(out.prefix+suf+swapSuffix, out.prefix+suf); err != nil {
			return err
		}
		if l.crashAt("final" + suf) {
			return errSimulatedCrash
		}
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	f, err := os.Open(out.logPath())
	if err != nil {
		return err
	}
	out.file, out.writable = f, false
	l.exchangeSegments(g, out)
	if l.crashAt("exchanged") {
		return errSimulatedCrash
	}
	dueMs := l.nowMs() + l.cfg.Load().FileDeleteDelay.Milliseconds()
	for _, s := range g {
		// No reader can reach the segment any more: it left the list
		// under mu, and readers hold mu for the whole read.
		s.seg.file.Close()
		s.seg.file = nil
		l.pendingDeletes = append(l.pendingDeletes, pendingDelete{prefix: s.seg.prefix, dueMs: dueMs})
	}
	l.removeDueDeletes(l.nowMs())
	if err := os.Remove(filepath.Join(l.dir, cleanerSwapFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// exchangeSegments puts out in the list in place of g's segments.
func (l *Log) exchangeSegments(g []cleanSource, out *segment) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	i := slices.Index(l.mu.segments, g[0].seg)
	if i < 0 {
		// sourcesUnchanged found them under syncMu, which is still held,
		// and only holders of syncMu remove segments.
		panic(fmt.Sprintf("storage: compact: segment %d left the list during its swap", g[0].base))
	}
	l.mu.segments = slices.Replace(l.mu.segments, i, i+len(g), out)
	for _, s := range g {
		l.mu.sizeBytes -= s.size
	}
	l.mu.sizeBytes += out.size
}

// sourcesUnchanged reports whether g's segments are still in the list,
// consecutive, sealed, read-only and unchanged since the snapshot. A
// truncation reopens the file it cuts read-write, so a segment truncated
// and refilled to the same size still differs in its file. The caller
// holds syncMu.
func (l *Log) sourcesUnchanged(g []cleanSource) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	segs := l.mu.segments
	i := slices.Index(segs, g[0].seg)
	if i < 0 || i+len(g) >= len(segs) {
		return false
	}
	for j, s := range g {
		live := segs[i+j]
		if live != s.seg || live.file != s.file || live.writable || live.size != s.size || live.nextOffset != s.next {
			return false
		}
	}
	return true
}

// discardCleaned removes the files of an uncommitted swap and returns
// err.
func (l *Log) discardCleaned(out *segment, err error) error {
	removeCleanedFiles(out.prefix)
	if rerr := os.Remove(filepath.Join(l.dir, cleanerSwapFile)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		l.logger.Warn("removing the swap manifest", "err", rerr)
	}
	return err
}

// removeCleanedFiles removes prefix's .cleaned files and index .swap
// files; a .log.swap is never among them (it is committed).
func removeCleanedFiles(prefix string) {
	for _, name := range []string{
		prefix + logSuffix + cleanedSuffix,
		prefix + offsetIndexSuffix + cleanedSuffix,
		prefix + timeIndexSuffix + cleanedSuffix,
		prefix + offsetIndexSuffix + swapSuffix,
		prefix + timeIndexSuffix + swapSuffix,
	} {
		os.Remove(name)
	}
}

// encodeSwapManifest renders "0\n<n>\n" then the n source base offsets,
// one a line; the first is the cleaned segment's base offset.
func encodeSwapManifest(g []cleanSource) []byte {
	b := fmt.Appendf(nil, "%d\n%d\n", checkpointVersion, len(g))
	for _, s := range g {
		b = fmt.Appendf(b, "%d\n", s.base)
	}
	return b
}

// decodeSwapManifest parses the lines after the version.
func decodeSwapManifest(lines [][]byte) ([]int64, error) {
	if len(lines) < 2 {
		return nil, corruptionf("%s: %d lines", cleanerSwapFile, len(lines))
	}
	n, err := strconv.Atoi(string(lines[0]))
	if err != nil || n < 1 || n != len(lines)-1 {
		return nil, corruptionf("%s: bad count %q for %d lines", cleanerSwapFile, lines[0], len(lines)-1)
	}
	bases := make([]int64, n)
	for i := range bases {
		b, err := strconv.ParseInt(string(lines[i+1]), 10, 64)
		if err != nil || b < 0 || (i > 0 && b <= bases[i-1]) {
			return nil, corruptionf("%s: bad base offset %q", cleanerSwapFile, lines[i+1])
		}
		bases[i] = b
	}
	return bases, nil
}

// recoverCompaction runs in Open before the segments are listed. It
// completes a swap that passed its commit point, rolls back one that did
// not, removes leftover .cleaned files and loads the cleaner checkpoint.
// A .swap file without a manifest cannot be placed safely and fails Open
// with a corruption error.
func (l *Log) recoverCompaction() error {
	lines, found, err := readCheckpointLines(l.dir, cleanerSwapFile)
	if err != nil {
		return err
	}
	if found {
		bases, err := decodeSwapManifest(lines)
		if err != nil {
			return err
		}
		if err := l.recoverSwap(bases); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, cleanedSuffix):
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return err
			}
		case strings.HasSuffix(name, swapSuffix):
			return corruptionf("%s: swap file without a swap manifest", name)
		}
	}
	l.readCleanerCheckpoint()
	return nil
}

// recoverSwap finishes or undoes the swap a manifest describes. bases[0]
// is the cleaned segment's base offset.
func (l *Log) recoverSwap(bases []int64) error {
	prefix := segmentPrefix(l.dir, bases[0])
	exists := func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	}
	switch {
	case exists(prefix + logSuffix + swapSuffix):
		l.logger.Warn("completing an interrupted compaction swap", "segment", bases[0], "sources", len(bases))
		for _, b := range bases[1:] {
			if err := removeSegmentFiles(segmentPrefix(l.dir, b), ""); err != nil {
				return err
			}
		}
		if err := placeCleanedIndexes(prefix); err != nil {
			return err
		}
		if err := os.Rename(prefix+logSuffix+swapSuffix, prefix+logSuffix); err != nil {
			return err
		}
	case exists(prefix + logSuffix + cleanedSuffix):
		l.logger.Warn("rolling back an interrupted compaction swap", "segment", bases[0], "sources", len(bases))
		removeCleanedFiles(prefix)
	default:
		// The .log is in place; only index renames may be missing.
		if err := placeCleanedIndexes(prefix); err != nil {
			return err
		}
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(l.dir, cleanerSwapFile)); err != nil {
		return err
	}
	return syncDir(l.dir)
}

// placeCleanedIndexes moves a committed swap's index files into place,
// from .swap or, if that rename had not happened, from .cleaned.
func placeCleanedIndexes(prefix string) error {
	for _, suf := range []string{offsetIndexSuffix, timeIndexSuffix} {
		for _, from := range []string{swapSuffix, cleanedSuffix} {
			err := os.Rename(prefix+suf+from, prefix+suf)
			if err == nil {
				break
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}
