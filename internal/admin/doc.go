// Package admin serves the operator HTTP endpoints of a Skein process:
// Prometheus metrics on /metrics, liveness on /healthz, readiness on
// /readyz and the Go profiler on /debug/pprof/. It runs on its own port,
// apart from the Kafka listeners, so that scrapers and probes never
// compete with clients for the protocol's connection limits.
package admin
