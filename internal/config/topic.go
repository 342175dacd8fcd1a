package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The subject name strategies of Confluent's serializers.
const (
	topicNameStrategy       = "io.confluent.kafka.serializers.subject.TopicNameStrategy"
	recordNameStrategy      = "io.confluent.kafka.serializers.subject.RecordNameStrategy"
	topicRecordNameStrategy = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
)

var subjectNameStrategies = []string{topicNameStrategy, recordNameStrategy, topicRecordNameStrategy}

// maxLong is Java's Long.MAX_VALUE as text, Kafka's "no limit" default.
const maxLong = "9223372036854775807"

// Unit conversions for broker synonyms expressed in coarser units.
const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
)

// Topic config names (Kafka's TopicConfig, plus Skein's write.caching).
const (
	CleanupPolicy                        = "cleanup.policy"
	CompressionType                      = "compression.type"
	CompressionGzipLevel                 = "compression.gzip.level"
	CompressionLz4Level                  = "compression.lz4.level"
	CompressionZstdLevel                 = "compression.zstd.level"
	DeleteRetentionMs                    = "delete.retention.ms"
	FileDeleteDelayMs                    = "file.delete.delay.ms"
	FlushMessages                        = "flush.messages"
	FlushMs                              = "flush.ms"
	FollowerReplicationThrottledReplicas = "follower.replication.throttled.replicas"
	IndexIntervalBytes                   = "index.interval.bytes"
	LeaderReplicationThrottledReplicas   = "leader.replication.throttled.replicas"
	MaxCompactionLagMs                   = "max.compaction.lag.ms"
	MaxMessageBytes                      = "max.message.bytes"
	MessageTimestampAfterMaxMs           = "message.timestamp.after.max.ms"
	MessageTimestampBeforeMaxMs          = "message.timestamp.before.max.ms"
	MessageTimestampType                 = "message.timestamp.type"
	MinCleanableDirtyRatio               = "min.cleanable.dirty.ratio"
	MinCompactionLagMs                   = "min.compaction.lag.ms"
	MinInsyncReplicas                    = "min.insync.replicas"
	Preallocate                          = "preallocate"
	RetentionBytes                       = "retention.bytes"
	RetentionMs                          = "retention.ms"
	SegmentBytes                         = "segment.bytes"
	SegmentIndexBytes                    = "segment.index.bytes"
	SegmentJitterMs                      = "segment.jitter.ms"
	SegmentMs                            = "segment.ms"
	UncleanLeaderElectionEnable          = "unclean.leader.election.enable"
	WriteCaching                         = "write.caching"
	KeySchemaValidation                  = "confluent.key.schema.validation"
	ValueSchemaValidation                = "confluent.value.schema.validation"
	KeySubjectNameStrategy               = "confluent.key.subject.name.strategy"
	ValueSubjectNameStrategy             = "confluent.value.subject.name.strategy"
)

// Values of cleanup.policy.
const (
	CleanupPolicyDelete  = "delete"
	CleanupPolicyCompact = "compact"
)

// compressionTypes are the values of compression.type in Kafka's order
// (BrokerCompressionType).
var compressionTypes = OneOf{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

// timestampTypes are the values of message.timestamp.type.
var timestampTypes = OneOf{"CreateTime", "LogAppendTime"}

// gzipLevel accepts Deflater's levels 1..9 and -1, its default level.
var gzipLevel = Custom{
	Desc: "[1,...,9] or -1",
	Fn: func(name, _ string, v any) error {
		n, _ := v.(int64)
		if n == -1 || (n >= 1 && n <= 9) {
			return nil
		}
		return invalidValue(name, formatValue(v), "Value must be between 1 and 9 or equal to -1")
	},
}

var throttledReplica = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// throttledReplicas is Kafka's ThrottledReplicaListValidator: "*" or a
// list of partitionId:brokerId.
var throttledReplicas = Custom{
	Desc: "[partitionId]:[brokerId],[partitionId]:[brokerId],...",
	Fn: func(name, _ string, v any) error {
		items, _ := v.([]string)
		if strings.Join(items, "") == "*" {
			return nil
		}
		for _, it := range items {
			if !throttledReplica.MatchString(it) {
				return invalidValue(name, "["+strings.Join(items, ", ")+"]", name+
					" must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")
			}
		}
		return nil
	},
}

func sd(names ...string) []ServerDefault {
	out := make([]ServerDefault, len(names))
	for i, n := range names {
		out[i] = ServerDefault{Name: n, Scale: 1}
	}
	return out
}

// topicDefs are the topic configs in name order. Kafka 4.x's tiered-storage
// configs (remote.storage.enable, local.retention.*, remote.log.*) are not
// accepted: Skein has no tiered storage.
var topicDefs = []Def{
	{Name: CleanupPolicy, Type: TypeList, Default: CleanupPolicyDelete,
		Validator:      ListOf{Values: []string{CleanupPolicyCompact, CleanupPolicyDelete}, AllowEmpty: true},
		ServerDefaults: sd("log.cleanup.policy"),
		Doc:            "Retention policy for old segments: \"delete\" removes them past retention.ms or retention.bytes, \"compact\" keeps the latest record per key; both may be given."},
	{Name: CompressionGzipLevel, Type: TypeInt, Default: "-1", Validator: gzipLevel,
		ServerDefaults: sd("compression.gzip.level"),
		Doc:            "Gzip level used when compression.type is gzip; -1 is the codec's default."},
	{Name: CompressionLz4Level, Type: TypeInt, Default: "9", Validator: Between(1, 17),
		ServerDefaults: sd("compression.lz4.level"),
		Doc:            "LZ4 level used when compression.type is lz4."},
	{Name: CompressionType, Type: TypeString, Default: "producer", Validator: compressionTypes,
		ServerDefaults: sd("compression.type"),
		Doc:            "Codec the stored batches use; \"producer\" keeps the producer's codec, \"uncompressed\" stores them uncompressed."},
	{Name: CompressionZstdLevel, Type: TypeInt, Default: "3", Validator: Between(-131072, 22),
		ServerDefaults: sd("compression.zstd.level"),
		Doc:            "Zstandard level used when compression.type is zstd."},
	{Name: DeleteRetentionMs, Type: TypeLong, Default: "86400000", Validator: AtLeast(0),
		ServerDefaults: sd("log.cleaner.delete.retention.ms"),
		Doc:            "How long tombstones are kept in a compacted topic, in ms."},
	{Name: FileDeleteDelayMs, Type: TypeLong, Default: "60000", Validator: AtLeast(0),
		ServerDefaults: sd("log.segment.delete.delay.ms"),
		Doc:            "Delay before a deleted segment's files are removed from disk, in ms."},
	{Name: FlushMessages, Type: TypeLong, Default: maxLong, Validator: AtLeast(1),
		ServerDefaults: sd("log.flush.interval.messages"),
		Doc:            "Force an fsync after this many records are appended."},
	{Name: FlushMs, Type: TypeLong, Default: maxLong, Validator: AtLeast(0),
		ServerDefaults: sd("log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
		Doc:            "Force an fsync when data has been unflushed for this long, in ms."},
	{Name: FollowerReplicationThrottledReplicas, Type: TypeList, Default: "", Validator: throttledReplicas,
		Doc: "A list of replicas for which log replication should be throttled on the follower side. The list should describe a set of replicas in the form " +
			"[PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic."},
	{Name: IndexIntervalBytes, Type: TypeInt, Default: "4096", Validator: AtLeast(0),
		ServerDefaults: sd("log.index.interval.bytes"),
		Doc:            "Bytes appended between two entries of the offset index."},
	{Name: LeaderReplicationThrottledReplicas, Type: TypeList, Default: "", Validator: throttledReplicas,
		Doc: "A list of replicas for which log replication should be throttled on the leader side. The list should describe a set of replicas in the form " +
			"[PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic."},
	{Name: MaxCompactionLagMs, Type: TypeLong, Default: maxLong, Validator: AtLeast(1),
		ServerDefaults: sd("log.cleaner.max.compaction.lag.ms"),
		Doc:            "Longest time a record may stay ineligible for compaction, in ms."},
	{Name: MaxMessageBytes, Type: TypeInt, Default: "1048588", Validator: AtLeast(0),
		ServerDefaults: sd("message.max.bytes"),
		Doc:            "Largest record batch accepted, after compression, in bytes."},
	{Name: MessageTimestampAfterMaxMs, Type: TypeLong, Default: "3600000", Validator: AtLeast(0),
		ServerDefaults: sd("log.message.timestamp.after.max.ms"),
		Doc:            "How far in the future a CreateTime timestamp may be, relative to the broker clock, in ms."},
	{Name: MessageTimestampBeforeMaxMs, Type: TypeLong, Default: maxLong, Validator: AtLeast(0),
		ServerDefaults: sd("log.message.timestamp.before.max.ms"),
		Doc:            "How far in the past a CreateTime timestamp may be, relative to the broker clock, in ms."},
	{Name: MessageTimestampType, Type: TypeString, Default: "CreateTime", Validator: timestampTypes,
		ServerDefaults: sd("log.message.timestamp.type"),
		Doc:            "Whether record timestamps are the producer's (CreateTime) or the broker's append time (LogAppendTime)."},
	{Name: MinCleanableDirtyRatio, Type: TypeDouble, Default: "0.5", Validator: Between(0, 1),
		ServerDefaults: sd("log.cleaner.min.cleanable.ratio"),
		Doc:            "Fraction of the log that must be uncompacted before the compactor runs."},
	{Name: MinCompactionLagMs, Type: TypeLong, Default: "0", Validator: AtLeast(0),
		ServerDefaults: sd("log.cleaner.min.compaction.lag.ms"),
		Doc:            "Shortest time a record stays uncompacted, in ms."},
	{Name: MinInsyncReplicas, Type: TypeInt, Default: "1", Validator: AtLeast(1),
		ServerDefaults: sd("min.insync.replicas"),
		Doc:            "Fewest in-sync replicas an acks=all produce needs; below it the produce fails with NOT_ENOUGH_REPLICAS."},
	{Name: Preallocate, Type: TypeBoolean, Default: "false",
		ServerDefaults: sd("log.preallocate"),
		Doc:            "Preallocate the segment file on disk when a segment is created."},
	{Name: RetentionBytes, Type: TypeLong, Default: "-1",
		ServerDefaults: sd("log.retention.bytes"),
		Doc:            "Size a partition may grow to before old segments are deleted, in bytes; -1 means no limit."},
	{Name: RetentionMs, Type: TypeLong, Default: "604800000", Validator: AtLeast(-1),
		ServerDefaults: []ServerDefault{{"log.retention.ms", 1}, {"log.retention.minutes", msPerMinute}, {"log.retention.hours", msPerHour}},
		Doc:            "How long a segment is kept before deletion, in ms; -1 means no limit."},
	{Name: SegmentBytes, Type: TypeInt, Default: "1073741824", Validator: AtLeast(1 << 20),
		ServerDefaults: sd("log.segment.bytes"),
		Doc:            "Size at which a new segment is rolled, in bytes."},
	{Name: SegmentIndexBytes, Type: TypeInt, Default: "10485760", Validator: AtLeast(4),
		ServerDefaults: sd("log.index.size.max.bytes"),
		Doc:            "Maximum size of a segment's offset index, in bytes."},
	{Name: SegmentJitterMs, Type: TypeLong, Default: "0", Validator: AtLeast(0),
		ServerDefaults: []ServerDefault{{"log.roll.jitter.ms", 1}, {"log.roll.jitter.hours", msPerHour}},
		Doc:            "Largest random amount subtracted from segment.ms, so segments do not all roll at once, in ms."},
	{Name: SegmentMs, Type: TypeLong, Default: "604800000", Validator: AtLeast(1),
		ServerDefaults: []ServerDefault{{"log.roll.ms", 1}, {"log.roll.hours", msPerHour}},
		Doc:            "Age at which a segment is rolled even if not full, in ms."},
	{Name: UncleanLeaderElectionEnable, Type: TypeBoolean, Default: "false",
		ServerDefaults: sd("unclean.leader.election.enable"),
		Doc:            "Allow a replica outside the ISR to become leader as a last resort, at the risk of losing data."},
	{Name: KeySchemaValidation, Type: TypeBoolean, Default: "false",
		Doc: "Confluent's name. When true, Produce refuses records whose key does not start with the schema registry magic byte and a schema id registered under the key subject."},
	{Name: ValueSchemaValidation, Type: TypeBoolean, Default: "false",
		Doc: "Confluent's name. When true, Produce refuses records whose value does not start with the schema registry magic byte and a schema id registered under the value subject; null values (tombstones) pass."},
	{Name: KeySubjectNameStrategy, Type: TypeString, Default: topicNameStrategy, Validator: OneOf(subjectNameStrategies),
		Doc: "How the key subject is named: <topic>-key (TopicNameStrategy), the record name (RecordNameStrategy) or <topic>-<record name> (TopicRecordNameStrategy)."},
	{Name: ValueSubjectNameStrategy, Type: TypeString, Default: topicNameStrategy, Validator: OneOf(subjectNameStrategies),
		Doc: "How the value subject is named, as confluent.key.subject.name.strategy for values."},
	{Name: WriteCaching, Type: TypeBoolean, Default: "false",
		ServerDefaults: sd("log.write.caching"),
		Doc: "Skein (Redpanda's name). When false, an acks=all produce is acknowledged only after its data is fsynced; " +
			"when true, it is acknowledged once written to the OS page cache and fsync follows flush.ms and flush.messages."},
}

// validateTopicValues runs Kafka's cross-config checks on a complete set of
// parsed topic values (LogConfig.validateValues).
func validateTopicValues(vals map[string]any) error {
	minLag, _ := vals[MinCompactionLagMs].(int64)
	maxLag, _ := vals[MaxCompactionLagMs].(int64)
	if minLag > maxLag {
		return configError("", fmt.Sprintf("conflict topic config setting %s (%d) > %s (%d)",
			MinCompactionLagMs, minLag, MaxCompactionLagMs, maxLag))
	}
	return nil
}

// ThrottledPartitions returns the partitions of a topic whose replication
// a leader.replication.throttled.replicas or
// follower.replication.throttled.replicas list throttles on broker
// brokerID, as Kafka's parseThrottledPartitions: every partition for the
// wildcard "*" (all), else those listed as partitionId:brokerID. Entries
// that do not parse are skipped (the list was validated when it was set).
func ThrottledPartitions(items []string, brokerID int32) (all bool, parts []int32) {
	if strings.TrimSpace(strings.Join(items, "")) == "*" {
		return true, nil
	}
	for _, it := range items {
		p, b, ok := strings.Cut(strings.TrimSpace(it), ":")
		if !ok {
			continue
		}
		pn, err1 := strconv.ParseInt(p, 10, 32)
		bn, err2 := strconv.ParseInt(b, 10, 32)
		if err1 == nil && err2 == nil && int32(bn) == brokerID {
			parts = append(parts, int32(pn))
		}
	}
	return false, parts
}
