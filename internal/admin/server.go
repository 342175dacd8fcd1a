package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultAddr is the default address of the admin server: loopback only,
// on the port Redpanda uses for its admin API.
const DefaultAddr = "127.0.0.1:9644"

// Config configures a Server.
type Config struct {
	// Addr is host:port to bind; port 0 picks a free port.
	Addr string
	// Gatherer is served on /metrics.
	Gatherer prometheus.Gatherer
	// Ready reports readiness for /readyz: nil when ready, the reason
	// otherwise. Nil means always ready.
	Ready func() error
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Server is the admin HTTP server. New starts nothing; Start binds and
// serves; Close stops.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	done   chan struct{}
	closed atomic.Bool
}

// New returns a server that is not yet listening.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "admin"), done: make(chan struct{})}
	s.srv = &http.Server{
		Handler: s.Handler(),
		// No write timeout: /debug/pprof/profile and /trace stream for
		// as long as the caller asks.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s
}

// Handler returns the server's routes: /metrics, /healthz, /readyz and
// /debug/pprof/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// Start binds the address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("admin server on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.log.Info("listening", "addr", ln.Addr().String())
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

// Addr returns the bound address (useful with port 0). It is nil before
// Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops the server, giving in-flight requests a moment to finish. It
// is idempotent.
func (s *Server) Close() error {
	if !s.closed.CompareAndSwap(false, true) || s.ln == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	<-s.done
	return err
}
