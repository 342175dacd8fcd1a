package broker

// ConsumerGroupDescribe (key 69), versions 0–1.
//
// Behavior: consumer groups of the KIP-848 protocol are described with
// their state (Empty, Assigning, Reconciling, Stable), group and
// assignment epochs, assignor, and each member's epoch, subscriptions,
// current and target assignment. A missing or classic group is
// GROUP_ID_NOT_FOUND. With an authorizer, each group needs DESCRIBE
// (GROUP_AUTHORIZATION_FAILED otherwise), and a group whose members are
// assigned (or targeted with) a topic the principal may not DESCRIBE is
// TOPIC_AUTHORIZATION_FAILED without members, as in Kafka 4. Authorized
// operations, when asked for, are computed from the ACLs.
// Version notes: v1 member type (always consumer, 1).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleConsumerGroupDescribe(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.ConsumerGroupDescribeRequest)
	codes, permitted := b.describableGroups(r.Session, req.Groups)
	cp := *req
	cp.Groups = permitted
	described := b.groups.ConsumerGroupDescribe(&cp)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for i, g := range req.Groups {
		if codes[i] != 0 {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode, dg.AuthorizedOperations = g, codes[i], authorizedOpsOmitted
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg := described.Groups[0]
		described.Groups = described.Groups[1:]
		if dg.ErrorCode == 0 && b.authorizationOn() && !b.assignedTopicsDescribable(r.Session, dg.Members) {
			ng := kmsg.NewConsumerGroupDescribeResponseGroup()
			ng.Group, ng.ErrorCode, ng.AuthorizedOperations = g, kerr.TopicAuthorizationFailed.Code, authorizedOpsOmitted
			ng.ErrorMessage = kmsg.StringPtr("The group has described topic(s) that the client is not authorized to describe.")
			dg = ng
		}
		if req.IncludeAuthorizedOperations && dg.ErrorCode == 0 {
			dg.AuthorizedOperations = b.authorizedOps(r.Session, acl.ResourceGroup, g)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// assignedTopicsDescribable reports whether the session may DESCRIBE every
// topic in the members' current and target assignments.
func (b *Broker) assignedTopicsDescribable(sess *protocol.Session, members []kmsg.ConsumerGroupDescribeResponseGroupMember) bool {
	checked := map[string]bool{}
	for _, m := range members {
		for _, a := range []kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, tp := range a.TopicPartitions {
				if ok, seen := checked[tp.Topic]; seen {
					if !ok {
						return false
					}
					continue
				}
				ok := b.authorize(sess, acl.OpDescribe, acl.ResourceTopic, tp.Topic)
				checked[tp.Topic] = ok
				if !ok {
					return false
				}
			}
		}
	}
	return true
}
