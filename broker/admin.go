package broker

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// maxTopicNameLength is Kafka's limit (249, so that partition directory
// names fit file system limits).
const maxTopicNameLength = 249

// maxPartitionsPerRequest bounds the partitions one CreateTopics or
// CreatePartitions may add, as Kafka's controller bounds the records of one
// operation: a request cannot make the broker open millions of logs.
const maxPartitionsPerRequest = 10000

const excessivePartitionsMessage = "Excessively large number of partitions per request."

// validateTopicName applies Kafka's topic name rules.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("Topic name is illegal, it can't be empty")
	case name == "." || name == "..":
		return fmt.Errorf("Topic name cannot be \".\" or \"..\"")
	case len(name) > maxTopicNameLength:
		return fmt.Errorf("Topic name is illegal, it can't be longer than %d characters, topic name: %s", maxTopicNameLength, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("Topic name %q is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
		}
	}
	return nil
}

// collisionName maps '.' to '_': Kafka refuses topics that differ from an
// existing one only in those characters, because their metric names would
// collide.
func collisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// createTopic creates a topic through the metadata store. partitions and
// replicationFactor of -1 take the broker defaults. It returns a Kafka error
// code and message (0 and "" on success).
func (b *Broker) createTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, configs map[string]*string, validateOnly bool) (int16, string) {
	if err := validateTopicName(name); err != nil {
		return kerr.InvalidTopicException.Code, err.Error()
	}
	if partitions == -1 {
		partitions = int32(b.settings.brokerInt("num.partitions", 1))
	}
	if replicationFactor == -1 {
		replicationFactor = int16(b.settings.brokerInt("default.replication.factor", 1))
	}
	if partitions <= 0 {
		return kerr.InvalidPartitions.Code, "Number of partitions must be larger than 0."
	}
	if partitions > maxPartitionsPerRequest {
		return kerr.PolicyViolation.Code, excessivePartitionsMessage
	}
	if replicationFactor <= 0 {
		return kerr.InvalidReplicationFactor.Code, "Replication factor must be larger than 0."
	}
	if replicationFactor > 1 {
		return kerr.InvalidReplicationFactor.Code, fmt.Sprintf("Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only 1 broker(s) are registered.", replicationFactor, replicationFactor)
	}
	overrides := map[string]string{}
	for k, v := range configs {
		if v == nil {
			return kerr.InvalidConfig.Code, fmt.Sprintf("Null value not supported for topic configs: %s", k)
		}
		overrides[k] = *v
	}
	if err := b.settings.validateTopic(overrides); err != nil {
		return kerr.InvalidConfig.Code, err.Error()
	}

	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	img := b.meta.Image()
	if _, ok := img.Topics[name]; ok {
		return kerr.TopicAlreadyExists.Code, fmt.Sprintf("Topic '%s' already exists.", name)
	}
	cn := collisionName(name)
	for existing := range img.Topics {
		if collisionName(existing) == cn {
			return kerr.InvalidTopicException.Code, fmt.Sprintf("Topic '%s' collides with existing topic: %s", name, existing)
		}
	}
	if validateOnly {
		return 0, ""
	}
	rec := MetadataRecord{Type: TopicRecord, Topic: name, ID: NewTopicID(), Partitions: partitions, ReplicationFactor: replicationFactor, Configs: overrides}
	if err := b.meta.Apply(ctx, rec); err != nil {
		return kerr.UnknownServerError.Code, err.Error()
	}
	if err := b.reconcile(); err != nil {
		b.log.Error("opening logs of new topic", "topic", name, "err", err)
		return kerr.KafkaStorageError.Code, err.Error()
	}
	b.log.Info("topic created", "topic", name, "partitions", partitions)
	return 0, ""
}

// deleteTopic deletes a topic by name or id.
func (b *Broker) deleteTopic(ctx context.Context, name string, id TopicID) (TopicID, string, int16, string) {
	if !b.settings.brokerBool("delete.topic.enable", true) {
		return id, name, kerr.TopicDeletionDisabled.Code, "Topic deletion is disabled."
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	img := b.meta.Image()
	var ti *TopicImage
	if name != "" {
		ti = img.Topics[name]
		if ti == nil {
			return id, name, kerr.UnknownTopicOrPartition.Code, "This server does not host this topic-partition."
		}
	} else {
		ti = img.ByID[id]
		if ti == nil {
			return id, name, kerr.UnknownTopicID.Code, "This server does not host this topic ID."
		}
	}
	if err := b.meta.Apply(ctx, MetadataRecord{Type: RemoveTopicRecord, ID: ti.ID}); err != nil {
		return ti.ID, ti.Name, kerr.UnknownServerError.Code, err.Error()
	}
	if err := b.reconcile(); err != nil {
		return ti.ID, ti.Name, kerr.KafkaStorageError.Code, err.Error()
	}
	return ti.ID, ti.Name, 0, ""
}

// createPartitions raises a topic's partition count.
func (b *Broker) createPartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) (int16, string) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	ti := b.meta.Image().Topics[name]
	if ti == nil {
		return kerr.UnknownTopicOrPartition.Code, fmt.Sprintf("The topic '%s' does not exist.", name)
	}
	if count < ti.Partitions {
		return kerr.InvalidPartitions.Code, fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", ti.Partitions, count)
	}
	if count == ti.Partitions {
		return kerr.InvalidPartitions.Code, fmt.Sprintf("Topic already has %d partitions.", ti.Partitions)
	}
	if count-ti.Partitions > maxPartitionsPerRequest {
		return kerr.PolicyViolation.Code, excessivePartitionsMessage
	}
	if assignment != nil {
		if int32(len(assignment)) != count-ti.Partitions {
			return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("Increasing the number of partitions by %d but %d assignments provided.", count-ti.Partitions, len(assignment))
		}
		for _, replicas := range assignment {
			for _, r := range replicas {
				if r != b.cfg.NodeID {
					return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("The manual partition assignment includes broker %d, but no such broker is registered.", r)
				}
			}
			if len(replicas) != int(ti.ReplicationFactor) {
				return kerr.InvalidReplicaAssignment.Code, "Inconsistent replication factor between partitions."
			}
		}
	}
	if validateOnly {
		return 0, ""
	}
	if err := b.meta.Apply(ctx, MetadataRecord{Type: PartitionsRecord, ID: ti.ID, Partitions: count}); err != nil {
		return kerr.UnknownServerError.Code, err.Error()
	}
	if err := b.reconcile(); err != nil {
		return kerr.KafkaStorageError.Code, err.Error()
	}
	return 0, ""
}
