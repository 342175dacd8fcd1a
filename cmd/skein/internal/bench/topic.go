package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnsureTopic creates topic with partitions and replicationFactor unless it
// exists already; -1 for either means the broker default. It reports
// whether it created the topic.
func EnsureTopic(ctx context.Context, cl *kgo.Client, topic string, partitions int32, replicationFactor int16) (bool, error) {
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, replicationFactor, nil, topic)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	case err != nil && resp.ErrMessage != "":
		return false, fmt.Errorf("create topic %s: %w (broker: %s)", topic, err, resp.ErrMessage)
	case err != nil:
		return false, fmt.Errorf("create topic %s: %w", topic, err)
	}
	return true, nil
}

// listOffsets returns partition → offset for topic from one kadm listing.
func listOffsets(topic string, listed kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err != nil {
		return nil, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	out := make(map[int32]int64)
	for p, o := range listed[topic] {
		if o.Err != nil {
			return nil, fmt.Errorf("list offsets of %s: %w", topic, o.Err)
		}
		out[p] = o.Offset
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("list offsets of %s: no partitions", topic)
	}
	return out, nil
}
