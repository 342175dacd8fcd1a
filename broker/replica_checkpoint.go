package broker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The high watermark of every partition of the broker is kept in
// <log.dirs>/replication-offset-checkpoint, as Kafka does: "0\n", the
// number of entries, then "<topic> <partition> <offset>\n" per partition.
// It is written every replica.high.watermark.checkpoint.interval.ms and
// at shutdown, atomically (temporary file, fsync, rename), and read at
// start so that a restarted replica keeps serving what was committed.
// A high watermark lost in a crash only lags: leaders advance it again as
// followers fetch, and followers learn it from their leader.

// hwCheckpointFile is the checkpoint's file name in the data directory.
const hwCheckpointFile = "replication-offset-checkpoint"

// hwCheckpointMaxBytes bounds the checkpoint read at start.
const hwCheckpointMaxBytes = 64 << 20

// loadCheckpoint reads the high watermark checkpoint; a missing file
// means no partition has one. A damaged file is logged and ignored: the
// high watermarks then start at the log start offsets, which hides
// committed records only until leaders advance them again.
func (rm *replicaManager) loadCheckpoint() error {
	path := filepath.Join(rm.b.cfg.DataDir, hwCheckpointFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	hws, err := parseHWCheckpoint(data)
	if err != nil {
		rm.b.log.Error("high watermark checkpoint unreadable; high watermarks restart from the log start offsets", "path", path, "err", err)
		return nil
	}
	rm.mu.Lock()
	rm.checkpointed = hws
	rm.lastCheckpoint = data
	rm.mu.Unlock()
	return nil
}

// parseHWCheckpoint decodes the checkpoint into high watermarks by
// partition directory name ("topic-partition").
func parseHWCheckpoint(data []byte) (map[string]int64, error) {
	if len(data) > hwCheckpointMaxBytes {
		return nil, fmt.Errorf("checkpoint of %d bytes is too large", len(data))
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, errors.New("not a version 0 checkpoint")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("entry count %q does not match %d entries", lines[1], len(lines)-2)
	}
	out := make(map[string]int64, n)
	for _, line := range lines[2:] {
		f := strings.Split(line, " ")
		if len(f) != 3 || f[0] == "" {
			return nil, fmt.Errorf("bad entry %q", line)
		}
		part, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || part < 0 || off < 0 {
			return nil, fmt.Errorf("bad entry %q", line)
		}
		out[partitionDirName(f[0], int32(part))] = off
	}
	return out, nil
}

// initPartition gives a partition being opened its checkpointed high
// watermark. The entry is used once: a partition removed and created
// again starts from its new log.
func (rm *replicaManager) initPartition(p *partition) {
	rm.mu.Lock()
	hw, ok := rm.checkpointed[p.name]
	delete(rm.checkpointed, p.name)
	rm.mu.Unlock()
	p.initHighWatermark(hw, ok)
}

// encodeHWCheckpoint renders the high watermarks of the partitions.
func encodeHWCheckpoint(parts []*partition) []byte {
	slices.SortFunc(parts, func(a, b *partition) int {
		if c := strings.Compare(a.topic.name, b.topic.name); c != 0 {
			return c
		}
		return int(a.index) - int(b.index)
	})
	buf := fmt.Appendf(nil, "0\n%d\n", len(parts))
	for _, p := range parts {
		buf = fmt.Appendf(buf, "%s %d %d\n", p.topic.name, p.index, p.repl.hw.Load())
	}
	return buf
}

// writeCheckpoint writes the high watermarks of every hosted partition,
// unless they are the ones last written.
func (rm *replicaManager) writeCheckpoint() error {
	data := encodeHWCheckpoint(rm.b.allPartitions())
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if bytes.Equal(data, rm.lastCheckpoint) {
		return nil
	}
	path := filepath.Join(rm.b.cfg.DataDir, hwCheckpointFile)
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := syncDir(rm.b.cfg.DataDir); err != nil {
		return err
	}
	rm.lastCheckpoint = data
	return nil
}
