// Package clustertest starts and drives multi-node Skein clusters as
// separate `skein serve` processes, for process-level cluster tests:
// writing each node's server.properties, starting, killing (SIGKILL),
// stopping (SIGTERM), pausing (SIGSTOP) and restarting nodes, finding
// partition and quorum leaders, cutting the network between chosen nodes
// with fault-injecting TCP proxies, running producer and consumer
// workloads that record every acknowledgement, and comparing the logs the
// replicas keep on disk.
//
// It is a test helper: it takes a testing.TB, fails the test on harness
// errors, and stops everything it started in t.Cleanup. It is shared by
// test/cluster and the real-client tests in test/compat.
package clustertest
