package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// File names inside a partition directory (see doc.go).
const (
	cleanShutdownFile    = "clean-shutdown"
	recoveryPointFile    = "recovery-point-offset-checkpoint"
	logStartOffsetFile   = "log-start-offset-checkpoint"
	leaderEpochFile      = "leader-epoch-checkpoint"
	tmpSuffix            = ".tmp"
	deletedSuffix        = ".deleted"
	logSuffix            = ".log"
	offsetIndexSuffix    = ".index"
	timeIndexSuffix      = ".timeindex"
	checkpointVersion    = FormatVersion
	cleanShutdownVersion = FormatVersion
)

// writeCheckpoint durably replaces dir/name with data: it writes a temp
// file, fsyncs it, renames it over the old file and fsyncs the directory,
// so a crash leaves either the old or the new content, never a mix.
func writeCheckpoint(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that file creations, renames and
// removals in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// encodeOffsetCheckpoint renders a single-offset checkpoint:
// "<version>\n<offset>\n".
func encodeOffsetCheckpoint(off int64) []byte {
	return fmt.Appendf(nil, "%d\n%d\n", checkpointVersion, off)
}

// readOffsetCheckpoint reads a single-offset checkpoint. found is false if
// the file does not exist; a file that does not parse is a corruption.
func readOffsetCheckpoint(dir, name string) (off int64, found bool, err error) {
	lines, found, err := readCheckpointLines(dir, name)
	if err != nil || !found {
		return 0, found, err
	}
	if len(lines) != 1 {
		return 0, true, corruptionf("%s: %d data lines, want 1", name, len(lines))
	}
	off, err = strconv.ParseInt(string(lines[0]), 10, 64)
	if err != nil || off < 0 {
		return 0, true, corruptionf("%s: bad offset %q", name, lines[0])
	}
	return off, true, nil
}

// readCheckpointLines reads a checkpoint file, checks its version line
// and returns the remaining lines.
func readCheckpointLines(dir, name string) (lines [][]byte, found bool, err error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() {
		return nil, true, corruptionf("%s: empty", name)
	}
	if v := sc.Text(); v != strconv.Itoa(checkpointVersion) {
		return nil, true, corruptionf("%s: unknown version %q", name, v)
	}
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		return nil, true, corruptionf("%s: %v", name, err)
	}
	return lines, true, nil
}
