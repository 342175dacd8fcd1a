package broker

// OffsetDelete (key 47), version 0.
//
// Behavior: KIP-496. Committed offsets of a group are deleted with
// tombstones, answered once fsynced. A group that does not exist is
// GROUP_ID_NOT_FOUND; a non-empty classic group that is not a consumer
// group is NON_EMPTY_GROUP; partitions of topics the group's members
// subscribe to are GROUP_SUBSCRIBED_TO_TOPIC, and of unknown topics
// UNKNOWN_TOPIC_OR_PARTITION.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleOffsetDelete(ctx context.Context, r *protocol.Request) protocol.Reply {
	resp, wait := b.groups.OffsetDelete(r.Msg.(*kmsg.OffsetDeleteRequest))
	if wait == nil {
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		wait()
		return resp
	}}
}
