package acl

import "testing"

func allow(rt ResourceType, pt PatternType, name, principal string, op Operation) Binding {
	return Binding{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*", Operation: op, Permission: PermissionAllow}
}

func deny(rt ResourceType, pt PatternType, name, principal string, op Operation) Binding {
	b := allow(rt, pt, name, principal, op)
	b.Permission = PermissionDeny
	return b
}

// TestAuthorize walks Kafka's decision rules one case at a time: each case
// names the bindings, the request and the expected decision.
func TestAuthorize(t *testing.T) {
	const alice, bob = "User:alice", "User:bob"
	cases := []struct {
		name     string
		bindings []Binding
		noACL    bool
		who      string
		host     string
		op       Operation
		rt       ResourceType
		res      string
		want     bool
	}{
		{name: "no acl denies", who: alice, op: OpRead, rt: ResourceTopic, res: "t", want: false},
		{name: "no acl allows with allow.everyone", noACL: true, who: alice, op: OpRead, rt: ResourceTopic, res: "t", want: true},
		{name: "acl on resource, other principal", noACL: true, bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", bob, OpRead)}, who: alice, op: OpRead, rt: ResourceTopic, res: "t", want: false},
		{name: "literal allow", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpRead)}, who: alice, op: OpRead, rt: ResourceTopic, res: "t", want: true},
		{name: "literal allow other op", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpRead)}, who: alice, op: OpWrite, rt: ResourceTopic, res: "t", want: false},
		{name: "wildcard resource", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "*", alice, OpWrite)}, who: alice, op: OpWrite, rt: ResourceTopic, res: "x", want: true},
		{name: "wildcard principal", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", "User:*", OpWrite)}, who: alice, op: OpWrite, rt: ResourceTopic, res: "t", want: true},
		{name: "prefixed", bindings: []Binding{allow(ResourceTopic, PatternPrefixed, "pat-", alice, OpRead)}, who: alice, op: OpRead, rt: ResourceTopic, res: "pat-records", want: true},
		{name: "prefixed no match", bindings: []Binding{allow(ResourceTopic, PatternPrefixed, "pat-", alice, OpRead)}, who: alice, op: OpRead, rt: ResourceTopic, res: "pa", want: false},
		{name: "deny beats allow", bindings: []Binding{allow(ResourceTopic, PatternPrefixed, "pat-", alice, OpAll), deny(ResourceTopic, PatternLiteral, "pat-x", alice, OpRead)}, who: alice, op: OpRead, rt: ResourceTopic, res: "pat-x", want: false},
		{name: "deny all beats allow", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpRead), deny(ResourceTopic, PatternLiteral, "*", "User:*", OpAll)}, who: alice, op: OpRead, rt: ResourceTopic, res: "t", want: false},
		{name: "deny read leaves describe", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpDescribe), deny(ResourceTopic, PatternLiteral, "t", alice, OpRead)}, who: alice, op: OpDescribe, rt: ResourceTopic, res: "t", want: true},
		{name: "read implies describe", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpRead)}, who: alice, op: OpDescribe, rt: ResourceTopic, res: "t", want: true},
		{name: "write implies describe", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpWrite)}, who: alice, op: OpDescribe, rt: ResourceTopic, res: "t", want: true},
		{name: "alter configs implies describe configs", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpAlterConfigs)}, who: alice, op: OpDescribeConfigs, rt: ResourceTopic, res: "t", want: true},
		{name: "describe does not imply read", bindings: []Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpDescribe)}, who: alice, op: OpRead, rt: ResourceTopic, res: "t", want: false},
		{name: "all allows any op", bindings: []Binding{allow(ResourceGroup, PatternLiteral, "g", alice, OpAll)}, who: alice, op: OpDelete, rt: ResourceGroup, res: "g", want: true},
		{name: "resource types apart", bindings: []Binding{allow(ResourceGroup, PatternLiteral, "t", alice, OpRead)}, who: alice, op: OpRead, rt: ResourceTopic, res: "t", want: false},
		{name: "host matches", bindings: []Binding{{ResourceType: ResourceTopic, ResourceName: "t", PatternType: PatternLiteral, Principal: alice, Host: "10.0.0.1", Operation: OpRead, Permission: PermissionAllow}}, who: alice, host: "10.0.0.1", op: OpRead, rt: ResourceTopic, res: "t", want: true},
		{name: "host differs", bindings: []Binding{{ResourceType: ResourceTopic, ResourceName: "t", PatternType: PatternLiteral, Principal: alice, Host: "10.0.0.1", Operation: OpRead, Permission: PermissionAllow}}, who: alice, host: "10.0.0.2", op: OpRead, rt: ResourceTopic, res: "t", want: false},
		{name: "super user", bindings: []Binding{deny(ResourceTopic, PatternLiteral, "t", "User:*", OpAll)}, who: "User:admin", op: OpRead, rt: ResourceTopic, res: "t", want: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := New(Config{SuperUsers: []string{"User:admin"}, AllowIfNoACL: c.noACL})
			a.Load(c.bindings)
			host := c.host
			if host == "" {
				host = "127.0.0.1"
			}
			if got := a.Authorize(c.who, host, c.op, c.rt, c.res); got != c.want {
				t.Fatalf("Authorize(%s, %s, %s %s) = %v, want %v", c.who, c.op, c.rt, c.res, got, c.want)
			}
		})
	}
}

// TestAuthorizeAny checks KIP-679's "op on any resource of the type".
func TestAuthorizeAny(t *testing.T) {
	const alice = "User:alice"
	a := New(Config{})
	if a.AuthorizeAny(alice, "h", OpWrite, ResourceTopic) {
		t.Fatal("allowed with no bindings")
	}
	a.Load([]Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpWrite)})
	if !a.AuthorizeAny(alice, "h", OpWrite, ResourceTopic) {
		t.Fatal("WRITE on one topic should allow")
	}
	a.Load([]Binding{allow(ResourceTopic, PatternLiteral, "t", alice, OpWrite), deny(ResourceTopic, PatternPrefixed, "t", alice, OpWrite)})
	if a.AuthorizeAny(alice, "h", OpWrite, ResourceTopic) {
		t.Fatal("a prefix DENY covering the only ALLOW should deny")
	}
	a.Load([]Binding{allow(ResourceTopic, PatternPrefixed, "a", alice, OpAll), deny(ResourceTopic, PatternLiteral, "ab", alice, OpWrite)})
	if !a.AuthorizeAny(alice, "h", OpWrite, ResourceTopic) {
		t.Fatal("a prefix ALLOW is not covered by one literal DENY")
	}
}

// TestFilterMatches covers the pattern type rules of filters.
func TestFilterMatches(t *testing.T) {
	name := func(s string) *string { return &s }
	lit := allow(ResourceTopic, PatternLiteral, "orders", "User:a", OpRead)
	wild := allow(ResourceTopic, PatternLiteral, "*", "User:a", OpRead)
	pre := allow(ResourceTopic, PatternPrefixed, "ord", "User:a", OpRead)
	cases := []struct {
		f    Filter
		b    Binding
		want bool
	}{
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, pre, true},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternLiteral, Operation: OpAny, Permission: PermissionAny}, lit, true},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternLiteral, Operation: OpAny, Permission: PermissionAny}, wild, false},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, wild, true},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, pre, true},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("ord"), PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, pre, true},
		{Filter{ResourceType: ResourceGroup, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, pre, false},
		{Filter{ResourceType: ResourceTopic, PatternType: PatternAny, Operation: OpWrite, Permission: PermissionAny}, pre, false},
		{Filter{ResourceType: ResourceTopic, PatternType: PatternAny, Principal: name("User:b"), Operation: OpAny, Permission: PermissionAny}, pre, false},
	}
	for i, c := range cases {
		if got := c.f.Matches(c.b); got != c.want {
			t.Errorf("case %d: Matches(%v) = %v, want %v", i, c.b, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	if op, err := ParseOperation("IdempotentWrite"); err != nil || op != OpIdempotentWrite {
		t.Fatalf("ParseOperation: %v %v", op, err)
	}
	if rt, err := ParseResourceType("transactional-id"); err != nil || rt != ResourceTransactionalID {
		t.Fatalf("ParseResourceType: %v %v", rt, err)
	}
	if _, err := ParseOperation("fly"); err == nil {
		t.Fatal("unknown operation parsed")
	}
}

// TestDecide checks the rule each decision reports: the DENY binding that
// refused, the ALLOW binding that granted, the super user, and the
// defaults with and without bindings on the resource.
func TestDecide(t *testing.T) {
	const alice = "User:alice"
	allowPrefix := allow(ResourceTopic, PatternPrefixed, "phi-", alice, OpWrite)
	denySecret := deny(ResourceTopic, PatternLiteral, "phi-secret", alice, OpAll)
	a := New(Config{SuperUsers: []string{"User:admin"}, AllowIfNoACL: true})
	a.Load([]Binding{allowPrefix, denySecret})
	for _, c := range []struct {
		who, res string
		want     Decision
		rule     string
	}{
		{alice, "phi-records", Decision{Allowed: true, Matched: true, Rule: allowPrefix}, "MatchingAcl"},
		{alice, "phi-secret", Decision{Matched: true, Rule: denySecret}, "MatchingAcl"},
		{"User:bob", "phi-records", Decision{}, "DefaultDeny"},
		{"User:bob", "open", Decision{Allowed: true, NoACL: true}, "DefaultAllow"},
		{"User:admin", "phi-secret", Decision{Allowed: true, SuperUser: true}, "SuperUser"},
	} {
		got := a.Decide(c.who, "127.0.0.1", OpWrite, ResourceTopic, c.res)
		if got != c.want || got.RuleName() != c.rule {
			t.Errorf("%s on %s: %+v (%s), want %+v (%s)", c.who, c.res, got, got.RuleName(), c.want, c.rule)
		}
		if a.Authorize(c.who, "127.0.0.1", OpWrite, ResourceTopic, c.res) != c.want.Allowed {
			t.Errorf("%s on %s: Authorize disagrees with Decide", c.who, c.res)
		}
	}
}
