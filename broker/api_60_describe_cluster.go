package broker

// DescribeCluster (key 60), versions 0–2.
//
// Behavior: this broker is the only broker and the controller. v1 adds the
// endpoint type (1 = brokers; asking for controllers is answered with
// UNSUPPORTED_ENDPOINT_TYPE as a broker listener does in Kafka); v2 the
// fenced flag.

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
	resp.ClusterID = b.meta.Image().ClusterID
	resp.ControllerID = b.cfg.NodeID
	host, port := b.advertisedFor(r.Session.Listener)
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{{NodeID: b.cfg.NodeID, Host: host, Port: port, Rack: b.rack()}}
	resp.ClusterAuthorizedOperations = authorizedOpsOmitted
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = b.authorizedOps(r.Session, acl.ResourceCluster, acl.ClusterName)
	}
	return resp
}
