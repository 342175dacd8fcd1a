package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumerOffsetsTopic is Kafka's group offsets topic.
const ConsumerOffsetsTopic = "__consumer_offsets"

// RollingRestart restarts every node in turn, as an operator upgrading
// the cluster does: SIGTERM, wait for the process to exit cleanly, start
// it again, and wait until it is back in the ISR of every partition of
// every topic in topics (name -> partition count) before the next node.
// It returns how long each node took from SIGTERM to being back.
func RollingRestart(c *Cluster, topics map[string]int32) []time.Duration {
	c.T.Helper()
	var took []time.Duration
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, n := range c.Nodes() {
		if !n.Running() {
			continue
		}
		start := time.Now()
		n.Stop()
		if c.T.Failed() {
			return took
		}
		n.Restart()
		for _, name := range names {
			c.WaitFullISR(2*time.Minute, name, topics[name])
		}
		took = append(took, time.Since(start))
		c.T.Logf("rolling restart: node %d back in every ISR %v after SIGTERM", n.ID, time.Since(start).Round(time.Millisecond))
	}
	return took
}

// GroupConsumers are franz-go consumers in one group reading the ledger's
// topic, committing after processing each poll (the at-least-once
// pattern: rebalances are held back while a poll is processed), and
// recording every error surfaced to the application.
type GroupConsumers struct {
	ledger  *Ledger
	group   string
	clients []*kgo.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	consumed map[RecordID]bool
	errs     []string
	// retried are the commits that failed with a retriable error and
	// were carried by the next commit.
	retried []string
}

// StartGroupConsumers starts n consumers of group.
func StartGroupConsumers(c *Cluster, l *Ledger, group string, n int) *GroupConsumers {
	c.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	g := &GroupConsumers{ledger: l, group: group, cancel: cancel, consumed: map[RecordID]bool{}}
	for i := 0; i < n; i++ {
		cl := c.NewClient(
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(l.Topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.FetchMaxWait(250*time.Millisecond),
			kgo.SessionTimeout(10*time.Second),
			kgo.HeartbeatInterval(time.Second),
			kgo.ClientID(fmt.Sprintf("clustertest-group-%s-%d", group, i)),
		)
		g.clients = append(g.clients, cl)
		g.wg.Add(1)
		go g.run(ctx, cl)
	}
	c.T.Cleanup(g.Stop)
	return g
}

// maxRetriedCommits is how many commits in a row may fail with a
// retriable error before the failure counts as surfaced to the
// application. franz-go can return a commit that met a coordinator
// shutting down as a dial error; the next commit carries the offsets.
const maxRetriedCommits = 1

// retriableCommitErr reports whether a commit error is one an
// application retries: a retriable Kafka error or a failed connection.
func retriableCommitErr(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable
	}
	var ne *net.OpError
	return errors.As(err, &ne)
}

func (g *GroupConsumers) run(ctx context.Context, cl *kgo.Client) {
	defer g.wg.Done()
	failedCommits := 0
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			cl.AllowRebalance()
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			g.errorf("fetch %s-%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			id, ok := ParseValue(g.ledger.Prefix, string(r.Value))
			g.mu.Lock()
			if !ok {
				g.errs = append(g.errs, fmt.Sprintf("consumed an unknown value at %s-%d offset %d", r.Topic, r.Partition, r.Offset))
			} else {
				g.consumed[id] = true
			}
			g.mu.Unlock()
		})
		switch err := cl.CommitUncommittedOffsets(ctx); {
		case err == nil:
			failedCommits = 0
		case errors.Is(err, context.Canceled):
		case failedCommits < maxRetriedCommits && retriableCommitErr(err):
			// The offsets stay uncommitted and go with the next
			// commit, as an application retries a commit.
			failedCommits++
			g.mu.Lock()
			g.retried = append(g.retried, fmt.Sprintf(time.Now().Format("15:04:05.000 ")+"commit: %v", err))
			g.mu.Unlock()
		default:
			g.errorf("commit: %v", err)
		}
		cl.AllowRebalance()
	}
}

func (g *GroupConsumers) errorf(format string, args ...any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.errs) < 50 {
		g.errs = append(g.errs, fmt.Sprintf(time.Now().Format("15:04:05.000 ")+format, args...))
	}
}

// Errors are the errors surfaced to the consumers.
func (g *GroupConsumers) Errors() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.errs)
}

// RetriedCommits are the commits that failed with a retriable error and
// whose offsets the next commit carried (see maxRetriedCommits).
func (g *GroupConsumers) RetriedCommits() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.retried)
}

// Missing returns the acknowledged records the group has not consumed
// (at most max of them), and their count.
func (g *GroupConsumers) Missing(max int) ([]RecordID, int) {
	g.ledger.mu.Lock()
	var acked []RecordID
	for _, m := range g.ledger.byOffset {
		for _, id := range m {
			acked = append(acked, id)
		}
	}
	g.ledger.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	var miss []RecordID
	n := 0
	for _, id := range acked {
		if !g.consumed[id] {
			n++
			if len(miss) < max {
				miss = append(miss, id)
			}
		}
	}
	return miss, n
}

// WaitConsumed waits until the group has consumed every acknowledged
// record.
func (g *GroupConsumers) WaitConsumed(c *Cluster, timeout time.Duration) {
	c.T.Helper()
	c.PollUntil(timeout, "group "+g.group+" consumed every acknowledged record", func() error {
		miss, n := g.Missing(5)
		if n > 0 {
			var s []string
			for _, id := range miss {
				s = append(s, id.String())
			}
			return fmt.Errorf("%d acknowledged records not consumed, e.g. %s", n, strings.Join(s, "; "))
		}
		return nil
	})
}

// Stop stops the consumers (leaving the group); idempotent.
func (g *GroupConsumers) Stop() {
	g.cancel()
	g.wg.Wait()
	for _, cl := range g.clients {
		cl.Close()
	}
}
