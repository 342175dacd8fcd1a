package schemaregistry

import (
	"context"
	"errors"
	"fmt"
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
	logger   interface {
		Warn(msg string, args ...any)
	}
}

// newKafkaLog connects to cfg.Bootstrap and creates the topic if it is
// missing, retrying until ctx ends while the cluster is not yet reachable.
func newKafkaLog(ctx context.Context, cfg Config) (*kafkaLog, error) {
	client, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Bootstrap...),
		kgo.DefaultProduceTopic(cfg.Topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)
	if err != nil {
		return nil, fmt.Errorf("schemaregistry: %w", err)
	}
	l := &kafkaLog{topic: cfg.Topic, client: client, admin: kadm.NewClient(client), logger: cfg.Logger}
	if err := l.ensureTopic(ctx, cfg.TopicReplicationFactor); err != nil {
		client.Close()
		return nil, err
	}
	l.consumer, err = kgo.NewClient(
		kgo.SeedBrokers(cfg.Bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(time.Second),
	)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("schemaregistry: %w", err)
	}
	return l, nil
}

// ensureTopic creates the compacted topic unless it exists.
func (l *kafkaLog) ensureTopic(ctx context.Context, rf int16) error {
	backoff := 100 * time.Millisecond
	for {
		resp, err := l.admin.CreateTopic(ctx, 1, rf, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, l.topic)
		if err == nil {
			err = resp.Err
		}
		if err == nil || errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("schemaregistry: creating topic %s: %w", l.topic, err)
		}
		l.logger.Warn("creating the schemas topic; retrying", "topic", l.topic, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("schemaregistry: creating topic %s: %w", l.topic, err)
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
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

func (l *kafkaLog) EndOffset(ctx context.Context) (int64, error) {
	offsets, err := l.admin.ListEndOffsets(ctx, l.topic)
	if err != nil {
		return 0, err
	}
	o, ok := offsets.Lookup(l.topic, 0)
	if !ok {
		return 0, fmt.Errorf("no end offset for %s partition 0", l.topic)
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
