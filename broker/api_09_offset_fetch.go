package broker

// OffsetFetch (key 9), versions 1–9.
//
// Behavior: committed offsets come from the coordinator's cache of
// __consumer_offsets; a partition without a commit answers offset -1,
// leader epoch -1 and empty metadata, with no error, and a group that does
// not exist answers the same way. A null topic list (v2+) returns every
// committed offset of the group. require_stable (v7+) never waits: there
// are no pending transactional offsets. Version 0 is not served, as Kafka 4
// removed it (KIP-896).
// Version notes: v2 top-level error and all topics; v3 throttle; v5 leader
// epoch (KIP-320); v6 flexible; v7 require_stable (KIP-447); v8 several
// groups per request (KIP-709); v9 member id and epoch of consumer groups
// (KIP-848).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleOffsetFetch(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.OffsetFetchRequest)
	if code := b.ensureOffsetsTopic(ctx); code != 0 {
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = code
		for _, g := range req.Groups {
			resp.Groups = append(resp.Groups, kmsg.OffsetFetchResponseGroup{Group: g.Group, ErrorCode: code})
		}
		return resp
	}
	resp := b.groups.OffsetFetch(req)
	b.filterOffsetFetch(r.Session, req, resp)
	b.offsetFetchCoordinators(req, resp)
	return resp
}

// offsetFetchCoordinators answers NOT_COORDINATOR for the groups another
// broker coordinates (v0-1 carry it on each requested partition).
func (b *Broker) offsetFetchCoordinators(req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) {
	if req.Version < 8 {
		if resp.ErrorCode != 0 || b.coordinatesGroup(req.Group) {
			return
		}
		resp.ErrorCode, resp.Topics = kerr.NotCoordinator.Code, nil
		if req.Version < 2 {
			for _, rt := range req.Topics {
				st := kmsg.OffsetFetchResponseTopic{Topic: rt.Topic}
				for _, p := range rt.Partitions {
					st.Partitions = append(st.Partitions, kmsg.OffsetFetchResponseTopicPartition{Partition: p, Offset: -1, LeaderEpoch: -1, ErrorCode: kerr.NotCoordinator.Code})
				}
				resp.Topics = append(resp.Topics, st)
			}
		}
		return
	}
	for i := range resp.Groups {
		g := &resp.Groups[i]
		if g.ErrorCode == 0 && !b.coordinatesGroup(g.Group) {
			g.ErrorCode, g.Topics = kerr.NotCoordinator.Code, nil
		}
	}
}
