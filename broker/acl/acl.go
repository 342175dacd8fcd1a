// Package acl is Kafka's access control model (KIP-11) and an authorizer
// that decides as Kafka's StandardAuthorizer does.
//
// A binding ties a resource pattern (type, name, LITERAL or PREFIXED) to an
// entry (principal, host, operation, ALLOW or DENY). To authorize a
// principal from a host for an operation on a resource, the authorizer
// gathers the bindings whose pattern matches the resource (the literal name,
// the literal wildcard "*", and every prefix of the name) and whose entry
// matches the principal (or User:*) and host (or *):
//
//   - super users are allowed everything;
//   - a matching DENY wins over any ALLOW;
//   - an ALLOW for the operation, for ALL, or for an operation that implies
//     it (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS
//     implies DESCRIBE_CONFIGS) allows;
//   - with no binding at all on the resource, allow.everyone.if.no.acl.found
//     decides; otherwise the request is denied.
//
// The numeric values of the enumerations are Kafka's wire values, so they
// convert to and from the protocol's types by a cast.
package acl

import (
	"errors"
	"fmt"
	"strings"
)

// ResourceType is the kind of resource a binding protects.
type ResourceType int8

// Resource types, with Kafka's codes.
const (
	ResourceUnknown         ResourceType = 0
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// PatternType says how a binding's resource name matches resource names.
type PatternType int8

// Pattern types, with Kafka's codes. ANY and MATCH appear only in filters.
const (
	PatternUnknown  PatternType = 0
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is what a principal does to a resource.
type Operation int8

// Operations, with Kafka's codes. ANY appears only in filters.
const (
	OpUnknown         Operation = 0
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permission is ALLOW or DENY.
type Permission int8

// Permissions, with Kafka's codes. ANY appears only in filters.
const (
	PermissionUnknown Permission = 0
	PermissionAny     Permission = 1
	PermissionDeny    Permission = 2
	PermissionAllow   Permission = 3
)

// Wildcards and fixed names, as Kafka spells them.
const (
	// WildcardResource as a LITERAL name matches every resource of the type.
	WildcardResource = "*"
	// WildcardPrincipal matches every principal.
	WildcardPrincipal = "User:*"
	// WildcardHost matches every host.
	WildcardHost = "*"
	// ClusterName is the name of the one CLUSTER resource.
	ClusterName = "kafka-cluster"
)

var resourceNames = map[ResourceType]string{
	ResourceUnknown: "UNKNOWN", ResourceAny: "ANY", ResourceTopic: "TOPIC", ResourceGroup: "GROUP",
	ResourceCluster: "CLUSTER", ResourceTransactionalID: "TRANSACTIONAL_ID",
	ResourceDelegationToken: "DELEGATION_TOKEN", ResourceUser: "USER",
}

var patternNames = map[PatternType]string{
	PatternUnknown: "UNKNOWN", PatternAny: "ANY", PatternMatch: "MATCH", PatternLiteral: "LITERAL", PatternPrefixed: "PREFIXED",
}

var operationNames = map[Operation]string{
	OpUnknown: "UNKNOWN", OpAny: "ANY", OpAll: "ALL", OpRead: "READ", OpWrite: "WRITE", OpCreate: "CREATE",
	OpDelete: "DELETE", OpAlter: "ALTER", OpDescribe: "DESCRIBE", OpClusterAction: "CLUSTER_ACTION",
	OpDescribeConfigs: "DESCRIBE_CONFIGS", OpAlterConfigs: "ALTER_CONFIGS", OpIdempotentWrite: "IDEMPOTENT_WRITE",
	OpCreateTokens: "CREATE_TOKENS", OpDescribeTokens: "DESCRIBE_TOKENS",
}

var permissionNames = map[Permission]string{
	PermissionUnknown: "UNKNOWN", PermissionAny: "ANY", PermissionDeny: "DENY", PermissionAllow: "ALLOW",
}

func (t ResourceType) String() string { return nameOr(resourceNames, t) }
func (p PatternType) String() string  { return nameOr(patternNames, p) }
func (o Operation) String() string    { return nameOr(operationNames, o) }
func (p Permission) String() string   { return nameOr(permissionNames, p) }

func nameOr[K comparable](names map[K]string, k K) string {
	if s, ok := names[k]; ok {
		return s
	}
	return "UNKNOWN"
}

// parse looks a name up case-insensitively, accepting '-' for '_' and
// the spellings without underscores (kafka-acls.sh accepts "IdempotentWrite").
func parse[K comparable](names map[K]string, what, s string) (K, error) {
	norm := func(x string) string { return strings.ToUpper(strings.NewReplacer("_", "", "-", "").Replace(x)) }
	for k, n := range names {
		if norm(n) == norm(s) && n != "UNKNOWN" {
			return k, nil
		}
	}
	var zero K
	return zero, fmt.Errorf("unknown %s %q", what, s)
}

// ParseResourceType parses a resource type name such as "TOPIC".
func ParseResourceType(s string) (ResourceType, error) {
	return parse(resourceNames, "resource type", s)
}

// ParsePatternType parses a pattern type name such as "PREFIXED".
func ParsePatternType(s string) (PatternType, error) { return parse(patternNames, "pattern type", s) }

// ParseOperation parses an operation name such as "DESCRIBE_CONFIGS".
func ParseOperation(s string) (Operation, error) { return parse(operationNames, "operation", s) }

// ParsePermission parses "ALLOW" or "DENY".
func ParsePermission(s string) (Permission, error) { return parse(permissionNames, "permission", s) }

// Binding is one access control entry on a resource pattern (Kafka's
// AclBinding).
type Binding struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string
	Host         string
	Operation    Operation
	Permission   Permission
}

func (b Binding) String() string {
	return fmt.Sprintf("(resource=%s:%s:%s, principal=%s, host=%s, operation=%s, permission=%s)",
		b.ResourceType, b.PatternType, b.ResourceName, b.Principal, b.Host, b.Operation, b.Permission)
}

// Validate checks a binding to be created, with Kafka's messages. A
// failure is an INVALID_REQUEST.
func (b Binding) Validate() error {
	switch b.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID, ResourceDelegationToken, ResourceUser:
	default:
		return fmt.Errorf("Invalid resourceType %s", b.ResourceType)
	}
	if b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed {
		return fmt.Errorf("Invalid patternType %s", b.PatternType)
	}
	if _, ok := operationNames[b.Operation]; !ok || b.Operation == OpUnknown || b.Operation == OpAny {
		return fmt.Errorf("Invalid operation %s", b.Operation)
	}
	if b.Permission != PermissionAllow && b.Permission != PermissionDeny {
		return fmt.Errorf("Invalid permissionType %s", b.Permission)
	}
	if b.ResourceName == "" {
		return errors.New("Invalid empty resource name specified")
	}
	if b.ResourceType == ResourceCluster && b.ResourceName != ClusterName {
		return errors.New("The only valid name for the CLUSTER resource is " + ClusterName)
	}
	if !strings.Contains(b.Principal, ":") {
		return fmt.Errorf("Could not parse principal from `%s` (no colon is present separating the principal type from the principal name)", b.Principal)
	}
	if b.Host == "" {
		return errors.New("Invalid empty host specified")
	}
	return nil
}

// Filter selects bindings (Kafka's AclBindingFilter): nil strings and the
// ANY values match everything; the MATCH pattern type selects the bindings
// that would apply to the named resource.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Validate rejects filters with unknown values, as Kafka does (an
// INVALID_REQUEST).
func (f Filter) Validate() error {
	if _, ok := resourceNames[f.ResourceType]; !ok || f.ResourceType == ResourceUnknown {
		return errors.New("Unknown patternFilter.")
	}
	if _, ok := patternNames[f.PatternType]; !ok || f.PatternType == PatternUnknown {
		return errors.New("Unknown patternFilter.")
	}
	if _, ok := operationNames[f.Operation]; !ok || f.Operation == OpUnknown {
		return errors.New("Unknown entryFilter.")
	}
	if _, ok := permissionNames[f.Permission]; !ok || f.Permission == PermissionUnknown {
		return errors.New("Unknown entryFilter.")
	}
	return nil
}

// Matches reports whether the filter selects b (ResourcePatternFilter and
// AccessControlEntryFilter matching in Kafka).
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != PatternAny && f.PatternType != PatternMatch && f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != nil {
		name := *f.ResourceName
		switch {
		case f.PatternType == PatternAny || f.PatternType == b.PatternType:
			if name != b.ResourceName {
				return false
			}
		case b.PatternType == PatternLiteral:
			if name != b.ResourceName && b.ResourceName != WildcardResource {
				return false
			}
		case b.PatternType == PatternPrefixed:
			if !strings.HasPrefix(name, b.ResourceName) {
				return false
			}
		default:
			return false
		}
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != OpAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == PermissionAny || f.Permission == b.Permission
}

// Ops returns the operations that apply to a resource type, in Kafka's
// order: the bits of the authorized-operations fields.
func Ops(t ResourceType) []Operation {
	switch t {
	case ResourceTopic:
		return []Operation{OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe, OpDescribeConfigs, OpAlterConfigs}
	case ResourceGroup:
		return []Operation{OpRead, OpDescribe, OpDelete}
	case ResourceCluster:
		return []Operation{OpCreate, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite, OpAlter, OpDescribe}
	case ResourceTransactionalID:
		return []Operation{OpDescribe, OpWrite}
	case ResourceDelegationToken:
		return []Operation{OpDescribe}
	case ResourceUser:
		return []Operation{OpCreateTokens, OpDescribeTokens}
	}
	return nil
}
