package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

const (
	failoverTopic      = "failover"
	failoverPartitions = 3
)

// TestLeaderFailover is the cluster's acceptance test. Three nodes, a
// topic with three partitions, replication factor 3 and
// min.insync.replicas=2. Three idempotent franz-go producers at acks=all
// write sequenced records to every partition, and a tail consumer reads
// every partition from offset 0, while the test SIGKILLs, in turn, the
// leader of partition 0 and the metadata quorum's leader. A killed node
// is restarted once writes have gone on without it for a while, and the
// next fault waits for every replica to be back in the ISR, except that
// every third fault strikes while the cluster is still recovering: the
// previous victim has only just been started again and the new leader
// has only just appeared.
//
// Afterwards VerifyTopic checks that every acknowledged record is there
// exactly once, in order per producer per partition, through a consumer
// group and in every in-sync replica's segment files (byte-identical up
// to the high watermark), and that the tail consumer saw no gap and never
// read a record that was later truncated. The producers must not have
// detected data loss. The failover time, from the kill of partition 0's
// leader to the first acknowledgement of a record produced after the
// kill, is logged (min/median/max). Every fifth fault or so freezes the
// leader of partition 0 with SIGSTOP instead of killing it, and thaws it
// later: it comes back believing it leads and must give way and truncate.
//
// SKEIN_CLUSTER_FAULTS sets the number of faults (default 20, 4 with
// -short); SKEIN_CLUSTER_SEED replays a run's choices.
func TestLeaderFailover(t *testing.T) {
	defFaults := int64(20)
	if testing.Short() {
		defFaults = 4
	}
	faults := int(envInt(t, "SKEIN_CLUSTER_FAULTS", defFaults))
	seed := envInt(t, "SKEIN_CLUSTER_SEED", time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(uint64(seed), 0xc1a5))
	t.Logf("seed %d, %d faults", seed, faults)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with SKEIN_CLUSTER_SEED=%d SKEIN_CLUSTER_FAULTS=%d", seed, faults)
		}
	})

	c := startCluster(t, clustertest.Options{Nodes: 3})
	clustertest.CreateTopic(c, failoverTopic, failoverPartitions, 3, map[string]string{"min.insync.replicas": "2"})
	c.WaitFullISR(time.Minute, failoverTopic, failoverPartitions)

	ledger := clustertest.NewLedger(failoverTopic, failoverPartitions, "failover")
	tail := clustertest.StartTail(c, failoverTopic, failoverPartitions)
	prods := clustertest.StartProducers(c, ledger, 1, 3, 10*time.Millisecond)
	waitAcks(t, c, ledger, time.Now().Add(-time.Hour), 50, time.Minute)

	var (
		single   []time.Duration   // partition-leader kills on a healthy cluster
		both     []time.Duration   // the same, of a node that also led the quorum
		compound []time.Duration   // partition-leader kills during recovery
		quorum   []time.Duration   // quorum-leader kills: kill to a new quorum leader
		paused   []time.Duration   // partition leader frozen (SIGSTOP)
		elected  []time.Duration   // healthy-cluster leader kills: kill to the new leader in every node's metadata
		electedB []time.Duration   // the same, of a node that also led the quorum
		down     *clustertest.Node // killed, to be restarted
		// restarting was started again right before this fault.
		restarting *clustertest.Node
	)
	for i := 0; i < faults; i++ {
		rapid := i%3 == 2
		// Some partition leaders are frozen instead of killed: a node
		// in a long pause that comes back believing it still leads.
		pause := !rapid && i%5 == 4 && (i+1)%3 != 2
		if !rapid {
			if down != nil {
				switch {
				case down.Paused():
					down.Resume()
					down.WaitServing(2 * time.Minute)
				case down.Running():
					down.WaitServing(2 * time.Minute)
				default:
					down.Restart()
				}
				down = nil
			}
			c.WaitFullISR(2*time.Minute, failoverTopic, failoverPartitions)
		}
		var victim *clustertest.Node
		kind := "partition 0 leader"
		before := c.WaitLeader(time.Minute, failoverTopic, 0, -1)
		quorumBefore := c.QuorumLeader(time.Minute)
		switch {
		case pause:
			kind = "partition 0 leader, frozen with SIGSTOP"
			victim = c.Node(before.Leader)
		case i%2 == 0:
			victim = c.Node(before.Leader)
		default:
			kind = "quorum leader"
			victim = quorumBefore
		}
		ledP0 := victim.ID == before.Leader
		ledQuorum := victim.ID == quorumBefore.ID
		quorumKill := kind == "quorum leader"
		killAt := time.Now()
		if pause {
			victim.Pause()
		} else {
			victim.Kill()
		}

		// The new leaders appear.
		var quorumAfter time.Duration
		if quorumKill {
			c.QuorumLeader(time.Minute)
			quorumAfter = time.Since(killAt)
			quorum = append(quorum, quorumAfter)
		}
		after := before
		var electedAfter time.Duration
		if ledP0 {
			after = waitNewLeader(t, c, before, victim)
			electedAfter = time.Since(killAt)
		}
		verb := "killed"
		if pause {
			verb = "froze"
		}
		switch {
		case quorumKill && ledP0:
			kind += ", also partition 0's leader"
		case ledP0 && ledQuorum:
			kind += ", also the quorum leader"
		}
		desc := fmt.Sprintf("fault %d/%d: %s node %d (%s%s)", i+1, faults, verb, victim.ID, kind, map[bool]string{true: ", during recovery", false: ""}[rapid])
		if restarting != nil {
			desc += fmt.Sprintf(" with node %d just restarted", restarting.ID)
		}
		if i+1 < faults && (i+1)%3 == 2 {
			// The next fault strikes right away: bring this victim
			// back without waiting for it, so that a quorum remains.
			if !victim.Running() {
				victim.Start()
			}
			restarting = victim
			t.Logf("%s; partition 0 leader %d -> %d (epoch %d -> %d); restarted at once", desc, before.Leader, after.Leader, before.LeaderEpoch, after.LeaderEpoch)
			// Its failover time is measured with the next fault's.
			continue
		}
		if restarting != nil {
			// A compound fault: the previous victim was restarted
			// just before; wait for it to be serving again.
			if restarting.Running() {
				restarting.WaitServing(2 * time.Minute)
			}
			restarting = nil
		}
		down = victim

		// Writes go on without the victim.
		waitAcks(t, c, ledger, killAt, 1, 2*time.Minute)
		d, _ := ledger.FirstAckAfter(0, killAt)
		if ledP0 {
			switch {
			case pause:
				paused = append(paused, d)
			case rapid:
				compound = append(compound, d)
			case ledQuorum:
				both = append(both, d)
				electedB = append(electedB, electedAfter)
			default:
				single = append(single, d)
				elected = append(elected, electedAfter)
			}
		}
		msg := fmt.Sprintf("%s; partition 0 leader %d -> %d (epoch %d -> %d); first ack on partition 0 after %v", desc, before.Leader, after.Leader, before.LeaderEpoch, after.LeaderEpoch, d.Round(time.Millisecond))
		if ledP0 {
			msg += fmt.Sprintf(" (new leader in every node's metadata after %v)", electedAfter.Round(time.Millisecond))
		}
		if quorumKill {
			msg += fmt.Sprintf("; new quorum leader after %v", quorumAfter.Round(time.Millisecond))
		}
		t.Log(msg)
		// Keep the victim down while writes continue for a little.
		waitAcks(t, c, ledger, killAt, 20+rng.IntN(200), 2*time.Minute)
		if t.Failed() {
			return
		}
	}
	for _, n := range c.Nodes() {
		switch {
		case n.Paused():
			n.Resume()
		case !n.Running():
			n.Restart()
		}
	}
	c.WaitFullISR(2*time.Minute, failoverTopic, failoverPartitions)
	prods.Stop(time.Minute)
	produced, acked, failed, pending := ledger.Counts()
	t.Logf("produced %d records: %d acknowledged, %d failed, %d pending; failures: %s", produced, acked, failed, pending, ledger.Errors())
	if pending != 0 {
		t.Errorf("%d records neither acknowledged nor failed after the producers stopped", pending)
	}
	if n := prods.DataLoss.Load(); n > 0 {
		t.Errorf("the producers detected data loss %d times: %v", n, prods.DataLossLog())
	}
	t.Logf("failover (kill of partition 0's leader to the first acknowledged produce after it), healthy cluster: %s", clustertest.Stats(single))
	t.Logf("   of which kill to the new leader in every node's metadata: %s", clustertest.Stats(elected))
	t.Logf("failover when the killed partition leader also led the metadata quorum: %s", clustertest.Stats(both))
	t.Logf("   of which kill to the new leader in every node's metadata: %s", clustertest.Stats(electedB))
	t.Logf("failover, kill during recovery: %s", clustertest.Stats(compound))
	t.Logf("failover, partition leader frozen (SIGSTOP): %s", clustertest.Stats(paused))
	t.Logf("quorum leader kill to a new quorum leader: %s", clustertest.Stats(quorum))
	clustertest.VerifyTopic(c, ledger, clustertest.VerifyOptions{Tail: tail})
}

// waitAcks waits until every partition of the ledger's topic has at least
// n acknowledged records produced after since.
func waitAcks(t *testing.T, c *clustertest.Cluster, l *clustertest.Ledger, since time.Time, n int, timeout time.Duration) {
	t.Helper()
	c.PollUntil(timeout, fmt.Sprintf("%d acknowledgements on every partition", n), func() error {
		for p := int32(0); p < l.Partitions; p++ {
			if got := l.AckedSince(p, since); got < n {
				_, acked, failed, pending := l.Counts()
				return fmt.Errorf("partition %d: %d acknowledged since %s (in all %d acknowledged, %d failed, %d pending; failures: %s)",
					p, got, since.Format("15:04:05.000"), acked, failed, pending, l.Errors())
			}
		}
		return nil
	})
}

// waitNewLeader waits until partition 0 has a leader other than the
// killed victim. If the victim was the only in-sync replica (the others
// fell behind while the cluster recovered), the partition stays offline
// until it returns, as Kafka's clean election requires: it is then
// restarted, and any leader is accepted.
func waitNewLeader(t *testing.T, c *clustertest.Cluster, before clustertest.PartitionInfo, victim *clustertest.Node) clustertest.PartitionInfo {
	t.Helper()
	var got clustertest.PartitionInfo
	err := c.Poll(30*time.Second, func() error {
		p, err := c.Agreed(failoverTopic, 0)
		if err != nil {
			return err
		}
		if p.Leader < 0 || p.Leader == victim.ID {
			got = p
			return fmt.Errorf("%v", p)
		}
		got = p
		return nil
	})
	if err == nil {
		return got
	}
	if got.Leader >= 0 || len(got.ISR) != 1 || got.ISR[0] != victim.ID {
		t.Fatalf("no new leader of partition 0 after killing node %d (state before: %v): %v", victim.ID, before, err)
	}
	t.Logf("partition 0 is offline: its only in-sync replica, node %d, is down (%v); restarting it", victim.ID, got)
	if !victim.Running() {
		victim.Start()
	}
	return c.WaitLeader(time.Minute, failoverTopic, 0, -1)
}
