package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/spf13/cobra"

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
	notEligible   bool
	logLevel      string
}

func newRegistryCmd() *cobra.Command {
	var o registryOptions
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Run a schema registry (Confluent Schema Registry REST API) against a cluster",
		Long: "Run a schema registry that serves the Confluent Schema Registry REST API, keeping\n" +
			"every schema in the compacted topic --topic of the cluster at --bootstrap.\n" +
			"Several instances may share a topic; one of them, elected in the group\n" +
			"--group-id, accepts writes and the others forward writes to it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRegistry(cmd, o)
		},
	}
	f := cmd.Flags()
	o.client.register(f)
	f.StringVar(&o.listen, "listen", schemaregistry.DefaultListen, "host:port to serve the REST API on")
	f.StringVar(&o.advertisedURL, "advertised-url", "", "URL other instances forward writes to (default http://<listen address>)")
	f.StringVar(&o.topic, "topic", schemaregistry.DefaultTopic, "compacted topic holding the schemas (kafkastore.topic)")
	f.StringVar(&o.groupID, "group-id", schemaregistry.DefaultGroupID, "group the instances elect their writer in (schema.registry.group.id)")
	f.BoolVar(&o.notEligible, "not-eligible", false, "never become the writer; forward every write (leader.eligibility=false)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

func runRegistry(cmd *cobra.Command, o registryOptions) error {
	seeds, err := o.client.seeds()
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	reg, err := schemaregistry.New(schemaregistry.Config{
		Bootstrap:     seeds,
		Listen:        o.listen,
		AdvertisedURL: o.advertisedURL,
		Topic:         o.topic,
		GroupID:       o.groupID,
		NotEligible:   o.notEligible,
		Logger:        slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	return reg.Run(cmd.Context())
}

// embeddedRegistry is the schema registry that skein serve runs beside
// its broker.
type embeddedRegistry struct {
	reg  *schemaregistry.Registry
	url  string
	done chan error
}

// startEmbeddedRegistry starts the schema registry on
// skein.registry.address (default schemaregistry.DefaultListen), connected
// to the broker's own first listener, once the broker has started. An
// empty address turns it off. A configured address that cannot be bound
// is an error; the default one only earns a warning. The registry stops
// when ctx ends; wait waits for that.
func startEmbeddedRegistry(ctx context.Context, values map[string]string, b *broker.Broker, logger *slog.Logger) (*embeddedRegistry, error) {
	addr, configured := values[config.RegistryAddress]
	if !configured {
		addr = schemaregistry.DefaultListen
	}
	if addr == "" || len(b.Addrs()) == 0 {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if !configured {
			logger.Warn("schema registry not started; set "+config.RegistryAddress+" to serve it", "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", config.RegistryAddress, err)
	}
	reg, err := schemaregistry.New(schemaregistry.Config{
		Bootstrap: []string{dialable(b.Addrs()[0])},
		Listener:  ln,
		Logger:    logger.With("component", "schema-registry"),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	e := &embeddedRegistry{reg: reg, url: "http://" + ln.Addr().String(), done: make(chan error, 1)}
	go func() {
		err := reg.Run(ctx)
		if err != nil {
			logger.Error("schema registry stopped", "err", err)
		}
		e.done <- err
	}()
	return e, nil
}

// wait waits until the registry has stopped; nil-safe.
func (e *embeddedRegistry) wait() {
	if e != nil {
		<-e.done
	}
}

// dialable turns a bound listener address into one to connect to: an
// unspecified host (0.0.0.0, ::) becomes loopback.
func dialable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if strings.Contains(host, ":") {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}
