package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicFlags are the flags shared by every topic subcommand.
type topicFlags struct {
	client clientFlags
	// timeout bounds each admin command, including broker retries.
	timeout time.Duration
}

// admin runs fn with an admin client bound to a context limited by
// --timeout, closing the client afterwards.
func (f *topicFlags) admin(ctx context.Context, fn func(ctx context.Context, adm *kadm.Client) error) error {
	cl, err := f.client.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return fn(ctx, kadm.NewClient(cl))
}

func newTopicCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
	}
	f.client.register(cmd.PersistentFlags())
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for the command")
	cmd.AddCommand(
		newTopicCreateCmd(f),
		newTopicListCmd(f),
		newTopicDescribeCmd(f),
		newTopicDeleteCmd(f),
		newTopicAlterConfigCmd(f),
		newTopicAddPartitionsCmd(f),
	)
	return cmd
}

func newTopicCreateCmd(f *topicFlags) *cobra.Command {
	var (
		partitions        int32
		replicationFactor int16
		configs           []string
		ifNotExists       bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseConfigs("config", configs)
			if err != nil {
				return err
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resp, err := adm.CreateTopic(ctx, partitions, replicationFactor, cfg, args[0])
				if errors.Is(err, kerr.TopicAlreadyExists) && ifNotExists {
					fmt.Fprintf(cmd.OutOrStdout(), "topic %s already exists\n", args[0])
					return nil
				}
				if err != nil {
					return fmt.Errorf("create topic %s: %w", args[0], withBrokerMessage(err, resp.ErrMessage))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created topic %s (partitions %d, replication factor %d, id %s)\n",
					resp.Topic, resp.NumPartitions, resp.ReplicationFactor, formatTopicID(resp.ID))
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.Int32Var(&partitions, "partitions", -1, "number of partitions (-1: broker default num.partitions)")
	fl.Int16Var(&replicationFactor, "replication-factor", -1, "replicas per partition (-1: broker default default.replication.factor)")
	fl.StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")
	fl.BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	return cmd
}

func newTopicListCmd(f *topicFlags) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics with their partition counts and replication factors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				list := adm.ListTopics
				if internal {
					list = adm.ListTopicsWithInternal
				}
				topics, err := list(ctx)
				if err != nil {
					return fmt.Errorf("list topics: %w", err)
				}
				return writeTopicList(cmd.OutOrStdout(), topics)
			})
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
	return cmd
}

// writeTopicList prints one row per topic, sorted by name.
func writeTopicList(w io.Writer, topics kadm.TopicDetails) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tREPLICATION-FACTOR\tINTERNAL")
	for _, t := range topics.Sorted() {
		if t.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t(%v)\n", t.Topic, t.Err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%t\n", t.Topic, len(t.Partitions), t.Partitions.NumReplicas(), t.IsInternal)
	}
	return tw.Flush()
}

func newTopicDescribeCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a topic's partitions, leaders, replicas, ISR, offsets and non-default configs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				d, err := describeTopic(ctx, adm, args[0])
				if err != nil {
					return err
				}
				return d.write(cmd.OutOrStdout())
			})
		},
	}
}

// topicDescription is everything topic describe reports.
type topicDescription struct {
	detail kadm.TopicDetail
	// startOffsets and endOffsets are the LogStartOffset and
	// LogEndOffset (high watermark) per partition.
	startOffsets, endOffsets kadm.ListedOffsets
	// configs are the configs whose source is not the built-in default.
	configs []kadm.Config
}

// describeTopic gathers metadata, offsets and configs for one topic.
func describeTopic(ctx context.Context, adm *kadm.Client, topic string) (*topicDescription, error) {
	topics, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, err)
	}
	detail, ok := topics[topic]
	if !ok {
		return nil, fmt.Errorf("describe topic %s: %w", topic, kerr.UnknownTopicOrPartition)
	}
	if detail.Err != nil {
		return nil, fmt.Errorf("describe topic %s: %w", topic, detail.Err)
	}
	d := &topicDescription{detail: detail}
	if d.startOffsets, err = adm.ListStartOffsets(ctx, topic); err != nil {
		return nil, fmt.Errorf("describe topic %s: log start offsets: %w", topic, err)
	}
	if d.endOffsets, err = adm.ListEndOffsets(ctx, topic); err != nil {
		return nil, fmt.Errorf("describe topic %s: log end offsets: %w", topic, err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: configs: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = withBrokerMessage(rc.Err, rc.ErrMessage)
	}
	if err != nil {
		return nil, fmt.Errorf("describe topic %s: configs: %w", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Source != kmsg.ConfigSourceDefaultConfig && c.Source != kmsg.ConfigSourceUnknown {
			d.configs = append(d.configs, c)
		}
	}
	slices.SortFunc(d.configs, func(a, b kadm.Config) int { return strings.Compare(a.Key, b.Key) })
	return d, nil
}

// write renders the description as a header, the config list and a
// partition table.
func (d *topicDescription) write(w io.Writer) error {
	t := d.detail
	fmt.Fprintf(w, "Topic: %s\nTopicID: %s\nPartitions: %d\nReplicationFactor: %d\nInternal: %t\n",
		t.Topic, formatTopicID(t.ID), len(t.Partitions), t.Partitions.NumReplicas(), t.IsInternal)
	fmt.Fprintln(w, "Configs:")
	if len(d.configs) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, c := range d.configs {
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		fmt.Fprintf(w, "  %s=%s (%s)\n", c.Key, v, c.Source)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tLEADER-EPOCH\tREPLICAS\tISR\tLOG-START-OFFSET\tLOG-END-OFFSET")
	for _, p := range t.Partitions.Sorted() {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s",
			p.Partition, p.Leader, p.LeaderEpoch, formatIDs(p.Replicas), formatIDs(p.ISR),
			listedOffset(d.startOffsets, t.Topic, p.Partition), listedOffset(d.endOffsets, t.Topic, p.Partition))
		if p.Err != nil {
			fmt.Fprintf(tw, "\t%v", p.Err)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// formatTopicID renders a topic ID as Kafka's tools do: URL-safe base64
// without padding.
func formatTopicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// formatIDs renders broker IDs as a comma-separated list.
func formatIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// listedOffset renders one partition's listed offset, or its error name.
func listedOffset(offsets kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := offsets.Lookup(topic, partition)
	switch {
	case !ok:
		return "-"
	case o.Err != nil:
		var ke *kerr.Error
		if errors.As(o.Err, &ke) {
			return ke.Message
		}
		return o.Err.Error()
	}
	return fmt.Sprint(o.Offset)
}

func newTopicDeleteCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteTopics(ctx, args...)
				if err != nil {
					return fmt.Errorf("delete topics: %w", err)
				}
				return reportDeleted(cmd.OutOrStdout(), "topic", args, func(name string) (bool, error) {
					r, ok := resps[name]
					return ok, withBrokerMessage(r.Err, r.ErrMessage)
				})
			})
		},
	}
}

func newTopicAlterConfigCmd(f *topicFlags) *cobra.Command {
	var (
		set     []string
		deletes []string
	)
	cmd := &cobra.Command{
		Use:   "alter-config NAME",
		Short: "Set or delete topic configs (IncrementalAlterConfigs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			alters, err := configAlterations(set, deletes)
			if err != nil {
				return err
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.AlterTopicConfigs(ctx, alters, args[0])
				if err != nil {
					return fmt.Errorf("alter topic %s configs: %w", args[0], err)
				}
				r, err := resps.On(args[0], nil)
				if err == nil {
					err = withBrokerMessage(r.Err, r.ErrMessage)
				}
				if err != nil {
					return fmt.Errorf("alter topic %s configs: %w", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "altered %d configs of topic %s\n", len(alters), args[0])
				return nil
			})
		},
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "config key=value to set (repeatable)")
	cmd.Flags().StringArrayVar(&deletes, "delete", nil, "config key to reset to its default (repeatable)")
	return cmd
}

// configAlterations turns --set and --delete flags into incremental
// alterations, sorted by key. A key may appear only once in total.
func configAlterations(set, deletes []string) ([]kadm.AlterConfig, error) {
	values, err := parseConfigs("set", set)
	if err != nil {
		return nil, err
	}
	alters := make([]kadm.AlterConfig, 0, len(set)+len(deletes))
	for k, v := range values {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: v})
	}
	for _, k := range deletes {
		if k == "" {
			return nil, errors.New("--delete: empty key")
		}
		if _, dup := values[k]; dup {
			return nil, fmt.Errorf("%q is both set and deleted", k)
		}
		values[k] = nil
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(alters) == 0 {
		return nil, errors.New("nothing to alter: give --set or --delete")
	}
	slices.SortFunc(alters, func(a, b kadm.AlterConfig) int { return strings.Compare(a.Name, b.Name) })
	return alters, nil
}

func newTopicAddPartitionsCmd(f *topicFlags) *cobra.Command {
	var total int
	cmd := &cobra.Command{
		Use:   "add-partitions NAME",
		Short: "Grow a topic to --total partitions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if total <= 0 {
				return errors.New("--total: must be a positive partition count")
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.UpdatePartitions(ctx, total, args[0])
				if err != nil {
					return fmt.Errorf("add partitions to %s: %w", args[0], err)
				}
				r, ok := resps[args[0]]
				if !ok {
					return fmt.Errorf("add partitions to %s: missing from the response", args[0])
				}
				if r.Err != nil {
					return fmt.Errorf("add partitions to %s: %w", args[0], withBrokerMessage(r.Err, r.ErrMessage))
				}
				fmt.Fprintf(cmd.OutOrStdout(), "topic %s now has %d partitions\n", args[0], total)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&total, "total", 0, "the partition count after the change")
	return cmd
}

// reportDeleted prints a line for each name deleted and returns the
// errors of the others, joined. result reports whether the response
// named it and its error.
func reportDeleted(out io.Writer, what string, names []string, result func(name string) (bool, error)) error {
	var errs []error
	for _, name := range names {
		ok, err := result(name)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("delete %s %s: missing from the response", what, name))
		case err != nil:
			errs = append(errs, fmt.Errorf("delete %s %s: %w", what, name, err))
		default:
			fmt.Fprintf(out, "deleted %s %s\n", what, name)
		}
	}
	return errors.Join(errs...)
}
