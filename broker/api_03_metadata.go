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
// With an authorizer: topics without DESCRIBE are left out of an all-topics
// answer and reported TOPIC_AUTHORIZATION_FAILED when named
// (UNKNOWN_TOPIC_ID when named by id, so their existence is not revealed);
// auto-creation needs CREATE on the cluster or the topic
// (TOPIC_AUTHORIZATION_FAILED otherwise); authorized operations are
// computed from the ACLs.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
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
	if req.IncludeClusterAuthorizedOperations && req.Version >= 8 && req.Version <= 10 {
		resp.AuthorizedOperations = b.authorizedOps(r.Session, acl.ResourceCluster, acl.ClusterName)
	}

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
			if t := b.lookupTopic(name); t != nil && b.authorizeQuietly(r.Session, acl.OpDescribe, acl.ResourceTopic, name) {
				resp.Topics = append(resp.Topics, b.metadataTopic(r.Session, req, t))
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
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		if t != nil {
			name = t.name
		}
		if !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTopic, name) {
			if rt.TopicID != [16]byte{} && (rt.Topic == nil || *rt.Topic == "") {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{TopicID: rt.TopicID, ErrorCode: kerr.UnknownTopicID.Code, AuthorizedOperations: authorizedOpsOmitted})
			} else {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{Topic: kmsg.StringPtr(name), ErrorCode: kerr.TopicAuthorizationFailed.Code, AuthorizedOperations: authorizedOpsOmitted})
			}
			continue
		}
		if t != nil {
			resp.Topics = append(resp.Topics, b.metadataTopic(r.Session, req, t))
			continue
		}
		mt := kmsg.MetadataResponseTopic{Topic: kmsg.StringPtr(name), ErrorCode: kerr.UnknownTopicOrPartition.Code, AuthorizedOperations: authorizedOpsOmitted}
		if err := validateTopicName(name); err != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		} else if autoCreate && !internalTopics[name] && !b.authorizeCreateTopic(r.Session, name) {
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
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

func (b *Broker) metadataTopic(sess *protocol.Session, req *kmsg.MetadataRequest, t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.MetadataResponseTopic{
		Topic:                kmsg.StringPtr(t.name),
		TopicID:              t.id,
		IsInternal:           internalTopics[t.name],
		AuthorizedOperations: authorizedOpsOmitted,
	}
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = b.authorizedOps(sess, acl.ResourceTopic, t.name)
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

func (b *Broker) rack() *string {
	if r := b.settings.brokerString("broker.rack", ""); r != "" {
		return &r
	}
	return nil
}
