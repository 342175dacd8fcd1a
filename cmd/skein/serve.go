package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/internal/admin"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// Zero-config defaults of skein serve: a single node on loopback with its
// data in the working directory.
const (
	defaultListeners = "PLAINTEXT://127.0.0.1:9092"
	defaultDataDir   = "./skein-data"
)

type serveOptions struct {
	configFile  string
	sets        []string
	dataDir     string
	listeners   string
	advertised  string
	logLevel    string
	checkConfig bool
	adminAddr   string
}

func newServeCmd() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Skein broker",
		Long: "Run a Skein broker. Every broker setting is read by its Kafka name, from a\n" +
			"server.properties file (--config) and from --set name=value (which wins);\n" +
			"--data-dir and --listeners are shortcuts for log.dirs and listeners.\n" +
			"Unknown names and bad values are rejected at start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configFile, "config", "", "server.properties file with broker settings by their Kafka names")
	f.StringArrayVar(&o.sets, "set", nil, "a broker setting as name=value (repeatable; wins over --config)")
	f.StringVar(&o.dataDir, "data-dir", "", "data directory (log.dirs; default "+defaultDataDir+")")
	f.StringVar(&o.listeners, "listeners", "", "listeners, e.g. PLAINTEXT://127.0.0.1:9092 (default "+defaultListeners+")")
	f.StringVar(&o.advertised, "advertised-listeners", "", "advertised.listeners (default: the bound listeners)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.BoolVar(&o.checkConfig, "check-config", false, "validate the configuration and exit")
	f.StringVar(&o.adminAddr, "admin-addr", "", "address of the HTTP server for /metrics, /healthz, /readyz and /debug/pprof/ (skein.admin.address; default "+admin.DefaultAddr+"; --set skein.admin.address= turns it off)")
	return cmd
}

// serveSettings merges the broker settings: defaults < --config file <
// --set < the dedicated flags.
func serveSettings(o serveOptions) (map[string]string, error) {
	values := map[string]string{}
	if o.configFile != "" {
		f, err := os.Open(o.configFile)
		if err != nil {
			return nil, err
		}
		fileValues, err := config.LoadBroker(f, o.configFile)
		f.Close()
		if err != nil {
			return nil, err
		}
		for k, v := range fileValues {
			values[k] = v
		}
	}
	for _, s := range o.sets {
		k, v, err := config.ParseSet(s)
		if err != nil {
			return nil, err
		}
		values[k] = v
	}
	if o.dataDir != "" {
		values["log.dirs"] = o.dataDir
	}
	if o.listeners != "" {
		values["listeners"] = o.listeners
	}
	if o.advertised != "" {
		values["advertised.listeners"] = o.advertised
	}
	if o.adminAddr != "" {
		values[config.AdminAddress] = o.adminAddr
	}
	if values["log.dirs"] == "" && values["log.dir"] == "" {
		values["log.dirs"] = defaultDataDir
	}
	if values["listeners"] == "" {
		values["listeners"] = defaultListeners
	}
	if err := config.ValidateBroker(values); err != nil {
		return nil, err
	}
	return values, nil
}

func runServe(ctx context.Context, cmd *cobra.Command, o serveOptions) error {
	values, err := serveSettings(o)
	if err != nil {
		return err
	}
	bcfg, err := brokerConfig(values)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	bcfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	q, err := quorumFromSettings(values, &bcfg)
	if err != nil {
		return err
	}
	if q != nil && !q.roles.Broker {
		if o.checkConfig {
			fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
			return nil
		}
		return runControllerOnly(ctx, q, values, bcfg.Logger)
	}
	// New checks what the settings alone cannot (listener TLS files,
	// SASL mechanisms and users) and starts nothing, so --check-config
	// runs it too.
	b, err := broker.New(bcfg)
	if err != nil {
		return err
	}
	if o.checkConfig {
		fmt.Fprintln(cmd.OutOrStdout(), "configuration is valid")
		return nil
	}
	if q != nil {
		// A node of a configured quorum joins it before the broker
		// starts: the broker starts from the quorum's metadata.
		store, ctrl, err := q.open(ctx, values, bcfg.Logger)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if ctrl != nil {
			ctrl.Start()
		}
		bcfg.Metadata, bcfg.Controller = store, ctrl
		if b, err = broker.New(bcfg); err != nil {
			if ctrl != nil {
				ctrl.Close()
			}
			store.Close()
			return err
		}
	}
	adm, err := startAdmin(values, b, bcfg.Logger)
	if err != nil {
		return err
	}
	if adm != nil {
		defer adm.Close()
	}
	start := time.Now()
	if err := b.Start(); err != nil {
		return err
	}
	addrs := make([]string, 0)
	for _, a := range b.Addrs() {
		addrs = append(addrs, a.String())
	}
	bcfg.Logger.Info("skein started", "listeners", strings.Join(addrs, ","), "data_dir", bcfg.DataDir, "took", time.Since(start).Round(time.Millisecond))
	expectedBrokers := 0
	if q != nil && q.roles.Broker && q.roles.Controller {
		expectedBrokers = len(q.voters)
	}
	reg, err := startEmbeddedRegistry(ctx, values, b, bcfg.Advertised, expectedBrokers, bcfg.Logger)
	if err != nil {
		b.Close()
		return err
	}
	var removed <-chan struct{}
	if store, ok := bcfg.Metadata.(*broker.RaftStore); ok {
		removed = store.Node().Removed()
	}
	select {
	case <-ctx.Done():
	case <-removed:
		// Without its member of the metadata quorum the broker cannot
		// follow the cluster any more.
		bcfg.Logger.Warn("this node was removed from the metadata quorum; stopping")
	}
	bcfg.Logger.Info("shutting down")
	reg.wait()
	return b.Close()
}

// startAdmin starts the operator HTTP server on skein.admin.address
// before the broker starts, so that /healthz answers and /readyz reports
// 503 while logs recover. An empty address turns it off. A configured
// address that cannot be bound is an error; the default one only earns a
// warning, so that several brokers can run on one host without
// configuring it.
func startAdmin(values map[string]string, b *broker.Broker, logger *slog.Logger) (*admin.Server, error) {
	addr, configured := values[config.AdminAddress]
	if !configured {
		addr = admin.DefaultAddr
	}
	if addr == "" {
		return nil, nil
	}
	s := admin.New(admin.Config{Addr: addr, Gatherer: b.Metrics(), Ready: b.CheckReady, Logger: logger})
	if err := s.Start(); err != nil {
		if !configured {
			logger.Warn("admin server not started; set "+config.AdminAddress+" to serve metrics", "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", config.AdminAddress, err)
	}
	return s, nil
}

// brokerConfig turns validated settings into a broker.Config.
func brokerConfig(values map[string]string) (broker.Config, error) {
	var cfg broker.Config
	nodeID := values["node.id"]
	if nodeID == "" {
		nodeID = values["broker.id"]
	}
	if nodeID == "" {
		nodeID = "1"
	}
	id, err := strconv.ParseInt(nodeID, 10, 32)
	if err != nil || id < 0 {
		return cfg, fmt.Errorf("node.id: %q is not a valid node id", nodeID)
	}
	cfg.NodeID = int32(id)
	cfg.DataDir = values["log.dirs"]
	if cfg.DataDir == "" {
		cfg.DataDir = values["log.dir"]
	}
	if strings.Contains(cfg.DataDir, ",") {
		return cfg, fmt.Errorf("log.dirs: one data directory is supported, got %q", cfg.DataDir)
	}
	protoMap, err := config.EffectiveSecurityProtocolMap(values["listener.security.protocol.map"], values[config.ControllerListenerNames], values["listeners"])
	if err != nil {
		return cfg, err
	}
	listeners, err := parseListeners(values["listeners"], protoMap)
	if err != nil {
		return cfg, fmt.Errorf("listeners: %w", err)
	}
	// The TLS and SASL settings of SSL, SASL_PLAINTEXT and SASL_SSL
	// listeners are read and checked by broker.New.
	cfg.Listeners = listeners
	if adv := values["advertised.listeners"]; adv != "" {
		al, err := parseListeners(adv, protoMap)
		if err != nil {
			return cfg, fmt.Errorf("advertised.listeners: %w", err)
		}
		for _, a := range al {
			host, port, _ := net.SplitHostPort(a.Addr)
			p, _ := strconv.Atoi(port)
			cfg.Advertised = append(cfg.Advertised, broker.Advertised{Name: a.Name, Host: host, Port: int32(p)})
		}
	}
	cfg.Settings = values
	return cfg, nil
}

// parseListeners parses Kafka's NAME://host:port,NAME2://host:port form.
func parseListeners(s string, protoMap map[string]string) ([]protocol.ListenerConfig, error) {
	var out []protocol.ListenerConfig
	seen := map[string]bool{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		name, addr, ok := strings.Cut(item, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME://host:port", item)
		}
		name = strings.ToUpper(name)
		if seen[name] {
			return nil, fmt.Errorf("listener name %s appears twice", name)
		}
		seen[name] = true
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", item, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("%q: bad port %q", item, port)
		}
		proto, ok := protoMap[name]
		if !ok {
			return nil, fmt.Errorf("listener %s has no entry in listener.security.protocol.map", name)
		}
		out = append(out, protocol.ListenerConfig{Name: name, SecurityProtocol: proto, Addr: net.JoinHostPort(host, port)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no listener given")
	}
	return out, nil
}
