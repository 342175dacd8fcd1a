package broker

// Metadata (key 3), versions 0–13.
//
// Behavior: one broker (this node) is listed, with the advertised address
// of the listener the client connected on; it is the controller and the
// leader of every partition. v0 with no topics, and v1+ with a null topic
// list, mean all topics. Unknown topics are created when both the broker's
// auto.create.topics.enable and the request's AllowAutoTopicCreation (v4+)
// allow it, with num.partitions and default.replication.factor, and are
// reported as LEADER_NOT_AVAILABLE on that first answer like Kafka does.
// v10+ carries topic ids and accepts topics by id; v8–10 authorized
// operations are reported as not requested (-2147483648) unless asked for.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

// internalTopics are Kafka's internal topics, reported with IsInternal.
var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}

// authorizedOpsOmitted is Kafka's "not requested" value.
const authorizedOpsOmitted = -2147483648

func (b *Broker) handleMetadata(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := b.advertisedFor(r.Session.Listener)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: b.cfg.NodeID, Host: host, Port: port, Rack: b.rack()}}
	clusterID := b.meta.Image().ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = b.cfg.NodeID
	resp.AuthorizedOperations = authorizedOpsOmitted

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		b.mu.RLock()
		names := make([]string, 0, len(b.mu.topics))
		for name := range b.mu.topics {
			names = append(names, name)
		}
		b.mu.RUnlock()
		sort.Strings(names)
		for _, name := range names {
			if t := b.lookupTopic(name); t != nil {
				resp.Topics = append(resp.Topics, b.metadataTopic(req, t))
			}
		}
		return resp
	}
	autoCreate := b.settings.brokerBool("auto.create.topics.enable", true) && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t *topic
		switch {
		case rt.Topic != nil && *rt.Topic != "":
			t = b.lookupTopic(*rt.Topic)
		case rt.TopicID != [16]byte{}:
			t = b.lookupTopicID(rt.TopicID)
			if t == nil {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{TopicID: rt.TopicID, ErrorCode: kerr.UnknownTopicID.Code, AuthorizedOperations: authorizedOpsOmitted})
				continue
			}
		}
		if t != nil {
			resp.Topics = append(resp.Topics, b.metadataTopic(req, t))
			continue
		}
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		mt := kmsg.MetadataResponseTopic{Topic: kmsg.StringPtr(name), ErrorCode: kerr.UnknownTopicOrPartition.Code, AuthorizedOperations: authorizedOpsOmitted}
		if err := validateTopicName(name); err != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		} else if autoCreate && !internalTopics[name] {
			code, _ := b.createTopic(ctx, name, -1, -1, nil, false)
			switch code {
			case 0, kerr.TopicAlreadyExists.Code:
				// Like Kafka, report the new topic as not yet
				// available; the client retries and sees it.
				mt.ErrorCode = kerr.LeaderNotAvailable.Code
				if t := b.lookupTopic(name); t != nil {
					mt.TopicID = t.id
				}
			default:
				mt.ErrorCode = code
			}
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func (b *Broker) metadataTopic(req *kmsg.MetadataRequest, t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.MetadataResponseTopic{
		Topic:                kmsg.StringPtr(t.name),
		TopicID:              t.id,
		IsInternal:           internalTopics[t.name],
		AuthorizedOperations: authorizedOpsOmitted,
	}
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = topicOpsAll
	}
	for _, p := range t.partitions() {
		mt.Partitions = append(mt.Partitions, kmsg.MetadataResponseTopicPartition{
			Partition:   p.index,
			Leader:      b.cfg.NodeID,
			LeaderEpoch: p.leaderEpoch,
			Replicas:    []int32{b.cfg.NodeID},
			ISR:         []int32{b.cfg.NodeID},
		})
	}
	return mt
}

// topicOpsAll is the bit set of every topic operation (READ, WRITE,
// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS): with
// no authorizer configured every principal may do everything.
const topicOpsAll = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11

func (b *Broker) rack() *string {
	if r := b.settings.brokerString("broker.rack", ""); r != "" {
		return &r
	}
	return nil
}
