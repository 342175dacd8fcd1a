package cluster

import (
	"testing"
	"time"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

const (
	rollingTopic      = "rolling"
	rollingPartitions = 3
)

// TestRollingRestart restarts each of three nodes in turn (SIGTERM, wait
// for a clean exit, start, wait until it is back in the ISR of every
// partition, __consumer_offsets included) while franz-go idempotent
// producers at acks=all write and two consumers in one group read and
// commit. Clients retry through leader and coordinator moves on their
// own: no error may reach the application (no failed produce, no fetch or
// commit error), and every acknowledged record must arrive at the group
// and be in the log exactly once (VerifyTopic). The same scenario with the
// Java client is TestClusterRollingRestartJava in test/compat.
func TestRollingRestart(t *testing.T) {
	longTest(t)
	c := startCluster(t, clustertest.Options{Nodes: 3})
	clustertest.CreateTopic(c, rollingTopic, rollingPartitions, 3, map[string]string{"min.insync.replicas": "2"})
	ledger := clustertest.NewLedger(rollingTopic, rollingPartitions, "rolling")
	prods := clustertest.StartProducers(c, ledger, 1, 2, 10*time.Millisecond)
	group := clustertest.StartGroupConsumers(c, ledger, "rolling-group", 2)
	waitAcks(t, c, ledger, time.Now().Add(-time.Hour), 50, time.Minute)
	// The group's offsets partitions exist once the group committed.
	c.WaitFullISR(time.Minute, clustertest.ConsumerOffsetsTopic, clustertest.OffsetsTopicPartitions)

	took := clustertest.RollingRestart(c, map[string]int32{
		rollingTopic:                     rollingPartitions,
		clustertest.ConsumerOffsetsTopic: clustertest.OffsetsTopicPartitions,
	})
	t.Logf("rolling restart: per node %s", clustertest.Stats(took))
	waitAcks(t, c, ledger, time.Now(), 50, time.Minute)

	prods.Stop(time.Minute)
	produced, acked, failed, pending := ledger.Counts()
	t.Logf("produced %d records: %d acknowledged, %d failed, %d pending; failures: %s", produced, acked, failed, pending, ledger.Errors())
	if failed+pending != 0 {
		t.Errorf("%d records failed and %d are pending: a rolling restart must not surface produce errors (%s)", failed, pending, ledger.Errors())
	}
	if n := prods.DataLoss.Load(); n > 0 {
		t.Errorf("the producers detected data loss %d times: %v", n, prods.DataLossLog())
	}
	group.WaitConsumed(c, 2*time.Minute)
	group.Stop()
	for _, e := range group.RetriedCommits() {
		t.Logf("consumer group: retried a commit: %s", e)
	}
	for _, e := range group.Errors() {
		t.Errorf("consumer group: %s", e)
	}
	clustertest.VerifyTopic(c, ledger, clustertest.VerifyOptions{})
}
