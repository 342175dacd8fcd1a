package broker

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skein-streaming/skein/broker/sasl"
)

// TestParseAddScram checks --add-scram arguments in Kafka's syntax: the
// credential is the one the broker derives from the same salted password
// (a client authenticating with the password matches it), and bad
// arguments fail with Kafka's messages.
func TestParseAddScram(t *testing.T) {
	salt := []byte("0123456789abcdef")
	b64 := base64.StdEncoding.EncodeToString(salt)
	rec, err := ParseAddScram(fmt.Sprintf(`SCRAM-SHA-512=[name=alice,password=alice-secret,salt="%s",iterations=8192]`, b64))
	if err != nil {
		t.Fatal(err)
	}
	salted, err := sasl.SaltedPassword(sasl.ScramSHA512, "alice-secret", salt, 8192)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := sasl.NewCredential(sasl.ScramSHA512, salt, salted, 8192)
	if rec.User != "alice" || rec.Mechanism != sasl.ScramSHA512 || rec.Iterations != 8192 || !bytes.Equal(rec.Salt, salt) ||
		!bytes.Equal(rec.StoredKey, want.StoredKey) || !bytes.Equal(rec.ServerKey, want.ServerKey) {
		t.Fatalf("record %+v, want the credential of the password", rec)
	}
	// saltedpassword= gives the same credential.
	rec2, err := ParseAddScram(fmt.Sprintf(`SCRAM-SHA-512=[name=alice,salt=%s,saltedpassword="%s",iterations=8192]`, b64, base64.StdEncoding.EncodeToString(salted)))
	if err != nil || !bytes.Equal(rec2.StoredKey, rec.StoredKey) || !bytes.Equal(rec2.ServerKey, rec.ServerKey) {
		t.Fatalf("saltedpassword: %+v, %v", rec2, err)
	}
	// Defaults: a random 32-byte salt, 4096 iterations.
	a, err := ParseAddScram(" SCRAM-SHA-256=[name=bob,password=x=y] ")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseAddScram("SCRAM-SHA-256=[name=bob,password=x=y]")
	if a.Iterations != 4096 || len(a.Salt) != 32 || bytes.Equal(a.Salt, b.Salt) || a.Mechanism != sasl.ScramSHA256 {
		t.Fatalf("defaults: %+v / %+v", a, b)
	}
	s2, _ := sasl.SaltedPassword(sasl.ScramSHA256, "x=y", a.Salt, 4096)
	if c, _ := sasl.NewCredential(sasl.ScramSHA256, a.Salt, s2, 4096); !bytes.Equal(c.StoredKey, a.StoredKey) {
		t.Fatal("a password with '=' is kept whole")
	}

	for _, tc := range []struct{ arg, want string }{
		{"SCRAM-SHA-256", "Failed to find equals sign in SCRAM argument 'SCRAM-SHA-256'"},
		{"SCRAM-SHA-1=[name=a,password=b]", "The add-scram mechanism SCRAM-SHA-1 is not supported."},
		{"SCRAM-SHA-256=name=a,password=b]", "Expected configuration string to start with ["},
		{"SCRAM-SHA-256=[name=a,password=b", "Expected configuration string to end with ]"},
		{"SCRAM-SHA-256=[", "Expected configuration string to end with ]"},
		{"SCRAM-SHA-256=[password=b]", "You must supply 'name' to add-scram"},
		{"SCRAM-SHA-256=[name=,password=b]", "The 'name' of add-scram must not be empty"},
		{"SCRAM-SHA-256=[name=a]", "You must supply one of 'password' or 'saltedpassword' to add-scram"},
		{"SCRAM-SHA-256=[name=a,password=b,saltedpassword=AAAA,salt=AAAA]", "You must only supply one of 'password' or 'saltedpassword' to add-scram"},
		{"SCRAM-SHA-256=[name=a,saltedpassword=AAAA]", "You must supply 'salt' with 'saltedpassword' to add-scram"},
		{"SCRAM-SHA-256=[name=a,password=b,salt=!!]", "Failed to decode given salt: !!"},
		{"SCRAM-SHA-256=[name=a,password=b,iterations=many]", "Failed to parse iterations count: many"},
		{"SCRAM-SHA-256=[name=a,password=b,iterations=4095]", "The 'iterations' value must be >= 4096 for add-scram using SCRAM-SHA-256"},
		{"SCRAM-SHA-512=[name=a,password=b,iterations=16385]", "The 'iterations' value must be <= 16384 for add-scram using SCRAM-SHA-512"},
		{"SCRAM-SHA-256=[name=a,password=b,colour=red,age=3]", "Unknown SCRAM configurations: age, colour"},
		{"SCRAM-SHA-256=[name=a,password]", "No equals sign found in SCRAM component: password"},
		{"SCRAM-SHA-256=[name=a,salt=AAAA,saltedpassword=AAAA]", "Error attempting to create UserScramCredentialRecord"},
	} {
		_, err := ParseAddScram(tc.arg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.arg, err, tc.want)
		}
	}
}

func FuzzParseAddScram(f *testing.F) {
	f.Add("SCRAM-SHA-256=[name=a,password=b]")
	f.Add(`SCRAM-SHA-512=[name=a,salt="AAAA",saltedpassword="AAAA",iterations=4096]`)
	f.Add("SCRAM-SHA-256=[,=,]")
	f.Fuzz(func(t *testing.T, arg string) {
		rec, err := ParseAddScram(arg)
		if err == nil && (rec.User == "" || len(rec.StoredKey) == 0 || rec.Iterations < sasl.MinIterations) {
			t.Fatalf("%q: accepted %+v", arg, rec)
		}
	})
}

// TestFormatMetadataDir checks the bootstrap file (mode 0600, no
// password) and that a formatted directory, or one that holds a metadata
// log, is not formatted again.
func TestFormatMetadataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "__cluster_metadata")
	rec, err := ParseAddScram("SCRAM-SHA-512=[name=admin,password=admin-secret]")
	if err != nil {
		t.Fatal(err)
	}
	if err := FormatMetadataDir(dir, []ScramCredentialRecord{rec, rec}); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Fatalf("a credential given twice: %v", err)
	}
	if err := FormatMetadataDir(dir, []ScramCredentialRecord{rec}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, BootstrapFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("admin-secret")) {
		t.Fatal("the password is in the bootstrap file")
	}
	recs, err := readBootstrap(path)
	if err != nil || len(recs) != 1 || recs[0].Scram.User != "admin" {
		t.Fatalf("read back %+v, %v", recs, err)
	}
	if err := FormatMetadataDir(dir, nil); !errors.Is(err, ErrAlreadyFormatted) {
		t.Fatalf("formatting twice: %v", err)
	}
	logDir := t.TempDir()
	os.WriteFile(filepath.Join(logDir, "MANIFEST-000001"), nil, 0o600)
	if err := FormatMetadataDir(logDir, nil); !errors.Is(err, ErrAlreadyFormatted) {
		t.Fatalf("a directory with a metadata log: %v", err)
	}
}

// TestBootstrapScramQuorum formats the three voters of a new quorum with
// the same --add-scram arguments (each with its own random salt): every
// member ends with exactly one credential per user and mechanism, the
// same on all; the files are marked applied; a credential altered later
// is not overwritten when a member restarts with a bootstrap file again.
func TestBootstrapScramQuorum(t *testing.T) {
	var mu sync.Mutex
	formatted := map[int32]bool{}
	q := startQuorum(t, 3, func(cfg *RaftStoreConfig) {
		mu.Lock()
		defer mu.Unlock()
		if formatted[cfg.NodeID] {
			return
		}
		formatted[cfg.NodeID] = true
		var recs []ScramCredentialRecord
		for _, a := range []string{"SCRAM-SHA-512=[name=admin,password=admin-secret]", "SCRAM-SHA-256=[name=admin,password=admin-secret]", "SCRAM-SHA-512=[name=alice,password=alice-secret]"} {
			r, err := ParseAddScram(a)
			if err != nil {
				t.Error(err)
			}
			recs = append(recs, r)
		}
		if err := FormatMetadataDir(cfg.Dir, recs); err != nil {
			t.Error(err)
		}
	})
	var first map[string]ScramCredentialRecord
	for id := int32(1); id <= 3; id++ {
		s := q.stores[id]
		checkFor(t, 10*time.Second, 20*time.Millisecond, func() error {
			if err := s.Barrier(testCtx(t)); err != nil {
				return err
			}
			if n := len(s.Image().ScramCredentials); n != 3 {
				return fmt.Errorf("node %d has %d credentials", id, n)
			}
			return nil
		})
		creds := s.Image().ScramCredentials
		if first == nil {
			first = creds
		}
		for k, c := range creds {
			if !bytes.Equal(c.Salt, first[k].Salt) || !bytes.Equal(c.StoredKey, first[k].StoredKey) {
				t.Fatalf("node %d: credential %q differs from node 1's", id, k)
			}
		}
		if _, err := os.Stat(filepath.Join(q.dirs[id], BootstrapFile+bootstrapAppliedSuffix)); err != nil {
			t.Fatalf("node %d: bootstrap not marked applied: %v", id, err)
		}
		if _, err := os.Stat(filepath.Join(q.dirs[id], BootstrapFile)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("node %d: bootstrap file still there: %v", id, err)
		}
	}

	// alice's password is changed; node 2 restarts with a bootstrap file
	// that still has the old one: the new credential stays.
	changed, err := ParseAddScram("SCRAM-SHA-512=[name=alice,password=new-secret]")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.stores[1].Apply(testCtx(t), MetadataRecord{Type: ScramCredentialRecordType, Scram: &changed}); err != nil {
		t.Fatal(err)
	}
	dir2 := q.dirs[2]
	if err := os.Rename(filepath.Join(dir2, BootstrapFile+bootstrapAppliedSuffix), filepath.Join(dir2, BootstrapFile)); err != nil {
		t.Fatal(err)
	}
	s2 := q.restart(2)
	if err := s2.Barrier(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for id, s := range q.stores {
		if err := s.Barrier(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		got := s.Image().ScramCredentials[changed.key()]
		if !bytes.Equal(got.StoredKey, changed.StoredKey) {
			t.Fatalf("node %d: alice's altered credential was overwritten", id)
		}
		if len(s.Image().ScramCredentials) != 3 {
			t.Fatalf("node %d: %d credentials", id, len(s.Image().ScramCredentials))
		}
	}
}

// TestBootstrapEntryApply checks the state machine's rule: a bootstrap
// entry adds only the credentials the image lacks.
func TestBootstrapEntryApply(t *testing.T) {
	a, _ := ParseAddScram("SCRAM-SHA-512=[name=a,password=1]")
	a2, _ := ParseAddScram("SCRAM-SHA-512=[name=a,password=2]")
	b, _ := ParseAddScram("SCRAM-SHA-256=[name=a,password=1]")
	img, err := newImage().seal().applyBatch([]MetadataRecord{{Type: ScramCredentialRecordType, Scram: &a}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := applyBootstrapEntry(img, []MetadataRecord{{Type: ScramCredentialRecordType, Scram: &a2}})
	if err != nil || next != nil {
		t.Fatalf("present credential: %v, %v", next, err)
	}
	next, err = applyBootstrapEntry(img, []MetadataRecord{{Type: ScramCredentialRecordType, Scram: &a2}, {Type: ScramCredentialRecordType, Scram: &b}})
	if err != nil || len(next.ScramCredentials) != 2 || !bytes.Equal(next.ScramCredentials[a.key()].StoredKey, a.StoredKey) {
		t.Fatalf("partly present: %v", err)
	}
	if _, err := applyBootstrapEntry(img, []MetadataRecord{{Type: ClusterRecord, ClusterID: "x"}}); err == nil {
		t.Fatal("a record other than a credential was accepted")
	}
}
