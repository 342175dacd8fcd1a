package broker

// DescribeClientQuotas (key 48), versions 0–1.
//
// Behavior: lists the client quotas kept in the metadata log that match
// the filter, as Kafka's ClientQuotasImage.describe: each component names
// an entity type (user, client-id or ip) and matches it exactly (match
// type 0, a name), as the default entity (1) or any entity of the type
// (2); an entity matches when it has every component's type with a
// matching name. With strict set only entities of exactly the filter's
// types match; an empty filter matches every entity unless strict. Errors
// answer the whole request, with Kafka's messages: an empty or repeated
// entity type, a match string with match types 1 and 2 or without one for
// 0, an unknown match type, or ip combined with user or client-id are
// INVALID_REQUEST; an unknown entity type is UNSUPPORTED_VERSION. With an
// authorizer, DESCRIBE_CONFIGS on the cluster is needed
// (CLUSTER_AUTHORIZATION_FAILED). Entities are listed sorted by type and
// name, their values by key.
// Version notes: v1 is the flexible version.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

func (b *Broker) handleDescribeClientQuotas(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Msg.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !b.authorizeCluster(r.Session, acl.OpDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(authorizationMessage(resp.ErrorCode))
		return resp
	}
	matched, code, msg := describeClientQuotas(b.meta.Image().ClientQuotas, req.Components, req.Strict)
	if code != 0 {
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		return resp
	}
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	for _, q := range matched {
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, p := range q.Entity {
			ee := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ee.Type, ee.Name = p.Type, p.Name
			e.Entity = append(e.Entity, ee)
		}
		for _, k := range slices.Sorted(maps.Keys(q.Values)) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, q.Values[k]
			e.Values = append(e.Values, v)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp
}

// describeClientQuotas returns the quotas that match a filter, sorted by
// entity, or the error code and message of an invalid filter.
func describeClientQuotas(quotas map[string]ClientQuotaImage, components []kmsg.DescribeClientQuotasRequestComponent, strict bool) ([]ClientQuotaImage, int16, string) {
	exact := map[string]*string{} // entity type -> name, nil for the default
	specified := map[string]bool{}
	for _, c := range components {
		t := c.EntityType
		_, inExact := exact[t]
		switch {
		case t == "":
			return nil, kerr.InvalidRequest.Code, "Invalid empty entity type."
		case inExact || specified[t]:
			return nil, kerr.InvalidRequest.Code, "Entity type " + t + " cannot appear more than once in the filter."
		case t != quotaEntityIP && t != quotaEntityUser && t != quotaEntityClientID:
			return nil, kerr.UnsupportedVersion.Code, "Unsupported entity type " + t
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return nil, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null."
			}
			exact[t] = c.Match
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return nil, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
			}
			exact[t] = nil
		case kmsg.QuotasMatchTypeAny:
			if c.Match != nil {
				return nil, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
			}
			specified[t] = true
		default:
			return nil, kerr.InvalidRequest.Code, fmt.Sprintf("Unknown match type %d", int8(c.MatchType))
		}
	}
	has := func(t string) bool {
		_, ok := exact[t]
		return ok || specified[t]
	}
	if has(quotaEntityIP) && (has(quotaEntityUser) || has(quotaEntityClientID)) {
		return nil, kerr.InvalidRequest.Code, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."
	}
	var out []ClientQuotaImage
	for _, q := range quotas {
		if quotaEntityMatches(q.Entity, exact, specified, strict) {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b ClientQuotaImage) int {
		return strings.Compare(quotaEntityString(a.Entity), quotaEntityString(b.Entity))
	})
	return out, 0, ""
}

// quotaEntityMatches is the match of Kafka's ClientQuotaControlManager.
func quotaEntityMatches(entity []QuotaEntityPart, exact map[string]*string, specified map[string]bool, strict bool) bool {
	if strict && len(entity) != len(exact)+len(specified) {
		return false
	}
	name := func(t string) (*string, bool) {
		for _, p := range entity {
			if p.Type == t {
				return p.Name, true
			}
		}
		return nil, false
	}
	for t, want := range exact {
		got, ok := name(t)
		if !ok || (got == nil) != (want == nil) || (got != nil && *got != *want) {
			return false
		}
	}
	for t := range specified {
		if _, ok := name(t); !ok {
			return false
		}
	}
	return true
}
