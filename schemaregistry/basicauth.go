package schemaregistry

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skein-streaming/skein/internal/config"
)

// BasicAuth is HTTP Basic authentication of the REST API, Confluent's
// authentication.method=BASIC.
type BasicAuth struct {
	// Realm is named in WWW-Authenticate (authentication.realm). Default
	// DefaultRealm.
	Realm string
	// Roles a user needs one of (authentication.roles); empty or "*"
	// admits every authenticated user.
	Roles []string
	// UsersFile is a Jetty property file, as Confluent's JAAS
	// PropertyFileLoginModule reads: lines "username: password[,role…]".
	// A password is plain, "OBF:" (Jetty's obfuscation) or "MD5:" (hex
	// digest); other schemes (CRYPT:) are refused. The file is read again
	// when it changes.
	UsersFile string
}

// maxUsersFileBytes caps the users file.
const maxUsersFileBytes = 16 << 20

// basicUser is one user of the users file.
type basicUser struct {
	// plain is the SHA-256 of a plain (or deobfuscated) password; md5 the
	// MD5 digest of an MD5: one. Exactly one is set.
	plain []byte
	md5   []byte
	roles []string
}

// check compares password with the user's in constant time.
func (u *basicUser) check(password string) bool {
	if u.md5 != nil {
		d := md5.Sum([]byte(password))
		return subtle.ConstantTimeCompare(d[:], u.md5) == 1
	}
	d := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(d[:], u.plain) == 1
}

// basicAuth holds the live users of a BasicAuth.
type basicAuth struct {
	cfg    BasicAuth
	logger *slog.Logger

	mu    sync.Mutex
	users map[string]*basicUser
	stat  fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}
}

func newBasicAuth(cfg BasicAuth, logger *slog.Logger) (*basicAuth, error) {
	if cfg.UsersFile == "" {
		return nil, errors.New("schemaregistry: BasicAuth needs UsersFile")
	}
	a := &basicAuth{cfg: cfg, logger: logger}
	a.stat = stampOf(cfg.UsersFile)
	users, err := loadUsers(cfg.UsersFile)
	if err != nil {
		return nil, err
	}
	a.users = users
	return a, nil
}

func (a *basicAuth) realm() string {
	if a.cfg.Realm == "" {
		return DefaultRealm
	}
	return a.cfg.Realm
}

// current returns the users, reading the file again when it changed; a
// file that no longer loads leaves the previous users in force.
func (a *basicAuth) current() map[string]*basicUser {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := stampOf(a.cfg.UsersFile); st != a.stat {
		a.stat = st
		users, err := loadUsers(a.cfg.UsersFile)
		if err != nil {
			a.logger.Warn("schema registry users file changed but does not load; keeping the previous users", "err", err)
		} else {
			a.users = users
			a.logger.Info("schema registry users file reloaded", "users", len(users))
		}
	}
	return a.users
}

// dummy is compared against when the user is unknown, so that an unknown
// user costs what a wrong password does.
var dummy = &basicUser{plain: make([]byte, sha256.Size)}

var (
	errUnauthorized = &Error{Status: http.StatusUnauthorized, Code: http.StatusUnauthorized, Message: "Unauthorized"}
	errForbidden    = &Error{Status: http.StatusForbidden, Code: http.StatusForbidden, Message: "Forbidden"}
)

// authenticate checks req's Basic credentials: 401 without valid ones,
// 403 for a user holding none of the roles. It returns the user name.
func (a *basicAuth) authenticate(req *http.Request) (string, *Error) {
	name, password, ok := req.BasicAuth()
	if !ok {
		return "", errUnauthorized
	}
	u, known := a.current()[name]
	if !known {
		u = dummy
	}
	if !u.check(password) || !known {
		return name, errUnauthorized
	}
	if !a.permits(u) {
		return name, errForbidden
	}
	return name, nil
}

func (a *basicAuth) permits(u *basicUser) bool {
	if len(a.cfg.Roles) == 0 || slices.Contains(a.cfg.Roles, "*") {
		return true
	}
	for _, r := range u.roles {
		if slices.Contains(a.cfg.Roles, r) {
			return true
		}
	}
	return false
}

// loadUsers reads a Jetty property users file: Java properties (so "="
// separates as ":" does, and # or ! start a comment) whose value is the
// password followed by the user's roles, comma separated.
func loadUsers(path string) (map[string]*basicUser, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PropUsersFile, err)
	}
	if len(data) > maxUsersFileBytes {
		return nil, fmt.Errorf("%s: %s exceeds %d bytes", PropUsersFile, path, maxUsersFileBytes)
	}
	props, err := config.ReadProperties(bytes.NewReader(data), path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", PropUsersFile, err)
	}
	users := make(map[string]*basicUser, len(props))
	for _, p := range props {
		name := strings.TrimSpace(p.Key)
		if name == "" {
			continue
		}
		fields := strings.Split(p.Value, ",")
		cred := strings.TrimSpace(fields[0])
		u := &basicUser{}
		for _, r := range fields[1:] {
			if r = strings.TrimSpace(r); r != "" {
				u.roles = append(u.roles, r)
			}
		}
		switch {
		case strings.HasPrefix(cred, "OBF:"):
			pw, err := Deobfuscate(cred)
			if err != nil {
				return nil, fmt.Errorf("%s: user %q: %v", path, name, err)
			}
			d := sha256.Sum256([]byte(pw))
			u.plain = d[:]
		case strings.HasPrefix(cred, "MD5:"):
			d, err := hex.DecodeString(cred[4:])
			if err != nil || len(d) != md5.Size {
				return nil, fmt.Errorf("%s: user %q: MD5: must be followed by the 32 hex digits of the password's MD5 digest", path, name)
			}
			u.md5 = d
		case strings.HasPrefix(cred, "CRYPT:"):
			return nil, fmt.Errorf("%s: user %q: CRYPT: passwords are not supported; use a plain, OBF: or MD5: password", path, name)
		default:
			d := sha256.Sum256([]byte(cred))
			u.plain = d[:]
		}
		users[name] = u
	}
	return users, nil
}

// Deobfuscate decodes a password obfuscated by Jetty's Password
// (org.eclipse.jetty.util.security.Password, "OBF:…"): groups of four
// base-36 digits, each one byte, or "U" and four digits for a byte above
// 127. Obfuscation is reversible and protects nothing from a reader of
// the file.
func Deobfuscate(s string) (string, error) {
	s = strings.TrimPrefix(s, "OBF:")
	out := make([]byte, 0, len(s)/4)
	for i := 0; i < len(s); {
		if s[i] == 'U' {
			if i+5 > len(s) {
				return "", errors.New("truncated OBF: password")
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 36, 32)
			if err != nil {
				return "", fmt.Errorf("bad OBF: password: %v", err)
			}
			out = append(out, byte(n>>8))
			i += 5
			continue
		}
		if i+4 > len(s) {
			return "", errors.New("truncated OBF: password")
		}
		n, err := strconv.ParseUint(s[i:i+4], 36, 32)
		if err != nil {
			return "", fmt.Errorf("bad OBF: password: %v", err)
		}
		out = append(out, byte((int(n/256)+int(n%256)-254)/2))
		i += 4
	}
	return string(out), nil
}
