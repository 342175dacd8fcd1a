package bench

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kadmEnd returns the sum of topic's end offsets.
func kadmEnd(t *testing.T, cl *kgo.Client, topic string) (int64, error) {
	t.Helper()
	listed, err := kadm.NewClient(cl).ListEndOffsets(t.Context(), topic)
	ends, err := listOffsets(topic, listed, err)
	var sum int64
	for _, e := range ends {
		sum += e
	}
	return sum, err
}
