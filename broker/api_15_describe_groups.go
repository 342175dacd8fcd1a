package broker

// DescribeGroups (key 15), versions 0–5.
//
// Behavior: classic groups are described with their state, protocol type,
// and members (client id, host, instance id); member metadata, assignment
// and the protocol name are given only for a Stable group, as Kafka does.
// A group that does not exist, or that is a consumer group of the KIP-848
// protocol, is reported with state Dead and no error, as Kafka does before
// v6. Authorized operations are not computed (no ACLs).
// Version notes: v1 throttle; v3 authorized operations (KIP-430); v4 group
// instance id (KIP-345); v5 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeGroups(ctx context.Context, r *protocol.Request) kmsg.Response {
	return b.groups.DescribeGroups(r.Msg.(*kmsg.DescribeGroupsRequest))
}
