package storage

import (
	"errors"
	"fmt"

	"github.com/skein-streaming/skein/storage/keys"
)

// ErrKeyUnavailable is wrapped by errors about encrypted data whose key
// cannot be had: the key provider does not hold the key id the data
// names, holds other material under that id, or no provider is
// configured. Storage never mistakes this for damaged data: recovery
// fails Open rather than truncate data it cannot decrypt.
var ErrKeyUnavailable = errors.New("storage: encryption key unavailable")

// Encryption turns on encryption at rest for the logs opened with it
// (Options.Encryption); one value may serve every log of a process. See
// doc.go, "Encryption at rest".
type Encryption struct {
	provider keys.Provider
	// encrypt selects what new data is written as: sealed under the
	// provider's current key, or in the clear.
	encrypt bool
}

// NewEncryption returns the encryption settings for logs. With encrypt,
// new segment data is sealed under the provider's current key and
// ReencryptSegments rewrites older data (in the clear, or under other
// keys) under it. Without, new data is written in the clear and the
// provider serves only to read what was encrypted before, which
// ReencryptSegments rewrites in the clear.
func NewEncryption(p keys.Provider, encrypt bool) (*Encryption, error) {
	if p == nil {
		return nil, errors.New("storage: encryption needs a key provider")
	}
	e := &Encryption{provider: p, encrypt: encrypt}
	if encrypt {
		if _, _, err := e.target(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// target returns the key new data is written under: id "" means in the
// clear.
func (e *Encryption) target() (id string, key []byte, err error) {
	if e == nil || !e.encrypt {
		return "", nil, nil
	}
	id, key, err = e.provider.Current()
	if err != nil {
		return "", nil, fmt.Errorf("%w: current key: %w", ErrKeyUnavailable, err)
	}
	if !keys.ValidID(id) {
		return "", nil, fmt.Errorf("%w: current key id %q is not valid", ErrKeyUnavailable, id)
	}
	if len(key) != keys.Size {
		return "", nil, fmt.Errorf("%w: current key %q has %d bytes, want %d", ErrKeyUnavailable, id, len(key), keys.Size)
	}
	return id, key, nil
}

// targetID is the id of the key new data is written under, "" for the
// clear.
func (e *Encryption) targetID() (string, error) {
	id, _, err := e.target()
	return id, err
}

// newTargetCipher returns a fresh data key for a new segment under the
// target key, or nil when new data is written in the clear.
func (e *Encryption) newTargetCipher() (*segmentCipher, error) {
	id, key, err := e.target()
	if err != nil || id == "" {
		return nil, err
	}
	return freshSegmentCipher(id, key)
}

// cipherOf returns the data key of the segment with base offset segBase
// whose first frame f passed checkFrame. A missing provider, an unknown
// key id or a key whose check value differs is ErrKeyUnavailable.
func (e *Encryption) cipherOf(segBase int64, f []byte) (*segmentCipher, error) {
	id := string(frameKeyID(f))
	if e == nil {
		return nil, fmt.Errorf("%w: segment %d is encrypted (key %q) and no encryption key provider is configured", ErrKeyUnavailable, segBase, id)
	}
	master, err := e.provider.Key(id)
	if err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrKeyUnavailable, segBase, err)
	}
	var check [frameKeyCheckBytes]byte
	copy(check[:], f[frameKeyCheckAt:])
	if keyCheckOf(master) != check {
		return nil, fmt.Errorf("%w: segment %d: the key provider's key %q is not the key the segment was written with", ErrKeyUnavailable, segBase, id)
	}
	var salt [frameSaltBytes]byte
	copy(salt[:], f[frameSaltAt:])
	c, err := newSegmentCipher(id, master, salt)
	if err != nil {
		return nil, fmt.Errorf("%w: segment %d: %w", ErrKeyUnavailable, segBase, err)
	}
	return c, nil
}

// keyID is the id of the key the segment's data is under, "" for the
// clear (or an empty segment). The caller holds mu or appendMu.
func (s *segment) keyID() string {
	if s.crypt == nil {
		return ""
	}
	return s.crypt.keyID
}

// SegmentKeys counts the non-empty segments by the id of the key their
// data is encrypted under; "" counts those in the clear.
func (l *Log) SegmentKeys() map[string]int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	m := map[string]int{}
	for _, s := range l.mu.segments {
		if s.size > 0 {
			m[s.keyID()]++
		}
	}
	return m
}
