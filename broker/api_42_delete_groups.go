package broker

// DeleteGroups (key 42), versions 0–2.
//
// Behavior: an empty group is deleted with tombstones for its offsets and
// its metadata in __consumer_offsets, answered once fsynced; a group with
// members is NON_EMPTY_GROUP and an unknown one GROUP_ID_NOT_FOUND.
// Version notes: v1 same as v0; v2 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDeleteGroups(ctx context.Context, r *protocol.Request) protocol.Reply {
	resp, wait := b.groups.DeleteGroups(r.Msg.(*kmsg.DeleteGroupsRequest))
	if wait == nil {
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		wait()
		return resp
	}}
}
