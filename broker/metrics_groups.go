package broker

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// groupCollector exports consumer group offsets and lag, read from the
// group coordinator and the partition logs at scrape time, so commits and
// appends pay nothing for them. Kafka itself has no broker metric for
// lag (its consumers report records-lag, and tools such as
// kafka-consumer-groups.sh or Burrow compute it from OffsetFetch and
// ListOffsets); Skein computes it where both numbers live.
type groupCollector struct{ b *Broker }

var (
	descGroupCommittedOffset = prometheus.NewDesc("skein_group_committed_offset",
		"Offset a consumer group last committed for the partition: the next record it will read (Kafka OffsetFetch committed offset).",
		[]string{"group", "topic", "partition"}, nil)
	descGroupLag = prometheus.NewDesc("skein_group_lag",
		"Records of the partition the group has not yet committed: high watermark minus committed offset, 0 when the committed offset is past it (kafka-consumer-groups.sh LAG).",
		[]string{"group", "topic", "partition"}, nil)
)

// Describe implements prometheus.Collector.
func (c groupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descGroupCommittedOffset
	ch <- descGroupLag
}

// Collect implements prometheus.Collector. A committed offset is exported
// for every group, topic and partition that has one; the lag only where
// the partition exists on this broker and the offset is not negative.
// Before the broker is ready the coordinator may not exist yet and
// nothing is exported.
func (c groupCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	select {
	case <-b.ready:
	default:
		return
	}
	if b.groups == nil {
		return
	}
	b.groups.CommittedOffsets(func(group, topic string, partition int32, offset int64) {
		labels := []string{group, topic, strconv.Itoa(int(partition))}
		ch <- prometheus.MustNewConstMetric(descGroupCommittedOffset, prometheus.GaugeValue, float64(offset), labels...)
		if offset < 0 {
			return
		}
		t := b.lookupTopic(topic)
		if t == nil {
			return
		}
		p := t.partition(partition)
		if p == nil {
			return
		}
		ch <- prometheus.MustNewConstMetric(descGroupLag, prometheus.GaugeValue, float64(groupLag(p.highWatermark(), offset)), labels...)
	})
}

// groupLag is the records between a committed offset and the high
// watermark; never negative, since a committed offset past the high
// watermark (a topic deleted and created again, a log truncated) leaves
// nothing to read.
func groupLag(highWatermark, committed int64) int64 {
	return max(0, highWatermark-committed)
}
