package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Listener is one entry of listeners or advertised.listeners.
type Listener struct {
	// Name is the listener name, upper-cased as Kafka normalizes it.
	Name string
	// Host is the host or IP; empty binds every interface.
	Host string
	// Port is the TCP port; 0 binds an ephemeral port.
	Port int
	// SecurityProtocol is the listener's protocol from
	// listener.security.protocol.map, e.g. PLAINTEXT.
	SecurityProtocol string
}

// Addr returns host:port, bracketing IPv6 hosts.
func (l Listener) Addr() string {
	host := l.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(l.Port)
}

// securityProtocols are Kafka's SecurityProtocol names.
var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// listenerURI is Kafka's SocketServerConfigs URI_PARSE_REGEXP, anchored as
// Matcher.matches anchors it.
var listenerURI = regexp.MustCompile(`^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$`)

// ParseSecurityProtocolMap parses listener.security.protocol.map into
// upper-cased listener name → protocol.
func ParseSecurityProtocolMap(value string) (map[string]string, error) {
	out := make(map[string]string)
	trimmed := strings.TrimSpace(value)
	if trimmed == "" {
		return out, nil
	}
	for _, entry := range strings.Split(trimmed, ",") {
		entry = strings.TrimSpace(entry)
		name, proto, ok := strings.Cut(entry, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.TrimSpace(proto)
		if !ok || name == "" {
			return nil, invalidValue(ListenerSecurityProtocolMap, value,
				fmt.Sprintf("Map entry %q is not of the form LISTENER_NAME:SECURITY_PROTOCOL", entry))
		}
		if !slices.Contains(securityProtocols, proto) {
			return nil, invalidValue(ListenerSecurityProtocolMap, value,
				fmt.Sprintf("Unknown security protocol %s for listener %s; valid protocols are %s",
					proto, name, strings.Join(securityProtocols, ", ")))
		}
		if _, dup := out[name]; dup {
			return nil, invalidValue(ListenerSecurityProtocolMap, value,
				"Each listener name should only appear once in the map; "+name+" is repeated")
		}
		out[name] = proto
	}
	return out, nil
}

var securityProtocolMapValidator = Custom{
	Desc: "LISTENER_NAME:SECURITY_PROTOCOL,...",
	Fn: func(_, raw string, _ any) error {
		_, err := ParseSecurityProtocolMap(raw)
		return err
	},
}

// ParseListeners parses listeners or advertised.listeners (the list form,
// already split on commas) against a parsed listener.security.protocol.map.
// name is the config being parsed, for error messages.
func ParseListeners(name string, entries []string, protocols map[string]string) ([]Listener, error) {
	out := make([]Listener, 0, len(entries))
	for _, e := range entries {
		l, err := parseListener(name, e)
		if err != nil {
			return nil, err
		}
		proto, ok := protocols[l.Name]
		if !ok {
			return nil, invalidValue(name, strings.Join(entries, ","),
				"No security protocol defined for listener "+l.Name)
		}
		l.SecurityProtocol = proto
		out = append(out, l)
	}
	return out, nil
}

func parseListener(name, entry string) (Listener, error) {
	m := listenerURI.FindStringSubmatch(entry)
	if m == nil {
		return Listener{}, invalidValue(name, entry, "Unable to parse "+entry+" to a broker endpoint")
	}
	port, err := strconv.Atoi(m[3])
	if err != nil || port < 0 || port > 65535 {
		return Listener{}, invalidValue(name, entry, "Port "+m[3]+" is out of range")
	}
	return Listener{Name: strings.ToUpper(m[1]), Host: m[2], Port: port}, nil
}

// listenersValidator checks the syntax of each endpoint and, for
// listeners, that names and ports are unique; for advertised listeners,
// that the meta-address 0.0.0.0 is not advertised. That every name has a
// security protocol is checked with the map, in ValidateBroker.
func listenersValidator(advertised bool) Validator {
	return Custom{
		Desc: "NAME://host:port,...",
		Fn: func(name, raw string, v any) error {
			if err := (ListOf{}).Validate(name, raw, v); err != nil {
				return err
			}
			entries, _ := v.([]string)
			names := map[string]bool{}
			ports := map[string]bool{}
			for _, e := range entries {
				l, err := parseListener(name, e)
				if err != nil {
					return err
				}
				if advertised {
					if l.Host == "0.0.0.0" {
						return configError(name, name+" cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.")
					}
					continue
				}
				if names[l.Name] {
					return configError(name, "Each listener must have a different name, "+name+": "+strings.Join(entries, ","))
				}
				names[l.Name] = true
				// The same port may serve an IPv4 and an IPv6 listener.
				family := "4"
				if strings.Contains(l.Host, ":") {
					family = "6"
				}
				key := family + "/" + strconv.Itoa(l.Port)
				if l.Port != 0 && ports[key] {
					return configError(name, "Each listener must have a different port, "+name+": "+strings.Join(entries, ","))
				}
				ports[key] = true
			}
			return nil
		},
	}
}
