package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(id string) []byte {
	k := sha256.Sum256([]byte(id))
	return k[:]
}

func b64(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// keyFile renders a key file holding ids, current first.
func keyFile(current string, ids ...string) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%q: %q", id, b64(key(id))))
	}
	return fmt.Sprintf("{\"current\": %q, \"keys\": {%s}}\n", current, strings.Join(parts, ", "))
}

func writeKeyFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	// Written beside and renamed, as an operator should.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// noKeyMaterial fails if err's text holds any of the test keys, raw or
// in base64 or hex.
func noKeyMaterial(t *testing.T, err error, ids ...string) {
	t.Helper()
	for _, id := range ids {
		k := key(id)
		for _, enc := range []string{string(k), b64(k), hex.EncodeToString(k), b64(k)[:20]} {
			if strings.Contains(err.Error(), enc) {
				t.Fatalf("error holds key material of %q: %v", id, err)
			}
		}
	}
}

func TestFileLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	writeKeyFile(t, path, keyFile("b", "a", "b"), 0o600)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	id, k, err := f.Current()
	if err != nil || id != "b" || !bytes.Equal(k, key("b")) {
		t.Fatalf("Current() = %q, %v", id, err)
	}
	if k, err := f.Key("a"); err != nil || !bytes.Equal(k, key("a")) {
		t.Fatalf("Key(a): %v", err)
	}
	if _, err := f.Key("c"); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), `"c"`) {
		t.Fatalf("Key(c): %v", err)
	}
	if ids := f.IDs(); strings.Join(ids, ",") != "a,b" {
		t.Fatalf("IDs() = %v", ids)
	}
	if f.Path() != path {
		t.Fatalf("Path() = %q", f.Path())
	}
	// Owner-only modes stricter than 0600 are fine.
	writeKeyFile(t, path, keyFile("a", "a"), 0o400)
	if _, err := OpenFile(path); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
}

// TestFileRefusesLoosePermissions: like ssh with a private key, a key
// file that group or others may access is refused.
func TestFileRefusesLoosePermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o601, 0o610} {
		path := filepath.Join(t.TempDir(), "keys.json")
		writeKeyFile(t, path, keyFile("a", "a"), mode)
		_, err := OpenFile(path)
		if err == nil || !strings.Contains(err.Error(), "group or others") {
			t.Fatalf("mode %#o: %v", mode, err)
		}
	}
	dir := t.TempDir()
	if _, err := OpenFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: %v", err)
	}
	if _, err := OpenFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestFileRejectsBadContent(t *testing.T) {
	short := b64(key("a")[:16])
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "empty or truncated"},
		{"not json", "current=a\n", "syntax error"},
		{"array", "[]", "wrong type"},
		{"unknown field", `{"current": "a", "keys": {"a": "` + b64(key("a")) + `"}, "extra": 1}`, "JSON object"},
		{"trailing data", keyFile("a", "a") + "{}", "data after"},
		{"no keys", `{"current": "a", "keys": {}}`, "no keys"},
		{"no current", `{"keys": {"a": "` + b64(key("a")) + `"}}`, `no "current"`},
		{"current missing", keyFile("z", "a"), `current key "z" is not among`},
		{"short key", `{"current": "a", "keys": {"a": "` + short + `"}}`, `key "a" has 16 bytes`},
		{"not base64", `{"current": "a", "keys": {"a": "` + strings.Repeat("!", 44) + `"}}`, `key "a" is not standard base64`},
		{"bad id", `{"current": "a b", "keys": {"a b": "` + b64(key("a")) + `"}}`, `key id "a b"`},
		{"long id", keyFile(strings.Repeat("x", 65), strings.Repeat("x", 65)), "ids are 1 to 64"},
		{"same key twice", `{"current": "a", "keys": {"a": "` + b64(key("a")) + `", "b": "` + b64(key("a")) + `"}}`, `keys "a" and "b" are the same key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			writeKeyFile(t, path, tc.content, 0o600)
			_, err := OpenFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("OpenFile: %v; want an error with %q", err, tc.want)
			}
			noKeyMaterial(t, err, "a")
		})
	}
}

// TestFileReload: Reload picks up a changed file, reports an unchanged
// one as such, and keeps the keys in force when the new file is bad,
// too open, or gives a known id other key material.
func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	writeKeyFile(t, path, keyFile("a", "a"), 0o600)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := f.Reload(); changed || err != nil {
		t.Fatalf("Reload of an unchanged file: %v, %v", changed, err)
	}
	writeKeyFile(t, path, keyFile("b", "a", "b"), 0o600)
	if changed, err := f.Reload(); !changed || err != nil {
		t.Fatalf("Reload after rotation: %v, %v", changed, err)
	}
	if id, _, _ := f.Current(); id != "b" {
		t.Fatalf("current %q after rotation, want b", id)
	}
	for _, bad := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"half written", keyFile("c", "a", "b", "c")[:30], 0o600, "JSON"},
		{"world readable", keyFile("c", "a", "b", "c"), 0o644, "group or others"},
		{"id given other material", `{"current": "a", "keys": {"a": "` + b64(key("other")) + `"}}`, 0o600, `key "a" has changed`},
	} {
		writeKeyFile(t, path, bad.content, bad.mode)
		changed, err := f.Reload()
		if changed || err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Fatalf("%s: Reload: %v, %v; want an error with %q", bad.name, changed, err, bad.want)
		}
		noKeyMaterial(t, err, "a", "b", "c", "other")
		if id, k, _ := f.Current(); id != "b" || !bytes.Equal(k, key("b")) {
			t.Fatalf("%s: current %q after a failed reload, want b", bad.name, id)
		}
	}
	writeKeyFile(t, path, keyFile("b", "b"), 0o600)
	if changed, err := f.Reload(); !changed || err != nil {
		t.Fatalf("Reload after removing a key: %v, %v", changed, err)
	}
	if _, err := f.Key("a"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(a) after its removal: %v", err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"a": true, "2026-01": true, "prod.key_2": true, strings.Repeat("k", 64): true,
		"": false, strings.Repeat("k", 65): false, "a b": false, "a/b": false, "é": false, "a\x00": false,
	} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}

func TestStatic(t *testing.T) {
	s := &Static{CurrentID: "a", Keys: map[string][]byte{"a": key("a"), "short": key("s")[:8]}}
	if id, k, err := s.Current(); id != "a" || !bytes.Equal(k, key("a")) || err != nil {
		t.Fatalf("Current: %q, %v", id, err)
	}
	if _, err := s.Key("b"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Key(b): %v", err)
	}
	if _, err := s.Key("short"); err == nil {
		t.Fatal("Key(short) accepted an 8-byte key")
	}
}

// FuzzParseKeyFile: any content either parses into a consistent key set
// or is refused with an error holding none of the content's key material.
func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(keyFile("a", "a")))
	f.Add([]byte(keyFile("b", "a", "b")))
	f.Add([]byte(`{"current": "a", "keys": {"a": "` + b64(key("a"))[:10] + `"}}`))
	f.Add([]byte(`{"current": "a", "keys": {"a": 1}}`))
	f.Add([]byte(`{"current": "a", "keys": {"a": "` + b64(key("a")) + `", "b": "` + b64(key("a")) + `"}}`))
	f.Add([]byte(`{"current": null, "keys": null}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := parseKeyFile(data)
		if err != nil {
			if set != nil {
				t.Fatal("a key set with an error")
			}
			if strings.Contains(err.Error(), b64(key("a"))) {
				t.Fatalf("error holds key material: %v", err)
			}
			return
		}
		if _, ok := set.keys[set.current]; !ok {
			t.Fatalf("current %q not among the keys", set.current)
		}
		for id, k := range set.keys {
			if !ValidID(id) || len(k) != Size {
				t.Fatalf("key %q of %d bytes accepted", id, len(k))
			}
		}
	})
}

// TestFileRefusesOtherOwner: a key file owned by another user (who could
// replace its keys) is refused. Giving a file away needs root; elsewhere
// the test is skipped.
func TestFileRefusesOtherOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	writeKeyFile(t, path, keyFile("a", "a"), 0o600)
	const other = 4242
	if os.Geteuid() == other {
		t.Skip("running as the uid the test gives the file to")
	}
	if err := os.Chown(path, other, -1); err != nil {
		t.Skipf("cannot give the file to another user: %v", err)
	}
	_, err := OpenFile(path)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 4242") {
		t.Fatalf("OpenFile of a file owned by uid %d: %v", other, err)
	}
}
