package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestQuotaSetListRemove drives skein quota against a broker: set on
// named and default entities, list with filters, remove, and the errors
// of bad flags and of values the broker refuses.
func TestQuotaSetListRemove(t *testing.T) {
	bs := newSkein(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	quota := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(append([]string{"quota"}, args...), "--bootstrap", bs), strings.NewReader(""), &out, &errOut)
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := quota(args...)
		if err != nil {
			t.Fatalf("skein quota %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	rows := func(args ...string) string {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(must(append([]string{"list"}, args...)...)), "\n")
		if !strings.HasPrefix(lines[0], "ENTITY") {
			t.Fatalf("list header %q", lines[0])
		}
		var out []string
		for _, l := range lines[1:] {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
		return strings.Join(out, "\n")
	}
	if got := must("set", "--client-id", "billing", "producer_byte_rate=1048576", "consumer_byte_rate=2097152"); got !=
		"client-id=billing set producer_byte_rate=1048576\nclient-id=billing set consumer_byte_rate=2097152\n" {
		t.Fatalf("set output %q", got)
	}
	must("set", "--user", "alice", "--client-id-default", "request_percentage=12.5")
	must("set", "--user-default", "producer_byte_rate=10485760")
	must("set", "--ip", "10.0.0.7", "connection_creation_rate=20")
	if got := must("set", "--validate-only", "--ip-default", "connection_creation_rate=5"); got != "ip=<default> valid: connection_creation_rate=5\n" {
		t.Fatalf("validate-only output %q", got)
	}
	want := strings.Join([]string{
		"client-id=billing consumer_byte_rate 2097152",
		"client-id=billing producer_byte_rate 1048576",
		"ip=10.0.0.7 connection_creation_rate 20",
		"user=<default> producer_byte_rate 10485760",
		"user=alice,client-id=<default> request_percentage 12.5",
	}, "\n")
	if got := rows(); got != want {
		t.Fatalf("list:\n%s\nwant:\n%s", got, want)
	}
	if got := rows("--user", "alice"); got != "user=alice,client-id=<default> request_percentage 12.5" {
		t.Fatalf("list --user alice:\n%s", got)
	}
	if got := rows("--user", "alice", "--strict"); got != "" {
		t.Fatalf("list --user alice --strict:\n%s", got)
	}
	if got := rows("--any-user", "--strict"); got != "user=<default> producer_byte_rate 10485760" {
		t.Fatalf("list --any-user --strict:\n%s", got)
	}
	if got := rows("--client-id-default"); got != "user=alice,client-id=<default> request_percentage 12.5" {
		t.Fatalf("list --client-id-default:\n%s", got)
	}
	if got := must("remove", "--client-id", "billing", "producer_byte_rate"); got != "client-id=billing removed producer_byte_rate\n" {
		t.Fatalf("remove output %q", got)
	}
	if got := rows("--any-client-id", "--strict"); got != "client-id=billing consumer_byte_rate 2097152" {
		t.Fatalf("after remove:\n%s", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set", "producer_byte_rate=1"}, "name an entity"},
		{[]string{"set", "--user", "a", "--user-default", "producer_byte_rate=1"}, "--user and --user-default: give only one"},
		{[]string{"set", "--user", "a", "producer_byte_rate"}, "want KEY=VALUE"},
		{[]string{"set", "--user", "a", "producer_byte_rate=fast"}, "not a number"},
		{[]string{"set", "--user", "a", "producer_byte_rate=1.5"}, "producer_byte_rate cannot be a fractional value."},
		{[]string{"set", "--ip", "10.0.0.1", "--user", "a", "connection_creation_rate=1"}, "IP entity shouldnot be combined"},
		{[]string{"set", "--client-id", "x", "connection_creation_rate=1"}, "Invalid configuration key connection_creation_rate"},
		{[]string{"list", "--ip", "1.2.3.4", "--any-client-id"}, "IP filter component should not be used"},
	} {
		if _, err := quota(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("skein quota %s: %v, want an error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}
