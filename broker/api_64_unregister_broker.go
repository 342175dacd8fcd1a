package broker

// UnregisterBroker (key 64), version 0.
//
// Behavior: needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED
// otherwise). Removes a broker's registration, as Kafka's controller does
// when a broker is decommissioned: BROKER_ID_NOT_REGISTERED when it is
// not registered. Skein refuses (INVALID_REQUEST) to unregister a broker
// that is not fenced (shut it down first) or that still holds replicas
// (reassign them first), so that no partition is left with a replica on
// a broker that no longer exists. A broker-only node's membership of the
// metadata quorum (a raft learner) is removed with it; controllers are
// removed from the quorum with skein cluster remove-controller.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleUnregisterBroker(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.UnregisterBrokerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	if !b.authorizeCluster(r.Session, acl.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	code, msg := b.unregisterBroker(ctx, req.BrokerID)
	resp.ErrorCode = code
	if msg != "" {
		resp.ErrorMessage = kmsg.StringPtr(msg)
	}
	return resp
}

func (b *Broker) unregisterBroker(ctx context.Context, id int32) (int16, string) {
	img := b.freshImage(ctx)
	reg, ok := img.Broker(id)
	if !ok {
		return kerr.BrokerIDNotRegistered.Code, fmt.Sprintf("Broker ID %d is not currently registered", id)
	}
	if !reg.Fenced {
		return kerr.InvalidRequest.Code, fmt.Sprintf("Broker %d is not fenced: shut it down before unregistering it", id)
	}
	n := 0
	for _, t := range img.Topics {
		for _, st := range t.Assignment {
			if slices.Contains(st.Replicas, id) {
				n++
			}
		}
	}
	if n > 0 {
		return kerr.InvalidRequest.Code, fmt.Sprintf("Broker %d still holds replicas of %d partition(s): reassign them before unregistering it", id, n)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.meta.Apply(ctx, MetadataRecord{Type: UnregisterBrokerRecord, Broker: &BrokerRegistration{ID: id, Incarnation: reg.Incarnation}}); err != nil {
		return kerr.UnknownServerError.Code, err.Error()
	}
	b.log.Info("broker unregistered", "broker", id)
	if store, ok := b.meta.(*RaftStore); ok {
		for _, m := range store.Node().Members() {
			if m.ID == raftID(id) && m.Learner {
				if res := store.handleCtrl(ctx, CtrlRequest{Op: CtrlRemove, ID: id}); res.Error != "" {
					return kerr.UnknownServerError.Code, "broker unregistered, but its membership of the metadata quorum was not removed: " + res.Error
				}
			}
		}
	}
	return 0, ""
}
