package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestWireCodes checks that Type, Source, AlterOp and Resource use the
// numbers Kafka puts on the wire, by comparing with kmsg's enums.
func TestWireCodes(t *testing.T) {
	types := map[Type]kmsg.ConfigType{
		TypeUnknown: kmsg.ConfigTypeUnknown, TypeBoolean: kmsg.ConfigTypeBoolean, TypeString: kmsg.ConfigTypeString,
		TypeInt: kmsg.ConfigTypeInt, TypeShort: kmsg.ConfigTypeShort, TypeLong: kmsg.ConfigTypeLong,
		TypeDouble: kmsg.ConfigTypeDouble, TypeList: kmsg.ConfigTypeList, TypeClass: kmsg.ConfigTypeClass,
		TypePassword: kmsg.ConfigTypePassword,
	}
	for ours, theirs := range types {
		if int8(ours) != int8(theirs) || ours.String() != theirs.String() {
			t.Errorf("type %v = %d, kmsg %v = %d", ours, ours, theirs, theirs)
		}
	}
	sources := map[Source]kmsg.ConfigSource{
		SourceDynamicTopic: kmsg.ConfigSourceDynamicTopicConfig, SourceDynamicBroker: kmsg.ConfigSourceDynamicBrokerConfig,
		SourceDynamicDefaultBroker: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
		SourceStaticBroker:         kmsg.ConfigSourceStaticBrokerConfig, SourceDefault: kmsg.ConfigSourceDefaultConfig,
	}
	for ours, theirs := range sources {
		if int8(ours) != int8(theirs) || ours.String() != theirs.String() {
			t.Errorf("source %v = %d, kmsg %v = %d", ours, ours, theirs, theirs)
		}
	}
	ops := map[AlterOp]kmsg.IncrementalAlterConfigOp{
		AlterSet: kmsg.IncrementalAlterConfigOpSet, AlterDelete: kmsg.IncrementalAlterConfigOpDelete,
		AlterAppend: kmsg.IncrementalAlterConfigOpAppend, AlterSubtract: kmsg.IncrementalAlterConfigOpSubtract,
	}
	for ours, theirs := range ops {
		if int8(ours) != int8(theirs) || ours.String() != theirs.String() {
			t.Errorf("op %v = %d, kmsg %v = %d", ours, ours, theirs, theirs)
		}
	}
	if int8(ResourceTopic) != int8(kmsg.ConfigResourceTypeTopic) || int8(ResourceBroker) != int8(kmsg.ConfigResourceTypeBroker) {
		t.Errorf("resource codes differ from kmsg")
	}
}

// fmtSyn renders synonyms compactly for comparison: SOURCE:name=value.
func fmtSyn(syns []Synonym) string {
	parts := make([]string, len(syns))
	for i, s := range syns {
		v := "<null>"
		if s.Value != nil {
			v = *s.Value
		}
		parts[i] = fmt.Sprintf("%v:%s=%s", s.Source, s.Name, v)
	}
	return strings.Join(parts, " ")
}

func find(t *testing.T, entries []Entry, name string) Entry {
	t.Helper()
	for _, e := range entries {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return Entry{}
}

func val(e Entry) string {
	if e.Value == nil {
		return "<null>"
	}
	return *e.Value
}

// TestDescribeTopicSources checks the effective value, source and synonym
// chain of topic configs across every layer, in Kafka's order: topic
// override, dynamic broker, dynamic cluster default, static, default.
func TestDescribeTopicSources(t *testing.T) {
	tests := []struct {
		name      string
		layers    Layers
		overrides map[string]string
		config    string
		value     string
		source    Source
		synonyms  string
	}{
		{name: "default only", config: RetentionMs, value: "604800000", source: SourceDefault,
			synonyms: "DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "static hours", layers: Layers{Static: map[string]string{"log.retention.hours": "1"}},
			config: RetentionMs, value: "3600000", source: SourceStaticBroker,
			synonyms: "STATIC_BROKER_CONFIG:log.retention.hours=1 DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "static minutes beat hours", layers: Layers{Static: map[string]string{"log.retention.hours": "1", "log.retention.minutes": "5"}},
			config: RetentionMs, value: "300000", source: SourceStaticBroker,
			synonyms: "STATIC_BROKER_CONFIG:log.retention.minutes=5 STATIC_BROKER_CONFIG:log.retention.hours=1 DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "static ms beats minutes", layers: Layers{Static: map[string]string{"log.retention.ms": "1234", "log.retention.minutes": "5"}},
			config: RetentionMs, value: "1234", source: SourceStaticBroker,
			synonyms: "STATIC_BROKER_CONFIG:log.retention.ms=1234 STATIC_BROKER_CONFIG:log.retention.minutes=5 DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "negative broker retention is unlimited", layers: Layers{Static: map[string]string{"log.retention.ms": "-7"}},
			config: RetentionMs, value: "-1", source: SourceStaticBroker,
			synonyms: "STATIC_BROKER_CONFIG:log.retention.ms=-7 DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "dynamic default beats static", layers: Layers{
			Static:         map[string]string{"log.retention.hours": "1"},
			DynamicDefault: map[string]string{"log.retention.ms": "60000"}},
			config: RetentionMs, value: "60000", source: SourceDynamicDefaultBroker,
			synonyms: "DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=60000 STATIC_BROKER_CONFIG:log.retention.hours=1 DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "dynamic broker beats dynamic default", layers: Layers{
			Static:         map[string]string{"log.retention.ms": "5"},
			DynamicDefault: map[string]string{"log.retention.ms": "60000"},
			DynamicBroker:  map[string]string{"log.retention.ms": "70000"}},
			config: RetentionMs, value: "70000", source: SourceDynamicBroker,
			synonyms: "DYNAMIC_BROKER_CONFIG:log.retention.ms=70000 DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=60000 STATIC_BROKER_CONFIG:log.retention.ms=5 DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "topic override wins", layers: Layers{
			Static:        map[string]string{"log.retention.hours": "1"},
			DynamicBroker: map[string]string{"log.retention.ms": "70000"}},
			overrides: map[string]string{RetentionMs: " 1000 "},
			config:    RetentionMs, value: "1000", source: SourceDynamicTopic,
			synonyms: "DYNAMIC_TOPIC_CONFIG:retention.ms=1000 DYNAMIC_BROKER_CONFIG:log.retention.ms=70000 STATIC_BROKER_CONFIG:log.retention.hours=1 DEFAULT_CONFIG:log.retention.hours=168"},
		{name: "renamed synonym", layers: Layers{Static: map[string]string{"message.max.bytes": "2000000"}},
			config: MaxMessageBytes, value: "2000000", source: SourceStaticBroker,
			synonyms: "STATIC_BROKER_CONFIG:message.max.bytes=2000000 DEFAULT_CONFIG:message.max.bytes=1048588"},
		{name: "roll hours", layers: Layers{Static: map[string]string{"log.roll.hours": "2"}},
			config: SegmentMs, value: "7200000", source: SourceStaticBroker,
			synonyms: "STATIC_BROKER_CONFIG:log.roll.hours=2 DEFAULT_CONFIG:log.roll.hours=168"},
		{name: "flush.ms from scheduler interval", config: FlushMs, value: maxLong, source: SourceDefault,
			synonyms: "DEFAULT_CONFIG:log.flush.scheduler.interval.ms=" + maxLong},
		{name: "cleanup policy list normalized", overrides: map[string]string{CleanupPolicy: "compact , delete"},
			config: CleanupPolicy, value: "compact,delete", source: SourceDynamicTopic,
			synonyms: "DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete DEFAULT_CONFIG:log.cleanup.policy=delete"},
		{name: "no broker default", config: LeaderReplicationThrottledReplicas, value: "", source: SourceDefault, synonyms: ""},
		{name: "write caching", layers: Layers{DynamicDefault: map[string]string{"log.write.caching": "true"}},
			config: WriteCaching, value: "true", source: SourceDynamicDefaultBroker,
			synonyms: "DYNAMIC_DEFAULT_BROKER_CONFIG:log.write.caching=true DEFAULT_CONFIG:log.write.caching=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewResolver(tt.layers)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := r.DescribeTopic(tt.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(topicDefs) {
				t.Errorf("%d entries, want %d", len(entries), len(topicDefs))
			}
			e := find(t, entries, tt.config)
			if val(e) != tt.value || e.Source != tt.source || fmtSyn(e.Synonyms) != tt.synonyms {
				t.Errorf("got %s source %v synonyms %q\nwant %s source %v synonyms %q",
					val(e), e.Source, fmtSyn(e.Synonyms), tt.value, tt.source, tt.synonyms)
			}
			if e.ReadOnly || e.Sensitive || e.Doc == "" {
				t.Errorf("flags: %+v", e)
			}
		})
	}
}

// TestDescribeBroker checks the broker resource: this broker's view lists
// every config with Kafka's synonyms (dropping those listed before the
// config's own name), the cluster-default view only what is set
// cluster-wide.
func TestDescribeBroker(t *testing.T) {
	r, err := NewResolver(Layers{
		Static:         map[string]string{"node.id": "1", "log.retention.hours": "1", "num.partitions": "3"},
		DynamicDefault: map[string]string{"log.retention.ms": "60000", "message.max.bytes": "2000000"},
		DynamicBroker:  map[string]string{"message.max.bytes": "3000000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	all := r.DescribeBroker(true)
	if len(all) != len(brokerDefs) {
		t.Errorf("%d entries, want %d", len(all), len(brokerDefs))
	}
	tests := []struct {
		config, value string
		source        Source
		readOnly      bool
		synonyms      string
	}{
		{"message.max.bytes", "3000000", SourceDynamicBroker, false,
			"DYNAMIC_BROKER_CONFIG:message.max.bytes=3000000 DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000000 DEFAULT_CONFIG:message.max.bytes=1048588"},
		{"log.retention.ms", "60000", SourceDynamicDefaultBroker, false,
			"DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=60000 STATIC_BROKER_CONFIG:log.retention.hours=1 DEFAULT_CONFIG:log.retention.hours=168"},
		// Kafka drops the log.retention.ms synonym, listed first, when
		// describing log.retention.hours.
		{"log.retention.hours", "1", SourceStaticBroker, true,
			"STATIC_BROKER_CONFIG:log.retention.hours=1 DEFAULT_CONFIG:log.retention.hours=168"},
		{"log.retention.minutes", "<null>", SourceDefault, true, ""},
		{"num.partitions", "3", SourceStaticBroker, true,
			"STATIC_BROKER_CONFIG:num.partitions=3 DEFAULT_CONFIG:num.partitions=1"},
		{"broker.id", "1", SourceStaticBroker, true, "STATIC_BROKER_CONFIG:broker.id=1 DEFAULT_CONFIG:broker.id=1"},
		{"listeners", "PLAINTEXT://127.0.0.1:9092", SourceDefault, true, "DEFAULT_CONFIG:listeners=PLAINTEXT://127.0.0.1:9092"},
		{"advertised.listeners", "<null>", SourceDefault, true, ""},
	}
	for _, tt := range tests {
		e := find(t, all, tt.config)
		if val(e) != tt.value || e.Source != tt.source || e.ReadOnly != tt.readOnly || fmtSyn(e.Synonyms) != tt.synonyms {
			t.Errorf("%s: got %s %v ro=%v %q\nwant %s %v ro=%v %q", tt.config,
				val(e), e.Source, e.ReadOnly, fmtSyn(e.Synonyms), tt.value, tt.source, tt.readOnly, tt.synonyms)
		}
	}

	def := r.DescribeBroker(false)
	var got []string
	for _, e := range def {
		got = append(got, fmt.Sprintf("%s=%s %v [%s]", e.Name, val(e), e.Source, fmtSyn(e.Synonyms)))
	}
	want := []string{
		"log.retention.ms=60000 DYNAMIC_DEFAULT_BROKER_CONFIG [DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=60000]",
		"message.max.bytes=2000000 DYNAMIC_DEFAULT_BROKER_CONFIG [DYNAMIC_DEFAULT_BROKER_CONFIG:message.max.bytes=2000000]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cluster default:\n got %q\nwant %q", got, want)
	}
}

// TestSensitive checks that a PASSWORD config's value and synonyms are
// never reported.
func TestSensitive(t *testing.T) {
	d := &Def{Name: "ssl.key.password", Type: TypePassword, NullDefault: true, Sensitive: true}
	v := "secret"
	e := entry(d, "secret", true, []Synonym{{Name: d.Name, Value: &v, Source: SourceStaticBroker}})
	if e.Value != nil || e.Source != SourceStaticBroker {
		t.Errorf("entry = %+v", e)
	}
	r, _ := NewResolver(Layers{})
	for _, s := range r.synonyms([]string{"log.retention.hours"}, true) {
		if s.Value != nil {
			t.Errorf("sensitive synonym has a value: %+v", s)
		}
	}
}

// TestResolverErrors checks that invalid layers are refused with the
// offending config named.
func TestResolverErrors(t *testing.T) {
	tests := []struct {
		layers Layers
		want   string
	}{
		{Layers{DynamicDefault: map[string]string{"log.retention.ms": "x"}}, "Invalid value x for configuration log.retention.ms: Not a number of type LONG"},
		{Layers{DynamicBroker: map[string]string{"bogus": "1"}}, "Unknown broker config name: bogus"},
		{Layers{DynamicDefault: map[string]string{"log.roll.ms": "0"}}, "Invalid value 0 for configuration log.roll.ms: Value must be at least 1"},
	}
	for _, tt := range tests {
		_, err := NewResolver(tt.layers)
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewResolver(%+v) = %v, want %q", tt.layers, err, tt.want)
		}
	}
}

// TestViews checks the typed getters over broker and topic views,
// including Duration's saturation of Kafka's Long.MAX_VALUE.
func TestViews(t *testing.T) {
	r, err := NewResolver(Layers{Static: map[string]string{
		"log.retention.hours": "2", "log.cleanup.policy": "compact,delete", "log.cleaner.min.cleanable.ratio": "0.25",
		"broker.rack": " r1 ",
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := r.Broker()
	if b.Int(NumPartitions) != 1 || !b.Bool(AutoCreateTopicsEnable) || b.String(BrokerRack) != "r1" ||
		b.Duration(ConnectionsMaxIdleMs) != 10*time.Minute || !b.IsNull(LogRetentionMs) ||
		!reflect.DeepEqual(b.List(Listeners), []string{"PLAINTEXT://127.0.0.1:9092"}) || b.List(AdvertisedListeners) != nil ||
		b.Int64(LogRetentionHours) != 2 || b.Int(OffsetsTopicReplicationFactor) != 1 {
		t.Errorf("broker view: %v", b.Values())
	}
	if v, ok := b.Value(LogRetentionMs); ok || v != "" {
		t.Errorf("Value(log.retention.ms) = %q, %v", v, ok)
	}

	d := r.TopicDefaults()
	if d.Duration(RetentionMs) != 2*time.Hour || d.Duration(FlushMs) != time.Duration(math.MaxInt64) ||
		!reflect.DeepEqual(d.List(CleanupPolicy), []string{"compact", "delete"}) || d.Float64(MinCleanableDirtyRatio) != 0.25 ||
		d.String(CompressionType) != "producer" || d.Bool(WriteCaching) || d.Int(MaxMessageBytes) != 1048588 {
		t.Errorf("topic defaults: %v", d.Values())
	}

	v, err := r.Topic(map[string]string{RetentionMs: "-1", WriteCaching: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Duration(RetentionMs) != -time.Millisecond || !v.Bool(WriteCaching) || v.Duration(SegmentMs) != 7*24*time.Hour {
		t.Errorf("topic view: %v", v.Values())
	}
	if _, err := r.Topic(map[string]string{"nope": "1"}); err == nil || err.Error() != "Unknown topic config name: nope" {
		t.Errorf("Topic(nope) = %v", err)
	}
}

// TestViewPanics checks that programming errors panic rather than return
// a wrong value.
func TestViewPanics(t *testing.T) {
	r, _ := NewResolver(Layers{})
	for name, f := range map[string]func(){
		"unknown name":    func() { r.Broker().Int64("no.such.config") },
		"wrong type":      func() { r.Broker().Bool(NumPartitions) },
		"null number":     func() { r.Broker().Int64(LogRetentionMs) },
		"topic on broker": func() { r.Broker().Int64(RetentionMs) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestResolverValidateTopicUsesBrokerDefaults checks that the cross-config
// rule compares a topic's override with the broker's effective default.
func TestResolverValidateTopicUsesBrokerDefaults(t *testing.T) {
	r, err := NewResolver(Layers{Static: map[string]string{"log.cleaner.max.compaction.lag.ms": "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateTopic(map[string]string{MinCompactionLagMs: "200"}); err != nil {
		t.Errorf("ValidateTopic: %v", err)
	}
	want := "conflict topic config setting min.compaction.lag.ms (200) > max.compaction.lag.ms (100)"
	if err := r.ValidateTopic(map[string]string{MinCompactionLagMs: "200"}); err == nil || err.Error() != want {
		t.Errorf("Resolver.ValidateTopic = %v, want %q", err, want)
	}
}

// TestWithDynamic checks that a dynamic update builds a new Resolver and
// leaves the old one unchanged.
func TestWithDynamic(t *testing.T) {
	r1, err := NewResolver(Layers{Static: map[string]string{"node.id": "4"}})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := r1.WithDynamic(map[string]string{"min.insync.replicas": "2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1.TopicDefaults().Int(MinInsyncReplicas) != 1 || r2.TopicDefaults().Int(MinInsyncReplicas) != 2 {
		t.Errorf("min.insync.replicas: old %d new %d", r1.TopicDefaults().Int(MinInsyncReplicas), r2.TopicDefaults().Int(MinInsyncReplicas))
	}
	if r2.Broker().Int(NodeID) != 4 || r2.Broker().Int(BrokerID) != 4 || r2.Layers().Static[BrokerID] != "4" {
		t.Errorf("node.id/broker.id not carried over: %v", r2.Layers().Static)
	}
}
