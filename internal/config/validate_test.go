package config

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateTopicEachConfig checks every topic config with at least one
// value Kafka accepts and one it rejects, with Kafka's message. A final
// check makes sure no registered topic config is left untested.
func TestValidateTopicEachConfig(t *testing.T) {
	tests := []struct {
		name    string
		good    []string
		bad     string
		wantErr string
	}{
		{CleanupPolicy, []string{"delete", "compact", "compact,delete", " delete , compact ", ""}, "remove",
			"Invalid value remove for configuration cleanup.policy: String must be one of: compact, delete"},
		{CleanupPolicy, nil, "delete,delete", "Configuration 'cleanup.policy' values must not be duplicated."},
		{CleanupPolicy, nil, "Delete", "Invalid value Delete for configuration cleanup.policy: String must be one of: compact, delete"},
		{CompressionGzipLevel, []string{"-1", "1", "9"}, "0",
			"Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{CompressionLz4Level, []string{"1", "17"}, "18",
			"Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"},
		{CompressionType, []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}, "GZIP",
			"Invalid value GZIP for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{CompressionZstdLevel, []string{"-131072", "22"}, "-131073",
			"Invalid value -131073 for configuration compression.zstd.level: Value must be at least -131072"},
		{DeleteRetentionMs, []string{"0", "86400000"}, "-1",
			"Invalid value -1 for configuration delete.retention.ms: Value must be at least 0"},
		{FileDeleteDelayMs, []string{"0"}, "-5",
			"Invalid value -5 for configuration file.delete.delay.ms: Value must be at least 0"},
		{FlushMessages, []string{"1", maxLong}, "0",
			"Invalid value 0 for configuration flush.messages: Value must be at least 1"},
		{FlushMs, []string{"0", "1000"}, "x",
			"Invalid value x for configuration flush.ms: Not a number of type LONG"},
		{FollowerReplicationThrottledReplicas, []string{"", "*", "0:1,1:2"}, "0:a",
			"Invalid value [0:a] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{IndexIntervalBytes, []string{"0", "4096"}, "2147483648",
			"Invalid value 2147483648 for configuration index.interval.bytes: Not a number of type INT"},
		{LeaderReplicationThrottledReplicas, []string{"*", "3:1"}, "*,1:1",
			"Invalid value [*, 1:1] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		{MaxCompactionLagMs, []string{"1"}, "0",
			"Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"},
		{MaxMessageBytes, []string{"0", "10485760"}, "-1",
			"Invalid value -1 for configuration max.message.bytes: Value must be at least 0"},
		{MessageTimestampAfterMaxMs, []string{"0", maxLong}, "-1",
			"Invalid value -1 for configuration message.timestamp.after.max.ms: Value must be at least 0"},
		{MessageTimestampBeforeMaxMs, []string{"0"}, "1.5",
			"Invalid value 1.5 for configuration message.timestamp.before.max.ms: Not a number of type LONG"},
		{MessageTimestampType, []string{"CreateTime", "LogAppendTime", " LogAppendTime "}, "createtime",
			"Invalid value createtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{MinCleanableDirtyRatio, []string{"0", "0.01", "1", "1e-1"}, "1.5",
			"Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{MinCleanableDirtyRatio, nil, "NaN",
			"Invalid value NaN for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},
		{MinCompactionLagMs, []string{"0"}, "-1",
			"Invalid value -1 for configuration min.compaction.lag.ms: Value must be at least 0"},
		{MinInsyncReplicas, []string{"1", "3"}, "0",
			"Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{Preallocate, []string{"true", "FALSE", " True "}, "yes",
			"Invalid value yes for configuration preallocate: Expected value to be either true or false"},
		{RetentionBytes, []string{"-1", "-100", "0", "1073741824"}, "1GB",
			"Invalid value 1GB for configuration retention.bytes: Not a number of type LONG"},
		{RetentionMs, []string{"-1", "0", "604800000", "+5"}, "-2",
			"Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{SegmentBytes, []string{"1048576", "1073741824"}, "1048575",
			"Invalid value 1048575 for configuration segment.bytes: Value must be at least 1048576"},
		{SegmentIndexBytes, []string{"4"}, "3",
			"Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
		{SegmentJitterMs, []string{"0"}, "-1",
			"Invalid value -1 for configuration segment.jitter.ms: Value must be at least 0"},
		{SegmentMs, []string{"1"}, "0",
			"Invalid value 0 for configuration segment.ms: Value must be at least 1"},
		{UncleanLeaderElectionEnable, []string{"true", "false"}, "1",
			"Invalid value 1 for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		{KeySchemaValidation, []string{"true", "false"}, "yes",
			"Invalid value yes for configuration confluent.key.schema.validation: Expected value to be either true or false"},
		{ValueSchemaValidation, []string{"true", "false"}, "1",
			"Invalid value 1 for configuration confluent.value.schema.validation: Expected value to be either true or false"},
		{KeySubjectNameStrategy, []string{topicNameStrategy, recordNameStrategy}, "TopicNameStrategy",
			"Invalid value TopicNameStrategy for configuration confluent.key.subject.name.strategy: String must be one of: " + topicNameStrategy + ", " + recordNameStrategy + ", " + topicRecordNameStrategy},
		{ValueSubjectNameStrategy, []string{topicRecordNameStrategy}, "",
			"Invalid value  for configuration confluent.value.subject.name.strategy: String must be one of: " + topicNameStrategy + ", " + recordNameStrategy + ", " + topicRecordNameStrategy},
		{WriteCaching, []string{"true", "false"}, "on",
			"Invalid value on for configuration write.caching: Expected value to be either true or false"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.name] = true
		for _, g := range tt.good {
			if err := ValidateTopic(map[string]string{tt.name: g}); err != nil {
				t.Errorf("%s=%q: unexpected error %v", tt.name, g, err)
			}
		}
		err := ValidateTopic(map[string]string{tt.name: tt.bad})
		if err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s=%q: err = %v, want %q", tt.name, tt.bad, err, tt.wantErr)
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s=%q: error does not wrap ErrInvalidConfig", tt.name, tt.bad)
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.Name != tt.name {
			t.Errorf("%s=%q: Error.Name = %+v", tt.name, tt.bad, ce)
		}
	}
	for _, d := range TopicDefs() {
		if !covered[d.Name] {
			t.Errorf("topic config %s has no validation case", d.Name)
		}
	}
}

// TestValidateTopicNamesAndCrossChecks checks unknown names (Kafka's
// INVALID_CONFIG message) and the min/max compaction lag rule.
func TestValidateTopicNamesAndCrossChecks(t *testing.T) {
	tests := []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"foo": "1"}, "Unknown topic config name: foo"},
		{map[string]string{"retention.ms": "1", "log.retention.ms": "1"}, "Unknown topic config name: log.retention.ms"},
		{map[string]string{"remote.storage.enable": "true"}, "Unknown topic config name: remote.storage.enable"},
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
			"conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		err := ValidateTopic(tt.values)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("ValidateTopic(%v) = %q, want %q", tt.values, got, tt.want)
		}
	}
}

// TestValidateBroker checks static broker configuration: typos get a
// suggestion, topic names get pointed at their broker default, values use
// Kafka's messages and the cross-config rules hold.
func TestValidateBroker(t *testing.T) {
	tests := []struct {
		values map[string]string
		want   string
	}{
		{nil, ""},
		{map[string]string{"node.id": "2", "log.dirs": "/var/lib/skein", "log.retention.hours": "1",
			"listeners":                      "PLAINTEXT://:9092,INTERNAL://10.0.0.1:9093",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
			"advertised.listeners":           "PLAINTEXT://broker.example:9092"}, ""},
		{map[string]string{"log.retention.hour": "1"}, "Unknown broker config name: log.retention.hour (did you mean log.retention.hours?)"},
		{map[string]string{"num.partition": "3"}, "Unknown broker config name: num.partition (did you mean num.partitions?)"},
		{map[string]string{"zookeeper.connect": "x:2181"}, "Unknown broker config name: zookeeper.connect (ZooKeeper mode was removed in Kafka 4.0 and Skein does not use ZooKeeper)"},
		{map[string]string{"log.message.format.version": "3.0"}, "Unknown broker config name: log.message.format.version (removed in Kafka 4.0; record batches are always format v2)"},
		{map[string]string{"foo.bar.baz.qux": "1"}, "Unknown broker config name: foo.bar.baz.qux"},
		{map[string]string{"retention.ms": "1"}, "Unknown broker config name: retention.ms (retention.ms is a topic config; its broker default is log.retention.ms)"},
		{map[string]string{"num.partitions": "0"}, "Invalid value 0 for configuration num.partitions: Value must be at least 1"},
		{map[string]string{"offsets.topic.replication.factor": "40000"}, "Invalid value 40000 for configuration offsets.topic.replication.factor: Not a number of type SHORT"},
		{map[string]string{"node.id": "1", "broker.id": "2"}, "You must set `node.id` to the same value as `broker.id`."},
		{map[string]string{"broker.id": "7"}, ""},
		{map[string]string{"log.dirs": "/a,/b"}, "Invalid value /a,/b for configuration log.dirs: Skein stores all partitions in one directory; give exactly one"},
		{map[string]string{"log.dirs": "/a,/a"}, "Configuration 'log.dirs' values must not be duplicated."},
		{map[string]string{"listeners": ""}, "Configuration 'listeners' must not be empty. Valid values include: any non-empty value"},
		{map[string]string{"listeners": "127.0.0.1:9092"}, "Invalid value 127.0.0.1:9092 for configuration listeners: Unable to parse 127.0.0.1:9092 to a broker endpoint"},
		{map[string]string{"listeners": "PLAINTEXT://:9092,PLAINTEXT://:9093"}, "Each listener must have a different name, listeners: PLAINTEXT://:9092,PLAINTEXT://:9093"},
		{map[string]string{"listeners": "PLAINTEXT://:9092,SSL://:9092"}, "Each listener must have a different port, listeners: PLAINTEXT://:9092,SSL://:9092"},
		{map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SSL://[::1]:9092"}, ""},
		{map[string]string{"listeners": "CLIENT://:9092"}, "Invalid value CLIENT://:9092 for configuration listeners: No security protocol defined for listener CLIENT"},
		{map[string]string{"listener.security.protocol.map": "PLAINTEXT:TLS"}, "Invalid value PLAINTEXT:TLS for configuration listener.security.protocol.map: Unknown security protocol TLS for listener PLAINTEXT; valid protocols are PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"},
		{map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address."},
		{map[string]string{"advertised.listeners": "SSL://h:9093"}, "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found SSL. The valid options based on currently configured listeners are PLAINTEXT"},
		{map[string]string{"inter.broker.listener.name": "REPLICATION"}, "requirement failed: inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are PLAINTEXT"},
		{map[string]string{"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "PLAINTEXT"}, "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set."},
		{map[string]string{"security.inter.broker.protocol": "SSL"}, "requirement failed: inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are PLAINTEXT"},
		{map[string]string{"security.inter.broker.protocol": "TLS"}, "Invalid value TLS for configuration security.inter.broker.protocol: String must be one of: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"},
		// Unset: a lone node with a SASL listener starts; its connections
		// to other brokers would fail (see broker.TestInterBrokerNoIdentity).
		{map[string]string{"listeners": "SASL_SSL://:9093", "security.inter.broker.protocol": "SASL_SSL"}, ""},
		{map[string]string{"listeners": "SASL_SSL://:9093", "sasl.mechanism.inter.broker.protocol": "GSSAPI", "sasl.enabled.mechanisms": "GSSAPI"},
			"The inter-broker listener SASL_SSL uses SASL, and sasl.mechanism.inter.broker.protocol is GSSAPI, which Skein does not support between brokers: set it to one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (and give the broker's username and password in listener.name.sasl_ssl.<mechanism>.sasl.jaas.config)"},
		{map[string]string{"listeners": "SASL_SSL://:9093", "sasl.mechanism.inter.broker.protocol": "PLAIN", "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512"},
			"requirement failed: sasl.mechanism.inter.broker.protocol must be included in sasl.enabled.mechanisms when SASL is used for inter-broker communication"},
		{map[string]string{"listeners": "SASL_SSL://:9093", "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512", "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512"}, ""},
		{map[string]string{"listeners": "PLAINTEXT://:9092,SASL_SSL://:9093", "sasl.mechanism.inter.broker.protocol": "GSSAPI"}, ""},
		{map[string]string{"ssl.endpoint.identification.algorithm": ""}, ""},
		{map[string]string{"replica.fetch.wait.max.ms": "40000"}, "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts"},
		{map[string]string{"replica.lag.time.max.ms": "100"}, "replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR"},
		{map[string]string{"replica.selector.class": "org.example.Selector"}, "Invalid value org.example.Selector for configuration replica.selector.class: String must be one of: org.apache.kafka.common.replica.RackAwareReplicaSelector"},
		{map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"},
			"conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{map[string]string{"log.flush.scheduler.interval.ms": "-1"}, "Invalid value -1 for configuration log.flush.scheduler.interval.ms: Value must be at least 0"},
		{map[string]string{"log.retention.minutes": "-5"}, ""},
	}
	for _, tt := range tests {
		err := ValidateBroker(tt.values)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("ValidateBroker(%v): error does not wrap ErrInvalidConfig", tt.values)
			}
		}
		if got != tt.want {
			t.Errorf("ValidateBroker(%v) = %q, want %q", tt.values, got, tt.want)
		}
	}
}

// TestValidateBrokerDefaults checks that every broker default is accepted
// and that the registry is self-consistent: broker configs are read-only
// exactly when not dynamic, and Kafka's first-precedence synonym of each
// topic config is dynamic while .hours/.minutes variants are not.
func TestValidateBrokerDefaults(t *testing.T) {
	for _, d := range BrokerDefs() {
		if d.ReadOnly == d.Dynamic {
			t.Errorf("%s: ReadOnly=%v Dynamic=%v", d.Name, d.ReadOnly, d.Dynamic)
		}
		if v, ok := d.DefaultValue(); ok {
			if err := ValidateBroker(map[string]string{d.Name: v}); err != nil && d.Name != BrokerID {
				t.Errorf("%s=%q: %v", d.Name, v, err)
			}
		}
	}
	for _, d := range TopicDefs() {
		if d.ReadOnly || d.Dynamic {
			t.Errorf("topic config %s: ReadOnly=%v Dynamic=%v", d.Name, d.ReadOnly, d.Dynamic)
		}
		for i, s := range d.ServerDefaults {
			b, _ := LookupBroker(s.Name)
			wantDynamic := i == 0
			if b.Dynamic != wantDynamic {
				t.Errorf("%s: broker synonym %s Dynamic=%v, want %v", d.Name, s.Name, b.Dynamic, wantDynamic)
			}
		}
	}
	for _, name := range []string{Listeners, LogDirs, NodeID, "log.retention.hours"} {
		if d, _ := LookupBroker(name); !d.ReadOnly {
			t.Errorf("%s should be read-only", name)
		}
	}
}

// TestValidateBrokerDynamic checks AlterConfigs on the broker resource:
// static configs are refused with Kafka's message.
func TestValidateBrokerDynamic(t *testing.T) {
	tests := []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"log.retention.ms": "1000", "message.max.bytes": "2000000", "min.insync.replicas": "2"}, ""},
		{map[string]string{"log.dirs": "/x", "listeners": "PLAINTEXT://:1", "log.retention.ms": "1"}, "Cannot update these configs dynamically: Set(listeners, log.dirs)"},
		{map[string]string{"log.retention.hours": "1"}, "Cannot update these configs dynamically: Set(log.retention.hours)"},
		{map[string]string{"log.segment.bytes": "10"}, "Invalid value 10 for configuration log.segment.bytes: Value must be at least 1048576"},
		{map[string]string{"nope": "1"}, "Unknown broker config name: nope"},
	}
	for _, tt := range tests {
		err := ValidateBrokerDynamic(tt.values)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("ValidateBrokerDynamic(%v) = %q, want %q", tt.values, got, tt.want)
		}
	}
}

// TestNormalize checks that values are reported as Kafka's
// ConfigDef.convertToString renders them.
func TestNormalize(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{CleanupPolicy, " compact , delete ", "compact,delete"},
		{Preallocate, "TRUE", "true"},
		{RetentionMs, " +5 ", "5"},
		{MinCleanableDirtyRatio, "1", "1.0"},
		{MinCleanableDirtyRatio, "0.25", "0.25"},
		{MinCleanableDirtyRatio, "1e-5", "1.0E-5"},
		{CompressionType, " lz4 ", "lz4"},
	}
	for _, tt := range tests {
		d, _ := LookupTopic(tt.name)
		got, err := d.Normalize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
	if s := javaDouble(12345678.9); !strings.HasPrefix(s, "1.23456789E7") {
		t.Errorf("javaDouble(12345678.9) = %s", s)
	}
}
