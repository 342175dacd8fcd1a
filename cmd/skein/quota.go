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
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newQuotaCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Set, list and remove client quotas, as kafka-configs.sh does for users, clients and ips",
		Long: "Set, list and remove the client quotas a broker enforces. A quota belongs to an\n" +
			"entity: a user (the principal's name, alice for User:alice), a client id, a user\n" +
			"and client id together, or an IP address, each possibly the default entity of\n" +
			"its type. Keys: producer_byte_rate and consumer_byte_rate (bytes per second),\n" +
			"request_percentage (percent of one request thread) and controller_mutation_rate\n" +
			"for users and client ids; connection_creation_rate (connections per second) for\n" +
			"IP addresses.",
	}
	f.client.register(cmd.PersistentFlags())
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for the command")
	cmd.AddCommand(newQuotaSetCmd(f), newQuotaListCmd(f), newQuotaRemoveCmd(f))
	return cmd
}

// quotaEntityFlags name an entity, or (for list) a filter.
type quotaEntityFlags struct {
	user, clientID, ip                      string
	userDefault, clientIDDefault, ipDefault bool
	anyUser, anyClientID, anyIP             bool
}

func (q *quotaEntityFlags) register(fs *pflag.FlagSet, filter bool) {
	fs.StringVar(&q.user, "user", "", "user name (alice for User:alice)")
	fs.BoolVar(&q.userDefault, "user-default", false, "the default user entity, for users without their own quota")
	fs.StringVar(&q.clientID, "client-id", "", "client id")
	fs.BoolVar(&q.clientIDDefault, "client-id-default", false, "the default client id entity, for client ids without their own quota")
	fs.StringVar(&q.ip, "ip", "", "IP address or host name (connection_creation_rate)")
	fs.BoolVar(&q.ipDefault, "ip-default", false, "the default IP entity, for addresses without their own quota")
	if filter {
		fs.BoolVar(&q.anyUser, "any-user", false, "entities with any user, named or default")
		fs.BoolVar(&q.anyClientID, "any-client-id", false, "entities with any client id, named or default")
		fs.BoolVar(&q.anyIP, "any-ip", false, "entities with any IP, named or default")
	}
}

// quotaComponent is one entity type's flags: named, default or any.
type quotaComponent struct {
	typ, flag string
	named     bool
	name      string
	def, any  bool
}

func (q *quotaEntityFlags) components(fs *pflag.FlagSet) ([]quotaComponent, error) {
	all := []quotaComponent{
		{typ: "user", flag: "user", named: fs.Changed("user"), name: q.user, def: q.userDefault, any: q.anyUser},
		{typ: "client-id", flag: "client-id", named: fs.Changed("client-id"), name: q.clientID, def: q.clientIDDefault, any: q.anyClientID},
		{typ: "ip", flag: "ip", named: fs.Changed("ip"), name: q.ip, def: q.ipDefault, any: q.anyIP},
	}
	var out []quotaComponent
	for _, c := range all {
		var given []string
		for flag, set := range map[string]bool{"--" + c.flag: c.named, "--" + c.flag + "-default": c.def, "--any-" + c.flag: c.any} {
			if set {
				given = append(given, flag)
			}
		}
		if len(given) > 1 {
			slices.Sort(given)
			return nil, fmt.Errorf("%s: give only one", strings.Join(given, " and "))
		}
		if len(given) == 1 {
			out = append(out, c)
		}
	}
	return out, nil
}

// entity turns the flags into the entity to set or remove quotas of.
func (q *quotaEntityFlags) entity(fs *pflag.FlagSet) (kadm.ClientQuotaEntity, error) {
	comps, err := q.components(fs)
	if err != nil {
		return nil, err
	}
	if len(comps) == 0 {
		return nil, errors.New("name an entity: --user, --client-id or --ip (or their -default forms)")
	}
	var e kadm.ClientQuotaEntity
	for _, c := range comps {
		ec := kadm.ClientQuotaEntityComponent{Type: c.typ}
		if c.named {
			ec.Name = kmsg.StringPtr(c.name)
		}
		e = append(e, ec)
	}
	return e, nil
}

// filter turns the flags into a DescribeClientQuotas filter.
func (q *quotaEntityFlags) filter(fs *pflag.FlagSet) ([]kadm.DescribeClientQuotaComponent, error) {
	comps, err := q.components(fs)
	if err != nil {
		return nil, err
	}
	var out []kadm.DescribeClientQuotaComponent
	for _, c := range comps {
		dc := kadm.DescribeClientQuotaComponent{Type: c.typ}
		switch {
		case c.named:
			dc.MatchType, dc.MatchName = kmsg.QuotasMatchTypeExact, kmsg.StringPtr(c.name)
		case c.def:
			dc.MatchType = kmsg.QuotasMatchTypeDefault
		default:
			dc.MatchType = kmsg.QuotasMatchTypeAny
		}
		out = append(out, dc)
	}
	return out, nil
}

func newQuotaSetCmd(f *topicFlags) *cobra.Command {
	q := &quotaEntityFlags{}
	var validateOnly bool
	cmd := &cobra.Command{
		Use:   "set KEY=VALUE...",
		Short: "Set quotas of an entity",
		Example: "  skein quota set --client-id billing producer_byte_rate=1048576 consumer_byte_rate=2097152\n" +
			"  skein quota set --user alice --client-id-default request_percentage=50\n" +
			"  skein quota set --user-default producer_byte_rate=10485760\n" +
			"  skein quota set --ip 10.0.0.7 connection_creation_rate=20",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entity, err := q.entity(cmd.Flags())
			if err != nil {
				return err
			}
			var ops []kadm.AlterClientQuotaOp
			for _, a := range args {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return fmt.Errorf("%q: want KEY=VALUE, such as producer_byte_rate=1048576", a)
				}
				n, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return fmt.Errorf("%q: the value is not a number", a)
				}
				ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: n})
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				return alterQuotas(ctx, cmd.OutOrStdout(), adm, validateOnly, entity, ops)
			})
		},
	}
	q.register(cmd.Flags(), false)
	cmd.Flags().BoolVar(&validateOnly, "validate-only", false, "check the change with the broker without making it")
	return cmd
}

func newQuotaRemoveCmd(f *topicFlags) *cobra.Command {
	q := &quotaEntityFlags{}
	cmd := &cobra.Command{
		Use:     "remove KEY...",
		Short:   "Remove quotas of an entity",
		Example: "  skein quota remove --client-id billing producer_byte_rate\n  skein quota remove --ip-default connection_creation_rate",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			entity, err := q.entity(cmd.Flags())
			if err != nil {
				return err
			}
			var ops []kadm.AlterClientQuotaOp
			for _, k := range args {
				ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				return alterQuotas(ctx, cmd.OutOrStdout(), adm, false, entity, ops)
			})
		},
	}
	q.register(cmd.Flags(), false)
	return cmd
}

// alterQuotas sends the change and reports it.
func alterQuotas(ctx context.Context, w io.Writer, adm *kadm.Client, validateOnly bool, entity kadm.ClientQuotaEntity, ops []kadm.AlterClientQuotaOp) error {
	alter := adm.AlterClientQuotas
	if validateOnly {
		alter = adm.ValidateAlterClientQuotas
	}
	res, err := alter(ctx, []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: ops}})
	if err != nil {
		return fmt.Errorf("alter client quotas: %w", err)
	}
	var errs []error
	for _, r := range res {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", entityString(r.Entity), withBrokerMessage(r.Err, r.ErrMessage)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	verb := map[bool]string{false: "set", true: "valid:"}[validateOnly]
	for _, op := range ops {
		if op.Remove {
			fmt.Fprintf(w, "%s removed %s\n", entityString(entity), op.Key)
			continue
		}
		fmt.Fprintf(w, "%s %s %s=%s\n", entityString(entity), verb, op.Key, formatQuota(op.Value))
	}
	return nil
}

func newQuotaListCmd(f *topicFlags) *cobra.Command {
	q := &quotaEntityFlags{}
	var strict bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the quotas of the entities that match the flags (all of them without flags)",
		Example: "  skein quota list\n" +
			"  skein quota list --user alice            (alice's entities, with or without a client id)\n" +
			"  skein quota list --user alice --strict   (only the entity user=alice)\n" +
			"  skein quota list --any-client-id --strict",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := q.filter(cmd.Flags())
			if err != nil {
				return err
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				described, err := adm.DescribeClientQuotas(ctx, strict, filter)
				if err != nil {
					return fmt.Errorf("describe client quotas: %w", err)
				}
				printQuotas(cmd.OutOrStdout(), described)
				return nil
			})
		},
	}
	q.register(cmd.Flags(), true)
	cmd.Flags().BoolVar(&strict, "strict", false, "only entities made of exactly the types filtered on")
	return cmd
}

// entityString renders an entity as user=alice,client-id=<default>, in
// the order user, client-id, ip.
func entityString(e kadm.ClientQuotaEntity) string {
	rank := map[string]int{"user": 0, "client-id": 1, "ip": 2}
	e = slices.Clone(e)
	slices.SortFunc(e, func(a, b kadm.ClientQuotaEntityComponent) int { return rank[a.Type] - rank[b.Type] })
	parts := make([]string, len(e))
	for i, c := range e {
		parts[i] = c.String()
	}
	return strings.Join(parts, ",")
}

func formatQuota(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// printQuotas writes one row per entity and key, sorted.
func printQuotas(w io.Writer, described kadm.DescribedClientQuotas) {
	type row struct{ entity, key, value string }
	var rows []row
	for _, d := range described {
		for _, v := range d.Values {
			rows = append(rows, row{entityString(d.Entity), v.Key, formatQuota(v.Value)})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.entity, b.entity); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ENTITY\tQUOTA\tVALUE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.entity, r.key, r.value)
	}
	tw.Flush()
}
