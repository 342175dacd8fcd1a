package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaLog is the recordLog on the _schemas topic: one partition,
// compacted, read from its start by a direct partition consumer and
// written with acks=all by an idempotent producer.
type kafkaLog struct {
	topic    string
	client   *kgo.Client
	consumer *kgo.Client
	admin    *kadm.Client
	logger   *slog.Logger
}

// newKafkaLog connects to cfg.Bootstrap and creates the topic if it is
// missing, retrying until ctx ends while the cluster is not yet reachable
// or has too few brokers.
func newKafkaLog(ctx context.Context, cfg Config) (*kafkaLog, error) {
	client, err := kgo.NewClient(kafkaOpts(cfg,
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		// Metadata requests (the admin's too) are answered from a cache
		// no older than this: a broker joining or a leader moving is seen
		// at once rather than after kgo's default of 5 s.
		kgo.MetadataMinAge(metadataMinAge),
	)...)
	if err != nil {
		return nil, fmt.Errorf("schemaregistry: %w", err)
	}
	l := &kafkaLog{topic: cfg.Topic, client: client, admin: kadm.NewClient(client), logger: cfg.Logger}
	if err := l.ensureTopic(ctx, cfg); err != nil {
		client.Close()
		return nil, err
	}
	l.consumer, err = kgo.NewClient(kafkaOpts(cfg,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(time.Second),
		kgo.MetadataMinAge(metadataMinAge),
	)...)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("schemaregistry: %w", err)
	}
	return l, nil
}

// kafkaOpts are the options of a client of the registry: the seed
// brokers, cfg.KafkaOpts (the connection's security), then own.
func kafkaOpts(cfg Config, own ...kgo.Opt) []kgo.Opt {
	opts := append([]kgo.Opt{kgo.SeedBrokers(cfg.Bootstrap...)}, cfg.KafkaOpts...)
	return append(opts, own...)
}

// metadataMinAge bounds how stale the clients' cached metadata may be.
const metadataMinAge = 250 * time.Millisecond

// errTopicUnusable marks a topic the registry cannot use; retrying does
// not help.
var errTopicUnusable = errors.New("unusable schemas topic")

// ensureTopic creates the compacted topic unless it exists, retrying
// with backoff until ctx ends while the cluster cannot answer or has
// fewer live brokers than the topic needs.
func (l *kafkaLog) ensureTopic(ctx context.Context, cfg Config) error {
	backoff := 100 * time.Millisecond
	for {
		err := l.tryEnsureTopic(ctx, cfg)
		if err == nil {
			return nil
		}
		if errors.Is(err, errTopicUnusable) || ctx.Err() != nil {
			return fmt.Errorf("schemaregistry: topic %s: %w", l.topic, err)
		}
		l.logger.Warn("the schemas topic is not ready; retrying", "topic", l.topic, "err", err, "backoff", backoff)
		if !sleepCtx(ctx, backoff) {
			return fmt.Errorf("schemaregistry: topic %s: %w", l.topic, err)
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// tryEnsureTopic checks the topic once and creates it if it is missing
// and enough brokers are live.
func (l *kafkaLog) tryEnsureTopic(ctx context.Context, cfg Config) error {
	topics, err := l.admin.ListTopics(ctx, l.topic)
	if err != nil {
		return err
	}
	if td, ok := topics[l.topic]; ok && td.Err == nil {
		return l.checkTopic(td, cfg)
	} else if ok && !errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return td.Err
	}
	rf := cfg.TopicReplicationFactor
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	if rf > 0 {
		brokers, err := l.admin.ListBrokers(ctx)
		if err != nil {
			return err
		}
		live := int16(len(brokers))
		if cfg.ExpectedBrokers > 0 {
			if need := min(rf, int16(min(cfg.ExpectedBrokers, 1<<14))); live < need {
				return fmt.Errorf("%d broker(s) live; waiting for %d to create the topic with replication factor %d", live, need, need)
			}
		}
		if live == 0 {
			return errors.New("no live broker")
		}
		if live < rf {
			l.logger.Warn("creating the schemas topic with fewer replicas than desired; add brokers and raise its replication factor",
				"topic", l.topic, "replication_factor", live, "desired", rf)
			rf = live
		}
		if rf >= 3 {
			configs["min.insync.replicas"] = kadm.StringPtr("2")
		}
	}
	resp, err := l.admin.CreateTopic(ctx, 1, rf, configs, l.topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	if err == nil {
		l.logger.Info("created the schemas topic", "topic", l.topic, "replication_factor", rf)
	}
	return err
}

// checkTopic verifies an existing topic: it must have one partition (as
// Confluent's registry requires); fewer replicas than desired earn a
// warning.
func (l *kafkaLog) checkTopic(td kadm.TopicDetail, cfg Config) error {
	if n := len(td.Partitions); n != 1 {
		return fmt.Errorf("%w: the topic has %d partitions, it must have exactly 1", errTopicUnusable, n)
	}
	if p, ok := td.Partitions[0]; ok && cfg.TopicReplicationFactor > 0 && len(p.Replicas) < int(cfg.TopicReplicationFactor) {
		l.logger.Warn("the schemas topic has fewer replicas than desired; raise its replication factor (skein cluster reassign)",
			"topic", l.topic, "replication_factor", len(p.Replicas), "desired", cfg.TopicReplicationFactor)
	}
	return nil
}

// sleepCtx waits d; it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (l *kafkaLog) Append(ctx context.Context, recs []record) (int64, error) {
	krecs := make([]*kgo.Record, 0, len(recs))
	for _, r := range recs {
		k, v, err := r.encode()
		if err != nil {
			return 0, err
		}
		krecs = append(krecs, &kgo.Record{Topic: l.topic, Partition: 0, Key: k, Value: v})
	}
	results := l.client.ProduceSync(ctx, krecs...)
	if err := results.FirstErr(); err != nil {
		return 0, err
	}
	last := int64(-1)
	for _, res := range results {
		last = max(last, res.Record.Offset)
	}
	return last, nil
}

// EndOffset returns the partition's high watermark, retrying retriable
// errors (a leader moving, a broker starting) until ctx ends.
func (l *kafkaLog) EndOffset(ctx context.Context) (int64, error) {
	backoff := 50 * time.Millisecond
	for {
		off, err := l.endOffset(ctx)
		if err == nil || !kerr.IsRetriable(err) && !errors.Is(err, errNoEndOffset) {
			return off, err
		}
		if !sleepCtx(ctx, backoff) {
			return 0, err
		}
		backoff = min(2*backoff, time.Second)
	}
}

var errNoEndOffset = errors.New("no end offset")

func (l *kafkaLog) endOffset(ctx context.Context) (int64, error) {
	offsets, err := l.admin.ListEndOffsets(ctx, l.topic)
	if err != nil {
		return 0, err
	}
	o, ok := offsets.Lookup(l.topic, 0)
	if !ok {
		return 0, fmt.Errorf("%w for %s partition 0", errNoEndOffset, l.topic)
	}
	if o.Err != nil {
		return 0, o.Err
	}
	return o.Offset, nil
}

func (l *kafkaLog) Consume(ctx context.Context, apply func(offset int64, key, value []byte)) error {
	for {
		fetches := l.consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) {
				l.logger.Warn("fetching the schemas topic", "topic", topic, "partition", partition, "err", err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) {
			value := r.Value
			if len(value) == 0 {
				value = nil
			}
			apply(r.Offset, r.Key, value)
		})
	}
}

// Close closes both clients.
func (l *kafkaLog) Close() {
	if l.consumer != nil {
		l.consumer.Close()
	}
	l.client.Close()
}
