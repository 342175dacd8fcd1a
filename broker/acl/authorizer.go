package acl

import (
	"sort"
	"strings"
	"sync/atomic"
)

// Config configures an Authorizer.
type Config struct {
	// SuperUsers are principals allowed everything (super.users).
	SuperUsers []string
	// AllowIfNoACL allows access to a resource that has no binding at
	// all (allow.everyone.if.no.acl.found).
	AllowIfNoACL bool
}

// Authorizer decides requests against a set of bindings. Decisions read an
// immutable index through one atomic load; Load swaps in a new index. It is
// safe for concurrent use.
type Authorizer struct {
	superUsers   map[string]bool
	allowIfNoACL bool
	index        atomic.Pointer[index]
}

// index holds the bindings of each resource type, split by pattern type.
type index struct {
	all      []Binding
	literal  map[ResourceType]map[string][]Binding
	prefixed map[ResourceType][]Binding
}

// New returns an authorizer with no bindings.
func New(cfg Config) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowIfNoACL: cfg.AllowIfNoACL}
	for _, u := range cfg.SuperUsers {
		if u = strings.TrimSpace(u); u != "" {
			a.superUsers[u] = true
		}
	}
	a.Load(nil)
	return a
}

// Load replaces the bindings.
func (a *Authorizer) Load(bindings []Binding) {
	ix := &index{
		all:      append([]Binding(nil), bindings...),
		literal:  map[ResourceType]map[string][]Binding{},
		prefixed: map[ResourceType][]Binding{},
	}
	for _, b := range bindings {
		switch b.PatternType {
		case PatternLiteral:
			m := ix.literal[b.ResourceType]
			if m == nil {
				m = map[string][]Binding{}
				ix.literal[b.ResourceType] = m
			}
			m[b.ResourceName] = append(m[b.ResourceName], b)
		case PatternPrefixed:
			ix.prefixed[b.ResourceType] = append(ix.prefixed[b.ResourceType], b)
		}
	}
	a.index.Store(ix)
}

// Bindings returns the bindings the filter selects, in a stable order.
func (a *Authorizer) Bindings(f Filter) []Binding {
	var out []Binding
	for _, b := range a.index.Load().all {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

func less(x, y Binding) bool {
	switch {
	case x.ResourceType != y.ResourceType:
		return x.ResourceType < y.ResourceType
	case x.PatternType != y.PatternType:
		return x.PatternType < y.PatternType
	case x.ResourceName != y.ResourceName:
		return x.ResourceName < y.ResourceName
	case x.Principal != y.Principal:
		return x.Principal < y.Principal
	case x.Host != y.Host:
		return x.Host < y.Host
	case x.Operation != y.Operation:
		return x.Operation < y.Operation
	}
	return x.Permission < y.Permission
}

// IsSuperUser reports whether principal is in super.users.
func (a *Authorizer) IsSuperUser(principal string) bool { return a.superUsers[principal] }

// Authorize decides whether principal connecting from host may perform op
// on the resource of type rt named name.
func (a *Authorizer) Authorize(principal, host string, op Operation, rt ResourceType, name string) bool {
	return a.Decide(principal, host, op, rt, name).Allowed
}

// Decision is an authorization decision and the rule that made it, as
// Kafka's authorizer logs it.
type Decision struct {
	Allowed bool
	// SuperUser is set when the principal is in super.users.
	SuperUser bool
	// Matched is set when a binding decided: the DENY binding that
	// refused, or an ALLOW binding that granted; Rule is that binding.
	Matched bool
	Rule    Binding
	// NoACL is set when the resource has no binding at all, so that
	// allow.everyone.if.no.acl.found decided.
	NoACL bool
}

// RuleName names the rule as Kafka's StandardAuthorizer logs it:
// SuperUser, MatchingAcl, DefaultAllow or DefaultDeny.
func (d Decision) RuleName() string {
	switch {
	case d.SuperUser:
		return "SuperUser"
	case d.Matched:
		return "MatchingAcl"
	case d.Allowed:
		return "DefaultAllow"
	}
	return "DefaultDeny"
}

// Decide is Authorize, telling which rule decided.
func (a *Authorizer) Decide(principal, host string, op Operation, rt ResourceType, name string) Decision {
	if a.superUsers[principal] {
		return Decision{Allowed: true, SuperUser: true}
	}
	ix := a.index.Load()
	found := false
	var allow, deny *Binding
	check := func(bs []Binding) bool {
		for i := range bs {
			b := &bs[i]
			found = true
			if !entryMatches(*b, principal, host) {
				continue
			}
			if b.Permission == PermissionDeny && (b.Operation == op || b.Operation == OpAll) {
				deny = b
				return false
			}
			if b.Permission == PermissionAllow && allow == nil && implies(b.Operation, op) {
				allow = b
			}
		}
		return true
	}
	lit := ix.literal[rt]
	ok := check(lit[name])
	if ok && name != WildcardResource {
		ok = check(lit[WildcardResource])
	}
	if ok {
		pre := ix.prefixed[rt]
		for i := range pre {
			if strings.HasPrefix(name, pre[i].ResourceName) && !check(pre[i:i+1]) {
				break
			}
		}
	}
	switch {
	case deny != nil:
		return Decision{Matched: true, Rule: *deny}
	case allow != nil:
		return Decision{Allowed: true, Matched: true, Rule: *allow}
	case !found:
		return Decision{Allowed: a.allowIfNoACL, NoACL: true}
	}
	return Decision{}
}

// AuthorizeAny decides whether principal may perform op on at least one
// resource of type rt (KIP-679's authorizeByResourceType): some ALLOW
// binding for it must not be covered by a DENY binding. With no binding on
// any resource of the type, allow.everyone.if.no.acl.found decides.
func (a *Authorizer) AuthorizeAny(principal, host string, op Operation, rt ResourceType) bool {
	if a.superUsers[principal] {
		return true
	}
	ix := a.index.Load()
	var denyLiteral, denyPrefix []string
	var allows []Binding
	found := false
	for _, b := range ix.all {
		if b.ResourceType != rt {
			continue
		}
		found = true
		if !entryMatches(b, principal, host) {
			continue
		}
		switch {
		case b.Permission == PermissionDeny && (b.Operation == op || b.Operation == OpAll):
			if b.PatternType == PatternLiteral {
				if b.ResourceName == WildcardResource {
					return false
				}
				denyLiteral = append(denyLiteral, b.ResourceName)
			} else {
				denyPrefix = append(denyPrefix, b.ResourceName)
			}
		case b.Permission == PermissionAllow && implies(b.Operation, op):
			allows = append(allows, b)
		}
	}
	if !found {
		return a.allowIfNoACL
	}
	for _, b := range allows {
		denied := false
		for _, p := range denyPrefix {
			if strings.HasPrefix(b.ResourceName, p) {
				denied = true
			}
		}
		if b.PatternType == PatternLiteral {
			for _, n := range denyLiteral {
				if n == b.ResourceName {
					denied = true
				}
			}
		}
		if !denied {
			return true
		}
	}
	return false
}

func entryMatches(b Binding, principal, host string) bool {
	if b.Principal != principal && b.Principal != WildcardPrincipal {
		return false
	}
	return b.Host == WildcardHost || b.Host == host
}

// implies reports whether an ALLOW for granted allows op.
func implies(granted, op Operation) bool {
	if granted == op || granted == OpAll {
		return true
	}
	switch op {
	case OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}
