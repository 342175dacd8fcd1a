package schemaregistry_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/internal/syncbuf"
	"github.com/skein-streaming/skein/schemaregistry"
)

// waitLog waits until the log holds want.
func waitLog(t *testing.T, log *syncbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q after 30s:\n%s", want, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTopicCreation checks how the _schemas topic is created on a single
// broker: an instance that expects two brokers keeps waiting (retrying,
// not exiting) and creates nothing; one that expects none creates it with
// the one live broker, below the desired replication factor of 3 with a
// warning and without min.insync.replicas=2.
func TestTopicCreation(t *testing.T) {
	bootstrap := startBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	var log syncbuf.Buffer
	reg, err := schemaregistry.New(schemaregistry.Config{
		Bootstrap:       []string{bootstrap},
		Listen:          "127.0.0.1:0",
		ExpectedBrokers: 2,
		Logger:          slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	// Two attempts, the second after a backoff: it retries.
	waitLog(t, &log, "backoff=200ms")
	if !strings.Contains(log.String(), "1 broker(s) live; waiting for 2") {
		t.Fatalf("log:\n%s", &log)
	}
	topics, err := adm.ListTopics(context.Background(), "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("_schemas") {
		t.Fatal("_schemas created with fewer brokers than expected")
	}
	select {
	case <-reg.Ready():
		t.Fatal("ready without its topic")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel while waiting for brokers: %v", err)
	}

	startRegistry(t, bootstrap)
	topics, err = adm.ListTopics(context.Background(), "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	if p := topics["_schemas"].Partitions; len(p) != 1 || len(p[0].Replicas) != 1 {
		t.Fatalf("_schemas partitions %+v", p)
	}
	cfgs, err := adm.DescribeTopicConfigs(context.Background(), "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("_schemas", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		switch c.Key {
		case "cleanup.policy":
			if c.MaybeValue() != "compact" {
				t.Errorf("cleanup.policy %q", c.MaybeValue())
			}
		case "min.insync.replicas":
			if c.MaybeValue() != "1" {
				t.Errorf("min.insync.replicas %q with one replica", c.MaybeValue())
			}
		}
	}
}
