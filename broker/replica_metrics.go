package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replication metrics (docs/metrics.md), in the style of Kafka's
// ReplicaManager and fetcher metrics. The counters count ISR changes this
// broker made as a leader; the gauges are read at scrape time.

var (
	descUnderMinISR = prometheus.NewDesc("skein_replica_under_min_isr_partitions",
		"Partitions led here whose ISR is smaller than min.insync.replicas: acks=all writes to them are refused (Kafka ReplicaManager UnderMinIsrPartitionCount).", nil, nil)
	descFollowerLag = prometheus.NewDesc("skein_replica_follower_lag_records",
		"For each partition this broker follows, its leader's high watermark minus this replica's log end offset at the last fetch (Kafka FetcherLagMetrics ConsumerLag).", []string{"topic", "partition"}, nil)
	descFetcherMaxLag = prometheus.NewDesc("skein_replica_fetcher_max_lag_records",
		"Largest lag of the partitions this broker follows (Kafka ReplicaFetcherManager MaxLag, clientId=Replica).", nil, nil)
	descLeaderThrottledRate = prometheus.NewDesc("skein_replica_leader_throttled_byte_rate",
		"Bytes per second this broker sends as a leader for throttled replicas, measured as leader.replication.throttled.rate is enforced, over replication.quota.window.num samples of replication.quota.window.size.seconds (Kafka LeaderReplication byte-rate).", nil, nil)
	descFollowerThrottledRate = prometheus.NewDesc("skein_replica_follower_throttled_byte_rate",
		"Bytes per second this broker fetches as a follower for throttled replicas, measured as follower.replication.throttled.rate is enforced (Kafka FollowerReplication byte-rate).", nil, nil)
	descHighWatermark = prometheus.NewDesc("skein_log_high_watermark",
		"Offset below which the partition's records are replicated to every in-sync replica and visible to consumers (Kafka Partition HighWatermark).", []string{"topic", "partition"}, nil)
)

// initReplicaMetrics registers the replication counters.
func (rm *replicaManager) initMetrics(reg prometheus.Registerer) {
	f := factory{reg}
	rm.isrShrinks = f.counter("replica", "isr_shrinks_total", "ISR shrinks this broker made as a leader: followers removed for not catching up within replica.lag.time.max.ms (Kafka ReplicaManager IsrShrinksPerSec).")
	rm.isrExpands = f.counter("replica", "isr_expands_total", "ISR expansions this broker made as a leader: followers that caught up added back (Kafka ReplicaManager IsrExpandsPerSec).")
	rm.isrUpdateFailure = f.counter("replica", "isr_update_failures_total", "ISR changes this broker proposed that the metadata refused or did not apply (Kafka ReplicaManager FailedIsrUpdatesPerSec).")
	rm.bytesIn = f.counter("replica", "bytes_in_total", "Record batch bytes this broker appended as a follower, fetched from its leaders (Kafka BrokerTopicMetrics ReplicationBytesInPerSec).")
	rm.bytesOut = f.counter("replica", "bytes_out_total", "Record batch bytes this broker returned to followers' fetches as a leader (Kafka BrokerTopicMetrics ReplicationBytesOutPerSec).")
	rm.throttles.leader.bytes = f.counter("replica", "leader_throttled_bytes_total", "Record batch bytes this broker returned as a leader to followers' fetches of partitions throttled here by leader.replication.throttled.replicas, counted against leader.replication.throttled.rate.")
	rm.throttles.follower.bytes = f.counter("replica", "follower_throttled_bytes_total", "Record batch bytes this broker fetched as a follower for partitions throttled here by follower.replication.throttled.replicas, counted against follower.replication.throttled.rate.")
}

// fetchReplicaID is the replica id of a Fetch: the follower's node id, or
// -1 for a consumer.
func fetchReplicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// countReplicationOut counts the record bytes of a response to a
// follower's fetch.
func (rm *replicaManager) countReplicationOut(resp *kmsg.FetchResponse) {
	var n int
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			n += len(resp.Topics[ti].Partitions[pi].RecordBatches)
		}
	}
	if n > 0 {
		rm.bytesOut.Add(float64(n))
	}
}

// replicaCollector reads the replication gauges at scrape time.
type replicaCollector struct{ b *Broker }

// Describe implements prometheus.Collector.
func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUnderMinISR, descFollowerLag, descFetcherMaxLag, descHighWatermark, descLeaderThrottledRate, descFollowerThrottledRate} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	underMin := 0
	for _, p := range b.allPartitions() {
		ch <- prometheus.MustNewConstMetric(descHighWatermark, prometheus.GaugeValue, float64(p.highWatermark()), p.topic.name, strconv.Itoa(int(p.index)))
		if p.isLeader() && p.minISRError() != nil {
			underMin++
		}
	}
	ch <- prometheus.MustNewConstMetric(descUnderMinISR, prometheus.GaugeValue, float64(underMin))
	maxLag := int64(0)
	for p, lag := range b.replicas.followerLags() {
		ch <- prometheus.MustNewConstMetric(descFollowerLag, prometheus.GaugeValue, float64(lag), p.topic.name, strconv.Itoa(int(p.index)))
		maxLag = max(maxLag, lag)
	}
	ch <- prometheus.MustNewConstMetric(descFetcherMaxLag, prometheus.GaugeValue, float64(maxLag))
	now := b.replicas.nowMs()
	ch <- prometheus.MustNewConstMetric(descLeaderThrottledRate, prometheus.GaugeValue, b.replicas.throttles.leader.measure(now))
	ch <- prometheus.MustNewConstMetric(descFollowerThrottledRate, prometheus.GaugeValue, b.replicas.throttles.follower.measure(now))
}

// underReplicated counts the partitions led here whose ISR is smaller
// than their replica set.
func (b *Broker) underReplicated() int {
	n := 0
	for _, p := range b.allPartitions() {
		if r := p.currentRole(); r.leader && len(r.state.ISR) < len(r.state.Replicas) {
			n++
		}
	}
	return n
}
