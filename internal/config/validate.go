package config

import (
	"maps"
	"slices"
	"strings"
)

// ValidateTopic checks a topic's config overrides as Kafka does for
// CreateTopics and AlterConfigs: every name must be a topic config ("Unknown
// topic config name: foo"), every value must parse and pass its validator,
// and the cross-config rules must hold with the topic defaults filling the
// unset configs. Use Resolver.ValidateTopic to fill them from the broker's
// effective defaults instead. Errors wrap ErrInvalidConfig.
func ValidateTopic(values map[string]string) error {
	_, err := parseTopic(values, nil)
	return err
}

// parseTopic validates overrides and returns the full set of parsed topic
// values: overrides, then base (derived broker defaults) when non-nil, then
// the topic defaults.
func parseTopic(overrides map[string]string, base map[string]any) (map[string]any, error) {
	names := slices.Sorted(maps.Keys(overrides))
	for _, n := range names {
		if _, ok := topicByName[n]; !ok {
			return nil, configError(n, "Unknown topic config name: "+n)
		}
	}
	vals := make(map[string]any, len(topicDefs))
	for i := range topicDefs {
		d := &topicDefs[i]
		if v, ok := base[d.Name]; ok {
			vals[d.Name] = v
			continue
		}
		v, _ := d.Parse(d.Default) // defaults are checked at init
		vals[d.Name] = v
	}
	for _, n := range names {
		v, err := topicByName[n].Parse(overrides[n])
		if err != nil {
			return nil, err
		}
		vals[n] = v
	}
	if err := validateTopicValues(vals); err != nil {
		return nil, err
	}
	return vals, nil
}

// ValidateBroker checks a broker's static configuration (server.properties
// merged with flags): every name must be a broker config, with a "did you
// mean" suggestion for likely typos; every value must parse and pass its
// validator; and the cross-config rules must hold (node.id equals broker.id,
// listeners have security protocols, the topic defaults the log.* configs
// produce are valid topic values). Errors wrap ErrInvalidConfig; an error
// about one config carries its name in Error.Name.
func ValidateBroker(values map[string]string) error {
	_, err := NewResolver(Layers{Static: values})
	return err
}

// unknownBroker reports a name that is not a broker config.
func unknownBroker(name string) *Error {
	msg := "Unknown broker config name: " + name
	if why, ok := removedBroker[name]; ok {
		msg += " (" + why + ")"
	} else if _, isTopic := topicByName[name]; isTopic {
		if syn, ok := TopicSynonym(name); ok && syn != name {
			msg += " (" + name + " is a topic config; its broker default is " + syn + ")"
		}
	} else if s := suggest(name, brokerByName); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return configError(name, msg)
}

// parseBrokerLayer checks the names and values of one layer of broker
// configs and returns them parsed.
func parseBrokerLayer(values map[string]string) (map[string]any, error) {
	names := slices.Sorted(maps.Keys(values))
	for _, n := range names {
		if _, ok := brokerByName[n]; !ok {
			if _, prefixed := listenerPrefixedDef(n); !prefixed {
				return nil, unknownBroker(n)
			}
		}
	}
	out := make(map[string]any, len(values))
	for _, n := range names {
		d, ok := brokerByName[n]
		if !ok {
			// A listener-prefixed security config is checked like
			// the config it overrides and read by the listener.
			d, _ = listenerPrefixedDef(n)
			if _, err := d.Parse(values[n]); err != nil {
				return nil, err
			}
			continue
		}
		v, err := d.Parse(values[n])
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}

// ValidateBrokerDynamic checks configs to be set on the broker resource by
// AlterConfigs or IncrementalAlterConfigs: cluster-wide defaults (resource
// name "") or one broker's (resource name its id). Only dynamic configs may
// be set; the message for others is Kafka's ("Cannot update these configs
// dynamically: Set(listeners)"). Values are validated as in
// ValidateBroker. Errors wrap ErrInvalidConfig.
func ValidateBrokerDynamic(values map[string]string) error {
	names := slices.Sorted(maps.Keys(values))
	var static []string
	for _, n := range names {
		d, ok := brokerByName[n]
		if !ok {
			return unknownBroker(n)
		}
		if !d.Dynamic {
			static = append(static, n)
		}
	}
	if len(static) > 0 {
		return configError("", "Cannot update these configs dynamically: Set("+strings.Join(static, ", ")+")")
	}
	_, err := parseBrokerLayer(values)
	return err
}

// checkReplicaFetch applies Kafka's rules on the follower fetch wait: it
// must fit within the socket timeout and the ISR lag time.
func checkReplicaFetch(merged map[string]any) error {
	wait, _ := merged[ReplicaFetchWaitMaxMs].(int64)
	if socket, _ := merged[ReplicaSocketTimeoutMs].(int64); socket < wait {
		return configError(ReplicaSocketTimeoutMs, "replica.socket.timeout.ms should always be at least replica.fetch.wait.max.ms to prevent unnecessary socket timeouts")
	}
	if lag, _ := merged[ReplicaLagTimeMaxMs].(int64); lag < wait {
		return configError(ReplicaFetchWaitMaxMs, "replica.fetch.wait.max.ms should always be less than or equal to replica.lag.time.max.ms to prevent frequent changes in ISR")
	}
	return nil
}

// checkBroker runs the cross-config rules over merged broker values.
func checkBroker(merged map[string]any, raw func(string) string) error {
	if merged[NodeID].(int64) != merged[BrokerID].(int64) {
		return configError(NodeID, "You must set `node.id` to the same value as `broker.id`.")
	}
	if dirs, ok := merged[LogDirs].([]string); ok && len(dirs) > 1 {
		return invalidValue(LogDirs, strings.Join(dirs, ","),
			"Skein stores all partitions in one directory; give exactly one")
	}
	if dirs, ok := merged[LogDir].([]string); ok && len(dirs) > 1 && merged[LogDirs] == nil {
		return invalidValue(LogDir, strings.Join(dirs, ","),
			"Skein stores all partitions in one directory; give exactly one")
	}
	if err := checkConnectionsPerIP(merged); err != nil {
		return err
	}
	if err := checkReplicaFetch(merged); err != nil {
		return err
	}
	protocols, err := EffectiveSecurityProtocolMap(raw(ListenerSecurityProtocolMap), raw(ControllerListenerNames), raw(Listeners))
	if err != nil {
		return err
	}
	listeners, err := ParseListeners(Listeners, merged[Listeners].([]string), protocols)
	if err != nil {
		return err
	}
	if ibl, _ := merged[InterBrokerListenerName].(string); ibl != "" && !roleKRaft(raw) {
		// A single node: the KRaft checks below cover clusters.
		ibl = strings.ToUpper(ibl)
		if !slices.ContainsFunc(listeners, func(l Listener) bool { return l.Name == ibl }) {
			names := make([]string, len(listeners))
			for i, l := range listeners {
				names[i] = l.Name
			}
			return configError(InterBrokerListenerName, "requirement failed: "+InterBrokerListenerName+" must be a listener name defined in "+AdvertisedListeners+
				". The valid options based on currently configured listeners are "+strings.Join(names, ","))
		}
	}
	if err := checkKRaft(merged, raw, listeners); err != nil {
		return err
	}
	adv, ok := merged[AdvertisedListeners].([]string)
	if !ok {
		return nil
	}
	advertised, err := ParseListeners(AdvertisedListeners, adv, protocols)
	if err != nil {
		return err
	}
	bound := make([]string, len(listeners))
	for i, l := range listeners {
		bound[i] = l.Name
	}
	for _, a := range advertised {
		if !slices.Contains(bound, a.Name) {
			return configError(AdvertisedListeners, "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found "+
				a.Name+". The valid options based on currently configured listeners are "+strings.Join(bound, ","))
		}
	}
	return nil
}

// roleKRaft reports whether process.roles makes this node part of a
// multi-node cluster configuration.
func roleKRaft(raw func(string) string) bool {
	return ParseRoles(raw(ProcessRoles)).KRaft()
}
