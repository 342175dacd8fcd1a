package broker

// ConsumerGroupDescribe (key 69), versions 0–1.
//
// Behavior: consumer groups of the KIP-848 protocol are described with
// their state (Empty, Assigning, Reconciling, Stable), group and
// assignment epochs, assignor, and each member's epoch, subscriptions,
// current and target assignment. A missing or classic group is
// GROUP_ID_NOT_FOUND. Authorized operations are not computed (no ACLs).
// Version notes: v1 member type (always consumer, 1).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleConsumerGroupDescribe(ctx context.Context, r *protocol.Request) kmsg.Response {
	return b.groups.ConsumerGroupDescribe(r.Msg.(*kmsg.ConsumerGroupDescribeRequest))
}
