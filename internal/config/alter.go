package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// AlterOp is an IncrementalAlterConfigs operation, numbered as on the wire
// (kmsg.IncrementalAlterConfigOp).
type AlterOp int8

// IncrementalAlterConfigs operations.
const (
	AlterSet      AlterOp = 0
	AlterDelete   AlterOp = 1
	AlterAppend   AlterOp = 2
	AlterSubtract AlterOp = 3
)

// String returns Kafka's name of the operation.
func (o AlterOp) String() string {
	switch o {
	case AlterSet:
		return "SET"
	case AlterDelete:
		return "DELETE"
	case AlterAppend:
		return "APPEND"
	case AlterSubtract:
		return "SUBTRACT"
	}
	return "UNKNOWN"
}

// Resource is a config resource type, numbered as on the wire
// (kmsg.ConfigResourceType).
type Resource int8

// Config resource types with configs in this package.
const (
	ResourceTopic  Resource = 2
	ResourceBroker Resource = 4
)

// Alteration is one entry of an IncrementalAlterConfigs resource.
type Alteration struct {
	Name string
	Op   AlterOp
	// Value is the operand; nil is allowed only for DELETE.
	Value *string
}

// IncrementalAlter applies ops, in order, to a resource's current override
// map (a topic's configs, or one broker layer) and returns the new map;
// current is not modified. It mirrors Kafka's controller: SET replaces,
// DELETE removes, APPEND adds each comma-separated item not already present
// and SUBTRACT removes the first occurrence of each, both starting from the
// current override or, when unset, the config's default; APPEND and
// SUBTRACT on a config that is not a LIST fail with INVALID_CONFIG ("Can't
// APPEND to key retention.ms because its type is not LIST."). Repeated
// names, null operands and unknown operations fail with INVALID_REQUEST.
//
// The result is not validated: check it with Resolver.ValidateTopic or
// ValidateBrokerDynamic before storing it.
func IncrementalAlter(resource Resource, current map[string]string, ops []Alteration) (map[string]string, error) {
	defs := topicByName
	if resource == ResourceBroker {
		defs = brokerByName
	}
	seen := make(map[string]bool, len(ops))
	var nulls []string
	for _, op := range ops {
		if seen[op.Name] {
			return nil, &Error{Name: op.Name, Message: "Error due to duplicate config keys", Request: true}
		}
		seen[op.Name] = true
		if op.Op < AlterSet || op.Op > AlterSubtract {
			return nil, &Error{Name: op.Name, Message: "Unknown operations type " + strconv.Itoa(int(op.Op)), Request: true}
		}
		if op.Value == nil && op.Op != AlterDelete {
			nulls = append(nulls, op.Name)
		}
	}
	if len(nulls) > 0 {
		return nil, &Error{Message: "Null value not supported for : " + strings.Join(nulls, ", "), Request: true}
	}
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	for _, op := range ops {
		switch op.Op {
		case AlterSet:
			out[op.Name] = *op.Value
		case AlterDelete:
			delete(out, op.Name)
		case AlterAppend, AlterSubtract:
			d, ok := defs[op.Name]
			if !ok || d.Type != TypeList {
				return nil, configError(op.Name, "Can't "+op.Op.String()+" to key "+op.Name+" because its type is not LIST.")
			}
			old, set := out[op.Name]
			if !set {
				old, _ = d.DefaultValue()
			}
			items := splitParts(old)
			for _, v := range javaSplit(*op.Value) {
				i := slices.Index(items, v)
				switch {
				case op.Op == AlterAppend && i < 0:
					items = append(items, v)
				case op.Op == AlterSubtract && i >= 0:
					items = slices.Delete(items, i, i+1)
				}
			}
			out[op.Name] = strings.Join(items, ",")
		}
	}
	return out, nil
}

// splitParts splits a stored list value on commas, dropping empty parts.
func splitParts(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// javaSplit is Java's String.split(","): trailing empty strings are
// removed, and an empty input yields one empty string.
func javaSplit(s string) []string {
	parts := strings.Split(s, ",")
	for len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) == 1 && parts[0] == "" && s != "" {
		return nil
	}
	return parts
}
