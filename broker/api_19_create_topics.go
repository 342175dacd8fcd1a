package broker

// CreateTopics (key 19), versions 0–7.
//
// Behavior: as Kafka's controller: replicas are placed over the registered
// brokers by the striped, rack-aware placer (a replication factor above
// the number of registered brokers is INVALID_REPLICATION_FACTOR); manual
// assignments are validated as Kafka does (INVALID_REPLICA_ASSIGNMENT with
// its messages); the first replica leads and the ISR is the active
// replicas. Configs are validated by their Kafka names and ranges
// (INVALID_CONFIG with Kafka's message); validate_only (v1+) checks
// without creating.
// The partitions created count against controller_mutation_rate
// (quota_mutation.go).
// Version notes: v1 validate_only, v5 returns partitions, replication
// factor and configs of the created topic (KIP-525), v6 refuses topics
// over controller_mutation_rate with THROTTLING_QUOTA_EXCEEDED (KIP-599;
// before, they are created and the client throttled), v7 returns topic
// ids.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleCreateTopics(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	quota := b.mutationQuota(r, 6)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.CreateTopicsResponseTopic{Topic: rt.Topic, NumPartitions: -1, ReplicationFactor: -1}
		code, msg := int16(0), ""
		var assignment [][]int32
		switch {
		case seen[rt.Topic] > 1:
			code, msg = kerr.InvalidRequest.Code, "Create topics request from client contains duplicate topic: "+rt.Topic
		case !b.authorizeCreateTopic(r.Session, rt.Topic):
			code, msg = kerr.TopicAuthorizationFailed.Code, "Authorization failed."
		case len(rt.ReplicaAssignment) > 0 && rt.ReplicationFactor != -1:
			code, msg = kerr.InvalidRequest.Code, "A manual partition assignment was specified, but replication factor was not set to -1."
		case len(rt.ReplicaAssignment) > 0 && rt.NumPartitions != -1:
			code, msg = kerr.InvalidRequest.Code, "A manual partition assignment was specified, but numPartitions was not set to -1."
		case len(rt.ReplicaAssignment) > 0:
			byPartition := map[int32][]int32{}
			for _, a := range rt.ReplicaAssignment {
				if _, dup := byPartition[a.Partition]; dup {
					code, msg = kerr.InvalidReplicaAssignment.Code, fmt.Sprintf("Found multiple manual partition assignments for partition %d", a.Partition)
					break
				}
				byPartition[a.Partition] = a.Replicas
			}
			for i := range len(byPartition) {
				replicas, ok := byPartition[int32(i)]
				if !ok && code == 0 {
					code, msg = kerr.InvalidReplicaAssignment.Code, "partitions should be a consecutive 0-based integer sequence"
				}
				assignment = append(assignment, replicas)
			}
		}
		var partitions int32
		var rf int16
		if code == 0 {
			configs := map[string]*string{}
			for _, c := range rt.Configs {
				configs[c.Name] = c.Value
			}
			code, msg, partitions, rf = b.createTopicAs(ctx, rt.Topic, rt.NumPartitions, rt.ReplicationFactor, assignment, configs, req.ValidateOnly, quota)
		}
		st.ErrorCode = code
		if msg != "" {
			st.ErrorMessage = kmsg.StringPtr(msg)
		}
		// Null lists crash the Java admin client: always send one.
		st.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
		if code == 0 {
			st.NumPartitions, st.ReplicationFactor = partitions, rf
			if t := b.lookupTopic(rt.Topic); t != nil && !req.ValidateOnly {
				st.TopicID = t.id
				if cfgs := b.describeTopicConfigsForCreate(t); cfgs != nil {
					st.Configs = cfgs
				}
			}
		}
		resp.Topics = append(resp.Topics, st)
		if b.audit != nil {
			configs := map[string]any{}
			for _, c := range rt.Configs {
				configs[auditString(c.Name)] = auditConfigValue(kmsg.ConfigResourceTypeTopic, c.Name, c.Value)
			}
			details := map[string]any{"numPartitions": rt.NumPartitions, "replicationFactor": rt.ReplicationFactor,
				"replicaAssignments": len(rt.ReplicaAssignment), "configs": configs, "validateOnly": req.ValidateOnly}
			if st.TopicID != [16]byte{} {
				details["topicId"] = TopicID(st.TopicID).String()
			}
			b.audit.admin(r, auditTopicResource(rt.Topic), code, msg, details)
		}
	}
	b.throttleMutations(r, quota, resp)
	return resp
}
