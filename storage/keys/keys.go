// Package keys supplies the keys that encrypt partition data at rest (see
// storage.Encryption and docs/encryption.md). Storage asks a Provider for
// the key to write new data with and, by id, for the key any stored data
// was written with. File is the provider backed by a key file; a key
// management service can be added behind the same interface.
//
// Key material is never formatted into an error or a log line by this
// package; ids are.
package keys

import (
	"errors"
	"fmt"
)

// Size is the length of every key in bytes: AES-256.
const Size = 32

// MaxIDLen is the longest key id, in bytes.
const MaxIDLen = 64

// ErrUnknownKey is wrapped by Provider.Key when the provider holds no key
// with the id asked for.
var ErrUnknownKey = errors.New("keys: unknown key id")

// Provider supplies encryption keys by id.
//
// A key id names one key for ever: an id must never be given other key
// material, since data written under the id could then no longer be
// read. Implementations must be safe for concurrent use. The slices they
// return must not be modified by the caller.
type Provider interface {
	// Current returns the id and the Size bytes of the key new data is
	// encrypted with.
	Current() (id string, key []byte, err error)
	// Key returns the key with the given id: an error wrapping
	// ErrUnknownKey if there is none.
	Key(id string) ([]byte, error)
}

// ValidID reports whether id may name a key: 1 to MaxIDLen characters,
// each an ASCII letter, digit, '.', '_' or '-'. Ids are stored in the
// clear with the data, so they must not be secret.
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Static is a fixed set of keys, for tests and for programs that obtain
// their keys some other way. The zero value holds no key. Its fields must
// not change while it is in use by more than one goroutine.
type Static struct {
	// CurrentID names the key Current returns.
	CurrentID string
	// Keys maps ids to key material.
	Keys map[string][]byte
}

// Current implements Provider.
func (s *Static) Current() (string, []byte, error) {
	k, err := s.Key(s.CurrentID)
	if err != nil {
		return "", nil, fmt.Errorf("keys: current key: %w", err)
	}
	return s.CurrentID, k, nil
}

// Key implements Provider.
func (s *Static) Key(id string) ([]byte, error) {
	k, ok := s.Keys[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	if len(k) != Size {
		return nil, fmt.Errorf("keys: key %q has %d bytes, want %d", id, len(k), Size)
	}
	return k, nil
}
