package broker

// DeleteTopics (key 20), versions 0–6.
//
// Behavior: deleting removes the topic from metadata at once (a re-create
// gets a new topic id and empty logs) and its partition directories in the
// background. delete.topic.enable=false answers TOPIC_DELETION_DISABLED.
// The partitions of deleted topics count against controller_mutation_rate
// (quota_mutation.go).
// Version notes: v5 refuses topics over controller_mutation_rate with
// THROTTLING_QUOTA_EXCEEDED (KIP-599; before, they are deleted and the
// client throttled), v6 names topics by name or by id (KIP-516).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDeleteTopics(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name string
		id   TopicID
	}
	quota := b.mutationQuota(r, 5)
	var targets []target
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: n})
		}
	} else {
		for _, t := range req.Topics {
			tg := target{id: t.TopicID}
			if t.Topic != nil {
				tg.name = *t.Topic
			}
			targets = append(targets, tg)
		}
	}
	for _, tg := range targets {
		st := kmsg.DeleteTopicsResponseTopic{}
		switch {
		case tg.name != "" && tg.id != (TopicID{}):
			st.Topic, st.TopicID = kmsg.StringPtr(tg.name), tg.id
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("Topic name and topic id cannot both be set.")
		case tg.name == "" && tg.id == (TopicID{}):
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("Either topic name or topic id must be set.")
		case !b.authorizeDeleteTopic(r.Session, tg.name, tg.id):
			st.Topic, st.TopicID = kmsg.StringPtr(tg.name), tg.id
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			if tg.name == "" {
				// Do not reveal whether an id exists.
				st.Topic, st.ErrorCode = nil, kerr.UnknownTopicID.Code
			}
		default:
			id, name, code, msg := b.deleteTopic(ctx, tg.name, tg.id, quota)
			st.TopicID, st.ErrorCode = id, code
			if name != "" {
				st.Topic = kmsg.StringPtr(name)
			}
			if msg != "" {
				st.ErrorMessage = kmsg.StringPtr(msg)
			}
		}
		resp.Topics = append(resp.Topics, st)
		if b.audit != nil {
			name := tg.name
			if st.Topic != nil {
				name = *st.Topic
			}
			details := map[string]any{}
			if id := TopicID(st.TopicID); id != (TopicID{}) {
				details["topicId"] = id.String()
			} else if tg.id != (TopicID{}) {
				details["topicId"] = tg.id.String()
			}
			msg := ""
			if st.ErrorMessage != nil {
				msg = *st.ErrorMessage
			}
			b.audit.admin(r, auditTopicResource(name), st.ErrorCode, msg, details)
		}
	}
	b.throttleMutations(r, quota, resp)
	return resp
}
