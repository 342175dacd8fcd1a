package config

import (
	"math"
	"slices"
	"time"
)

// View is a resolved, validated set of config values with typed getters.
// The getters panic when name is not a config of the view's kind, when the
// getter does not fit the config's type, or when a non-string value is null
// (check IsNull first for configs whose default is null, such as
// log.retention.ms): these are programming errors, never user input.
type View struct {
	defs map[string]*Def
	vals map[string]any
}

func (v *View) get(name string) any {
	if _, ok := v.defs[name]; !ok {
		panic("config: no config named " + name)
	}
	return v.vals[name]
}

func typed[T any](v *View, name string) T {
	x, ok := v.get(name).(T)
	if !ok {
		var zero T
		panic("config: " + name + " is null or not of the requested type " + typeName(zero))
	}
	return x
}

func typeName(x any) string {
	switch x.(type) {
	case bool:
		return "bool"
	case int64:
		return "int64"
	case float64:
		return "float64"
	case []string:
		return "[]string"
	}
	return "string"
}

// IsNull reports whether the config has no value (its default is null and
// no layer sets it).
func (v *View) IsNull(name string) bool { return v.get(name) == nil }

// Value returns the value as Kafka reports it, and false when it is null.
func (v *View) Value(name string) (string, bool) {
	x := v.get(name)
	if x == nil {
		return "", false
	}
	return formatValue(x), true
}

// Bool returns a BOOLEAN config.
func (v *View) Bool(name string) bool { return typed[bool](v, name) }

// Int64 returns an INT, SHORT or LONG config.
func (v *View) Int64(name string) int64 { return typed[int64](v, name) }

// Int returns an INT or SHORT config (or a LONG one that fits in an int).
func (v *View) Int(name string) int {
	n := v.Int64(name)
	if n > math.MaxInt || n < math.MinInt {
		panic("config: " + name + " does not fit in an int")
	}
	return int(n)
}

// Float64 returns a DOUBLE config.
func (v *View) Float64(name string) float64 { return typed[float64](v, name) }

// String returns a STRING, PASSWORD or CLASS config, trimmed; "" when null.
func (v *View) String(name string) string {
	if x := v.get(name); x == nil {
		return ""
	}
	return typed[string](v, name)
}

// List returns a LIST config; nil when null. The slice is a copy.
func (v *View) List(name string) []string {
	if x := v.get(name); x == nil {
		return nil
	}
	return slices.Clone(typed[[]string](v, name))
}

// Duration returns a millisecond config (a "*.ms" name) as a Duration.
// Values too large for a Duration, such as Kafka's Long.MAX_VALUE "never",
// saturate at the largest Duration; negative values keep their sign (-1,
// "no limit", is -1ms).
func (v *View) Duration(name string) time.Duration {
	ms := v.Int64(name)
	const maxMs = int64(math.MaxInt64 / int64(time.Millisecond))
	switch {
	case ms > maxMs:
		return time.Duration(math.MaxInt64)
	case ms < -maxMs:
		return time.Duration(math.MinInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

// Values returns every non-null value as Kafka reports it, by name.
func (v *View) Values() map[string]string {
	out := make(map[string]string, len(v.vals))
	for n, x := range v.vals {
		if x != nil {
			out[n] = formatValue(x)
		}
	}
	return out
}
