package broker

// ListGroups (key 16), versions 0–5.
//
// Behavior: every group this node coordinates (all of them), classic and
// consumer groups, with their protocol type; v4+ may filter by state and
// v5+ by type ("classic", "consumer"), both case-insensitively as Kafka
// matches them.
// Version notes: v1 throttle; v3 flexible; v4 states filter and group state
// (KIP-518); v5 types filter and group type (KIP-848).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleListGroups(ctx context.Context, r *protocol.Request) kmsg.Response {
	return b.groups.ListGroups(r.Msg.(*kmsg.ListGroupsRequest))
}
