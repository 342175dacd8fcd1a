package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newTxnCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "List and describe transactions and the producers of partitions",
	}
	f.client.register(cmd.PersistentFlags())
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for the command")
	cmd.AddCommand(newTxnListCmd(f), newTxnDescribeCmd(f), newTxnProducersCmd(f))
	return cmd
}

func newTxnListCmd(f *topicFlags) *cobra.Command {
	var (
		states      []string
		producerIDs []int64
		pattern     string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List transactional ids with their producer ids and states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				listed, err := adm.ListTransactionsByTxPattern(ctx, producerIDs, states, pattern)
				if err != nil {
					return fmt.Errorf("list transactions: %w", err)
				}
				return writeTxnList(cmd.OutOrStdout(), listed)
			})
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only transactions in this state (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort); repeatable")
	cmd.Flags().Int64SliceVar(&producerIDs, "producer-id", nil, "only transactions of this producer id; repeatable")
	cmd.Flags().StringVar(&pattern, "pattern", "", "only transactional ids matching this regular expression in full")
	return cmd
}

// writeTxnList prints one row per transactional id, sorted by id.
func writeTxnList(w io.Writer, listed kadm.ListedTransactions) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tPRODUCER-ID\tSTATE\tCOORDINATOR")
	for _, l := range listed.Sorted() {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", l.TxnID, l.ProducerID, l.State, l.Coordinator)
	}
	return tw.Flush()
}

func newTxnDescribeCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe ID...",
		Short: "Describe transactional ids: state, producer, timeout and the partitions of the open transaction",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				described, err := adm.DescribeTransactions(ctx, args...)
				if err != nil {
					return fmt.Errorf("describe transactions: %w", err)
				}
				return writeTxnDescribe(cmd.OutOrStdout(), described, args)
			})
		},
	}
}

// writeTxnDescribe prints each requested id in the order given; an id
// that could not be described is reported with its error.
func writeTxnDescribe(w io.Writer, described kadm.DescribedTransactions, ids []string) error {
	var firstErr error
	for i, id := range ids {
		if i > 0 {
			fmt.Fprintln(w)
		}
		d, ok := described[id]
		if !ok || d.Err != nil {
			err := d.Err
			if !ok {
				err = fmt.Errorf("not described")
			}
			fmt.Fprintf(w, "transactional id %s: %v\n", id, err)
			if firstErr == nil {
				firstErr = fmt.Errorf("transactional id %s: %w", id, err)
			}
			continue
		}
		start := "-"
		if d.StartTimestamp >= 0 {
			start = time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339Nano)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "transactional id\t%s\n", d.TxnID)
		fmt.Fprintf(tw, "state\t%s\n", d.State)
		fmt.Fprintf(tw, "producer id\t%d\n", d.ProducerID)
		fmt.Fprintf(tw, "producer epoch\t%d\n", d.ProducerEpoch)
		fmt.Fprintf(tw, "timeout\t%v\n", time.Duration(d.TimeoutMillis)*time.Millisecond)
		fmt.Fprintf(tw, "started\t%s\n", start)
		fmt.Fprintf(tw, "coordinator\t%d\n", d.Coordinator)
		fmt.Fprintf(tw, "partitions\t%s\n", formatTopicsSet(d.Topics))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return firstErr
}

// formatTopicsSet renders partitions as "topic[0,1] other[3]", sorted.
func formatTopicsSet(s kadm.TopicsSet) string {
	if len(s) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range s.Sorted() {
		ps := make([]string, len(t.Partitions))
		for i, p := range t.Partitions {
			ps[i] = fmt.Sprint(p)
		}
		parts = append(parts, t.Topic+"["+strings.Join(ps, ",")+"]")
	}
	return strings.Join(parts, " ")
}

func newTxnProducersCmd(f *topicFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "producers TOPIC...",
		Short: "List the active producers of each partition of the topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				td, err := adm.ListTopics(ctx, args...)
				if err != nil {
					return fmt.Errorf("describe topics: %w", err)
				}
				set := kadm.TopicsSet{}
				for _, t := range td.Sorted() {
					if t.Err != nil {
						return fmt.Errorf("topic %s: %w", t.Topic, t.Err)
					}
					for p := range t.Partitions {
						set.Add(t.Topic, p)
					}
				}
				described, err := adm.DescribeProducers(ctx, set)
				if err != nil {
					return fmt.Errorf("describe producers: %w", err)
				}
				return writeProducers(cmd.OutOrStdout(), described)
			})
		},
	}
}

// writeProducers prints one row per active producer of each partition,
// sorted by topic, partition and producer id; a partition that could not
// be described is reported with its error.
func writeProducers(w io.Writer, described kadm.DescribedProducersTopics) error {
	var rows []kadm.DescribedProducer
	for _, t := range described {
		for _, p := range t.Partitions {
			if p.Err != nil {
				fmt.Fprintf(w, "%s-%d: %v\n", t.Topic, p.Partition, p.Err)
			}
			for _, dp := range p.ActiveProducers {
				rows = append(rows, dp)
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		l, r := rows[i], rows[j]
		return l.Topic < r.Topic || l.Topic == r.Topic && (l.Partition < r.Partition || l.Partition == r.Partition && l.ProducerID < r.ProducerID)
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tPRODUCER-ID\tEPOCH\tLAST-SEQUENCE\tTXN-START-OFFSET")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", r.Topic, r.Partition, r.ProducerID, r.ProducerEpoch, r.LastSequence, r.CurrentTxnStartOffset)
	}
	return tw.Flush()
}
