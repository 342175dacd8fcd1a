package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/schemaregistry"
)

type registryOptions struct {
	client        clientFlags
	listen        string
	advertisedURL string
	topic         string
	groupID       string
	topicRF       int16
	notEligible   bool
	logLevel      string
	// securityFile is --config: the REST API's listeners, ssl.* and
	// authentication.* settings, Confluent-style properties.
	securityFile string
}

func newRegistryCmd() *cobra.Command {
	var o registryOptions
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run a schema registry (Confluent Schema Registry REST API) against a cluster",
		Long: "Run a schema registry that serves the Confluent Schema Registry REST API, keeping\n" +
			"every schema in the compacted topic --topic of the cluster at --bootstrap.\n" +
			"--command-config gives the Kafka connection's security (security.protocol,\n" +
			"ssl.*, sasl.*, also with Confluent's kafkastore. prefix).\n" +
			"Several instances may share a topic; one of them, elected in the group\n" +
			"--group-id, accepts writes and the others forward writes to it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRegistry(cmd, o)
		},
	}
	f := cmd.Flags()
	o.client.register(f)
	// Confluent's registry names the Kafka client keys kafkastore.*.
	o.client.commandConfig.kafkastore = true
	f.StringVar(&o.listen, "listen", schemaregistry.DefaultListen, "host:port to serve the REST API on")
	f.StringVar(&o.advertisedURL, "advertised-url", "", "URL other instances forward writes to (default http:// or, with an https listener, https://<listen address>, the host name for 0.0.0.0)")
	f.StringVar(&o.topic, "topic", schemaregistry.DefaultTopic, "compacted topic holding the schemas (kafkastore.topic)")
	f.Int16Var(&o.topicRF, "topic-replication-factor", schemaregistry.DefaultTopicReplicationFactor, "desired replication factor of --topic when it is created, capped at the live brokers (kafkastore.topic.replication.factor)")
	f.StringVar(&o.groupID, "group-id", schemaregistry.DefaultGroupID, "group the instances elect their writer in (schema.registry.group.id)")
	f.BoolVar(&o.notEligible, "not-eligible", false, "never become the writer; forward every write (leader.eligibility=false)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.securityFile, "config", "", "properties file of the REST API's security, Confluent Schema Registry's names: listeners (http:// or https://host:port, instead of --listen), ssl.keystore.location, ssl.truststore.location (PEM), ssl.client.authentication, ssl.enabled.protocols, authentication.method=BASIC, authentication.realm, authentication.roles, authentication.users.file")
	return cmd
}

func runRegistry(cmd *cobra.Command, o registryOptions) error {
	seeds, err := o.client.seeds()
	if err != nil {
		return err
	}
	if err := o.client.commandConfig.load(cmd.ErrOrStderr()); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	sec, err := registrySecurityFile(o.securityFile)
	if err != nil {
		return err
	}
	listen := o.listen
	if sec.Listen != "" {
		if cmd.Flags().Changed("listen") {
			return fmt.Errorf("--config %s sets listeners; --listen must not be given too", o.securityFile)
		}
		listen = sec.Listen
	}
	reg, err := schemaregistry.New(schemaregistry.Config{
		TLS:                    sec.TLS,
		BasicAuth:              sec.BasicAuth,
		Bootstrap:              seeds,
		KafkaOpts:              o.client.commandConfig.opts,
		Listen:                 listen,
		AdvertisedURL:          o.advertisedURL,
		Topic:                  o.topic,
		TopicReplicationFactor: o.topicRF,
		GroupID:                o.groupID,
		NotEligible:            o.notEligible,
		Logger:                 slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	return reg.Run(cmd.Context())
}

// registrySecurityFile reads skein registry's --config file. Only the
// security settings are read from it; any other name is refused, so that
// a misspelt setting never leaves the registry less protected than meant.
func registrySecurityFile(path string) (schemaregistry.Security, error) {
	if path == "" {
		return schemaregistry.Security{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return schemaregistry.Security{}, fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	props, err := config.ParseProperties(f, path)
	if err != nil {
		return schemaregistry.Security{}, fmt.Errorf("--config: %w", err)
	}
	for k := range props {
		if !slices.Contains(schemaregistry.SecurityProps, k) {
			return schemaregistry.Security{}, fmt.Errorf("--config %s: %s is not read from this file; it takes %s (the other settings are flags)", path, k, strings.Join(schemaregistry.SecurityProps, ", "))
		}
	}
	sec, err := schemaregistry.ParseSecurity(props, "", "")
	if err != nil {
		return sec, fmt.Errorf("--config %s: %w", path, err)
	}
	return sec, nil
}

// embeddedRegistry is the schema registry that skein serve runs beside
// its broker.
type embeddedRegistry struct {
	reg  *schemaregistry.Registry
	url  string
	done chan error
}

// startEmbeddedRegistry starts the schema registry on
// skein.registry.address (default schemaregistry.DefaultListen), once the
// broker has started, connected to the broker's PLAINTEXT listener or,
// when it has none, to its inter-broker listener with the broker's own
// inter-broker identity (broker.SelfClient), a super user with an
// authorizer. An empty address turns it off. A configured address that
// cannot be bound, or that has no listener to connect on, is an error;
// the default one only earns a warning. The registry stops when ctx
// ends; wait waits for that.
//
// It advertises skein.registry.advertised.url (by default derived from
// the bound address and the broker's advertised listeners, see
// registryAdvertisedURL) to the other instances of the cluster, which
// share the _schemas topic and the writer election. On a node of a
// combined quorum (process.roles=broker,controller) it expects as many
// brokers as the quorum has voters, so the first node to start does not
// create _schemas with a single replica.
func startEmbeddedRegistry(ctx context.Context, values map[string]string, b *broker.Broker, advertised []broker.Advertised, expectedBrokers int, logger *slog.Logger) (*embeddedRegistry, error) {
	addr, configured := values[config.RegistryAddress]
	if !configured {
		addr = schemaregistry.DefaultListen
	}
	if addr == "" || len(b.Addrs()) == 0 {
		return nil, nil
	}
	rf, err := registryReplicationFactor(values)
	if err != nil {
		return nil, err
	}
	sec, err := registrySecurity(values, addr)
	if err != nil {
		return nil, err
	}
	self, err := b.SelfClient()
	if err != nil {
		if !configured {
			logger.Warn("schema registry not started: it has no listener to connect to the broker on; set "+config.RegistryAddress+"= to turn it off", "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("%s: the schema registry cannot connect to the broker: %w", config.RegistryAddress, err)
	}
	kafkaOpts, err := selfClientOpts(self)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", sec.Listen)
	if err != nil {
		if !configured {
			logger.Warn("schema registry not started; set "+config.RegistryAddress+" to serve it", "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", config.RegistryAddress, err)
	}
	url := values[config.RegistryAdvertisedURL]
	if url == "" {
		url = registryAdvertisedURL(ln.Addr(), advertised, values[config.InterBrokerListenerName])
		if sec.TLS != nil {
			url = "https://" + strings.TrimPrefix(url, "http://")
		}
	}
	reg, err := schemaregistry.New(schemaregistry.Config{
		Bootstrap:              []string{self.Addr},
		KafkaOpts:              kafkaOpts,
		Listener:               ln,
		AdvertisedURL:          url,
		TopicReplicationFactor: rf,
		ExpectedBrokers:        expectedBrokers,
		Logger:                 logger.With("component", "schema-registry"),
		TLS:                    sec.TLS,
		BasicAuth:              sec.BasicAuth,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	logger.Info("schema registry starting", "addr", ln.Addr().String(), "advertised_url", url, "kafka_listener", self.Listener)
	e := &embeddedRegistry{reg: reg, url: url, done: make(chan error, 1)}
	go func() {
		err := reg.Run(ctx)
		if err != nil {
			logger.Error("schema registry stopped", "err", err)
		}
		e.done <- err
	}()
	return e, nil
}

// registrySecurity reads the embedded registry's HTTPS and authentication
// settings, Confluent's names after skein.registry.; addr is
// skein.registry.address (or its default), whose https:// scheme is
// Confluent's listeners=https://.
func registrySecurity(values map[string]string, addr string) (schemaregistry.Security, error) {
	const prefix = "skein.registry."
	props := map[string]string{config.RegistryAddress: addr}
	for _, k := range schemaregistry.SecurityProps {
		if v, ok := values[prefix+k]; ok {
			props[prefix+k] = v
		}
	}
	sec, err := schemaregistry.ParseSecurity(props, prefix, config.RegistryAddress)
	if err != nil {
		return sec, fmt.Errorf("schema registry: %w", err)
	}
	if sec.Listen == "" {
		sec.Listen = addr
	}
	return sec, nil
}

// selfClientOpts are the kgo options of a client connecting as self
// describes.
func selfClientOpts(self broker.SelfClient) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if self.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(self.TLS))
	}
	if self.SASLMechanism != "" {
		mech, err := saslMechanism(self.SASLMechanism, self.Username, self.Password)
		if err != nil {
			return nil, fmt.Errorf("schema registry: listener %s: %w", self.Listener, err)
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// registryReplicationFactor reads skein.registry.topic.replication.factor.
func registryReplicationFactor(values map[string]string) (int16, error) {
	v, ok := values[config.RegistryTopicReplicationFactor]
	if !ok || v == "" {
		return schemaregistry.DefaultTopicReplicationFactor, nil
	}
	n, err := strconv.ParseInt(v, 10, 16)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: %q is not a replication factor", config.RegistryTopicReplicationFactor, v)
	}
	return int16(n), nil
}

// registryAdvertisedURL is the URL an embedded registry bound at bound
// advertises when skein.registry.advertised.url is unset: http:// and the
// bound address, whose unspecified host (0.0.0.0, ::) is replaced by the
// host of the broker's advertised listener (the inter-broker one when
// named, else the first), which the other nodes already reach it by, or
// else by the machine's host name, as Confluent's host.name defaults.
func registryAdvertisedURL(bound net.Addr, advertised []broker.Advertised, interBroker string) string {
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "http://" + bound.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = ""
		for _, a := range advertised {
			if a.Host != "" && (host == "" || strings.EqualFold(a.Name, interBroker)) {
				host = a.Host
			}
		}
		if host == "" {
			if h, err := os.Hostname(); err == nil && h != "" {
				host = h
			} else {
				host = "localhost"
			}
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}

// wait waits until the registry has stopped; nil-safe.
func (e *embeddedRegistry) wait() {
	if e != nil {
		<-e.done
	}
}
