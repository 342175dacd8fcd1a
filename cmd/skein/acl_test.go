package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/skein-streaming/skein/protocol"
)

func TestACLAddListRemove(t *testing.T) {
	// A broker with the StandardAuthorizer whose super user is the
	// principal of an unauthenticated PLAINTEXT client, the test's.
	bs := startTestBroker(t, map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           protocol.AnonymousPrincipal,
	}).Addrs()[0].(*net.TCPAddr).String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acl := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(append([]string{"acl"}, args...), "--bootstrap", bs), strings.NewReader(""), &out, &errOut)
		return out.String(), err
	}
	mustACL := func(args ...string) string {
		t.Helper()
		out, err := acl(args...)
		if err != nil {
			t.Fatalf("skein acl %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	// rows returns the table rows of acl list, without the header.
	rows := func(args ...string) []string {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(mustACL(append([]string{"list"}, args...)...)), "\n")
		if !strings.HasPrefix(lines[0], "RESOURCE-TYPE") {
			t.Fatalf("list header %q", lines[0])
		}
		var out []string
		for _, l := range lines[1:] {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
		return out
	}
	wantRows := func(got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	out := mustACL("add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "describe",
		"--topic", "phi-", "--resource-pattern-type", "prefixed")
	if strings.Count(out, "added ALLOW User:alice from * ") != 2 {
		t.Fatalf("add output:\n%s", out)
	}
	mustACL("add", "--deny-principal", "User:bob", "--deny-host", "10.0.0.7", "--group", "billing")
	mustACL("add", "--allow-principal", "User:carol", "--allow-host", "10.0.0.1", "--allow-host", "10.0.0.2",
		"--operation", "IdempotentWrite", "--cluster")
	mustACL("add", "--allow-principal", "User:dave", "--operation", "Write", "--transactional-id", "etl")

	wantRows(rows(),
		"CLUSTER kafka-cluster LITERAL User:carol 10.0.0.1 IDEMPOTENT_WRITE ALLOW",
		"CLUSTER kafka-cluster LITERAL User:carol 10.0.0.2 IDEMPOTENT_WRITE ALLOW",
		"GROUP billing LITERAL User:bob 10.0.0.7 ALL DENY",
		"TOPIC phi- PREFIXED User:alice * DESCRIBE ALLOW",
		"TOPIC phi- PREFIXED User:alice * READ ALLOW",
		"TRANSACTIONAL_ID etl LITERAL User:dave * WRITE ALLOW",
	)
	// match finds the prefixed bindings that apply to a topic name;
	// literal does not.
	wantRows(rows("--topic", "phi-records", "--resource-pattern-type", "match"),
		"TOPIC phi- PREFIXED User:alice * DESCRIBE ALLOW",
		"TOPIC phi- PREFIXED User:alice * READ ALLOW",
	)
	wantRows(rows("--topic", "phi-records"))
	wantRows(rows("--allow-principal", "User:carol", "--allow-host", "10.0.0.2"),
		"CLUSTER kafka-cluster LITERAL User:carol 10.0.0.2 IDEMPOTENT_WRITE ALLOW",
	)
	wantRows(rows("--deny-principal", "User:bob"),
		"GROUP billing LITERAL User:bob 10.0.0.7 ALL DENY",
	)

	out = mustACL("remove", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "phi-", "--resource-pattern-type", "prefixed")
	if strings.TrimSpace(out) != "removed ALLOW User:alice from * READ on TOPIC phi- (PREFIXED)" {
		t.Fatalf("remove output:\n%s", out)
	}
	if out = mustACL("remove", "--group", "billing"); !strings.Contains(out, "removed DENY User:bob from 10.0.0.7 ALL on GROUP billing") {
		t.Fatalf("remove output:\n%s", out)
	}
	wantRows(rows(),
		"CLUSTER kafka-cluster LITERAL User:carol 10.0.0.1 IDEMPOTENT_WRITE ALLOW",
		"CLUSTER kafka-cluster LITERAL User:carol 10.0.0.2 IDEMPOTENT_WRITE ALLOW",
		"TOPIC phi- PREFIXED User:alice * DESCRIBE ALLOW",
		"TRANSACTIONAL_ID etl LITERAL User:dave * WRITE ALLOW",
	)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--topic", "t"}, "name a principal"},
		{[]string{"add", "--allow-principal", "User:a"}, "name a resource"},
		{[]string{"add", "--allow-principal", "alice", "--topic", "t"}, "want Type:name"},
		{[]string{"add", "--allow-principal", "User:a", "--topic", "t", "--resource-pattern-type", "match"}, "literal or prefixed"},
		{[]string{"add", "--allow-principal", "User:a", "--topic", "t", "--operation", "Any"}, "not an operation"},
		{[]string{"add", "--deny-host", "10.0.0.1", "--allow-principal", "User:a", "--topic", "t"}, "--deny-host needs --deny-principal"},
		{[]string{"remove", "--allow-principal", "User:a"}, "name a resource"},
		{[]string{"list", "--operation", "Fly"}, "not an operation"},
	} {
		if _, err := acl(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("skein acl %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

// TestACLRefusedWithoutAuthorizer: a broker without an authorizer answers
// SECURITY_DISABLED, which the command reports.
func TestACLRefusedWithoutAuthorizer(t *testing.T) {
	bs := newSkein(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"acl", "add", "--allow-principal", "User:a", "--topic", "t", "--bootstrap", bs}, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "SECURITY_DISABLED") {
		t.Fatalf("add without an authorizer: %v", err)
	}
}
