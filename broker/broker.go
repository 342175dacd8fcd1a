package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skein-streaming/skein/broker/acl"
	"github.com/skein-streaming/skein/broker/group"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
	"github.com/skein-streaming/skein/storage"
	"github.com/skein-streaming/skein/storage/keys"
)

// Advertised is one advertised listener: the address clients are told to
// connect to for a listener name (advertised.listeners).
type Advertised struct {
	Name string
	Host string
	Port int32
}

// Config configures a Broker.
type Config struct {
	// NodeID is node.id.
	NodeID int32
	// DataDir is log.dirs (a single directory).
	DataDir string
	// Listeners is the parsed listeners setting.
	Listeners []protocol.ListenerConfig
	// Advertised is advertised.listeners; when empty, the bound address
	// of each listener is advertised.
	Advertised []Advertised
	// Settings holds the static broker settings by their Kafka names
	// (server.properties and --set), already validated.
	Settings map[string]string
	// Metadata, if set, replaces the single-node metadata log kept in
	// DataDir: several brokers sharing a replicated store form a
	// cluster.
	Metadata MetadataStore
	// Controller, if set, is the controller running on this node's member
	// of the metadata quorum (process.roles includes controller); the
	// broker owns it and stops it before closing Metadata. A broker that
	// opens its own single-voter store runs its own controller.
	Controller *Controller
	Logger     *slog.Logger
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

// Broker is a Kafka broker. New starts nothing; Start binds the listeners
// and starts the background work; Close stops everything in order.
type Broker struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	meta MetadataStore
	// controller is the controller of a node whose metadata store the
	// broker opened itself (a single node), nil otherwise.
	controller *Controller

	server *protocol.Server
	// sasl holds the SASL configuration of each SASL listener by name.
	sasl map[string]*listenerSASL
	// interBroker connects to other brokers' inter-broker listener.
	interBroker *interBrokerDialer
	apis        [apiKeyLimit]*api
	sessions    *fetchSessionCache
	groups      *group.Coordinator
	txns        txnService
	settings    *settingsResolver
	metrics     *metrics
	// replicas runs replication: fetchers, ISR checks, the high
	// watermark checkpoint (replica*.go).
	replicas *replicaManager

	// schemas is what schema validation knows of the registry's topic.
	schemas schemaIndex

	// keyFile and encryption are the keys of encryption at rest, nil
	// without skein.encryption.key.file (encryption.go).
	keyFile    *keys.File
	encryption *storage.Encryption

	// authorizer decides requests against the ACLs; nil when
	// authorizer.class.name is empty. See authorize.go.
	authorizer atomic.Pointer[acl.Authorizer]
	// principalOf, when set, replaces the session's principal in
	// authorization decisions. Only tests set it.
	principalOf func(*protocol.Session) string
	// audit writes the audit log; nil when it is off. See audit.go.
	audit *auditor

	// adminMu serializes metadata changes and their reconciliation into
	// the live topic map.
	adminMu sync.Mutex

	// quotas enforces the client quotas (quota.go).
	quotas *quotaManager
	// netLim holds what netLimits installs: the per-address connection
	// limits, and the addresses of the host names that quotas and
	// max.connections.per.ip.overrides name.
	netLim struct {
		sync.Mutex
		limits    protocol.ConnectionLimits
		hosts     map[string][]netip.Addr
		resolving map[string]bool
	}

	mu struct {
		sync.RWMutex
		topics map[string]*topic
		byID   map[TopicID]*topic
	}

	// incarnation identifies this run of the broker in its registration.
	incarnation string
	// registered is set once the registration is applied.
	registered atomic.Bool
	// coordMoves loads and unloads coordinator partitions as their
	// leadership moves (coordinator_moves.go).
	coordMoves coordMoves

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
	ready    chan struct{}
	closed   atomic.Bool
	// skipControlledShutdown makes Close stop without telling the
	// metadata quorum, as a killed process would. Only tests set it.
	skipControlledShutdown atomic.Bool
	started                atomic.Bool
}

// New validates cfg and returns a broker that is not yet running.
func New(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DataDir == "" {
		return nil, errors.New("broker: data directory (log.dirs) is required")
	}
	if len(cfg.Listeners) == 0 {
		return nil, errors.New("broker: at least one listener is required")
	}
	settings, err := newSettingsResolver(cfg.Settings)
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "broker", "node_id", cfg.NodeID),
		now:         cfg.Now,
		settings:    settings,
		ready:       make(chan struct{}),
		incarnation: newIncarnation(),
	}
	b.mu.topics = map[string]*topic{}
	b.mu.byID = map[TopicID]*topic{}
	b.quotas = newQuotaManager(int(settings.brokerInt(config.QuotaWindowNum, 11)), time.Duration(settings.brokerInt(config.QuotaWindowSizeSeconds, 1))*time.Second)
	b.quotas.clock = b.now
	b.netLim.hosts = map[string][]netip.Addr{}
	b.netLim.resolving = map[string]bool{}
	if a := newAuthorizer(settings); a != nil {
		b.authorizer.Store(a)
	}
	if err := b.configureSecurity(); err != nil {
		return nil, err
	}
	if err := b.configureEncryption(); err != nil {
		return nil, err
	}
	b.buildAPITable()
	b.replicas = newReplicaManager(b)
	b.initMetrics()
	b.audit = newAuditor(b, b.metrics.reg)
	b.bgCtx, b.bgCancel = context.WithCancel(context.Background())
	return b, nil
}

// Start recovers the logs, binds the listeners and starts serving. The
// broker owns its metadata store: a failed Start closes it, as Close
// does.
func (b *Broker) Start() error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("broker already started")
	}
	err := b.start()
	if err != nil {
		if b.controller != nil {
			b.controller.Close()
		} else if b.cfg.Controller != nil {
			b.cfg.Controller.Close()
		}
		if b.meta != nil {
			b.meta.Close()
		} else if b.cfg.Metadata != nil {
			b.cfg.Metadata.Close()
		}
	}
	return err
}

func (b *Broker) start() error {
	if err := b.startOAuthBearer(); err != nil {
		return err
	}
	if err := os.MkdirAll(b.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := lockDataDir(b.cfg.DataDir); err != nil {
		return err
	}
	if b.cfg.Metadata != nil {
		b.meta = b.cfg.Metadata
		b.controller = b.cfg.Controller
	} else {
		// A node without a configured quorum is its one voter.
		ctx, cancel := context.WithTimeout(b.bgCtx, time.Minute)
		m, err := OpenRaftStore(ctx, RaftStoreConfig{NodeID: b.cfg.NodeID, Dir: filepath.Join(b.cfg.DataDir, "__cluster_metadata"), Logger: b.cfg.Logger})
		cancel()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		b.meta = m
		ctrl, err := NewController(ControllerConfig{Store: m, Settings: b.cfg.Settings, Logger: b.cfg.Logger, Now: b.cfg.Now})
		if err != nil {
			return err
		}
		ctrl.Start()
		b.controller = ctrl
	}
	b.settings.setDynamic(b.meta.Image().BrokerConfigs, b.cfg.NodeID)
	start := time.Now()
	if err := b.assignStatelessPartitions(); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if err := b.removeStrayLogs(); err != nil {
		return err
	}
	if err := b.replicas.loadCheckpoint(); err != nil {
		return fmt.Errorf("high watermarks: %w", err)
	}
	if err := b.reconcile(); err != nil {
		// Fetchers started for the partitions opened so far stop
		// before their logs close.
		b.bgCancel()
		b.bgWG.Wait()
		b.closeLogs()
		return err
	}
	b.log.Info("logs loaded", "topics", len(b.mu.topics), "took", time.Since(start).Round(time.Millisecond))
	if err := b.startGroups(); err != nil {
		b.bgCancel()
		b.bgWG.Wait()
		b.closeLogs()
		return err
	}
	if err := b.startTxns(); err != nil {
		b.bgCancel()
		b.bgWG.Wait()
		b.stopGroups()
		b.closeLogs()
		return err
	}
	b.startCoordinatorMoves()
	b.sessions = newFetchSessionCache(b.settings.brokerInt("max.incremental.fetch.session.cache.slots", 1000))
	// netLimits, which a host name lookup may run at any time, reads
	// b.server under netLim.
	b.netLim.Lock()
	limits := b.netLim.limits
	b.server = protocol.NewServer(protocol.Config{
		Listeners:          b.cfg.Listeners,
		MaxRequestBytes:    int32(b.settings.brokerInt("socket.request.max.bytes", 100<<20)),
		IdleTimeout:        time.Duration(b.settings.brokerInt("connections.max.idle.ms", 600000)) * time.Millisecond,
		MaxInflight:        int(b.settings.brokerInt("queued.max.requests", 500)),
		ConnectionLimits:   &limits,
		ConnectionThrottle: b.connectionThrottle,
		Logger:             b.cfg.Logger,
	}, b)
	b.netLim.Unlock()
	if err := b.server.Start(); err != nil {
		b.audit.stop()
		b.bgCancel()
		b.bgWG.Wait()
		b.stopGroups()
		b.closeLogs()
		return err
	}
	if err := b.register(); err != nil {
		b.server.Close()
		b.audit.stop()
		b.bgCancel()
		b.bgWG.Wait()
		b.stopGroups()
		b.closeLogs()
		return fmt.Errorf("registering broker %d: %w", b.cfg.NodeID, err)
	}
	// The audit topic is placed on registered brokers, so it is created
	// once this broker is registered.
	if err := b.audit.start(b.bgCtx); err != nil {
		b.server.Close()
		b.audit.stop()
		b.bgCancel()
		b.bgWG.Wait()
		b.stopGroups()
		b.closeLogs()
		return err
	}
	b.startBackground()
	b.replicas.start()
	b.startMetadataListener()
	b.runOAuthBearer()
	close(b.ready)
	return nil
}

// Ready is closed once the broker serves requests.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Addrs returns the bound listener addresses (useful with port 0).
func (b *Broker) Addrs() []net.Addr { return b.server.Addrs() }

// Close stops accepting requests, finishes in-flight ones, and closes every
// log cleanly (fsync and the clean-shutdown marker), so the next start
// skips recovery. It is idempotent.
func (b *Broker) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	b.fenceOnClose()
	if b.server != nil {
		b.server.Close()
	}
	// The audit writer drains its queue into the logs before they close.
	b.audit.stop()
	b.bgCancel()
	b.bgWG.Wait()
	b.stopGroups()
	b.replicas.stop()
	err := b.closeLogs()
	if b.controller != nil {
		b.controller.Close()
	}
	if b.meta != nil {
		if merr := b.meta.Close(); err == nil {
			err = merr
		}
	}
	unlockDataDir(b.cfg.DataDir)
	return err
}

func (b *Broker) closeLogs() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var first error
	for _, t := range b.mu.topics {
		for _, p := range t.hosted() {
			if err := p.close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// advertisedFor returns the host and port clients on listener name should
// use to reach this broker.
func (b *Broker) advertisedFor(name string) (string, int32) {
	for _, a := range b.cfg.Advertised {
		if a.Name == name {
			return a.Host, a.Port
		}
	}
	for i, l := range b.cfg.Listeners {
		if l.Name == name || name == "" {
			addr := b.server.Addrs()[i]
			host, port, _ := net.SplitHostPort(addr.String())
			if h, _, err := net.SplitHostPort(l.Addr); err == nil && h != "" && h != "0.0.0.0" && h != "::" {
				host = h
			}
			p, _ := strconv.Atoi(port)
			return host, int32(p)
		}
	}
	return "", -1
}

// partitionDirName is the directory of a partition's log, as Kafka names
// it.
func partitionDirName(topic string, partition int32) string {
	return topic + "-" + strconv.Itoa(int(partition))
}

// deletedDirSuffix marks a partition directory whose topic was deleted; the
// background deleter removes it (and start-up removes any left over).
const deletedDirSuffix = "-delete"

// removeStrayLogs deletes directories of deleted topics left by a crash,
// and partition directories of partitions the metadata does not know or
// that have no replica on this broker.
func (b *Broker) removeStrayLogs() error {
	entries, err := os.ReadDir(b.cfg.DataDir)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, t := range b.meta.Image().Topics {
		for p := int32(0); p < t.Partitions; p++ {
			if st, ok := t.Partition(p); ok && slices.Contains(st.Replicas, b.cfg.NodeID) {
				known[partitionDirName(t.Name, p)] = true
			}
		}
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, "__cluster_metadata") {
			continue
		}
		if strings.HasSuffix(name, deletedDirSuffix) || (looksLikePartitionDir(name) && !known[name]) {
			b.log.Warn("removing log directory of a deleted topic", "dir", name)
			if err := os.RemoveAll(filepath.Join(b.cfg.DataDir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

func looksLikePartitionDir(name string) bool {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return false
	}
	_, err := strconv.ParseUint(name[i+1:], 10, 31)
	return err == nil
}

// reconcile makes the live topics match the metadata image: it applies
// config changes, opens the logs of partitions with a replica on this
// broker, gives each its role (leader or follower) from its partition
// state, closes and removes the logs of partitions whose replicas no
// longer include this broker, and removes topics that are gone. It is
// idempotent: it runs after every metadata change, whoever made it.
// Callers hold adminMu (or are starting up).
func (b *Broker) reconcile() error {
	img := b.meta.Image()
	b.settings.setDynamic(img.BrokerConfigs, b.cfg.NodeID)
	b.replicas.updateThrottles()
	b.loadACLs(img)
	b.netLimits()
	b.mu.RLock()
	var gone []*topic
	for _, t := range b.mu.topics {
		if cur, ok := img.ByID[t.id]; !ok || cur.Name != t.name {
			gone = append(gone, t)
		}
	}
	b.mu.RUnlock()
	for _, t := range gone {
		b.dropTopic(t)
	}
	var first error
	for _, name := range img.sortedTopicNames() {
		ti := img.Topics[name]
		b.mu.RLock()
		t := b.mu.byID[ti.ID]
		b.mu.RUnlock()
		if t == nil {
			t = &topic{name: ti.Name, id: ti.ID, logger: b.log.With("topic", ti.Name), metrics: b.metrics.forTopic(ti.Name)}
			empty := []*partition{}
			t.parts.Store(&empty)
			b.mu.Lock()
			b.mu.topics[ti.Name] = t
			b.mu.byID[ti.ID] = t
			b.mu.Unlock()
		}
		ts := b.settings.topic(ti.Configs, b.cfg.NodeID)
		t.settings.Store(ts)
		for _, p := range t.hosted() {
			if err := p.log.SetConfig(ts.storage); err != nil {
				b.log.Error("topic config not applied to log", "topic", t.name, "partition", p.index, "err", err)
			}
		}
		if err := b.reconcilePartitions(t, ti, ts); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// dropTopic removes a deleted topic from service and deletes its logs in
// the background.
func (b *Broker) dropTopic(t *topic) {
	b.mu.Lock()
	if b.mu.topics[t.name] == t {
		delete(b.mu.topics, t.name)
	}
	delete(b.mu.byID, t.id)
	b.mu.Unlock()
	t.deleted.Store(true)
	b.dropTopicMetrics(t)
	for _, p := range t.hosted() {
		b.deletePartitionLog(p)
	}
	b.log.Info("topic deleted", "topic", t.name, "topic_id", t.id.String())
}

// deletePartitionLog closes a partition taken out of service and deletes
// its log directory: it is renamed at once (so that a new replica of the
// same partition starts empty) and removed in the background.
func (b *Broker) deletePartitionLog(p *partition) {
	b.replicas.unfollow(p)
	p.wakeAll()
	p.repl.syncWG.Wait()
	p.log.Close()
	dir := filepath.Join(b.cfg.DataDir, partitionDirName(p.topic.name, p.index))
	tomb := fmt.Sprintf("%s.%s%s", dir, newIncarnation(), deletedDirSuffix)
	if err := os.Rename(dir, tomb); err != nil {
		b.log.Error("cannot rename log directory of a removed partition", "dir", dir, "err", err)
		return
	}
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		if err := os.RemoveAll(tomb); err != nil {
			b.log.Error("cannot remove log directory of a removed partition", "dir", tomb, "err", err)
		}
	}()
}

// topic is a live topic: every topic of the metadata image has one, with
// or without replicas on this broker. Its partition slice has one entry
// per partition, nil where this broker holds no replica; it is replaced
// (never mutated) when partitions are added, opened or removed, so
// readers load it without locks.
type topic struct {
	name     string
	id       TopicID
	parts    atomic.Pointer[[]*partition]
	settings atomic.Pointer[topicSettings]
	deleted  atomic.Bool
	logger   *slog.Logger
	// metrics are the topic's metric label children.
	metrics *topicMetrics
}

func (t *topic) slots() []*partition {
	if p := t.parts.Load(); p != nil {
		return *p
	}
	return nil
}

// numPartitions is the topic's partition count.
func (t *topic) numPartitions() int32 { return int32(len(t.slots())) }

// partition returns partition i if this broker holds a replica of it, as
// leader or follower, else nil.
func (t *topic) partition(i int32) *partition {
	ps := t.slots()
	if i < 0 || int(i) >= len(ps) {
		return nil
	}
	return ps[i]
}

// hosted returns the partitions of which this broker holds a replica.
func (t *topic) hosted() []*partition {
	ps := t.slots()
	out := make([]*partition, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// lookupTopic returns a live topic by name.
func (b *Broker) lookupTopic(name string) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.mu.topics[name]
}

// lookupTopicID returns a live topic by id.
func (b *Broker) lookupTopicID(id TopicID) *topic {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.mu.byID[id]
}

// startBackground starts the periodic log maintenance: retention, time
// based flushes.
func (b *Broker) startBackground() {
	retentionEvery := time.Duration(b.settings.brokerInt("log.retention.check.interval.ms", 300000)) * time.Millisecond
	b.goEvery(retentionEvery, b.enforceRetention)
	b.goEvery(time.Second, b.flushByTime)
	b.goEvery(time.Minute, func() { b.sessions.expire(b.now()) })
	b.goEvery(time.Minute, b.expireProducers)
	b.startCleaner()
	b.startKeyRotation()
}

// expireProducers forgets idempotent producers idle for longer than
// producer.id.expiration.ms, as Kafka does.
func (b *Broker) expireProducers() {
	cutoff := b.now().UnixMilli() - b.settings.brokerInt("producer.id.expiration.ms", 86400000)
	for _, p := range b.allPartitions() {
		p.appendMu.Lock()
		p.producers.expire(cutoff)
		p.appendMu.Unlock()
	}
}

func (b *Broker) goEvery(d time.Duration, fn func()) {
	b.bgWG.Add(1)
	go func() {
		defer b.bgWG.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-b.bgCtx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	}()
}

func (b *Broker) allPartitions() []*partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out []*partition
	for _, t := range b.mu.topics {
		out = append(out, t.hosted()...)
	}
	return out
}

func (b *Broker) enforceRetention() {
	for _, p := range b.allPartitions() {
		n, err := p.log.EnforceRetention()
		if err != nil {
			b.log.Error("retention failed", "topic", p.topic.name, "partition", p.index, "err", err)
			continue
		}
		if n > 0 {
			b.log.Info("retention deleted segments", "topic", p.topic.name, "partition", p.index, "segments", n)
		}
	}
}

func (b *Broker) flushByTime() {
	for _, p := range b.allPartitions() {
		if err := p.log.MaybeFlush(); err != nil {
			b.log.Error("flush failed", "topic", p.topic.name, "partition", p.index, "err", err)
		}
	}
}
