package broker

// The audit log: a structured record of the security decisions the broker
// makes, for compliance and incident response. Every authentication
// outcome (SASL, and the TLS handshake of SSL listeners and of clients
// presenting a certificate), every authorization denial (and, with
// skein.audit.log.allowed, every granted authorization), and every
// administrative change with its result becomes one event.
//
// Events are CloudEvents 1.0 in structured JSON mode, shaped as Confluent
// Platform's audit log events (data.methodName, data.resourceName,
// data.authenticationInfo, data.authorizationInfo, data.requestMetadata,
// data.result), so that consumers written for Confluent's
// confluent-audit-log-events topic read them. docs/audit.md documents the
// format.
//
// Events are written asynchronously: the request path encodes the event
// and appends it to a bounded in-memory queue, never waiting; a writer
// goroutine optionally appends queued events to a JSON-lines file, then
// appends them to an audit topic partition this broker leads through the
// partition's own append path (not over the network) and waits for them
// to be replicated as an acks=all produce would. Events stay queued, in
// order, until they are written: while this broker leads no audit
// partition (after failovers, or on a broker added later) the writer
// retries with a backoff, and once that lasts longer than
// auditForwardAfter it sends them to the leader of an audit partition over
// the inter-broker listener (Produce, acks=all). That leader accepts them
// only from a super user on its inter-broker listener
// (Broker.auditForwardAccepted). When the queue is full the newest event
// is dropped, counted in skein_audit_events_dropped_total and logged.
//
// The audit log is on when skein.audit.enable is true (the default) and an
// authorizer is configured. Its topic is protected: no client may write to
// it (only other brokers forwarding their events, see
// auditForwardAccepted), and only super users and principals with an ACL
// on it may read or describe it, whatever allow.everyone.if.no.acl.found
// says.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/protocol/records"
)

// CloudEvents types of the audit events, one per category, as Confluent's
// io.confluent.kafka.server/authentication, /authorization and /request.
const (
	auditTypeAuthentication = "io.skein.kafka.server/authentication"
	auditTypeAuthorization  = "io.skein.kafka.server/authorization"
	auditTypeRequest        = "io.skein.kafka.server/request"
)

// Result statuses.
const (
	auditAllowed = "ALLOWED"
	auditDenied  = "DENIED"
	auditSuccess = "SUCCESS"
	auditFailure = "FAILURE"
)

const (
	// auditMaxString bounds each string an event copies from a request
	// (names, principals, client ids, messages), so that a queued event
	// never holds on to a large request.
	auditMaxString = 1024
	// auditMaxEventBytes bounds one encoded event: an event whose request
	// details are larger keeps only a note of their size.
	auditMaxEventBytes = 64 << 10
	// auditMaxQueueBytes bounds the encoded bytes waiting to be written,
	// whatever skein.audit.queue.max.events allows.
	auditMaxQueueBytes = 64 << 20
	// auditBatchBytes bounds the uncompressed records of one batch
	// appended to the audit topic, well below max.message.bytes.
	auditBatchBytes = 512 << 10
	// auditDropLogInterval is how often dropped events are logged, at
	// most.
	auditDropLogInterval = 10 * time.Second
	// auditHidden replaces the value of a sensitive config in an event.
	auditHidden = "[hidden]"
	// auditRetryMin and auditRetryMax bound the wait before the writer
	// tries again to write events it could not write: it doubles from
	// the first to the second.
	auditRetryMin = 100 * time.Millisecond
	auditRetryMax = 2 * time.Second
	// auditForwardAfter is how long this broker must have led no audit
	// partition before it sends events to another broker's: leadership
	// usually comes back (or moves here) within it.
	auditForwardAfter = time.Second
	// auditForwardRefusedPause is how long the writer stops forwarding
	// after a leader refused its events (this broker's inter-broker
	// principal is not a super user there).
	auditForwardRefusedPause = time.Minute
	// auditReplicationTimeout bounds the wait for the in-sync replicas
	// to hold a batch, as an acks=all produce's timeout; the forwarded
	// Produce's timeout too.
	auditReplicationTimeout = 15 * time.Second
	// auditDrainTimeout bounds the time shutdown spends writing the
	// events still queued.
	auditDrainTimeout = 10 * time.Second
)

// auditEvent is one CloudEvents 1.0 event in structured JSON mode.
type auditEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Time            string    `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Subject         string    `json:"subject"`
	Data            auditData `json:"data"`
}

// auditData is the event's data, in Confluent's audit log layout.
type auditData struct {
	ServiceName        string               `json:"serviceName"`
	MethodName         string               `json:"methodName"`
	ResourceName       string               `json:"resourceName"`
	AuthenticationInfo auditAuthentication  `json:"authenticationInfo"`
	AuthorizationInfo  *auditAuthorization  `json:"authorizationInfo,omitempty"`
	Request            auditRequest         `json:"request"`
	RequestMetadata    auditRequestMetadata `json:"requestMetadata"`
	Result             auditResult          `json:"result"`
	Broker             int32                `json:"brokerId"`
}

type auditAuthentication struct {
	// Principal is the principal the client acts as; empty for a failed
	// authentication.
	Principal string             `json:"principal,omitempty"`
	Metadata  *auditAuthMetadata `json:"metadata,omitempty"`
}

type auditAuthMetadata struct {
	// Mechanism is <security protocol>/<SASL mechanism>, or SSL for a
	// TLS client certificate.
	Mechanism string `json:"mechanism"`
	// Identifier is the user name the client gave, or the subject of
	// its certificate.
	Identifier string `json:"identifier,omitempty"`
}

type auditAuthorization struct {
	Granted      bool   `json:"granted"`
	Operation    string `json:"operation"`
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  string `json:"patternType"`
	Host         string `json:"host"`
	// SuperUserAuthorization is set when super.users granted.
	SuperUserAuthorization bool `json:"superUserAuthorization,omitempty"`
	// Rule names the rule that decided, as Kafka's authorizer logs it:
	// SuperUser, MatchingAcl, DefaultAllow, DefaultDeny, or
	// AuditLogProtection for the audit topic's own protection.
	Rule string `json:"rule"`
	// ACLAuthorization is the ACL that decided, when one did.
	ACLAuthorization *auditACL `json:"aclAuthorization,omitempty"`
}

// auditACL is an ACL binding as events show it.
type auditACL struct {
	ResourceType   string `json:"resourceType"`
	ResourceName   string `json:"resourceName"`
	PatternType    string `json:"patternType"`
	Principal      string `json:"principal"`
	Host           string `json:"host"`
	Operation      string `json:"operation"`
	PermissionType string `json:"permissionType"`
}

type auditRequest struct {
	// CorrelationID is a string, as in Confluent's events.
	CorrelationID string `json:"correlationId"`
	ClientID      string `json:"clientId"`
	APIKey        string `json:"apiKey,omitempty"`
	APIVersion    int16  `json:"apiVersion"`
	// Data details the change an administrative request asked for.
	Data any `json:"data,omitempty"`
}

type auditRequestMetadata struct {
	ClientAddress         string `json:"clientAddress"`
	ClientPort            int    `json:"clientPort,omitempty"`
	Listener              string `json:"listener"`
	SecurityProtocol      string `json:"securityProtocol"`
	ConnectionID          string `json:"connectionId"`
	ClientSoftwareName    string `json:"clientSoftwareName,omitempty"`
	ClientSoftwareVersion string `json:"clientSoftwareVersion,omitempty"`
}

type auditResult struct {
	Status string `json:"status"`
	// ErrorCode is the Kafka error code answered; absent for none (and
	// for a failed TLS handshake, which Kafka answers by closing the
	// connection).
	ErrorCode int16 `json:"errorCode,omitempty"`
	// Error is Kafka's name of the error code, such as
	// TOPIC_AUTHORIZATION_FAILED; absent for none.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}

// auditResource is what an event is about: its type as events name it,
// the key of its segment in the resource name (CRN) and its name. The
// cluster itself has no segment.
type auditResource struct {
	typ  string
	crn  string
	name string
}

func auditTopicResource(name string) auditResource {
	return auditResource{typ: "Topic", crn: "topic", name: name}
}

func auditGroupResource(name string) auditResource {
	return auditResource{typ: "Group", crn: "group", name: name}
}

func auditClusterResource() auditResource {
	return auditResource{typ: "Cluster", name: acl.ClusterName}
}

func auditUserResource(name string) auditResource {
	return auditResource{typ: "User", crn: "user", name: name}
}

// auditClientQuotaResource is the resource of an AlterClientQuotas entry:
// its entity as Kafka prints it, user=alice,client-id=<default> (a null
// name is the default entity). The handler logs each entry with
// b.audit.admin(r, auditClientQuotaResource(e.Entity), code, msg,
// map[string]any{"ops": ...}).
func auditClientQuotaResource(entity []kmsg.AlterClientQuotasRequestEntryEntity) auditResource {
	parts := make([]string, 0, len(entity))
	for _, e := range entity {
		name := "<default>"
		if e.Name != nil {
			name = *e.Name
		}
		parts = append(parts, e.Type+"="+name)
	}
	return auditResource{typ: "ClientQuota", crn: "client-quota", name: strings.Join(parts, ",")}
}

// auditACLResource is the resource an ACL check names.
func auditACLResource(rt acl.ResourceType, name string) auditResource {
	switch rt {
	case acl.ResourceTopic:
		return auditTopicResource(name)
	case acl.ResourceGroup:
		return auditGroupResource(name)
	case acl.ResourceCluster:
		return auditClusterResource()
	case acl.ResourceTransactionalID:
		return auditResource{typ: "TransactionalId", crn: "transactional-id", name: name}
	case acl.ResourceDelegationToken:
		return auditResource{typ: "DelegationToken", crn: "delegation-token", name: name}
	case acl.ResourceUser:
		return auditUserResource(name)
	}
	return auditResource{typ: camelName(rt.String()), crn: strings.ToLower(rt.String()), name: name}
}

// auditConfigResource is the resource an AlterConfigs names.
func auditConfigResource(typ kmsg.ConfigResourceType, name string) auditResource {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return auditTopicResource(name)
	case kmsg.ConfigResourceTypeBroker:
		if name == "" {
			return auditResource{typ: "Broker", crn: "broker", name: "<default>"}
		}
		return auditResource{typ: "Broker", crn: "broker", name: name}
	case kmsg.ConfigResourceTypeBrokerLogger:
		return auditResource{typ: "BrokerLogger", crn: "broker-logger", name: name}
	case kmsg.ConfigResourceTypeGroupConfig:
		return auditGroupResource(name)
	case kmsg.ConfigResourceTypeClientMetrics:
		return auditResource{typ: "ClientMetrics", crn: "client-metrics", name: name}
	}
	return auditResource{typ: "Unknown", crn: "unknown", name: name}
}

// camelName turns Kafka's upper-case enum names into the names events
// use: IDEMPOTENT_WRITE is IdempotentWrite, TRANSACTIONAL_ID
// TransactionalId.
func camelName(s string) string {
	var sb strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part == "" {
			continue
		}
		sb.WriteString(part[:1])
		sb.WriteString(strings.ToLower(part[1:]))
	}
	return sb.String()
}

// auditString bounds a string copied from a request and detaches it from
// the request's memory.
func auditString(s string) string {
	if len(s) <= auditMaxString {
		return strings.Clone(s)
	}
	cut := auditMaxString
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...(truncated)"
}

// crnEscape percent-encodes what may not appear in a CRN segment value;
// legal topic names are unchanged.
func crnEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '~' || c == ':' || c == '@' || c == '+' || c == '*' || c == '<' || c == '>' {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexDigits[c>>4])
		sb.WriteByte(hexDigits[c&15])
	}
	return sb.String()
}

// auditRecord is one encoded event waiting to be written.
type auditRecord struct {
	ts   int64 // ms
	json []byte
}

// auditor writes the audit log. A nil *auditor is valid and does nothing:
// that is the audit log turned off.
type auditor struct {
	b           *Broker
	log         *slog.Logger
	topic       string
	partitions  int32
	retentionMs int64
	logAllowed  bool
	filePath    string
	fileFsync   bool
	maxEvents   int

	file *os.File

	// forwardAfter, drainTimeout and retryMax are auditForwardAfter,
	// auditDrainTimeout and auditRetryMax (tests shorten them).
	forwardAfter time.Duration
	drainTimeout time.Duration
	retryMax     time.Duration

	// The writer's own state (only the writer goroutine touches it).
	// rr picks the partition of the next batch when the topic has
	// several. filed is how many of the queue's first events are
	// already in the audit file. noLocalSince is when this broker was
	// first seen leading no audit partition (zero while it leads one);
	// forwardPausedUntil stops forwarding after a refusal. waitingSince
	// is when the first event that could not be written yet failed
	// (zero when none waits), lastWaitLog when that was last logged.
	rr                 int
	filed              int
	noLocalSince       time.Time
	forwardPausedUntil time.Time
	waitingSince       time.Time
	lastWaitLog        time.Time

	mu struct {
		sync.Mutex
		// queue holds the events not yet written to the audit topic,
		// oldest first; the writer removes them once written.
		queue   []auditRecord
		bytes   int
		closed  bool
		dropped int64 // since the last drop report
	}
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	events        *prometheus.CounterVec
	queueFull     prometheus.Counter
	topicFailed   prometheus.Counter
	fileFailed    prometheus.Counter
	forwarded     prometheus.Counter
	retries       prometheus.Counter
	queueLen      prometheus.GaugeFunc
	startedWriter bool
}

// newAuditor returns the broker's auditor, nil when the audit log is off.
// Its metrics are registered in reg either way (they stay at zero when it
// is off), so that dashboards and alerts need not know.
func newAuditor(b *Broker, reg prometheus.Registerer) *auditor {
	s := b.settings
	au := &auditor{
		b:           b,
		log:         b.log.With("component", "audit"),
		topic:       s.brokerString(config.AuditTopic, config.DefaultAuditTopic),
		partitions:  int32(s.brokerInt(config.AuditTopicPartitions, 1)),
		retentionMs: s.brokerInt(config.AuditTopicRetentionMs, 7776000000),
		logAllowed:  s.brokerBool(config.AuditLogAllowed, false),
		filePath:    s.brokerString(config.AuditFile, ""),
		fileFsync:   s.brokerBool(config.AuditFileFsync, true),
		maxEvents:   int(s.brokerInt(config.AuditQueueMaxEvents, 10000)),
		wake:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),

		forwardAfter: auditForwardAfter,
		drainTimeout: auditDrainTimeout,
		retryMax:     auditRetryMax,
	}
	au.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "skein", Subsystem: "audit", Name: "events_total",
		Help: "Audit events queued for writing, per CloudEvents type (authentication, authorization, request).",
	}, []string{"type"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "skein", Subsystem: "audit", Name: "events_dropped_total",
		Help: "Audit events lost, per reason: queue_full (the queue of events waiting to be written was full; dropped before any sink), topic_write_failed (refused by the topic for good, or still queued when shutdown gave up), file_write_failed.",
	}, []string{"reason"})
	au.queueFull = dropped.WithLabelValues("queue_full")
	au.topicFailed = dropped.WithLabelValues("topic_write_failed")
	au.fileFailed = dropped.WithLabelValues("file_write_failed")
	au.forwarded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "skein", Subsystem: "audit", Name: "events_forwarded_total",
		Help: "Audit events written through the leader of an audit partition on another broker, while this broker led none.",
	})
	au.queueLen = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "skein", Subsystem: "audit", Name: "queue_events",
		Help: "Audit events waiting to be written.",
	}, func() float64 {
		au.mu.Lock()
		defer au.mu.Unlock()
		return float64(len(au.mu.queue))
	})
	for _, typ := range []string{auditTypeAuthentication, auditTypeAuthorization, auditTypeRequest} {
		au.events.WithLabelValues(typ)
	}
	au.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "skein", Subsystem: "audit", Name: "write_retries_total",
		Help: "Attempts to write queued audit events to the audit topic that failed and will be retried (no leader reachable for an audit partition); the events stay queued.",
	})
	reg.MustRegister(au.events, dropped, au.queueLen, au.forwarded, au.retries)
	if !s.brokerBool(config.AuditEnable, true) || b.authorizer.Load() == nil {
		return nil
	}
	return au
}

// start creates the audit topic if needed, opens the audit file, and
// starts the writer. It runs in Broker.Start before the listeners open.
func (au *auditor) start(ctx context.Context) error {
	if au == nil {
		return nil
	}
	// In a cluster that is still forming the topic may not be placeable
	// yet; the writer creates it before its first write then.
	if err := au.ensureTopic(ctx); err != nil {
		au.log.Warn("audit topic not created yet; retried at the first write", "topic", au.topic, "err", err)
	}
	if au.filePath != "" {
		f, err := os.OpenFile(au.filePath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("%s: %w", config.AuditFile, err)
		}
		au.file = f
	}
	au.startedWriter = true
	go au.run()
	au.log.Info("audit log on", "topic", au.topic, "file", au.filePath, "log_allowed", au.logAllowed)
	return nil
}

// stop writes what is queued, for at most drainTimeout, and stops the
// writer; events it could not write are counted and logged. Events
// emitted after stop are discarded. It runs once the listeners are closed
// (and this broker has handed its partitions over: what is queued then
// goes to the new leaders).
func (au *auditor) stop() {
	if au == nil {
		return
	}
	au.mu.Lock()
	already := au.mu.closed
	au.mu.closed = true
	au.mu.Unlock()
	if already {
		return
	}
	close(au.quit)
	if au.startedWriter {
		au.signal()
		<-au.done
	}
	if au.file != nil {
		if err := au.file.Close(); err != nil {
			au.log.Error("closing audit file", "file", au.filePath, "err", err)
		}
	}
}

// ensureTopic creates the audit topic when it does not exist, with
// skein.audit.topic.partitions partitions and the audit retention.
func (au *auditor) ensureTopic(ctx context.Context) error {
	if au.b.lookupTopic(au.topic) != nil {
		return nil
	}
	retention := strconv.FormatInt(au.retentionMs, 10)
	cleanup := "delete"
	code, msg := au.b.createTopic(ctx, au.topic, au.partitions, -1, map[string]*string{
		"retention.ms":   &retention,
		"cleanup.policy": &cleanup,
	}, false)
	if code != 0 && code != kerr.TopicAlreadyExists.Code {
		return fmt.Errorf("creating audit topic %s: %s: %s", au.topic, kerr.ErrorForCode(code), msg)
	}
	if code == 0 {
		au.log.Info("audit topic created", "topic", au.topic, "partitions", au.partitions, "retention_ms", au.retentionMs)
	}
	return nil
}

// protects reports whether the resource is the audit topic.
func (au *auditor) protects(rt acl.ResourceType, name string) bool {
	return au != nil && rt == acl.ResourceTopic && name == au.topic
}

// auditForwardAccepted reports whether a Produce writing to topic is
// another broker of the cluster forwarding audit events: the topic is the
// audit topic, the request is a plain (not transactional) acks=all
// produce, its principal is a super user (as brokers are), and it arrived
// on this broker's inter-broker listener while that listener is dedicated
// to brokers (clients have another listener). With a single listener
// every super user client would pass, so nobody does: events then wait
// for a local leader. Nothing else may write to the audit topic; everyone
// else gets the protection's refusal. Without an authorizer there is no
// audit log and nothing to protect.
func (b *Broker) auditForwardAccepted(sess *protocol.Session, req *kmsg.ProduceRequest, topic string) bool {
	a := b.authorizer.Load()
	if a == nil || !b.audit.protects(acl.ResourceTopic, topic) || req.TransactionID != nil || req.Acks != -1 {
		return false
	}
	if len(b.cfg.Listeners) < 2 || !strings.EqualFold(sess.Listener, b.interBrokerListener()) {
		return false
	}
	return a.IsSuperUser(b.principal(sess))
}

// logsAllowed reports whether granted authorizations are logged.
func (au *auditor) logsAllowed() bool { return au != nil && au.logAllowed }

// signal wakes the writer without blocking.
func (au *auditor) signal() {
	select {
	case au.wake <- struct{}{}:
	default:
	}
}

// emit completes the event's envelope, encodes it and queues it behind
// the events still waiting to be written. It never blocks on the sinks: a
// full queue drops the event (the newest; those queued before it stay).
func (au *auditor) emit(typ string, res auditResource, data auditData) {
	now := au.b.now()
	cluster := ""
	if m := au.b.meta; m != nil {
		cluster = m.Image().ClusterID
	}
	service := "crn:///kafka=" + crnEscape(cluster)
	resourceName := service
	if res.crn != "" {
		resourceName += "/" + res.crn + "=" + crnEscape(res.name)
	}
	data.ServiceName = service
	data.ResourceName = resourceName
	data.Broker = au.b.cfg.NodeID
	ev := auditEvent{
		SpecVersion:     "1.0",
		ID:              newEventID(),
		Source:          service + "/broker=" + strconv.Itoa(int(au.b.cfg.NodeID)),
		Type:            typ,
		Time:            now.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		DataContentType: "application/json",
		Subject:         resourceName,
		Data:            data,
	}
	buf, err := json.Marshal(&ev)
	if err == nil && len(buf) > auditMaxEventBytes {
		ev.Data.Request.Data = map[string]any{"truncated": true, "bytes": len(buf)}
		buf, err = json.Marshal(&ev)
	}
	if err != nil {
		au.log.Error("audit event not encoded", "type", typ, "err", err)
		au.queueFull.Inc()
		return
	}
	au.mu.Lock()
	if au.mu.closed {
		au.mu.Unlock()
		return
	}
	if len(au.mu.queue) >= au.maxEvents || au.mu.bytes+len(buf) > auditMaxQueueBytes {
		au.mu.dropped++
		au.mu.Unlock()
		au.queueFull.Inc()
		return
	}
	au.mu.queue = append(au.mu.queue, auditRecord{ts: now.UnixMilli(), json: buf})
	au.mu.bytes += len(buf)
	au.mu.Unlock()
	au.events.WithLabelValues(typ).Inc()
	au.signal()
}

// newEventID returns a random (version 4) UUID.
func newEventID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return string(s[:])
}

// run is the writer: it writes what is queued to the sinks, oldest first,
// removing events from the queue once the audit topic holds them; events
// it cannot write yet stay queued ahead of newer ones and are tried again
// after a backoff (auditRetryMin doubling to retryMax). It reports drops
// at most every auditDropLogInterval. After stop it drains the queue for
// at most drainTimeout and returns.
func (au *auditor) run() {
	defer close(au.done)
	ticker := time.NewTicker(auditDropLogInterval)
	defer ticker.Stop()
	var backoff time.Duration
	var drainBy time.Time
	for {
		recs, closed := au.pending()
		if closed && drainBy.IsZero() {
			drainBy = time.Now().Add(au.drainTimeout)
		}
		if len(recs) == 0 {
			if closed {
				au.reportDrops()
				return
			}
			select {
			case <-au.wake:
			case <-au.quit:
			case <-ticker.C:
				au.reportDrops()
			}
			continue
		}
		var deadline time.Time
		if closed {
			deadline = drainBy
		}
		err := au.write(recs, deadline)
		if err == nil {
			backoff = 0
			continue
		}
		if closed && !time.Now().Before(drainBy) {
			au.abandon(err)
			au.reportDrops()
			return
		}
		backoff = min(max(2*backoff, auditRetryMin), au.retryMax)
		wait := backoff
		if closed {
			wait = min(wait, time.Until(drainBy))
		}
		timer := time.NewTimer(wait)
		quit := au.quit
		if closed {
			quit = nil // closed for good: it would not wait at all
		}
		select {
		case <-timer.C:
		case <-quit:
		case <-ticker.C:
			au.reportDrops()
		}
		timer.Stop()
	}
}

// pending returns the queued events (the queue's own slice: the writer
// is its only consumer and emit only appends beyond it).
func (au *auditor) pending() ([]auditRecord, bool) {
	au.mu.Lock()
	defer au.mu.Unlock()
	return au.mu.queue, au.mu.closed
}

// remove takes the first n events off the queue.
func (au *auditor) remove(n int) {
	if n == 0 {
		return
	}
	au.mu.Lock()
	defer au.mu.Unlock()
	for _, r := range au.mu.queue[:n] {
		au.mu.bytes -= len(r.json)
	}
	clear(au.mu.queue[:n])
	au.mu.queue = au.mu.queue[n:]
	if len(au.mu.queue) == 0 {
		au.mu.queue = nil
	}
	au.filed = max(au.filed-n, 0)
}

// abandon gives up on the events still queued at the end of the shutdown
// drain: they are counted as failed and logged.
func (au *auditor) abandon(err error) {
	recs, _ := au.pending()
	au.remove(len(recs))
	au.topicFailed.Add(float64(len(recs)))
	au.log.Error("audit events not written to the audit topic before shutdown", "topic", au.topic, "events", len(recs), "err", err)
}

// reportDrops logs the events dropped since the last report.
func (au *auditor) reportDrops() {
	au.mu.Lock()
	n := au.mu.dropped
	au.mu.dropped = 0
	au.mu.Unlock()
	if n > 0 {
		au.log.Warn("audit events dropped: the audit queue was full", "dropped", n, "queue_max_events", au.maxEvents)
	}
}

// write appends the queued events recs to the audit file (once each),
// then to the audit topic, and removes from the queue those the topic now
// holds, and those it refused for good (counted as failed). It returns an
// error when events remain to be tried again. deadline, when set, bounds
// the waits (the shutdown drain).
func (au *auditor) write(recs []auditRecord, deadline time.Time) error {
	if au.file != nil && au.filed < len(recs) {
		if err := au.writeFile(recs[au.filed:]); err != nil {
			au.fileFailed.Add(float64(len(recs) - au.filed))
			au.log.Error("audit events not written to the audit file", "file", au.filePath, "events", len(recs)-au.filed, "err", err)
		}
		au.filed = len(recs)
	}
	written, failed, err := au.writeTopic(recs, deadline)
	au.remove(written + failed)
	if failed > 0 {
		au.topicFailed.Add(float64(failed))
		au.log.Error("audit events not written to the audit topic", "topic", au.topic, "events", failed, "err", err)
		return nil
	}
	now := time.Now()
	if err != nil {
		au.retries.Inc()
		if au.waitingSince.IsZero() {
			au.waitingSince = now
		}
		if now.Sub(au.lastWaitLog) >= auditDropLogInterval {
			au.lastWaitLog = now
			au.log.Warn("audit events waiting to be written to the audit topic; retrying", "topic", au.topic, "events", len(recs)-written, "waiting", now.Sub(au.waitingSince).Round(time.Millisecond), "err", err)
		}
		return err
	}
	if !au.waitingSince.IsZero() {
		au.log.Info("audit events written after waiting", "topic", au.topic, "waited", now.Sub(au.waitingSince).Round(time.Millisecond))
		au.waitingSince, au.lastWaitLog = time.Time{}, time.Time{}
	}
	return nil
}

// cloudEventsContentType marks records in the structured content mode of
// the CloudEvents Kafka protocol binding.
var cloudEventsContentType = []byte("application/cloudevents+json; charset=UTF-8")

// errNoAuditLeader means this broker leads no partition of the audit
// topic (and does not forward yet).
var errNoAuditLeader = errors.New("this broker leads no partition of the audit topic")

// auditRefused is an error the audit topic answered for good (a record
// it will never accept): the batch is counted as failed rather than
// tried again.
type auditRefused struct{ err error }

func (e auditRefused) Error() string { return e.err.Error() }
func (e auditRefused) Unwrap() error { return e.err }

// writeTopic writes events to the audit topic in batches of at most
// auditBatchBytes, in order, each to a partition this broker leads (or,
// see appendBatch, through another broker). It returns how many of the
// first events were written, how many after those were refused for good
// (failed, with err), and the error that stopped it with events left to
// try again. A missing topic (deleted by an administrator) is created
// again.
func (au *auditor) writeTopic(recs []auditRecord, deadline time.Time) (written, failed int, err error) {
	t := au.b.lookupTopic(au.topic)
	if t == nil {
		if err := au.ensureTopic(au.b.bgCtx); err != nil {
			return 0, 0, err
		}
		if t = au.b.lookupTopic(au.topic); t == nil {
			return 0, 0, errors.New("audit topic does not exist yet")
		}
	}
	for written < len(recs) {
		rest := recs[written:]
		n, size := 0, 0
		base := rest[0].ts
		for n < len(rest) && (n == 0 || size+len(rest[n].json) <= auditBatchBytes) {
			size += len(rest[n].json)
			base = min(base, rest[n].ts)
			n++
		}
		rs := make([]records.Record, n)
		for i, r := range rest[:n] {
			rs[i] = records.Record{
				Value:          r.json,
				Headers:        []records.Header{{Key: "content-type", Value: cloudEventsContentType}},
				TimestampDelta: r.ts - base,
			}
		}
		batch := records.BuildBatch(records.CodecLZ4, base, rs)
		if err := au.appendBatch(t, batch, n, deadline); err != nil {
			var refused auditRefused
			if errors.As(err, &refused) {
				return written, n, err
			}
			return written, 0, err
		}
		written += n
	}
	return written, 0, nil
}

// appendBatch writes one batch of n events: to a partition of the audit
// topic this broker leads, trying each in turn when one has just lost its
// leadership; when it has led none for forwardAfter (at once during the
// shutdown drain, which follows handing its partitions over), to the
// leader of an audit partition on another broker.
func (au *auditor) appendBatch(t *topic, batch []byte, n int, deadline time.Time) error {
	var parts []*partition
	for _, p := range t.hosted() {
		if p.isLeader() {
			parts = append(parts, p)
		}
	}
	var err error
	if len(parts) > 0 {
		au.noLocalSince = time.Time{}
		start := au.rr
		au.rr++
		for i := range parts {
			p := parts[(start+i)%len(parts)]
			// The append assigns offsets and the leader epoch in
			// place: each attempt gets its own copy.
			if err = au.appendLocal(p, slices.Clone(batch), deadline); err == nil || !auditLeaderMoved(err) {
				return err
			}
		}
	}
	now := time.Now()
	if au.noLocalSince.IsZero() {
		au.noLocalSince = now
	}
	if deadline.IsZero() && now.Sub(au.noLocalSince) < au.forwardAfter {
		if err != nil {
			return fmt.Errorf("%w: %v", errNoAuditLeader, err)
		}
		return errNoAuditLeader
	}
	return au.forward(t, batch, n, deadline)
}

// auditLeaderMoved reports whether an append failed because this broker
// no longer leads the partition.
func auditLeaderMoved(err error) bool {
	return errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.FencedLeaderEpoch) || errors.Is(err, kerr.LeaderNotAvailable)
}

// appendLocal appends a batch to partition p, which this broker leads,
// and waits until its in-sync replicas hold it, as an acks=all produce.
// When leadership moves before they do, the batch may be lost with the
// old leader's log suffix: the error says so and the events are written
// again (possibly twice; each event has its own id). A batch the ISR does
// not confirm in time (or that is below min.insync.replicas) is durable on
// this leader and counts as written.
func (au *auditor) appendLocal(p *partition, batch []byte, deadline time.Time) error {
	_, last, epoch, _, err := p.appendProducer(batch, nil, 0)
	if err != nil {
		return err
	}
	timeout := auditReplicationTimeout
	if !deadline.IsZero() {
		timeout = max(min(timeout, time.Until(deadline)), time.Millisecond)
	}
	err = p.awaitReplication(au.b.bgCtx, last, epoch, timeout)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.NotLeaderForPartition):
		return err
	case errors.Is(err, kerr.KafkaStorageError):
		return auditRefused{err}
	}
	au.log.Warn("audit events appended but not yet replicated to every in-sync replica", "topic", au.topic, "partition", p.index, "err", err)
	return nil
}

// forward sends a batch to the leader of an audit partition on another
// broker over its inter-broker listener, as a Produce with acks=all,
// trying each partition's leader in turn while they answer that
// leadership moved or cannot be reached. A leader that refuses it (this
// broker's inter-broker principal is not a super user there) stops
// forwarding for auditForwardRefusedPause; events then wait for this
// broker to lead an audit partition.
func (au *auditor) forward(t *topic, batch []byte, n int, deadline time.Time) error {
	if time.Now().Before(au.forwardPausedUntil) {
		return fmt.Errorf("%w; forwarding to other brokers was refused", errNoAuditLeader)
	}
	ti, ok := au.b.meta.Image().Topics[au.topic]
	if !ok {
		return fmt.Errorf("%w: audit topic not in the metadata", kerr.UnknownTopicOrPartition)
	}
	self := au.b.cfg.NodeID
	var lastErr error = fmt.Errorf("%w: no partition of the audit topic has a leader", kerr.LeaderNotAvailable)
	start := au.rr
	au.rr++
	for i := int32(0); i < ti.Partitions; i++ {
		index := int32((start + int(i)) % int(ti.Partitions))
		st, ok := ti.Partition(index)
		if !ok || st.Leader == NoLeader || st.Leader == self {
			continue
		}
		timeout := auditReplicationTimeout
		if !deadline.IsZero() {
			timeout = max(min(timeout, time.Until(deadline)), time.Millisecond)
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, int32(timeout/time.Millisecond)
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic, rt.TopicID = t.name, [16]byte(ti.ID)
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = index, batch
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{rp}
		req.Topics = []kmsg.ProduceRequestTopic{rt}
		resp, err := au.b.peerRequest(st.Leader, req, 3, 13)
		if err != nil {
			lastErr = err
			continue
		}
		r := resp.(*kmsg.ProduceResponse)
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
			lastErr = fmt.Errorf("produce response from broker %d does not answer %s-%d", st.Leader, t.name, index)
			continue
		}
		code := r.Topics[0].Partitions[0].ErrorCode
		if code == 0 {
			au.forwarded.Add(float64(n))
			return nil
		}
		err = fmt.Errorf("%s-%d on broker %d: %w", t.name, index, st.Leader, kerr.ErrorForCode(code))
		switch {
		case code == kerr.TopicAuthorizationFailed.Code:
			au.forwardPausedUntil = time.Now().Add(auditForwardRefusedPause)
			au.log.Warn("broker refused the audit events this broker forwarded; they wait until this broker leads an audit partition (the inter-broker principal must be a super user on the inter-broker listener)", "broker", st.Leader, "pause", auditForwardRefusedPause)
			return err
		case retriableMarkerError(err):
			lastErr = err
		default:
			return auditRefused{err}
		}
	}
	return lastErr
}

// writeFile appends events to the audit file, one JSON event per line,
// and fsyncs it when skein.audit.file.fsync is on.
func (au *auditor) writeFile(recs []auditRecord) error {
	size := 0
	for _, r := range recs {
		size += len(r.json) + 1
	}
	buf := make([]byte, 0, size)
	for _, r := range recs {
		buf = append(buf, r.json...)
		buf = append(buf, '\n')
	}
	if _, err := au.file.Write(buf); err != nil {
		return err
	}
	if au.fileFsync {
		return au.file.Sync()
	}
	return nil
}

// requestInfo is the request an event is attributed to.
type requestInfo struct {
	key, version int16
	corr         int32
	clientID     string
	// ok is false when no request is known (a TLS handshake).
	ok bool
}

func requestOf(r *protocol.Request) requestInfo {
	info := requestInfo{key: r.Header.Key, version: r.Header.Version, corr: r.Header.CorrelationID, ok: true}
	if r.Header.ClientID != nil {
		info.clientID = *r.Header.ClientID
	} else {
		info.clientID = r.Session.ClientID()
	}
	return info
}

func sessionRequest(sess *protocol.Session) requestInfo {
	h := sess.Request()
	return requestInfo{key: h.Key, version: h.Version, corr: h.CorrelationID, clientID: sess.ClientID(), ok: true}
}

// methodName is the event's methodName: kafka.<API name>, as Confluent
// names them (kafka.CreateTopics).
func (ri requestInfo) methodName() string {
	if !ri.ok {
		return "kafka.Authentication"
	}
	return "kafka." + kafkaAPIName(ri.key)
}

// apiNameCase turns franz-go's API names into Kafka's (the names of its
// protocol's JSON messages): CreateAcls, SaslHandshake, InitProducerId,
// AlterUserScramCredentials.
var apiNameCase = strings.NewReplacer("ACLs", "Acls", "SASL", "Sasl", "SCRAM", "Scram", "ProducerIDs", "ProducerIds", "ProducerID", "ProducerId", "ISR", "Isr")

// kafkaAPIName is Kafka's name of an API key.
func kafkaAPIName(key int16) string { return apiNameCase.Replace(kmsg.NameForKey(key)) }

func (ri requestInfo) request() auditRequest {
	if !ri.ok {
		return auditRequest{}
	}
	return auditRequest{
		CorrelationID: strconv.Itoa(int(ri.corr)),
		ClientID:      auditString(ri.clientID),
		APIKey:        kafkaAPIName(ri.key),
		APIVersion:    ri.version,
	}
}

// connectionMetadata describes the client's connection.
func connectionMetadata(sess *protocol.Session) auditRequestMetadata {
	md := auditRequestMetadata{
		ClientAddress:    hostOf(sess),
		Listener:         sess.Listener,
		SecurityProtocol: sess.SecurityProtocol,
	}
	if a, ok := sess.Remote.(*net.TCPAddr); ok {
		md.ClientPort = a.Port
	}
	// Kafka's connection id: local address, remote address, index.
	local, remote := "", ""
	if sess.Local != nil {
		local = sess.Local.String()
	}
	if sess.Remote != nil {
		remote = sess.Remote.String()
	}
	md.ConnectionID = local + "-" + remote + "-" + strconv.FormatUint(sess.ID, 10)
	name, version := sess.ClientSoftware()
	md.ClientSoftwareName, md.ClientSoftwareVersion = auditString(name), auditString(version)
	return md
}

// result builds the result of a request: SUCCESS when code is 0.
func auditResultOf(code int16, msg string) auditResult {
	r := auditResult{Status: auditSuccess, ErrorCode: code, Message: auditString(msg)}
	if code != 0 {
		r.Status = auditFailure
		if e := kerr.ErrorForCode(code); e != nil {
			var ke *kerr.Error
			if errors.As(e, &ke) {
				r.Error = ke.Message
			}
		}
	}
	return r
}

// authorization logs an authorization decision: every denial, and granted
// ones when skein.audit.log.allowed is on (callers check logsAllowed).
func (au *auditor) authorization(sess *protocol.Session, principal, host string, op acl.Operation, rt acl.ResourceType, name string, d acl.Decision, rule string) {
	if au == nil {
		return
	}
	ri := sessionRequest(sess)
	res := auditACLResource(rt, auditString(name))
	info := &auditAuthorization{
		Granted:                d.Allowed,
		Operation:              camelName(op.String()),
		ResourceType:           res.typ,
		ResourceName:           res.name,
		PatternType:            acl.PatternLiteral.String(),
		Host:                   host,
		SuperUserAuthorization: d.SuperUser,
		Rule:                   rule,
	}
	if d.Matched {
		info.ACLAuthorization = &auditACL{
			ResourceType:   camelName(d.Rule.ResourceType.String()),
			ResourceName:   d.Rule.ResourceName,
			PatternType:    d.Rule.PatternType.String(),
			Principal:      d.Rule.Principal,
			Host:           d.Rule.Host,
			Operation:      camelName(d.Rule.Operation.String()),
			PermissionType: d.Rule.Permission.String(),
		}
	}
	result := auditResult{Status: auditAllowed}
	if !d.Allowed {
		result = auditResult{Status: auditDenied, ErrorCode: authorizationErrorCode(rt), Error: authorizationErrorName(rt)}
	}
	au.emit(auditTypeAuthorization, res, auditData{
		MethodName:         ri.methodName(),
		AuthenticationInfo: auditAuthentication{Principal: auditString(principal)},
		AuthorizationInfo:  info,
		Request:            ri.request(),
		RequestMetadata:    connectionMetadata(sess),
		Result:             result,
	})
}

// authorizationErrorCode is the error a denial on a resource type gives.
func authorizationErrorCode(rt acl.ResourceType) int16 {
	switch rt {
	case acl.ResourceTopic:
		return kerr.TopicAuthorizationFailed.Code
	case acl.ResourceGroup:
		return kerr.GroupAuthorizationFailed.Code
	case acl.ResourceCluster:
		return kerr.ClusterAuthorizationFailed.Code
	case acl.ResourceTransactionalID:
		return kerr.TransactionalIDAuthorizationFailed.Code
	case acl.ResourceDelegationToken:
		return kerr.DelegationTokenAuthorizationFailed.Code
	}
	return 0
}

func authorizationErrorName(rt acl.ResourceType) string {
	if code := authorizationErrorCode(rt); code != 0 {
		var ke *kerr.Error
		if errors.As(kerr.ErrorForCode(code), &ke) {
			return ke.Message
		}
	}
	return ""
}

// authentication logs the outcome of an authentication: mechanism is
// <security protocol>/<SASL mechanism> or SSL, identifier the user name or
// certificate subject the client presented, principal the principal it
// now acts as (empty on failure), code the Kafka error answered and
// failure the reason it failed (0 and empty on success; a failed TLS
// handshake has no code), and details anything more to tell
// (re-authentication).
func (au *auditor) authentication(sess *protocol.Session, ri requestInfo, mechanism, identifier, principal string, code int16, failure string, details map[string]any) {
	if au == nil {
		return
	}
	result := auditResultOf(code, failure)
	if failure != "" {
		result.Status = auditFailure
	}
	req := ri.request()
	if len(details) > 0 {
		req.Data = details
	}
	au.emit(auditTypeAuthentication, auditClusterResource(), auditData{
		MethodName: "kafka.Authentication",
		AuthenticationInfo: auditAuthentication{
			Principal: auditString(principal),
			Metadata:  &auditAuthMetadata{Mechanism: mechanism, Identifier: auditString(identifier)},
		},
		Request:         req,
		RequestMetadata: connectionMetadata(sess),
		Result:          result,
	})
}

// admin logs an administrative change and its result: res is what it
// changed, code and msg the Kafka error and message answered (0 for
// success), and details what the request asked for (no secrets: callers
// leave out passwords, salts and sensitive config values). Every handler
// of a request that changes the cluster calls it once per resource.
func (au *auditor) admin(r *protocol.Request, res auditResource, code int16, msg string, details map[string]any) {
	if au == nil {
		return
	}
	ri := requestOf(r)
	req := ri.request()
	if len(details) > 0 {
		req.Data = details
	}
	res.name = auditString(res.name)
	au.emit(auditTypeRequest, res, auditData{
		MethodName:         ri.methodName(),
		AuthenticationInfo: auditAuthentication{Principal: auditString(au.b.principal(r.Session))},
		Request:            req,
		RequestMetadata:    connectionMetadata(r.Session),
		Result:             auditResultOf(code, msg),
	})
}

// saslMechanismName is how events name a SASL mechanism on a listener,
// as Confluent's do: SASL_SSL/PLAIN.
func saslMechanismName(sess *protocol.Session, mechanism string) string {
	return sess.SecurityProtocol + "/" + auditString(mechanism)
}

// TLSHandshake implements protocol.TLSObserver: on SSL listeners every
// handshake is an authentication (the principal comes from the client's
// certificate, or is ANONYMOUS); on SASL_SSL listeners a client
// certificate is logged when one is presented, and a failed handshake
// always. Connections that close or time out before completing a
// handshake are not authentication attempts and are not logged.
func (b *Broker) TLSHandshake(sess *protocol.Session, err error) {
	au := b.audit
	if au == nil {
		return
	}
	certs := sess.PeerCertificates()
	subject := ""
	if len(certs) > 0 {
		subject = certs[0].Subject.String()
	}
	if err != nil {
		if handshakeAbandoned(err) {
			return
		}
		au.authentication(sess, requestInfo{}, "SSL", subject, "", 0, err.Error(), nil)
		return
	}
	if sess.SecurityProtocol == "SSL" || len(certs) > 0 {
		au.authentication(sess, requestInfo{}, "SSL", subject, sess.Principal(), 0, "", nil)
	}
}

// handshakeAbandoned reports whether a TLS handshake error is the client
// going away or staying silent rather than failing to authenticate.
func handshakeAbandoned(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// auditConfigValue is the value of a config as events show it: sensitive
// configs (passwords, keys, JAAS configurations) and names that are not
// registered are hidden.
func auditConfigValue(typ kmsg.ConfigResourceType, name string, value *string) any {
	if value == nil {
		return nil
	}
	var def config.Def
	var ok bool
	if typ == kmsg.ConfigResourceTypeTopic {
		def, ok = config.LookupTopic(name)
	} else {
		def, ok = config.LookupBroker(name)
	}
	if !ok || def.Sensitive || def.Type == config.TypePassword {
		return auditHidden
	}
	return auditString(*value)
}

// auditBinding describes an ACL binding in an event.
func auditBinding(bd acl.Binding) map[string]any {
	return map[string]any{
		"resourceType":   camelName(bd.ResourceType.String()),
		"resourceName":   auditString(bd.ResourceName),
		"patternType":    bd.PatternType.String(),
		"principal":      auditString(bd.Principal),
		"host":           auditString(bd.Host),
		"operation":      camelName(bd.Operation.String()),
		"permissionType": bd.Permission.String(),
	}
}

// auditFilter describes an ACL filter in an event.
func auditFilter(f acl.Filter) map[string]any {
	str := func(s *string) any {
		if s == nil {
			return nil
		}
		return auditString(*s)
	}
	return map[string]any{
		"resourceType":   camelName(f.ResourceType.String()),
		"resourceName":   str(f.ResourceName),
		"patternType":    f.PatternType.String(),
		"principal":      str(f.Principal),
		"host":           str(f.Host),
		"operation":      camelName(f.Operation.String()),
		"permissionType": f.Permission.String(),
	}
}
