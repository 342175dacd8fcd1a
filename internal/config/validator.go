package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidConfig classifies the validation errors of this package. The
// broker maps it to Kafka's INVALID_CONFIG (40).
var ErrInvalidConfig = errors.New("invalid config")

// ErrInvalidRequest classifies the errors Kafka reports as INVALID_REQUEST
// (42) rather than INVALID_CONFIG: a malformed IncrementalAlterConfigs
// resource (repeated names, a null value, an unknown operation).
var ErrInvalidRequest = errors.New("invalid request")

// Error is a validation error. Its text is Kafka's message, so it can be
// returned to clients verbatim as the ErrorMessage of a response.
type Error struct {
	// Name is the config the error is about; empty when it concerns
	// several.
	Name string
	// Message is the full, Kafka-worded message.
	Message string
	// Request marks an INVALID_REQUEST error; the others are
	// INVALID_CONFIG.
	Request bool
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is the error's class, ErrInvalidConfig or
// ErrInvalidRequest.
func (e *Error) Is(target error) bool {
	if e.Request {
		return target == ErrInvalidRequest
	}
	return target == ErrInvalidConfig
}

// invalidValue builds Kafka's ConfigException(name, value, message) text:
// "Invalid value <value> for configuration <name>: <message>".
func invalidValue(name, value, msg string) *Error {
	return &Error{Name: name, Message: fmt.Sprintf("Invalid value %s for configuration %s: %s", value, name, msg)}
}

// configError builds Kafka's ConfigException(message) text.
func configError(name, msg string) *Error {
	return &Error{Name: name, Message: msg}
}

// A Validator checks a parsed value (bool, string, int64, float64 or
// []string; see Def.Parse) with Kafka's wording, and describes its valid
// values as Kafka's documentation does.
type Validator interface {
	Validate(name string, raw string, v any) error
	String() string
}

// Range accepts numbers in [Min, Max]; a bound is open when its Has flag is
// false. It is Kafka's ConfigDef.Range.
type Range struct {
	Min, Max       int64
	HasMin, HasMax bool
}

// AtLeast is Kafka's Range.atLeast.
func AtLeast(minimum int64) Range { return Range{Min: minimum, HasMin: true} }

// Between is Kafka's Range.between (both bounds inclusive).
func Between(minimum, maximum int64) Range {
	return Range{Min: minimum, Max: maximum, HasMin: true, HasMax: true}
}

// Validate implements Validator.
func (r Range) Validate(name, _ string, v any) error {
	var below, above bool
	switch x := v.(type) {
	case int64:
		below, above = r.HasMin && x < r.Min, r.HasMax && x > r.Max
	case float64:
		below, above = r.HasMin && x < float64(r.Min), r.HasMax && x > float64(r.Max)
	default:
		return invalidValue(name, formatValue(v), "Value must be non-null")
	}
	if below {
		return invalidValue(name, formatValue(v), "Value must be at least "+strconv.FormatInt(r.Min, 10))
	}
	if above {
		return invalidValue(name, formatValue(v), "Value must be no more than "+strconv.FormatInt(r.Max, 10))
	}
	return nil
}

func (r Range) String() string {
	lo, hi := "...", "..."
	if r.HasMin {
		lo = strconv.FormatInt(r.Min, 10)
	}
	if r.HasMax {
		hi = strconv.FormatInt(r.Max, 10)
	}
	switch {
	case !r.HasMin && !r.HasMax:
		return "[...]"
	case !r.HasMax:
		return "[" + lo + ",...]"
	case !r.HasMin:
		return "[...," + hi + "]"
	}
	return "[" + lo + ",...," + hi + "]"
}

// OneOf accepts exactly one of the strings, case-sensitively, as Kafka's
// ValidString.
type OneOf []string

// Validate implements Validator.
func (o OneOf) Validate(name, _ string, v any) error {
	s, _ := v.(string)
	if !slices.Contains(o, s) {
		return invalidValue(name, s, "String must be one of: "+strings.Join(o, ", "))
	}
	return nil
}

func (o OneOf) String() string { return "[" + strings.Join(o, ", ") + "]" }

// OneOfFold accepts one of the strings in any case, as Kafka's
// CaseInsensitiveValidString.
type OneOfFold []string

// Validate implements Validator.
func (o OneOfFold) Validate(name, _ string, v any) error {
	s, _ := v.(string)
	for _, want := range o {
		if strings.EqualFold(s, want) {
			return nil
		}
	}
	upper := make([]string, len(o))
	for i, w := range o {
		upper[i] = strings.ToUpper(w)
	}
	return invalidValue(name, s, "String must be one of (case insensitive): "+strings.Join(upper, ", "))
}

func (o OneOfFold) String() string { return "(case insensitive) [" + strings.Join(o, ", ") + "]" }

// ListOf validates a list as Kafka's ValidList: no duplicates, no empty
// entries, each entry one of Values (any entry when Values is empty), and an
// empty list only when AllowEmpty.
type ListOf struct {
	Values     []string
	AllowEmpty bool
}

// Validate implements Validator.
func (l ListOf) Validate(name, _ string, v any) error {
	items, _ := v.([]string)
	if len(items) == 0 {
		if l.AllowEmpty {
			return nil
		}
		valid := "any non-empty value"
		if len(l.Values) > 0 {
			valid = OneOf(l.Values).String()
		}
		return configError(name, "Configuration '"+name+"' must not be empty. Valid values include: "+valid)
	}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if seen[it] {
			return configError(name, "Configuration '"+name+"' values must not be duplicated.")
		}
		seen[it] = true
	}
	for _, it := range items {
		if it == "" {
			return configError(name, "Configuration '"+name+"' values must not be empty.")
		}
		if len(l.Values) > 0 {
			if err := OneOf(l.Values).Validate(name, it, it); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l ListOf) String() string {
	if len(l.Values) == 0 {
		return ""
	}
	return OneOf(l.Values).String()
}

// Custom is a Validator from a function; Desc describes the valid values.
type Custom struct {
	Desc string
	Fn   func(name, raw string, v any) error
}

// Validate implements Validator.
func (c Custom) Validate(name, raw string, v any) error { return c.Fn(name, raw, v) }

func (c Custom) String() string { return c.Desc }
