// Package cluster holds the process-level cluster tests: three or more
// `skein serve` processes forming one cluster, driven with real clients
// while nodes are killed, restarted, paused and cut off from each other.
// The harness is package clustertest; docs/cluster.md ("Testing the
// cluster") lists the tests and what each proves.
package cluster
