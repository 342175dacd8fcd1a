package config

import (
	"strings"
	"testing"
)

// TestKRaftValidation checks the combinations of process.roles,
// node.id, the quorum settings and the listeners, with Kafka's messages.
func TestKRaftValidation(t *testing.T) {
	combined := map[string]string{
		"process.roles":             "broker,controller",
		"node.id":                   "1",
		"controller.quorum.voters":  "1@127.0.0.1:9093,2@127.0.0.1:9094",
		"listeners":                 "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
		"controller.listener.names": "CONTROLLER",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(out, kv[i])
			} else {
				out[kv[i]] = kv[i+1]
			}
		}
		return out
	}
	for _, c := range []struct {
		name   string
		values map[string]string
		want   string // "" = valid
	}{
		{"combined", combined, ""},
		{"single node defaults", map[string]string{}, ""},
		{"stock bootstrap file", with(combined, "controller.quorum.voters", "", "controller.quorum.bootstrap.servers", "localhost:9093"), ""},
		{"voters without roles", with(combined, "process.roles", ""), "process.roles must be set"},
		{"no quorum", with(combined, "controller.quorum.voters", ""), "either controller.quorum.bootstrap.servers must contain the set of bootstrap controllers or controller.quorum.voters must contain a parseable set of controllers"},
		{"both quorum settings", with(combined, "controller.quorum.bootstrap.servers", "h:1"), "Only one of controller.quorum.voters and controller.quorum.bootstrap.servers"},
		{"bad voter", with(combined, "controller.quorum.voters", "1@host"), "Failed to parse the voter 1@host"},
		{"duplicate voter", with(combined, "controller.quorum.voters", "1@h:1,1@h:2"), "Voter id 1 appears more than once"},
		{"bad bootstrap", with(combined, "controller.quorum.voters", "", "controller.quorum.bootstrap.servers", "nohost"), "Invalid url in controller.quorum.bootstrap.servers: nohost"},
		{"controller not a voter", with(combined, "node.id", "3"), "the node id 3 must be included in the set of voters controller.quorum.voters=Set(1, 2)"},
		{"broker a voter", with(combined, "process.roles", "broker"), "contains just the 'broker' role, the node id 1 must not be included"},
		{"no controller listener names", with(combined, "controller.listener.names", "", "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"), "controller.listener.names must contain at least one value when running the KRaft controller role"},
		{"controller listener not bound", with(combined, "controller.listener.names", "RAFT", "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,RAFT:PLAINTEXT"), "controller.listener.names must contain at least one value appearing in the 'listeners' configuration"},
		{"controller-only with a broker listener", with(combined, "process.roles", "controller"), "must only contain KRaft controller listeners"},
		{"controller-only", with(combined, "process.roles", "controller", "listeners", "CONTROLLER://127.0.0.1:9093"), ""},
		{"broker-only", with(combined, "process.roles", "broker", "node.id", "4"), ""},
		{"broker without broker listener", with(combined, "listeners", "CONTROLLER://127.0.0.1:9093"), "There must be at least one broker listener"},
		{"inter-broker on the controller listener", with(combined, "inter.broker.listener.name", "CONTROLLER"), "inter.broker.listener.name must not be a controller listener"},
		{"inter-broker unknown", with(combined, "inter.broker.listener.name", "INTERNAL"), "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are PLAINTEXT"},
		{"broker-only advertises the controller", with(combined, "process.roles", "broker", "node.id", "4", "advertised.listeners", "PLAINTEXT://h:9092,CONTROLLER://h:9093"), "must not contain KRaft controller listeners"},
		{"explicit map without the controller", with(combined, "listener.security.protocol.map", "PLAINTEXT:PLAINTEXT"), "No security protocol defined for listener CONTROLLER"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateBroker(c.values)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestEffectiveSecurityProtocolMap maps controller listeners to PLAINTEXT
// when the map is left at its default, as Kafka does, and not when the map
// is set or SSL/SASL listener names are in use.
func TestEffectiveSecurityProtocolMap(t *testing.T) {
	m, err := EffectiveSecurityProtocolMap("", "CONTROLLER", "PLAINTEXT://:9092,CONTROLLER://:9093")
	if err != nil || m["CONTROLLER"] != "PLAINTEXT" || m["SSL"] != "SSL" {
		t.Fatalf("default map: %v %v", m, err)
	}
	if m, _ := EffectiveSecurityProtocolMap("PLAINTEXT:PLAINTEXT", "CONTROLLER", ""); m["CONTROLLER"] != "" {
		t.Fatalf("explicit map extended: %v", m)
	}
	if m, _ := EffectiveSecurityProtocolMap("", "CONTROLLER", "SSL://:9092,CONTROLLER://:9093"); m["CONTROLLER"] != "" {
		t.Fatalf("map extended with an SSL listener in use: %v", m)
	}
	voters, err := ParseQuorumVoters(" 1@a:1 , 2@[::1]:2")
	if err != nil || len(voters) != 2 || voters[1].Addr() != "[::1]:2" || voters[0].ID != 1 {
		t.Fatalf("voters %+v %v", voters, err)
	}
}
