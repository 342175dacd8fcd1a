package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// defaultBootstrap is the broker list used when neither --bootstrap nor
	// SKEIN_BOOTSTRAP is set.
	defaultBootstrap = "127.0.0.1:9092"
	// bootstrapEnv names the environment variable that overrides
	// defaultBootstrap.
	bootstrapEnv = "SKEIN_BOOTSTRAP"
)

// clientFlags are the connection flags shared by every command that talks
// to a cluster.
type clientFlags struct {
	// bootstrap is a comma-separated list of host:port seed brokers.
	bootstrap string
	// commandConfig is --command-config: the client properties file with
	// the connection's security settings (clientconfig.go).
	commandConfig commandConfigFlag
}

// register adds the connection flags to fs. The default comes from
// SKEIN_BOOTSTRAP when it is set.
func (f *clientFlags) register(fs *pflag.FlagSet) {
	def := os.Getenv(bootstrapEnv)
	if def == "" {
		def = defaultBootstrap
	}
	fs.StringVar(&f.bootstrap, "bootstrap", def,
		"comma-separated host:port list of seed brokers (env "+bootstrapEnv+")")
	f.commandConfig.path = os.Getenv(commandConfigEnv)
	fs.Var(&f.commandConfig, "command-config",
		"client properties file with the connection's security settings: security.protocol, sasl.*, ssl.* (env "+commandConfigEnv+")")
}

// opts returns the seed brokers and the security options of
// --command-config, for building clients.
func (f *clientFlags) opts() ([]kgo.Opt, error) {
	seeds, err := f.seeds()
	if err != nil {
		return nil, err
	}
	// The root command's pre-run hook has loaded the file already and
	// reported its unused keys; this covers callers that run no hook.
	if err := f.commandConfig.load(os.Stderr); err != nil {
		return nil, err
	}
	return append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, f.commandConfig.opts...), nil
}

// seeds splits the bootstrap list, dropping empty entries.
func (f *clientFlags) seeds() ([]string, error) {
	var seeds []string
	for s := range strings.SplitSeq(f.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, errors.New("--bootstrap: no brokers given")
	}
	return seeds, nil
}

// newClient builds a kgo client for the seed brokers with opts appended.
func (f *clientFlags) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	base, err := f.opts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return cl, nil
}

// checkSecurity reports at once a connection that the broker refuses for
// its security (a failed SASL authentication, a TLS certificate either
// side rejects), which the idempotent producer would otherwise retry until
// its context ends, as Kafka's clients treat authentication failures as
// fatal. Other failures (a broker not reachable yet) are left to the
// client's retries. It does nothing without --command-config.
func (f *clientFlags) checkSecurity(ctx context.Context, cl *kgo.Client) error {
	if len(f.commandConfig.opts) == 0 {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, securityCheckTimeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil && isSecurityFailure(err) {
		return err
	}
	return nil
}

// securityCheckTimeout bounds checkSecurity.
const securityCheckTimeout = 15 * time.Second

// isSecurityFailure reports whether err is a refused SASL authentication
// or TLS handshake.
func isSecurityFailure(err error) bool {
	var (
		alert  tls.AlertError
		verify *tls.CertificateVerificationError
	)
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		errors.Is(err, kerr.IllegalSaslState) || errors.As(err, &alert) || errors.As(err, &verify)
}

// withBrokerMessage adds the broker's free-form error message, when it sent
// one, to a Kafka error. kerr errors already render as "NAME: description".
func withBrokerMessage(err error, msg string) error {
	if err == nil || msg == "" {
		return err
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && msg == ke.Description {
		return err
	}
	return fmt.Errorf("%w (broker: %s)", err, msg)
}
