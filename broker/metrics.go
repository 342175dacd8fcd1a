package broker

import (
	"context"
	"encoding/binary"
	"reflect"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

// The broker's Prometheus metrics. Names follow Kafka's JMX metrics in
// Prometheus style (skein_<subsystem>_<name>_<unit>); docs/metrics.md lists
// each one with the Kafka name it corresponds to.
//
// Every broker has its own registry, so that several brokers can run in
// one process. Counters on the request path are updated once per request
// (per topic for the byte and message counters, through label children
// resolved when the topic is opened). Gauges that describe partitions are
// read from the logs at scrape time by brokerCollector, so appends pay
// nothing for them.

// Latency buckets, in seconds. Requests range from sub-millisecond
// metadata calls to fetch long polls of fetch.max.wait.ms (500 ms by
// default, often configured to seconds); fsyncs from tens of microseconds
// on NVMe to seconds on a struggling disk.
var (
	requestDurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	fsyncDurationBuckets   = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
)

// metrics holds the broker's metrics and the registry they live in.
type metrics struct {
	reg *prometheus.Registry

	messagesIn prometheus.Counter
	bytesIn    prometheus.Counter
	bytesOut   prometheus.Counter

	topicMessagesIn *prometheus.CounterVec
	topicBytesIn    *prometheus.CounterVec
	topicBytesOut   *prometheus.CounterVec

	// requests and durations are indexed by API key; entries exist for
	// every key in the API table.
	requests  [apiKeyLimit]prometheus.Counter
	durations [apiKeyLimit]prometheus.Observer
	errors    *prometheus.CounterVec

	purgatoryProduce prometheus.Gauge
	purgatoryFetch   prometheus.Gauge

	fsyncDuration prometheus.Histogram
}

// topicMetrics are a topic's label children, resolved once when the topic
// is opened so that the produce and fetch paths do no label lookups.
type topicMetrics struct {
	messagesIn prometheus.Counter
	bytesIn    prometheus.Counter
	bytesOut   prometheus.Counter
}

// initMetrics builds the broker's registry and metrics. It runs in New,
// after the API table is built.
func (b *Broker) initMetrics() {
	reg := prometheus.NewRegistry()
	b.metrics = newMetrics(reg, &b.apis)
	b.replicas.initMetrics(reg)
	reg.MustRegister(
		brokerCollector{b},
		replicaCollector{b},
		groupCollector{b},
		quotaCollector{b},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
}

func newMetrics(reg prometheus.Registerer, apis *[apiKeyLimit]*api) *metrics {
	m := &metrics{}
	f := factory{reg}
	m.messagesIn = f.counter("broker", "messages_in_total", "Records appended by Produce requests, all topics (Kafka BrokerTopicMetrics MessagesInPerSec).")
	m.bytesIn = f.counter("broker", "bytes_in_total", "Record batch bytes appended by Produce requests, all topics (Kafka BrokerTopicMetrics BytesInPerSec).")
	m.bytesOut = f.counter("broker", "bytes_out_total", "Record batch bytes returned by Fetch responses, all topics (Kafka BrokerTopicMetrics BytesOutPerSec).")
	m.topicMessagesIn = f.counterVec("broker", "topic_messages_in_total", "Records appended by Produce requests, per topic (Kafka BrokerTopicMetrics MessagesInPerSec,topic=T).", "topic")
	m.topicBytesIn = f.counterVec("broker", "topic_bytes_in_total", "Record batch bytes appended by Produce requests, per topic (Kafka BrokerTopicMetrics BytesInPerSec,topic=T).", "topic")
	m.topicBytesOut = f.counterVec("broker", "topic_bytes_out_total", "Record batch bytes returned by Fetch responses, per topic (Kafka BrokerTopicMetrics BytesOutPerSec,topic=T).", "topic")
	requests := f.counterVec("request", "total", "Requests handled, per API (Kafka RequestMetrics RequestsPerSec).", "api")
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "skein", Subsystem: "request", Name: "duration_seconds",
		Help:    "Time from reading a request to having its response, including waits for fsync (acks=all) and fetch long polls, per API (Kafka RequestMetrics TotalTimeMs).",
		Buckets: requestDurationBuckets,
	}, []string{"api"})
	reg.MustRegister(durations)
	m.errors = f.counterVec("request", "errors_total", "Error codes returned, per API and Kafka error name; a response carrying several partition errors counts each (Kafka RequestMetrics ErrorsPerSec).", "api", "error")
	for key, a := range apis {
		if a != nil {
			m.requests[key] = requests.WithLabelValues(a.key.Name())
			m.durations[key] = durations.WithLabelValues(a.key.Name())
		}
	}
	purgatory := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "skein", Subsystem: "purgatory", Name: "requests",
		Help: "Requests waiting to complete: produce requests waiting for an fsync (acks=all), fetches waiting for min.bytes (Kafka DelayedOperationPurgatory PurgatorySize).",
	}, []string{"operation"})
	reg.MustRegister(purgatory)
	m.purgatoryProduce = purgatory.WithLabelValues("produce")
	m.purgatoryFetch = purgatory.WithLabelValues("fetch")
	m.fsyncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "skein", Subsystem: "log", Name: "fsync_duration_seconds",
		Help:    "Duration of log fsync rounds (one group commit of data, index and directory fsyncs) (Kafka LogFlushStats LogFlushRateAndTimeMs).",
		Buckets: fsyncDurationBuckets,
	})
	reg.MustRegister(m.fsyncDuration)
	if r, ok := reg.(*prometheus.Registry); ok {
		m.reg = r
	}
	return m
}

// factory registers metrics in the skein namespace.
type factory struct{ reg prometheus.Registerer }

func (f factory) counter(subsystem, name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "skein", Subsystem: subsystem, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(subsystem, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "skein", Subsystem: subsystem, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

// Metrics returns the broker's metrics registry, for the admin HTTP
// server's /metrics.
func (b *Broker) Metrics() prometheus.Gatherer { return b.metrics.reg }

// CheckReady returns nil once the broker serves requests (logs recovered,
// listeners bound) and until it starts closing, and the reason otherwise.
// It backs the admin server's /readyz.
func (b *Broker) CheckReady() error {
	if b.closed.Load() {
		return errShuttingDown
	}
	select {
	case <-b.ready:
		return nil
	default:
		return errStarting
	}
}

type readinessError string

func (e readinessError) Error() string { return string(e) }

const (
	errStarting     = readinessError("broker is starting: recovering logs or binding listeners")
	errShuttingDown = readinessError("broker is shutting down")
)

// forTopic resolves the label children of a topic.
func (m *metrics) forTopic(name string) *topicMetrics {
	return &topicMetrics{
		messagesIn: m.topicMessagesIn.WithLabelValues(name),
		bytesIn:    m.topicBytesIn.WithLabelValues(name),
		bytesOut:   m.topicBytesOut.WithLabelValues(name),
	}
}

// dropTopic removes a deleted topic's series. A topic created again under
// the same name starts from zero, which Prometheus treats as a counter
// reset.
func (m *metrics) dropTopic(name string) {
	m.topicMessagesIn.DeleteLabelValues(name)
	m.topicBytesIn.DeleteLabelValues(name)
	m.topicBytesOut.DeleteLabelValues(name)
}

// observeFsync is the fsync observer given to every partition's log.
func (m *metrics) observeFsync(d time.Duration) { m.fsyncDuration.Observe(d.Seconds()) }

// instrument counts a request that Handle dispatched and arranges for its
// completion to be measured: at once when the reply is ready, or when its
// Wait stage returns. Requests that wait are counted in the purgatory
// gauge while their Wait stage runs.
func (b *Broker) instrument(req *protocol.Request, reply protocol.Reply) protocol.Reply {
	m := b.metrics
	key := req.Header.Key
	m.requests[key].Inc()
	start := req.Received
	if start.IsZero() {
		start = time.Now()
	}
	// acks=0 has no response; a failed partition closes the connection,
	// so an open one means every partition was appended.
	appendedAll := reply.NoResponse && !reply.Close
	if reply.Wait == nil {
		b.complete(req, reply.Resp, appendedAll, start)
		return reply
	}
	var waiting prometheus.Gauge
	switch kmsg.Key(key) {
	case kmsg.Produce:
		waiting = m.purgatoryProduce
	case kmsg.Fetch:
		waiting = m.purgatoryFetch
	}
	wait := reply.Wait
	reply.Wait = func(ctx context.Context) kmsg.Response {
		if waiting != nil {
			waiting.Inc()
		}
		resp := wait(ctx)
		if waiting != nil {
			waiting.Dec()
		}
		b.complete(req, resp, appendedAll, start)
		return resp
	}
	return reply
}

// complete records a finished request: its latency, the error codes of its
// response, and the records and bytes it moved. appendedAll says that a
// produce without a response appended every partition.
func (b *Broker) complete(req *protocol.Request, resp kmsg.Response, appendedAll bool, start time.Time) {
	m := b.metrics
	key := req.Header.Key
	m.durations[key].Observe(time.Since(start).Seconds())
	if resp != nil {
		m.countErrors(key, resp)
	}
	switch r := req.Msg.(type) {
	case *kmsg.ProduceRequest:
		pr, _ := resp.(*kmsg.ProduceResponse)
		if pr != nil || appendedAll {
			b.countProduce(r, pr, appendedAll)
		}
	case *kmsg.FetchRequest:
		if fr, ok := resp.(*kmsg.FetchResponse); ok {
			if fetchReplicaID(r) >= 0 {
				b.replicas.countReplicationOut(fr)
			} else {
				b.countFetch(fr)
			}
		}
	}
}

// countProduce adds the records and bytes of the partitions appended: all
// of them when everything is set, otherwise those answered without error.
func (b *Broker) countProduce(req *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, everything bool) {
	m := b.metrics
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		var records, bytes int64
		for pi := range rt.Partitions {
			if !everything && !partitionOK(resp, ti, pi) {
				continue
			}
			data := rt.Partitions[pi].Records
			records += batchRecordCount(data)
			bytes += int64(len(data))
		}
		if bytes == 0 {
			continue
		}
		m.messagesIn.Add(float64(records))
		m.bytesIn.Add(float64(bytes))
		var t *topic
		if req.Version >= 13 {
			t = b.lookupTopicID(rt.TopicID)
		} else {
			t = b.lookupTopic(rt.Topic)
		}
		if t != nil && t.metrics != nil {
			t.metrics.messagesIn.Add(float64(records))
			t.metrics.bytesIn.Add(float64(bytes))
		}
	}
}

// partitionOK reports whether the produce response answers partition pi of
// topic ti without error. The handler answers topics and partitions in
// request order.
func partitionOK(resp *kmsg.ProduceResponse, ti, pi int) bool {
	if resp == nil || ti >= len(resp.Topics) || pi >= len(resp.Topics[ti].Partitions) {
		return false
	}
	return resp.Topics[ti].Partitions[pi].ErrorCode == 0
}

// batchRecordCount sums the recordCount fields of the record batches in
// data (already validated by the handler).
func batchRecordCount(data []byte) int64 {
	const (
		lengthOffset = 8
		countOffset  = 57
		headerBytes  = 61
	)
	var n int64
	for off := 0; off+headerBytes <= len(data); {
		n += int64(int32(binary.BigEndian.Uint32(data[off+countOffset:])))
		off += 12 + int(binary.BigEndian.Uint32(data[off+lengthOffset:]))
	}
	return n
}

// countFetch adds the record bytes a fetch response returns.
func (b *Broker) countFetch(resp *kmsg.FetchResponse) {
	m := b.metrics
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		var bytes int64
		for pi := range rt.Partitions {
			bytes += int64(len(rt.Partitions[pi].RecordBatches))
		}
		if bytes == 0 {
			continue
		}
		m.bytesOut.Add(float64(bytes))
		var t *topic
		if rt.Topic != "" {
			t = b.lookupTopic(rt.Topic)
		} else {
			t = b.lookupTopicID(TopicID(rt.TopicID))
		}
		if t != nil && t.metrics != nil {
			t.metrics.bytesOut.Add(float64(bytes))
		}
	}
}

// errorTally counts error codes; a response rarely carries more than a few
// distinct ones.
type errorTally []struct {
	code int16
	n    int
}

func (t *errorTally) add(code int16) {
	if code == 0 {
		return
	}
	for i := range *t {
		if (*t)[i].code == code {
			(*t)[i].n++
			return
		}
	}
	*t = append(*t, struct {
		code int16
		n    int
	}{code, 1})
}

// countErrors counts every non-zero error code in resp.
func (m *metrics) countErrors(key int16, resp kmsg.Response) {
	var tally errorTally
	forEachErrorCode(resp, tally.add)
	for _, e := range tally {
		m.errors.WithLabelValues(kmsg.NameForKey(key), errorName(e.code)).Add(float64(e.n))
	}
}

// errorName is Kafka's name for an error code (UNKNOWN_TOPIC_OR_PARTITION),
// or the number for a code kerr does not know.
func errorName(code int16) string {
	if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok && (e.Code == code) {
		return e.Message
	}
	return strconv.Itoa(int(code))
}

// forEachErrorCode calls fn with every ErrorCode field in resp. The
// frequent responses are walked directly; the others by reflection, which
// covers every API without a list to keep up to date.
func forEachErrorCode(resp kmsg.Response, fn func(int16)) {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				fn(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.FetchResponse:
		fn(r.ErrorCode)
		for i := range r.Topics {
			for j := range r.Topics[i].Partitions {
				fn(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.MetadataResponse:
		fn(r.ErrorCode)
		for i := range r.Topics {
			fn(r.Topics[i].ErrorCode)
			for j := range r.Topics[i].Partitions {
				fn(r.Topics[i].Partitions[j].ErrorCode)
			}
		}
	case *kmsg.ApiVersionsResponse:
		fn(r.ErrorCode)
	default:
		walkErrorCodes(reflect.ValueOf(resp), fn)
	}
}

func walkErrorCodes(v reflect.Value, fn func(int16)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkErrorCodes(v.Elem(), fn)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
				fn(int16(v.Field(i).Int()))
				continue
			}
			switch f.Type.Kind() {
			case reflect.Struct, reflect.Slice, reflect.Pointer:
				walkErrorCodes(v.Field(i), fn)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			walkErrorCodes(v.Index(i), fn)
		}
	}
}

// brokerCollector reads the per-partition, partition-state and connection
// metrics at scrape time.
type brokerCollector struct{ b *Broker }

var (
	descLogSize = prometheus.NewDesc("skein_log_size_bytes",
		"Size of the partition's log segments (Kafka Log Size).", []string{"topic", "partition"}, nil)
	descLogSegments = prometheus.NewDesc("skein_log_segments",
		"Segments of the partition's log, the active one included (Kafka Log NumLogSegments).", []string{"topic", "partition"}, nil)
	descLogStartOffset = prometheus.NewDesc("skein_log_start_offset",
		"First offset of the partition that may be read (Kafka Log LogStartOffset).", []string{"topic", "partition"}, nil)
	descLogEndOffset = prometheus.NewDesc("skein_log_end_offset",
		"Offset the partition's next record gets (Kafka Log LogEndOffset).", []string{"topic", "partition"}, nil)
	descDirTotal = prometheus.NewDesc("skein_log_dir_total_bytes",
		"Capacity of the file system holding the data directory (Kafka DescribeLogDirs TotalBytes, KIP-827).", nil, nil)
	descDirUsable = prometheus.NewDesc("skein_log_dir_usable_bytes",
		"Bytes available to the broker on the file system holding the data directory (Kafka DescribeLogDirs UsableBytes, KIP-827).", nil, nil)
	descPartitions = prometheus.NewDesc("skein_replica_partitions",
		"Partitions on this broker (Kafka ReplicaManager PartitionCount).", nil, nil)
	descUnderReplicated = prometheus.NewDesc("skein_replica_under_replicated_partitions",
		"Partitions led here whose ISR is smaller than the replica set (Kafka ReplicaManager UnderReplicatedPartitions).", nil, nil)
	descOffline = prometheus.NewDesc("skein_controller_offline_partitions",
		"Partitions without a usable leader: here, partitions whose log failed on an I/O error (Kafka KafkaController OfflinePartitionsCount).", nil, nil)
	descActiveController = prometheus.NewDesc("skein_controller_active_count",
		"1 if this node is the active controller (Kafka KafkaController ActiveControllerCount).", nil, nil)
	descConnections = prometheus.NewDesc("skein_network_connections",
		"Open client connections per listener (Kafka socket-server-metrics connection-count).", []string{"listener"}, nil)
	descConnectionsAccepted = prometheus.NewDesc("skein_network_connections_accepted_total",
		"Connections accepted, all listeners (Kafka socket-server-metrics connection-creation-total).", nil, nil)
	descProtocolErrors = prometheus.NewDesc("skein_network_protocol_errors_total",
		"Connections closed for bad input: malformed frames, oversized requests, unsupported API keys or versions.", nil, nil)
	descConnectionsRefused = prometheus.NewDesc("skein_network_connections_refused_total",
		"Connections closed at accept: reason max_connections_per_ip (the address had max.connections.per.ip open) or connection_rate (its connection_creation_rate quota was exceeded).", []string{"reason"}, nil)
)

// Describe implements prometheus.Collector.
func (c brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogSize, descLogSegments, descLogStartOffset, descLogEndOffset, descDirTotal, descDirUsable,
		descPartitions, descUnderReplicated, descOffline, descActiveController,
		descConnections, descConnectionsAccepted, descProtocolErrors, descConnectionsRefused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	parts := b.allPartitions()
	offline := 0
	for _, p := range parts {
		labels := []string{p.topic.name, strconv.Itoa(int(p.index))}
		ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(p.log.Size()), labels...)
		ch <- prometheus.MustNewConstMetric(descLogSegments, prometheus.GaugeValue, float64(p.log.NumSegments()), labels...)
		ch <- prometheus.MustNewConstMetric(descLogStartOffset, prometheus.GaugeValue, float64(p.log.LogStartOffset()), labels...)
		ch <- prometheus.MustNewConstMetric(descLogEndOffset, prometheus.GaugeValue, float64(p.log.LogEndOffset()), labels...)
		if p.log.Failure() != nil {
			offline++
		}
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(b.cfg.DataDir, &fs); err == nil {
		ch <- prometheus.MustNewConstMetric(descDirTotal, prometheus.GaugeValue, float64(fs.Blocks)*float64(fs.Bsize))
		ch <- prometheus.MustNewConstMetric(descDirUsable, prometheus.GaugeValue, float64(fs.Bavail)*float64(fs.Bsize))
	}
	ch <- prometheus.MustNewConstMetric(descPartitions, prometheus.GaugeValue, float64(len(parts)))
	ch <- prometheus.MustNewConstMetric(descUnderReplicated, prometheus.GaugeValue, float64(b.underReplicated()))
	ch <- prometheus.MustNewConstMetric(descOffline, prometheus.GaugeValue, float64(offline))
	// b.server and b.meta are set by Start before ready is closed; until
	// then the listeners have no connections.
	select {
	case <-b.ready:
		active := 0.0
		if b.meta.ControllerID() == b.cfg.NodeID {
			active = 1
		}
		ch <- prometheus.MustNewConstMetric(descActiveController, prometheus.GaugeValue, active)
		st := b.server.Stats()
		b.server.ListenerConnections(func(name string, open int64) {
			ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(open), name)
		})
		ch <- prometheus.MustNewConstMetric(descConnectionsAccepted, prometheus.CounterValue, float64(st.ConnectionsAccepted.Load()))
		ch <- prometheus.MustNewConstMetric(descProtocolErrors, prometheus.CounterValue, float64(st.ProtocolErrors.Load()))
		ch <- prometheus.MustNewConstMetric(descConnectionsRefused, prometheus.CounterValue, float64(st.ConnectionsRejectedPerIP.Load()), "max_connections_per_ip")
		ch <- prometheus.MustNewConstMetric(descConnectionsRefused, prometheus.CounterValue, float64(st.ConnectionsThrottled.Load()), "connection_rate")
	default:
		for _, l := range b.cfg.Listeners {
			ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, 0, l.Name)
		}
		ch <- prometheus.MustNewConstMetric(descConnectionsAccepted, prometheus.CounterValue, 0)
		ch <- prometheus.MustNewConstMetric(descProtocolErrors, prometheus.CounterValue, 0)
		ch <- prometheus.MustNewConstMetric(descActiveController, prometheus.GaugeValue, 0)
		ch <- prometheus.MustNewConstMetric(descConnectionsRefused, prometheus.CounterValue, 0, "max_connections_per_ip")
		ch <- prometheus.MustNewConstMetric(descConnectionsRefused, prometheus.CounterValue, 0, "connection_rate")
	}
}

// dropTopicMetrics removes a deleted topic's series, unless a topic of the
// same name already replaced it.
func (b *Broker) dropTopicMetrics(t *topic) {
	if b.lookupTopic(t.name) == nil {
		b.metrics.dropTopic(t.name)
	}
}
