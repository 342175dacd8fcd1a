package broker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol/records"
)

// gatherScrape reads the broker's registry directly.
func gatherScrape(t *testing.T, tb *testBroker) scrape {
	t.Helper()
	mfs, err := tb.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := scrape{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// randomBytes returns n incompressible bytes, so that what a quota counts
// (request and response bytes) is what the test counts (record values).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func rawProduce(t *testing.T, c net.Conn, client string, corr int32, topic string, value []byte) *kmsg.ProduceResponse {
	t.Helper()
	r := kmsg.NewPtrProduceRequest()
	r.Version, r.Acks, r.TimeoutMillis = 9, 1, 5000
	batch := records.BuildBatch(records.CodecNone, time.Now().UnixMilli(), []records.Record{{Value: value}})
	r.Topics = []kmsg.ProduceRequestTopic{{Topic: topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
	resp := requestAs(t, c, client, corr, r).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("produce as %s: %+v", client, resp)
	}
	return resp
}

func rawMetadata(t *testing.T, c net.Conn, client string, corr int32) *kmsg.MetadataResponse {
	t.Helper()
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 12
	return requestAs(t, c, client, corr, r).(*kmsg.MetadataResponse)
}

// muteSlack is how much earlier than its throttle time a muted
// connection's next request may be answered: the mute starts when the
// broker computes the throttle, before the client reads the response.
const muteSlack = 250 * time.Millisecond

// TestQuotaThrottleMutesConnection sends a produce over its client's
// producer_byte_rate: it is appended and answered at once with Kafka's
// throttle time, and the connection's next request waits that long. A
// second connection of the same client shares the quota; other clients
// are not throttled. The throttle shows in the metrics.
func TestQuotaThrottleMutesConnection(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if code, msg := tb.createTopic(ctx, "mute", 1, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=raw"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaProducerByteRate, 10000)}})
	c := tb.dial()
	resp := rawProduce(t, c, "raw", 1, "mute", make([]byte, 25000))
	// About 25100 bytes against 10000/s over one window: 1510 ms.
	if resp.ThrottleMillis < 1400 || resp.ThrottleMillis > 1700 {
		t.Fatalf("throttle_time_ms %d, want about 1510", resp.ThrottleMillis)
	}
	start := time.Now()
	rawMetadata(t, c, "raw", 2)
	if waited := time.Since(start); waited < time.Duration(resp.ThrottleMillis)*time.Millisecond-muteSlack {
		t.Fatalf("next request answered after %v on a connection throttled for %d ms", waited, resp.ThrottleMillis)
	}
	if hw := tb.lookupTopic("mute").partition(0).highWatermark(); hw != 1 {
		t.Fatalf("high watermark %d: the throttled produce was not appended", hw)
	}
	// Same client, new connection: not muted, but over the shared quota.
	if r2 := rawProduce(t, tb.dial(), "raw", 1, "mute", make([]byte, 100)); r2.ThrottleMillis <= 0 {
		t.Fatal("a second connection of the throttled client was not throttled")
	}
	if r3 := rawProduce(t, tb.dial(), "other", 1, "mute", make([]byte, 25000)); r3.ThrottleMillis != 0 {
		t.Fatalf("a client without a quota was throttled %d ms", r3.ThrottleMillis)
	}
	sc := gatherScrape(t, tb)
	labels := []string{"quota", "produce", "user", "", "client_id", "raw"}
	if v := sc.must(t, "skein_quota_throttle_time_seconds_total", labels...); v < 1.4 {
		t.Errorf("throttle time %v s", v)
	}
	if v := sc.must(t, "skein_quota_throttled_responses_total", labels...); v != 2 {
		t.Errorf("%v throttled responses, want 2", v)
	}
	if v := sc.must(t, "skein_quota_limit", labels...); v != 10000 {
		t.Errorf("limit %v", v)
	}
	if v := sc.must(t, "skein_quota_usage", labels...); v <= 10000 {
		t.Errorf("usage %v, want above the quota", v)
	}
}

// nextOffset returns the offset after the last record of the batches.
func nextOffset(t *testing.T, data []byte) int64 {
	t.Helper()
	next := int64(-1)
	for len(data) >= 61 {
		base := int64(binary.BigEndian.Uint64(data))
		n := int(binary.BigEndian.Uint32(data[8:]))
		next = base + int64(int32(binary.BigEndian.Uint32(data[23:]))) + 1
		data = data[min(12+n, len(data)):]
	}
	if next < 0 {
		t.Fatal("no record batch")
	}
	return next
}

// TestThrottledFetchIsEmpty fetches as a client with a small
// consumer_byte_rate: a response holds at most about one window's worth;
// the fetch that takes the client over its quota is answered empty with a
// throttle time (its bytes are not counted), and the records it would
// have returned come in a later response, none skipped.
func TestThrottledFetchIsEmpty(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if code, msg := tb.createTopic(ctx, "fq", 1, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	w := tb.client(kgo.DefaultProduceTopic("fq"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < 40; i++ { // one batch per record
		if err := w.ProduceSync(ctx, &kgo.Record{Value: randomBytes(1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	const quota = 10000
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=reader"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaConsumerByteRate, quota)}})
	c := tb.dial()
	corr := int32(0)
	fetch := func(offset int64) *kmsg.FetchResponse {
		r := kmsg.NewPtrFetchRequest()
		r.Version, r.ReplicaID, r.MaxBytes, r.SessionEpoch = 12, -1, 1<<20, -1
		r.Topics = []kmsg.FetchRequestTopic{{Topic: "fq", Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, FetchOffset: offset, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1, LogStartOffset: -1}}}}
		corr++
		return requestAs(t, c, "reader", corr, r).(*kmsg.FetchResponse)
	}
	first := fetch(0)
	if first.ThrottleMillis != 0 || len(first.Topics) != 1 {
		t.Fatalf("first fetch: throttle %d, %d topics", first.ThrottleMillis, len(first.Topics))
	}
	data := first.Topics[0].Partitions[0].RecordBatches
	if len(data) == 0 || len(data) > quota {
		t.Fatalf("first fetch returned %d bytes, want up to one window's worth (%d)", len(data), quota)
	}
	next := nextOffset(t, data)
	empties := 0
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatal("no data after the throttled fetches")
		}
		start := time.Now()
		r := fetch(next)
		if r.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(r.ErrorCode))
		}
		if len(r.Topics) == 0 {
			if r.ThrottleMillis <= 0 {
				t.Fatal("empty fetch response without a throttle time")
			}
			empties++
			// The next request waits for the throttle.
			start = time.Now()
			r2 := fetch(next)
			if waited := time.Since(start); waited < time.Duration(r.ThrottleMillis)*time.Millisecond-muteSlack {
				t.Fatalf("fetch answered %v after a %d ms throttle", waited, r.ThrottleMillis)
			}
			r = r2
			if len(r.Topics) == 0 {
				continue
			}
		}
		_ = start
		got := r.Topics[0].Partitions[0].RecordBatches
		if len(got) == 0 {
			t.Fatalf("fetch after the throttle returned no records: %+v", r)
		}
		if base := int64(binary.BigEndian.Uint64(got)); base != next {
			t.Fatalf("fetch after the throttle starts at %d, want %d", base, next)
		}
		break
	}
	if empties == 0 {
		t.Fatal("no fetch was throttled")
	}
}

// TestRequestPercentageQuota gives a client a tiny request_percentage:
// its requests are throttled, for at most one window as in Kafka.
func TestRequestPercentageQuota(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("user=ANONYMOUS", "client-id=busy"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaRequestPercentage, 0.0001)}})
	r := rawMetadata(t, tb.dial(), "busy", 1)
	if r.ThrottleMillis <= 0 || r.ThrottleMillis > 1000 {
		t.Fatalf("throttle_time_ms %d, want in (0, 1000]", r.ThrottleMillis)
	}
	if r := rawMetadata(t, tb.dial(), "idle", 1); r.ThrottleMillis != 0 {
		t.Fatalf("other client throttled %d ms", r.ThrottleMillis)
	}
	sc := gatherScrape(t, tb)
	if v := sc.must(t, "skein_quota_throttled_responses_total", "quota", "request", "user", "ANONYMOUS", "client_id", "busy"); v != 1 {
		t.Fatalf("%v throttled responses", v)
	}
}

// closedByBroker reports whether the broker closed c (read fails other
// than by timeout) within the deadline.
func closedByBroker(c net.Conn, within time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(within))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func apiVersionsOK(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	r := kmsg.NewPtrApiVersionsRequest()
	r.Version, r.ClientSoftwareName, r.ClientSoftwareVersion = 3, "skein-test", "1"
	if resp := requestAs(t, c, "conn", corr, r).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(resp.ErrorCode))
	}
}

// TestConnectionCreationRateQuota sets connection_creation_rate for
// 127.0.0.1: a connection over the rate is held unserved, then closed.
func TestConnectionCreationRateQuota(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("ip=127.0.0.1"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaConnectionCreationRate, 1)}})
	// Two connections in less than two seconds exceed 1 per second.
	c1, c2 := tb.dial(), tb.dial()
	apiVersionsOK(t, c1, 1)
	if !closedByBroker(c2, 10*time.Second) {
		t.Fatal("second connection not closed")
	}
	if n := tb.server.Stats().ConnectionsThrottled.Load(); n != 1 {
		t.Fatalf("%d connections throttled", n)
	}
	if v := gatherScrape(t, tb).must(t, "skein_network_connections_refused_total", "reason", "connection_rate"); v != 1 {
		t.Fatalf("refused metric %v", v)
	}
}

// TestMaxConnectionsPerIP checks max.connections.per.ip: a connection
// beyond the limit is closed at accept, a slot frees when a connection
// closes, the overrides apply, and the limit can be changed at runtime
// (but not to 0 without overrides).
func TestMaxConnectionsPerIP(t *testing.T) {
	tb := startBroker(t, map[string]string{"max.connections.per.ip": "2"})
	c0, c1 := tb.dial(), tb.dial()
	apiVersionsOK(t, c0, 1)
	apiVersionsOK(t, c1, 1)
	if c := tb.dial(); !closedByBroker(c, 10*time.Second) {
		t.Fatal("third connection from 127.0.0.1 not closed")
	}
	c1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := tb.dial()
		if !closedByBroker(c, 200*time.Millisecond) {
			apiVersionsOK(t, c, 1)
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no slot after closing a connection")
		}
	}
	if n := tb.server.Stats().ConnectionsRejectedPerIP.Load(); n < 1 {
		t.Fatalf("%d rejected", n)
	}

	corr := int32(1)
	alter := func(value string) (int16, string) {
		r := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "",
			Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "max.connections.per.ip", Value: kmsg.StringPtr(value)}}}}
		corr++
		resp := requestAs(t, c0, "admin", corr, r).(*kmsg.IncrementalAlterConfigsResponse)
		msg := ""
		if m := resp.Resources[0].ErrorMessage; m != nil {
			msg = *m
		}
		return resp.Resources[0].ErrorCode, msg
	}
	if code, msg := alter("0"); code != kerr.InvalidConfig.Code || msg != "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set." {
		t.Fatalf("max.connections.per.ip=0 without overrides: %d %q", code, msg)
	}
	if code, msg := alter("10"); code != 0 {
		t.Fatalf("raise the limit: %d %s", code, msg)
	}
	c3, c4 := tb.dial(), tb.dial()
	apiVersionsOK(t, c3, 1)
	apiVersionsOK(t, c4, 1)

	// An override for 127.0.0.1 wins over the default, which may be 0.
	tb2 := startBroker(t, map[string]string{"max.connections.per.ip": "0", "max.connections.per.ip.overrides": "127.0.0.1:1, 10.1.1.1:5"})
	d1 := tb2.dial()
	apiVersionsOK(t, d1, 1)
	if c := tb2.dial(); !closedByBroker(c, 10*time.Second) {
		t.Fatal("second connection beyond the override of 1 not closed")
	}
}

// produceFlatOut produces 1 KiB records as fast as the client lets it
// for warm, then returns the acknowledged value bytes per second over the
// following window.
func produceFlatOut(t *testing.T, ctx context.Context, tb *testBroker, client, topic string, warm, window time.Duration) float64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ClientID(client), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerBatchMaxBytes(64<<10),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var acked atomic.Int64
	done := make(chan struct{})
	payload := randomBytes(1024)
	go func() {
		defer close(done)
		for pctx.Err() == nil {
			cl.Produce(pctx, &kgo.Record{Value: payload}, func(r *kgo.Record, err error) {
				if err == nil {
					acked.Add(int64(len(r.Value)))
				}
			})
		}
	}()
	rate := measureRate(ctx, &acked, warm, window)
	cancel()
	<-done
	return rate
}

// measureRate waits warm, then returns the growth of n per second over
// window.
func measureRate(ctx context.Context, n *atomic.Int64, warm, window time.Duration) float64 {
	select {
	case <-time.After(warm):
	case <-ctx.Done():
		return 0
	}
	from, start := n.Load(), time.Now()
	select {
	case <-time.After(window):
	case <-ctx.Done():
	}
	return float64(n.Load()-from) / time.Since(start).Seconds()
}

// TestProduceQuotaHoldsProducerAtRate is the acceptance test of
// producer_byte_rate: a franz-go producer sending flat out under a 1 MiB/s
// quota on its client id achieves, over 6 s after a 3 s warm-up, within
// 20% of the quota, while the same producer without a quota goes several
// times faster on this machine.
func TestProduceQuotaHoldsProducerAtRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 12 s")
	}
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if code, msg := tb.createTopic(ctx, "rate", 1, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	const quota = 1 << 20
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=throttled"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaProducerByteRate, quota)}})
	free := produceFlatOut(t, ctx, tb, "unthrottled", "rate", time.Second, 2*time.Second)
	t.Logf("without a quota: %.2f MiB/s", free/(1<<20))
	if free < 4*quota {
		t.Fatalf("the unthrottled producer reached only %.2f MiB/s: the machine cannot show the quota", free/(1<<20))
	}
	got := produceFlatOut(t, ctx, tb, "throttled", "rate", 3*time.Second, 6*time.Second)
	t.Logf("with a %d B/s quota: %.0f B/s (%.2f of the quota)", quota, got, got/quota)
	if got < 0.8*quota || got > 1.2*quota {
		t.Fatalf("throttled producer: %.0f B/s, want within 20%% of %d", got, quota)
	}
	sc := gatherScrape(t, tb)
	if v := sc.must(t, "skein_quota_throttle_time_seconds_total", "quota", "produce", "client_id", "throttled"); v <= 0 {
		t.Fatal("no throttle time reported")
	}
}

// TestFetchQuotaHoldsConsumerAtRate is the acceptance test of
// consumer_byte_rate: a franz-go consumer polling flat out under a 1 MiB/s
// quota reads, over 6 s after a 3 s warm-up, within 20% of the quota; the
// same data read without a quota goes several times faster.
func TestFetchQuotaHoldsConsumerAtRate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 12 s")
	}
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	if code, msg := tb.createTopic(ctx, "reads", 1, 1, nil, false); code != 0 {
		t.Fatal(msg)
	}
	const total = 24 << 20
	// Batches of 64 KiB: a fetch returns whole batches, so that one
	// response is a fraction of a second's worth, not a whole second's.
	w := tb.client(kgo.DefaultProduceTopic("reads"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerBatchMaxBytes(64<<10),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	payload := randomBytes(1024)
	for i := 0; i < total/len(payload); i++ {
		w.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Error(err)
			}
		})
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const quota = 1 << 20
	mustAlterQuotas(t, ctx, tb.admin(), kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=slow-reader"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaConsumerByteRate, quota)}})
	consume := func(client string, read *atomic.Int64, stop <-chan struct{}) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(tb.addr), kgo.ClientID(client), kgo.ConsumeTopics("reads"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(256<<10))
		if err != nil {
			t.Error(err)
			return
		}
		defer cl.Close()
		for {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fs := cl.PollFetches(pctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) { read.Add(int64(len(r.Value))) })
			if read.Load() >= total || ctx.Err() != nil {
				return
			}
		}
	}
	var fast atomic.Int64
	start := time.Now()
	consume("fast-reader", &fast, nil)
	free := float64(fast.Load()) / time.Since(start).Seconds()
	t.Logf("without a quota: %.2f MiB/s", free/(1<<20))
	if fast.Load() != total || free < 4*quota {
		t.Fatalf("the unthrottled consumer read %d bytes at %.2f MiB/s: the machine cannot show the quota", fast.Load(), free/(1<<20))
	}
	var slow atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		consume("slow-reader", &slow, stop)
	}()
	got := measureRate(ctx, &slow, 3*time.Second, 6*time.Second)
	close(stop)
	<-done
	t.Logf("with a %d B/s quota: %.0f B/s (%.2f of the quota)", quota, got, got/quota)
	if got < 0.8*quota || got > 1.2*quota {
		t.Fatalf("throttled consumer: %.0f B/s, want within 20%% of %d", got, quota)
	}
	sc := gatherScrape(t, tb)
	t.Logf("broker: usage %v, throttled %v responses for %v s", sc.must(t, "skein_quota_usage", "quota", "fetch", "client_id", "slow-reader"),
		sc.must(t, "skein_quota_throttled_responses_total", "quota", "fetch", "client_id", "slow-reader"), sc.must(t, "skein_quota_throttle_time_seconds_total", "quota", "fetch", "client_id", "slow-reader"))
	if v := sc.must(t, "skein_quota_throttle_time_seconds_total", "quota", "fetch", "client_id", "slow-reader"); v <= 0 {
		t.Fatal("no throttle time reported")
	}
}
