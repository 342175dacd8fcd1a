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
// goroutine appends queued events to the audit topic through the
// partition's own append path (not over the network), fsyncs them as an
// acks=all produce would be, and optionally appends them to a JSON-lines
// file. When the queue is full an event is dropped, counted in
// skein_audit_events_dropped_total and logged.
//
// The audit log is on when skein.audit.enable is true (the default) and an
// authorizer is configured. Its topic is protected: no client may write to
// it, and only super users and principals with an ACL on it may read or
// describe it, whatever allow.everyone.if.no.acl.found says.

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
	// rr picks the partition of the next batch when the topic has
	// several.
	rr int

	mu struct {
		sync.Mutex
		queue   []auditRecord
		bytes   int
		closed  bool
		dropped int64 // since the last drop report
	}
	wake chan struct{}
	done chan struct{}

	events        *prometheus.CounterVec
	queueFull     prometheus.Counter
	topicFailed   prometheus.Counter
	fileFailed    prometheus.Counter
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
		done:        make(chan struct{}),
	}
	au.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "skein", Subsystem: "audit", Name: "events_total",
		Help: "Audit events queued for writing, per CloudEvents type (authentication, authorization, request).",
	}, []string{"type"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "skein", Subsystem: "audit", Name: "events_dropped_total",
		Help: "Audit events lost, per reason: queue_full (the writer fell behind; dropped before any sink), topic_write_failed, file_write_failed.",
	}, []string{"reason"})
	au.queueFull = dropped.WithLabelValues("queue_full")
	au.topicFailed = dropped.WithLabelValues("topic_write_failed")
	au.fileFailed = dropped.WithLabelValues("file_write_failed")
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
	reg.MustRegister(au.events, dropped, au.queueLen)
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

// stop writes what is queued and stops the writer. Events emitted after
// stop are discarded. It runs once the listeners are closed.
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

// logsAllowed reports whether granted authorizations are logged.
func (au *auditor) logsAllowed() bool { return au != nil && au.logAllowed }

// signal wakes the writer without blocking.
func (au *auditor) signal() {
	select {
	case au.wake <- struct{}{}:
	default:
	}
}

// emit completes the event's envelope, encodes it and queues it. It never
// blocks on the sinks: a full queue drops the event.
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

// run is the writer: it takes what is queued, writes it to the sinks, and
// reports drops at most every auditDropLogInterval. After stop it drains
// the queue and returns.
func (au *auditor) run() {
	defer close(au.done)
	ticker := time.NewTicker(auditDropLogInterval)
	defer ticker.Stop()
	for {
		select {
		case <-au.wake:
		case <-ticker.C:
			au.reportDrops()
			continue
		}
		for {
			batch, closed := au.take()
			if len(batch) > 0 {
				au.write(batch)
				continue
			}
			if closed {
				au.reportDrops()
				return
			}
			break
		}
	}
}

// take removes and returns the queued events.
func (au *auditor) take() ([]auditRecord, bool) {
	au.mu.Lock()
	defer au.mu.Unlock()
	q := au.mu.queue
	au.mu.queue, au.mu.bytes = nil, 0
	return q, au.mu.closed
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

// write appends events to the audit topic and the audit file.
func (au *auditor) write(recs []auditRecord) {
	if err := au.writeTopic(recs); err != nil {
		au.topicFailed.Add(float64(len(recs)))
		au.log.Error("audit events not written to the audit topic", "topic", au.topic, "events", len(recs), "err", err)
	}
	if au.file != nil {
		if err := au.writeFile(recs); err != nil {
			au.fileFailed.Add(float64(len(recs)))
			au.log.Error("audit events not written to the audit file", "file", au.filePath, "events", len(recs), "err", err)
		}
	}
}

// cloudEventsContentType marks records in the structured content mode of
// the CloudEvents Kafka protocol binding.
var cloudEventsContentType = []byte("application/cloudevents+json; charset=UTF-8")

// writeTopic appends events to the audit topic in batches of at most
// auditBatchBytes and fsyncs them. A missing topic (deleted by an
// administrator) is created again.
func (au *auditor) writeTopic(recs []auditRecord) error {
	t := au.b.lookupTopic(au.topic)
	if t == nil {
		if err := au.ensureTopic(au.b.bgCtx); err != nil {
			return err
		}
		if t = au.b.lookupTopic(au.topic); t == nil {
			return errors.New("audit topic does not exist")
		}
	}
	for len(recs) > 0 {
		n, size := 0, 0
		base := recs[0].ts
		for n < len(recs) && (n == 0 || size+len(recs[n].json) <= auditBatchBytes) {
			size += len(recs[n].json)
			base = min(base, recs[n].ts)
			n++
		}
		rs := make([]records.Record, n)
		for i, r := range recs[:n] {
			rs[i] = records.Record{
				Value:          r.json,
				Headers:        []records.Header{{Key: "content-type", Value: cloudEventsContentType}},
				TimestampDelta: r.ts - base,
			}
		}
		// Events go to the audit partitions this broker leads.
		var parts []*partition
		for _, p := range t.hosted() {
			if p.isLeader() {
				parts = append(parts, p)
			}
		}
		if len(parts) == 0 {
			return errors.New("this broker leads no partition of the audit topic")
		}
		p := parts[au.rr%len(parts)]
		au.rr++
		batch := records.BuildBatch(records.CodecLZ4, base, rs)
		_, last, err := p.append(batch)
		if err != nil {
			return err
		}
		if err := p.log.SyncTo(last); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
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
