package keys

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
)

// maxFileBytes bounds a key file; a real one is a few kilobytes.
const maxFileBytes = 1 << 20

// File is a Provider backed by a key file: a JSON object naming the
// current key and holding every key by id, each Size bytes in standard
// base64:
//
//	{
//	  "current": "2026-01",
//	  "keys": {
//	    "2025-07": "q2b0S1m8…=",
//	    "2026-01": "Jm9Yc1Lk…="
//	  }
//	}
//
// The file must be a regular file readable by its owner only (no
// permission bit for group or others, like ssh's private keys) and owned
// by the user running the process or by root; OpenFile and Reload refuse
// any other. Reload reads it again; a file that fails any check, or that
// gives a loaded key id other key material, leaves the keys loaded before
// in force.
type File struct {
	path string
	// mu serialises Reload.
	mu  sync.Mutex
	set atomic.Pointer[keySet]
}

// keySet is one parsed version of the file.
type keySet struct {
	current string
	keys    map[string][]byte
	// digest identifies the file's content, so that Reload can tell
	// whether it changed.
	digest [sha256.Size]byte
}

// OpenFile loads the key file at path.
func OpenFile(path string) (*File, error) {
	f := &File{path: path}
	if _, err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path returns the key file's path.
func (f *File) Path() string { return f.path }

// Reload reads the key file again. changed reports that its content
// differs from what was loaded before. On error the previous keys stay in
// force.
func (f *File) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, err := readKeyFile(f.path)
	if err != nil {
		return false, err
	}
	digest := sha256.Sum256(data)
	if old := f.set.Load(); old != nil && old.digest == digest {
		return false, nil
	}
	set, err := parseKeyFile(data)
	if err != nil {
		return false, fmt.Errorf("keys: key file %s: %w", f.path, err)
	}
	if old := f.set.Load(); old != nil {
		for id, k := range set.keys {
			if ok, had := old.keys[id]; had && subtle.ConstantTimeCompare(ok, k) != 1 {
				return false, fmt.Errorf("keys: key file %s: key %q has changed; a key id must keep its key for ever (data written under it could no longer be read)", f.path, id)
			}
		}
	}
	set.digest = digest
	f.set.Store(set)
	return true, nil
}

// readKeyFile reads path after checking, on the open file, that it is a
// regular file only its owner may read and that the owner is this
// process's user or root.
func readKeyFile(path string) ([]byte, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer fd.Close()
	info, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: key file %s has permissions %#o: it must not be accessible by group or others (chmod 600)", path, perm)
	}
	if err := checkOwner(path, info); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fd, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keys: read %s: %w", path, err)
	}
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("keys: key file %s is larger than %d bytes", path, maxFileBytes)
	}
	return data, nil
}

// fileJSON is the key file's layout.
type fileJSON struct {
	Current string            `json:"current"`
	Keys    map[string]string `json:"keys"`
}

// parseKeyFile decodes the content of a key file (the format File describes)
// and checks it: every id valid, every key Size bytes of standard
// base64, no key material under two ids, and the current id among the
// keys. Errors name ids, never key material.
func parseKeyFile(data []byte) (*keySet, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var fj fileJSON
	if err := dec.Decode(&fj); err != nil {
		return nil, errors.New("not a JSON object with \"current\" and \"keys\"" + jsonPosition(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	if len(fj.Keys) == 0 {
		return nil, errors.New("no keys")
	}
	set := &keySet{current: fj.Current, keys: make(map[string][]byte, len(fj.Keys))}
	ids := make([]string, 0, len(fj.Keys))
	for id := range fj.Keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if !ValidID(id) {
			return nil, fmt.Errorf("key id %q: ids are 1 to %d characters of A-Z, a-z, 0-9, '.', '_' and '-'", id, MaxIDLen)
		}
		k, err := base64.StdEncoding.DecodeString(fj.Keys[id])
		if err != nil {
			return nil, fmt.Errorf("key %q is not standard base64", id)
		}
		if len(k) != Size {
			return nil, fmt.Errorf("key %q has %d bytes, want %d", id, len(k), Size)
		}
		for other, ok := range set.keys {
			if subtle.ConstantTimeCompare(ok, k) == 1 {
				return nil, fmt.Errorf("keys %q and %q are the same key", other, id)
			}
		}
		set.keys[id] = k
	}
	if fj.Current == "" {
		return nil, errors.New("no \"current\" key id")
	}
	if _, ok := set.keys[fj.Current]; !ok {
		return nil, fmt.Errorf("current key %q is not among the keys", fj.Current)
	}
	return set, nil
}

// jsonPosition renders where a JSON decoding error occurred, without any
// of the file's content.
func jsonPosition(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" (syntax error at byte %d)", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf(" (wrong type for %q at byte %d)", te.Field, te.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return " (empty or truncated)"
	}
	return ""
}

// Current implements Provider.
func (f *File) Current() (string, []byte, error) {
	s := f.set.Load()
	return s.current, s.keys[s.current], nil
}

// Key implements Provider.
func (f *File) Key(id string) ([]byte, error) {
	if k, ok := f.set.Load().keys[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w %q in key file %s", ErrUnknownKey, id, f.path)
}

// IDs returns the ids of the loaded keys, sorted.
func (f *File) IDs() []string {
	s := f.set.Load()
	ids := make([]string, 0, len(s.keys))
	for id := range s.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
