package config

import (
	"slices"
	"strings"
)

// InterBrokerSASLMechanisms are the mechanisms a broker authenticates with
// to another broker's SASL inter-broker listener.
var InterBrokerSASLMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// Lookup returns a config's value as set, ok false when it is not set.
type Lookup func(name string) (string, bool)

// MapLookup looks names up in values.
func MapLookup(values map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := values[name]
		return v, ok
	}
}

// ResolveInterBrokerListener returns the inter-broker listener's name as Kafka
// resolves it: inter.broker.listener.name, else the listener named after
// security.inter.broker.protocol when that is set; "" when neither is set
// (the broker then uses its first listener other than the controller
// listeners). Setting both is Kafka's error.
func ResolveInterBrokerListener(lookup Lookup) (string, error) {
	name, named := lookup(InterBrokerListenerName)
	proto, protoSet := lookup(SecurityInterBrokerProtocol)
	name, proto = strings.TrimSpace(name), strings.TrimSpace(proto)
	switch {
	case named && name != "" && protoSet && proto != "":
		return "", configError(InterBrokerListenerName, "Only one of "+InterBrokerListenerName+" and "+SecurityInterBrokerProtocol+" should be set.")
	case named && name != "":
		return strings.ToUpper(name), nil
	case protoSet && proto != "":
		return strings.ToUpper(proto), nil
	}
	return "", nil
}

// InterBrokerSASLMechanism returns the mechanism a broker authenticates
// with to the SASL inter-broker listener listener:
// sasl.mechanism.inter.broker.protocol, which must be one Skein's brokers
// speak (Kafka's default GSSAPI is not) and, as Kafka requires, one of the
// listener's sasl.enabled.mechanisms.
func InterBrokerSASLMechanism(lookup Lookup, listener string) (string, error) {
	mech, set := lookup(SASLMechanismInterBrokerProtocol)
	mech = strings.TrimSpace(mech)
	if !set || mech == "" {
		mech = brokerByName[SASLMechanismInterBrokerProtocol].Default
	}
	if !slices.Contains(InterBrokerSASLMechanisms, mech) {
		why := mech + ", which Skein does not support between brokers"
		if !set {
			why = "unset and defaults to " + mech + " as in Kafka, which Skein does not support"
		}
		return "", configError(SASLMechanismInterBrokerProtocol, "The inter-broker listener "+listener+" uses SASL, and "+SASLMechanismInterBrokerProtocol+" is "+why+
			": set it to one of "+strings.Join(InterBrokerSASLMechanisms, ", ")+" (and give the broker's username and password in listener.name."+strings.ToLower(listener)+".<mechanism>.sasl.jaas.config)")
	}
	enabled, ok := lookup("listener.name." + strings.ToLower(listener) + "." + SASLEnabledMechanisms)
	if !ok {
		enabled, ok = lookup(SASLEnabledMechanisms)
	}
	if !ok {
		enabled = brokerByName[SASLEnabledMechanisms].Default
	}
	var names []string
	for _, m := range strings.Split(enabled, ",") {
		names = append(names, strings.TrimSpace(m))
	}
	if !slices.Contains(names, mech) {
		return "", configError(SASLMechanismInterBrokerProtocol, "requirement failed: "+SASLMechanismInterBrokerProtocol+" must be included in "+SASLEnabledMechanisms+" when SASL is used for inter-broker communication")
	}
	return mech, nil
}

// InterBrokerSASLMechanismSet reports whether
// sasl.mechanism.inter.broker.protocol is set. When it is not, a broker
// whose inter-broker listener uses SASL still starts (a single node with
// a SASL listener for its clients never connects to another broker), and
// its connections to other brokers fail with InterBrokerSASLMechanism's
// error.
func InterBrokerSASLMechanismSet(lookup Lookup) bool {
	v, ok := lookup(SASLMechanismInterBrokerProtocol)
	return ok && strings.TrimSpace(v) != ""
}

// checkInterBroker checks the inter-broker settings of a broker: at most
// one of inter.broker.listener.name and security.inter.broker.protocol,
// and a supported SASL mechanism when the listener uses SASL.
func checkInterBroker(merged map[string]any, lookup Lookup, raw func(string) string) error {
	name, err := ResolveInterBrokerListener(lookup)
	if err != nil {
		return err
	}
	if roles := ParseRoles(raw(ProcessRoles)); roles.KRaft() && !roles.Broker {
		return nil
	}
	protocols, err := EffectiveSecurityProtocolMap(raw(ListenerSecurityProtocolMap), raw(ControllerListenerNames), raw(Listeners))
	if err != nil {
		return err
	}
	listeners, err := ParseListeners(Listeners, merged[Listeners].([]string), protocols)
	if err != nil {
		return err
	}
	var ctrlNames []string
	if v, ok := merged[ControllerListenerNames].([]string); ok {
		for _, n := range v {
			ctrlNames = append(ctrlNames, strings.ToUpper(strings.TrimSpace(n)))
		}
	}
	for _, l := range listeners {
		if name == "" && slices.Contains(ctrlNames, l.Name) {
			continue
		}
		if name != "" && l.Name != name {
			continue
		}
		if (l.SecurityProtocol == "SASL_PLAINTEXT" || l.SecurityProtocol == "SASL_SSL") && InterBrokerSASLMechanismSet(lookup) {
			_, err := InterBrokerSASLMechanism(lookup, l.Name)
			return err
		}
		return nil
	}
	if name != "" {
		// Kafka names the missing listener with the same message as
		// for inter.broker.listener.name.
		names := make([]string, 0, len(listeners))
		for _, l := range listeners {
			if !slices.Contains(ctrlNames, l.Name) {
				names = append(names, l.Name)
			}
		}
		return configError(InterBrokerListenerName, "requirement failed: "+InterBrokerListenerName+" must be a listener name defined in "+AdvertisedListeners+
			". The valid options based on currently configured listeners are "+strings.Join(names, ","))
	}
	return nil
}
