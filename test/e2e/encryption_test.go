package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEncryptionAtRest produces records with a distinctive plaintext to a
// broker with encryption at rest on, and searches every file of the data
// directory for it: none may hold it (a control broker without encryption
// must, or the search proves nothing). It restarts the broker and
// consumes everything back; rotates the key by editing the key file and
// waits until no segment names the old key; then removes the old key,
// restarts, and consumes everything again.
func TestEncryptionAtRest(t *testing.T) {
	const (
		topic   = "phi-records"
		records = 3000 // about 3 MiB: several 1 MiB segments
		oldKey  = "rest-key-2025-q4-a71f"
		newKey  = "rest-key-2026-q1-c09e"
	)
	marker := fmt.Sprintf("MRN-%d-diagnosis", time.Now().UnixNano())

	t.Run("control without encryption", func(t *testing.T) {
		dir := t.TempDir()
		sp := startSkein(t, dir, 0)
		produceMarked(t, sp.addr, topic, marker, 200)
		sp.stop()
		if found := filesWith(t, dir, []byte(marker)); len(found) == 0 {
			t.Fatal("the plaintext is not in the files of an unencrypted broker: the search cannot fail")
		}
	})

	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "skein-keys.json")
	oldMaterial, newMaterial := randomKey(t), randomKey(t)
	writeKeys(t, keyFile, oldKey, map[string][]byte{oldKey: oldMaterial})
	args := []string{
		"--set", "skein.encryption.enable=true",
		"--set", "skein.encryption.key.file=" + keyFile,
		"--set", "skein.encryption.rotation.check.interval.ms=200",
	}
	sp := startSkein(t, dir, 0, args...)
	produceMarked(t, sp.addr, topic, marker, records)
	sp.stop()
	if found := filesWith(t, dir, []byte(marker)); len(found) != 0 {
		t.Fatalf("plaintext found in %v", found)
	}
	if found := filesWith(t, dir, []byte(oldKey)); len(found) == 0 {
		t.Fatalf("no file names key %s: is the data encrypted under it?", oldKey)
	}

	sp = startSkein(t, dir, 0, args...)
	consumeMarked(t, sp.addr, topic, marker, records)

	// Rotate: the new key becomes current; the old one stays to read
	// what it encrypted until that is rewritten.
	writeKeys(t, keyFile, newKey, map[string][]byte{oldKey: oldMaterial, newKey: newMaterial})
	checkFor(t, 60*time.Second, 100*time.Millisecond, func() error {
		sp.checkAlive()
		if found := segmentsWith(t, dir, []byte(oldKey)); len(found) != 0 {
			return fmt.Errorf("segments still under %s: %v", oldKey, found)
		}
		if found := segmentsWith(t, filepath.Join(dir, topic+"-0"), []byte(newKey)); len(found) == 0 {
			return fmt.Errorf("no segment of %s under %s yet", topic, newKey)
		}
		return nil
	})
	consumeMarked(t, sp.addr, topic, marker, records)
	sp.stop()

	// The old key is no longer needed.
	writeKeys(t, keyFile, newKey, map[string][]byte{newKey: newMaterial})
	sp = startSkein(t, dir, 0, args...)
	consumeMarked(t, sp.addr, topic, marker, records)
	sp.stop()
	for _, needle := range []string{marker, oldKey} {
		if found := segmentsWith(t, dir, []byte(needle)); len(found) != 0 {
			t.Fatalf("%q found in %v", needle, found)
		}
	}
	if found := filesWith(t, dir, []byte(marker)); len(found) != 0 {
		t.Fatalf("plaintext found in %v", found)
	}
	if log := sp.readLog(); strings.Contains(log, base64.StdEncoding.EncodeToString(newMaterial)) ||
		strings.Contains(log, base64.StdEncoding.EncodeToString(oldMaterial)) {
		t.Fatal("the broker log holds key material")
	}
}

// TestKillDuringAcksAllProduceEncrypted is TestKillDuringAcksAllProduce
// with encryption at rest on: recovery after SIGKILL authenticates every
// frame of the segments it scans, truncates only torn frames, and keeps
// every acknowledged record. SKEIN_KILL_ITERATIONS overrides the
// iteration count (default 6, 3 with -short).
func TestKillDuringAcksAllProduceEncrypted(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	writeKeys(t, keyFile, "kill-key", map[string][]byte{"kill-key": randomKey(t)})
	defIterations := int64(6)
	if testing.Short() {
		defIterations = 3
	}
	runKillTest(t, int(envInt(t, "SKEIN_KILL_ITERATIONS", defIterations)),
		"--set", "skein.encryption.enable=true", "--set", "skein.encryption.key.file="+keyFile)
}

// TestEncryptionRefusesOpenKeyFile: a key file that others may read is
// refused, by --check-config as at start, with an error naming the
// problem.
func TestEncryptionRefusesOpenKeyFile(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	writeKeys(t, keyFile, "k1", map[string][]byte{"k1": randomKey(t)})
	check := func() (string, error) {
		out, err := exec.Command(skeinBin, "serve", "--check-config", "--data-dir", t.TempDir(),
			"--set", "skein.admin.address=", "--set", "skein.registry.address=",
			"--set", "skein.encryption.enable=true", "--set", "skein.encryption.key.file="+keyFile).CombinedOutput()
		return string(out), err
	}
	if out, err := check(); err != nil {
		t.Fatalf("--check-config with a private key file: %v\n%s", err, out)
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := check()
	if err == nil || !strings.Contains(out, "must not be accessible by group or others") {
		t.Fatalf("--check-config with a world-readable key file: %v\n%s", err, out)
	}
}

func randomKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// writeKeys replaces the key file atomically, mode 0600, as an operator
// should.
func writeKeys(t *testing.T, path, current string, keys map[string][]byte) {
	t.Helper()
	var parts []string
	for id, k := range keys {
		parts = append(parts, fmt.Sprintf("%q: %q", id, base64.StdEncoding.EncodeToString(k)))
	}
	content := fmt.Sprintf("{\"current\": %q, \"keys\": {%s}}\n", current, strings.Join(parts, ", "))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// produceMarked creates topic with 1 MiB segments and produces n records
// of about 1 KiB whose values start with marker, with acks=all.
func produceMarked(t *testing.T, addr, topic, marker string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seg := "1048576"
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &seg}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Partition: 0, Key: []byte(fmt.Sprintf("patient-%d", i%50)), Value: markedValue(marker, i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
}

func markedValue(marker string, i int) []byte {
	return fmt.Appendf(nil, "%s %06d %s", marker, i, strings.Repeat("notes ", 170))
}

// consumeMarked reads partition 0 of topic from the start and expects
// exactly the n records produceMarked wrote.
func consumeMarked(t *testing.T, addr, topic, marker string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming %s: %d of %d records after %v", topic, got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consuming %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(got) {
				t.Fatalf("record at offset %d, want %d", r.Offset, got)
			}
			if want := markedValue(marker, got); !bytes.Equal(r.Value, want) {
				t.Fatalf("offset %d: %.40q, want %.40q", r.Offset, r.Value, want)
			}
			got++
		})
	}
}

// filesWith returns the files under dir whose bytes contain needle.
func filesWith(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	return walkFiles(t, dir, func(string) bool { return true }, needle)
}

// segmentsWith returns the segment (.log) files under dir whose bytes
// contain needle. Files of replaced segments waiting for deletion
// (.deleted) are not segments.
func segmentsWith(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	return walkFiles(t, dir, func(name string) bool { return strings.HasSuffix(name, ".log") }, needle)
}

func walkFiles(t *testing.T, dir string, want func(string) bool, needle []byte) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while the broker runs
			}
			return err
		}
		if d.IsDir() || !want(d.Name()) {
			return nil
		}
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Contains(data, needle) {
			rel, _ := filepath.Rel(dir, path)
			found = append(found, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
