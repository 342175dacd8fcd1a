package broker

// AlterClientQuotas (key 49), versions 0–1.
//
// Behavior: sets and removes client quotas, kept in the metadata log as
// client_quota records (KRaft's ClientQuotaRecord), so they survive
// restarts and apply at once. Each entry names an entity (user, client-id
// or ip components, a null name meaning the type's default entity) and
// operations on its keys. The validation is Kafka's
// ClientQuotaControlManager, with its INVALID_REQUEST messages: the
// entity must be non-empty, of known types with non-empty names, and ip
// may not be combined with the others; an ip name must be an address or
// a host name that resolves; user and client-id entities take
// producer_byte_rate, consumer_byte_rate (whole numbers), request_percentage
// and controller_mutation_rate, ip entities connection_creation_rate (a
// whole number up to 2^31-1); a value must be above 0 ("Invalid
// configuration key K", "Quota K must be greater than 0", "K cannot be a
// fractional value."). A key set twice in an entry, or an entity named by
// two entries, answers "Ignoring duplicate entity ..." for the entity, and
// none of its changes are made (Kafka still makes those of the first
// entry, though it reports the error). Skein also refuses NaN and
// infinite values. A removal of a key that is not set succeeds and writes
// nothing, as does setting the value a key already has. The changes of
// the valid entries are written together; validate_only writes nothing.
// With an authorizer, ALTER_CONFIGS on the cluster is needed: otherwise
// every entry is CLUSTER_AUTHORIZATION_FAILED and nothing changes.
// Version notes: v1 is the flexible version.

import (
	"context"
	"math"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/protocol"
)

// quotaValueType is the ConfigDef type Kafka gives a quota key.
type quotaValueType int

const (
	quotaLong quotaValueType = iota
	quotaDouble
	quotaInt
)

// Kafka's QuotaConfig.userAndClientQuotaConfigs and ipConfigs.
var (
	userClientQuotaKeys = map[string]quotaValueType{
		quotaProducerByteRate:       quotaLong,
		quotaConsumerByteRate:       quotaLong,
		quotaRequestPercentage:      quotaDouble,
		quotaControllerMutationRate: quotaDouble,
	}
	ipQuotaKeys = map[string]quotaValueType{quotaConnectionCreationRate: quotaInt}
)

// quotaIPLookupTimeout bounds the resolution of an ip entity named by host.
const quotaIPLookupTimeout = 5 * time.Second

func (b *Broker) handleAlterClientQuotas(_ context.Context, r *protocol.Request) protocol.Reply {
	req := r.Msg.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	if !b.authorizeCluster(r.Session, acl.OpAlterConfigs) {
		for _, e := range req.Entries {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			for _, p := range e.Entity {
				re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: p.Type, Name: p.Name})
			}
			re.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			re.ErrorMessage = kmsg.StringPtr(authorizationMessage(re.ErrorCode))
			resp.Entries = append(resp.Entries, re)
		}
		return protocol.Reply{Resp: resp}
	}
	// An ip entity named by host is resolved, which may wait on DNS.
	return protocol.Reply{Wait: func(ctx context.Context) kmsg.Response {
		valid := b.quotaIPNames(ctx, req.Entries)
		b.adminMu.Lock()
		defer b.adminMu.Unlock()
		results, recs := alterClientQuotas(req.Entries, b.meta.Image().ClientQuotas, func(name string) bool { return valid[name] })
		if !req.ValidateOnly && len(recs) > 0 {
			if err := b.meta.Apply(context.WithoutCancel(ctx), recs...); err != nil {
				b.log.Error("client quotas not stored", "err", err)
				for _, res := range results {
					if res.code == 0 {
						res.code, res.msg = kerr.UnknownServerError.Code, "The quotas could not be stored"
					}
				}
			} else {
				b.netLimits()
			}
		}
		for _, res := range results {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			for _, p := range res.entity {
				re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: p.Type, Name: p.Name})
			}
			re.ErrorCode = res.code
			if res.code != 0 {
				re.ErrorMessage = kmsg.StringPtr(res.msg)
			}
			resp.Entries = append(resp.Entries, re)
		}
		return resp
	}}
}

// quotaIPNames tells, for each ip entity name of the entries that is not
// an address, whether it resolves (Kafka's InetAddress.getByName check).
func (b *Broker) quotaIPNames(ctx context.Context, entries []kmsg.AlterClientQuotasRequestEntry) map[string]bool {
	valid := map[string]bool{}
	for _, e := range entries {
		for _, p := range e.Entity {
			if p.Type != quotaEntityIP || p.Name == nil {
				continue
			}
			name := *p.Name
			if _, done := valid[name]; done {
				continue
			}
			if _, err := netip.ParseAddr(name); err == nil {
				valid[name] = true
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, quotaIPLookupTimeout)
			addrs, err := net.DefaultResolver.LookupNetIP(lctx, "ip", name)
			cancel()
			valid[name] = err == nil && len(addrs) > 0
		}
	}
	return valid
}

// quotaAlterResult is the outcome for one entity.
type quotaAlterResult struct {
	entity []QuotaEntityPart
	code   int16
	msg    string
	recs   []MetadataRecord
}

// alterClientQuotas validates the entries against the current quotas, as
// Kafka's ClientQuotaControlManager.alterClientQuotas, and returns one
// result per entity, in the order entities first appear, and the records
// of the valid ones. ipValid tells whether an ip entity name that is not
// an address resolves.
func alterClientQuotas(entries []kmsg.AlterClientQuotasRequestEntry, current map[string]ClientQuotaImage, ipValid func(string) bool) ([]*quotaAlterResult, []MetadataRecord) {
	var order []*quotaAlterResult
	byKey := map[string]*quotaAlterResult{}
	for _, e := range entries {
		// As Kafka's AlterClientQuotasRequest.entries, the entity is a
		// map from type to name: a type given twice keeps its last name.
		names := map[string]*string{}
		for _, p := range e.Entity {
			names[p.Type] = p.Name
		}
		entity := make([]QuotaEntityPart, 0, len(names))
		for t, n := range names {
			entity = append(entity, QuotaEntityPart{Type: t, Name: n})
		}
		sort.Slice(entity, func(i, j int) bool { return entity[i].Type < entity[j].Type })
		key := quotaEntityKey(entity)
		type op struct {
			key   string
			value *float64
		}
		var ops []op
		seen := map[string]bool{}
		dupKey := false
		for _, o := range e.Ops {
			if seen[o.Key] {
				dupKey = true
				continue
			}
			seen[o.Key] = true
			if o.Remove {
				ops = append(ops, op{key: o.Key})
			} else {
				ops = append(ops, op{key: o.Key, value: &o.Value})
			}
		}
		res := byKey[key]
		if res != nil || dupKey {
			// Kafka records the duplicate key under the entity, then
			// finds the entity already answered: both end here.
			if res == nil {
				res = &quotaAlterResult{entity: entity}
				byKey[key] = res
				order = append(order, res)
			}
			res.code, res.msg, res.recs = kerr.InvalidRequest.Code, "Ignoring duplicate entity "+quotaEntityString(entity), nil
			continue
		}
		res = &quotaAlterResult{entity: entity}
		byKey[key] = res
		order = append(order, res)
		keys, code, msg := quotaKeysFor(entity, ipValid)
		if code != 0 {
			res.code, res.msg = code, msg
			continue
		}
		cur := current[key].Values
		for _, o := range ops {
			if o.value == nil {
				if _, ok := cur[o.key]; ok {
					res.recs = append(res.recs, MetadataRecord{Type: ClientQuotaRecordType, Quota: &ClientQuotaRecord{Entity: entity, Key: o.key, Remove: true}})
				}
				continue
			}
			if msg := validateQuotaValue(keys, o.key, *o.value); msg != "" {
				res.code, res.msg, res.recs = kerr.InvalidRequest.Code, msg, nil
				break
			}
			if v, ok := cur[o.key]; !ok || math.Float64bits(v) != math.Float64bits(*o.value) {
				res.recs = append(res.recs, MetadataRecord{Type: ClientQuotaRecordType, Quota: &ClientQuotaRecord{Entity: entity, Key: o.key, Value: *o.value}})
			}
		}
	}
	var recs []MetadataRecord
	for _, res := range order {
		if res.code == 0 {
			recs = append(recs, res.recs...)
		}
	}
	return order, recs
}

// quotaKeysFor checks an entity (Kafka's validateEntity and
// configKeysForEntityType) and returns the keys it takes.
func quotaKeysFor(entity []QuotaEntityPart, ipValid func(string) bool) (map[string]quotaValueType, int16, string) {
	invalid := kerr.InvalidRequest.Code
	if len(entity) == 0 {
		return nil, invalid, "Invalid empty client quota entity"
	}
	var hasUser, hasClient bool
	var ip *QuotaEntityPart
	for i, p := range entity {
		switch p.Type {
		case quotaEntityUser:
			hasUser = true
		case quotaEntityClientID:
			hasClient = true
		case quotaEntityIP:
			ip = &entity[i]
		default:
			return nil, invalid, "Unhandled client quota entity type: " + p.Type
		}
		if p.Name != nil && *p.Name == "" {
			return nil, invalid, "Empty " + p.Type + " not supported"
		}
	}
	switch {
	case ip != nil && (hasUser || hasClient):
		// Kafka's message, without the space between its two halves.
		return nil, invalid, "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
	case ip != nil:
		if ip.Name != nil {
			if _, err := netip.ParseAddr(*ip.Name); err != nil && !ipValid(*ip.Name) {
				return nil, invalid, *ip.Name + " is not a valid IP or resolvable host."
			}
		}
		return ipQuotaKeys, 0, ""
	}
	return userClientQuotaKeys, 0, ""
}

// validateQuotaValue is Kafka's validateQuotaKeyValue; it returns the
// message of an invalid key or value, "" for a valid one.
func validateQuotaValue(keys map[string]quotaValueType, key string, v float64) string {
	typ, ok := keys[key]
	switch {
	case !ok:
		return "Invalid configuration key " + key
	case v <= 0:
		return "Quota " + key + " must be greater than 0"
	case typ == quotaInt && v > math.MaxInt32:
		return "Proposed value for " + key + " is too large for an INT."
	case typ == quotaLong && v > math.MaxInt64:
		return "Proposed value for " + key + " is too large for a LONG."
	case typ != quotaDouble && math.Abs(math.Mod(v, 1)) > 1e-6:
		return key + " cannot be a fractional value."
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "Quota " + key + " must be a finite number"
	}
	return ""
}

// quotaEntityString renders an entity as Kafka's ClientQuotaEntity does in
// its messages: ClientQuotaEntity(entries={client-id=app, user=null}).
func quotaEntityString(entity []QuotaEntityPart) string {
	parts := make([]string, len(entity))
	for i, p := range entity {
		name := "null"
		if p.Name != nil {
			name = *p.Name
		}
		parts[i] = p.Type + "=" + name
	}
	return "ClientQuotaEntity(entries={" + strings.Join(parts, ", ") + "})"
}
