package broker

// Metadata (key 3), versions 0–13.
//
// Behavior: answered from the metadata image. Every registered, unfenced
// broker is listed with its advertised endpoint for the listener the
// client connected on (as Kafka lists brokers by listener name), with its
// rack; the controller is the metadata store's. Each partition reports its
// leader, leader epoch, replicas, ISR and offline replicas (replicas whose
// broker is fenced, unregistered or has no such listener); a partition
// without a leader, or whose leader is not registered, is
// LEADER_NOT_AVAILABLE with leader -1 (LISTENER_NOT_FOUND, v6+, when the
// leader has no endpoint on the listener). v0 with no topics, and v1+
// with a null topic list, mean all topics. Unknown topics are created when both the broker's
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
	"slices"

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
	listener := r.Session.Listener
	img := b.meta.Image()
	resp.Brokers = metadataBrokers(img, listener)
	clusterID := img.ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = b.controllerID()
	resp.AuthorizedOperations = authorizedOpsOmitted
	if req.IncludeClusterAuthorizedOperations && req.Version >= 8 && req.Version <= 10 {
		resp.AuthorizedOperations = b.authorizedOps(r.Session, acl.ResourceCluster, acl.ClusterName)
	}

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range img.sortedTopicNames() {
			if b.authorizeQuietly(r.Session, acl.OpDescribe, acl.ResourceTopic, name) {
				resp.Topics = append(resp.Topics, b.metadataTopic(r.Session, req, img, img.Topics[name], listener))
			}
		}
		return resp
	}
	autoCreate := b.settings.brokerBool("auto.create.topics.enable", true) && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var ti *TopicImage
		switch {
		case rt.Topic != nil && *rt.Topic != "":
			ti = img.Topics[*rt.Topic]
		case rt.TopicID != [16]byte{}:
			ti = img.ByID[rt.TopicID]
			if ti == nil {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{TopicID: rt.TopicID, ErrorCode: kerr.UnknownTopicID.Code, AuthorizedOperations: authorizedOpsOmitted})
				continue
			}
		}
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		if ti != nil {
			name = ti.Name
		}
		if !b.authorize(r.Session, acl.OpDescribe, acl.ResourceTopic, name) {
			if rt.TopicID != [16]byte{} && (rt.Topic == nil || *rt.Topic == "") {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{TopicID: rt.TopicID, ErrorCode: kerr.UnknownTopicID.Code, AuthorizedOperations: authorizedOpsOmitted})
			} else {
				resp.Topics = append(resp.Topics, kmsg.MetadataResponseTopic{Topic: kmsg.StringPtr(name), ErrorCode: kerr.TopicAuthorizationFailed.Code, AuthorizedOperations: authorizedOpsOmitted})
			}
			continue
		}
		if ti != nil {
			resp.Topics = append(resp.Topics, b.metadataTopic(r.Session, req, img, ti, listener))
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
				if ti := b.meta.Image().Topics[name]; ti != nil {
					mt.TopicID = ti.ID
				}
			default:
				mt.ErrorCode = code
			}
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// metadataBrokers lists the registered, unfenced brokers with their
// endpoint on listener (brokers without one are left out), by node id, as
// Kafka's metadata cache lists alive brokers.
func metadataBrokers(img *MetadataImage, listener string) []kmsg.MetadataResponseBroker {
	out := []kmsg.MetadataResponseBroker{}
	for _, id := range img.BrokerIDs() {
		if ep, rack, ok := aliveEndpoint(img, id, listener); ok {
			out = append(out, kmsg.MetadataResponseBroker{NodeID: id, Host: ep.Host, Port: ep.Port, Rack: rackPtr(rack)})
		}
	}
	return out
}

func (b *Broker) metadataTopic(sess *protocol.Session, req *kmsg.MetadataRequest, img *MetadataImage, ti *TopicImage, listener string) kmsg.MetadataResponseTopic {
	mt := kmsg.MetadataResponseTopic{
		Topic:                kmsg.StringPtr(ti.Name),
		TopicID:              ti.ID,
		IsInternal:           internalTopics[ti.Name],
		AuthorizedOperations: authorizedOpsOmitted,
		Partitions:           make([]kmsg.MetadataResponseTopicPartition, 0, ti.Partitions),
	}
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = b.authorizedOps(sess, acl.ResourceTopic, ti.Name)
	}
	for i := int32(0); i < ti.Partitions; i++ {
		mt.Partitions = append(mt.Partitions, metadataPartition(img, ti, i, listener, req.Version))
	}
	return mt
}

// metadataPartition describes one partition as Kafka's KRaft metadata
// cache does: its leader when that broker is registered and has an
// endpoint on the listener (else leader -1 and LEADER_NOT_AVAILABLE, or
// LISTENER_NOT_FOUND from v6 when only the endpoint is missing), leader
// epoch, replicas, ISR, and as offline the replicas whose broker is
// unregistered, fenced or without the listener.
func metadataPartition(img *MetadataImage, ti *TopicImage, i int32, listener string, version int16) kmsg.MetadataResponseTopicPartition {
	mp := kmsg.NewMetadataResponseTopicPartition()
	mp.Partition = i
	st, ok := ti.Partition(i)
	if !ok {
		mp.ErrorCode, mp.Leader = kerr.LeaderNotAvailable.Code, NoLeader
		mp.Replicas, mp.ISR, mp.OfflineReplicas = []int32{}, []int32{}, []int32{}
		return mp
	}
	mp.LeaderEpoch = st.LeaderEpoch
	mp.Replicas, mp.ISR = slices.Clone(st.Replicas), slices.Clone(st.ISR)
	mp.OfflineReplicas = []int32{}
	for _, id := range st.Replicas {
		reg, ok := img.Broker(id)
		if _, has := reg.Endpoint(listener); !ok || reg.Fenced || !has {
			mp.OfflineReplicas = append(mp.OfflineReplicas, id)
		}
	}
	mp.Leader = st.Leader
	reg, registered := img.Broker(st.Leader)
	_, hasListener := reg.Endpoint(listener)
	switch {
	case st.Leader == NoLeader || !registered:
		mp.ErrorCode, mp.Leader = kerr.LeaderNotAvailable.Code, NoLeader
	case !hasListener:
		mp.ErrorCode, mp.Leader = kerr.LeaderNotAvailable.Code, NoLeader
		if version >= 6 {
			mp.ErrorCode = kerr.ListenerNotFound.Code
		}
	}
	return mp
}
