package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skein-streaming/skein/protocol/records"
)

// ErrCompactionAborted is returned by Compact when the log changed under
// the pass in a way that makes its output stale (a truncation, or
// retention or DeleteRecords removing a segment being cleaned), or when
// the log was closed meanwhile. Nothing was lost; the next pass starts
// over from the cleaner checkpoint.
var ErrCompactionAborted = errors.New("storage: compaction aborted")

const (
	// cleanerCheckpointFile holds the first dirty offset: "0\n<offset>\n".
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
	// mapEntryOverheadBytes is what the offset map charges per key on top
	// of the key's length: the string header, the offset and the Go map's
	// per-entry share.
	mapEntryOverheadBytes = 48
)

// cleanerState is the compaction state a Log keeps.
type cleanerState struct {
	// mu serialises Compact. It comes first in the lock order (before
	// syncMu); Close takes it, after marking the log closed, to wait for
	// a running pass.
	mu sync.Mutex
	// firstDirty is the cleaner checkpoint: every offset below it has
	// been through a pass. It is loaded by Open.
	firstDirty atomic.Int64
	// truncations counts Truncate calls that cut the log, so that a pass
	// does not advance the checkpoint over a truncation it did not see.
	truncations atomic.Int64
	// crashAt, if set, is asked at each step of a swap whether to stop
	// there as a crash would, leaving the files as they are. Tests only.
	crashAt func(step string) bool
}

// waitForCompaction returns once no Compact is running. Close calls it
// after setting closed, which makes a running pass stop early.
func (l *Log) waitForCompaction() {
	l.cleaner.mu.Lock()
	l.cleaner.mu.Unlock() //nolint:staticcheck // an empty critical section is the barrier
}

// Cleanability is what a log reports to the cleaner's scheduler.
type Cleanability struct {
	// FirstDirtyOffset is where the dirty section starts and
	// FirstUncleanableOffset where cleaning must stop: the base offset of
	// the active segment, of the first segment at or above the upper
	// bound, of the first segment younger than min.compaction.lag.ms, or
	// of the first segment not yet fsynced, whichever is lowest.
	FirstDirtyOffset       int64
	FirstUncleanableOffset int64
	// CleanBytes and DirtyBytes are the sizes of the segments below the
	// first uncleanable offset that hold no dirty record, and of those
	// that do.
	CleanBytes int64
	DirtyBytes int64
	// DirtyRatio is DirtyBytes / (CleanBytes + DirtyBytes), 0 when both
	// are 0.
	DirtyRatio float64
	// MaxLagExceeded reports a dirty batch older than
	// max.compaction.lag.ms.
	MaxLagExceeded bool
	// Cleanable reports whether Compact would clean: the log is
	// compacted, has dirty bytes, and either DirtyRatio exceeds
	// min.cleanable.dirty.ratio or MaxLagExceeded.
	Cleanable bool
}

// CompactStats describes one Compact pass.
type CompactStats struct {
	// FirstDirtyOffset is where the pass's dirty section began and
	// EndOffset where its offset map ended: the new cleaner checkpoint.
	// Both are -1 when the pass did nothing.
	FirstDirtyOffset int64
	EndOffset        int64
	// MapKeys is the number of distinct keys in the offset map.
	MapKeys int
	// SegmentsRead and SegmentsWritten count the source segments of the
	// swapped groups and the segments that replaced them.
	SegmentsRead    int
	SegmentsWritten int
	// BytesRead and BytesWritten count batch bytes of the rewritten
	// segments, before and after.
	BytesRead    int64
	BytesWritten int64
	// RecordsRead counts the records of the rewritten segments;
	// RecordsRemoved those removed because a newer record has their key,
	// TombstonesRemoved expired tombstones and KeylessRemoved records
	// without a key.
	RecordsRead       int64
	RecordsRemoved    int64
	TombstonesRemoved int64
	KeylessRemoved    int64
	// UnparsedBatches counts batches kept as they were because their
	// records could not be decompressed or parsed.
	UnparsedBatches int
}

// Cleaner holds the buffers of one cleaner thread. It may be used for
// many logs, one Compact at a time; it is not safe for concurrent use.
type Cleaner struct {
	cfg     CleanerConfig
	offsets map[string]int64
	// mapBytes is the memory charged to offsets.
	mapBytes int64
	scratch  records.Scratch
	reader   *bufio.Reader
	writer   *bufio.Writer
	// batch holds the batch (or frame) being read, body the re-encoded
	// records, out the rebuilt batch and frame the frame being written
	// to an encrypted segment.
	batch, body, out, frame []byte
	// pending holds one batch's keys until the whole batch has parsed.
	pending     []pendingKey
	keptOffsets []int64

	// The fields below are the state of the record filter for the batch
	// being rewritten; filterFn is bound once so that no closure is
	// allocated per batch.
	filterFn       func(records.RecordView) error
	mapFn          func(records.RecordView) error
	dropTombstones bool
	kept, total    int
	keptMaxTs      int64
	batchStats     CompactStats
}

type pendingKey struct {
	start, end int // into Cleaner.body, which map building uses as a key arena
	offset     int64
}

// NewCleaner returns a Cleaner; zero fields of cfg take their defaults.
func NewCleaner(cfg CleanerConfig) *Cleaner {
	def := DefaultCleanerConfig()
	if cfg.DedupeBufferBytes <= 0 {
		cfg.DedupeBufferBytes = def.DedupeBufferBytes
	}
	if cfg.IOBufferBytes <= 0 {
		cfg.IOBufferBytes = def.IOBufferBytes
	}
	if cfg.MaxDecompressedBytes <= 0 {
		cfg.MaxDecompressedBytes = def.MaxDecompressedBytes
	}
	c := &Cleaner{cfg: cfg, offsets: map[string]int64{}}
	c.scratch.MaxDecompressedBytes = cfg.MaxDecompressedBytes
	c.reader = bufio.NewReaderSize(nil, cfg.IOBufferBytes)
	c.writer = bufio.NewWriterSize(nil, cfg.IOBufferBytes)
	c.filterFn = c.filterRecord
	c.mapFn = c.mapRecord
	return c
}

// cleanSource is a snapshot of one sealed segment taken under mu. The
// swap compares it with the live segment to detect a concurrent change.
type cleanSource struct {
	seg        *segment
	file       *os.File
	crypt      *segmentCipher
	base, next int64
	size       int64
	largestTs  int64
	modTs      int64
	// indexEntries and timeEntries size the segment's indexes, for
	// grouping.
	indexEntries, timeEntries int
	// dirtyPos is where the map pass starts reading: the indexed position
	// at or before the first dirty offset.
	dirtyPos int64
}

// cleanPlan is what one pass works on.
type cleanPlan struct {
	Cleanability
	nowMs int64
	// truncations is cleaner.truncations when the pass began: a group is
	// not swapped in after a truncation, since the offset map may hold
	// offsets the truncation removed, which must not be the reason an
	// older record goes.
	truncations int64
	// sources are the cleanable segments, oldest first; all lie below
	// FirstUncleanableOffset.
	sources []cleanSource
}

// Cleanable reports the log's dirty ratio and whether Compact would
// clean it now. upperBound is the exclusive offset that cleaning must not
// reach: the partition's last stable offset (the high watermark until
// transactions exist); math.MaxInt64 means none. The broker's cleaner
// calls it for every compacted log and cleans the one with the highest
// DirtyRatio among the cleanable ones, as Kafka's LogCleanerManager does.
func (l *Log) Cleanable(upperBound int64) (Cleanability, error) {
	p, err := l.planCompaction(upperBound)
	return p.Cleanability, err
}

// planCompaction snapshots the segment list and decides what a pass may
// clean.
func (l *Log) planCompaction(upperBound int64) (cleanPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if err := l.usable(); err != nil {
		return cleanPlan{}, err
	}
	cfg := l.cfg.Load()
	p := cleanPlan{nowMs: l.nowMs()}
	segs := l.mu.segments
	active := segs[len(segs)-1]
	lso, leo := l.logStartOffset.Load(), l.logEndOffset.Load()
	fd := l.cleaner.firstDirty.Load()
	if fd > leo {
		// The log was truncated below the checkpoint; start over.
		fd = lso
	}
	fd = max(fd, lso, segs[0].baseOffset)
	p.FirstDirtyOffset = fd
	limit := min(upperBound, active.baseOffset)
	p.FirstUncleanableOffset = active.baseOffset
	lagCut := p.nowMs - cfg.MinCompactionLag.Milliseconds()
	for _, s := range segs[:len(segs)-1] {
		tooYoung := cfg.MinCompactionLag > 0 && s.size > 0 && s.largestTimestamp() > lagCut
		if s.writable || s.nextOffset > limit || tooYoung {
			p.FirstUncleanableOffset = s.baseOffset
			break
		}
		src := cleanSource{
			seg: s, file: s.file, crypt: s.crypt, base: s.baseOffset, next: s.nextOffset, size: s.size,
			largestTs: s.largestTimestamp(), modTs: s.modTimestamp,
			indexEntries: len(s.offsetIndex), timeEntries: len(s.timeIndex),
		}
		if s.nextOffset <= fd {
			p.CleanBytes += s.size
		} else {
			p.DirtyBytes += s.size
			if rel := fd - s.baseOffset; rel > 0 {
				e, ok := lookupOffset(s.offsetIndex, uint32(min(rel, math.MaxUint32)))
				if ok {
					src.dirtyPos = int64(e.position)
				}
			}
			if s.size > 0 && !p.MaxLagExceeded {
				exceeded, err := s.firstBatchOlderThan(p.nowMs - cfg.MaxCompactionLag.Milliseconds())
				if err != nil {
					return p, err
				}
				p.MaxLagExceeded = exceeded
			}
		}
		p.sources = append(p.sources, src)
	}
	if total := p.CleanBytes + p.DirtyBytes; total > 0 {
		p.DirtyRatio = float64(p.DirtyBytes) / float64(total)
	}
	p.Cleanable = cfg.Compact && p.DirtyBytes > 0 &&
		(p.DirtyRatio > cfg.MinCleanableDirtyRatio || p.MaxLagExceeded)
	return p, nil
}

// firstBatchOlderThan reports whether the segment's first batch has a
// maxTimestamp below cutMs (Kafka's LogSegment.getFirstBatchTimestamp).
// The caller holds mu.
func (s *segment) firstBatchOlderThan(cutMs int64) (bool, error) {
	var hdr [batchPeekBytes]byte
	if _, err := s.file.ReadAt(hdr[:], 0); err != nil {
		return false, fmt.Errorf("segment %d: read first header: %w", s.baseOffset, err)
	}
	ts := batchMaxTimestamp(hdr[:])
	return ts >= 0 && ts < cutMs, nil
}

// Compact runs one pass of Kafka's log cleaner over the log if Cleanable
// says so, and otherwise returns zero stats (with offsets -1). upperBound
// is as for Cleanable. The pass builds an offset map (key → latest
// offset) over the dirty section, rewrites the segments below the map's
// end in groups, keeping per key only the newest record, and swaps each
// group in as doc.go describes. Reads, appends and fsyncs go on meanwhile;
// only the swap of each group holds syncMu, and the final exchange of
// segments appendMu and mu, briefly.
//
// An error wrapping ErrCompactionAborted means nothing is wrong but the
// pass was abandoned; an error for which IsCorruption is true means a
// source batch failed its CRC; an error wrapping ErrLogFailed means a
// swap failed after its commit point and the log went offline (reopening
// the directory completes the swap). Other errors leave the log as it
// was.
func (l *Log) Compact(upperBound int64, c *Cleaner) (CompactStats, error) {
	l.cleaner.mu.Lock()
	defer l.cleaner.mu.Unlock()
	st := CompactStats{FirstDirtyOffset: -1, EndOffset: -1}
	truncations := l.cleaner.truncations.Load()
	p, err := l.planCompaction(upperBound)
	if err != nil || !p.Cleanable {
		return st, err
	}
	p.truncations = truncations
	cfg := l.cfg.Load()
	start := time.Now()
	defer c.resetMap()
	end, err := c.buildOffsetMap(l, &p)
	if err != nil {
		return st, err
	}
	st.FirstDirtyOffset, st.MapKeys = p.FirstDirtyOffset, len(c.offsets)
	var rewrite []cleanSource
	for _, s := range p.sources {
		if s.base < end {
			rewrite = append(rewrite, s)
		}
	}
	for _, g := range groupBySize(rewrite, cfg) {
		if err := l.cleanGroup(c, g, &p, end, cfg, &st); err != nil {
			return st, err
		}
	}
	if err := l.advanceCleanerCheckpoint(end, truncations); err != nil {
		return st, err
	}
	st.EndOffset = end
	l.logger.Info("log cleaned", "first_dirty_offset", p.FirstDirtyOffset, "end_offset", end,
		"dirty_ratio", p.DirtyRatio, "map_keys", st.MapKeys, "segments_read", st.SegmentsRead,
		"segments_written", st.SegmentsWritten, "bytes_read", st.BytesRead, "bytes_written", st.BytesWritten,
		"records_removed", st.RecordsRemoved, "tombstones_removed", st.TombstonesRemoved,
		"keyless_removed", st.KeylessRemoved, "unparsed_batches", st.UnparsedBatches,
		"duration", time.Since(start))
	return st, nil
}

// abortIfClosed lets a running pass notice Close.
func (l *Log) abortIfClosed() error {
	if l.closed.Load() {
		return fmt.Errorf("%w: log closed", ErrCompactionAborted)
	}
	return nil
}

func (c *Cleaner) resetMap() {
	clear(c.offsets)
	c.mapBytes = 0
	if cap(c.body) > scratchKeepBytes {
		c.body = nil
	}
	if cap(c.out) > scratchKeepBytes {
		c.out = nil
	}
	if cap(c.batch) > scratchKeepBytes {
		c.batch = nil
	}
	if cap(c.frame) > scratchKeepBytes {
		c.frame = nil
	}
}

// scratchKeepBytes is the largest buffer a Cleaner keeps between passes.
const scratchKeepBytes = 8 << 20

// buildOffsetMap maps every key of the dirty section to its latest
// offset and returns the exclusive end of the mapped section: a batch
// boundary, FirstUncleanableOffset unless the map filled up first.
// Control batches and transactional batches are not mapped: control
// records carry no data, and whether a transaction committed is not
// known here, so its records must not be the reason an older record goes
// (the transaction coordinator's aborted-transaction index is where that
// knowledge will come from; records of committed transactions will then
// be mapped like any other, and records of aborted ones removed).
func (c *Cleaner) buildOffsetMap(l *Log, p *cleanPlan) (int64, error) {
	mapped := false
	for i := range p.sources {
		s := &p.sources[i]
		if s.next <= p.FirstDirtyOffset || s.size == 0 {
			continue
		}
		f, err := os.Open(s.seg.logPath())
		if err != nil {
			return 0, fmt.Errorf("%w: segment %d: %v", ErrCompactionAborted, s.base, err)
		}
		end, full, err := c.mapSegment(l, f, s, p.FirstDirtyOffset, &mapped)
		f.Close()
		if err != nil {
			return 0, err
		}
		if full {
			return end, nil
		}
	}
	return p.FirstUncleanableOffset, nil
}

// mapSegment adds one segment's dirty records to the map. full reports
// that the map reached its budget before the batch starting at end.
func (c *Cleaner) mapSegment(l *Log, f *os.File, s *cleanSource, firstDirty int64, mapped *bool) (end int64, full bool, err error) {
	br := c.batches(f, s, s.dirtyPos)
	for {
		b, err := br.next()
		if err != nil || b == nil {
			return 0, false, err
		}
		if err := l.abortIfClosed(); err != nil {
			return 0, false, err
		}
		last := batchBaseOffset(b) + int64(batchLastOffsetDelta(b))
		if last < firstDirty {
			continue
		}
		if *mapped && c.mapBytes >= c.cfg.DedupeBufferBytes {
			return batchBaseOffset(b), true, nil
		}
		*mapped = true
		attrs := binary.BigEndian.Uint16(b[batchAttributesAt:])
		if attrs&(attrTransactional|attrControl) != 0 {
			continue
		}
		c.mapBatch(b, firstDirty)
	}
}

// mapBatch puts the keyed records of one batch at or above firstDirty in
// the map, all or none: a batch whose records do not parse maps nothing.
func (c *Cleaner) mapBatch(b []byte, firstDirty int64) {
	c.pending, c.body = c.pending[:0], c.body[:0]
	if err := records.ForEachRecord(b, &c.scratch, c.mapFn); err != nil {
		return
	}
	for _, k := range c.pending {
		if k.offset < firstDirty {
			continue
		}
		key := c.body[k.start:k.end]
		if old, ok := c.offsets[string(key)]; ok {
			if k.offset > old {
				c.offsets[string(key)] = k.offset
			}
			continue
		}
		c.offsets[string(key)] = k.offset
		c.mapBytes += int64(len(key)) + mapEntryOverheadBytes
	}
}

// mapRecord collects one record's key; the record view is only valid
// during the call, so the key is copied into the arena.
func (c *Cleaner) mapRecord(r records.RecordView) error {
	if r.Key == nil {
		return nil
	}
	start := len(c.body)
	c.body = append(c.body, r.Key...)
	c.pending = append(c.pending, pendingKey{start: start, end: len(c.body), offset: r.Offset})
	return nil
}

// Attribute bits of a v2 batch that compaction reads.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// batchReader walks the batches of one source segment, verifying each
// one's header and CRC (in an encrypted segment, each frame's header and
// authentication).
type batchReader struct {
	c        *Cleaner
	seg      int64
	crypt    *segmentCipher
	pos, end int64
}

// batches starts a walk of s at pos.
func (c *Cleaner) batches(f *os.File, s *cleanSource, pos int64) *batchReader {
	c.reader.Reset(io.NewSectionReader(f, pos, s.size-pos))
	return &batchReader{c: c, seg: s.base, crypt: s.crypt, pos: pos, end: s.size}
}

// next returns the next batch, valid until the following call, or nil
// at the end of the segment.
func (br *batchReader) next() ([]byte, error) {
	if br.pos >= br.end {
		return nil, nil
	}
	if br.crypt != nil {
		return br.nextFrame()
	}
	c := br.c
	c.batch = grow(c.batch, batchHeaderBytes)
	if _, err := io.ReadFull(c.reader, c.batch); err != nil {
		return nil, fmt.Errorf("%w: segment %d: read at %d: %v", ErrCompactionAborted, br.seg, br.pos, err)
	}
	if err := checkBatchHeader(c.batch, br.end-br.pos); err != nil {
		return nil, corruptionf("segment %d: batch at %d: %v", br.seg, br.pos, err)
	}
	size := batchSize(c.batch)
	if int64(cap(c.batch)) < size {
		nb := make([]byte, size)
		copy(nb, c.batch)
		c.batch = nb
	}
	c.batch = c.batch[:size]
	if _, err := io.ReadFull(c.reader, c.batch[batchHeaderBytes:]); err != nil {
		return nil, fmt.Errorf("%w: segment %d: read at %d: %v", ErrCompactionAborted, br.seg, br.pos, err)
	}
	want := binary.BigEndian.Uint32(c.batch[batchCRCAt:])
	if got := crc32.Checksum(c.batch[batchAttributesAt:], castagnoli); got != want {
		return nil, corruptionf("segment %d: batch at %d: crc %#08x, header says %#08x", br.seg, br.pos, got, want)
	}
	br.pos += size
	return c.batch, nil
}

// nextFrame is next for an encrypted segment: it reads, checks and
// decrypts one frame and returns its batch.
func (br *batchReader) nextFrame() ([]byte, error) {
	c := br.c
	c.batch = grow(c.batch, batchPeekBytes)
	if _, err := io.ReadFull(c.reader, c.batch); err != nil {
		return nil, fmt.Errorf("%w: segment %d: read at %d: %v", ErrCompactionAborted, br.seg, br.pos, err)
	}
	if err := checkFrameHeader(c.batch, br.end-br.pos); err != nil {
		return nil, corruptionf("segment %d: frame at %d: %v", br.seg, br.pos, err)
	}
	size := batchSize(c.batch)
	if int64(cap(c.batch)) < size {
		nb := make([]byte, size)
		copy(nb, c.batch)
		c.batch = nb
	}
	f := c.batch[:size]
	if _, err := io.ReadFull(c.reader, f[batchPeekBytes:]); err != nil {
		return nil, fmt.Errorf("%w: segment %d: read at %d: %v", ErrCompactionAborted, br.seg, br.pos, err)
	}
	if err := checkFrame(f, br.seg, br.pos); err != nil {
		return nil, corruptionf("segment %d: frame at %d: %v", br.seg, br.pos, err)
	}
	if !br.crypt.owns(f) {
		return nil, corruptionf("segment %d: frame at %d is not under the segment's data key (key %q)", br.seg, br.pos, br.crypt.keyID)
	}
	b, err := br.crypt.open(f)
	if err != nil {
		return nil, corruptionf("segment %d: frame at %d: %v", br.seg, br.pos, err)
	}
	br.pos += size
	return b, nil
}

// groupBySize splits the segments to rewrite into runs that each become
// one segment, as Kafka's LogCleaner.groupSegmentsBySize does: a run's
// combined size stays within segment.bytes, its index entries within
// segment.index.bytes, and its offsets within a uint32 of its base.
func groupBySize(segs []cleanSource, cfg *Config) [][]cleanSource {
	var groups [][]cleanSource
	for len(segs) > 0 {
		n := 1
		size, idx, tix := segs[0].size, segs[0].indexEntries, segs[0].timeEntries
		for n < len(segs) {
			s := segs[n]
			if size+s.size > cfg.SegmentBytes || idx+s.indexEntries > cfg.maxOffsetEntries() ||
				tix+s.timeEntries > cfg.maxTimeEntries() || s.next-1-segs[0].base > math.MaxInt32 {
				break
			}
			size, idx, tix = size+s.size, idx+s.indexEntries, tix+s.timeEntries
			n++
		}
		groups = append(groups, segs[:n])
		segs = segs[n:]
	}
	return groups
}

// advanceCleanerCheckpoint records the end of a completed pass, unless
// the log was truncated since the pass began: records appended again
// after a truncation must not count as clean before a pass has mapped
// them.
func (l *Log) advanceCleanerCheckpoint(end, truncations int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.cleaner.truncations.Load() != truncations {
		return fmt.Errorf("%w: the log was truncated during the pass", ErrCompactionAborted)
	}
	if err := writeCheckpoint(l.dir, cleanerCheckpointFile, encodeOffsetCheckpoint(end)); err != nil {
		return fmt.Errorf("storage: compact: write %s: %w", cleanerCheckpointFile, err)
	}
	l.cleaner.firstDirty.Store(end)
	return nil
}

// truncateCleanerCheckpoint lowers the cleaner checkpoint, durably, to a
// truncation point below it (Kafka's maybeTruncateCheckpoint). Otherwise
// records appended again after the truncation would count as clean and
// never be mapped, and a tombstone among them could expire while the
// value it deleted stayed. Truncate calls it, holding syncMu, before it
// cuts the log.
func (l *Log) truncateCleanerCheckpoint(offset int64) error {
	l.cleaner.truncations.Add(1)
	if l.cleaner.firstDirty.Load() <= offset {
		return nil
	}
	if err := writeCheckpoint(l.dir, cleanerCheckpointFile, encodeOffsetCheckpoint(offset)); err != nil {
		return l.fail(fmt.Errorf("write %s: %w", cleanerCheckpointFile, err))
	}
	l.cleaner.firstDirty.Store(offset)
	return nil
}

// readCleanerCheckpoint loads the first dirty offset. A missing or
// unreadable checkpoint only costs work: the next pass treats the whole
// log as dirty.
func (l *Log) readCleanerCheckpoint() {
	off, found, err := readOffsetCheckpoint(l.dir, cleanerCheckpointFile)
	if err != nil {
		l.logger.Warn("unreadable cleaner checkpoint, the whole log counts as dirty", "err", err)
	}
	if err != nil || !found {
		off = 0
	}
	l.cleaner.firstDirty.Store(off)
}
