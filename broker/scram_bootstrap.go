package broker

// Bootstrap SCRAM credentials: `skein storage format --add-scram`, as
// Kafka's `kafka-storage.sh format --add-scram` (KIP-900), writes SCRAM
// credentials into a bootstrap file of a node's metadata directory before
// the node first starts, so that a cluster whose listeners all require
// SASL/SCRAM has its administrator's and brokers' credentials when it
// forms. The metadata store proposes them once the quorum has a leader
// (see RaftStore.applyBootstrap); only the salt, stored key, server key
// and iteration count are written, never the password.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/skein-streaming/skein/broker/sasl"
)

const (
	// BootstrapFile is the bootstrap file of a metadata directory.
	BootstrapFile = "bootstrap.json"
	// bootstrapAppliedSuffix marks a bootstrap file whose records were
	// proposed (or found present); bootstrapIgnoredSuffix one of a node
	// that joined a quorum that already existed.
	bootstrapAppliedSuffix = ".applied"
	bootstrapIgnoredSuffix = ".ignored"
	bootstrapFormat        = 1
	// scramSaltLen is the length of a generated salt (Kafka's
	// ScramFormatter.secureRandomBytes).
	scramSaltLen = 32
	// defaultScramIterations is add-scram's iteration count when none is
	// given, as Kafka's.
	defaultScramIterations = 4096
)

type bootstrapMetadata struct {
	Format  int              `json:"format"`
	Records []MetadataRecord `json:"records"`
}

// ParseAddScram parses one --add-scram argument in Kafka's syntax,
// MECHANISM=[name=NAME,password=PASSWORD] with optional salt= (base64),
// iterations= (4096 to 16384, default 4096) and saltedpassword= (base64,
// with salt= and in place of password=); a value may be in double quotes.
// It returns the credential record: a random salt is drawn when none is
// given, and the password is not kept.
func ParseAddScram(arg string) (ScramCredentialRecord, error) {
	var rec ScramCredentialRecord
	arg = strings.TrimSpace(arg)
	eq := strings.IndexByte(arg, '=')
	if eq < 0 {
		return rec, fmt.Errorf("Failed to find equals sign in SCRAM argument '%s'", arg)
	}
	mech, conf := arg[:eq], arg[eq+1:]
	if mech != sasl.ScramSHA256 && mech != sasl.ScramSHA512 {
		return rec, fmt.Errorf("The add-scram mechanism %s is not supported.", mech)
	}
	if !strings.HasPrefix(conf, "[") {
		return rec, errors.New("Expected configuration string to start with [")
	}
	if !strings.HasSuffix(conf, "]") || len(conf) < 2 {
		return rec, errors.New("Expected configuration string to end with ]")
	}
	comps := map[string]string{}
	for _, c := range strings.Split(conf[1:len(conf)-1], ",") {
		k, v, ok := strings.Cut(c, "=")
		if !ok {
			return rec, fmt.Errorf("No equals sign found in SCRAM component: %s", c)
		}
		if len(v) >= 2 && strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`) {
			v = v[1 : len(v)-1]
		}
		comps[k] = v
	}
	take := func(k string) (string, bool) {
		v, ok := comps[k]
		delete(comps, k)
		return v, ok
	}
	name, ok := take("name")
	if !ok {
		return rec, errors.New("You must supply 'name' to add-scram")
	}
	if name == "" {
		return rec, errors.New("The 'name' of add-scram must not be empty")
	}
	var salt []byte
	saltStr, haveSalt := take("salt")
	if haveSalt {
		var err error
		if salt, err = base64.StdEncoding.DecodeString(saltStr); err != nil {
			return rec, fmt.Errorf("Failed to decode given salt: %s", saltStr)
		}
		if len(salt) == 0 {
			return rec, errors.New("The 'salt' of add-scram must not be empty")
		}
	}
	iterations := int64(defaultScramIterations)
	if s, ok := take("iterations"); ok {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return rec, fmt.Errorf("Failed to parse iterations count: %s", s)
		}
		iterations = n
	}
	password, havePassword := take("password")
	saltedStr, haveSalted := take("saltedpassword")
	var salted []byte
	switch {
	case havePassword && haveSalted:
		return rec, errors.New("You must only supply one of 'password' or 'saltedpassword' to add-scram")
	case !havePassword && !haveSalted:
		return rec, errors.New("You must supply one of 'password' or 'saltedpassword' to add-scram")
	case haveSalted && !haveSalt:
		return rec, errors.New("You must supply 'salt' with 'saltedpassword' to add-scram")
	case haveSalted:
		var err error
		if salted, err = base64.StdEncoding.DecodeString(saltedStr); err != nil {
			return rec, fmt.Errorf("Failed to decode given saltedPassword: %s", saltedStr)
		}
	}
	if len(comps) > 0 {
		keys := make([]string, 0, len(comps))
		for k := range comps {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return rec, fmt.Errorf("Unknown SCRAM configurations: %s", strings.Join(keys, ", "))
	}
	if iterations < sasl.MinIterations {
		return rec, fmt.Errorf("The 'iterations' value must be >= %d for add-scram using %s", sasl.MinIterations, mech)
	}
	if iterations > sasl.MaxIterations {
		return rec, fmt.Errorf("The 'iterations' value must be <= %d for add-scram using %s", sasl.MaxIterations, mech)
	}
	if !haveSalt {
		salt = make([]byte, scramSaltLen)
		rand.Read(salt)
	}
	if !haveSalted {
		var err error
		if salted, err = sasl.SaltedPassword(mech, password, salt, int32(iterations)); err != nil {
			return rec, err
		}
	}
	cred, err := sasl.NewCredential(mech, salt, salted, int32(iterations))
	if err != nil {
		return rec, fmt.Errorf("Error attempting to create UserScramCredentialRecord: %v", err)
	}
	return ScramCredentialRecord{User: name, Mechanism: mech, Salt: cred.Salt, StoredKey: cred.StoredKey, ServerKey: cred.ServerKey, Iterations: cred.Iterations}, nil
}

// ErrAlreadyFormatted is the error of FormatMetadataDir on a directory
// that holds a metadata log or a bootstrap file.
var ErrAlreadyFormatted = errors.New("already formatted")

// MetadataDirFormatted reports whether dir holds a metadata log (a raft
// store, or the metadata log file of earlier versions) or a bootstrap
// file, applied or not.
func MetadataDirFormatted(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, legacyMetadataLog) || strings.HasPrefix(n, BootstrapFile) {
			return true, nil
		}
	}
	return false, nil
}

// FormatMetadataDir writes the bootstrap file of the metadata directory
// dir (<log.dirs>/__cluster_metadata) with the SCRAM credentials, mode
// 0600. A directory already formatted is ErrAlreadyFormatted and is left
// as it is. A user and mechanism given twice is an error.
func FormatMetadataDir(dir string, creds []ScramCredentialRecord) error {
	seen := map[string]bool{}
	recs := make([]MetadataRecord, 0, len(creds))
	for _, c := range creds {
		if c.User == "" || (c.Mechanism != sasl.ScramSHA256 && c.Mechanism != sasl.ScramSHA512) || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
			return fmt.Errorf("invalid SCRAM credential for user %q", c.User)
		}
		if seen[c.key()] {
			return fmt.Errorf("add-scram: the %s credential of user %s is given more than once", c.Mechanism, c.User)
		}
		seen[c.key()] = true
		c := c
		recs = append(recs, MetadataRecord{Type: ScramCredentialRecordType, Scram: &c})
	}
	formatted, err := MetadataDirFormatted(dir)
	if err != nil {
		return err
	}
	if formatted {
		return fmt.Errorf("metadata directory %s: %w", dir, ErrAlreadyFormatted)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	body, err := json.Marshal(bootstrapMetadata{Format: bootstrapFormat, Records: recs})
	if err != nil {
		return err
	}
	path := filepath.Join(dir, BootstrapFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// readBootstrap reads a bootstrap file: SCRAM credential records only.
func readBootstrap(path string) ([]MetadataRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var bm bootstrapMetadata
	if err := json.Unmarshal(data, &bm); err != nil {
		return nil, fmt.Errorf("bootstrap file %s: %w", path, err)
	}
	if bm.Format != bootstrapFormat {
		return nil, fmt.Errorf("bootstrap file %s: unknown format %d", path, bm.Format)
	}
	for i, r := range bm.Records {
		if r.Type != ScramCredentialRecordType || r.Scram == nil || r.Scram.User == "" || r.Scram.Mechanism == "" {
			return nil, fmt.Errorf("bootstrap file %s: record %d is not a SCRAM credential", path, i)
		}
	}
	return bm.Records, nil
}

// applyBootstrap proposes the credentials of the bootstrap file that the
// metadata image does not have yet (the state machine checks again when it
// applies them, so that several members proposing the same bootstrap, or a
// credential altered meanwhile, leave exactly one credential per user and
// mechanism and never overwrite one), then renames the file so that it is
// not proposed again. A node that joined a quorum that existed before it
// ignores its bootstrap file, as a Kafka node's bootstrap metadata only
// seeds a new cluster: credentials are created with
// AlterUserScramCredentials there.
func (s *RaftStore) applyBootstrap(ctx context.Context, joined bool) error {
	path := filepath.Join(s.cfg.Dir, BootstrapFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if joined {
		s.log.Warn("bootstrap SCRAM credentials ignored: this node joined an existing metadata quorum; create credentials with AlterUserScramCredentials", "file", path)
		if err := os.Rename(path, path+bootstrapIgnoredSuffix); err != nil {
			return err
		}
		return syncDir(s.cfg.Dir)
	}
	recs, err := readBootstrap(path)
	if err != nil {
		return err
	}
	img := s.Image()
	var missing []MetadataRecord
	for _, r := range recs {
		if _, ok := img.ScramCredentials[r.Scram.key()]; !ok {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		if err := s.propose(ctx, kindBootstrap, missing); err != nil {
			return fmt.Errorf("metadata: bootstrap SCRAM credentials: %w", err)
		}
	}
	s.log.Info("bootstrap SCRAM credentials applied", "file", path, "credentials", len(recs), "proposed", len(missing))
	if err := os.Rename(path, path+bootstrapAppliedSuffix); err != nil {
		return err
	}
	return syncDir(s.cfg.Dir)
}

// applyBootstrapEntry applies a bootstrap entry to img: the credentials it
// does not have, none when it has them all (nil image).
func applyBootstrapEntry(img *MetadataImage, recs []MetadataRecord) (*MetadataImage, error) {
	var add []MetadataRecord
	for _, r := range recs {
		if r.Type != ScramCredentialRecordType || r.Scram == nil {
			return nil, errors.New("bootstrap entry with a record that is not a SCRAM credential")
		}
		if _, ok := img.ScramCredentials[r.Scram.key()]; !ok {
			add = append(add, r)
		}
	}
	if len(add) == 0 {
		return nil, nil
	}
	return img.applyBatch(add)
}
