package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

// TestReassignWhileWriting adds a fourth node as a broker only
// (process.roles=broker, a learner of the metadata quorum) to a running
// three-node cluster and moves one replica of partition 0 to it with
// AlterPartitionReassignments (kadm), replacing the partition's current
// leader, while idempotent producers write at acks=all. It checks that the
// reassignment completes (ListPartitionReassignments empty), the new
// replica joins the ISR, the old one leaves the replicas and the ISR and
// deletes its log, leadership moves to a remaining replica, and no
// acknowledged record is lost: the three new replicas hold byte-identical
// logs (VerifyTopic).
func TestReassignWhileWriting(t *testing.T) {
	longTest(t)
	const topic, partitions = "reassign", 3
	c := startCluster(t, clustertest.Options{Nodes: 3})
	clustertest.CreateTopic(c, topic, partitions, 3, map[string]string{"min.insync.replicas": "2"})
	c.WaitFullISR(time.Minute, topic, partitions)

	n4 := c.AddNode(4, "broker", nil)
	n4.Start()
	n4.WaitServing(clustertest.StartTimeout)
	c.WaitFormed(time.Minute)

	ledger := clustertest.NewLedger(topic, partitions, "reassign")
	tail := clustertest.StartTail(c, topic, partitions)
	prods := clustertest.StartProducers(c, ledger, 1, 2, 10*time.Millisecond)
	// Enough data that the new replica has something to catch up on
	// while writes go on.
	waitAcks(t, c, ledger, time.Now().Add(-time.Hour), 1500, 2*time.Minute)

	before := c.WaitLeader(time.Minute, topic, 0, -1)
	old := before.Leader
	target := slices.Clone(before.Replicas)
	target[slices.Index(target, old)] = n4.ID
	t.Logf("reassigning %s-0 from replicas %v (leader %d) to %v", topic, before.Replicas, old, target)

	adm := kadm.NewClient(c.NewClient())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, target)
	start := time.Now()
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("AlterPartitionAssignments: %v", err)
	}
	if err := resp.Error(); err != nil {
		t.Fatalf("AlterPartitionAssignments: %v", err)
	}

	c.PollUntil(2*time.Minute, "reassignment of "+topic+"-0 complete", func() error {
		lr, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			return err
		}
		if r, ok := lr[topic][0]; ok {
			return fmt.Errorf("still reassigning: replicas %v, adding %v, removing %v", r.Replicas, r.AddingReplicas, r.RemovingReplicas)
		}
		p, err := c.Agreed(topic, 0)
		if err != nil {
			return err
		}
		if !sameSet(p.Replicas, target) || !sameSet(p.ISR, target) {
			return fmt.Errorf("%v, want replicas and ISR %v", p, target)
		}
		return nil
	})
	after := c.WaitLeader(time.Minute, topic, 0, old)
	t.Logf("reassignment complete after %v: %v", time.Since(start).Round(time.Millisecond), after)
	// The removed replica deletes its log.
	dir := filepath.Join(c.Node(old).DataDir, topic+"-0")
	c.PollUntil(time.Minute, fmt.Sprintf("node %d deletes its replica of %s-0", old, topic), func() error {
		if _, err := os.Stat(dir); err == nil {
			return fmt.Errorf("%s still exists", dir)
		}
		return nil
	})
	waitAcks(t, c, ledger, time.Now(), 100, time.Minute)

	prods.Stop(time.Minute)
	produced, acked, failed, pending := ledger.Counts()
	t.Logf("produced %d records: %d acknowledged, %d failed, %d pending; failures: %s", produced, acked, failed, pending, ledger.Errors())
	if pending != 0 {
		t.Errorf("%d records neither acknowledged nor failed after the producers stopped", pending)
	}
	if n := prods.DataLoss.Load(); n > 0 {
		t.Errorf("the producers detected data loss %d times: %v", n, prods.DataLossLog())
	}
	clustertest.VerifyTopic(c, ledger, clustertest.VerifyOptions{Tail: tail})
}

// TestControllerMembership changes the metadata quorum of a running
// cluster while idempotent producers write at acks=all: a fourth node
// (process.roles=broker,controller) joins through
// controller.quorum.bootstrap.servers as an observer and is added as a
// voter; the replicas of an original controller are moved to it
// (AlterPartitionReassignments); that controller is removed from the
// quorum and stopped. After each change every node agrees on the voter
// set (DescribeQuorum), a quorum leader is elected, metadata changes still
// commit (a topic is created after the removal), the producers keep
// getting acknowledgements, and in the end no acknowledged record is lost
// (VerifyTopic).
func TestControllerMembership(t *testing.T) {
	longTest(t)
	const topic, partitions = "membership", 3
	c := startCluster(t, clustertest.Options{Nodes: 3})
	clustertest.CreateTopic(c, topic, partitions, 3, map[string]string{"min.insync.replicas": "2"})
	ledger := clustertest.NewLedger(topic, partitions, "membership")
	prods := clustertest.StartProducers(c, ledger, 1, 2, 10*time.Millisecond)
	waitAcks(t, c, ledger, time.Now().Add(-time.Hour), 100, time.Minute)

	var seeds []string
	for _, n := range c.Nodes() {
		seeds = append(seeds, n.VoterAddr)
	}
	n4 := c.AddNode(4, "broker,controller", map[string]string{
		"controller.quorum.voters":            "",
		"controller.quorum.bootstrap.servers": strings.Join(seeds, ","),
	})
	n4.Start()
	n4.WaitServing(clustertest.StartTimeout)
	c.WaitFormed(time.Minute)
	waitVoters(t, c, []int32{1, 2, 3}, []int32{4})

	start := time.Now()
	runQuorumCommand(t, c, "add-controller", n4)
	waitVoters(t, c, []int32{1, 2, 3, 4}, nil)
	t.Logf("node 4 is a voter %v after add-controller", time.Since(start).Round(time.Millisecond))
	waitAcks(t, c, ledger, time.Now(), 50, time.Minute)

	// Remove an original controller that is not the quorum leader; move
	// its replicas to node 4 first.
	leader := c.QuorumLeader(time.Minute)
	var victim *clustertest.Node
	for _, n := range c.Nodes() {
		if n.ID != leader.ID && n.ID != n4.ID {
			victim = n
			break
		}
	}
	moveReplicas(t, c, topic, partitions, victim.ID, n4.ID)

	start = time.Now()
	// A controller removed from the quorum shuts down when it learns of
	// its removal, which may be before Stop.
	victim.ExpectExit()
	runQuorumCommand(t, c, "remove-controller", victim)
	victim.Stop()
	var remaining []int32
	for _, id := range []int32{1, 2, 3, 4} {
		if id != victim.ID {
			remaining = append(remaining, id)
		}
	}
	waitVoters(t, c, remaining, nil)
	c.WaitFormed(time.Minute)
	t.Logf("node %d removed from the quorum and stopped; voters %v after %v", victim.ID, remaining, time.Since(start).Round(time.Millisecond))

	// The reduced quorum still commits metadata and data.
	clustertest.CreateTopic(c, "after-membership-change", 1, 3, nil)
	waitAcks(t, c, ledger, time.Now(), 100, time.Minute)

	prods.Stop(time.Minute)
	produced, acked, failed, pending := ledger.Counts()
	t.Logf("produced %d records: %d acknowledged, %d failed, %d pending; failures: %s", produced, acked, failed, pending, ledger.Errors())
	if pending != 0 {
		t.Errorf("%d records neither acknowledged nor failed after the producers stopped", pending)
	}
	if n := prods.DataLoss.Load(); n > 0 {
		t.Errorf("the producers detected data loss %d times: %v", n, prods.DataLossLog())
	}
	clustertest.VerifyTopic(c, ledger, clustertest.VerifyOptions{})
}

// moveReplicas reassigns every partition of topic that has a replica on
// from to have it on to instead, and waits until done.
func moveReplicas(t *testing.T, c *clustertest.Cluster, topic string, partitions int32, from, to int32) {
	t.Helper()
	adm := kadm.NewClient(c.NewClient())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req := kadm.AlterPartitionAssignmentsReq{}
	targets := map[int32][]int32{}
	for p := int32(0); p < partitions; p++ {
		info := c.WaitLeader(time.Minute, topic, p, -1)
		if i := slices.Index(info.Replicas, from); i >= 0 {
			r := slices.Clone(info.Replicas)
			r[i] = to
			targets[p] = r
			req.Assign(topic, p, r)
		}
	}
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("moving the replicas of %s from %d to %d: %v", topic, from, to, err)
	}
	for p, want := range targets {
		c.WaitPartition(2*time.Minute, topic, p, func(info clustertest.PartitionInfo) error {
			if !sameSet(info.Replicas, want) || !sameSet(info.ISR, want) {
				return fmt.Errorf("want replicas and ISR %v", want)
			}
			return nil
		})
	}
	t.Logf("moved the replicas of %s on node %d to node %d: %v", topic, from, to, targets)
}

// waitVoters waits until every running node reports the quorum's voters
// and observers as given (observers nil: not checked).
func waitVoters(t *testing.T, c *clustertest.Cluster, voters, observers []int32) {
	t.Helper()
	c.PollUntil(time.Minute, fmt.Sprintf("quorum voters %v", voters), func() error {
		for _, n := range c.Running() {
			qs, err := n.DescribeQuorum(context.Background())
			if err != nil {
				return fmt.Errorf("node %d: DescribeQuorum: %v", n.ID, err)
			}
			if qs.Leader < 0 {
				return fmt.Errorf("node %d knows no quorum leader", n.ID)
			}
			if !sameSet(qs.Voters, voters) {
				return fmt.Errorf("node %d: voters %v", n.ID, qs.Voters)
			}
			if observers != nil {
				for _, o := range observers {
					if !slices.Contains(qs.Observers, o) {
						return fmt.Errorf("node %d: observers %v, want %d among them", n.ID, qs.Observers, o)
					}
				}
			}
		}
		return nil
	})
}

// runQuorumCommand runs `skein cluster <op> --id <n>` (add-controller or
// remove-controller), sending the change to the quorum through the
// controller listeners of the running controllers. It retries while the
// quorum is between leaders.
func runQuorumCommand(t *testing.T, c *clustertest.Cluster, op string, n *clustertest.Node) {
	t.Helper()
	var ctrls []string
	for _, m := range c.Running() {
		if strings.Contains(m.Roles, "controller") && m.ID != n.ID {
			ctrls = append(ctrls, m.VoterAddr)
		}
	}
	args := []string{"cluster", op, "--bootstrap", c.BootstrapString(), "--id", fmt.Sprint(n.ID), "--controller", strings.Join(ctrls, ",")}
	var out []byte
	err := c.Poll(time.Minute, func() error {
		var err error
		out, err = exec.Command(skeinBin, args...).CombinedOutput()
		if err == nil {
			return nil
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return clustertest.Permanent(err)
		}
		low := strings.ToLower(string(out))
		if strings.Contains(low, "leader") || strings.Contains(low, "timed out") || strings.Contains(low, "deadline") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return clustertest.Permanent(fmt.Errorf("%v: %s", err, out))
	})
	if err != nil {
		t.Fatalf("skein %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("skein %s: %s", strings.Join(args, " "), strings.TrimSpace(string(out)))
}

func sameSet(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
