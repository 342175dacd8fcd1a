package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skein-streaming/skein/broker"
	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/protocol"
)

// quorumSetup is what process.roles and the controller.* settings make
// of a node: its roles, its controller listener (the metadata quorum's
// raft transport and controller RPC) and how it finds the quorum.
type quorumSetup struct {
	roles     config.Roles
	nodeID    int32
	dataDir   string
	listener  protocol.ListenerConfig
	advertise string // host:port, "" for the bound address
	voters    []broker.QuorumVoter
	bootstrap []string
	// serverTLS and clientTLS secure the controller listener and
	// connections to other members when it is an SSL listener.
	serverTLS, clientTLS *tls.Config
	electionTicks        int
}

// raftTick is the metadata quorum's raft tick; election timeouts are
// whole numbers of ticks.
const raftTick = 100 * time.Millisecond

// quorumFromSettings returns the quorum setup of a node with process.roles,
// nil for a single combined node (process.roles unset). It removes the
// controller listeners from cfg's listeners and advertised listeners: the
// broker does not serve the Kafka protocol on them. The settings were
// validated (config.ValidateBroker checks the combinations).
func quorumFromSettings(values map[string]string, cfg *broker.Config) (*quorumSetup, error) {
	roles := config.ParseRoles(values[config.ProcessRoles])
	if !roles.KRaft() {
		return nil, nil
	}
	q := &quorumSetup{roles: roles, nodeID: cfg.NodeID, dataDir: cfg.DataDir}
	var ctrlNames []string
	for _, n := range strings.Split(values[config.ControllerListenerNames], ",") {
		if n = strings.ToUpper(strings.TrimSpace(n)); n != "" {
			ctrlNames = append(ctrlNames, n)
		}
	}
	var brokerListeners []protocol.ListenerConfig
	found := false
	for _, l := range cfg.Listeners {
		if !slices.Contains(ctrlNames, l.Name) {
			brokerListeners = append(brokerListeners, l)
			continue
		}
		if !found {
			q.listener, found = l, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: none of %v is in listeners", config.ControllerListenerNames, ctrlNames)
	}
	cfg.Listeners = brokerListeners
	var adv []broker.Advertised
	for _, a := range cfg.Advertised {
		if a.Name == q.listener.Name {
			q.advertise = net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port)))
			continue
		}
		if !slices.Contains(ctrlNames, a.Name) {
			adv = append(adv, a)
		}
	}
	cfg.Advertised = adv
	voters, err := config.ParseQuorumVoters(values[config.ControllerQuorumVoters])
	if err != nil {
		return nil, err
	}
	for _, v := range voters {
		q.voters = append(q.voters, broker.QuorumVoter{ID: v.ID, Addr: v.Addr()})
	}
	if q.bootstrap, err = config.ParseBootstrapServers(values[config.ControllerQuorumBootstrapServers]); err != nil {
		return nil, err
	}
	ms := int64(1000)
	if v := values["controller.quorum.election.timeout.ms"]; v != "" {
		if ms, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, fmt.Errorf("controller.quorum.election.timeout.ms: %w", err)
		}
	}
	q.electionTicks = max(int(time.Duration(ms)*time.Millisecond/raftTick), 2)
	switch q.listener.SecurityProtocol {
	case "PLAINTEXT":
	case "SSL":
		if q.serverTLS, q.clientTLS, err = controllerTLS(values, q.listener.Name); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("controller listener %s uses %s: the metadata quorum's listener supports PLAINTEXT and SSL (mutual TLS with ssl.client.auth=required)", q.listener.Name, q.listener.SecurityProtocol)
	}
	return q, nil
}

// controllerTLS builds the TLS of an SSL controller listener from its
// ssl.* settings (listener.name.<name>.ssl.* first): the server side, and
// the client side other members are reached with, which presents the same
// certificate and trusts the same CAs.
func controllerTLS(values map[string]string, listener string) (server, client *tls.Config, err error) {
	get := func(name string) string {
		v, _ := config.ListenerValue(values, listener, name)
		return v
	}
	for _, unsupported := range []string{config.SSLKeystorePassword, config.SSLKeyPassword} {
		if get(unsupported) != "" {
			return nil, nil, fmt.Errorf("listener %s: %s is set, but Skein reads unencrypted PEM keys only", listener, unsupported)
		}
	}
	var chain, key []byte
	if loc := get(config.SSLKeystoreLocation); loc != "" {
		data, err := os.ReadFile(loc)
		if err != nil {
			return nil, nil, fmt.Errorf("listener %s: ssl.keystore.location: %w", listener, err)
		}
		chain, key = data, data
	} else {
		chain, key = []byte(get(config.SSLKeystoreCertificateChain)), []byte(get(config.SSLKeystoreKey))
	}
	cert, err := tls.X509KeyPair(chain, key)
	if err != nil {
		return nil, nil, fmt.Errorf("listener %s: keystore: %w", listener, err)
	}
	var caPEM []byte
	if loc := get(config.SSLTruststoreLocation); loc != "" {
		if caPEM, err = os.ReadFile(loc); err != nil {
			return nil, nil, fmt.Errorf("listener %s: ssl.truststore.location: %w", listener, err)
		}
	} else {
		caPEM = []byte(get(config.SSLTruststoreCertificates))
	}
	var pool *x509.CertPool
	if len(caPEM) > 0 {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, nil, fmt.Errorf("listener %s: truststore: no PEM certificate found", listener)
		}
	}
	server = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientCAs: pool}
	switch get(config.SSLClientAuth) {
	case "", "none":
	case "requested":
		server.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		server.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, nil, fmt.Errorf("listener %s: ssl.client.auth: %q is not one of required, requested, none", listener, get(config.SSLClientAuth))
	}
	client = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool}
	return server, client, nil
}

// open binds the controller listener and starts this node's member of the
// metadata quorum; it returns once the member is caught up (waiting for a
// leader while ctx allows). A node with the controller role also gets its
// controller, not started.
func (q *quorumSetup) open(ctx context.Context, values map[string]string, logger *slog.Logger) (*broker.RaftStore, *broker.Controller, error) {
	mux, err := broker.ListenController(q.listener.Addr, q.serverTLS, logger)
	if err != nil {
		return nil, nil, err
	}
	advertise := q.advertise
	if advertise == "" {
		advertise = advertisedAddr(q.listener.Addr, mux.Addr())
	}
	logger.Info("controller listener bound", "listener", q.listener.Name, "addr", mux.Addr().String(), "advertised", advertise)
	store, err := broker.OpenRaftStore(ctx, broker.RaftStoreConfig{
		NodeID:        q.nodeID,
		Dir:           filepath.Join(q.dataDir, "__cluster_metadata"),
		Listener:      mux,
		AdvertiseAddr: advertise,
		TLS:           q.clientTLS,
		Voters:        q.voters,
		Bootstrap:     q.bootstrap,
		TickInterval:  raftTick,
		ElectionTicks: q.electionTicks,
		Logger:        logger,
	})
	if err != nil {
		mux.Close()
		return nil, nil, err
	}
	if !q.roles.Controller {
		return store, nil, nil
	}
	ctrl, err := broker.NewController(broker.ControllerConfig{Store: store, Settings: values, Logger: logger})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, ctrl, nil
}

// advertisedAddr is the address other members reach a listener at: its
// configured host (the machine's host name when it binds every
// interface) and its bound port.
func advertisedAddr(configured string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(configured)
	_, port, _ := net.SplitHostPort(bound.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "localhost"
		}
	}
	return net.JoinHostPort(host, port)
}

// runControllerOnly runs a node with process.roles=controller: a member of
// the metadata quorum and its controller, without Kafka listeners.
func runControllerOnly(ctx context.Context, q *quorumSetup, values map[string]string, logger *slog.Logger) error {
	if err := os.MkdirAll(q.dataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	start := time.Now()
	store, ctrl, err := q.open(ctx, values, logger)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	ctrl.Start()
	logger.Info("skein controller started", "node_id", q.nodeID, "data_dir", q.dataDir, "took", time.Since(start).Round(time.Millisecond))
	select {
	case <-ctx.Done():
	case <-store.Node().Removed():
		logger.Warn("this node was removed from the metadata quorum; stopping")
	}
	logger.Info("shutting down")
	ctrl.Close()
	return store.Close()
}
