package broker

// DescribeCluster (key 60), versions 0–2.
//
// Behavior: answered from the metadata image: every registered, unfenced
// broker with its endpoint for the listener the request came on and its
// rack, and the metadata store's controller. v1 adds the endpoint type
// (1 = brokers; asking for controllers is answered with
// UNSUPPORTED_ENDPOINT_TYPE as a broker listener does in Kafka); v2 the
// fenced flag, and fenced brokers too when IncludeFencedBrokers is set.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeCluster(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
		return resp
	}
	resp.EndpointType = 1
	if !b.authorizeCluster(r.Session, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ClusterAuthorizedOperations = authorizedOpsOmitted
		return resp
	}
	img := b.meta.Image()
	resp.ClusterID = img.ClusterID
	resp.ControllerID = b.controllerID()
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{}
	for _, id := range img.BrokerIDs() {
		reg := img.Brokers[id]
		ep, ok := reg.Endpoint(r.Session.Listener)
		if !ok || (reg.Fenced && !(req.Version >= 2 && req.IncludeFencedBrokers)) {
			continue
		}
		resp.Brokers = append(resp.Brokers, kmsg.DescribeClusterResponseBroker{NodeID: id, Host: ep.Host, Port: ep.Port, Rack: rackPtr(reg.Rack), IsFenced: reg.Fenced})
	}
	resp.ClusterAuthorizedOperations = authorizedOpsOmitted
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.authorizedOps(r.Session, acl.ResourceCluster, acl.ClusterName)
	}
	return resp
}
