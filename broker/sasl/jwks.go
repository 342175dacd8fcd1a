package sasl

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxJWKSBytes bounds a JWKS document, read from a file or fetched.
const MaxJWKSBytes = 1 << 20

// minRSABits is the smallest RSA key accepted, as jose4j (which Kafka
// validates with) requires for every JOSE RSA algorithm.
const minRSABits = 2048

// ParseJWKS parses a JSON Web Key Set (RFC 7517 section 5) and returns its
// public signature keys. Like jose4j's JsonWebKeySet, a key that cannot be
// used (unknown type, symmetric, an encryption key, an RSA key under 2048
// bits) is skipped rather than failing the whole set; skipped says why.
// An error means the document itself is not a JWKS.
func ParseJWKS(data []byte) (keys []jose.JSONWebKey, skipped []error, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`not a JWKS document: no "keys" array`)
	}
	for i, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		if k.Use == "enc" {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): an encryption key", i, k.KeyID))
			continue
		}
		pub := k.Public()
		if !pub.Valid() {
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): not an asymmetric signature key", i, k.KeyID))
			continue
		}
		switch pk := pub.Key.(type) {
		case *rsa.PublicKey:
			if n := pk.N.BitLen(); n < minRSABits {
				skipped = append(skipped, fmt.Errorf("key %d (kid %q): RSA key of %d bits; %d or more are required", i, k.KeyID, n, minRSABits))
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			skipped = append(skipped, fmt.Errorf("key %d (kid %q): unsupported key type %T", i, k.KeyID, pub.Key))
			continue
		}
		keys = append(keys, pub)
	}
	return keys, skipped, nil
}

// selectKeys returns the keys with key ID kid, or all keys when kid is
// empty.
func selectKeys(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return keys
	}
	var out []jose.JSONWebKey
	for _, k := range keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// FileKeys is a KeyResolver over a JWKS file (a file: URL for
// sasl.oauthbearer.jwks.endpoint.url). The file is read again when it
// changes (size, modification time or, after a rename over it, identity),
// as Kafka's CachedFile does, and when a token names a key ID it does not
// hold (at most once a second), so that a key added in place is seen. A
// file that cannot be read or parsed keeps the previous keys in use.
type FileKeys struct {
	path string
	log  *slog.Logger

	mu       sync.Mutex
	info     os.FileInfo
	data     []byte
	keys     []jose.JSONWebKey
	lastMiss time.Time
}

// missReadInterval bounds the reads of a JWKS file caused by unknown key
// IDs.
const missReadInterval = time.Second

// NewFileKeys reads the JWKS file at path; it must hold at least one
// usable key.
func NewFileKeys(path string, log *slog.Logger) (*FileKeys, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FileKeys{path: path, log: log}
	info, data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	keys, skipped, err := ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("JWKS file %s: %w", path, err)
	}
	for _, s := range skipped {
		log.Warn("JWKS key skipped", "file", path, "reason", s)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS file %s holds no usable signature verification key", path)
	}
	f.info, f.data, f.keys = info, data, keys
	return f, nil
}

func readLimited(path string) (os.FileInfo, []byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(fh, MaxJWKSBytes+1))
	if err != nil {
		return nil, nil, err
	}
	if len(data) > MaxJWKSBytes {
		return nil, nil, fmt.Errorf("JWKS file %s is larger than %d bytes", path, MaxJWKSBytes)
	}
	return info, data, nil
}

// Keys returns the file's keys with key ID kid (all keys for an empty
// kid), reading the file again first when it changed.
func (f *FileKeys) Keys(kid string) []jose.JSONWebKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	if info, err := os.Stat(f.path); err != nil {
		f.log.Warn("JWKS file unreadable; keeping the keys last read", "file", f.path, "err", err)
	} else if info.Size() != f.info.Size() || !info.ModTime().Equal(f.info.ModTime()) || !os.SameFile(info, f.info) {
		f.reload()
	}
	out := selectKeys(f.keys, kid)
	if len(out) == 0 && kid != "" {
		if now := time.Now(); now.Sub(f.lastMiss) >= missReadInterval {
			f.lastMiss = now
			f.reload()
			out = selectKeys(f.keys, kid)
		}
	}
	return out
}

// reload reads and parses the file; f.mu is held.
func (f *FileKeys) reload() {
	info, data, err := readLimited(f.path)
	if err != nil {
		f.log.Warn("JWKS file unreadable; keeping the keys last read", "file", f.path, "err", err)
		return
	}
	if bytes.Equal(data, f.data) {
		f.info = info
		return
	}
	keys, skipped, err := ParseJWKS(data)
	if err != nil {
		// Perhaps caught mid-write: keep the old keys, and read again
		// at the next change.
		f.log.Warn("JWKS file invalid; keeping the keys last read", "file", f.path, "err", err)
		return
	}
	for _, s := range skipped {
		f.log.Warn("JWKS key skipped", "file", f.path, "reason", s)
	}
	f.info, f.data, f.keys = info, data, keys
	f.log.Info("JWKS file reloaded", "file", f.path, "keys", len(keys))
}

// HTTPKeysConfig configures an HTTPKeys.
type HTTPKeysConfig struct {
	// URL is the JWKS endpoint (http or https).
	URL string
	// Refresh is sasl.oauthbearer.jwks.endpoint.refresh.ms.
	Refresh time.Duration
	// RetryBackoff and RetryBackoffMax are
	// sasl.oauthbearer.jwks.endpoint.retry.backoff.ms and .max.ms: a
	// failed fetch is retried after RetryBackoff, doubling, until
	// RetryBackoffMax has passed since the first attempt.
	RetryBackoff, RetryBackoffMax time.Duration
	// Timeout bounds one fetch (connect, TLS, response).
	Timeout time.Duration
	// TLS, when set, is the client TLS configuration for https (for
	// example a private CA); the system roots otherwise.
	TLS *tls.Config
	Log *slog.Logger
}

// HTTPKeys is a KeyResolver over a JWKS endpoint, as Kafka's
// RefreshingHttpsJwks: the keys are fetched at Start, then again every
// Refresh and, sooner, when a token names a key ID that is not known (at
// most once a minute per key ID). Authentication never waits for the
// network: it uses the keys last fetched. A failed refresh keeps them.
type HTTPKeys struct {
	cfg    HTTPKeysConfig
	client *http.Client
	wake   chan struct{}

	mu      sync.RWMutex
	keys    []jose.JSONWebKey
	missing map[string]time.Time
}

// Kafka's RefreshingHttpsJwks bounds on expedited refreshes.
const (
	missingKeyIDMaxEntries = 16
	missingKeyIDInterval   = time.Minute
	missingKeyIDMaxLength  = 1000
)

// NewHTTPKeys returns an HTTPKeys that has fetched nothing yet.
func NewHTTPKeys(cfg HTTPKeysConfig) (*HTTPKeys, error) {
	if cfg.Refresh <= 0 {
		return nil, fmt.Errorf("JWKS refresh interval %v must be positive", cfg.Refresh)
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.RetryBackoffMax < 0 {
		cfg.RetryBackoffMax = 0
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg.TLS
	return &HTTPKeys{
		cfg: cfg,
		client: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A JWKS endpoint that redirects is followed only to
			// another https URL, or http from http.
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
					return errors.New("redirect from https to " + req.URL.Scheme)
				}
				return nil
			},
		},
		wake:    make(chan struct{}, 1),
		missing: map[string]time.Time{},
	}, nil
}

// Start fetches the keys, retrying with backoff; it fails when no fetch
// succeeds within the retry budget or the endpoint serves no usable key.
func (h *HTTPKeys) Start(ctx context.Context) error {
	keys, err := h.fetchRetrying(ctx)
	if err != nil {
		return fmt.Errorf("could not fetch the JWKS from %s: %w", h.cfg.URL, err)
	}
	if len(keys) == 0 {
		return fmt.Errorf("the JWKS at %s holds no usable signature verification key", h.cfg.URL)
	}
	h.mu.Lock()
	h.keys = keys
	h.mu.Unlock()
	return nil
}

// Run refreshes the keys until ctx ends.
func (h *HTTPKeys) Run(ctx context.Context) {
	t := time.NewTimer(h.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		h.refresh(ctx)
		t.Reset(h.cfg.Refresh)
	}
}

// refresh fetches the keys and, on success, replaces them.
func (h *HTTPKeys) refresh(ctx context.Context) {
	keys, err := h.fetchRetrying(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.cfg.Log.Warn("JWKS refresh failed; keeping the keys last fetched", "url", h.cfg.URL, "err", err)
		}
		return
	}
	h.mu.Lock()
	h.keys = keys
	for _, k := range keys {
		delete(h.missing, k.KeyID)
	}
	h.mu.Unlock()
	h.cfg.Log.Debug("JWKS refreshed", "url", h.cfg.URL, "keys", len(keys))
}

// fetchRetrying fetches with Kafka's Retry: waits of RetryBackoff,
// doubling, while less than RetryBackoffMax has passed.
func (h *HTTPKeys) fetchRetrying(ctx context.Context) ([]jose.JSONWebKey, error) {
	end := time.Now().Add(h.cfg.RetryBackoffMax)
	wait := h.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		keys, err := h.fetch(ctx)
		if err == nil {
			return keys, nil
		}
		left := time.Until(end)
		if left <= 0 || ctx.Err() != nil {
			return nil, fmt.Errorf("attempt %d: %w", attempt, err)
		}
		h.cfg.Log.Debug("JWKS fetch failed; retrying", "url", h.cfg.URL, "attempt", attempt, "err", err)
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

// fetch gets and parses the JWKS once.
func (h *HTTPKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", MaxJWKSBytes)
	}
	keys, skipped, err := ParseJWKS(data)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		h.cfg.Log.Warn("JWKS key skipped", "url", h.cfg.URL, "reason", s)
	}
	return keys, nil
}

// Keys returns the keys last fetched with key ID kid (all for an empty
// kid). An unknown key ID asks for an early refresh; the token at hand is
// still refused.
func (h *HTTPKeys) Keys(kid string) []jose.JSONWebKey {
	h.mu.RLock()
	out := selectKeys(h.keys, kid)
	h.mu.RUnlock()
	if len(out) == 0 && kid != "" && len(kid) <= missingKeyIDMaxLength {
		h.maybeExpedite(kid)
	}
	return out
}

func (h *HTTPKeys) maybeExpedite(kid string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if next, ok := h.missing[kid]; ok && now.Before(next) {
		return
	}
	if len(h.missing) >= missingKeyIDMaxEntries {
		// Drop the entry due soonest, as Kafka's LRU map drops its
		// eldest.
		var oldest string
		for k, t := range h.missing {
			if oldest == "" || t.Before(h.missing[oldest]) {
				oldest = k
			}
		}
		delete(h.missing, oldest)
	}
	h.missing[kid] = now.Add(missingKeyIDInterval)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}
