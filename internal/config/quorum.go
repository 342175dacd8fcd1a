package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Names of the metadata quorum and controller configs.
const (
	ProcessRoles                     = "process.roles"
	ControllerQuorumVoters           = "controller.quorum.voters"
	ControllerQuorumBootstrapServers = "controller.quorum.bootstrap.servers"
	ControllerListenerNames          = "controller.listener.names"
	InterBrokerListenerName          = "inter.broker.listener.name"
)

// Voter is one entry of controller.quorum.voters: id@host:port.
type Voter struct {
	ID   int32
	Host string
	Port int
}

// Addr returns host:port, bracketing IPv6 hosts.
func (v Voter) Addr() string { return net.JoinHostPort(v.Host, strconv.Itoa(v.Port)) }

// ParseQuorumVoters parses controller.quorum.voters, Kafka's
// "{id}@{host}:{port},..." form.
func ParseQuorumVoters(value string) ([]Voter, error) {
	var out []Voter
	for _, e := range strings.Split(value, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		id, hp, ok := strings.Cut(e, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, invalidValue(ControllerQuorumVoters, value, "Failed to parse the voter "+e+": expected {id}@{host}:{port} with a non-negative id")
		}
		host, port, err := net.SplitHostPort(hp)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
			return nil, invalidValue(ControllerQuorumVoters, value, "Failed to parse the voter "+e+": expected {id}@{host}:{port} with a host and a port between 1 and 65535")
		}
		if slices.ContainsFunc(out, func(v Voter) bool { return v.ID == int32(n) }) {
			return nil, invalidValue(ControllerQuorumVoters, value, fmt.Sprintf("Voter id %d appears more than once", n))
		}
		out = append(out, Voter{ID: int32(n), Host: host, Port: p})
	}
	return out, nil
}

// ParseBootstrapServers parses controller.quorum.bootstrap.servers:
// host:port,...
func ParseBootstrapServers(value string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(value, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		host, port, err := net.SplitHostPort(e)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p <= 0 || p > 65535 {
			return nil, invalidValue(ControllerQuorumBootstrapServers, value, "Invalid url in "+ControllerQuorumBootstrapServers+": "+e)
		}
		out = append(out, e)
	}
	return out, nil
}

var quorumVotersValidator = Custom{
	Desc: "{id}@{host}:{port},...",
	Fn: func(_, raw string, _ any) error {
		_, err := ParseQuorumVoters(raw)
		return err
	},
}

var bootstrapServersValidator = Custom{
	Desc: "host:port,...",
	Fn: func(_, raw string, _ any) error {
		_, err := ParseBootstrapServers(raw)
		return err
	},
}

// Roles is the parsed process.roles.
type Roles struct {
	Broker, Controller bool
}

// KRaft reports whether process.roles is set (a node of a configured
// quorum); a node without it is a single combined node.
func (r Roles) KRaft() bool { return r.Broker || r.Controller }

// ParseRoles parses process.roles.
func ParseRoles(value string) Roles {
	var r Roles
	for _, e := range strings.Split(value, ",") {
		switch strings.TrimSpace(e) {
		case "broker":
			r.Broker = true
		case "controller":
			r.Controller = true
		}
	}
	return r
}

// checkKRaft runs Kafka's checks of the quorum configs (KafkaConfig's
// validateValues for KRaft), with Kafka's messages, plus Skein's one
// difference: a broker-only node receives the metadata log as a raft
// learner on its own controller listener, so it lists one in listeners.
func checkKRaft(merged map[string]any, raw func(string) string, listeners []Listener) error {
	roles := ParseRoles(raw(ProcessRoles))
	voters, err := ParseQuorumVoters(raw(ControllerQuorumVoters))
	if err != nil {
		return err
	}
	bootstrap, err := ParseBootstrapServers(raw(ControllerQuorumBootstrapServers))
	if err != nil {
		return err
	}
	var ctrlNames []string
	if v, ok := merged[ControllerListenerNames].([]string); ok {
		for _, n := range v {
			ctrlNames = append(ctrlNames, strings.ToUpper(strings.TrimSpace(n)))
		}
	}
	if !roles.KRaft() {
		if len(voters) > 0 || len(bootstrap) > 0 {
			return configError(ProcessRoles, "process.roles must be set (broker, controller or both) when "+ControllerQuorumVoters+" or "+ControllerQuorumBootstrapServers+" is set")
		}
		return nil
	}
	nodeID := merged[NodeID].(int64)
	if nodeID < 0 {
		return configError(NodeID, "Missing configuration `node.id` which is required when `process.roles` is defined (i.e. when running in KRaft mode).")
	}
	if len(voters) == 0 && len(bootstrap) == 0 {
		return configError(ControllerQuorumVoters, "If using "+ProcessRoles+", either "+ControllerQuorumBootstrapServers+
			" must contain the set of bootstrap controllers or "+ControllerQuorumVoters+" must contain a parseable set of controllers.")
	}
	if len(voters) > 0 && len(bootstrap) > 0 {
		return configError(ControllerQuorumBootstrapServers, "Only one of "+ControllerQuorumVoters+" and "+ControllerQuorumBootstrapServers+" can be set.")
	}
	if len(ctrlNames) == 0 {
		if roles.Controller {
			return configError(ControllerListenerNames, ControllerListenerNames+" must contain at least one value when running the KRaft controller role")
		}
		return configError(ControllerListenerNames, ControllerListenerNames+" must contain at least one value when running KRaft with just the broker role")
	}
	voterIDs := make([]string, len(voters))
	inVoters := false
	for i, v := range voters {
		voterIDs[i] = strconv.Itoa(int(v.ID))
		inVoters = inVoters || int64(v.ID) == nodeID
	}
	voterSet := "Set(" + strings.Join(voterIDs, ", ") + ")"
	switch {
	case roles.Controller && len(voters) > 0 && !inVoters:
		return configError(NodeID, fmt.Sprintf("If %s contains the 'controller' role, the node id %d must be included in the set of voters %s=%s", ProcessRoles, nodeID, ControllerQuorumVoters, voterSet))
	case !roles.Controller && inVoters:
		return configError(NodeID, fmt.Sprintf("If %s contains just the 'broker' role, the node id %d must not be included in the set of voters %s=%s", ProcessRoles, nodeID, ControllerQuorumVoters, voterSet))
	}
	var names []string
	for _, l := range listeners {
		names = append(names, l.Name)
	}
	var ctrlListeners int
	for _, n := range ctrlNames {
		if slices.Contains(names, n) {
			ctrlListeners++
		}
	}
	if ctrlListeners == 0 {
		return configError(ControllerListenerNames, ControllerListenerNames+" must contain at least one value appearing in the '"+Listeners+
			"' configuration: Skein's metadata quorum (raft, and learners on broker-only nodes) listens there")
	}
	if !roles.Broker {
		for _, n := range names {
			if !slices.Contains(ctrlNames, n) {
				return configError(Listeners, "The "+Listeners+" config must only contain KRaft controller listeners from "+ControllerListenerNames+" when "+ProcessRoles+"=controller")
			}
		}
		return nil
	}
	if ibl, ok := merged[InterBrokerListenerName].(string); ok && ibl != "" {
		ibl = strings.ToUpper(ibl)
		if slices.Contains(ctrlNames, ibl) {
			return configError(InterBrokerListenerName, "requirement failed: "+InterBrokerListenerName+" must not be a controller listener, but it is "+ibl)
		}
		if !slices.Contains(names, ibl) {
			var valid []string
			for _, n := range names {
				if !slices.Contains(ctrlNames, n) {
					valid = append(valid, n)
				}
			}
			return configError(InterBrokerListenerName, "requirement failed: "+InterBrokerListenerName+" must be a listener name defined in "+AdvertisedListeners+
				". The valid options based on currently configured listeners are "+strings.Join(valid, ","))
		}
	}
	if len(names) == ctrlListeners {
		return configError(Listeners, "There must be at least one broker listener (a listener not in "+ControllerListenerNames+") when "+ProcessRoles+" contains broker")
	}
	if adv, ok := merged[AdvertisedListeners].([]string); ok {
		for _, a := range adv {
			l, err := parseListener(AdvertisedListeners, a)
			if err == nil && slices.Contains(ctrlNames, l.Name) && roles.Broker && !roles.Controller {
				return configError(AdvertisedListeners, "requirement failed: The advertised.listeners config must not contain KRaft controller listeners from "+ControllerListenerNames+" when "+ProcessRoles+" contains the broker role because Kafka clients that send requests via advertised listeners do not send requests to KRaft controllers -- they only send requests to KRaft brokers.")
			}
		}
	}
	return nil
}

// EffectiveSecurityProtocolMap is listener.security.protocol.map as Kafka
// applies it: when the map is left at its default (mapValue is empty or
// the default) and neither the listeners nor the controller listener names
// are SSL or SASL_* names, each controller listener name maps to
// PLAINTEXT, so that CONTROLLER://host:port works without a map entry.
func EffectiveSecurityProtocolMap(mapValue, controllerListenerNames, listeners string) (map[string]string, error) {
	def := brokerByName[ListenerSecurityProtocolMap].Default
	if mapValue == "" {
		mapValue = def
	}
	m, err := ParseSecurityProtocolMap(mapValue)
	if err != nil || mapValue != def {
		return m, err
	}
	sslOrSASL := func(name string) bool {
		name = strings.ToUpper(strings.TrimSpace(name))
		return name == "SSL" || name == "SASL_SSL" || name == "SASL_PLAINTEXT"
	}
	var names []string
	for _, n := range strings.Split(controllerListenerNames, ",") {
		if n = strings.TrimSpace(n); n != "" {
			if sslOrSASL(n) {
				return m, nil
			}
			names = append(names, strings.ToUpper(n))
		}
	}
	for _, l := range strings.Split(listeners, ",") {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), "://"); ok && sslOrSASL(name) {
			return m, nil
		}
	}
	for _, n := range names {
		if _, ok := m[n]; !ok {
			m[n] = "PLAINTEXT"
		}
	}
	return m, nil
}
