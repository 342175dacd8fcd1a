package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// probeTimeout bounds one request the harness sends to one node.
const probeTimeout = 3 * time.Second

// pollInterval is how often the harness polls for a condition.
const pollInterval = 25 * time.Millisecond

// MetadataTopic is the metadata log's name in Kafka (DescribeQuorum).
const MetadataTopic = "__cluster_metadata"

// Request sends req to this node directly (its bound PLAINTEXT address,
// never through a proxy) and returns its response.
func (n *Node) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	seeds := n.probe.SeedBrokers()
	if len(seeds) == 0 {
		return nil, errors.New("no seed broker")
	}
	return seeds[0].Request(ctx, req)
}

// Metadata asks the node for the metadata of topics (all topics if none).
func (n *Node) Metadata(ctx context.Context, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := n.Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// Brokers returns the broker ids the node's Metadata lists.
func (n *Node) Brokers(ctx context.Context) ([]int32, error) {
	m, err := n.Metadata(ctx, "__no_such_topic_clustertest")
	if err != nil {
		// An empty topic list asks for none in v1+; some brokers
		// answer the unknown topic with an error we do not need.
		return nil, err
	}
	var ids []int32
	for _, b := range m.Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

// WaitServing waits until the node answers a Metadata request.
func (n *Node) WaitServing(timeout time.Duration) {
	t := n.c.T
	t.Helper()
	n.c.PollUntil(timeout, fmt.Sprintf("node %d serving", n.ID), func() error {
		if !n.Running() {
			p := n.current()
			return fmt.Errorf("node %d exited: %v", n.ID, p.waitErr)
		}
		_, err := n.Brokers(context.Background())
		return err
	})
}

// PollUntil calls cond every pollInterval until it returns nil, failing
// the test with what and cond's last error after timeout. It fails at once
// if a node exited that was not told to.
func (c *Cluster) PollUntil(timeout time.Duration, what string, cond func() error) {
	c.T.Helper()
	if err := c.Poll(timeout, cond); err != nil {
		c.T.Fatalf("clustertest: %s: not reached after %v: %v", what, timeout, err)
	}
}

// Poll is PollUntil returning the error instead of failing the test.
func (c *Cluster) Poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range c.Nodes() {
			if p := n.current(); p != nil && !p.alive() && !p.signalled.Load() {
				return fmt.Errorf("node %d exited unexpectedly: %v", n.ID, p.waitErr)
			}
		}
		err := cond()
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(pollInterval)
	}
}

// Permanent wraps an error of a Poll condition that cannot become true
// by waiting: Poll returns it at once.
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// brokerIDs is the sorted ids of running nodes with the broker role.
func brokerIDs(nodes []*Node) []int32 {
	var ids []int32
	for _, n := range nodes {
		if strings.Contains(n.Roles, "broker") {
			ids = append(ids, n.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// WaitFormed waits until every running broker's Metadata lists exactly
// the running brokers.
func (c *Cluster) WaitFormed(timeout time.Duration) {
	c.T.Helper()
	c.PollUntil(timeout, "cluster formed", c.formed)
}

func (c *Cluster) formed() error {
	running := c.Running()
	want := brokerIDs(running)
	for _, n := range running {
		if !strings.Contains(n.Roles, "broker") {
			continue
		}
		got, err := n.Brokers(context.Background())
		if err != nil {
			return fmt.Errorf("node %d: %v", n.ID, err)
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("node %d lists brokers %v, want %v", n.ID, got, want)
		}
	}
	return nil
}

// PartitionInfo is one node's view of a partition.
type PartitionInfo struct {
	Topic       string
	Partition   int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Err         error
}

func (p PartitionInfo) String() string {
	return fmt.Sprintf("%s-%d leader %d epoch %d replicas %v isr %v err %v", p.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.Err)
}

// InISR reports whether id is in the ISR.
func (p PartitionInfo) InISR(id int32) bool { return slices.Contains(p.ISR, id) }

// sameState reports whether two views agree on leader, epoch, replicas
// and ISR.
func (p PartitionInfo) sameState(q PartitionInfo) bool {
	return p.Leader == q.Leader && p.LeaderEpoch == q.LeaderEpoch &&
		slices.Equal(sorted(p.Replicas), sorted(q.Replicas)) && slices.Equal(sorted(p.ISR), sorted(q.ISR))
}

func sorted(s []int32) []int32 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Partition returns node n's view of topic-partition.
func (n *Node) Partition(ctx context.Context, topic string, partition int32) (PartitionInfo, error) {
	m, err := n.Metadata(ctx, topic)
	if err != nil {
		return PartitionInfo{}, err
	}
	for _, t := range m.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return PartitionInfo{}, fmt.Errorf("topic %s: %w", topic, err)
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return PartitionInfo{
					Topic: topic, Partition: partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
					Replicas: p.Replicas, ISR: p.ISR, Err: kerr.ErrorForCode(p.ErrorCode),
				}, nil
			}
		}
		return PartitionInfo{}, fmt.Errorf("topic %s has no partition %d", topic, partition)
	}
	return PartitionInfo{}, fmt.Errorf("no topic %s in metadata", topic)
}

// Agreed returns the state of topic-partition that every running,
// unpaused broker reports, or an error if they differ or one cannot
// answer. The leader it names is running.
func (c *Cluster) Agreed(topic string, partition int32) (PartitionInfo, error) {
	return c.AgreedOn(c.Running(), topic, partition)
}

// AgreedOn is Agreed asking only nodes (those of them that are brokers,
// running, not paused, and listening).
func (c *Cluster) AgreedOn(nodes []*Node, topic string, partition int32) (PartitionInfo, error) {
	var first PartitionInfo
	var firstID int32 = -1
	for _, n := range nodes {
		if !strings.Contains(n.Roles, "broker") || !n.Running() || n.Paused() {
			continue
		}
		p, err := n.Partition(context.Background(), topic, partition)
		if notServing(err) {
			// Started and not listening yet: it has no view.
			continue
		}
		if err != nil {
			return p, fmt.Errorf("node %d: %v", n.ID, err)
		}
		if firstID < 0 {
			first, firstID = p, n.ID
			continue
		}
		if !p.sameState(first) {
			return first, fmt.Errorf("node %d sees %v, node %d sees %v", firstID, first, n.ID, p)
		}
	}
	if firstID < 0 {
		return first, errors.New("no running broker")
	}
	if first.Leader >= 0 {
		if l := c.nodeOrNil(first.Leader); l == nil || !l.Running() {
			return first, fmt.Errorf("%v: the leader is not running", first)
		}
	}
	return first, nil
}

func (c *Cluster) nodeOrNil(id int32) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// WaitPartition polls until every running broker reports the same state
// of topic-partition and cond accepts it, and returns that state.
func (c *Cluster) WaitPartition(timeout time.Duration, topic string, partition int32, cond func(PartitionInfo) error) PartitionInfo {
	c.T.Helper()
	var got PartitionInfo
	c.PollUntil(timeout, fmt.Sprintf("state of %s-%d", topic, partition), func() error {
		p, err := c.Agreed(topic, partition)
		if err != nil {
			return err
		}
		if cond != nil {
			if err := cond(p); err != nil {
				return fmt.Errorf("%v: %v", p, err)
			}
		}
		got = p
		return nil
	})
	return got
}

// WaitLeader waits until topic-partition has a running leader other than
// not (-1: any) that every running broker agrees on.
func (c *Cluster) WaitLeader(timeout time.Duration, topic string, partition int32, not int32) PartitionInfo {
	c.T.Helper()
	return c.WaitPartition(timeout, topic, partition, func(p PartitionInfo) error {
		if p.Leader < 0 {
			return errors.New("no leader")
		}
		if p.Leader == not {
			return fmt.Errorf("leader is still %d", not)
		}
		return nil
	})
}

// WaitFullISR waits until every partition of topic (partitions of them)
// has all its replicas in the ISR, a running leader, and the same state
// on every running broker.
func (c *Cluster) WaitFullISR(timeout time.Duration, topic string, partitions int32) []PartitionInfo {
	c.T.Helper()
	out := make([]PartitionInfo, partitions)
	c.PollUntil(timeout, fmt.Sprintf("full ISR of %s", topic), func() error {
		for p := int32(0); p < partitions; p++ {
			info, err := c.Agreed(topic, p)
			if err != nil {
				return err
			}
			if info.Leader < 0 || !slices.Equal(sorted(info.ISR), sorted(info.Replicas)) {
				return fmt.Errorf("%v: ISR is not all replicas", info)
			}
			out[p] = info
		}
		return nil
	})
	return out
}

// ControllerID is the controller id the node reports in DescribeCluster.
func (n *Node) ControllerID(ctx context.Context) (int32, error) {
	req := kmsg.NewPtrDescribeClusterRequest()
	resp, err := n.Request(ctx, req)
	if err != nil {
		return -1, err
	}
	r := resp.(*kmsg.DescribeClusterResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return -1, err
	}
	return r.ControllerID, nil
}

// QuorumState is the metadata quorum as DescribeQuorum reports it.
type QuorumState struct {
	Leader      int32
	LeaderEpoch int32
	Voters      []int32
	Observers   []int32
}

// DescribeQuorum asks the node for the metadata quorum's state
// (DescribeQuorum, KIP-595).
func (n *Node) DescribeQuorum(ctx context.Context) (QuorumState, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = MetadataTopic
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rp.Partition = 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := n.Request(ctx, req)
	if err != nil {
		return QuorumState{}, err
	}
	r := resp.(*kmsg.DescribeQuorumResponse)
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		return QuorumState{}, err
	}
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		return QuorumState{}, fmt.Errorf("DescribeQuorum: %d topics in the response", len(r.Topics))
	}
	p := r.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return QuorumState{}, err
	}
	qs := QuorumState{Leader: p.LeaderID, LeaderEpoch: p.LeaderEpoch}
	for _, v := range p.CurrentVoters {
		qs.Voters = append(qs.Voters, v.ReplicaID)
	}
	for _, o := range p.Observers {
		qs.Observers = append(qs.Observers, o.ReplicaID)
	}
	slices.Sort(qs.Voters)
	slices.Sort(qs.Observers)
	return qs, nil
}

// notServing reports an error of a request to a node that does not
// listen (yet): the connection was refused.
func notServing(err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}

// quorumLeaderOf returns the metadata quorum leader as node n sees it:
// the controller id it reports in DescribeCluster, which every node
// answers from its own view. (DescribeQuorum is answered by the quorum
// leader, so a node forwards it there and cannot answer while the leader
// it knows is unreachable.)
func (n *Node) quorumLeaderOf(ctx context.Context) (int32, error) {
	return n.ControllerID(ctx)
}

// QuorumLeader waits until every running, unpaused node names the same
// running node as the metadata quorum's leader, and returns it.
func (c *Cluster) QuorumLeader(timeout time.Duration) *Node {
	c.T.Helper()
	var leader *Node
	c.PollUntil(timeout, "metadata quorum leader", func() error {
		id := int32(-1)
		for _, n := range c.Running() {
			if n.Paused() || !strings.Contains(n.Roles, "broker") {
				continue
			}
			l, err := n.quorumLeaderOf(context.Background())
			if notServing(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("node %d: %v", n.ID, err)
			}
			if l < 0 {
				return fmt.Errorf("node %d knows no quorum leader", n.ID)
			}
			if id >= 0 && l != id {
				return fmt.Errorf("nodes disagree on the quorum leader: %d and %d", id, l)
			}
			id = l
		}
		if id < 0 {
			return errors.New("no running broker")
		}
		ln := c.nodeOrNil(id)
		if ln == nil || !ln.Running() || ln.Paused() {
			return fmt.Errorf("quorum leader %d is not running", id)
		}
		// The leader itself confirms (DescribeQuorum is answered by
		// the quorum's leader).
		qs, err := ln.DescribeQuorum(context.Background())
		if err != nil {
			return fmt.Errorf("node %d: DescribeQuorum: %v", id, err)
		}
		if qs.Leader != id {
			return fmt.Errorf("the nodes name %d as the quorum leader, DescribeQuorum names %d", id, qs.Leader)
		}
		leader = ln
		return nil
	})
	return leader
}

// Paused reports whether the node was paused with Pause and not resumed.
func (n *Node) Paused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// NewClient returns a franz-go client bootstrapped with every node and
// tuned for quick failover: metadata refreshed as soon as a leader moves,
// short retry backoff. It is closed when the test ends.
func (c *Cluster) NewClient(opts ...kgo.Opt) *kgo.Client {
	c.T.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(c.Bootstrap()...),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.MetadataMaxAge(5 * time.Second),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(time.Duration(tries)*25*time.Millisecond, 250*time.Millisecond)
		}),
		kgo.DialTimeout(2 * time.Second),
		// A request to a frozen or cut-off node is given up after a
		// few seconds instead of the default ten or more.
		kgo.RequestTimeoutOverhead(2 * time.Second),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		c.T.Fatal(err)
	}
	c.T.Cleanup(cl.Close)
	return cl
}
