package schemaregistry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/protocol"
)

// Defaults of Config.
const (
	// DefaultListen is the address the registry serves on, Confluent's
	// default port on loopback.
	DefaultListen = "127.0.0.1:8081"
	// DefaultTopic is Confluent's kafkastore.topic.
	DefaultTopic = "_schemas"
	// DefaultGroupID is Confluent's schema.registry.group.id.
	DefaultGroupID = "schema-registry"
	// DefaultTopicReplicationFactor is Confluent's
	// kafkastore.topic.replication.factor.
	DefaultTopicReplicationFactor = 3
)

// Config configures a Registry. The zero value of each field selects its
// documented default.
type Config struct {
	// Bootstrap lists the host:port seed brokers of the cluster holding
	// the registry's topic. Required.
	Bootstrap []string
	// KafkaOpts are franz-go options added to every Kafka client of the
	// registry, before its own: the connection's security (Confluent's
	// kafkastore.security.protocol, kafkastore.ssl.*, kafkastore.sasl.*)
	// as kgo.DialTLSConfig and kgo.SASL, for a cluster whose listeners
	// require TLS or SASL. With an authorizer, the principal needs
	// Create (unless the topic exists), Describe, Read and Write on the
	// topic and Read on the group, or to be a super user.
	KafkaOpts []kgo.Opt
	// Listen is the host:port the REST API is served on (Confluent:
	// listeners). Port 0 picks a free port. Default DefaultListen.
	Listen string
	// Listener, when set, is an already bound listener to serve on, and
	// Listen is ignored. Run closes it.
	Listener net.Listener
	// AdvertisedURL is the URL other instances forward writes to when this
	// instance leads. Default: http:// and the bound address, with the
	// machine's host name for an unspecified host (0.0.0.0, ::).
	AdvertisedURL string
	// Topic is the compacted topic holding every schema, config and mode
	// (kafkastore.topic). Default DefaultTopic.
	Topic string
	// TopicReplicationFactor is the desired replication factor of the
	// topic when it is created (kafkastore.topic.replication.factor,
	// default DefaultTopicReplicationFactor): the topic gets the smaller
	// of it and the number of live brokers, and min.insync.replicas=2
	// when that is 3 or more. -1 takes the broker's
	// default.replication.factor and min.insync.replicas.
	TopicReplicationFactor int16
	// ExpectedBrokers is how many brokers the cluster is expected to
	// have. The topic is not created before the smaller of it and
	// TopicReplicationFactor brokers are live, so that an instance
	// starting with its cluster does not create the topic with fewer
	// replicas than the cluster will have; until then Run retries. 0
	// creates the topic with the brokers live at the time (Confluent's
	// behaviour).
	ExpectedBrokers int
	// GroupID names the group the instances elect their writer in
	// (schema.registry.group.id). Default DefaultGroupID.
	GroupID string
	// NotEligible keeps this instance from ever being elected writer
	// (leader.eligibility=false); it forwards every write.
	NotEligible bool
	// SessionTimeout is the group session timeout: how long a writer that
	// stopped heartbeating keeps the role in the group's view. Default 10s.
	SessionTimeout time.Duration
	// HeartbeatInterval is how often each instance heartbeats. Default 1s.
	HeartbeatInterval time.Duration
	// InitTimeout bounds how long Run waits, after reading the topic to
	// its end, for the first writer election to end before serving
	// (kafkastore.init.timeout.ms). Default 60s.
	InitTimeout time.Duration
	// RequestTimeout bounds each write and forwarded request. Default 30s.
	RequestTimeout time.Duration
	// Logger receives the registry's logs. Default: discarded.
	Logger *slog.Logger
	// TLS, when set, serves the REST API over HTTPS (Confluent's
	// listeners=https://…, ssl.keystore.location, ssl.truststore.location,
	// ssl.client.authentication), TLS 1.2 and 1.3 unless Protocols says
	// otherwise. The default AdvertisedURL is then https://, and writes are
	// forwarded over HTTPS trusting the truststore, presenting the
	// keystore's certificate when ClientAuth is "required". See
	// ParseSecurity.
	TLS *protocol.TLSConfig
	// BasicAuth, when set, requires HTTP Basic authentication of every
	// request (authentication.method=BASIC). Forwarded writes carry the
	// caller's Authorization header.
	BasicAuth *BasicAuth
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.TopicReplicationFactor == 0 {
		c.TopicReplicationFactor = DefaultTopicReplicationFactor
	}
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.InitTimeout == 0 {
		c.InitTimeout = time.Minute
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if len(c.Bootstrap) == 0 {
		return errors.New("schemaregistry: Bootstrap is required")
	}
	if c.TopicReplicationFactor < -1 {
		return errors.New("schemaregistry: TopicReplicationFactor must be positive, or -1 for the broker's default")
	}
	if c.ExpectedBrokers < 0 {
		return errors.New("schemaregistry: ExpectedBrokers must not be negative")
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return errors.New("schemaregistry: HeartbeatInterval must be below SessionTimeout")
	}
	return validateAdvertised(c)
}

// Registry is one schema registry instance. New starts nothing; Run
// serves until its context ends.
type Registry struct {
	cfg    Config
	logger *slog.Logger
	state  *state
	schema *schemaCache
	client *http.Client

	// log and elector are set by Run (or by tests before Run).
	log     recordLog
	elector elector

	// writeMu serializes writes on the leader; taken before state.mu.
	writeMu sync.Mutex

	// tls is the server side of cfg.TLS; auth checks BasicAuth.
	tls  *tls.Config
	auth *basicAuth

	ready   chan struct{}
	addr    atomic.Pointer[net.TCPAddr]
	selfURL atomic.Pointer[string]
}

// New validates cfg and returns a Registry that has started nothing.
func New(cfg Config) (*Registry, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := newRegistry(cfg)
	if cfg.TLS != nil {
		tc, err := cfg.TLS.ServerConfig(cfg.Logger.With("component", "schema-registry-tls"))
		if err != nil {
			return nil, fmt.Errorf("schemaregistry: TLS: %w", err)
		}
		r.tls = tc
	}
	if cfg.BasicAuth != nil {
		a, err := newBasicAuth(*cfg.BasicAuth, cfg.Logger)
		if err != nil {
			return nil, err
		}
		r.auth = a
	}
	// The election's client and URL are filled in by Run; the elector
	// exists from the start so that Writer can be asked at any time.
	r.elector = newGroupElector(nil, cfg, "")
	return r, nil
}

func newRegistry(cfg Config) *Registry {
	return &Registry{
		cfg:    cfg,
		logger: cfg.Logger,
		state:  newState(cfg.Logger),
		schema: newSchemaCache(),
		client: forwardClient(cfg),
		ready:  make(chan struct{}),
	}
}

// Ready returns a channel closed once the registry has read its topic to
// the end and serves requests.
func (r *Registry) Ready() <-chan struct{} { return r.ready }

// Addr returns the bound address of the REST API, nil before Run binds it.
func (r *Registry) Addr() net.Addr {
	if a := r.addr.Load(); a != nil {
		return a
	}
	return nil
}

// URL returns the URL this instance advertises, "" before Run binds.
func (r *Registry) URL() string {
	if u := r.selfURL.Load(); u != nil {
		return *u
	}
	return ""
}

// Run connects to the cluster, creates the topic if missing, reads it to
// its end, joins the writer election and serves the REST API until ctx
// ends. It returns nil after a clean shutdown.
func (r *Registry) Run(ctx context.Context) error {
	ln := r.cfg.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", r.cfg.Listen)
		if err != nil {
			return fmt.Errorf("schemaregistry: listen %s: %w", r.cfg.Listen, err)
		}
	}
	defer ln.Close()
	r.bound(ln.Addr().(*net.TCPAddr))
	if r.log == nil {
		kl, err := newKafkaLog(ctx, r.cfg)
		if err != nil {
			if ctx.Err() != nil {
				return nil // stopped while waiting for the cluster
			}
			return err
		}
		defer kl.Close()
		r.log = kl
		if g, ok := r.elector.(*groupElector); ok {
			g.client, g.url = kl.client, r.URL()
		}
	}
	return r.serve(ctx, ln)
}

func (r *Registry) bound(a *net.TCPAddr) {
	r.addr.Store(a)
	u := r.cfg.AdvertisedURL
	if u == "" {
		host := a.IP.String()
		if a.IP == nil || a.IP.IsUnspecified() {
			// Bound to every interface: other instances reach this one by
			// the machine's name, as Confluent's host.name defaults.
			host = "localhost"
			if h, err := os.Hostname(); err == nil && h != "" {
				host = h
			}
		}
		u = r.cfg.scheme() + "://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	r.selfURL.Store(&u)
}

// serve runs the consumer and the election, waits until the state has
// caught up with the log, then serves HTTP on ln until ctx ends.
func (r *Registry) serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Go(func() {
		if err := r.log.Consume(ctx, r.state.apply); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("schemaregistry: consuming %s: %w", r.cfg.Topic, err)
		}
	})
	wg.Go(func() {
		if err := r.elector.Run(ctx); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("schemaregistry: writer election: %w", err)
		}
	})
	defer wg.Wait()
	defer cancel()

	if err := r.initialSync(ctx); err != nil {
		return nil // only ctx ends it
	}
	if n, ok := r.elector.(initialElection); ok {
		// As Confluent's registry, serve once the first election has
		// ended, so that a write sent as soon as the API answers finds a
		// writer; past InitTimeout, serve reads anyway.
		t := time.NewTimer(r.cfg.InitTimeout)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-n.Elected():
		case <-t.C:
			r.logger.Warn("no writer election completed; serving reads, writes answer 50004 until one does", "group", r.cfg.GroupID, "waited", r.cfg.InitTimeout)
		}
		t.Stop()
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(r.logger.Handler(), slog.LevelInfo)}
	if r.tls != nil {
		ln = tls.NewListener(ln, r.tls)
	}
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	})
	close(r.ready)
	r.logger.Info("schema registry serving", "addr", ln.Addr().String(), "topic", r.cfg.Topic, "group", r.cfg.GroupID)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = srv.Shutdown(shutdownCtx)
	return runErr
}

// initialSync reads the log to its end before the registry serves,
// retrying with backoff while the cluster cannot answer (a broker that
// has just started, a partition without a leader yet). It fails only
// when ctx ends.
func (r *Registry) initialSync(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := r.syncToEnd(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		r.logger.Warn("reading the schemas topic to its end; retrying", "topic", r.cfg.Topic, "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// syncToEnd waits until the state has applied every record the log held
// when it was called.
func (r *Registry) syncToEnd(ctx context.Context) error {
	end, err := r.log.EndOffset(ctx)
	if err != nil {
		return err
	}
	return r.waitApplied(ctx, end)
}

// waitApplied waits until the state's next offset reaches next.
func (r *Registry) waitApplied(ctx context.Context, next int64) error {
	for {
		at, changed := r.state.applied()
		if at >= next {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
