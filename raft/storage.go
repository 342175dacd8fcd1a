package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Storage layout in pebble (keys are bytes; integers big-endian):
//
//	0x00 "ident"      the node id this store belongs to (8 bytes)
//	0x01 "hardstate"  raftpb.HardState (term, vote, commit)
//	0x02 "snapshot"   raftpb.Snapshot: metadata (index, term, conf state)
//	                  and data (snapshotEnvelope: member addresses + state
//	                  machine bytes)
//	0x10 <index>      raftpb.Entry at that log index
//
// Every Ready is written as one batch, fsynced when raft says it must be
// (new entries, a new term or vote). Entries at or below the snapshot index
// are deleted by range when the log is compacted.
var (
	keyIdent     = []byte("\x00ident")
	keyHardState = []byte("\x01hardstate")
	keySnapshot  = []byte("\x02snapshot")
)

const entryPrefix = 0x10

func entryKey(index uint64) []byte {
	k := make([]byte, 9)
	k[0] = entryPrefix
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

// entryKeyEnd is past every entry key.
var entryKeyEnd = []byte{entryPrefix + 1}

// store is the durable half of the raft log. It is used only from the
// node's loop goroutine (and from Start before the loop runs).
type store struct {
	db *pebble.DB
	// last is the highest entry index written, so that an append that
	// overwrites a tail (a new leader's entries replacing uncommitted ones)
	// deletes the stale rest of it.
	last uint64
	buf  []byte
}

// pebbleLogger sends pebble's messages to the node's logger.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic("pebble: " + msg)
}

// openStore opens (creating it if needed) the pebble store in dir for node
// id. A store written by another node id is refused.
func openStore(dir string, fs vfs.FS, id uint64, logger *slog.Logger) (*store, error) {
	opts := &pebble.Options{Logger: pebbleLogger{logger}, FS: fs}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("raft: open store %s: %w", dir, err)
	}
	s := &store{db: db}
	v, closer, err := db.Get(keyIdent)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := db.Set(keyIdent, binary.BigEndian.AppendUint64(nil, id), pebble.Sync); err != nil {
			db.Close()
			return nil, fmt.Errorf("raft: store %s: %w", dir, err)
		}
	case err != nil:
		db.Close()
		return nil, fmt.Errorf("raft: store %s: %w", dir, err)
	default:
		owner := uint64(0)
		if len(v) == 8 {
			owner = binary.BigEndian.Uint64(v)
		}
		closer.Close()
		if owner != id {
			db.Close()
			return nil, fmt.Errorf("raft: store %s belongs to node %d, not %d", dir, owner, id)
		}
	}
	return s, nil
}

// load reads the persisted state: hard state, latest snapshot (nil if
// none), and the entries after the snapshot in index order.
func (s *store) load() (*pb.HardState, *pb.Snapshot, []*pb.Entry, error) {
	hs := &pb.HardState{}
	if err := s.getProto(keyHardState, hs); err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return nil, nil, nil, err
	}
	snap := &pb.Snapshot{}
	switch err := s.getProto(keySnapshot, snap); {
	case errors.Is(err, pebble.ErrNotFound):
		snap = nil
	case err != nil:
		return nil, nil, nil, err
	}
	snapIndex := snap.GetMetadata().GetIndex()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: entryKey(snapIndex + 1), UpperBound: entryKeyEnd})
	if err != nil {
		return nil, nil, nil, err
	}
	defer it.Close()
	var ents []*pb.Entry
	next := snapIndex + 1
	for it.First(); it.Valid(); it.Next() {
		e := &pb.Entry{}
		if err := proto.Unmarshal(it.Value(), e); err != nil {
			return nil, nil, nil, fmt.Errorf("raft: corrupt entry %x: %w", it.Key(), err)
		}
		if e.GetIndex() != next {
			return nil, nil, nil, fmt.Errorf("raft: log gap: want entry %d, found %d", next, e.GetIndex())
		}
		ents = append(ents, e)
		next++
	}
	if err := it.Error(); err != nil {
		return nil, nil, nil, err
	}
	s.last = next - 1
	if hs.GetCommit() > s.last {
		return nil, nil, nil, fmt.Errorf("raft: hard state commit %d is past the last entry %d", hs.GetCommit(), s.last)
	}
	return hs, snap, ents, nil
}

// getProto unmarshals the value at key into m.
func (s *store) getProto(key []byte, m proto.Message) error {
	v, closer, err := s.db.Get(key)
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("raft: corrupt %q: %w", key, err)
	}
	return nil
}

// save writes one Ready's durable state in one batch: a received snapshot
// (which replaces the whole log), new entries (deleting any stale tail they
// overwrite) and the hard state.
func (s *store) save(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot, sync bool) error {
	b := s.db.NewBatch()
	defer b.Close()
	last := s.last
	if snap != nil && !raft.IsEmptySnap(snap) {
		if err := s.setProto(b, keySnapshot, snap); err != nil {
			return err
		}
		if err := b.DeleteRange(entryKey(0), entryKeyEnd, nil); err != nil {
			return err
		}
		last = snap.GetMetadata().GetIndex()
	}
	if len(ents) > 0 {
		first := ents[0].GetIndex()
		if first <= last {
			if err := b.DeleteRange(entryKey(first), entryKeyEnd, nil); err != nil {
				return err
			}
		}
		for _, e := range ents {
			if err := s.setProto(b, entryKey(e.GetIndex()), e); err != nil {
				return err
			}
		}
		last = ents[len(ents)-1].GetIndex()
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		if err := s.setProto(b, keyHardState, hs); err != nil {
			return err
		}
	}
	if b.Empty() {
		return nil
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := b.Commit(opt); err != nil {
		return err
	}
	s.last = last
	return nil
}

// saveSnapshot records a snapshot taken locally and deletes the entries
// before compactTo (entries from compactTo on are kept for slow followers;
// the ones at or below the snapshot index are not read back on restart).
func (s *store) saveSnapshot(snap *pb.Snapshot, compactTo uint64) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.setProto(b, keySnapshot, snap); err != nil {
		return err
	}
	if compactTo > 0 {
		if err := b.DeleteRange(entryKey(0), entryKey(compactTo), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (s *store) setProto(b *pebble.Batch, key []byte, m proto.Message) error {
	var err error
	s.buf, err = proto.MarshalOptions{}.MarshalAppend(s.buf[:0], m)
	if err != nil {
		return err
	}
	return b.Set(key, s.buf, nil) // Set copies the value into the batch
}

func (s *store) close() error { return s.db.Close() }
