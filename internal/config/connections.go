package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ConnectionOverride is one entry of max.connections.per.ip.overrides: a
// host (an IP address or a name to resolve) and its connection limit.
type ConnectionOverride struct {
	Host  string
	Limit int
}

// validHostChars is Kafka's Utils.validHostPattern.
var validHostChars = regexp.MustCompile(`^[0-9a-zA-Z\-%._:]*$`)

// ParseConnectionOverrides parses max.connections.per.ip.overrides as
// Kafka's parseCsvMap does: comma-separated host:count pairs, split at the
// last colon so that IPv6 addresses need no brackets.
func ParseConnectionOverrides(value string) ([]ConnectionOverride, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var out []ConnectionOverride
	var invalid []string
	for _, pair := range strings.Split(value, ",") {
		pair = strings.TrimSpace(pair)
		i := strings.LastIndexByte(pair, ':')
		if i < 0 {
			return nil, invalidValue(MaxConnectionsPerIPOverrides, value, fmt.Sprintf("%q is not a host:count pair", pair))
		}
		host, count := strings.TrimSpace(pair[:i]), strings.TrimSpace(pair[i+1:])
		n, err := strconv.ParseInt(count, 10, 32)
		if err != nil || n < 0 {
			return nil, invalidValue(MaxConnectionsPerIPOverrides, value, fmt.Sprintf("the count of %s, %q, is not a non-negative int", host, count))
		}
		if host == "" || !validHostChars.MatchString(host) {
			invalid = append(invalid, host)
			continue
		}
		out = append(out, ConnectionOverride{Host: host, Limit: int(n)})
	}
	if len(invalid) > 0 {
		return nil, configError(MaxConnectionsPerIPOverrides, MaxConnectionsPerIPOverrides+" contains invalid addresses : "+strings.Join(invalid, ","))
	}
	return out, nil
}

var connectionOverridesValidator = Custom{
	Desc: "comma-separated host:count pairs",
	Fn: func(_, raw string, _ any) error {
		_, err := ParseConnectionOverrides(raw)
		return err
	},
}

// checkConnectionsPerIP is Kafka's rule that max.connections.per.ip may be
// 0 only with overrides.
func checkConnectionsPerIP(merged map[string]any) error {
	if n, ok := merged[MaxConnectionsPerIP].(int64); !ok || n != 0 {
		return nil
	}
	if o, _ := merged[MaxConnectionsPerIPOverrides].(string); strings.TrimSpace(o) != "" {
		return nil
	}
	return configError(MaxConnectionsPerIP, MaxConnectionsPerIP+" can be set to zero only if "+MaxConnectionsPerIPOverrides+" property is set.")
}
