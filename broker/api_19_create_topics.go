package broker

// CreateTopics (key 19), versions 0–7.
//
// Behavior: as Kafka with one broker: a replication factor above 1 is
// INVALID_REPLICATION_FACTOR; manual assignments may name only this broker;
// configs are validated by their Kafka names and ranges (INVALID_CONFIG
// with Kafka's message); validate_only (v1+) checks without creating.
// Version notes: v1 validate_only, v5 returns partitions, replication
// factor and configs of the created topic (KIP-525), v7 returns topic ids.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleCreateTopics(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.CreateTopicsResponseTopic{Topic: rt.Topic, NumPartitions: -1, ReplicationFactor: -1}
		code, msg := int16(0), ""
		partitions, rf := rt.NumPartitions, rt.ReplicationFactor
		switch {
		case seen[rt.Topic] > 1:
			code, msg = kerr.InvalidRequest.Code, "Create topics request from client contains duplicate topic: "+rt.Topic
		case !b.authorizeCreateTopic(r.Session, rt.Topic):
			code, msg = kerr.TopicAuthorizationFailed.Code, "Authorization failed."
		case len(rt.ReplicaAssignment) > 0 && (partitions != -1 || rf != -1):
			code, msg = kerr.InvalidRequest.Code, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."
		case len(rt.ReplicaAssignment) > 0:
			partitions, rf = int32(len(rt.ReplicaAssignment)), int16(len(rt.ReplicaAssignment[0].Replicas))
			for i, a := range rt.ReplicaAssignment {
				if a.Partition != int32(i) {
					code, msg = kerr.InvalidReplicaAssignment.Code, "Partitions should be sequential starting from 0."
				}
				if len(a.Replicas) != int(rf) {
					code, msg = kerr.InvalidReplicaAssignment.Code, "All partitions should have the same number of replicas."
				}
				for _, n := range a.Replicas {
					if n != b.cfg.NodeID {
						code, msg = kerr.InvalidReplicaAssignment.Code, "Unknown broker in replica assignment."
					}
				}
			}
		}
		if code == 0 {
			configs := map[string]*string{}
			for _, c := range rt.Configs {
				configs[c.Name] = c.Value
			}
			code, msg = b.createTopic(ctx, rt.Topic, partitions, rf, configs, req.ValidateOnly)
		}
		st.ErrorCode = code
		if msg != "" {
			st.ErrorMessage = kmsg.StringPtr(msg)
		}
		// Null lists crash the Java admin client: always send one.
		st.Configs = []kmsg.CreateTopicsResponseTopicConfig{}
		if code == 0 {
			if t := b.lookupTopic(rt.Topic); t != nil && !req.ValidateOnly {
				st.TopicID = t.id
				st.NumPartitions = int32(len(t.partitions()))
				st.ReplicationFactor = 1
				if cfgs := b.describeTopicConfigsForCreate(t); cfgs != nil {
					st.Configs = cfgs
				}
			} else if req.ValidateOnly {
				if partitions == -1 {
					partitions = int32(b.settings.brokerInt("num.partitions", 1))
				}
				st.NumPartitions, st.ReplicationFactor = partitions, 1
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
	return resp
}
