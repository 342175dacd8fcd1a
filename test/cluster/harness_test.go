package cluster

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

// skeinBin is the skein binary the tests run, built once in TestMain
// (or $SKEIN_BIN).
var skeinBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "skein-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := clustertest.BuildSkein(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	skeinBin = bin
	return m.Run()
}

// startCluster starts a cluster of the skein binary under test.
func startCluster(t *testing.T, opts clustertest.Options) *clustertest.Cluster {
	t.Helper()
	opts.Binary = skeinBin
	start := time.Now()
	c := clustertest.Start(t, opts)
	t.Logf("cluster of %d nodes formed in %v", opts.Nodes, time.Since(start).Round(time.Millisecond))
	return c
}

// envInt reads an integer override from the environment.
func envInt(t testing.TB, name string, def int64) int64 {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return v
}

// longTest skips a test in -short mode.
func longTest(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("process-level cluster test; skipped with -short")
	}
}
