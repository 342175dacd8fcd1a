package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newGroupCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe and delete consumer groups and reset their committed offsets",
	}
	f.client.register(cmd.PersistentFlags())
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for the command")
	cmd.AddCommand(
		newGroupListCmd(f),
		newGroupDescribeCmd(f),
		newGroupDeleteCmd(f),
		newGroupResetOffsetsCmd(f),
	)
	return cmd
}

// groupInfo is a group as either DescribeGroups (classic groups) or
// ConsumerGroupDescribe (KIP-848 consumer groups) reports it.
type groupInfo struct {
	id string
	// typ is "classic" or "consumer".
	typ          string
	state        string
	protocolType string
	// assignor is the classic group's protocol (the assignor its leader
	// chose) or the consumer group's server-side assignor.
	assignor    string
	coordinator int32
	members     []memberInfo
	err         error
}

type memberInfo struct {
	id, instanceID, clientID, host string
	assigned                       kadm.TopicsSet
}

// describeGroups describes groups of either type. It asks
// ConsumerGroupDescribe first and DescribeGroups for the groups that are
// not consumer groups, as Kafka's admin client does; a broker without
// ConsumerGroupDescribe gets DescribeGroups for all of them. A group that
// does not exist is reported in state Dead.
func describeGroups(ctx context.Context, adm *kadm.Client, ids []string) (map[string]groupInfo, error) {
	out := make(map[string]groupInfo, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var classic []string
	described, err := adm.DescribeConsumerGroups(ctx, ids...)
	if err != nil {
		// No ConsumerGroupDescribe (or the request failed as a whole):
		// DescribeGroups answers for every group, or reports the error.
		classic = ids
	} else {
		for _, id := range ids {
			d, ok := described[id]
			if !ok || errors.Is(d.Err, kerr.GroupIDNotFound) {
				classic = append(classic, id)
				continue
			}
			g := groupInfo{id: id, typ: "consumer", state: d.State, protocolType: "consumer",
				assignor: d.AssignorName, coordinator: d.Coordinator.NodeID, err: d.Err}
			for _, m := range d.Members {
				g.members = append(g.members, memberInfo{id: m.MemberID, instanceID: derefString(m.InstanceID),
					clientID: m.ClientID, host: m.ClientHost, assigned: m.Assignment})
			}
			out[id] = g
		}
	}
	if len(classic) == 0 {
		return out, nil
	}
	dgs, err := adm.DescribeGroups(ctx, classic...)
	if err != nil {
		return nil, fmt.Errorf("describe groups: %w", err)
	}
	for _, id := range classic {
		d, ok := dgs[id]
		if !ok {
			out[id] = groupInfo{id: id, err: errors.New("missing from the response")}
			continue
		}
		g := groupInfo{id: id, typ: "classic", state: d.State, protocolType: d.ProtocolType,
			assignor: d.Protocol, coordinator: d.Coordinator.NodeID, err: withBrokerMessage(d.Err, d.ErrMessage)}
		for _, m := range d.Members {
			mi := memberInfo{id: m.MemberID, instanceID: derefString(m.InstanceID), clientID: m.ClientID,
				host: m.ClientHost, assigned: kadm.TopicsSet{}}
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					mi.assigned.Add(t.Topic, t.Partitions...)
				}
			}
			g.members = append(g.members, mi)
		}
		out[id] = g
	}
	return out, nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func newGroupListCmd(f *topicFlags) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List groups with their types, states, protocol types and member counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				listed, err := adm.ListGroups(ctx, states...)
				if err != nil {
					return fmt.Errorf("list groups: %w", err)
				}
				described, err := describeGroups(ctx, adm, listed.Groups())
				if err != nil {
					return err
				}
				return writeGroupList(cmd.OutOrStdout(), listed, described)
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in this state (Empty, Stable, PreparingRebalance, CompletingRebalance, Assigning, Reconciling, Dead); repeatable")
	return cmd
}

// writeGroupList prints one row per group, sorted by id. The member count
// is "-" when the group could not be described.
func writeGroupList(w io.Writer, listed kadm.ListedGroups, described map[string]groupInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tTYPE\tSTATE\tPROTOCOL-TYPE\tMEMBERS")
	for _, l := range listed.Sorted() {
		typ, members := l.GroupType, "-"
		if d, ok := described[l.Group]; ok && d.err == nil {
			members = strconv.Itoa(len(d.members))
			if typ == "" {
				typ = d.typ
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Group, orDash(typ), orDash(l.State), orDash(l.ProtocolType), members)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDescribeCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's state, members and assignments, and per partition its committed offset, log end offset and lag",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				d, err := describeGroupOffsets(ctx, adm, args[0])
				if err != nil {
					return err
				}
				return d.write(cmd.OutOrStdout())
			})
		},
	}
}

// groupDescription is everything group describe reports.
type groupDescription struct {
	group     groupInfo
	committed kadm.OffsetResponses
	// ends are the log end offsets (high watermarks) of every topic the
	// group has committed offsets for or is assigned.
	ends kadm.ListedOffsets
}

// describeGroupOffsets describes one group with its committed offsets and
// the log end offsets of their partitions. A group that does not exist is
// an error.
func describeGroupOffsets(ctx context.Context, adm *kadm.Client, id string) (*groupDescription, error) {
	gs, err := describeGroups(ctx, adm, []string{id})
	if err != nil {
		return nil, err
	}
	g := gs[id]
	if g.err != nil {
		return nil, fmt.Errorf("describe group %s: %w", id, g.err)
	}
	committed, err := adm.FetchOffsets(ctx, id)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("describe group %s: committed offsets: %w", id, err)
	}
	committed.KeepFunc(func(o kadm.OffsetResponse) bool { return o.At >= 0 })
	if g.state == "Dead" && len(committed) == 0 {
		return nil, fmt.Errorf("group %s does not exist", id)
	}
	d := &groupDescription{group: g, committed: committed}
	topics := map[string]bool{}
	for t := range committed {
		topics[t] = true
	}
	for _, m := range g.members {
		for t := range m.assigned {
			topics[t] = true
		}
	}
	if len(topics) > 0 {
		names := make([]string, 0, len(topics))
		for t := range topics {
			names = append(names, t)
		}
		slices.Sort(names)
		if d.ends, err = adm.ListEndOffsets(ctx, names...); err != nil {
			return nil, fmt.Errorf("describe group %s: log end offsets: %w", id, err)
		}
	}
	return d, nil
}

// partitionRow is one partition of the describe table.
type partitionRow struct {
	topic     string
	partition int32
	member    *memberInfo
}

// write renders the group header, the member table and the partition
// table; partitions are those assigned to a member and those with a
// committed offset, sorted by topic and partition.
func (d *groupDescription) write(w io.Writer) error {
	g := d.group
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Group:\t%s\n", g.id)
	fmt.Fprintf(tw, "Type:\t%s\n", orDash(g.typ))
	fmt.Fprintf(tw, "State:\t%s\n", orDash(g.state))
	fmt.Fprintf(tw, "Protocol type:\t%s\n", orDash(g.protocolType))
	fmt.Fprintf(tw, "Assignor:\t%s\n", orDash(g.assignor))
	fmt.Fprintf(tw, "Coordinator:\t%d\n", g.coordinator)
	fmt.Fprintf(tw, "Members:\t%d\n", len(g.members))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER-ID\tINSTANCE-ID\tCLIENT-ID\tHOST\tASSIGNED-PARTITIONS")
	for _, m := range g.members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.id, orDash(m.instanceID), orDash(m.clientID), orDash(m.host), formatTopicsSet(m.assigned))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(g.members) == 0 {
		fmt.Fprintf(w, "(group %s has no active members)\n", g.id)
	}

	var rows []partitionRow
	seen := map[string]map[int32]bool{}
	add := func(t string, p int32, m *memberInfo) {
		if seen[t] == nil {
			seen[t] = map[int32]bool{}
		}
		if !seen[t][p] {
			seen[t][p] = true
			rows = append(rows, partitionRow{topic: t, partition: p, member: m})
		}
	}
	for i := range g.members {
		m := &g.members[i]
		for t, ps := range m.assigned {
			for p := range ps {
				add(t, p, m)
			}
		}
	}
	for t, ps := range d.committed {
		for p := range ps {
			add(t, p, nil)
		}
	}
	slices.SortFunc(rows, func(a, b partitionRow) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tHOST\tCLIENT-ID")
	for _, r := range rows {
		current, end, lag := "-", "-", "-"
		c, hasCommit := d.committed.Lookup(r.topic, r.partition)
		if hasCommit {
			current = fmt.Sprint(c.At)
		}
		e, hasEnd := d.ends.Lookup(r.topic, r.partition)
		if hasEnd {
			end = listedOffset(d.ends, r.topic, r.partition)
		}
		if hasCommit && hasEnd && e.Err == nil {
			lag = fmt.Sprint(max(e.Offset-c.At, 0))
		}
		member, host, client := "-", "-", "-"
		if r.member != nil {
			member, host, client = r.member.id, orDash(r.member.host), orDash(r.member.clientID)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.topic, r.partition, current, end, lag, member, host, client)
	}
	return tw.Flush()
}

func newGroupDeleteCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete groups that have no members, with their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteGroups(ctx, args...)
				if err != nil {
					return fmt.Errorf("delete groups: %w", err)
				}
				return reportDeleted(cmd.OutOrStdout(), "group", args, func(id string) (bool, error) {
					r, ok := resps[id]
					return ok, withBrokerMessage(r.Err, r.ErrMessage)
				})
			})
		},
	}
}

// resetSpec is the target of a reset-offsets run: exactly one of its
// modes is set.
type resetSpec struct {
	toEarliest, toLatest bool
	toDatetime           string
	toOffset             int64
	shiftBy              int64
	// hasToOffset and hasShiftBy record whether --to-offset and
	// --shift-by were given, since 0 is a valid value of both.
	hasToOffset, hasShiftBy bool
}

// check requires exactly one reset mode.
func (s *resetSpec) check() error {
	n := 0
	for _, set := range []bool{s.toEarliest, s.toLatest, s.toDatetime != "", s.hasToOffset, s.hasShiftBy} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset and --shift-by")
	}
	return nil
}

// resetRow is one partition of a reset plan.
type resetRow struct {
	topic     string
	partition int32
	// current is the committed offset, -1 when there is none.
	current int64
	next    int64
}

func newGroupResetOffsetsCmd(f *topicFlags) *cobra.Command {
	var (
		spec      resetSpec
		topics    []string
		allTopics bool
		execute   bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Plan, and with --execute commit, new offsets for a group without active members",
		Long: "Computes new committed offsets for the group on the partitions given by --topic\n" +
			"(TOPIC for all its partitions, TOPIC:0,2 for some) or --all-topics (every partition\n" +
			"the group has committed offsets for), and prints the plan: topic, partition, current\n" +
			"committed offset and new offset. Nothing is committed without --execute.\n\n" +
			"Offsets can only be reset while the group has no active members (state Empty, or a\n" +
			"group that does not exist yet), as with Kafka's kafka-consumer-groups.sh: running\n" +
			"consumers would overwrite the new offsets with their next commit.\n\n" +
			"--to-datetime replays events: each partition goes to its first record with a\n" +
			"timestamp at or after the time, or to its end when there is none. --to-offset and\n" +
			"--shift-by are clamped to the partition's log start and end offsets.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.hasToOffset = cmd.Flags().Changed("to-offset")
			spec.hasShiftBy = cmd.Flags().Changed("shift-by")
			if err := spec.check(); err != nil {
				return err
			}
			if allTopics == (len(topics) > 0) {
				return errors.New("give either --topic (repeatable) or --all-topics")
			}
			var at time.Time
			if spec.toDatetime != "" {
				t, err := parseTimestamp(spec.toDatetime)
				if err != nil {
					return fmt.Errorf("--to-datetime: %w", err)
				}
				at = t
			}
			scopes, err := parseTopicScopes(topics)
			if err != nil {
				return err
			}
			group := args[0]
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				plan, err := planReset(ctx, adm, group, scopes, allTopics, &spec, at)
				if err != nil {
					return err
				}
				if execute {
					if err := commitPlan(ctx, adm, group, plan); err != nil {
						return err
					}
				}
				if err := writeResetPlan(cmd.OutOrStdout(), plan); err != nil {
					return err
				}
				if execute {
					fmt.Fprintf(cmd.OutOrStdout(), "committed new offsets for %d partitions of group %s\n", len(plan), group)
				} else {
					fmt.Fprintln(cmd.ErrOrStderr(), "dry run: nothing committed; add --execute to commit these offsets")
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&topics, "topic", nil, "TOPIC or TOPIC:P1,P2 to reset (repeatable)")
	fl.BoolVar(&allTopics, "all-topics", false, "reset every partition the group has committed offsets for")
	fl.BoolVar(&spec.toEarliest, "to-earliest", false, "reset to the log start offset")
	fl.BoolVar(&spec.toLatest, "to-latest", false, "reset to the log end offset")
	fl.StringVar(&spec.toDatetime, "to-datetime", "", "reset to the first offset at or after this time (RFC 3339 or Unix milliseconds)")
	fl.Int64Var(&spec.toOffset, "to-offset", 0, "reset to this offset")
	fl.Int64Var(&spec.shiftBy, "shift-by", 0, "move the committed offset by this many records (negative: back)")
	fl.BoolVar(&execute, "execute", false, "commit the new offsets (without it the plan is only printed)")
	return cmd
}

// topicScope is one --topic value: a topic, and its partitions when given.
type topicScope struct {
	topic      string
	partitions []int32 // nil: every partition
}

// parseTopicScopes parses --topic values: TOPIC or TOPIC:P1,P2.
func parseTopicScopes(args []string) ([]topicScope, error) {
	var scopes []topicScope
	for _, a := range args {
		topic, parts, hasParts := strings.Cut(a, ":")
		if topic == "" {
			return nil, fmt.Errorf("--topic %q: empty topic name", a)
		}
		s := topicScope{topic: topic}
		if hasParts {
			for p := range strings.SplitSeq(parts, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("--topic %q: invalid partition %q", a, p)
				}
				s.partitions = append(s.partitions, int32(n))
			}
		}
		scopes = append(scopes, s)
	}
	return scopes, nil
}

// inactiveStates are the states in which a group's offsets may be reset:
// no members (Empty), or no group at all (Dead).
var inactiveStates = []string{"Empty", "Dead"}

// planReset checks that the group is inactive and computes the new offset
// of every partition in scope.
func planReset(ctx context.Context, adm *kadm.Client, group string, scopes []topicScope, allTopics bool, spec *resetSpec, at time.Time) ([]resetRow, error) {
	gs, err := describeGroups(ctx, adm, []string{group})
	if err != nil {
		return nil, err
	}
	g := gs[group]
	if g.err != nil {
		return nil, fmt.Errorf("describe group %s: %w", group, g.err)
	}
	if !slices.Contains(inactiveStates, g.state) {
		// Kafka's message, verbatim.
		return nil, fmt.Errorf("Assignments can only be reset if the group '%s' is inactive, but the current state is %s.", group, g.state)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("group %s: committed offsets: %w", group, err)
	}
	committed.KeepFunc(func(o kadm.OffsetResponse) bool { return o.At >= 0 })

	// The partitions in scope, in topic and partition order.
	var rows []resetRow
	if allTopics {
		for _, o := range committed.Sorted() {
			rows = append(rows, resetRow{topic: o.Topic, partition: o.Partition})
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("group %s has no committed offsets", group)
		}
	} else {
		names := make([]string, len(scopes))
		for i, s := range scopes {
			names[i] = s.topic
		}
		details, err := adm.ListTopics(ctx, names...)
		if err != nil {
			return nil, fmt.Errorf("describe topics: %w", err)
		}
		seen := map[string]map[int32]bool{}
		for _, s := range scopes {
			td, ok := details[s.topic]
			if !ok {
				return nil, fmt.Errorf("topic %s: %w", s.topic, kerr.UnknownTopicOrPartition)
			}
			if td.Err != nil {
				return nil, fmt.Errorf("topic %s: %w", s.topic, td.Err)
			}
			parts := s.partitions
			if parts == nil {
				for _, p := range td.Partitions.Sorted() {
					parts = append(parts, p.Partition)
				}
			}
			for _, p := range parts {
				if _, ok := td.Partitions[p]; !ok {
					return nil, fmt.Errorf("topic %s has no partition %d", s.topic, p)
				}
				if seen[s.topic] == nil {
					seen[s.topic] = map[int32]bool{}
				}
				if !seen[s.topic][p] {
					seen[s.topic][p] = true
					rows = append(rows, resetRow{topic: s.topic, partition: p})
				}
			}
		}
		slices.SortFunc(rows, func(a, b resetRow) int {
			if c := strings.Compare(a.topic, b.topic); c != 0 {
				return c
			}
			return int(a.partition) - int(b.partition)
		})
	}
	var topicNames []string
	for i := range rows {
		r := &rows[i]
		r.current = -1
		if c, ok := committed.Lookup(r.topic, r.partition); ok {
			r.current = c.At
		}
		if !slices.Contains(topicNames, r.topic) {
			topicNames = append(topicNames, r.topic)
		}
	}

	starts, err := adm.ListStartOffsets(ctx, topicNames...)
	if err != nil {
		return nil, fmt.Errorf("log start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topicNames...)
	if err != nil {
		return nil, fmt.Errorf("log end offsets: %w", err)
	}
	var byTime kadm.ListedOffsets
	if spec.toDatetime != "" {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), topicNames...); err != nil {
			return nil, fmt.Errorf("offsets at %s: %w", at.UTC().Format(time.RFC3339Nano), err)
		}
	}
	lookup := func(l kadm.ListedOffsets, what string, r *resetRow) (int64, error) {
		o, ok := l.Lookup(r.topic, r.partition)
		switch {
		case !ok:
			return 0, fmt.Errorf("%s-%d: no %s offset in the response", r.topic, r.partition, what)
		case o.Err != nil:
			return 0, fmt.Errorf("%s-%d: %s offset: %w", r.topic, r.partition, what, o.Err)
		}
		return o.Offset, nil
	}
	for i := range rows {
		r := &rows[i]
		start, err := lookup(starts, "log start", r)
		if err != nil {
			return nil, err
		}
		end, err := lookup(ends, "log end", r)
		if err != nil {
			return nil, err
		}
		switch {
		case spec.toEarliest:
			r.next = start
		case spec.toLatest:
			r.next = end
		case spec.toDatetime != "":
			if r.next, err = lookup(byTime, "timestamp", r); err != nil {
				return nil, err
			}
			if r.next < 0 { // no record at or after the time
				r.next = end
			}
		case spec.hasToOffset:
			r.next = min(max(spec.toOffset, start), end)
		case spec.hasShiftBy:
			if r.current < 0 {
				return nil, fmt.Errorf("cannot shift the offset of %s-%d: the group has no committed offset for it", r.topic, r.partition)
			}
			r.next = min(max(r.current+spec.shiftBy, start), end)
		}
	}
	return rows, nil
}

// commitPlan commits the planned offsets and fails if any partition was
// not committed.
func commitPlan(ctx context.Context, adm *kadm.Client, group string, plan []resetRow) error {
	var offsets kadm.Offsets
	for _, r := range plan {
		offsets.Add(kadm.Offset{Topic: r.topic, Partition: r.partition, At: r.next, LeaderEpoch: -1})
	}
	resps, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		return fmt.Errorf("commit offsets of group %s: %w", group, err)
	}
	return nil
}

// writeResetPlan prints the plan, one row per partition.
func writeResetPlan(w io.Writer, plan []resetRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
	for _, r := range plan {
		current := "-"
		if r.current >= 0 {
			current = fmt.Sprint(r.current)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", r.topic, r.partition, current, r.next)
	}
	return tw.Flush()
}
