package broker

// DeleteGroups (key 42), versions 0–2.
//
// Behavior: an empty group is deleted with tombstones for its offsets and
// its metadata in __consumer_offsets, answered once fsynced; a group with
// members is NON_EMPTY_GROUP and an unknown one GROUP_ID_NOT_FOUND. With
// an authorizer, each group needs DELETE (GROUP_AUTHORIZATION_FAILED, the
// group kept, otherwise).
// Version notes: v1 same as v0; v2 flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDeleteGroups(ctx context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.DeleteGroupsRequest)
	cp := *req
	cp.Groups = nil
	var denied []kmsg.DeleteGroupsResponseGroup
	for _, g := range req.Groups {
		switch {
		case !b.authorize(r.Session, acl.OpDelete, acl.ResourceGroup, g):
			denied = append(denied, kmsg.DeleteGroupsResponseGroup{Group: g, ErrorCode: kerr.GroupAuthorizationFailed.Code})
		case !b.coordinatesGroup(g):
			denied = append(denied, kmsg.DeleteGroupsResponseGroup{Group: g, ErrorCode: kerr.NotCoordinator.Code})
		default:
			cp.Groups = append(cp.Groups, g)
		}
	}
	resp, wait := b.groups.DeleteGroups(&cp)
	resp.Groups = append(resp.Groups, denied...)
	if wait == nil {
		b.auditDeleteGroups(r, resp)
		return protocol.Reply{Resp: resp}
	}
	return protocol.Reply{Wait: func(context.Context) kmsg.Response {
		wait()
		b.auditDeleteGroups(r, resp)
		return resp
	}}
}

// auditDeleteGroups logs each group's deletion with its result, once it is
// durable.
func (b *Broker) auditDeleteGroups(r *protocol.Request, resp *kmsg.DeleteGroupsResponse) {
	if b.audit == nil {
		return
	}
	for _, g := range resp.Groups {
		b.audit.admin(r, auditGroupResource(g.Group), g.ErrorCode, "", nil)
	}
}
