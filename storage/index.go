package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
)

const (
	// offsetEntryBytes is the size of one .index entry: relative offset
	// uint32, file position uint32.
	offsetEntryBytes = 8
	// timeEntryBytes is the size of one .timeindex entry: timestamp int64,
	// relative offset uint32.
	timeEntryBytes = 12
)

// offsetEntry maps the base offset of a batch (relative to the segment's
// base offset) to the batch's byte position in the .log file.
type offsetEntry struct {
	relOffset uint32
	position  uint32
}

// timeEntry records that every batch of the segment up to and including
// the batch at relOffset has maxTimestamp <= timestamp, and that timestamp
// is reached by the batch at relOffset.
type timeEntry struct {
	timestamp int64
	relOffset uint32
}

// lookupOffset returns the last entry whose relative offset is <= rel,
// and whether there is one; without one, a search starts at position 0,
// where the segment's first batch is.
func lookupOffset(idx []offsetEntry, rel uint32) (offsetEntry, bool) {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].relOffset > rel })
	if i == 0 {
		return offsetEntry{}, false
	}
	return idx[i-1], true
}

// lookupTime returns the relative offset of the last entry whose timestamp
// is below ts, and whether there is one. Every batch up to that offset has
// maxTimestamp < ts, so a search for ts may start there.
func lookupTime(idx []timeEntry, ts int64) (uint32, bool) {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].timestamp >= ts })
	if i == 0 {
		return 0, false
	}
	return idx[i-1].relOffset, true
}

func encodeOffsetIndex(idx []offsetEntry) []byte {
	b := make([]byte, len(idx)*offsetEntryBytes)
	for i, e := range idx {
		binary.BigEndian.PutUint32(b[i*offsetEntryBytes:], e.relOffset)
		binary.BigEndian.PutUint32(b[i*offsetEntryBytes+4:], e.position)
	}
	return b
}

func encodeTimeIndex(idx []timeEntry) []byte {
	b := make([]byte, len(idx)*timeEntryBytes)
	for i, e := range idx {
		binary.BigEndian.PutUint64(b[i*timeEntryBytes:], uint64(e.timestamp))
		binary.BigEndian.PutUint32(b[i*timeEntryBytes+8:], e.relOffset)
	}
	return b
}

// decodeOffsetIndex parses an .index file and checks its invariants:
// relative offsets and positions strictly increase and positions lie
// inside a .log file of logBytes bytes.
func decodeOffsetIndex(b []byte, logBytes int64) ([]offsetEntry, error) {
	if len(b)%offsetEntryBytes != 0 {
		return nil, fmt.Errorf("offset index of %d bytes is not a multiple of %d", len(b), offsetEntryBytes)
	}
	idx := make([]offsetEntry, len(b)/offsetEntryBytes)
	for i := range idx {
		e := offsetEntry{
			relOffset: binary.BigEndian.Uint32(b[i*offsetEntryBytes:]),
			position:  binary.BigEndian.Uint32(b[i*offsetEntryBytes+4:]),
		}
		if int64(e.position)+batchHeaderBytes > logBytes {
			return nil, fmt.Errorf("offset index entry %d position %d beyond log size %d", i, e.position, logBytes)
		}
		if i > 0 && (e.relOffset <= idx[i-1].relOffset || e.position <= idx[i-1].position) {
			return nil, fmt.Errorf("offset index entry %d (%d@%d) does not follow (%d@%d)", i, e.relOffset, e.position, idx[i-1].relOffset, idx[i-1].position)
		}
		idx[i] = e
	}
	return idx, nil
}

// decodeTimeIndex parses a .timeindex file and checks that timestamps
// strictly increase and relative offsets do not decrease.
func decodeTimeIndex(b []byte) ([]timeEntry, error) {
	if len(b)%timeEntryBytes != 0 {
		return nil, fmt.Errorf("time index of %d bytes is not a multiple of %d", len(b), timeEntryBytes)
	}
	idx := make([]timeEntry, len(b)/timeEntryBytes)
	for i := range idx {
		e := timeEntry{
			timestamp: int64(binary.BigEndian.Uint64(b[i*timeEntryBytes:])),
			relOffset: binary.BigEndian.Uint32(b[i*timeEntryBytes+8:]),
		}
		if i > 0 && (e.timestamp <= idx[i-1].timestamp || e.relOffset < idx[i-1].relOffset) {
			return nil, fmt.Errorf("time index entry %d (%d@%d) does not follow (%d@%d)", i, e.timestamp, e.relOffset, idx[i-1].timestamp, idx[i-1].relOffset)
		}
		idx[i] = e
	}
	return idx, nil
}

// writeFile replaces path with data. The data reaches only the page
// cache; the caller fsyncs it later with syncFile.
func writeFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncFile opens path and fsyncs it.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
