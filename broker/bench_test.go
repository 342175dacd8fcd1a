package broker

import (
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkReplicatedProduce measures acks=all produce throughput to a
// 3-broker cluster, one topic with 3 partitions, replication factor 3
// and min.insync.replicas=2, for each security of the inter-broker
// listener: PLAINTEXT, SSL with client certificates (mTLS) and SASL_SSL
// with SCRAM-SHA-512. The clusters are set up alike (secureCluster: the
// StandardAuthorizer on, a PLAINTEXT listener for the producer and a
// BROKER listener for replication), so only the replication path
// differs. The producer is franz-go, idempotent, lingering 5 ms, with
// 16 KiB batches of 1 KiB random values, uncompressed.
func BenchmarkReplicatedProduce(b *testing.B) {
	value := make([]byte, 1024)
	rand.Read(value)
	for _, bc := range []struct{ name, proto string }{
		{"plaintext", "PLAINTEXT"},
		{"mtls", "SSL"},
		{"sasl_ssl", "SASL_SSL"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := secureCluster{proto: bc.proto}.start(b, 3)
			if d := c.brokers[2].interBroker; bc.proto != "PLAINTEXT" && (d == nil || d.tls == nil || (bc.proto == "SASL_SSL") != (d.sasl != nil)) {
				b.Fatalf("inter-broker dialer %+v, want %s", d, bc.proto)
			}
			c.createWithConfigs(1, "bench", map[string]string{"min.insync.replicas": "2"}, []int32{1, 2, 3}, []int32{2, 3, 1}, []int32{3, 1, 2})
			for p := int32(0); p < 3; p++ {
				c.waitRole("bench", p, p+1, 0)
			}
			ctx := testCtx(b)
			cl := c.client(1, kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
				kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(64<<10))
			// Warm up: the producer ID, the connections to the three
			// leaders and the followers' fetch sessions exist before the
			// timer starts.
			for p := int32(0); p < 3; p++ {
				if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: value}).FirstErr(); err != nil {
					b.Fatal(err)
				}
			}
			for p := int32(0); p < 3; p++ {
				c.waitIdentical("bench", p, 1, 2, 3)
			}
			var failed atomic.Int64
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			var wg sync.WaitGroup
			wg.Add(b.N)
			for i := 0; i < b.N; i++ {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil && failed.Add(1) == 1 {
						b.Error(err)
					}
					wg.Done()
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d produces failed", n, b.N)
			}
			// The records went to all three replicas: no follower fell
			// out of the ISR during the run.
			var records int64
			for p := int32(0); p < 3; p++ {
				if isr := c.isr("bench", p); !slices.Equal(isr, []int32{1, 2, 3}) {
					b.Fatalf("partition %d isr %v after the run", p, isr)
				}
				records += c.brokers[p+1].lookupTopic("bench").partition(p).log.LogEndOffset()
			}
			if want := int64(b.N) + 3; records != want {
				b.Fatalf("%d records in the leaders' logs, want %d", records, want)
			}
		})
	}
}
