package broker

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceFetch measures produce (acks=all, fsync before ack) and
// consume throughput of 1 KiB random records over 8 partitions through
// the franz-go client against an in-process broker.
func BenchmarkProduceFetch(b *testing.B) {
	tb := startBroker(b, nil)
	ctx := context.Background()
	if code, msg := tb.createTopic(ctx, "bench", 8, 1, nil, false); code != 0 {
		b.Fatal(msg)
	}
	value := make([]byte, 1024)
	rand.Read(value)
	b.Run("produce", func(b *testing.B) {
		cl := tb.client(kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedRecords(64<<10))
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		var wg sync.WaitGroup
		wg.Add(b.N)
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
				wg.Done()
			})
		}
		wg.Wait()
	})
	b.Run("consume", func(b *testing.B) {
		offsets := map[int32]kgo.Offset{}
		for p := int32(0); p < 8; p++ {
			offsets[p] = kgo.NewOffset().AtStart()
		}
		cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"bench": offsets}))
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		for n := 0; n < b.N; {
			fs := cl.PollFetches(ctx)
			n += fs.NumRecords()
		}
	})
}
