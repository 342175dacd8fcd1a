package config

import (
	"math"
	"strconv"
	"strings"
)

// Type is a config's data type, numbered as DescribeConfigs v3+ reports it
// (kmsg.ConfigType).
type Type int8

// Kafka's ConfigDef types.
const (
	TypeUnknown  Type = 0
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

// String returns Kafka's upper-case name of the type, as used in its error
// messages ("Not a number of type INT").
func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeString:
		return "STRING"
	case TypeInt:
		return "INT"
	case TypeShort:
		return "SHORT"
	case TypeLong:
		return "LONG"
	case TypeDouble:
		return "DOUBLE"
	case TypeList:
		return "LIST"
	case TypeClass:
		return "CLASS"
	case TypePassword:
		return "PASSWORD"
	}
	return "UNKNOWN"
}

// Source says which layer supplied a value, numbered as DescribeConfigs
// reports it (kmsg.ConfigSource).
type Source int8

// Kafka's config sources, in order of precedence.
const (
	SourceUnknown              Source = 0
	SourceDynamicTopic         Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceDynamicBroker        Source = 2 // DYNAMIC_BROKER_CONFIG
	SourceDynamicDefaultBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
	SourceStaticBroker         Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault              Source = 5 // DEFAULT_CONFIG
)

// String returns Kafka's name of the source.
func (s Source) String() string {
	switch s {
	case SourceDynamicTopic:
		return "DYNAMIC_TOPIC_CONFIG"
	case SourceDynamicBroker:
		return "DYNAMIC_BROKER_CONFIG"
	case SourceDynamicDefaultBroker:
		return "DYNAMIC_DEFAULT_BROKER_CONFIG"
	case SourceStaticBroker:
		return "STATIC_BROKER_CONFIG"
	case SourceDefault:
		return "DEFAULT_CONFIG"
	}
	return "UNKNOWN"
}

// ServerDefault names a broker config that supplies a topic config's default
// (Kafka's ServerTopicConfigSynonyms), and how to convert it.
type ServerDefault struct {
	// Name is the broker config's name, e.g. log.retention.hours.
	Name string
	// Scale multiplies the broker value into the topic's unit: 1, or
	// 60000 for minutes and 3600000 for hours when the topic unit is ms.
	Scale int64
}

// Def defines one config.
type Def struct {
	// Name is the Kafka property name.
	Name string
	// Type is Kafka's ConfigDef type.
	Type Type
	// Default is Kafka's textual default; meaningless when NullDefault.
	Default string
	// NullDefault is set where Kafka's default is null (the config is
	// unset unless given, e.g. log.retention.ms).
	NullDefault bool
	// Doc is a short description, shown by DescribeConfigs with
	// IncludeDocumentation.
	Doc string
	// Validator checks the parsed value; nil accepts any value of Type.
	Validator Validator
	// Sensitive values are never reported (DescribeConfigs returns null).
	Sensitive bool
	// ReadOnly is reported by DescribeConfigs for broker configs that
	// cannot change at runtime; it is !Dynamic for broker configs and
	// always false for topic configs.
	ReadOnly bool
	// Dynamic broker configs can be changed by AlterConfigs and
	// IncrementalAlterConfigs on the broker resource, cluster-wide ("") or
	// for one broker ("1"), as Kafka's DynamicBrokerConfig allows.
	Dynamic bool
	// ServerDefaults lists, for a topic config, the broker configs that
	// supply its default, in Kafka's order of precedence. Empty for broker
	// configs and for topic configs without a broker default.
	ServerDefaults []ServerDefault
}

// DefaultValue returns the default as Kafka reports it, and false when the
// default is null.
func (d *Def) DefaultValue() (string, bool) {
	if d.NullDefault {
		return "", false
	}
	return d.Default, true
}

// Parse converts a textual value to its typed form, as Kafka's
// ConfigDef.parseType does, and runs the validator. The result is a bool,
// string, int64 (INT, SHORT, LONG), float64 or []string. Errors wrap
// ErrInvalidConfig and carry Kafka's message.
func (d *Def) Parse(value string) (any, error) {
	v, err := parseType(d.Name, d.Type, value)
	if err != nil {
		return nil, err
	}
	if d.Validator != nil {
		if err := d.Validator.Validate(d.Name, value, v); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Normalize returns value as Kafka reports it after parsing (Kafka's
// ConfigDef.convertToString): trimmed, booleans in lower case, lists joined
// by "," without spaces, doubles in Java's notation.
func (d *Def) Normalize(value string) (string, error) {
	v, err := d.Parse(value)
	if err != nil {
		return "", err
	}
	return formatValue(v), nil
}

// parseType mirrors ConfigDef.parseType: the value is trimmed, numbers are
// decimal with an optional sign, booleans are true/false in any case, and
// lists split on commas with surrounding white space.
func parseType(name string, t Type, value string) (any, error) {
	trimmed := strings.TrimSpace(value)
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(trimmed, "true"):
			return true, nil
		case strings.EqualFold(trimmed, "false"):
			return false, nil
		}
		return nil, invalidValue(name, value, "Expected value to be either true or false")
	case TypeString, TypePassword, TypeClass:
		return trimmed, nil
	case TypeInt, TypeShort, TypeLong:
		bits := map[Type]int{TypeInt: 32, TypeShort: 16, TypeLong: 64}[t]
		n, err := strconv.ParseInt(trimmed, 10, bits)
		if err != nil {
			return nil, invalidValue(name, value, "Not a number of type "+t.String())
		}
		return n, nil
	case TypeDouble:
		f, err := strconv.ParseFloat(trimmed, 64)
		if err != nil || math.IsNaN(f) {
			return nil, invalidValue(name, value, "Not a number of type "+t.String())
		}
		return f, nil
	case TypeList:
		if trimmed == "" {
			return []string{}, nil
		}
		parts := strings.Split(trimmed, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
	return nil, invalidValue(name, value, "Unknown type")
}

// formatValue renders a parsed value as Kafka's ConfigDef.convertToString.
func formatValue(v any) string {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return javaDouble(x)
	case []string:
		return strings.Join(x, ",")
	}
	return ""
}

// javaDouble formats f as Java's Double.toString: plain notation with at
// least one decimal for 1e-3 <= |f| < 1e7, computerized scientific notation
// ("1.0E-5") otherwise.
func javaDouble(f float64) string {
	if math.IsInf(f, 1) {
		return "Infinity"
	}
	if math.IsInf(f, -1) {
		return "-Infinity"
	}
	abs := math.Abs(f)
	if f == 0 || (abs >= 1e-3 && abs < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	exp = strings.TrimPrefix(exp, "+")
	if neg := strings.HasPrefix(exp, "-"); neg {
		exp = "-" + strings.TrimLeft(exp[1:], "0")
	} else {
		exp = strings.TrimLeft(exp, "0")
	}
	return mant + "E" + exp
}
