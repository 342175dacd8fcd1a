package broker

// CreatePartitions (key 37), versions 0–3.
//
// Behavior: raises a topic's partition count; new partitions start empty.
// A count not above the current one is INVALID_PARTITIONS. New partitions
// get replicas from the request's assignments (validated as Kafka does) or
// from the striped placer, which continues after the existing partitions.
// validate_only checks without changing anything.
// With an authorizer, each topic needs ALTER (TOPIC_AUTHORIZATION_FAILED
// otherwise). The partitions added count against controller_mutation_rate
// (quota_mutation.go): from v3 a topic over it is refused with
// THROTTLING_QUOTA_EXCEEDED (KIP-599); before, it is applied and the
// client throttled.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleCreatePartitions(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	quota := b.mutationQuota(r, 3)
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	for _, t := range req.Topics {
		st := kmsg.CreatePartitionsResponseTopic{Topic: t.Topic}
		if seen[t.Topic] > 1 {
			st.ErrorCode = kerr.InvalidRequest.Code
			st.ErrorMessage = kmsg.StringPtr("Duplicate topic in request.")
		} else if !b.authorize(r.Session, acl.OpAlter, acl.ResourceTopic, t.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		} else {
			var assignment [][]int32
			for _, a := range t.Assignment {
				assignment = append(assignment, a.Replicas)
			}
			code, msg := b.createPartitions(ctx, t.Topic, t.Count, assignment, req.ValidateOnly, quota)
			st.ErrorCode = code
			if msg != "" {
				st.ErrorMessage = kmsg.StringPtr(msg)
			}
		}
		resp.Topics = append(resp.Topics, st)
		if b.audit != nil {
			msg := ""
			if st.ErrorMessage != nil {
				msg = *st.ErrorMessage
			}
			b.audit.admin(r, auditTopicResource(t.Topic), st.ErrorCode, msg,
				map[string]any{"count": t.Count, "assignments": len(t.Assignment), "validateOnly": req.ValidateOnly})
		}
	}
	b.throttleMutations(r, quota, resp)
	return resp
}
