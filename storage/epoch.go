package storage

import (
	"bytes"
	"fmt"
	"strconv"
)

// EpochEntry records that leader epoch LeaderEpoch wrote its first batch
// at StartOffset.
type EpochEntry struct {
	LeaderEpoch int32
	StartOffset int64
}

// UndefinedEpoch and UndefinedEpochOffset are Kafka's UNDEFINED_EPOCH and
// UNDEFINED_EPOCH_OFFSET, returned by EndOffsetForEpoch when it has no
// answer.
const (
	UndefinedEpoch       int32 = -1
	UndefinedEpochOffset int64 = -1
)

// epochCache is the leader-epoch sequence of a log, ordered by both
// LeaderEpoch and StartOffset (both strictly increase).
type epochCache struct {
	entries []EpochEntry
}

// assign records epoch starting at start if epoch is higher than every
// known epoch. It reports whether the cache changed.
func (c *epochCache) assign(epoch int32, start int64) bool {
	if epoch < 0 {
		return false
	}
	if n := len(c.entries); n > 0 && epoch <= c.entries[n-1].LeaderEpoch {
		return false
	}
	c.truncateFromEnd(start)
	c.entries = append(c.entries, EpochEntry{LeaderEpoch: epoch, StartOffset: start})
	return true
}

// latest returns the newest entry, if any.
func (c *epochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// truncateFromEnd removes entries starting at or after end (the new log
// end offset after a truncation). It reports whether the cache changed.
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops entries wholly below start (the new log start
// offset). The last entry that starts at or before start survives with
// its StartOffset raised to start, as the epoch of the first remaining
// record. It reports whether the cache changed.
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= start {
		i++
	}
	if len(c.entries) == 0 || c.entries[i].StartOffset >= start {
		return false
	}
	c.entries = append(c.entries[:0], c.entries[i:]...)
	c.entries[0].StartOffset = start
	return true
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka does: for the latest
// epoch it is the log end offset; for an older epoch it is the start
// offset of the next higher epoch, paired with the largest known epoch <=
// the requested one (or the requested epoch itself if it is older than
// every entry); for an epoch newer than all entries, or with no entries,
// it is (UndefinedEpoch, UndefinedEpochOffset).
func (c *epochCache) endOffsetFor(epoch int32, logEndOffset int64) (int32, int64) {
	last, ok := c.latest()
	if !ok || epoch == UndefinedEpoch || epoch > last.LeaderEpoch {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if epoch == last.LeaderEpoch {
		return epoch, logEndOffset
	}
	// The first entry with a higher epoch exists because epoch < last.
	hi := 0
	for c.entries[hi].LeaderEpoch <= epoch {
		hi++
	}
	if hi == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[hi-1].LeaderEpoch, c.entries[hi].StartOffset
}

// encode renders the checkpoint: "0\n<count>\n" then "<epoch> <offset>\n"
// per entry, as Kafka's leader-epoch-checkpoint.
func (c *epochCache) encode() []byte {
	b := fmt.Appendf(nil, "%d\n%d\n", checkpointVersion, len(c.entries))
	for _, e := range c.entries {
		b = fmt.Appendf(b, "%d %d\n", e.LeaderEpoch, e.StartOffset)
	}
	return b
}

// decodeEpochLines parses the lines after the version line.
func decodeEpochLines(lines [][]byte) ([]EpochEntry, error) {
	if len(lines) == 0 {
		return nil, corruptionf("%s: missing entry count", leaderEpochFile)
	}
	n, err := strconv.Atoi(string(lines[0]))
	if err != nil || n != len(lines)-1 {
		return nil, corruptionf("%s: entry count %q, found %d entries", leaderEpochFile, lines[0], len(lines)-1)
	}
	entries := make([]EpochEntry, 0, n)
	for _, line := range lines[1:] {
		epochText, offText, ok := bytes.Cut(line, []byte{' '})
		epoch, err1 := strconv.ParseInt(string(epochText), 10, 32)
		off, err2 := strconv.ParseInt(string(offText), 10, 64)
		if !ok || err1 != nil || err2 != nil || epoch < 0 || off < 0 {
			return nil, corruptionf("%s: bad entry %q", leaderEpochFile, line)
		}
		e := EpochEntry{LeaderEpoch: int32(epoch), StartOffset: off}
		if k := len(entries); k > 0 && (e.LeaderEpoch <= entries[k-1].LeaderEpoch || e.StartOffset < entries[k-1].StartOffset) {
			return nil, corruptionf("%s: entry %q out of order", leaderEpochFile, line)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// AssignLeaderEpoch records that leader epoch epoch starts at the current
// LogEndOffset, as a replica that becomes the partition leader does before
// it appends anything (Kafka's maybeAssignEpochStartOffset), and persists
// the leader-epoch checkpoint. OffsetForLeaderEpoch then answers for the
// new epoch at once, even before its first batch. An epoch that is not
// newer than every known epoch changes nothing. An entry assigned this way
// with no batch after it is dropped by recovery, like an entry beyond the
// log end; the leader assigns it again when it takes over.
func (l *Log) AssignLeaderEpoch(epoch int32) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	l.mu.RLock()
	next := epochCache{entries: append([]EpochEntry(nil), l.mu.epochs.entries...)}
	l.mu.RUnlock()
	if !next.assign(epoch, l.logEndOffset.Load()) {
		return nil
	}
	if err := writeCheckpoint(l.dir, leaderEpochFile, next.encode()); err != nil {
		return l.fail(fmt.Errorf("write %s: %w", leaderEpochFile, err))
	}
	l.mu.Lock()
	l.mu.epochs = next
	l.mu.Unlock()
	return nil
}
