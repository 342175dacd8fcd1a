package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/broker"
)

// clusterFlags are the flags shared by the cluster subcommands.
type clusterFlags struct {
	client  clientFlags
	timeout time.Duration
	// controllers are controller listener addresses for the quorum
	// membership commands; when empty they are found with DescribeQuorum
	// through --bootstrap.
	controllers string
	// ctrlCA, ctrlCert and ctrlKey are the PEM files for an SSL
	// controller listener: the CA to trust, and the client certificate
	// and key it requires.
	ctrlCA, ctrlCert, ctrlKey string
}

// controllerFlags registers the flags of the commands that talk to the
// controller listeners.
func (f *clusterFlags) controllerFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.controllers, "controller", "", "controller listener(s) host:port of the quorum (default: found with DescribeQuorum)")
	fl.StringVar(&f.ctrlCA, "controller-ca", "", "PEM file of the CA that signed the controller listeners' certificates (SSL controller listener)")
	fl.StringVar(&f.ctrlCert, "controller-cert", "", "PEM file of a client certificate the controller listeners trust (ssl.client.auth=required)")
	fl.StringVar(&f.ctrlKey, "controller-key", "", "PEM file of the key of --controller-cert")
}

// controllerTLS is the client TLS for the controller listeners, nil for
// PLAINTEXT ones.
func (f *clusterFlags) controllerTLS() (*tls.Config, error) {
	if f.ctrlCA == "" && f.ctrlCert == "" && f.ctrlKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.ctrlCA != "" {
		pem, err := os.ReadFile(f.ctrlCA)
		if err != nil {
			return nil, fmt.Errorf("--controller-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("--controller-ca: no PEM certificate found")
		}
	}
	if f.ctrlCert != "" || f.ctrlKey != "" {
		cert, err := tls.LoadX509KeyPair(f.ctrlCert, f.ctrlKey)
		if err != nil {
			return nil, fmt.Errorf("--controller-cert/--controller-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func newClusterCmd() *cobra.Command {
	f := &clusterFlags{}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and operate a cluster: status, leader elections, reassignments, quorum membership",
	}
	f.client.register(cmd.PersistentFlags())
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for the command")
	cmd.AddCommand(
		newClusterStatusCmd(f),
		newClusterElectCmd(f),
		newClusterReassignCmd(f),
		newClusterAddControllerCmd(f),
		newClusterRemoveControllerCmd(f),
		newClusterAddBrokerCmd(f),
		newClusterRemoveBrokerCmd(f),
	)
	return cmd
}

// run runs fn with a client bound to a context limited by --timeout.
func (f *clusterFlags) run(ctx context.Context, fn func(ctx context.Context, cl *kgo.Client) error) error {
	cl, err := f.client.newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return fn(ctx, cl)
}

// describeQuorum asks for the metadata quorum's state (DescribeQuorum v2).
func describeQuorum(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponse, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	req.Topics = []kmsg.DescribeQuorumRequestTopic{{Topic: "__cluster_metadata", Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describe quorum: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe quorum: %w", withBrokerMessage(err, deref(resp.ErrorMessage)))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, errors.New("describe quorum: malformed response")
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, fmt.Errorf("describe quorum: %w", withBrokerMessage(err, deref(p.ErrorMessage)))
	}
	return resp, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// controllerAddrs returns the controller listeners to send membership
// changes to: --controller, else the voters' listeners from
// DescribeQuorum.
func (f *clusterFlags) controllerAddrs(ctx context.Context, cl *kgo.Client) ([]string, error) {
	var out []string
	for _, a := range strings.Split(f.controllers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	resp, err := describeQuorum(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("%w (give --controller host:port)", err)
	}
	p := resp.Topics[0].Partitions[0]
	for _, n := range resp.Nodes {
		for _, l := range n.Listeners {
			addr := net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
			if n.NodeID == p.LeaderID {
				out = append([]string{addr}, out...)
			} else {
				out = append(out, addr)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no controller listener known: give --controller host:port")
	}
	return out, nil
}

func newClusterStatusCmd(f *clusterFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the brokers, the controller, the metadata quorum and unhealthy partitions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.Context(), func(ctx context.Context, cl *kgo.Client) error {
				return clusterStatus(ctx, cl, cmd.OutOrStdout())
			})
		},
	}
}

func clusterStatus(ctx context.Context, cl *kgo.Client, w io.Writer) error {
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.EndpointType = 1
	dc.IncludeFencedBrokers = true
	dcr, err := dc.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(dcr.ErrorCode); err != nil {
		return fmt.Errorf("describe cluster: %w", withBrokerMessage(err, deref(dcr.ErrorMessage)))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = nil // every topic
	mdr, err := md.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	fmt.Fprintf(w, "Cluster: %s\nController: %d\n\nBROKERS\n", dcr.ClusterID, dcr.ControllerID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK\tSTATE")
	alive := map[int32]bool{}
	sort.Slice(dcr.Brokers, func(i, j int) bool { return dcr.Brokers[i].NodeID < dcr.Brokers[j].NodeID })
	for _, b := range dcr.Brokers {
		state := "active"
		if b.IsFenced {
			state = "fenced"
		} else {
			alive[b.NodeID] = true
		}
		rack := "-"
		if b.Rack != nil {
			rack = *b.Rack
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", b.NodeID, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), rack, state)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nMETADATA QUORUM")
	if qr, err := describeQuorum(ctx, cl); err != nil {
		fmt.Fprintf(w, "  unavailable: %v\n", err)
	} else {
		p := qr.Topics[0].Partitions[0]
		fmt.Fprintf(w, "Leader: %d  Epoch: %d  High watermark: %d\n", p.LeaderID, p.LeaderEpoch, p.HighWatermark)
		addrs := map[int32]string{}
		for _, n := range qr.Nodes {
			for _, l := range n.Listeners {
				addrs[n.NodeID] = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
			}
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tCONTROLLER-ADDRESS\tLOG-END\tLAG\tLAST-CONTACT")
		row := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
			if r.ReplicaID == p.LeaderID {
				role = "leader"
			}
			contact := "-"
			if r.LastFetchTimestamp > 0 {
				contact = time.Since(time.UnixMilli(r.LastFetchTimestamp)).Round(time.Millisecond).String() + " ago"
			}
			addr := addrs[r.ReplicaID]
			if addr == "" {
				addr = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", r.ReplicaID, role, addr, r.LogEndOffset, max(p.HighWatermark-r.LogEndOffset, 0), contact)
		}
		for _, r := range p.CurrentVoters {
			row(r, "voter")
		}
		for _, r := range p.Observers {
			row(r, "observer")
		}
		tw.Flush()
	}

	var under, offline, moving []string
	sort.Slice(mdr.Topics, func(i, j int) bool { return deref(mdr.Topics[i].Topic) < deref(mdr.Topics[j].Topic) })
	for _, t := range mdr.Topics {
		sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Partition < t.Partitions[j].Partition })
		for _, p := range t.Partitions {
			name := fmt.Sprintf("%s-%d", deref(t.Topic), p.Partition)
			desc := fmt.Sprintf("%s leader %d replicas %s isr %s", name, p.Leader, ids(p.Replicas), ids(p.ISR))
			if p.Leader < 0 || !alive[p.Leader] {
				offline = append(offline, desc)
			} else if len(p.ISR) < len(p.Replicas) {
				under = append(under, desc)
			}
		}
	}
	lr := kmsg.NewPtrListPartitionReassignmentsRequest()
	if resp, err := lr.RequestWith(ctx, cl); err == nil && resp.ErrorCode == 0 {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				moving = append(moving, fmt.Sprintf("%s-%d replicas %s adding %s removing %s", t.Topic, p.Partition, ids(p.Replicas), ids(p.AddingReplicas), ids(p.RemovingReplicas)))
			}
		}
	}
	section := func(title string, rows []string) {
		fmt.Fprintf(w, "\n%s: %d\n", title, len(rows))
		for _, r := range rows {
			fmt.Fprintf(w, "  %s\n", r)
		}
	}
	section("Offline partitions", offline)
	section("Under-replicated partitions", under)
	section("Reassignments in progress", moving)
	return nil
}

// ids renders node ids as 1,2,3 ("-" when none).
func ids(v []int32) string {
	if len(v) == 0 {
		return "-"
	}
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// parseIDs parses a comma-separated list of node ids.
func parseIDs(flag, s string) ([]int32, error) {
	var out []int32
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		n, err := strconv.ParseInt(e, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--%s: %q is not a node id", flag, e)
		}
		out = append(out, int32(n))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: no node id given", flag)
	}
	return out, nil
}

func newClusterElectCmd(f *clusterFlags) *cobra.Command {
	var (
		topic     string
		partition int32
		typ       string
	)
	cmd := &cobra.Command{
		Use:   "elect-leaders",
		Short: "Elect partition leaders: the preferred replica, or any replica of a partition without a leader (unclean)",
		Long: "Elect partition leaders (ElectLeaders). --type preferred (the default) gives the\n" +
			"leadership to each partition's first replica when it is in sync; --type unclean\n" +
			"gives a partition without an active leader any active replica, which may lose\n" +
			"acknowledged records. Without --topic every partition is considered.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := kmsg.NewPtrElectLeadersRequest()
			switch typ {
			case "preferred":
				req.ElectionType = 0
			case "unclean":
				req.ElectionType = 1
			default:
				return fmt.Errorf("--type %q: want preferred or unclean", typ)
			}
			switch {
			case topic != "":
				rt := kmsg.ElectLeadersRequestTopic{Topic: topic}
				if partition >= 0 {
					rt.Partitions = []int32{partition}
				} else {
					rt.Partitions = nil
				}
				req.Topics = []kmsg.ElectLeadersRequestTopic{rt}
			case partition >= 0:
				return errors.New("--partition needs --topic")
			}
			return f.run(cmd.Context(), func(ctx context.Context, cl *kgo.Client) error {
				req.TimeoutMillis = int32(f.timeout / time.Millisecond)
				if topic != "" && partition < 0 {
					n, err := partitionCount(ctx, cl, topic)
					if err != nil {
						return err
					}
					for p := int32(0); p < n; p++ {
						req.Topics[0].Partitions = append(req.Topics[0].Partitions, p)
					}
				}
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return fmt.Errorf("elect leaders: %w", err)
				}
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return fmt.Errorf("elect leaders: %w", err)
				}
				return writeElectResults(cmd.OutOrStdout(), resp)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&topic, "topic", "", "topic whose partitions to elect (default: every partition)")
	fl.Int32Var(&partition, "partition", -1, "partition of --topic (default: every partition of the topic)")
	fl.StringVar(&typ, "type", "preferred", "election type: preferred or unclean")
	return cmd
}

// partitionCount returns the number of partitions of a topic.
func partitionCount(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
	resp, err := md.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	if len(resp.Topics) != 1 {
		return 0, errors.New("metadata: malformed response")
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return 0, fmt.Errorf("topic %s: %w", topic, err)
	}
	return int32(len(resp.Topics[0].Partitions)), nil
}

func writeElectResults(w io.Writer, resp *kmsg.ElectLeadersResponse) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tRESULT")
	n := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			n++
			res := "elected"
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				res = withBrokerMessage(err, deref(p.ErrorMessage)).Error()
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\n", t.Topic, p.Partition, res)
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "(no partition needed an election)")
	}
	return tw.Flush()
}

func newClusterReassignCmd(f *clusterFlags) *cobra.Command {
	var (
		topic     string
		partition int32
		replicas  string
		list      bool
		cancel    bool
		verify    bool
		throttle  int64
	)
	cmd := &cobra.Command{
		Use:   "reassign",
		Short: "Move a partition's replicas, list or cancel ongoing reassignments",
		Long: "Move a partition to the brokers of --replicas (AlterPartitionReassignments): the\n" +
			"new replicas copy the partition as followers, and once they are in sync the\n" +
			"replicas left out are removed (the first of --replicas is the preferred\n" +
			"leader). --list shows ongoing reassignments (all, or those of --topic);\n" +
			"--cancel reverts the one of --topic --partition.\n\n" +
			"--throttle BYTES_PER_SEC limits the replication traffic of the move, as\n" +
			"kafka-reassign-partitions.sh --throttle does: it sets\n" +
			"leader.replication.throttled.rate and follower.replication.throttled.rate on\n" +
			"the brokers of the current and target replicas, and adds the current\n" +
			"replicas to the topic's leader.replication.throttled.replicas and the new\n" +
			"ones to its follower.replication.throttled.replicas. --verify --topic\n" +
			"[--partition] [--replicas] reports whether the reassignment is done and,\n" +
			"once no partition of the topic is moving, removes the topic's throttled\n" +
			"replicas (and, once no reassignment is in progress, the brokers' rates):\n" +
			"run it until the reassignment completes.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if list {
				return f.run(cmd.Context(), func(ctx context.Context, cl *kgo.Client) error {
					return listReassignments(ctx, cl, topic, out)
				})
			}
			if verify {
				if topic == "" || cancel || cmd.Flags().Changed("throttle") {
					return errors.New("--verify needs --topic and excludes --cancel and --throttle")
				}
				var target []int32
				if replicas != "" {
					var err error
					if target, err = parseIDs("replicas", replicas); err != nil {
						return err
					}
				}
				return f.run(cmd.Context(), func(ctx context.Context, cl *kgo.Client) error {
					return verifyReassignment(ctx, cl, topic, partition, target, out)
				})
			}
			if topic == "" || partition < 0 {
				return errors.New("--topic and --partition are required")
			}
			var target []int32
			switch {
			case cancel && replicas != "":
				return errors.New("--cancel and --replicas are exclusive")
			case cancel && cmd.Flags().Changed("throttle"):
				return errors.New("--cancel and --throttle are exclusive")
			case cmd.Flags().Changed("throttle") && throttle < 0:
				return fmt.Errorf("--throttle %d: want a rate in bytes per second, at least 0", throttle)
			case !cancel:
				var err error
				if target, err = parseIDs("replicas", replicas); err != nil {
					return err
				}
			}
			return f.run(cmd.Context(), func(ctx context.Context, cl *kgo.Client) error {
				if cmd.Flags().Changed("throttle") {
					current, err := currentReplicas(ctx, cl, topic, partition)
					if err != nil {
						return err
					}
					if err := applyThrottle(ctx, kadm.NewClient(cl), topic, throttle, planThrottle(partition, current, target), out); err != nil {
						return err
					}
				}
				if err := alterReassignment(ctx, cl, topic, partition, target); err != nil {
					return err
				}
				if cancel {
					fmt.Fprintf(out, "cancelled the reassignment of %s-%d\n", topic, partition)
				} else {
					fmt.Fprintf(out, "reassignment of %s-%d to %s started\n", topic, partition, ids(target))
				}
				if cmd.Flags().Changed("throttle") {
					fmt.Fprintf(out, "Warning: run skein cluster reassign --verify --topic %s periodically, until the reassignment completes, to ensure the throttle is removed.\n", topic)
				}
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&topic, "topic", "", "topic of the partition")
	fl.Int32Var(&partition, "partition", -1, "partition to move")
	fl.StringVar(&replicas, "replicas", "", "target replicas, e.g. 1,2,3 (the first is the preferred leader)")
	fl.BoolVar(&list, "list", false, "list ongoing reassignments")
	fl.BoolVar(&cancel, "cancel", false, "cancel the ongoing reassignment of the partition")
	fl.BoolVar(&verify, "verify", false, "report whether the reassignments of --topic are done, and remove their throttles once they are")
	fl.Int64Var(&throttle, "throttle", -1, "limit the move's replication traffic to this many bytes per second on each broker involved")
	return cmd
}

// alterReassignment starts (target) or cancels (nil) a reassignment.
func alterReassignment(ctx context.Context, cl *kgo.Client, topic string, partition int32, target []int32) error {
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 30000
	req.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: topic, Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: partition, Replicas: target}}}}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("reassign: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("reassign: %w", withBrokerMessage(err, deref(resp.ErrorMessage)))
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("reassign %s-%d: %w", t.Topic, p.Partition, withBrokerMessage(err, deref(p.ErrorMessage)))
			}
		}
	}
	return nil
}

func listReassignments(ctx context.Context, cl *kgo.Client, topic string, w io.Writer) error {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	if topic != "" {
		n, err := partitionCount(ctx, cl, topic)
		if err != nil {
			return err
		}
		rt := kmsg.ListPartitionReassignmentsRequestTopic{Topic: topic}
		for p := int32(0); p < n; p++ {
			rt.Partitions = append(rt.Partitions, p)
		}
		req.Topics = []kmsg.ListPartitionReassignmentsRequestTopic{rt}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("list reassignments: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("list reassignments: %w", withBrokerMessage(err, deref(resp.ErrorMessage)))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", t.Topic, p.Partition, ids(p.Replicas), ids(p.AddingReplicas), ids(p.RemovingReplicas))
		}
	}
	return tw.Flush()
}

// controllerCall sends a membership change to the quorum's controllers.
func (f *clusterFlags) controllerCall(ctx context.Context, cl *kgo.Client, req broker.CtrlRequest) error {
	tlsConfig, err := f.controllerTLS()
	if err != nil {
		return err
	}
	addrs, err := f.controllerAddrs(ctx, cl)
	if err != nil {
		return err
	}
	_, err = broker.ControllerCall(ctx, addrs, tlsConfig, req)
	return err
}

// quorumChange describes a command that sends one membership change of
// the metadata quorum to its leader.
type quorumChange struct {
	use, short, long string
	op               string
	// idUsage and addrUsage document --id and --address; addrUsage is
	// empty when the command takes no address. addrRequired makes
	// --address mandatory.
	idUsage, addrUsage string
	addrRequired       bool
	// what names the change in errors ("add controller"); done is the
	// line printed on success, with the node id.
	what, done string
}

func newQuorumChangeCmd(f *clusterFlags, qc quorumChange) *cobra.Command {
	var (
		id   int32
		addr string
	)
	cmd := &cobra.Command{
		Use:   qc.use,
		Short: qc.short,
		Long:  qc.long,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case qc.addrRequired && (id < 0 || addr == ""):
				return errors.New("--id and --address are required")
			case id < 0:
				return errors.New("--id is required")
			}
			return f.run(cmd.Context(), func(ctx context.Context, cl *kgo.Client) error {
				if err := f.controllerCall(ctx, cl, broker.CtrlRequest{Op: qc.op, ID: id, Addr: addr}); err != nil {
					return fmt.Errorf("%s %d: %w", qc.what, id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), qc.done+"\n", id)
				return nil
			})
		},
	}
	cmd.Flags().Int32Var(&id, "id", -1, qc.idUsage)
	if qc.addrUsage != "" {
		cmd.Flags().StringVar(&addr, "address", "", qc.addrUsage)
	}
	f.controllerFlags(cmd)
	return cmd
}

func newClusterAddControllerCmd(f *clusterFlags) *cobra.Command {
	return newQuorumChangeCmd(f, quorumChange{
		use:   "add-controller",
		short: "Make a node a voter of the metadata quorum",
		long: "Make node --id a voter of the metadata quorum. A node started with\n" +
			"process.roles including controller and controller.quorum.bootstrap.servers\n" +
			"joins as a learner; this promotes it once its copy of the metadata log has\n" +
			"caught up. A node that is not a member yet is added at --address (its\n" +
			"controller listener). Membership changes go to the quorum's leader through\n" +
			"the controller listeners (--controller, else those DescribeQuorum reports).",
		op:        broker.CtrlAddVoter,
		idUsage:   "node id of the controller",
		addrUsage: "controller listener host:port of a node that is not a member yet",
		what:      "add controller",
		done:      "node %d is a voter of the metadata quorum",
	})
}

func newClusterRemoveControllerCmd(f *clusterFlags) *cobra.Command {
	return newQuorumChangeCmd(f, quorumChange{
		use:   "remove-controller",
		short: "Remove a node from the metadata quorum",
		long: "Remove node --id from the metadata quorum (a voter or a learner). Removing the\n" +
			"leader works: it steps down and the other voters elect a new one. The removed\n" +
			"node stops its member of the quorum; do not restart it with the same data.",
		op:      broker.CtrlRemove,
		idUsage: "node id to remove",
		what:    "remove controller",
		done:    "node %d removed from the metadata quorum",
	})
}

func newClusterAddBrokerCmd(f *clusterFlags) *cobra.Command {
	return newQuorumChangeCmd(f, quorumChange{
		use:   "add-broker",
		short: "Add a broker-only node to the metadata quorum as a learner",
		long: "Add node --id, whose controller listener is --address, to the metadata quorum\n" +
			"as a learner (it receives the metadata log without voting). A new node with\n" +
			"controller.quorum.bootstrap.servers (or controller.quorum.voters) does this\n" +
			"itself when it first starts; add-broker does it ahead of time. The broker\n" +
			"registers itself once it runs.",
		op:           broker.CtrlAddLearner,
		idUsage:      "node id of the broker",
		addrUsage:    "the broker's controller listener host:port",
		addrRequired: true,
		what:         "add broker",
		done:         "node %d added to the metadata quorum as a learner",
	})
}

func newClusterRemoveBrokerCmd(f *clusterFlags) *cobra.Command {
	var (
		id   int32
		wait time.Duration
	)
	cmd := &cobra.Command{
		Use:   "remove-broker",
		Short: "Move every replica off a broker, then unregister it",
		Long: "Decommission broker --id: each partition with a replica on it is reassigned to\n" +
			"the same replicas with the broker replaced by the active broker holding the\n" +
			"fewest replicas (keeping the replication factor), and the command waits (at\n" +
			"most --wait) until the new replicas are in sync and the moves complete. Then,\n" +
			"once the broker is stopped (fenced), it is unregistered (UnregisterBroker) and\n" +
			"leaves the metadata quorum if it is a learner. Run it again after stopping the\n" +
			"broker if it was still running.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id < 0 {
				return errors.New("--id is required")
			}
			out := cmd.OutOrStdout()
			cl, err := f.client.newClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), wait+f.timeout)
			defer cancel()
			return removeBroker(ctx, cl, id, wait, out)
		},
	}
	cmd.Flags().Int32Var(&id, "id", -1, "node id of the broker to remove")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Minute, "how long to wait for the replicas to move")
	return cmd
}

// removeBroker moves every replica off broker id and unregisters it.
func removeBroker(ctx context.Context, cl *kgo.Client, id int32, wait time.Duration, w io.Writer) error {
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.EndpointType = 1
	dc.IncludeFencedBrokers = true
	dcr, err := dc.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("describe cluster: %w", err)
	}
	var known, fenced bool
	var active []int32
	for _, b := range dcr.Brokers {
		if b.NodeID == id {
			known, fenced = true, b.IsFenced
		} else if !b.IsFenced {
			active = append(active, b.NodeID)
		}
	}
	if !known {
		return fmt.Errorf("broker %d is not registered", id)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = nil
	mdr, err := md.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	load := map[int32]int{}
	for _, b := range active {
		load[b] = 0
	}
	type move struct {
		topic     string
		partition int32
		target    []int32
	}
	var moves []move
	for _, t := range mdr.Topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				if _, ok := load[r]; ok {
					load[r]++
				}
			}
		}
	}
	for _, t := range mdr.Topics {
		for _, p := range t.Partitions {
			i := slices.Index(p.Replicas, id)
			if i < 0 {
				continue
			}
			best := int32(-1)
			for _, b := range active {
				if slices.Contains(p.Replicas, b) {
					continue
				}
				if best < 0 || load[b] < load[best] || (load[b] == load[best] && b < best) {
					best = b
				}
			}
			target := slices.Clone(p.Replicas)
			if best < 0 {
				if len(target) == 1 {
					return fmt.Errorf("%s-%d has its only replica on broker %d and no other active broker can take it", deref(t.Topic), p.Partition, id)
				}
				target = slices.Delete(target, i, i+1) // no spare broker: lower the replication factor
			} else {
				target[i] = best
				load[best]++
			}
			moves = append(moves, move{topic: deref(t.Topic), partition: p.Partition, target: target})
		}
	}
	sort.Slice(moves, func(i, j int) bool {
		if moves[i].topic != moves[j].topic {
			return moves[i].topic < moves[j].topic
		}
		return moves[i].partition < moves[j].partition
	})
	for _, m := range moves {
		if err := alterReassignment(ctx, cl, m.topic, m.partition, m.target); err != nil {
			return err
		}
		fmt.Fprintf(w, "moving %s-%d to %s\n", m.topic, m.partition, ids(m.target))
	}
	if len(moves) > 0 {
		deadline := time.Now().Add(wait)
		for {
			left, err := replicasOn(ctx, cl, id)
			if err != nil {
				return err
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d partition(s) still have a replica on broker %d after %v: the new replicas are not in sync yet (see skein cluster reassign --list)", left, id, wait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
		fmt.Fprintf(w, "every replica moved off broker %d\n", id)
	}
	if !fenced {
		return fmt.Errorf("broker %d holds no replica now but is still running: stop it, then run remove-broker again to unregister it", id)
	}
	req := kmsg.NewPtrUnregisterBrokerRequest()
	req.BrokerID = id
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("unregister broker: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("unregister broker %d: %w", id, withBrokerMessage(err, deref(resp.ErrorMessage)))
	}
	fmt.Fprintf(w, "broker %d unregistered\n", id)
	return nil
}

// replicasOn counts the partitions with a replica on broker id.
func replicasOn(ctx context.Context, cl *kgo.Client, id int32) (int, error) {
	md := kmsg.NewPtrMetadataRequest()
	md.Topics = nil
	resp, err := md.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("metadata: %w", err)
	}
	n := 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, id) {
				n++
			}
		}
	}
	return n, nil
}
