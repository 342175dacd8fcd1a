package broker

// IncrementalAlterConfigs (key 44), versions 0–1.
//
// Behavior: applies SET, DELETE, APPEND and SUBTRACT (the last two only for
// list configs such as cleanup.policy) to a topic's overrides or a broker's
// dynamic configs, validates the result as a whole and records it; nothing
// changes if any operation fails. validate_only checks without changing.
// With an authorizer, a topic needs ALTER_CONFIGS on the topic and a broker
// ALTER_CONFIGS on the cluster (TOPIC_ or CLUSTER_AUTHORIZATION_FAILED,
// nothing changed, otherwise).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.IncrementalAlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.IncrementalAlterConfigsResponseResource{ResourceType: rr.ResourceType, ResourceName: rr.ResourceName}
		ops := make([]config.Alteration, 0, len(rr.Configs))
		for _, c := range rr.Configs {
			ops = append(ops, config.Alteration{Name: c.Name, Op: config.AlterOp(c.Op), Value: c.Value})
		}
		code, msg := b.configResourceDenied(r.Session, acl.OpAlterConfigs, rr.ResourceType, rr.ResourceName), ""
		if code == 0 {
			scope := config.Resource(rr.ResourceType)
			code, msg = b.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, func(cur map[string]string) (map[string]string, error) {
				return config.IncrementalAlter(scope, cur, ops)
			}, req.ValidateOnly)
		}
		res.ErrorCode = code
		if msg != "" {
			res.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Resources = append(resp.Resources, res)
		if b.audit != nil {
			configs := make([]map[string]any, 0, len(rr.Configs))
			for _, c := range rr.Configs {
				configs = append(configs, map[string]any{"name": auditString(c.Name), "operation": c.Op.String(), "value": auditConfigValue(rr.ResourceType, c.Name, c.Value)})
			}
			b.audit.admin(r, auditConfigResource(rr.ResourceType, rr.ResourceName), code, msg,
				map[string]any{"resourceType": rr.ResourceType.String(), "configs": configs, "validateOnly": req.ValidateOnly})
		}
	}
	return resp
}
