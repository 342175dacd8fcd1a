package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/protocol"
)

func writeKeyFile(t *testing.T, path, current string, ids ...string) {
	t.Helper()
	var parts []string
	for _, id := range ids {
		k := bytes.Repeat([]byte(id[len(id)-1:]), 32)
		parts = append(parts, fmt.Sprintf("%q: %q", id, base64.StdEncoding.EncodeToString(k)))
	}
	content := fmt.Sprintf(`{"current": %q, "keys": {%s}}`, current, strings.Join(parts, ", "))
	if err := os.WriteFile(path+".tmp", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestEncryptionSettings: encryption needs a key file, and a bad key file
// stops New with an error naming the setting.
func TestEncryptionSettings(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys.json")
	writeKeyFile(t, keyFile, "k1", "k1")
	for _, tc := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"skein.encryption.enable": "true"}, "skein.encryption.enable=true needs skein.encryption.key.file"},
		{map[string]string{"skein.encryption.enable": "true", "skein.encryption.key.file": filepath.Join(dir, "missing")}, "skein.encryption.key.file"},
		{map[string]string{"skein.encryption.key.file": dir}, "not a regular file"},
		{map[string]string{"skein.encryption.rotation.check.interval.ms": "0"}, "skein.encryption.rotation.check.interval.ms"},
	} {
		_, err := New(Config{
			NodeID: 1, DataDir: t.TempDir(), Settings: tc.settings,
			Listeners: []protocol.ListenerConfig{{Name: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Addr: "127.0.0.1:0"}},
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with %v: %v; want an error with %q", tc.settings, err, tc.want)
		}
	}
}

// TestEncryptionRotation: with encryption on, every partition's data
// (__consumer_offsets included) is under the current key; after the key
// file names a new current key, one rotation pass moves every segment to
// it, and the broker restarts and serves the data with the old key gone.
func TestEncryptionRotation(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys.json")
	writeKeyFile(t, keyFile, "k1", "k1")
	settings := map[string]string{
		"skein.encryption.enable":   "true",
		"skein.encryption.key.file": keyFile,
		// Rotation is driven by the test.
		"skein.encryption.rotation.check.interval.ms": "3600000",
		"offsets.topic.num.partitions":                "2",
	}
	tb := startBroker(t, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "enc"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.DefaultProduceTopic("enc"), kgo.ConsumerGroup("enc-group"), kgo.ConsumeTopics("enc"),
		kgo.DisableAutoCommit())
	var want []string
	for i := 0; i < 50; i++ {
		v := fmt.Sprintf("secret %d", i)
		want = append(want, v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	consume := func(cl *kgo.Client) {
		t.Helper()
		var got []string
		for len(got) < len(want) {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("consumed %d of %d: %v", len(got), len(want), err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("consumed %v", got)
		}
	}
	consume(cl)
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	keysOf := func(tb *testBroker) map[string]int {
		m := map[string]int{}
		for _, p := range tb.allPartitions() {
			for id, n := range p.log.SegmentKeys() {
				m[id] += n
			}
		}
		return m
	}
	if got := keysOf(tb); len(got) != 1 || got["k1"] < 2 {
		t.Fatalf("segments by key %v; want the topic and the offsets under k1", got)
	}

	writeKeyFile(t, keyFile, "k2", "k1", "k2")
	tb.rotateKeys()
	if got := keysOf(tb); len(got) != 1 || got["k2"] < 2 {
		t.Fatalf("segments by key %v after a rotation pass; want all under k2", got)
	}
	writeKeyFile(t, keyFile, "k2", "k2")
	tb = tb.restart()
	cl = tb.client(kgo.ConsumeTopics("enc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	consume(cl)
	offs, err := tb.admin().FetchOffsets(ctx, "enc-group")
	if err != nil || offs.Error() != nil {
		t.Fatalf("committed offsets after the rotation: %v, %v", err, offs.Error())
	}
	if o, ok := offs.Lookup("enc", 0); !ok || o.At != int64(len(want)) {
		t.Fatalf("committed offset %+v, want %d", o, len(want))
	}
}
