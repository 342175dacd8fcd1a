package config

import (
	"errors"
	"slices"
	"testing"
)

// TestConnectionsPerIPConfigs checks max.connections.per.ip, its overrides
// and the quota window settings: Kafka's defaults, the host:count format
// split at the last colon, and Kafka's messages for invalid values.
func TestConnectionsPerIPConfigs(t *testing.T) {
	r, err := NewResolver(Layers{})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{MaxConnectionsPerIP: "2147483647", MaxConnectionsPerIPOverrides: "", QuotaWindowNum: "11", QuotaWindowSizeSeconds: "1"} {
		if v, ok := r.Broker().Value(name); !ok || v != want {
			t.Errorf("%s default %q, want %q", name, v, want)
		}
	}
	got, err := ParseConnectionOverrides(" host-a:100 ,127.0.0.1:200,::1:3")
	if err != nil {
		t.Fatal(err)
	}
	want := []ConnectionOverride{{"host-a", 100}, {"127.0.0.1", 200}, {"::1", 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("parsed %v, want %v", got, want)
	}
	for _, c := range []struct {
		values map[string]string
		msg    string
	}{
		{map[string]string{MaxConnectionsPerIP: "0"}, "max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides property is set."},
		{map[string]string{MaxConnectionsPerIP: "-1"}, "Invalid value -1 for configuration max.connections.per.ip: Value must be at least 0"},
		{map[string]string{MaxConnectionsPerIPOverrides: "a b:1,c/d:2"}, "max.connections.per.ip.overrides contains invalid addresses : a b,c/d"},
		{map[string]string{MaxConnectionsPerIPOverrides: "host"}, `Invalid value host for configuration max.connections.per.ip.overrides: "host" is not a host:count pair`},
		{map[string]string{MaxConnectionsPerIPOverrides: "host:x"}, `Invalid value host:x for configuration max.connections.per.ip.overrides: the count of host, "x", is not a non-negative int`},
		{map[string]string{QuotaWindowNum: "0"}, "Invalid value 0 for configuration quota.window.num: Value must be at least 1"},
		{map[string]string{QuotaWindowSizeSeconds: "0"}, "Invalid value 0 for configuration quota.window.size.seconds: Value must be at least 1"},
	} {
		err := ValidateBroker(c.values)
		var ce *Error
		if !errors.As(err, &ce) || ce.Message != c.msg {
			t.Errorf("%v: %v, want %q", c.values, err, c.msg)
		}
	}
	if err := ValidateBroker(map[string]string{MaxConnectionsPerIP: "0", MaxConnectionsPerIPOverrides: "10.0.0.1:5"}); err != nil {
		t.Fatalf("0 with overrides: %v", err)
	}
	// Both are dynamic; the window settings are not.
	if err := ValidateBrokerDynamic(map[string]string{MaxConnectionsPerIP: "5", MaxConnectionsPerIPOverrides: "10.0.0.1:5"}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateBrokerDynamic(map[string]string{QuotaWindowNum: "5"}); err == nil {
		t.Fatal("quota.window.num changed dynamically")
	}
}
