package broker

// Client quotas, as Kafka's ClientQuotaManager (producer_byte_rate,
// consumer_byte_rate), ClientRequestQuotaManager (request_percentage),
// ControllerMutationQuotaManager (controller_mutation_rate, with a token
// bucket: quota_mutation.go) and ConnectionQuotas
// (connection_creation_rate of ip entities) enforce them.
//
// Usage is measured per quota sensor with Kafka's sampled rate:
// quota.window.num samples of quota.window.size.seconds each, a sample
// recycled once it is complete and the ring is full, samples without an
// event for quota.window.num windows dropped. A value that takes the
// measured rate above the quota is still counted (a produce is appended)
// and the client is throttled for Kafka's time, (rate - quota) / quota ×
// window, the delay after which the rate is back at the quota if nothing
// more is recorded. The response goes out at once carrying
// throttle_time_ms and the connection is muted, no further request read,
// for that time (KIP-219).
//
// One difference from Kafka is deliberate: Kafka's Rate counts a sensor
// with less than quota.window.num - 1 windows of history as if the missing
// windows had been empty, which lets a new client (and, since the credit
// comes back each time the oldest sample expires, a client that sends flat
// out) burst about ten seconds of its quota at once. Here the window is the
// time since the oldest sample and at least one sample window (Kafka's
// SimpleRate), so a client at its quota is held close to it over any few
// seconds, not only on average over the whole ring.
//
// Which quota applies to a request, and which clients share its sensor,
// follows Kafka's DefaultQuotaCallback: the most specific of
// /users/<u>/clients/<c>, /users/<u>/clients/<default>, /users/<u>,
// /users/<default>/clients/<c>, /users/<default>/clients/<default>,
// /users/<default>, /clients/<c>, /clients/<default> that is set.

import (
	"context"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// Quota keys and entity types, as Kafka's QuotaConfig and
// ClientQuotaEntity name them.
const (
	quotaProducerByteRate       = "producer_byte_rate"
	quotaConsumerByteRate       = "consumer_byte_rate"
	quotaRequestPercentage      = "request_percentage"
	quotaControllerMutationRate = "controller_mutation_rate"
	quotaConnectionCreationRate = "connection_creation_rate"

	quotaEntityUser     = "user"
	quotaEntityClientID = "client-id"
	quotaEntityIP       = "ip"
)

// quotaType is a kind of client quota with its own sensors.
type quotaType int

const (
	quotaProduce quotaType = iota
	quotaFetch
	quotaRequest
	quotaMutation
	numQuotaTypes
)

// quotaTypeKey is the quota key each type enforces; quotaTypeName labels
// its metrics.
var (
	quotaTypeKey  = [numQuotaTypes]string{quotaProducerByteRate, quotaConsumerByteRate, quotaRequestPercentage, quotaControllerMutationRate}
	quotaTypeName = [numQuotaTypes]string{"produce", "fetch", "request", "controller_mutation"}
)

// Kafka's quotaTypesEnabled bits: which kinds of entities have a quota.
const (
	clientIDQuotaEnabled     uint8 = 1
	userQuotaEnabled         uint8 = 2
	userClientIDQuotaEnabled uint8 = 4
)

// quotaName is one side of a user/client-id entity: absent, the default
// entity, or a name.
type quotaName struct {
	set, def bool
	name     string
}

var defaultQuotaName = quotaName{set: true, def: true}

func namedQuota(n string) quotaName { return quotaName{set: true, name: n} }

// quotaEntity is a user, client-id or user and client-id entity.
type quotaEntity struct{ user, client quotaName }

// quotaLimits are the quotas of one type.
type quotaLimits struct {
	enabled uint8
	limits  map[quotaEntity]float64
}

func (l *quotaLimits) has(e quotaEntity) bool {
	_, ok := l.limits[e]
	return ok
}

// tags returns the user and client id a request's usage is recorded
// under, as DefaultQuotaCallback.quotaMetricTags: clients that share tags
// share the sensor, and so the quota.
func (l *quotaLimits) tags(user, client string) (string, string) {
	switch l.enabled {
	case 0, clientIDQuotaEnabled:
		return "", client
	case userQuotaEnabled:
		return user, ""
	case userClientIDQuotaEnabled:
		return user, client
	}
	u, c := namedQuota(user), namedQuota(client)
	switch {
	case l.has(quotaEntity{u, c}), l.has(quotaEntity{u, defaultQuotaName}):
		return user, client
	case l.has(quotaEntity{user: u}):
		return user, ""
	case l.has(quotaEntity{defaultQuotaName, c}), l.has(quotaEntity{defaultQuotaName, defaultQuotaName}):
		return user, client
	case l.has(quotaEntity{user: defaultQuotaName}):
		return user, ""
	}
	return "", client
}

// limit returns the quota of a sensor's tags, as
// DefaultQuotaCallback.quotaLimit.
func (l *quotaLimits) limit(user, client string) (float64, bool) {
	var order []quotaEntity
	u, c := namedQuota(user), namedQuota(client)
	switch {
	case user != "" && client != "":
		order = []quotaEntity{{u, c}, {u, defaultQuotaName}, {defaultQuotaName, c}, {defaultQuotaName, defaultQuotaName}}
	case user != "":
		order = []quotaEntity{{user: u}, {user: defaultQuotaName}}
	case client != "":
		order = []quotaEntity{{client: c}, {client: defaultQuotaName}}
	}
	for _, e := range order {
		if v, ok := l.limits[e]; ok {
			return v, true
		}
	}
	return 0, false
}

// quotaConfig is the quotas of the metadata image, resolved for lookups.
// It is immutable once built.
type quotaConfig struct {
	types [numQuotaTypes]quotaLimits
	// ip holds the connection_creation_rate of ip entities named by
	// address (or by a host name resolved to the address), ipDefault that
	// of the default ip entity (0 for none).
	ip        map[netip.Addr]float64
	ipDefault float64
}

// on reports whether any user or client-id quota is set.
func (c *quotaConfig) on() bool {
	for i := range c.types {
		if c.types[i].enabled != 0 {
			return true
		}
	}
	return false
}

// newQuotaConfig resolves the client quotas of an image. resolved gives
// the addresses of host names known so far.
func newQuotaConfig(quotas map[string]ClientQuotaImage, resolved func(string) ([]netip.Addr, bool)) *quotaConfig {
	c := &quotaConfig{ip: map[netip.Addr]float64{}}
	for t := range c.types {
		c.types[t].limits = map[quotaEntity]float64{}
	}
	for _, q := range quotas {
		var e quotaEntity
		var ip *QuotaEntityPart
		for i, p := range q.Entity {
			n := defaultQuotaName
			if p.Name != nil {
				n = namedQuota(*p.Name)
			}
			switch p.Type {
			case quotaEntityUser:
				e.user = n
			case quotaEntityClientID:
				e.client = n
			case quotaEntityIP:
				ip = &q.Entity[i]
			}
		}
		if ip != nil {
			v, ok := q.Values[quotaConnectionCreationRate]
			switch {
			case !ok:
			case ip.Name == nil:
				c.ipDefault = v
			default:
				if a, err := netip.ParseAddr(*ip.Name); err == nil {
					c.ip[a.Unmap()] = v
				} else if resolved != nil {
					addrs, _ := resolved(*ip.Name)
					for _, a := range addrs {
						c.ip[a] = v
					}
				}
			}
			continue
		}
		var level uint8
		switch {
		case e.user.set && e.client.set:
			level = userClientIDQuotaEnabled
		case e.user.set:
			level = userQuotaEnabled
		case e.client.set:
			level = clientIDQuotaEnabled
		default:
			continue
		}
		for t := range c.types {
			if v, ok := q.Values[quotaTypeKey[t]]; ok {
				c.types[t].limits[e] = v
				c.types[t].enabled |= level
			}
		}
	}
	return c
}

// quotaSample is one window of a rate: Kafka's SampledStat.Sample.
type quotaSample struct {
	value       float64
	start, last int64 // ms
}

// quotaRate is a rate measured over samples, as Kafka's Rate over a
// WindowedSum, with SimpleRate's window (see the top of the file).
type quotaRate struct {
	samples []quotaSample
	cur     int
}

func (r *quotaRate) record(v float64, now int64, numSamples int, windowMs int64) {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, quotaSample{start: now, last: now})
	}
	s := &r.samples[r.cur]
	if now-s.start >= windowMs {
		// Kafka keeps one sample more than quota.window.num, so that
		// the window measured spans quota.window.num full samples.
		r.cur = (r.cur + 1) % (numSamples + 1)
		if r.cur >= len(r.samples) {
			r.samples = append(r.samples, quotaSample{})
		}
		s = &r.samples[r.cur]
		*s = quotaSample{start: now}
	}
	s.value += v
	s.last = now
}

// purge resets the samples without an event in the last numSamples
// windows.
func (r *quotaRate) purge(now int64, numSamples int, windowMs int64) {
	expire := int64(numSamples) * windowMs
	for i := range r.samples {
		if now-r.samples[i].last >= expire {
			r.samples[i] = quotaSample{start: now, last: now}
		}
	}
}

// windowSize is the span the rate is measured over, in ms: from the start
// of the oldest sample to now, and at least one sample window.
func (r *quotaRate) windowSize(now int64, numSamples int, windowMs int64) int64 {
	r.purge(now, numSamples, windowMs)
	oldest := now
	for _, s := range r.samples {
		oldest = min(oldest, s.start)
	}
	return max(now-oldest, windowMs)
}

// measure returns the rate per second.
func (r *quotaRate) measure(now int64, numSamples int, windowMs int64) float64 {
	w := r.windowSize(now, numSamples, windowMs)
	var total float64
	for _, s := range r.samples {
		total += s.value
	}
	return total / (float64(w) / 1000)
}

// quotaSensor is the usage of one quota of the clients that share tags, or
// of one address's connections.
type quotaSensor struct {
	typ          quotaType
	user, client string
	rate         quotaRate
	lastUsed     int64 // ms
	// throttleMs and throttles add up the throttles this quota caused.
	throttleMs float64
	throttles  int64
	// bucket holds the tokens of a controller_mutation_rate quota.
	bucket tokenBucket
}

type quotaSensorKey struct {
	typ          quotaType
	user, client string
}

// Sensors idle this long are dropped, as Kafka expires quota sensors after
// an hour of inactivity. Past quotaSensorSoftLimit sensors, those idle for
// the whole measured window (whose samples have all expired, so a new
// sensor measures the same) go too.
const (
	quotaSensorExpiryMs  = int64(time.Hour / time.Millisecond)
	quotaSensorSoftLimit = 10000
	quotaSweepEveryMs    = int64(time.Minute / time.Millisecond)
)

// quotaManager holds the quota configuration and the sensors.
type quotaManager struct {
	numSamples int
	windowMs   int64
	// clock is the time quotas are measured by: the broker's clock, set
	// before the broker starts.
	clock func() time.Time
	cfg   atomic.Pointer[quotaConfig]

	mu        sync.Mutex
	sensors   map[quotaSensorKey]*quotaSensor
	ipSensors map[netip.Addr]*quotaSensor
	lastSweep int64
}

func newQuotaManager(numSamples int, window time.Duration) *quotaManager {
	q := &quotaManager{
		numSamples: max(numSamples, 1),
		windowMs:   max(window.Milliseconds(), 1),
		sensors:    map[quotaSensorKey]*quotaSensor{},
		ipSensors:  map[netip.Addr]*quotaSensor{},
		clock:      time.Now,
	}
	q.cfg.Store(newQuotaConfig(nil, nil))
	return q
}

// nowMs is the quota clock's time in ms.
func (q *quotaManager) nowMs() int64 { return q.clock().UnixMilli() }

// on reports whether any user or client-id quota is set; when not,
// requests pay one atomic load.
func (q *quotaManager) on() bool { return q.cfg.Load().on() }

// record adds value to the sensor of the request's user and client id for
// quota type t and returns the throttle time in ms (0 within the quota),
// with the sensor (nil when no quota of the type is set). The request
// quota's throttle is capped at one window, as Kafka's
// ClientRequestQuotaManager does; the byte rate throttles are not.
func (q *quotaManager) record(t quotaType, user, client string, value float64, now int64) (int, *quotaSensor) {
	l := &q.cfg.Load().types[t]
	if l.enabled == 0 {
		return 0, nil
	}
	u, c := l.tags(user, client)
	limit, limited := l.limit(u, c)
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.sensor(t, u, c, now)
	s.rate.record(value, now, q.numSamples, q.windowMs)
	if !limited {
		return 0, s
	}
	return q.throttleTime(&s.rate, limit, now, t == quotaRequest), s
}

// sensor returns the sensor of quota type t for the tags, created when
// missing, and marks it used. Callers hold mu.
func (q *quotaManager) sensor(t quotaType, user, client string, now int64) *quotaSensor {
	q.maybeSweep(now)
	k := quotaSensorKey{t, user, client}
	s := q.sensors[k]
	if s == nil {
		s = &quotaSensor{typ: t, user: user, client: client}
		q.sensors[k] = s
	}
	s.lastUsed = now
	return s
}

// throttleTime is Kafka's QuotaUtils.throttleTime, capped at one window
// when bounded. Callers hold mu.
func (q *quotaManager) throttleTime(r *quotaRate, limit float64, now int64, bounded bool) int {
	m := r.measure(now, q.numSamples, q.windowMs)
	if m <= limit {
		return 0
	}
	ms := math.Round((m - limit) / limit * float64(r.windowSize(now, q.numSamples, q.windowMs)))
	if bounded {
		ms = min(ms, float64(q.windowMs))
	}
	return int(min(ms, math.MaxInt32))
}

// unrecord takes back a value recorded for a response that was not sent
// (a throttled fetch answers empty), as Kafka's unrecordQuotaSensor.
func (q *quotaManager) unrecord(s *quotaSensor, value float64, now int64) {
	if s == nil {
		return
	}
	q.mu.Lock()
	s.rate.record(-value, now, q.numSamples, q.windowMs)
	q.mu.Unlock()
}

// throttled counts a throttle of ms caused by the sensor's quota.
func (q *quotaManager) throttled(s *quotaSensor, ms int) {
	if s == nil || ms <= 0 {
		return
	}
	q.mu.Lock()
	s.throttleMs += float64(ms)
	s.throttles++
	q.mu.Unlock()
}

// maxFetchBytes bounds a fetch response so that one response alone does
// not exceed the client's consumer_byte_rate: one window's worth, the most
// a client without history may take at once (Kafka's
// getMaxValueInQuotaWindow, for this window). It is MaxInt32 without a
// quota.
func (q *quotaManager) maxFetchBytes(user, client string) int32 {
	l := &q.cfg.Load().types[quotaFetch]
	if l.enabled == 0 {
		return math.MaxInt32
	}
	limit, ok := l.limit(l.tags(user, client))
	if !ok {
		return math.MaxInt32
	}
	return int32(min(max(limit*float64(q.windowMs)/1000, 1), math.MaxInt32))
}

// connectionThrottle records a new connection from ip against its
// connection_creation_rate and returns how long to hold the connection
// before closing it when the rate is over the quota (0 to accept it), as
// Kafka's ConnectionQuotas: a refused connection is not counted, and the
// throttle is capped at one window.
func (q *quotaManager) connectionThrottle(ip netip.Addr, now int64) time.Duration {
	cfg := q.cfg.Load()
	limit, ok := cfg.ip[ip]
	if !ok {
		limit = cfg.ipDefault
	}
	if limit <= 0 {
		return 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.maybeSweep(now)
	s := q.ipSensors[ip]
	if s == nil {
		s = &quotaSensor{}
		q.ipSensors[ip] = s
	}
	s.lastUsed = now
	s.rate.record(1, now, q.numSamples, q.windowMs)
	ms := q.throttleTime(&s.rate, limit, now, true)
	if ms <= 0 {
		return 0
	}
	s.rate.record(-1, now, q.numSamples, q.windowMs)
	s.throttleMs += float64(ms)
	s.throttles++
	return time.Duration(ms) * time.Millisecond
}

// maybeSweep drops idle sensors, at most once a minute, or once a window
// while there are more than quotaSensorSoftLimit. Callers hold mu.
func (q *quotaManager) maybeSweep(now int64) {
	crowded := len(q.sensors)+len(q.ipSensors) > quotaSensorSoftLimit
	if since := now - q.lastSweep; since < quotaSweepEveryMs && (!crowded || since < q.windowMs) {
		return
	}
	q.lastSweep = now
	idle := quotaSensorExpiryMs
	if crowded {
		idle = int64(q.numSamples) * q.windowMs
	}
	maps.DeleteFunc(q.sensors, func(_ quotaSensorKey, s *quotaSensor) bool {
		// A token bucket still in debt is kept: a new one would start full.
		return now-s.lastUsed >= idle && s.bucket.full(now)
	})
	maps.DeleteFunc(q.ipSensors, func(_ netip.Addr, s *quotaSensor) bool { return now-s.lastUsed >= idle })
}

// quotaUser is the user name quotas know a principal by: its name without
// the type (alice for User:alice).
func quotaUser(principal string) string {
	if _, name, ok := strings.Cut(principal, ":"); ok {
		return name
	}
	return principal
}

// quotaClientID is the client id of a request's header.
func quotaClientID(req *protocol.Request) string {
	if req.Header.ClientID != nil {
		return *req.Header.ClientID
	}
	return ""
}

// handlerTime is the time since the request was read.
func handlerTime(r *protocol.Request) time.Duration {
	if r.Received.IsZero() {
		return 0
	}
	return time.Since(r.Received)
}

// requestPercentage converts handler time into the unit of
// request_percentage: percent of one thread over one second.
func requestPercentage(d time.Duration) float64 { return float64(d.Nanoseconds()) * 100 / 1e9 }

// quotaExempt are the APIs no request quota applies to: SASL
// authentication (Kafka's authenticator serves it before KafkaApis) and
// the inter-broker WriteTxnMarkers, which Kafka answers exempt from
// throttling.
func quotaExempt(key kmsg.Key) bool {
	switch key {
	case kmsg.SASLHandshake, kmsg.SASLAuthenticate, kmsg.WriteTxnMarkers, kmsg.Fetch:
		return true
	}
	return false
}

// applyQuotas records a request against the client's quotas once its
// response is ready, sets the response's throttle_time_ms and mutes the
// connection when a quota is exceeded, as KafkaApis does: a Produce counts
// its request bytes against producer_byte_rate (and, unless acks=0, its
// handler time against request_percentage); other requests count their
// handler time. Fetch does its own accounting (handleFetch), since a
// throttled fetch answers empty. spent is the time from reading the
// request to the end of its handler.
func (b *Broker) applyQuotas(req *protocol.Request, reply protocol.Reply, spent time.Duration) protocol.Reply {
	if !b.quotas.on() || quotaExempt(kmsg.Key(req.Header.Key)) || !req.Session.Authenticated() {
		return reply
	}
	if reply.Wait == nil {
		b.throttleRequest(req, reply.Resp, spent)
		return reply
	}
	wait := reply.Wait
	reply.Wait = func(ctx context.Context) kmsg.Response {
		resp := wait(ctx)
		b.throttleRequest(req, resp, spent)
		return resp
	}
	return reply
}

// throttleRequest records a finished request and throttles its client if
// it is over a quota. resp may be nil (acks=0).
func (b *Broker) throttleRequest(req *protocol.Request, resp kmsg.Response, spent time.Duration) {
	q := b.quotas
	now := q.nowMs()
	user, client := quotaUser(b.principal(req.Session)), quotaClientID(req)
	var bw, rq int
	var bwS, rqS *quotaSensor
	if pr, ok := req.Msg.(*kmsg.ProduceRequest); ok {
		bw, bwS = q.record(quotaProduce, user, client, float64(req.FrameBytes), now)
		if pr.Acks != 0 {
			rq, rqS = q.record(quotaRequest, user, client, requestPercentage(spent), now)
		}
	} else {
		rq, rqS = q.record(quotaRequest, user, client, requestPercentage(spent), now)
	}
	b.throttle(req.Session, resp, bw, bwS, rq, rqS)
}

// throttle applies the larger of a byte-rate and a request throttle: it
// counts it against the quota that caused it, sets the response's
// throttle_time_ms and mutes the connection for that long.
func (b *Broker) throttle(sess *protocol.Session, resp kmsg.Response, bw int, bwS *quotaSensor, rq int, rqS *quotaSensor) int {
	ms := max(bw, rq)
	if ms <= 0 {
		return 0
	}
	// A controller mutation throttle set by the handler stands when it
	// is the larger: as Kafka, only the larger throttle applies and counts.
	if tr, ok := resp.(kmsg.ThrottleResponse); ok {
		if cur, _ := tr.Throttle(); int(cur) >= ms {
			return 0
		}
	}
	if bw > rq {
		b.quotas.throttled(bwS, bw)
	} else {
		b.quotas.throttled(rqS, rq)
	}
	sess.MuteUntil(time.Now().Add(time.Duration(ms) * time.Millisecond))
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		st.SetThrottle(int32(ms))
	}
	return ms
}

// fetchQuota records a fetch response of size bytes, built after spent of
// handler time, and returns the throttle time (0 to send the response). A
// throttled response is taken back from consumer_byte_rate: the client
// gets an empty one.
func (b *Broker) fetchQuota(r *protocol.Request, size int, spent time.Duration, empty kmsg.Response) int {
	q := b.quotas
	if !q.on() || !r.Session.Authenticated() {
		return 0
	}
	now := q.nowMs()
	user, client := quotaUser(b.principal(r.Session)), quotaClientID(r)
	rq, rqS := q.record(quotaRequest, user, client, requestPercentage(spent), now)
	bw, bwS := q.record(quotaFetch, user, client, float64(size), now)
	if max(bw, rq) <= 0 {
		return 0
	}
	q.unrecord(bwS, float64(size), now)
	return b.throttle(r.Session, empty, bw, bwS, rq, rqS)
}

// fetchQuotaMax is the most a fetch of the request's client may return at
// once (see maxFetchBytes).
func (b *Broker) fetchQuotaMax(r *protocol.Request) int32 {
	if !b.quotas.on() {
		return math.MaxInt32
	}
	return b.quotas.maxFetchBytes(quotaUser(b.principal(r.Session)), quotaClientID(r))
}

// connectionThrottle is the protocol server's ConnectionThrottle hook.
func (b *Broker) connectionThrottle(ip netip.Addr) time.Duration {
	return b.quotas.connectionThrottle(ip, b.quotas.nowMs())
}

// hostResolveTimeout bounds the lookup of a host name that an ip quota
// entity or max.connections.per.ip.overrides names.
const hostResolveTimeout = 10 * time.Second

// netLimits installs the client quotas of the metadata image and the
// per-address connection limits of the settings. Host names are resolved
// once, in the background; until then their entries do not apply. It is
// called by reconcile and when a lookup completes.
func (b *Broker) netLimits() {
	b.netLim.Lock()
	defer b.netLim.Unlock()
	var pending []string
	resolved := func(host string) ([]netip.Addr, bool) {
		addrs, ok := b.netLim.hosts[host]
		if !ok {
			pending = append(pending, host)
		}
		return addrs, ok
	}
	b.quotas.cfg.Store(newQuotaConfig(b.meta.Image().ClientQuotas, resolved))
	limits := protocol.ConnectionLimits{
		PerIP:     int(b.settings.brokerInt(config.MaxConnectionsPerIP, math.MaxInt32)),
		Overrides: map[netip.Addr]int{},
		Total:     int(b.settings.brokerInt(config.MaxConnections, math.MaxInt32)),
	}
	// As in Kafka, max.connections leaves the inter-broker listener out
	// when there are several listeners, so that replication keeps going.
	if len(b.cfg.Listeners) > 1 {
		if name := b.settings.brokerString("inter.broker.listener.name", ""); name != "" {
			limits.Protected = strings.ToUpper(name)
		} else {
			limits.Protected = b.cfg.Listeners[0].Name
		}
	}
	overrides, err := config.ParseConnectionOverrides(b.settings.brokerString(config.MaxConnectionsPerIPOverrides, ""))
	if err != nil {
		b.log.Error("max.connections.per.ip.overrides not applied", "err", err)
	}
	for _, o := range overrides {
		if a, err := netip.ParseAddr(o.Host); err == nil {
			limits.Overrides[a.Unmap()] = o.Limit
			continue
		}
		addrs, _ := resolved(o.Host)
		for _, a := range addrs {
			limits.Overrides[a] = o.Limit
		}
	}
	b.netLim.limits = limits
	if b.server != nil {
		b.server.SetConnectionLimits(limits)
	}
	var start []string
	for _, h := range pending {
		if !b.netLim.resolving[h] {
			b.netLim.resolving[h] = true
			start = append(start, h)
		}
	}
	if len(start) == 0 {
		return
	}
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		found := map[string][]netip.Addr{}
		for _, h := range start {
			ctx, cancel := context.WithTimeout(b.bgCtx, hostResolveTimeout)
			addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
			cancel()
			if err != nil {
				b.log.Warn("host name of a quota or connection limit does not resolve; its entry does not apply", "host", h, "err", err)
			}
			for _, a := range addrs {
				found[h] = append(found[h], a.Unmap())
			}
		}
		if b.bgCtx.Err() != nil {
			return
		}
		b.netLim.Lock()
		for _, h := range start {
			b.netLim.hosts[h] = slices.Clone(found[h])
			delete(b.netLim.resolving, h)
		}
		b.netLim.Unlock()
		b.netLimits()
	}()
}

// quotaCollector reports the quota sensors at scrape time.
type quotaCollector struct{ b *Broker }

var (
	descQuotaUsage = prometheus.NewDesc("skein_quota_usage",
		"Usage measured against a client quota over the quota window: bytes per second for produce and fetch, percent of one thread for request, partitions per second for controller_mutation (Kafka Produce/Fetch byte-rate, Request request-time, ControllerMutation mutation-rate, per user and client-id).",
		[]string{"quota", "user", "client_id"}, nil)
	descQuotaLimit = prometheus.NewDesc("skein_quota_limit",
		"The client quota that applies to the sensor: producer_byte_rate, consumer_byte_rate, request_percentage or controller_mutation_rate.",
		[]string{"quota", "user", "client_id"}, nil)
	descQuotaThrottleTime = prometheus.NewDesc("skein_quota_throttle_time_seconds_total",
		"Time clients were throttled for exceeding a quota: the throttle_time_ms of their responses, during which their connection is not read (Kafka throttle-time, per user and client-id).",
		[]string{"quota", "user", "client_id"}, nil)
	descQuotaThrottles = prometheus.NewDesc("skein_quota_throttled_responses_total",
		"Responses throttled for exceeding a quota.",
		[]string{"quota", "user", "client_id"}, nil)
	descQuotaMutationTokens = prometheus.NewDesc("skein_quota_controller_mutation_tokens",
		"Partitions left in the token bucket of a controller_mutation_rate quota; negative while the clients that share it are throttled (Kafka ControllerMutation tokens, per user and client-id).",
		[]string{"user", "client_id"}, nil)
	descIPConnectionRate = prometheus.NewDesc("skein_quota_ip_connection_rate",
		"Connections per second accepted from an address that has a connection_creation_rate quota (Kafka connections-created-rate per ip).",
		[]string{"ip"}, nil)
	descIPThrottleTime = prometheus.NewDesc("skein_quota_ip_connection_throttle_time_seconds_total",
		"Time connections refused for exceeding connection_creation_rate were held before being closed, per address (Kafka ip-connection-accept-throttle-time).",
		[]string{"ip"}, nil)
)

// Describe implements prometheus.Collector.
func (c quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQuotaUsage, descQuotaLimit, descQuotaThrottleTime, descQuotaThrottles, descQuotaMutationTokens, descIPConnectionRate, descIPThrottleTime} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c quotaCollector) Collect(ch chan<- prometheus.Metric) {
	q := c.b.quotas
	cfg := q.cfg.Load()
	now := q.nowMs()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, s := range q.sensors {
		labels := []string{quotaTypeName[s.typ], s.user, s.client}
		ch <- prometheus.MustNewConstMetric(descQuotaUsage, prometheus.GaugeValue, s.rate.measure(now, q.numSamples, q.windowMs), labels...)
		if limit, ok := cfg.types[s.typ].limit(s.user, s.client); ok {
			ch <- prometheus.MustNewConstMetric(descQuotaLimit, prometheus.GaugeValue, limit, labels...)
			if s.typ == quotaMutation {
				b := s.bucket
				b.refill(limit, limit*float64(q.numSamples)*float64(q.windowMs)/1000, now)
				ch <- prometheus.MustNewConstMetric(descQuotaMutationTokens, prometheus.GaugeValue, b.tokens, s.user, s.client)
			}
		}
		ch <- prometheus.MustNewConstMetric(descQuotaThrottleTime, prometheus.CounterValue, s.throttleMs/1000, labels...)
		ch <- prometheus.MustNewConstMetric(descQuotaThrottles, prometheus.CounterValue, float64(s.throttles), labels...)
	}
	for ip, s := range q.ipSensors {
		ch <- prometheus.MustNewConstMetric(descIPConnectionRate, prometheus.GaugeValue, s.rate.measure(now, q.numSamples, q.windowMs), ip.String())
		ch <- prometheus.MustNewConstMetric(descIPThrottleTime, prometheus.CounterValue, s.throttleMs/1000, ip.String())
	}
}
