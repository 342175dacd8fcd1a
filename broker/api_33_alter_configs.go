package broker

// AlterConfigs (key 33), versions 0–2.
//
// Behavior: replaces the whole set of overrides of a topic, or of a
// broker's dynamic configs ("" for the cluster-wide default), as Kafka's
// legacy AlterConfigs does; every value is validated first and nothing is
// changed if one fails (INVALID_CONFIG with Kafka's message). Broker
// configs that cannot change at runtime are INVALID_REQUEST.
// validate_only checks without changing. With an authorizer, a topic needs
// ALTER_CONFIGS on the topic and a broker ALTER_CONFIGS on the cluster
// (TOPIC_ or CLUSTER_AUTHORIZATION_FAILED, nothing changed, otherwise).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleAlterConfigs(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.AlterConfigsRequest)
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		res := kmsg.AlterConfigsResponseResource{ResourceType: rr.ResourceType, ResourceName: rr.ResourceName}
		next := map[string]string{}
		code := b.configResourceDenied(r.Session, acl.OpAlterConfigs, rr.ResourceType, rr.ResourceName)
		var msg string
		for _, c := range rr.Configs {
			if code != 0 {
				break
			}
			if c.Value == nil {
				code, msg = kerr.InvalidRequest.Code, "Null value not supported for : "+c.Name
				break
			}
			next[c.Name] = *c.Value
		}
		if code == 0 {
			code, msg = b.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, func(map[string]string) (map[string]string, error) { return next, nil }, req.ValidateOnly)
		}
		res.ErrorCode = code
		if msg != "" {
			res.ErrorMessage = kmsg.StringPtr(msg)
		}
		resp.Resources = append(resp.Resources, res)
		if b.audit != nil {
			configs := make([]map[string]any, 0, len(rr.Configs))
			for _, c := range rr.Configs {
				configs = append(configs, map[string]any{"name": auditString(c.Name), "operation": "SET", "value": auditConfigValue(rr.ResourceType, c.Name, c.Value)})
			}
			b.audit.admin(r, auditConfigResource(rr.ResourceType, rr.ResourceName), code, msg,
				map[string]any{"resourceType": rr.ResourceType.String(), "configs": configs, "replaceAll": true, "validateOnly": req.ValidateOnly})
		}
	}
	return resp
}

// alterConfigs computes a resource's new overrides with change, validates
// them and, unless validateOnly, records them in the metadata.
func (b *Broker) alterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, change func(cur map[string]string) (map[string]string, error), validateOnly bool) (int16, string) {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	img := b.meta.Image()
	var rec MetadataRecord
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		ti := img.Topics[name]
		if ti == nil {
			return kerr.UnknownTopicOrPartition.Code, "Topic " + name + " does not exist."
		}
		next, err := change(ti.Configs)
		if err != nil {
			return configErrorCode(err), err.Error()
		}
		if err := b.settings.validateTopic(next); err != nil {
			return configErrorCode(err), err.Error()
		}
		rec = MetadataRecord{Type: ConfigRecord, ConfigResource: "topic", ID: ti.ID, Configs: next}
	case kmsg.ConfigResourceTypeBroker:
		if code, msg := b.checkBrokerResource(name); code != 0 {
			return code, msg
		}
		next, err := change(img.BrokerConfigs[name])
		if err != nil {
			return configErrorCode(err), err.Error()
		}
		if err := b.settings.validateBrokerDynamic(next); err != nil {
			return configErrorCode(err), err.Error()
		}
		if err := b.settings.validateBrokerMerged(name, next, img.BrokerConfigs, b.cfg.NodeID); err != nil {
			return configErrorCode(err), err.Error()
		}
		rec = MetadataRecord{Type: ConfigRecord, ConfigResource: "broker", Name: name, Configs: next}
	default:
		return kerr.InvalidRequest.Code, "Unsupported resource type " + typ.String()
	}
	if validateOnly {
		return 0, ""
	}
	if err := b.meta.Apply(ctx, rec); err != nil {
		return kerr.UnknownServerError.Code, err.Error()
	}
	if err := b.reconcile(); err != nil {
		return kerr.KafkaStorageError.Code, err.Error()
	}
	return 0, ""
}
