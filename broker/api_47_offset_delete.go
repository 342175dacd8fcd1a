package broker

// OffsetDelete (key 47), version 0.
//
// Behavior: KIP-496. Committed offsets of a group are deleted with
// tombstones, answered once fsynced. A group that does not exist is
// GROUP_ID_NOT_FOUND; a non-empty classic group that is not a consumer
// group is NON_EMPTY_GROUP; partitions of topics the group's members
// subscribe to are GROUP_SUBSCRIBED_TO_TOPIC, and of unknown topics
// UNKNOWN_TOPIC_OR_PARTITION. With an authorizer, DELETE on the group is
// needed (GROUP_AUTHORIZATION_FAILED otherwise) and READ on each topic
// (TOPIC_AUTHORIZATION_FAILED for its partitions, offsets kept, otherwise).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleOffsetDelete(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.OffsetDeleteRequest)
	if !b.authorize(r.Session, acl.OpDelete, acl.ResourceGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		b.auditOffsetDelete(r, req, resp)
		return protocol.Reply{Resp: resp}
	}
	if !b.coordinatesGroup(req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.NotCoordinator.Code
		return protocol.Reply{Resp: resp}
	}
	cp := *req
	cp.Topics = nil
	var denied []kmsg.OffsetDeleteResponseTopic
	for _, rt := range req.Topics {
		if b.authorize(r.Session, acl.OpRead, acl.ResourceTopic, rt.Topic) {
			cp.Topics = append(cp.Topics, rt)
			continue
		}
		st := kmsg.OffsetDeleteResponseTopic{Topic: rt.Topic}
		for _, rp := range rt.Partitions {
			st.Partitions = append(st.Partitions, kmsg.OffsetDeleteResponseTopicPartition{Partition: rp.Partition, ErrorCode: kerr.TopicAuthorizationFailed.Code})
		}
		denied = append(denied, st)
	}
	resp, wait := b.groups.OffsetDelete(&cp)
	if resp.ErrorCode == 0 {
		resp.Topics = append(resp.Topics, denied...)
	}
	if wait == nil {
		b.auditOffsetDelete(r, req, resp)
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		wait()
		b.auditOffsetDelete(r, req, resp)
		return resp
	}}
}

// auditOffsetDelete logs an OffsetDelete with each partition's outcome,
// once it is durable. The result is the group's error, else the first
// error of a partition.
func (b *Broker) auditOffsetDelete(r *protocol.Request, req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse) {
	if b.audit == nil {
		return
	}
	code := resp.ErrorCode
	var parts []map[string]any
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if code == 0 {
				code = p.ErrorCode
			}
			parts = append(parts, map[string]any{"topic": auditString(t.Topic), "partition": p.Partition, "errorCode": p.ErrorCode})
		}
	}
	if resp.ErrorCode != 0 {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, map[string]any{"topic": auditString(t.Topic), "partition": p.Partition, "errorCode": resp.ErrorCode})
			}
		}
	}
	b.audit.admin(r, auditGroupResource(req.Group), code, "", map[string]any{"partitions": parts})
}
