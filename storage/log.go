package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Log is the segmented log of one partition. All methods are safe for
// concurrent use. Lock order: syncMu, then appendMu, then mu; see doc.go.
type Log struct {
	dir    string
	logger *slog.Logger
	now    func() time.Time
	cfg    atomic.Pointer[Config]
	// enc is the encryption at rest of new data and the keys of
	// encrypted segments; nil without encryption.
	enc *Encryption

	// syncMu serialises fsyncs (group commit: a caller that waited for the
	// lock usually finds its offset already durable) and every operation
	// that removes data or files: truncation, retention, record deletion,
	// Close. It guards the fields in the group below.
	syncMu sync.Mutex
	// recoveryPoint is the offset below which data and the indexes of
	// sealed segments are durable, as last written to the checkpoint.
	recoveryPoint int64
	// dirGenSynced is the value of mu.dirGen at the last directory fsync.
	dirGenSynced uint64
	// pendingDeletes are renamed segment files waiting for
	// file.delete.delay.ms.
	pendingDeletes []pendingDelete
	// syncScratch holds the segments one fsync round covers.
	syncScratch []*segment

	// appendMu serialises writers to the active segment. It guards
	// infos; holding it also allows reading mu's fields, because every
	// writer of those holds both appendMu and mu.
	appendMu sync.Mutex
	infos    []batchInfo

	mu struct {
		sync.RWMutex
		// segments is ordered by base offset; the last one is active.
		segments []*segment
		// sealedUnsynced are sealed segments that still hold data or index
		// files not yet fsynced, and a writable file.
		sealedUnsynced []*segment
		// dirGen counts file creations in dir, so an fsync round knows
		// whether the directory needs an fsync too.
		dirGen uint64
		// epochs is the leader-epoch cache.
		epochs epochCache
		// sizeBytes is the total size of the segments.
		sizeBytes int64
	}

	// logStartOffset and logEndOffset change under mu (write) and are
	// atomics so the hot getters take no lock.
	logStartOffset atomic.Int64
	logEndOffset   atomic.Int64
	// syncedEnd is the offset below which every record is fsynced.
	syncedEnd atomic.Int64
	// lastFlush is when the last fsync round finished (Unix ms).
	lastFlush atomic.Int64

	closed  atomic.Bool
	failure atomic.Pointer[error]

	// bg tracks the background fsync of freshly sealed segments;
	// bgRunning ensures at most one runs.
	bg        sync.WaitGroup
	bgRunning atomic.Bool

	// stats counts recovery work done by Open, for logs and tests.
	stats recoveryStats
	// syncRounds counts fsync rounds (group commits).
	syncRounds atomic.Int64
	// beforeFsync, if set, runs at the start of every fsync round; an
	// error it returns is treated as an fsync failure. Tests use it to
	// hold a round open and to inject failures.
	beforeFsync func() error
	// fsyncObserver, if set, receives the duration of every successful
	// fsync round (SetFsyncObserver).
	fsyncObserver atomic.Pointer[func(time.Duration)]

	// cleaner is the log compaction state (compact.go).
	cleaner cleanerState
}

// recoveryStats describes what Open did.
type recoveryStats struct {
	scannedSegments int
	scannedBatches  int
	truncatedBytes  int64
	droppedSegments int
}

type pendingDelete struct {
	prefix string
	dueMs  int64
}

// ReadResult is what Read returns.
type ReadResult struct {
	// Data holds whole record batches back to back; it aliases the buf
	// passed to Read (or a larger replacement).
	Data []byte
	// FirstOffset is the base offset of the first batch in Data, and
	// NextOffset one past the last offset of the last batch. Both are -1
	// when Data is empty.
	FirstOffset int64
	NextOffset  int64
	// LogStartOffset and LogEndOffset are the log's bounds when the read
	// ran.
	LogStartOffset int64
	LogEndOffset   int64
}

// Open opens the log in dir, creating the directory if missing, and
// recovers it as doc.go describes. logger may be nil (discard); now may be
// nil (time.Now). The returned Log starts no goroutine until a segment is
// rolled.
func Open(dir string, cfg Config, logger *slog.Logger, now func() time.Time) (*Log, error) {
	return OpenWithOptions(dir, cfg, Options{Logger: logger, Now: now})
}

// Options are the settings of a Log that are fixed while it is open.
type Options struct {
	// Logger receives the log's messages; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Encryption, if set, encrypts new data at rest and holds the keys
	// of encrypted segments (see doc.go, "Encryption at rest"). Without
	// it a log holding encrypted segments fails to open with
	// ErrKeyUnavailable.
	Encryption *Encryption
}

// OpenWithOptions is Open with every option.
func OpenWithOptions(dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger, now := opts.Logger, opts.Now
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	l := &Log{dir: dir, logger: logger.With("component", "storage", "dir", dir), now: now, enc: opts.Encryption}
	l.cfg.Store(&cfg)
	if err := l.load(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("storage: open %s: %w", dir, err)
	}
	return l, nil
}

func (l *Log) nowMs() int64 { return l.now().UnixMilli() }

// usable returns ErrClosed or the permanent failure, if any.
func (l *Log) usable() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	if l.closed.Load() {
		return ErrClosed
	}
	return nil
}

// fail makes the log fail permanently with cause and returns the error
// every later call will see.
func (l *Log) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrLogFailed, cause)
	if l.failure.CompareAndSwap(nil, &err) {
		l.logger.Error("log failed, partition must go offline", "err", cause)
	}
	return *l.failure.Load()
}

// load lists the directory, removes leftovers and recovers the segments.
func (l *Log) load() error {
	if err := l.recoverCompaction(); err != nil {
		return err
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	_, statErr := os.Stat(filepath.Join(l.dir, cleanShutdownFile))
	clean := statErr == nil
	lso, lsoFound, err := readOffsetCheckpoint(l.dir, logStartOffsetFile)
	if err != nil {
		return err
	}
	rp, _, err := readOffsetCheckpoint(l.dir, recoveryPointFile)
	if err != nil {
		l.logger.Warn("unreadable recovery point, scanning every segment", "err", err)
		rp = 0
	}
	if lines, found, err := readCheckpointLines(l.dir, leaderEpochFile); err != nil {
		return err
	} else if found {
		if l.mu.epochs.entries, err = decodeEpochLines(lines); err != nil {
			return err
		}
	}
	epochsBefore := string(l.mu.epochs.encode())

	scanned, err := l.recoverSegments(bases, clean, rp)
	if err != nil {
		return err
	}
	if len(l.mu.segments) == 0 {
		s, err := createSegment(l.dir, lso, l.nowMs())
		if err != nil {
			return err
		}
		l.mu.segments = []*segment{s}
		scanned = append(scanned, s)
	}
	active := l.mu.segments[len(l.mu.segments)-1]
	if err := l.makeWritable(active); err != nil {
		return err
	}
	leo := active.nextOffset
	start := l.mu.segments[0].baseOffset
	if lsoFound && lso > start {
		start = lso
	}
	l.logStartOffset.Store(start)
	l.logEndOffset.Store(leo)
	for _, s := range l.mu.segments {
		l.mu.sizeBytes += s.size
	}
	if start > leo {
		l.logger.Warn("log start offset beyond recovered log end offset, starting empty", "log_start_offset", start, "log_end_offset", leo)
		if err := l.truncateFullyAndStartAt(start); err != nil {
			return err
		}
		leo = start
		scanned = nil // retired; the new segment is empty
	}
	l.mu.epochs.truncateFromEnd(leo)
	l.mu.epochs.truncateFromStart(start)
	if string(l.mu.epochs.encode()) != epochsBefore {
		if err := writeCheckpoint(l.dir, leaderEpochFile, l.mu.epochs.encode()); err != nil {
			return err
		}
	}
	if err := l.persistRecovered(scanned, clean); err != nil {
		return err
	}
	l.syncedEnd.Store(leo)
	l.lastFlush.Store(l.nowMs())
	if l.stats.scannedSegments > 0 || l.stats.truncatedBytes > 0 {
		l.logger.Info("log recovered", "segments", len(l.mu.segments), "scanned_segments", l.stats.scannedSegments,
			"scanned_batches", l.stats.scannedBatches, "truncated_bytes", l.stats.truncatedBytes,
			"dropped_segments", l.stats.droppedSegments, "log_start_offset", start, "log_end_offset", leo)
	}
	return nil
}

// listSegments removes leftover files (*.deleted, *.tmp, indexes without
// a .log) and returns the base offsets of the .log files in order.
func (l *Log) listSegments() ([]int64, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	logs := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if base, ok := parseSegmentName(name, logSuffix); ok {
			bases = append(bases, base)
			logs[strings.TrimSuffix(name, logSuffix)] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		stale := strings.HasSuffix(name, deletedSuffix) || strings.HasSuffix(name, tmpSuffix)
		for _, suf := range []string{offsetIndexSuffix, timeIndexSuffix} {
			if _, ok := parseSegmentName(name, suf); ok && !logs[strings.TrimSuffix(name, suf)] {
				stale = true
			}
		}
		if stale {
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	return bases, nil // os.ReadDir sorts by name; fixed-width names sort by offset.
}

// parseSegmentName parses "<20 digits><suffix>".
func parseSegmentName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// recoverSegments opens every segment. After a clean shutdown it trusts
// the index files; otherwise it trusts them only below the segment that
// holds the recovery point and scans from there to the end. Any segment
// whose index files fail their checks is scanned too. The first invalid
// batch truncates its segment and drops every later segment. It returns
// the scanned segments.
func (l *Log) recoverSegments(bases []int64, clean bool, rp int64) ([]*segment, error) {
	firstScan := len(bases)
	if !clean {
		firstScan = 0
		for i, b := range bases {
			if b <= rp {
				firstScan = i
			}
		}
	}
	cfg := l.cfg.Load()
	var scanned []*segment
	for i, base := range bases {
		f, err := os.Open(segmentPrefix(l.dir, base) + logSuffix)
		if err != nil {
			return nil, err
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		s := newSegmentState(l.dir, base, info.ModTime().UnixMilli())
		s.file = f
		l.mu.segments = append(l.mu.segments, s)
		if i < firstScan {
			needScan, err := s.loadCipher(info.Size(), l.enc)
			if err != nil {
				return nil, err
			}
			if !needScan {
				err = s.loadIndexes(info.Size(), cfg.IndexIntervalBytes)
				if err == nil {
					continue
				}
			} else {
				err = errors.New("first frame header fails its checks")
			}
			l.logger.Warn("index files unusable, rebuilding segment", "segment", base, "err", err)
		}
		scanned = append(scanned, s)
		ok, err := l.scan(s, info.Size(), cfg.IndexIntervalBytes)
		if err != nil {
			return nil, err
		}
		if !ok {
			return scanned, l.dropSegmentsAfter(i, bases)
		}
	}
	return scanned, nil
}

// scan verifies one segment and truncates an invalid tail. It reports
// whether the whole file was valid.
func (l *Log) scan(s *segment, fileSize int64, interval int) (bool, error) {
	l.stats.scannedSegments++
	res, err := s.scanSegment(fileSize, interval, l.enc, func(base int64, epoch int32) {
		l.mu.epochs.assign(epoch, base)
	})
	l.stats.scannedBatches += res.batches
	if err != nil {
		return false, err
	}
	if res.validBytes == fileSize {
		return true, nil
	}
	l.stats.truncatedBytes += fileSize - res.validBytes
	l.logger.Warn("truncating invalid segment tail", "segment", s.baseOffset, "valid_batches", res.batches,
		"valid_bytes", res.validBytes, "truncated_bytes", fileSize-res.validBytes,
		"log_end_offset", s.nextOffset, "reason", res.reason)
	if err := os.Truncate(s.logPath(), res.validBytes); err != nil {
		return false, err
	}
	return false, nil
}

// dropSegmentsAfter removes the files of the segments after index i,
// which follow an invalid batch and so can no longer be trusted to be
// contiguous with the log.
func (l *Log) dropSegmentsAfter(i int, bases []int64) error {
	for _, base := range bases[i+1:] {
		prefix := segmentPrefix(l.dir, base)
		size := int64(-1)
		if info, err := os.Stat(prefix + logSuffix); err == nil {
			size = info.Size()
		}
		l.logger.Warn("dropping segment after invalid data", "segment", base, "bytes", size)
		l.stats.droppedSegments++
		if size > 0 {
			l.stats.truncatedBytes += size
		}
		for _, suf := range []string{logSuffix, offsetIndexSuffix, timeIndexSuffix} {
			if err := os.Remove(prefix + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// persistRecovered makes what recovery rebuilt durable and records it:
// scanned data may be page-cache content a crashed process never fsynced,
// so it is fsynced before the recovery point moves past it. After a clean
// start it removes the clean-shutdown marker, durably, so that a crash
// from now on leads to a scan.
func (l *Log) persistRecovered(scanned []*segment, clean bool) error {
	active := l.mu.segments[len(l.mu.segments)-1]
	for _, s := range scanned {
		if err := fdatasync(s.file); err != nil {
			return err
		}
		if s == active {
			continue
		}
		if err := s.writeIndexes(); err != nil {
			return err
		}
		if err := s.syncIndexes(); err != nil {
			return err
		}
	}
	leo := l.logEndOffset.Load()
	if err := writeCheckpoint(l.dir, recoveryPointFile, encodeOffsetCheckpoint(leo)); err != nil {
		return err
	}
	l.recoveryPoint = leo
	if clean {
		if err := os.Remove(filepath.Join(l.dir, cleanShutdownFile)); err != nil {
			return err
		}
	}
	return syncDir(l.dir)
}

// makeWritable reopens a segment's file read-write.
func (l *Log) makeWritable(s *segment) error {
	if s.writable {
		return nil
	}
	f, err := os.OpenFile(s.logPath(), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	old := s.file
	s.file, s.writable = f, true
	if old != nil {
		return old.Close()
	}
	return nil
}

// closeFiles closes every segment file, returning the first error.
func (l *Log) closeFiles() error {
	var first error
	for _, s := range l.mu.segments {
		if s.file != nil {
			if err := s.file.Close(); err != nil && first == nil {
				first = err
			}
			s.file = nil
		}
	}
	return first
}

// Close fsyncs everything, writes the active segment's indexes and the
// clean-shutdown marker, and closes the files. After a failure it closes
// the files without the marker (so the next Open scans) and returns the
// failure. Close is idempotent; later calls return nil.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	l.waitForCompaction()
	// Wait for an Append that passed its closed check, then for the
	// background fsync it may have started.
	l.appendMu.Lock()
	l.appendMu.Unlock() //nolint:staticcheck // an empty critical section is the barrier
	l.bg.Wait()

	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	err := l.closeCleanly()
	l.mu.Lock()
	defer l.mu.Unlock()
	if cerr := l.closeFiles(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

func (l *Log) closeCleanly() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	if err := l.syncLocked(); err != nil {
		return err
	}
	active := l.mu.segments[len(l.mu.segments)-1]
	l.mu.Lock()
	active.appendTimeEntry()
	l.mu.Unlock()
	if err := active.writeIndexes(); err != nil {
		return l.fail(err)
	}
	if err := active.syncIndexes(); err != nil {
		return l.fail(err)
	}
	leo := l.logEndOffset.Load()
	if err := writeCheckpoint(l.dir, recoveryPointFile, encodeOffsetCheckpoint(leo)); err != nil {
		return l.fail(err)
	}
	l.recoveryPoint = leo
	marker := strconv.AppendInt(nil, cleanShutdownVersion, 10)
	if err := writeCheckpoint(l.dir, cleanShutdownFile, append(marker, '\n')); err != nil {
		return l.fail(err)
	}
	return nil
}

// Delete closes the log and removes its directory, for topic deletion.
func (l *Log) Delete() error {
	cerr := l.Close()
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("storage: delete %s: %w", l.dir, err)
	}
	if cerr != nil && !errors.Is(cerr, ErrLogFailed) {
		return cerr
	}
	return nil
}

// SetConfig replaces the configuration; it applies from the next call
// that consults it. An invalid configuration is rejected and the old one
// kept.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.cfg.Store(&cfg)
	return nil
}

// Config returns the configuration in force.
func (l *Log) Config() Config { return *l.cfg.Load() }

// Dir returns the partition directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset that may be read.
func (l *Log) LogStartOffset() int64 { return l.logStartOffset.Load() }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.logEndOffset.Load() }

// DurableEndOffset is the offset below which every record is fsynced
// (at most LogEndOffset). A replica counts only this much of its log when
// it reports its log end for the high watermark.
func (l *Log) DurableEndOffset() int64 { return min(l.syncedEnd.Load(), l.logEndOffset.Load()) }

// Size returns the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.sizeBytes
}

// NumSegments returns the number of segments, the active one included.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segments)
}

// LeaderEpochs returns a copy of the leader-epoch cache, oldest first.
func (l *Log) LeaderEpochs() []EpochEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]EpochEntry(nil), l.mu.epochs.entries...)
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch (KIP-101, KIP-279): the
// largest known epoch <= epoch and the offset where it ended (the start
// offset of the next epoch, or the LogEndOffset for the latest epoch). It
// returns (UndefinedEpoch, UndefinedEpochOffset) when epoch is newer than
// every known epoch or none is known, and (epoch, start of the first
// epoch) when epoch is older than all of them.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.epochs.endOffsetFor(epoch, l.logEndOffset.Load())
}

// MaxTimestamp returns the largest batch maxTimestamp in the log and the
// base offset of the first batch that carries it (ListOffsets with
// timestamp -3 reports the record; the broker refines inside that batch
// with ReadBatchAt). It returns (-1, -1) for a log without timestamps.
func (l *Log) MaxTimestamp() (ts int64, offset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ts, offset = -1, -1
	for _, s := range l.mu.segments {
		if s.size > 0 && s.maxTimestamp > ts {
			ts, offset = s.maxTimestamp, s.offsetOfMaxTimestamp
		}
	}
	return ts, offset
}

// unflushedLimit reports whether flush.messages calls for an fsync.
func unflushedLimit(cfg *Config, leo, synced int64) bool {
	return cfg.FlushMessages != math.MaxInt64 && leo-synced >= cfg.FlushMessages
}
