package main

// Replication throttles of `skein cluster reassign`, as
// kafka-reassign-partitions.sh sets and clears them (KIP-73): --throttle
// sets leader.replication.throttled.rate and
// follower.replication.throttled.rate on every broker of the partition's
// current and target replicas, and adds the partition's current replicas
// to the topic's leader.replication.throttled.replicas and the moving
// ones (target but not current) to its
// follower.replication.throttled.replicas. --verify reports the
// reassignment and, once it is done, removes them.

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/config"
)

// throttleRates are the broker configs --throttle sets.
var throttleRates = []string{config.LeaderReplicationThrottledRate, config.FollowerReplicationThrottledRate}

// throttleLists are the topic configs --throttle adds replicas to.
var throttleLists = []string{config.LeaderReplicationThrottledReplicas, config.FollowerReplicationThrottledReplicas}

// throttlePlan is what a throttled move of one partition sets: the
// brokers that get the rates, and the partitionId:brokerId entries of the
// topic's leader and follower lists (Kafka's calculateLeaderThrottles and
// calculateFollowerThrottles).
type throttlePlan struct {
	brokers          []int32
	leader, follower []string
}

func planThrottle(partition int32, current, target []int32) throttlePlan {
	var pl throttlePlan
	entry := func(b int32) string { return fmt.Sprintf("%d:%d", partition, b) }
	for _, b := range current {
		pl.leader = append(pl.leader, entry(b))
	}
	for _, b := range target {
		if !slices.Contains(current, b) {
			pl.follower = append(pl.follower, entry(b))
		}
	}
	pl.brokers = slices.Sorted(slices.Values(append(slices.Clone(current), target...)))
	pl.brokers = slices.Compact(pl.brokers)
	return pl
}

// ongoingReassignments lists the reassignments in progress, of topic's
// partitions or, with topic empty, of the whole cluster.
func ongoingReassignments(ctx context.Context, cl *kgo.Client, topic string) (map[int32]kmsg.ListPartitionReassignmentsResponseTopicPartition, map[string]bool, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	if topic != "" {
		n, err := partitionCount(ctx, cl, topic)
		if err != nil {
			return nil, nil, err
		}
		rt := kmsg.ListPartitionReassignmentsRequestTopic{Topic: topic}
		for p := int32(0); p < n; p++ {
			rt.Partitions = append(rt.Partitions, p)
		}
		req.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{rt}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("list reassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, nil, fmt.Errorf("list reassignments: %w", withBrokerMessage(err, deref(resp.ErrorMessage)))
	}
	parts := map[int32]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
	topics := map[string]bool{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			topics[t.Topic] = true
			if t.Topic == topic {
				parts[p.Partition] = p
			}
		}
	}
	return parts, topics, nil
}

// topicReplicas returns the replicas of each partition of a topic and
// the brokers of the cluster, from Metadata.
func topicReplicas(ctx context.Context, cl *kgo.Client, topic string) (map[int32][]int32, []int32, error) {
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
	resp, err := md.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, fmt.Errorf("metadata: %w", err)
	}
	if len(resp.Topics) != 1 {
		return nil, nil, fmt.Errorf("metadata: malformed response")
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return nil, nil, fmt.Errorf("topic %s: %w", topic, err)
	}
	replicas := map[int32][]int32{}
	for _, p := range resp.Topics[0].Partitions {
		replicas[p.Partition] = p.Replicas
	}
	var brokers []int32
	for _, b := range resp.Brokers {
		brokers = append(brokers, b.NodeID)
	}
	slices.Sort(brokers)
	return replicas, brokers, nil
}

// currentReplicas are the replicas a partition moves away from: those
// before an ongoing reassignment began, else its replicas.
func currentReplicas(ctx context.Context, cl *kgo.Client, topic string, partition int32) ([]int32, error) {
	ongoing, _, err := ongoingReassignments(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	if r, ok := ongoing[partition]; ok {
		return slices.DeleteFunc(slices.Clone(r.Replicas), func(b int32) bool { return slices.Contains(r.AddingReplicas, b) }), nil
	}
	replicas, _, err := topicReplicas(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	cur, ok := replicas[partition]
	if !ok {
		return nil, fmt.Errorf("topic %s has no partition %d", topic, partition)
	}
	return cur, nil
}

// alterChecked applies alterations to the configs of one resource and
// returns the first error.
func alterChecked(ctx context.Context, adm *kadm.Client, broker bool, name string, ops []kadm.AlterConfig) error {
	var (
		resps kadm.AlterConfigsResponses
		err   error
	)
	what := "topic " + name
	if broker {
		what = "broker " + name
		id, perr := strconv.ParseInt(name, 10, 32)
		if perr != nil {
			return fmt.Errorf("broker id %q: %w", name, perr)
		}
		resps, err = adm.AlterBrokerConfigs(ctx, ops, int32(id))
	} else {
		resps, err = adm.AlterTopicConfigs(ctx, ops, name)
	}
	if err != nil {
		return fmt.Errorf("alter %s configs: %w", what, err)
	}
	for _, r := range resps {
		if err := withBrokerMessage(r.Err, r.ErrMessage); err != nil {
			return fmt.Errorf("alter %s configs: %w", what, err)
		}
	}
	return nil
}

// topicThrottleLists returns the topic's current throttled-replica lists.
func topicThrottleLists(ctx context.Context, adm *kadm.Client, topic string) (map[string]string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s configs: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = withBrokerMessage(rc.Err, rc.ErrMessage)
	}
	if err != nil {
		return nil, fmt.Errorf("describe topic %s configs: %w", topic, err)
	}
	out := map[string]string{}
	for _, c := range rc.Configs {
		if slices.Contains(throttleLists, c.Key) && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			out[c.Key] = c.MaybeValue()
		}
	}
	return out, nil
}

// applyThrottle sets the rates on the plan's brokers and adds its entries
// to the topic's lists. A list that is "*" already throttles every
// replica and is left as it is.
func applyThrottle(ctx context.Context, adm *kadm.Client, topic string, rate int64, pl throttlePlan, w io.Writer) error {
	for _, b := range pl.brokers {
		ops := make([]kadm.AlterConfig, 0, len(throttleRates))
		for _, name := range throttleRates {
			ops = append(ops, kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: kadm.StringPtr(strconv.FormatInt(rate, 10))})
		}
		if err := alterChecked(ctx, adm, true, strconv.Itoa(int(b)), ops); err != nil {
			return err
		}
	}
	lists, err := topicThrottleLists(ctx, adm, topic)
	if err != nil {
		return err
	}
	var ops []kadm.AlterConfig
	for i, entries := range [][]string{pl.leader, pl.follower} {
		name := throttleLists[i]
		if len(entries) == 0 || strings.TrimSpace(lists[name]) == "*" {
			continue
		}
		ops = append(ops, kadm.AlterConfig{Op: kadm.AppendConfig, Name: name, Value: kadm.StringPtr(strings.Join(entries, ","))})
	}
	if len(ops) > 0 {
		if err := alterChecked(ctx, adm, false, topic, ops); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "The inter-broker throttle limit was set to %d B/s on brokers %s\n", rate, ids(pl.brokers))
	return nil
}

// verifyReassignment reports where the reassignment of the topic's
// partition (every partition being moved, with partition < 0) stands,
// against target when given, and clears the throttles once it is done
// (clearThrottles).
func verifyReassignment(ctx context.Context, cl *kgo.Client, topic string, partition int32, target []int32, w io.Writer) error {
	ongoing, _, err := ongoingReassignments(ctx, cl, topic)
	if err != nil {
		return err
	}
	replicas, _, err := topicReplicas(ctx, cl, topic)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Status of partition reassignment:")
	check := slices.Sorted(maps.Keys(ongoing))
	if partition >= 0 {
		if _, ok := replicas[partition]; !ok {
			return fmt.Errorf("topic %s has no partition %d", topic, partition)
		}
		check = []int32{partition}
	}
	if len(check) == 0 {
		fmt.Fprintf(w, "No reassignment of topic %s is in progress.\n", topic)
	}
	for _, p := range check {
		name := fmt.Sprintf("%s-%d", topic, p)
		switch _, moving := ongoing[p]; {
		case moving:
			fmt.Fprintf(w, "Reassignment of partition %s is still in progress.\n", name)
		case target != nil && !slices.Equal(replicas[p], target):
			fmt.Fprintf(w, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n", name, ids(replicas[p]), ids(target))
		default:
			fmt.Fprintf(w, "Reassignment of partition %s is completed.\n", name)
		}
	}
	return clearThrottles(ctx, cl, topic, w)
}

// clearThrottles removes the throttles a throttled reassignment set, as
// kafka-reassign-partitions.sh --verify does when it is done: the topic's
// throttled-replica lists once no partition of the topic is being
// reassigned, and the brokers' rates (set per broker) once no
// reassignment is in progress in the cluster. Configs that are not set
// are left alone.
func clearThrottles(ctx context.Context, cl *kgo.Client, topic string, w io.Writer) error {
	adm := kadm.NewClient(cl)
	_, all, err := ongoingReassignments(ctx, cl, "")
	if err != nil {
		return err
	}
	if all[topic] {
		fmt.Fprintf(w, "Keeping the throttles: partitions of topic %s are still being reassigned.\n", topic)
		return nil
	}
	lists, err := topicThrottleLists(ctx, adm, topic)
	if err != nil {
		return err
	}
	if len(lists) > 0 {
		var ops []kadm.AlterConfig
		for _, name := range slices.Sorted(maps.Keys(lists)) {
			ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: name})
		}
		if err := alterChecked(ctx, adm, false, topic, ops); err != nil {
			return err
		}
		fmt.Fprintf(w, "Clearing topic-level throttles on topic %s\n", topic)
	}
	if len(all) > 0 {
		fmt.Fprintln(w, "Keeping the broker-level throttles: reassignments of other topics are in progress.")
		return nil
	}
	_, brokers, err := topicReplicas(ctx, cl, topic)
	if err != nil {
		return err
	}
	var cleared []int32
	for _, b := range brokers {
		rcs, err := adm.DescribeBrokerConfigs(ctx, b)
		if err != nil {
			return fmt.Errorf("describe broker %d configs: %w", b, err)
		}
		var ops []kadm.AlterConfig
		for _, rc := range rcs {
			if err := withBrokerMessage(rc.Err, rc.ErrMessage); err != nil {
				return fmt.Errorf("describe broker %d configs: %w", b, err)
			}
			for _, c := range rc.Configs {
				if slices.Contains(throttleRates, c.Key) && c.Source == kmsg.ConfigSourceDynamicBrokerConfig {
					ops = append(ops, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: c.Key})
				}
			}
		}
		if len(ops) == 0 {
			continue
		}
		if err := alterChecked(ctx, adm, true, strconv.Itoa(int(b)), ops); err != nil {
			return err
		}
		cleared = append(cleared, b)
	}
	if len(cleared) > 0 {
		fmt.Fprintf(w, "Clearing broker-level throttles on brokers %s\n", ids(cleared))
	}
	return nil
}
