package broker

import (
	"context"
	"errors"
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
	code, msg, _, _ := b.createTopicAs(ctx, name, partitions, replicationFactor, nil, configs, validateOnly, nil)
	return code, msg
}

// createTopicAs creates a topic with either a partition count and
// replication factor (-1: the broker defaults), whose replicas the striped
// placer chooses among the registered brokers, or a manual assignment (one
// replica list per partition; partitions and replicationFactor are then
// -1). The topic record and one partition record per partition go in one
// batch. It returns a Kafka error code and message (0 and "" on success)
// and the partition count and replication factor created (or that would
// be, with validateOnly). A valid creation counts its partitions against
// quota (nil for none), which may refuse it.
func (b *Broker) createTopicAs(ctx context.Context, name string, partitions int32, replicationFactor int16, assignment [][]int32, configs map[string]*string, validateOnly bool, quota *mutationQuota) (int16, string, int32, int16) {
	if err := validateTopicName(name); err != nil {
		return kerr.InvalidTopicException.Code, err.Error(), 0, 0
	}
	if assignment != nil {
		if replicationFactor != -1 {
			return kerr.InvalidRequest.Code, "A manual partition assignment was specified, but replication factor was not set to -1.", 0, 0
		}
		if partitions != -1 {
			return kerr.InvalidRequest.Code, "A manual partition assignment was specified, but numPartitions was not set to -1.", 0, 0
		}
		partitions = int32(len(assignment))
		replicationFactor = int16(len(assignment[0]))
	}
	if partitions == -1 {
		partitions = int32(b.settings.brokerInt("num.partitions", 1))
	}
	if replicationFactor == -1 {
		replicationFactor = int16(b.settings.brokerInt("default.replication.factor", 1))
	}
	if partitions <= 0 {
		return kerr.InvalidPartitions.Code, "Number of partitions must be larger than 0.", 0, 0
	}
	if partitions > maxPartitionsPerRequest {
		return kerr.PolicyViolation.Code, excessivePartitionsMessage, 0, 0
	}
	if replicationFactor <= 0 {
		return kerr.InvalidReplicationFactor.Code, "Replication factor must be larger than 0.", 0, 0
	}
	overrides := map[string]string{}
	for k, v := range configs {
		if v == nil {
			return kerr.InvalidConfig.Code, fmt.Sprintf("Null value not supported for topic configs: %s", k), 0, 0
		}
		overrides[k] = *v
	}
	if err := b.settings.validateTopic(overrides); err != nil {
		return kerr.InvalidConfig.Code, err.Error(), 0, 0
	}

	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	img := b.meta.Image()
	if _, ok := img.Topics[name]; ok {
		return kerr.TopicAlreadyExists.Code, fmt.Sprintf("Topic '%s' already exists.", name), 0, 0
	}
	cn := collisionName(name)
	for existing := range img.Topics {
		if collisionName(existing) == cn {
			return kerr.InvalidTopicException.Code, fmt.Sprintf("Topic '%s' collides with existing topic: %s", name, existing), 0, 0
		}
	}
	states, perr := newPartitionStates(img, nil, 0, int(partitions), int(replicationFactor), assignment, true)
	if perr != nil {
		return perr.code.Code, perr.msg, 0, 0
	}
	if validateOnly {
		return 0, "", partitions, replicationFactor
	}
	if !quota.admit(float64(partitions)) {
		return kerr.ThrottlingQuotaExceeded.Code, throttlingQuotaExceededMessage, 0, 0
	}
	id := NewTopicID()
	recs := make([]MetadataRecord, 0, 1+len(states))
	recs = append(recs, MetadataRecord{Type: TopicRecord, Topic: name, ID: id, Partitions: partitions, ReplicationFactor: replicationFactor, Configs: overrides})
	for i, st := range states {
		recs = append(recs, MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: id, Partition: int32(i), State: st}})
	}
	if err := b.meta.Apply(ctx, recs...); err != nil {
		if errors.Is(err, ErrTopicExists) {
			// Created meanwhile through another broker.
			return kerr.TopicAlreadyExists.Code, fmt.Sprintf("Topic '%s' already exists.", name), 0, 0
		}
		return kerr.UnknownServerError.Code, err.Error(), 0, 0
	}
	if err := b.reconcile(); err != nil {
		b.log.Error("opening logs of new topic", "topic", name, "err", err)
		return kerr.KafkaStorageError.Code, err.Error(), 0, 0
	}
	b.log.Info("topic created", "topic", name, "partitions", partitions, "replication_factor", replicationFactor)
	return 0, "", partitions, replicationFactor
}

// deleteTopic deletes a topic by name or id, counting its partitions
// against quota (nil for none), which may refuse it.
func (b *Broker) deleteTopic(ctx context.Context, name string, id TopicID, quota *mutationQuota) (TopicID, string, int16, string) {
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
	if !quota.admit(float64(ti.Partitions)) {
		return ti.ID, ti.Name, kerr.ThrottlingQuotaExceeded.Code, throttlingQuotaExceededMessage
	}
	if err := b.meta.Apply(ctx, MetadataRecord{Type: RemoveTopicRecord, ID: ti.ID}); err != nil {
		return ti.ID, ti.Name, kerr.UnknownServerError.Code, err.Error()
	}
	if err := b.reconcile(); err != nil {
		return ti.ID, ti.Name, kerr.KafkaStorageError.Code, err.Error()
	}
	return ti.ID, ti.Name, 0, ""
}

// createPartitions raises a topic's partition count. The new partitions
// get replicas from assignment (one replica list each, validated as Kafka
// validates manual assignments) or from the striped placer, continuing
// after the existing partitions, with the topic's replication factor. The
// partitions added count against quota (nil for none), which may refuse
// them.
func (b *Broker) createPartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool, quota *mutationQuota) (int16, string) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	img := b.meta.Image()
	ti := img.Topics[name]
	if ti == nil {
		return kerr.UnknownTopicOrPartition.Code, fmt.Sprintf("The topic '%s' does not exist.", name)
	}
	if count < ti.Partitions {
		return kerr.InvalidPartitions.Code, fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", ti.Partitions, count)
	}
	if count == ti.Partitions {
		return kerr.InvalidPartitions.Code, fmt.Sprintf("Topic already has %d partitions.", ti.Partitions)
	}
	additional := count - ti.Partitions
	if additional > maxPartitionsPerRequest {
		return kerr.PolicyViolation.Code, excessivePartitionsMessage
	}
	if assignment != nil && int32(len(assignment)) != additional {
		return kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", additional, len(assignment))
	}
	// The replication factor is that of the existing partitions.
	rf := int(ti.ReplicationFactor)
	if st, ok := ti.Partition(0); ok {
		rf = len(st.Replicas)
	}
	states, perr := newPartitionStates(img, replicaLists(ti), ti.Partitions, int(additional), rf, assignment, false)
	if perr != nil {
		return perr.code.Code, perr.msg
	}
	if validateOnly {
		return 0, ""
	}
	if !quota.admit(float64(additional)) {
		return kerr.ThrottlingQuotaExceeded.Code, throttlingQuotaExceededMessage
	}
	recs := make([]MetadataRecord, 0, 1+len(states))
	recs = append(recs, MetadataRecord{Type: PartitionsRecord, ID: ti.ID, Partitions: count})
	for i, st := range states {
		recs = append(recs, MetadataRecord{Type: PartitionRecordType, Partition: &PartitionRecord{TopicID: ti.ID, Partition: ti.Partitions + int32(i), State: st}})
	}
	if err := b.meta.Apply(ctx, recs...); err != nil {
		return kerr.UnknownServerError.Code, err.Error()
	}
	if err := b.reconcile(); err != nil {
		return kerr.KafkaStorageError.Code, err.Error()
	}
	return 0, ""
}
