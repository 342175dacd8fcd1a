package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// The raft log carries application data wrapped in small envelopes that let
// the node match committed entries to the Propose calls waiting for them and
// carry member addresses through membership changes and snapshots. All
// integers are big-endian; every envelope starts with a format byte so that
// a later format can be told apart.

const envelopeV1 = 1

// entryHeaderLen is the size of the header in front of the data of every
// normal entry: format byte, proposer node id, proposal sequence, and the
// term the proposer saw when it proposed.
const entryHeaderLen = 1 + 8 + 8 + 8

// proposalID names one Propose call: the node that made it and a sequence
// number that is unique on that node (it starts at a random value at every
// Start, so a restarted node never reuses one).
type proposalID struct {
	node, seq uint64
}

// entryHeader is decoded from a normal entry.
type entryHeader struct {
	id   proposalID
	term uint64 // the term the proposer saw; the entry applies only if it was appended in that term
}

// putEntryHeader writes the header into the first entryHeaderLen bytes of b.
func putEntryHeader(b []byte, h entryHeader) {
	b[0] = envelopeV1
	binary.BigEndian.PutUint64(b[1:], h.id.node)
	binary.BigEndian.PutUint64(b[9:], h.id.seq)
	binary.BigEndian.PutUint64(b[17:], h.term)
}

// decodeEntry splits a normal entry's data into header and payload.
func decodeEntry(b []byte) (entryHeader, []byte, error) {
	if len(b) < entryHeaderLen || b[0] != envelopeV1 {
		return entryHeader{}, nil, errors.New("raft: entry without a valid envelope")
	}
	h := entryHeader{
		id:   proposalID{binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:])},
		term: binary.BigEndian.Uint64(b[17:]),
	}
	return h, b[entryHeaderLen:], nil
}

// confContext is carried in the Context of every membership change: who
// proposed it (to answer the waiting call) and the address of the node
// being added (empty for removals).
type confContext struct {
	id   proposalID
	addr string
}

func encodeConfContext(c confContext) []byte {
	b := make([]byte, 0, 1+8+8+binary.MaxVarintLen64+len(c.addr))
	b = append(b, envelopeV1)
	b = binary.BigEndian.AppendUint64(b, c.id.node)
	b = binary.BigEndian.AppendUint64(b, c.id.seq)
	b = binary.AppendUvarint(b, uint64(len(c.addr)))
	return append(b, c.addr...)
}

func decodeConfContext(b []byte) (confContext, error) {
	if len(b) < 1+8+8+1 || b[0] != envelopeV1 {
		return confContext{}, errors.New("raft: membership change without a valid context")
	}
	c := confContext{id: proposalID{binary.BigEndian.Uint64(b[1:]), binary.BigEndian.Uint64(b[9:])}}
	n, k := binary.Uvarint(b[17:])
	if k <= 0 || n != uint64(len(b)-17-k) {
		return confContext{}, errors.New("raft: membership change context: bad address length")
	}
	c.addr = string(b[17+k:])
	return c, nil
}

// snapshotEnvelope is the Data of every raft snapshot: the address of every
// member at the snapshot's index, then the state machine's own bytes.
type snapshotEnvelope struct {
	addrs map[uint64]string
	data  []byte
}

func encodeSnapshot(s snapshotEnvelope) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, a := range s.addrs {
		size += 8 + binary.MaxVarintLen64 + len(a)
	}
	b := make([]byte, 0, size+len(s.data))
	b = append(b, envelopeV1)
	b = binary.AppendUvarint(b, uint64(len(s.addrs)))
	for _, id := range slices.Sorted(maps.Keys(s.addrs)) {
		b = binary.BigEndian.AppendUint64(b, id)
		b = binary.AppendUvarint(b, uint64(len(s.addrs[id])))
		b = append(b, s.addrs[id]...)
	}
	return append(b, s.data...)
}

func decodeSnapshot(b []byte) (snapshotEnvelope, error) {
	bad := func(what string) (snapshotEnvelope, error) {
		return snapshotEnvelope{}, fmt.Errorf("raft: snapshot envelope: %s", what)
	}
	if len(b) < 2 || b[0] != envelopeV1 {
		return bad("unknown format")
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return bad("bad member count")
	}
	b = b[k:]
	s := snapshotEnvelope{addrs: make(map[uint64]string, n)}
	for range n {
		if len(b) < 8 {
			return bad("truncated member")
		}
		id := binary.BigEndian.Uint64(b)
		b = b[8:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return bad("truncated address")
		}
		s.addrs[id] = string(b[k : k+int(l)])
		b = b[k+int(l):]
	}
	s.data = b
	return s, nil
}
