package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newACLCmd() *cobra.Command {
	f := &topicFlags{}
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, list and remove ACLs (access control lists), as kafka-acls.sh does",
		Long: "Add, list and remove the ACLs a broker with an authorizer checks requests\n" +
			"against. A binding allows or denies a principal (User:name) from a host an\n" +
			"operation on a resource: a topic, a group, the cluster or a transactional id,\n" +
			"named literally or by prefix.",
	}
	f.client.register(cmd.PersistentFlags())
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for the command")
	cmd.AddCommand(newACLAddCmd(f), newACLListCmd(f), newACLRemoveCmd(f))
	return cmd
}

// aclFlags are the binding and filter flags of kafka-acls.sh.
type aclFlags struct {
	allowPrincipals, denyPrincipals []string
	allowHosts, denyHosts           []string
	operations                      []string
	topics, groups, txnIDs          []string
	cluster                         bool
	pattern                         string
}

func (a *aclFlags) register(fs *pflag.FlagSet, defaultOp, patternHelp string) {
	fs.StringArrayVar(&a.allowPrincipals, "allow-principal", nil, "principal (User:name) the binding allows (repeatable)")
	fs.StringArrayVar(&a.denyPrincipals, "deny-principal", nil, "principal (User:name) the binding denies (repeatable)")
	fs.StringArrayVar(&a.allowHosts, "allow-host", nil, "host the allow principals are allowed from (repeatable; none means any)")
	fs.StringArrayVar(&a.denyHosts, "deny-host", nil, "host the deny principals are denied from (repeatable; none means any)")
	fs.StringArrayVar(&a.operations, "operation", []string{defaultOp}, "operation: All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite (repeatable)")
	fs.StringArrayVar(&a.topics, "topic", nil, "topic name or prefix (repeatable)")
	fs.StringArrayVar(&a.groups, "group", nil, "group id or prefix (repeatable)")
	fs.StringArrayVar(&a.txnIDs, "transactional-id", nil, "transactional id or prefix (repeatable)")
	fs.BoolVar(&a.cluster, "cluster", false, "the cluster resource")
	fs.StringVar(&a.pattern, "resource-pattern-type", "literal", patternHelp)
}

func (a *aclFlags) hasResource() bool {
	return len(a.topics) > 0 || len(a.groups) > 0 || len(a.txnIDs) > 0 || a.cluster
}

// builder turns the flags into a kadm ACL builder, for creating bindings
// (filter false) or for a filter that lists or removes them.
func (a *aclFlags) builder(filter bool) (*kadm.ACLBuilder, error) {
	for _, p := range append(slices.Clone(a.allowPrincipals), a.denyPrincipals...) {
		if typ, name, ok := strings.Cut(p, ":"); !ok || typ == "" || name == "" {
			return nil, fmt.Errorf("principal %q: want Type:name, such as User:alice", p)
		}
	}
	if len(a.allowHosts) > 0 && len(a.allowPrincipals) == 0 {
		return nil, errors.New("--allow-host needs --allow-principal")
	}
	if len(a.denyHosts) > 0 && len(a.denyPrincipals) == 0 {
		return nil, errors.New("--deny-host needs --deny-principal")
	}
	pattern, err := kmsg.ParseACLResourcePatternType(a.pattern)
	if err != nil {
		return nil, fmt.Errorf("--resource-pattern-type %q: want literal, prefixed, match or any", a.pattern)
	}
	if !filter && pattern != kadm.ACLPatternLiteral && pattern != kadm.ACLPatternPrefixed {
		return nil, fmt.Errorf("--resource-pattern-type %s: bindings are literal or prefixed", a.pattern)
	}
	var ops []kadm.ACLOperation
	for _, s := range a.operations {
		op, err := kmsg.ParseACLOperation(s)
		if err != nil || op == kadm.OpUnknown || (!filter && op == kadm.OpAny) {
			return nil, fmt.Errorf("--operation %q: not an operation", s)
		}
		ops = append(ops, op)
	}
	b := kadm.NewACLs().ResourcePatternType(pattern)
	if filter && slices.Contains(ops, kadm.OpAny) {
		b.Operations()
	} else {
		b.Operations(ops...)
	}
	if len(a.topics) > 0 {
		b.MaybeTopics(a.topics...)
	}
	if len(a.groups) > 0 {
		b.MaybeGroups(a.groups...)
	}
	if len(a.txnIDs) > 0 {
		b.MaybeTransactionalIDs(a.txnIDs...)
	}
	if a.cluster {
		b.Clusters()
	}
	if filter && !a.hasResource() {
		b.AnyResource().ResourcePatternType(kadm.ACLPatternAny)
	}
	switch {
	case filter && len(a.allowPrincipals) == 0 && len(a.denyPrincipals) == 0:
		// Any principal, host and permission.
		b.Allow().AllowHosts().Deny().DenyHosts()
	default:
		if len(a.allowPrincipals) > 0 {
			b.Allow(a.allowPrincipals...).AllowHosts(a.allowHosts...)
		}
		if len(a.denyPrincipals) > 0 {
			b.Deny(a.denyPrincipals...).DenyHosts(a.denyHosts...)
		}
	}
	return b, nil
}

func newACLAddCmd(f *topicFlags) *cobra.Command {
	a := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add bindings: each principal, host and operation on each resource",
		Example: "  skein acl add --allow-principal User:alice --operation Read --operation Describe --topic phi- --resource-pattern-type prefixed\n" +
			"  skein acl add --allow-principal User:alice --operation Read --group billing\n" +
			"  skein acl add --deny-principal User:bob --deny-host 10.0.0.7 --topic phi-records",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !a.hasResource() {
				return errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
			}
			if len(a.allowPrincipals) == 0 && len(a.denyPrincipals) == 0 {
				return errors.New("name a principal: --allow-principal or --deny-principal")
			}
			b, err := a.builder(false)
			if err != nil {
				return err
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.CreateACLs(ctx, b)
				if err != nil {
					return fmt.Errorf("create acls: %w", err)
				}
				var errs []error
				for _, r := range res {
					d := kadm.DescribedACL{Principal: r.Principal, Host: r.Host, Type: r.Type, Name: r.Name, Pattern: r.Pattern, Operation: r.Operation, Permission: r.Permission}
					if r.Err != nil {
						errs = append(errs, fmt.Errorf("add %s: %w", bindingString(d), withBrokerMessage(r.Err, r.ErrMessage)))
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "added %s\n", bindingString(d))
				}
				return errors.Join(errs...)
			})
		},
	}
	a.register(cmd.Flags(), "All", "pattern of the resource names: literal or prefixed")
	return cmd
}

func newACLListCmd(f *topicFlags) *cobra.Command {
	a := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the bindings that match the flags (all of them without flags)",
		Example: "  skein acl list\n" +
			"  skein acl list --topic phi-records --resource-pattern-type match\n" +
			"  skein acl list --allow-principal User:alice",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := a.builder(true)
			if err != nil {
				return err
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DescribeACLs(ctx, b)
				if err != nil {
					return fmt.Errorf("describe acls: %w", err)
				}
				var all []kadm.DescribedACL
				var errs []error
				for _, r := range res {
					if r.Err != nil {
						errs = append(errs, fmt.Errorf("describe acls: %w", withBrokerMessage(r.Err, r.ErrMessage)))
						continue
					}
					all = append(all, r.Described...)
				}
				if err := errors.Join(errs...); err != nil {
					return err
				}
				printBindings(cmd.OutOrStdout(), all)
				return nil
			})
		},
	}
	a.register(cmd.Flags(), "Any", "pattern filter: literal, prefixed, any (either, same name) or match (every binding that applies to the name)")
	return cmd
}

func newACLRemoveCmd(f *topicFlags) *cobra.Command {
	a := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove the bindings on the resources named that match the other flags",
		Example: "  skein acl remove --allow-principal User:alice --operation Read --topic phi- --resource-pattern-type prefixed\n" +
			"  skein acl remove --group billing",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !a.hasResource() {
				return errors.New("name a resource: --topic, --group, --transactional-id or --cluster")
			}
			b, err := a.builder(true)
			if err != nil {
				return err
			}
			return f.admin(cmd.Context(), func(ctx context.Context, adm *kadm.Client) error {
				res, err := adm.DeleteACLs(ctx, b)
				if err != nil {
					return fmt.Errorf("delete acls: %w", err)
				}
				var errs []error
				for _, r := range res {
					if r.Err != nil {
						errs = append(errs, fmt.Errorf("delete acls: %w", withBrokerMessage(r.Err, r.ErrMessage)))
						continue
					}
					for _, d := range r.Deleted {
						if d.Err != nil {
							errs = append(errs, fmt.Errorf("remove %s: %w", bindingString(kadm.DescribedACL{Principal: d.Principal, Host: d.Host, Type: d.Type, Name: d.Name, Pattern: d.Pattern, Operation: d.Operation, Permission: d.Permission}), withBrokerMessage(d.Err, d.ErrMessage)))
							continue
						}
						fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", bindingString(kadm.DescribedACL{Principal: d.Principal, Host: d.Host, Type: d.Type, Name: d.Name, Pattern: d.Pattern, Operation: d.Operation, Permission: d.Permission}))
					}
				}
				return errors.Join(errs...)
			})
		},
	}
	a.register(cmd.Flags(), "Any", "pattern filter: literal, prefixed, any (either, same name) or match (every binding that applies to the name)")
	return cmd
}

// bindingString renders a binding as one line.
func bindingString(d kadm.DescribedACL) string {
	return fmt.Sprintf("%s %s from %s %s on %s %s (%s)", d.Permission, d.Principal, d.Host, d.Operation, d.Type, d.Name, d.Pattern)
}

// printBindings writes bindings as a table sorted by resource type, name
// and pattern, then principal, host, operation and permission.
func printBindings(w io.Writer, all []kadm.DescribedACL) {
	slices.SortFunc(all, func(x, y kadm.DescribedACL) int {
		return strings.Compare(
			fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", x.Type, x.Name, x.Pattern, x.Principal, x.Host, x.Operation, x.Permission),
			fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", y.Type, y.Name, y.Pattern, y.Principal, y.Host, y.Operation, y.Permission))
	})
	all = slices.Compact(all)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE-TYPE\tNAME\tPATTERN\tPRINCIPAL\tHOST\tOPERATION\tPERMISSION")
	for _, d := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission)
	}
	tw.Flush()
}
