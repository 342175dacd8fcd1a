package clustertest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BinEnv names an environment variable that, when set, is the skein
// binary to run instead of building one.
const BinEnv = "SKEIN_BIN"

// BuildSkein returns the skein binary the tests run: $SKEIN_BIN if set,
// else a fresh `go build ./cmd/skein` into dir (so that a stale bin/skein
// is never tested). Call it once from TestMain.
func BuildSkein(dir string) (string, error) {
	if bin := os.Getenv(BinEnv); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinEnv, bin, err)
		}
		return abs, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "skein")
	build := exec.Command("go", "build", "-o", bin, "./cmd/skein")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building skein: %v\n%s", err, out)
	}
	return bin, nil
}

// RepoRoot is the directory of the main module's go.mod.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	return filepath.Dir(gomod), nil
}
