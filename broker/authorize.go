package broker

// Authorization: the glue between handlers and the ACL authorizer
// (broker/acl). Handlers call b.authorize for each resource a request
// touches, as Kafka's KafkaApis does; when authorizer.class.name is empty
// every call is one atomic load and returns true.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// newAuthorizer builds the authorizer the settings ask for, or nil when
// authorization is off.
func newAuthorizer(s *settingsResolver) *acl.Authorizer {
	if s.brokerString(config.AuthorizerClassName, "") == "" {
		return nil
	}
	var supers []string
	for _, u := range strings.Split(s.brokerString(config.SuperUsers, ""), ";") {
		if u = strings.TrimSpace(u); u != "" {
			supers = append(supers, u)
		}
	}
	return acl.New(acl.Config{SuperUsers: supers, AllowIfNoACL: s.brokerBool(config.AllowEveryoneIfNoACLFound, false)})
}

// loadACLs installs the bindings of the metadata image in the authorizer.
func (b *Broker) loadACLs(img *MetadataImage) {
	a := b.authorizer.Load()
	if a == nil {
		return
	}
	bindings := make([]acl.Binding, 0, len(img.ACLs))
	for _, r := range img.ACLs {
		bindings = append(bindings, bindingOf(r))
	}
	a.Load(bindings)
}

func bindingOf(r ACLRecord) acl.Binding {
	return acl.Binding{
		ResourceType: acl.ResourceType(r.ResourceType),
		ResourceName: r.ResourceName,
		PatternType:  acl.PatternType(r.PatternType),
		Principal:    r.Principal,
		Host:         r.Host,
		Operation:    acl.Operation(r.Operation),
		Permission:   acl.Permission(r.Permission),
	}
}

func aclRecordOf(id string, b acl.Binding) ACLRecord {
	return ACLRecord{
		ID:           id,
		ResourceType: int8(b.ResourceType),
		ResourceName: b.ResourceName,
		PatternType:  int8(b.PatternType),
		Principal:    b.Principal,
		Host:         b.Host,
		Operation:    int8(b.Operation),
		Permission:   int8(b.Permission),
	}
}

// newACLID returns a random id for a new binding.
func newACLID() string {
	var id [16]byte
	rand.Read(id[:])
	return hex.EncodeToString(id[:])
}

// principal returns the principal a session acts as.
func (b *Broker) principal(sess *protocol.Session) string {
	if b.principalOf != nil {
		return b.principalOf(sess)
	}
	return sess.Principal()
}

// hostOf returns the client's IP address as ACL hosts name it.
func hostOf(sess *protocol.Session) string {
	if sess.Remote == nil {
		return ""
	}
	if a, ok := sess.Remote.(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(sess.Remote.String())
	if err != nil {
		return sess.Remote.String()
	}
	return host
}

// authorize reports whether the session may perform op on the resource,
// logging (and auditing) a denial. It is true when authorization is off.
func (b *Broker) authorize(sess *protocol.Session, op acl.Operation, rt acl.ResourceType, name string) bool {
	a := b.authorizer.Load()
	if a == nil {
		return true
	}
	principal, host := b.principal(sess), hostOf(sess)
	if b.audit.protects(rt, name) {
		d, rule := b.auditTopicDecision(a, principal, host, op, name)
		if !d.Allowed {
			b.denied(sess, principal, host, op, rt, name, d, rule)
			return false
		}
		if b.audit.logsAllowed() {
			b.audit.authorization(sess, principal, host, op, rt, name, d, rule)
		}
		return true
	}
	if !b.audit.logsAllowed() {
		if a.Authorize(principal, host, op, rt, name) {
			return true
		}
		d := a.Decide(principal, host, op, rt, name)
		b.denied(sess, principal, host, op, rt, name, d, d.RuleName())
		return false
	}
	d := a.Decide(principal, host, op, rt, name)
	if !d.Allowed {
		b.denied(sess, principal, host, op, rt, name, d, d.RuleName())
		return false
	}
	b.audit.authorization(sess, principal, host, op, rt, name, d, d.RuleName())
	return true
}

// auditTopicDecision decides op on the audit topic, which is protected
// beyond its ACLs: no client, super users included, may write to it, and
// allow.everyone.if.no.acl.found does not open it (only super users and
// principals an ACL names may read or describe it).
func (b *Broker) auditTopicDecision(a *acl.Authorizer, principal, host string, op acl.Operation, name string) (acl.Decision, string) {
	const rule = "AuditLogProtection"
	if op == acl.OpWrite || op == acl.OpAll {
		return acl.Decision{}, rule
	}
	d := a.Decide(principal, host, op, acl.ResourceTopic, name)
	if d.NoACL && !d.SuperUser {
		return acl.Decision{NoACL: true}, rule
	}
	return d, d.RuleName()
}

// authorizeQuietly is authorize without logging a denial, for filtering
// lists (topics of a Metadata for all topics, ListGroups) and computing
// authorized-operations fields, where a denial is not a refused request.
func (b *Broker) authorizeQuietly(sess *protocol.Session, op acl.Operation, rt acl.ResourceType, name string) bool {
	a := b.authorizer.Load()
	if a == nil {
		return true
	}
	if b.audit.protects(rt, name) {
		d, _ := b.auditTopicDecision(a, b.principal(sess), hostOf(sess), op, name)
		return d.Allowed
	}
	return a.Authorize(b.principal(sess), hostOf(sess), op, rt, name)
}

// authorizeCluster checks op on the CLUSTER resource.
func (b *Broker) authorizeCluster(sess *protocol.Session, op acl.Operation) bool {
	return b.authorize(sess, op, acl.ResourceCluster, acl.ClusterName)
}

// authorizeAnyTopic reports whether the session may perform op on at least
// one topic (KIP-679), logging a denial against the topic type.
func (b *Broker) authorizeAnyTopic(sess *protocol.Session, op acl.Operation) bool {
	a := b.authorizer.Load()
	if a == nil {
		return true
	}
	principal, host := b.principal(sess), hostOf(sess)
	if a.AuthorizeAny(principal, host, op, acl.ResourceTopic) {
		return true
	}
	b.denied(sess, principal, host, op, acl.ResourceTopic, acl.WildcardResource, acl.Decision{}, "DefaultDeny")
	return false
}

// authorizedOps returns the bit set of the operations the session may
// perform on a resource (the authorized-operations fields of Metadata,
// DescribeCluster and DescribeGroups): bit n is set for operation code n.
func (b *Broker) authorizedOps(sess *protocol.Session, rt acl.ResourceType, name string) int32 {
	var bits int32
	for _, op := range acl.Ops(rt) {
		if b.authorizeQuietly(sess, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// authorizationOn reports whether an authorizer is configured.
func (b *Broker) authorizationOn() bool { return b.authorizer.Load() != nil }

// denied is where every refused authorization goes: a log line at INFO,
// as Kafka's authorizer logger writes, and an event in the audit log with
// the request it refused (the session's request being dispatched) and the
// rule that decided.
func (b *Broker) denied(sess *protocol.Session, principal, host string, op acl.Operation, rt acl.ResourceType, name string, d acl.Decision, rule string) {
	b.log.LogAttrs(context.Background(), slog.LevelInfo, "authorization denied",
		slog.String("principal", principal), slog.String("host", host), slog.String("operation", op.String()),
		slog.String("resource_type", rt.String()), slog.String("resource", auditString(name)), slog.String("rule", rule))
	b.audit.authorization(sess, principal, host, op, rt, name, d, rule)
}

// authorizeCreateTopic checks CREATE on the cluster, then on the topic, as
// Kafka does for CreateTopics and auto-creation.
func (b *Broker) authorizeCreateTopic(sess *protocol.Session, name string) bool {
	if b.authorizeQuietly(sess, acl.OpCreate, acl.ResourceCluster, acl.ClusterName) {
		return true
	}
	return b.authorize(sess, acl.OpCreate, acl.ResourceTopic, name)
}

// offsetCommitDenied splits an OffsetCommit: it returns the request with
// only the topics the session may READ, and the answers
// (TOPIC_AUTHORIZATION_FAILED) for the others.
func (b *Broker) offsetCommitDenied(sess *protocol.Session, req *kmsg.OffsetCommitRequest) (*kmsg.OffsetCommitRequest, []kmsg.OffsetCommitResponseTopic) {
	if !b.authorizationOn() {
		return req, nil
	}
	var allowed []kmsg.OffsetCommitRequestTopic
	var denied []kmsg.OffsetCommitResponseTopic
	for _, rt := range req.Topics {
		name := rt.Topic
		if t := b.lookupTopicID(rt.TopicID); name == "" && t != nil {
			name = t.name
		}
		if b.authorize(sess, acl.OpRead, acl.ResourceTopic, name) {
			allowed = append(allowed, rt)
			continue
		}
		st := kmsg.OffsetCommitResponseTopic{Topic: rt.Topic, TopicID: rt.TopicID}
		for _, rp := range rt.Partitions {
			st.Partitions = append(st.Partitions, kmsg.OffsetCommitResponseTopicPartition{Partition: rp.Partition, ErrorCode: kerr.TopicAuthorizationFailed.Code})
		}
		denied = append(denied, st)
	}
	if len(denied) == 0 {
		return req, nil
	}
	cp := *req
	cp.Topics = allowed
	return &cp, denied
}

// filterOffsetFetch applies DESCRIBE on each group and topic to an
// OffsetFetch answer, as Kafka does: a group without it is
// GROUP_AUTHORIZATION_FAILED; a topic without it is left out when all
// topics were asked for, and TOPIC_AUTHORIZATION_FAILED when named.
func (b *Broker) filterOffsetFetch(sess *protocol.Session, req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) {
	if !b.authorizationOn() {
		return
	}
	topicOK := func(name string) bool { return b.authorize(sess, acl.OpDescribe, acl.ResourceTopic, name) }
	if req.Version < 8 {
		if !b.authorize(sess, acl.OpDescribe, acl.ResourceGroup, req.Group) {
			resp.Topics = nil
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			return
		}
		kept := resp.Topics[:0]
		for _, t := range resp.Topics {
			if !topicOK(t.Topic) {
				if req.Topics == nil {
					continue
				}
				for i := range t.Partitions {
					t.Partitions[i].ErrorCode, t.Partitions[i].Offset, t.Partitions[i].Metadata = kerr.TopicAuthorizationFailed.Code, -1, nil
				}
			}
			kept = append(kept, t)
		}
		resp.Topics = kept
		return
	}
	requested := map[string]bool{}
	for _, g := range req.Groups {
		requested[g.Group] = g.Topics != nil
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		if !b.authorize(sess, acl.OpDescribe, acl.ResourceGroup, g.Group) {
			g.Topics, g.ErrorCode = nil, kerr.GroupAuthorizationFailed.Code
			continue
		}
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			name := t.Topic
			if tt := b.lookupTopicID(t.TopicID); name == "" && tt != nil {
				name = tt.name
			}
			if !topicOK(name) {
				if !requested[g.Group] {
					continue
				}
				for i := range t.Partitions {
					t.Partitions[i].ErrorCode, t.Partitions[i].Offset, t.Partitions[i].Metadata = kerr.TopicAuthorizationFailed.Code, -1, nil
				}
			}
			kept = append(kept, t)
		}
		g.Topics = kept
	}
}

// authorizeDeleteTopic checks DELETE on a topic named by name or id.
func (b *Broker) authorizeDeleteTopic(sess *protocol.Session, name string, id TopicID) bool {
	if name == "" {
		if t := b.lookupTopicID(id); t != nil {
			name = t.name
		}
	}
	return b.authorize(sess, acl.OpDelete, acl.ResourceTopic, name)
}

// configResourceDenied checks op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on a
// config resource as Kafka does: a topic on the topic, a broker or broker
// logger (and client metrics) on the cluster, a group config on the group.
// It returns the error code to answer, 0 when allowed; a type the handlers
// do not know is left to them.
func (b *Broker) configResourceDenied(sess *protocol.Session, op acl.Operation, typ kmsg.ConfigResourceType, name string) int16 {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !b.authorize(sess, op, acl.ResourceTopic, name) {
			return kerr.TopicAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger, kmsg.ConfigResourceTypeClientMetrics:
		if !b.authorizeCluster(sess, op) {
			return kerr.ClusterAuthorizationFailed.Code
		}
	case kmsg.ConfigResourceTypeGroupConfig:
		if !b.authorize(sess, op, acl.ResourceGroup, name) {
			return kerr.GroupAuthorizationFailed.Code
		}
	}
	return 0
}

// authorizationMessage is the message of Kafka's authorization exceptions
// for the codes some responses carry a message for.
func authorizationMessage(code int16) string {
	switch code {
	case kerr.TopicAuthorizationFailed.Code:
		return "Topic authorization failed."
	case kerr.GroupAuthorizationFailed.Code:
		return "Group authorization failed."
	case kerr.ClusterAuthorizationFailed.Code:
		return "Cluster authorization failed."
	case kerr.TransactionalIDAuthorizationFailed.Code:
		return "Transactional Id authorization failed."
	}
	return ""
}

// authorizeGroups checks op on each group: allowed[i] tells whether
// groups[i] is permitted, and permitted lists those groups in order.
func (b *Broker) authorizeGroups(sess *protocol.Session, op acl.Operation, groups []string) (allowed []bool, permitted []string) {
	allowed = make([]bool, len(groups))
	for i, g := range groups {
		if allowed[i] = b.authorize(sess, op, acl.ResourceGroup, g); allowed[i] {
			permitted = append(permitted, g)
		}
	}
	return allowed, permitted
}
