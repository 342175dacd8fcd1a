package broker

// DescribeConfigs (key 32), versions 0–4.
//
// Behavior: topic resources list every topic config with its effective
// value and Kafka's source (topic override, dynamic broker, dynamic default
// broker, static broker, default); broker resources ("1" or the node id,
// and "" for cluster-wide dynamic defaults) list the broker configs.
// Sensitive values are null. Unknown topics are UNKNOWN_TOPIC_OR_PARTITION;
// another broker id is INVALID_REQUEST. With an authorizer, a topic needs
// DESCRIBE_CONFIGS on the topic and a broker DESCRIBE_CONFIGS on the
// cluster (TOPIC_ or CLUSTER_AUTHORIZATION_FAILED, no configs, otherwise).
// Version notes: v1 synonyms; v3 config type and documentation.

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeConfigs(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.DescribeConfigsResponseResource{ResourceType: rr.ResourceType, ResourceName: rr.ResourceName}
		opts := describeOpts{names: rr.ConfigNames, synonyms: req.IncludeSynonyms || req.Version == 0, docs: req.IncludeDocumentation, version: req.Version}
		if code := b.configResourceDenied(r.Session, acl.OpDescribeConfigs, rr.ResourceType, rr.ResourceName); code != 0 {
			res.ErrorCode, res.ErrorMessage = code, kmsg.StringPtr(authorizationMessage(code))
			resp.Resources = append(resp.Resources, res)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.lookupTopic(rr.ResourceName)
			if t == nil {
				res.ErrorCode = kerr.UnknownTopicOrPartition.Code
				res.ErrorMessage = kmsg.StringPtr("Topic " + rr.ResourceName + " does not exist.")
				break
			}
			res.Configs = b.settings.describeTopic(b.meta.Image().ByID[t.id].Configs, opts)
		case kmsg.ConfigResourceTypeBroker:
			if code, msg := b.checkBrokerResource(rr.ResourceName); code != 0 {
				res.ErrorCode, res.ErrorMessage = code, kmsg.StringPtr(msg)
				break
			}
			res.Configs = b.settings.describeBroker(rr.ResourceName, opts)
		default:
			res.ErrorCode = kerr.InvalidRequest.Code
			res.ErrorMessage = kmsg.StringPtr("Unsupported resource type " + rr.ResourceType.String())
		}
		resp.Resources = append(resp.Resources, res)
	}
	return resp
}

// checkBrokerResource accepts this broker's id and "" (cluster default).
func (b *Broker) checkBrokerResource(name string) (int16, string) {
	if name == "" {
		return 0, ""
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return kerr.InvalidRequest.Code, "Broker id must be an integer, but it is: " + name
	}
	if int32(id) != b.cfg.NodeID {
		return kerr.InvalidRequest.Code, "Unexpected broker id, expected " + strconv.Itoa(int(b.cfg.NodeID)) + " or empty string, but received " + name
	}
	return 0, ""
}
