package broker

// ListGroups (key 16), versions 0–5.
//
// Behavior: every group this node coordinates (all of them), classic and
// consumer groups, with their protocol type; v4+ may filter by state and
// v5+ by type ("classic", "consumer"), both case-insensitively as Kafka
// matches them. With an authorizer, only the groups the principal may
// DESCRIBE are listed, or all of them with DESCRIBE on the cluster.
// Version notes: v1 throttle; v3 flexible; v4 states filter and group state
// (KIP-518); v5 types filter and group type (KIP-848).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleListGroups(ctx context.Context, r *protocol.Request) kmsg.Response {
	resp := b.groups.ListGroups(r.Msg.(*kmsg.ListGroupsRequest))
	if b.authorizeQuietly(r.Session, acl.OpDescribe, acl.ResourceCluster, acl.ClusterName) {
		return resp
	}
	kept := resp.Groups[:0]
	for _, g := range resp.Groups {
		if b.authorizeQuietly(r.Session, acl.OpDescribe, acl.ResourceGroup, g.Group) {
			kept = append(kept, g)
		}
	}
	resp.Groups = kept
	return resp
}
