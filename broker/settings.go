package broker

import (
	"errors"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol/records"
	"github.com/skein-streaming/skein/storage"
)

// settingsResolver holds the broker's config layers. The static layer is
// fixed at start; the dynamic layers come from the metadata, and a change
// swaps in a whole new config.Resolver.
type settingsResolver struct {
	cur atomic.Pointer[config.Resolver]
}

func newSettingsResolver(static map[string]string) (*settingsResolver, error) {
	r, err := config.NewResolver(config.Layers{Static: static})
	if err != nil {
		return nil, err
	}
	s := &settingsResolver{}
	s.cur.Store(r)
	return s, nil
}

// setDynamic installs the dynamic broker layers from the metadata image.
// Values were validated when they were set, so a failure here means the
// metadata holds something this version rejects: keep the previous layers.
func (s *settingsResolver) setDynamic(brokerConfigs map[string]map[string]string, nodeID int32) error {
	r, err := s.cur.Load().WithDynamic(brokerConfigs[""], brokerConfigs[strconv.Itoa(int(nodeID))])
	if err != nil {
		return err
	}
	s.cur.Store(r)
	return nil
}

func (s *settingsResolver) broker() *config.View { return s.cur.Load().Broker() }

// brokerInt returns an integer broker config, or def if it is null or not
// an integer config.
func (s *settingsResolver) brokerInt(name string, def int64) int64 {
	v, ok := s.broker().Value(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def
	}
	return n
}

func (s *settingsResolver) brokerBool(name string, def bool) bool {
	v, ok := s.broker().Value(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def
	}
	return b
}

func (s *settingsResolver) brokerString(name, def string) string {
	v, ok := s.broker().Value(name)
	if !ok {
		return def
	}
	return v
}

func (s *settingsResolver) validateTopic(overrides map[string]string) error {
	return s.cur.Load().ValidateTopic(overrides)
}

func (s *settingsResolver) validateBrokerDynamic(values map[string]string) error {
	return config.ValidateBrokerDynamic(values)
}

// validateBrokerMerged checks the rules between broker configs (such as
// max.connections.per.ip = 0 needing overrides) with the dynamic layer of
// broker resource name ("" for the cluster default) replaced by next.
func (s *settingsResolver) validateBrokerMerged(name string, next map[string]string, current map[string]map[string]string, nodeID int32) error {
	def, own := current[""], current[strconv.Itoa(int(nodeID))]
	switch name {
	case "":
		def = next
	case strconv.Itoa(int(nodeID)):
		own = next
	default:
		return nil
	}
	_, err := s.cur.Load().WithDynamic(def, own)
	return err
}

// topicSettings are a topic's effective configs in the types the broker
// and storage use.
type topicSettings struct {
	storage      storage.Config
	limits       records.Limits
	writeCaching bool
	minISR       int
	// recompress is set when compression.type names a codec: batches in
	// another codec are rewritten to codec, as Kafka's leader does.
	recompress bool
	codec      records.Codec
	// schemas is the broker-side schema validation of the topic.
	schemas schemaValidation
	// leaderThrottled and followerThrottled are the partitions whose
	// replication is throttled on this broker as leader and as follower
	// (leader. and follower.replication.throttled.replicas).
	leaderThrottled, followerThrottled throttledSet
}

// topic resolves a topic's overrides for broker nodeID. Overrides in the
// metadata were validated when set; should they fail now, the broker
// defaults apply.
func (s *settingsResolver) topic(overrides map[string]string, nodeID int32) *topicSettings {
	r := s.cur.Load()
	v, err := r.Topic(overrides)
	if err != nil {
		v = r.TopicDefaults()
	}
	ms := func(name string) time.Duration {
		n := v.Int64(name)
		if n < 0 {
			return -1
		}
		if n > math.MaxInt64/int64(time.Millisecond) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(n) * time.Millisecond
	}
	ts := &topicSettings{
		storage: storage.Config{
			SegmentBytes:       v.Int64(config.SegmentBytes),
			SegmentMs:          ms(config.SegmentMs),
			SegmentJitter:      ms(config.SegmentJitterMs),
			SegmentIndexBytes:  int(v.Int64(config.SegmentIndexBytes)),
			IndexIntervalBytes: int(v.Int64(config.IndexIntervalBytes)),
			RetentionMs:        ms(config.RetentionMs),
			RetentionBytes:     v.Int64(config.RetentionBytes),
			FlushMessages:      v.Int64(config.FlushMessages),
			FlushMs:            ms(config.FlushMs),
			FileDeleteDelay:    ms(config.FileDeleteDelayMs),
			PreallocateSegment: v.Bool(config.Preallocate),
		},
		writeCaching: v.Bool(config.WriteCaching),
		minISR:       int(v.Int64(config.MinInsyncReplicas)),
	}
	maxMsg := int(v.Int64(config.MaxMessageBytes))
	ts.limits = records.DefaultLimits(0)
	ts.limits.MaxMessageBytes = maxMsg
	ts.limits.MaxDecompressedBytes = max(records.DefaultMaxDecompressedBytes, 4*maxMsg)
	ts.limits.TimestampBeforeMaxMs = v.Int64(config.MessageTimestampBeforeMaxMs)
	ts.limits.TimestampAfterMaxMs = v.Int64(config.MessageTimestampAfterMaxMs)
	if v.String(config.MessageTimestampType) == "LogAppendTime" {
		ts.limits.TimestampType = records.LogAppendTime
	}
	switch v.String(config.CompressionType) {
	case "uncompressed":
		ts.recompress, ts.codec = true, records.CodecNone
	case "gzip":
		ts.recompress, ts.codec = true, records.CodecGzip
	case "snappy":
		ts.recompress, ts.codec = true, records.CodecSnappy
	case "lz4":
		ts.recompress, ts.codec = true, records.CodecLZ4
	case "zstd":
		ts.recompress, ts.codec = true, records.CodecZstd
	}
	for _, p := range v.List(config.CleanupPolicy) {
		switch p {
		case "compact":
			ts.limits.RequireKey = true
			ts.storage.Compact = true
		case "delete":
			ts.storage.Delete = true
		}
	}
	ts.schemas = schemaValidation{
		key:           v.Bool(config.KeySchemaValidation),
		value:         v.Bool(config.ValueSchemaValidation),
		keyStrategy:   v.String(config.KeySubjectNameStrategy),
		valueStrategy: v.String(config.ValueSubjectNameStrategy),
	}
	ts.leaderThrottled = newThrottledSet(v.List(config.LeaderReplicationThrottledReplicas), nodeID)
	ts.followerThrottled = newThrottledSet(v.List(config.FollowerReplicationThrottledReplicas), nodeID)
	ts.storage.DeleteRetention = ms(config.DeleteRetentionMs)
	ts.storage.MinCleanableDirtyRatio = v.Float64(config.MinCleanableDirtyRatio)
	ts.storage.MinCompactionLag = ms(config.MinCompactionLagMs)
	ts.storage.MaxCompactionLag = ms(config.MaxCompactionLagMs)
	return ts
}

// describeOpts selects what DescribeConfigs reports.
type describeOpts struct {
	names    []string
	synonyms bool
	docs     bool
	version  int16
}

func (s *settingsResolver) describeTopic(overrides map[string]string, o describeOpts) []kmsg.DescribeConfigsResponseResourceConfig {
	entries, err := s.cur.Load().DescribeTopic(overrides)
	if err != nil {
		entries, _ = s.cur.Load().DescribeTopic(nil)
	}
	return describeEntries(entries, o, false)
}

func (s *settingsResolver) describeBroker(name string, o describeOpts) []kmsg.DescribeConfigsResponseResourceConfig {
	return describeEntries(s.cur.Load().DescribeBroker(name != ""), o, true)
}

func describeEntries(entries []config.Entry, o describeOpts, broker bool) []kmsg.DescribeConfigsResponseResourceConfig {
	want := map[string]bool{}
	for _, n := range o.names {
		want[n] = true
	}
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, e := range entries {
		if o.names != nil && !want[e.Name] {
			continue
		}
		c := kmsg.DescribeConfigsResponseResourceConfig{
			Name:        e.Name,
			Value:       e.Value,
			ReadOnly:    e.ReadOnly,
			IsSensitive: e.Sensitive,
			Source:      kmsg.ConfigSource(e.Source),
			ConfigType:  kmsg.ConfigType(e.Type),
		}
		if o.version == 0 {
			// v0 has no source; IsDefault stands in for it.
			c.IsDefault = e.Source == config.SourceDefault
		}
		if o.docs {
			c.Documentation = kmsg.StringPtr(e.Doc)
		}
		if o.synonyms {
			for _, syn := range e.Synonyms {
				c.ConfigSynonyms = append(c.ConfigSynonyms, kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{Name: syn.Name, Value: syn.Value, Source: kmsg.ConfigSource(syn.Source)})
			}
		}
		out = append(out, c)
	}
	return out
}

// configErrorCode maps config validation errors to Kafka codes.
func configErrorCode(err error) int16 {
	switch {
	case errors.Is(err, config.ErrInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, config.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	}
	return kerr.InvalidConfig.Code
}

// describeTopicConfigsForCreate lists a new topic's configs for the
// CreateTopics v5+ response.
func (b *Broker) describeTopicConfigsForCreate(t *topic) []kmsg.CreateTopicsResponseTopicConfig {
	ti := b.meta.Image().ByID[t.id]
	if ti == nil {
		return nil
	}
	entries, err := b.settings.cur.Load().DescribeTopic(ti.Configs)
	if err != nil {
		return nil
	}
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		out = append(out, kmsg.CreateTopicsResponseTopicConfig{Name: e.Name, Value: e.Value, ReadOnly: e.ReadOnly, Source: int8(e.Source), IsSensitive: e.Sensitive})
	}
	return out
}
