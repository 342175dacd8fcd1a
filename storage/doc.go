// Package storage is Skein's per-partition log: Kafka's log layer. A Log
// owns one directory ("<topic>-<partition>", named by the broker) holding
// a sequence of segments, each a .log file of record batches plus two
// sparse indexes, and a few checkpoint files.
//
// Storage keeps record batches exactly as the broker validated them; it
// never decompresses. It reads the v2 batch header itself, because the
// header is the on-disk format. It assigns offsets (Append) or keeps them
// (AppendWithOffsets), and serves reads, timestamp lookups, leader-epoch
// lookups, retention, truncation (Truncate, and TruncateFullyAndStartAt
// for a follower whose leader's log starts past its end) and
// DeleteRecords. The high watermark is replication state and belongs to
// the broker's partition; it reaches storage only as Read's maxOffset.
// DurableEndOffset tells the broker how much of the log is fsynced, the
// part a replica counts for the high watermark.
//
// # Format version
//
// FormatVersion names the layout below. It must never change meaning: a
// change to any byte layout needs a new version and a reader for the old
// one. Checkpoint files carry it on their first line. Encrypted segments
// (see "Encryption at rest") are told apart by the magic of their first
// header; they add a layout without changing any of the others, and a
// log without them is byte for byte what it was before they existed.
//
// # Record batch (magic 2), as stored in .log files
//
// All integers are big endian. Storage reads the fields marked *.
//
//	offset  size  field
//	0       8     baseOffset *            (written by Append; not covered by crc)
//	8       4     batchLength *           (bytes after this field; batch size = 12 + batchLength)
//	12      4     partitionLeaderEpoch *  (leader-epoch cache)
//	16      1     magic *                 (must be 2)
//	17      4     crc *                   (CRC32C, Castagnoli, over bytes 21..end)
//	21      2     attributes              (bits 0-2 compression, 3 LogAppendTime, 4 transactional, 5 control)
//	23      4     lastOffsetDelta *
//	27      8     baseTimestamp
//	35      8     maxTimestamp *          (time index, retention, segment.ms)
//	43      8     producerId
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61      ...   records
//
// # Segment files
//
// A segment is named by its base offset, 20 decimal digits, zero padded
// (00000000000000000000.log). Its .log file is a concatenation of whole
// batches; the first starts at byte 0. Within a segment, batch offsets
// increase strictly (each batch's baseOffset is greater than the previous
// batch's last offset; gaps are allowed) and every offset o satisfies
// o - baseOffset <= math.MaxInt32, so relative offsets fit a uint32. The
// file is at most segment.bytes long unless one append alone was larger.
//
// The offset index (.index) is a sequence of 8-byte entries, one per
// index.interval.bytes of batches, following Kafka:
//
//	offset  size  field
//	0       4     relative offset of a batch's baseOffset (uint32)
//	4       4     position of that batch in the .log file (uint32)
//
// Both fields increase strictly. The first batch (position 0) is implied
// and usually has no entry.
//
// The time index (.timeindex) is a sequence of 12-byte entries:
//
//	offset  size  field
//	0       8     timestamp (int64, ms): the largest batch maxTimestamp so far
//	8       4     relative offset (uint32) of the first batch with that timestamp
//
// Timestamps increase strictly and relative offsets do not decrease. Every
// batch at or before an entry's offset has maxTimestamp <= its timestamp,
// so a search for timestamp ts may start at the last entry below ts. An
// entry is added along with each offset index entry if the maximum grew,
// and a final one when the segment is sealed or the log closed.
//
// Both indexes live in memory for lookups (8 and 12 bytes per entry: about
// 2 MiB and 3 MiB for a full 1 GiB segment at the default interval). The
// files are written whole, from memory, when a segment is sealed (rolled)
// and when the log is closed; the active segment's files are stale in
// between, which is why recovery always scans the active segment. Each
// segment keeps one file descriptor open for its lifetime (the .log; index
// files are opened only to be written or fsynced), so a broker needs about
// one descriptor per segment across all partitions. A sealed segment's
// .log is reopened read-only once it has been fsynced.
//
// # Checkpoint files
//
// Each is written to "<name>.tmp", fsynced, renamed over "<name>" and the
// directory fsynced, so a crash leaves the old or the new content. Text,
// lines ending in '\n', first line the FormatVersion ("0"):
//
//	recovery-point-offset-checkpoint  "0\n<offset>\n"  every offset below is fsynced, and so are the
//	                                                  index files of every segment wholly below it
//	log-start-offset-checkpoint       "0\n<offset>\n"  the LogStartOffset (DeleteRecords, retention)
//	leader-epoch-checkpoint           "0\n<n>\n" then n lines "<epoch> <startOffset>\n",
//	                                  epochs and start offsets increasing (Kafka's format)
//	clean-shutdown                    "0\n"; present only between a successful Close and the next Open
//
// A log-start-offset or leader-epoch checkpoint that does not parse fails
// Open with an error for which IsCorruption is true: guessing could expose
// deleted records or answer epoch queries wrongly. An unreadable recovery
// point only makes recovery scan every segment.
//
// # Durability
//
// Append writes to the page cache with one write call. SyncTo(o) returns
// only after an fsync (fdatasync on Linux) that began after offset o was
// written; concurrent callers share one fsync. An fsync round covers the
// active segment, every sealed segment not yet fsynced (with its index
// files) and, when a segment file was created since the last round, the
// directory. A failed write or fsync fails the Log permanently
// (ErrLogFailed): the page cache may have dropped the data, and a retried
// fsync can succeed without having written it. Reopening the directory
// recovers from what is on disk.
//
// The leader-epoch checkpoint is written durably before the first batch
// of a new epoch; the log-start-offset checkpoint before segments are
// deleted; a lowered recovery point before a truncation.
//
// # Recovery (Open)
//
// Open removes leftovers: *.deleted and *.tmp files and index files
// without a .log. Then:
//
//   - With the clean-shutdown marker present, every segment's index files
//     are trusted: they are decoded and checked (entry sizes, order,
//     positions inside the file), and the batch headers after the last
//     offset index entry are walked to find the end of the segment. No
//     CRC is verified. The marker is then removed, durably.
//   - Without it, the segment holding the recovery point and every later
//     one (always at least the active segment) is scanned from byte 0:
//     each batch's length, magic, offset order and CRC32C are verified and
//     the indexes and the leader-epoch cache are rebuilt. Earlier segments
//     are treated as in a clean start.
//   - A segment whose index files fail their checks is scanned as well.
//   - The first invalid batch ends the log: its segment is truncated at
//     that batch and all later segments are removed, with counts logged at
//     WARN. Since Append verifies every CRC before writing, an invalid
//     batch can only be a torn write or damage on disk.
//   - Scanned data is fsynced and the index files of scanned sealed
//     segments written and fsynced before the recovery point is set to the
//     LogEndOffset: after a process crash the page cache may still hold
//     data that was never fsynced.
//   - LogStartOffset is the larger of the checkpoint and the first
//     segment's base offset; if it exceeds the recovered LogEndOffset the
//     log restarts, empty, at it. The leader-epoch cache is trimmed to
//     [LogStartOffset, LogEndOffset).
//
// # Concurrency
//
// Lock order: Log.cleaner.mu, then Log.syncMu, then Log.appendMu, then
// Log.mu (cleaner.mu: see Compaction below).
//
//   - mu (RWMutex) guards the segment list and every segment's in-memory
//     state; readers (Read, OffsetForTimestamp, ...) hold it shared for
//     the whole read, so a segment cannot be closed under them. Writers of
//     that state hold appendMu too, so appendMu alone suffices to read it.
//   - appendMu serialises appends; the write call runs under appendMu
//     only, and the new batches are published under mu afterwards.
//   - syncMu serialises fsync rounds and everything that removes data:
//     Truncate, TruncateFullyAndStartAt, DeleteRecordsBefore,
//     EnforceRetention, Close. No fsync
//     ever runs under mu, so reads never wait for one.
//
// After a roll, one background goroutine fsyncs the sealed segment (as
// Kafka's flush after roll), so that the recovery point advances; Close
// waits for it. It is the only goroutine a Log starts.
//
// # Deleting segments
//
// Retention, DeleteRecordsBefore and Truncate remove segments from the
// list, close them, and rename their files with the ".deleted" suffix;
// MaybeFlush and EnforceRetention remove the files once
// file.delete.delay.ms has passed (measured with the injected clock), and
// Open removes any left over.
//
// # Compaction
//
// A log whose Config.Compact is set (cleanup.policy contains "compact")
// is cleaned by Compact, Kafka's log cleaner, which the broker's cleaner
// thread calls for the compacted log with the highest dirty ratio among
// those Cleanable reports. Retention.ms and retention.bytes apply to such
// a log only if Config.Delete is set too ("compact,delete"); deletion
// below the LogStartOffset always applies.
//
// The cleaner-offset-checkpoint file ("0\n<offset>\n", written like the
// other checkpoints) holds the first dirty offset: every record below it
// has been through a pass. The dirty section runs from there (at least
// the LogStartOffset; the LogStartOffset again if the checkpoint is
// beyond the LogEndOffset) to the first uncleanable offset: the base of
// the active segment, of the first segment reaching the caller's upper
// bound (the last stable offset), of the first segment whose largest
// timestamp is younger than min.compaction.lag.ms, or of the first
// segment not yet fsynced. The active segment is never cleaned. The log
// is cleanable when the dirty segments' share of the cleanable bytes
// exceeds min.cleanable.dirty.ratio, or when a dirty segment's first
// batch is older than max.compaction.lag.ms (which also caps segment.ms).
// Truncate lowers the checkpoint, durably, to a truncation point below
// it, and a pass that overlapped a truncation does not advance it:
// records appended again must be mapped before they count as clean.
//
// A pass maps every key of the dirty section to its latest offset (the
// keys themselves, not hashes, so no two keys can be confused), up to
// CleanerConfig.DedupeBufferBytes; the map's end, a batch boundary,
// becomes the new checkpoint once the pass completes. It then rewrites
// every segment below that end, from the first, in groups whose combined
// size and index entries fit segment.bytes and segment.index.bytes. A
// record stays unless
//
//   - it has no key;
//   - the map holds a larger offset for its key; or
//   - it is a tombstone (null value) outside a transactional batch and the
//     maxTimestamp of its batch (its segment's largest timestamp if the
//     batch has none) is older than delete.retention.ms. The rule is per
//     batch rather than per segment, so that grouping cannot keep
//     extending a tombstone's life. With CreateTime topics the timestamp
//     is the producer's.
//
// Records at or beyond the map's end and control batches (attribute bit
// 5) always stay. Transactional batches are not mapped: whether their
// transaction committed is not known to storage, so none of their records
// may cause an older record's removal (their tombstones therefore never
// expire), but they are themselves removed when a newer record has their
// key. Offsets never change. A batch whose records all stay is copied
// byte for byte; one whose records all go disappears; otherwise it is
// rebuilt with the original header (base offset, lastOffsetDelta,
// base timestamp, producer fields, attributes, leader epoch) and only the
// kept records, each with its original offset and timestamp deltas and
// headers, compressed again with the batch's codec, with recordCount,
// batchLength, maxTimestamp (the largest kept timestamp, unless the batch
// uses LogAppendTime) and the CRC recomputed. So offset deltas inside a
// stored batch may have gaps and recordCount may be below
// lastOffsetDelta+1, as in Kafka. Every rebuilt batch is decoded again
// before it is written. A batch whose records cannot be decompressed or
// parsed is kept as it is and maps no key. A source batch failing its
// CRC stops the pass with a corruption error.
//
// A group becomes one segment named after the group's first base offset,
// even when empty, so that the LogStartOffset never moves because of
// cleaning. Its files are written as <base>.log.cleaned,
// <base>.index.cleaned and <base>.timeindex.cleaned (indexes rebuilt over
// the new positions at index.interval.bytes, and the final time index
// entry), and fsynced. The .log keeps the latest modification time of
// its sources. Then, holding syncMu:
//
//  1. The swap is refused, and the .cleaned files removed, if any source
//     segment left the list, changed size, became writable or had its
//     file reopened (a truncation reopens the file it cuts) since the pass
//     read it, or if the log was truncated anywhere since the pass began
//     (its offset map may hold offsets the truncation removed); Compact
//     returns ErrCompactionAborted.
//  2. The manifest "cleaner-swap" ("0\n<n>\n" then the n source base
//     offsets, the first being the new segment's) is written durably. It
//     names the sources exactly; a cleaned segment's offset range does
//     not, since its last records may have gone.
//  3. The .cleaned index files, then the .log, are renamed to .swap and
//     the directory fsynced. The .log's rename is the commit point.
//  4. The sources' files are renamed with the ".deleted" suffix; the
//     directory is fsynced.
//  5. The .swap index files, then the .log, are renamed into place; the
//     directory is fsynced.
//  6. The new segment replaces its sources in the segment list under
//     appendMu and mu, so a reader sees either all the old segments or
//     the new one; the old files are closed and removed after
//     file.delete.delay.ms like those retention deletes; the manifest is
//     removed.
//
// A failure before the commit point leaves the log as it was; one after
// it fails the log (ErrLogFailed), and reopening completes the swap. Open
// first settles any swap: with a manifest whose new .log is still .swap,
// it removes the other sources' files and renames the new segment's .swap
// (or, if those renames never reached the disk, .cleaned) index files and
// then its .log into place; with a manifest whose new .log is still
// .cleaned, it removes the new segment's .cleaned and .swap files; with a
// manifest whose new .log is in place, it only finishes the index
// renames. It then removes the manifest and every remaining .cleaned
// file. A .swap file without a manifest fails Open with a corruption
// error. In every case the log recovered is the log before or after the
// group's swap, both of which hold the newest record of every key.
//
// Compact runs next to appends, reads and fsyncs; syncMu is held only for
// a group's swap (a few renames and directory fsyncs), appendMu and mu
// only for the exchange of step 6. Log.cleaner.mu serialises passes;
// Close takes it, after marking the log closed, which makes a running
// pass stop at its next batch.
//
// # Encryption at rest
//
// A Log opened with Options.Encryption may hold encrypted segments (see
// docs/encryption.md for keys, rotation and the threat model). A
// segment's .log file holds either plain batches, as above, or frames,
// never both; byte 16 of its first header tells which (magic 2 or 0xE1),
// and an empty file is neither. A frame stores one batch sealed with
// AES-256-GCM:
//
//	offset  size  field
//	0       8     baseOffset *
//	8       4     frameLength *           (bytes after this field; frame size = 12 + frameLength)
//	12      4     partitionLeaderEpoch *
//	16      1     magic *                 (0xE1)
//	17      4     headerCRC               (CRC32C of the header without this field)
//	21      1     keyIDLength n           (1..64)
//	22      1     reserved                (0)
//	23      4     lastOffsetDelta *
//	27      8     keyCheck                (HMAC-SHA256(master key, "skein-storage key check v1")[:8])
//	35      8     maxTimestamp *
//	43      8     segmentBaseOffset       (the segment the frame was written in)
//	51      4     position                (where in that segment's file)
//	55      16    salt                    (the segment's)
//	71      12    nonce                   (random)
//	83      n     keyID
//	83+n    ...   AES-256-GCM(batch), then the 16-byte tag
//
// The fields marked * sit where the v2 batch header has them, so the
// header walks above (index lookups, OffsetForTimestamp, loading a clean
// segment, truncation) read both formats alike, and index positions and
// sizes count frame bytes. The whole header is the additional
// authenticated data. Each segment has one data key, derived with
// HKDF-SHA256 from the master key named by keyID and the segment's salt
// ("skein-storage segment key v1"); every frame of a segment has the same
// keyID, keyCheck and salt. The segment's data key is chosen at its first
// append: the provider's current key with a fresh salt (or none, when new
// data is written in the clear); an append under another key than the
// active segment's rolls it first.
//
// Reads check each frame's header (CRC, segment, position, key), then
// authenticate and decrypt it in the caller's buffer and move the batch
// down behind the previous one: Data holds plain batches as always.
// maxBytes bounds the batches returned; the frames read are at most
// maxBytes, except a first frame whose batch fits maxBytes (or, with
// minOneBatch, any first frame).
//
// Recovery: a segment loaded from its index files gets its data key from
// its first frame's header. A scan verifies every frame as it verifies a
// batch's CRC: header, CRC of the header, segment and position, the
// segment's key, offset order, authentication, and that the batch inside
// matches the clear fields. The first frame failing any of these ends the
// valid prefix, as an invalid batch does (logged as a torn write for the
// last frame of the file, as corruption otherwise). A key the provider
// does not hold, or holds with another keyCheck, is not invalid data:
// Open fails with ErrKeyUnavailable and changes nothing. The header CRC
// is checked before the key is looked up, so a damaged header is never
// taken for a missing key.
//
// ReencryptSegments rewrites each sealed, fsynced segment not under the
// target key (the current key, or the clear) into a segment of the same
// base offset under it, batch by batch with a fresh salt, and swaps it in
// like a cleaned group of one segment (steps 1 to 6 above, except that a
// truncation elsewhere in the log does not matter: no offset map is
// involved), after rolling and fsyncing the active segment if its data is
// under another key. It holds Log.cleaner.mu, so it never runs beside
// Compact. Compaction writes its cleaned segments under the target key
// too.
//
// # API notes
//
// The Log is a concrete type. Beyond the design brief it adds ReadBatchAt
// (one batch, for ListOffsets refinement), Config, Dir, the UndefinedEpoch
// constants, ErrLogFailed, ErrInvalidBatch, ErrNonMonotonicOffset, and
// SetConfig returns an error so that an invalid configuration is refused
// rather than half applied. Encryption at rest adds OpenWithOptions,
// Options, Encryption, ReencryptSegments, SegmentKeys and
// ErrKeyUnavailable.
package storage

// FormatVersion is the version of the on-disk layout described above.
const FormatVersion = 0
