package schemaregistry

import (
	"encoding/json"
	"fmt"
)

// Key types of the _schemas topic, as Confluent's registry writes them
// (SchemaRegistryKeyType.java).
const (
	keyTypeSchema        = "SCHEMA"
	keyTypeConfig        = "CONFIG"
	keyTypeMode          = "MODE"
	keyTypeNoop          = "NOOP"
	keyTypeDeleteSubject = "DELETE_SUBJECT"
	keyTypeClearSubject  = "CLEAR_SUBJECT"
)

// recordKey is the JSON key of a _schemas record. Field order matches
// Confluent's serializer: keytype, subject, version, magic. Subject is nil
// for the global CONFIG and MODE keys.
type recordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject,omitempty"`
	Version *int    `json:"version,omitempty"`
	Magic   int     `json:"magic"`
}

func schemaKey(subject string, version int) recordKey {
	return recordKey{KeyType: keyTypeSchema, Subject: &subject, Version: &version, Magic: 1}
}

// configKey is the CONFIG key of subject, or the global one for "".
func configKey(subject string) recordKey {
	k := recordKey{KeyType: keyTypeConfig, Magic: 0}
	if subject != "" {
		k.Subject = &subject
	}
	return k
}

// modeKey is the MODE key of subject, or the global one for "".
func modeKey(subject string) recordKey {
	k := recordKey{KeyType: keyTypeMode, Magic: 0}
	if subject != "" {
		k.Subject = &subject
	}
	return k
}

// MarshalJSON writes the global CONFIG and MODE keys with an explicit
// "subject":null, as Confluent does.
func (k recordKey) MarshalJSON() ([]byte, error) {
	type plain recordKey
	b, err := json.Marshal(plain(k))
	if err != nil {
		return nil, err
	}
	if k.Subject == nil && (k.KeyType == keyTypeConfig || k.KeyType == keyTypeMode) {
		return fmt.Appendf(nil, `{"keytype":%q,"subject":null,"magic":%d}`, k.KeyType, k.Magic), nil
	}
	return b, nil
}

// subject returns the key's subject, "" for a global key.
func (k recordKey) subject() string {
	if k.Subject == nil {
		return ""
	}
	return *k.Subject
}

// Reference names a schema that another schema uses: for Avro the full
// name of a named type, for JSON Schema the $ref URL, for Protobuf the
// import path.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// schemaValue is the JSON value of a SCHEMA record.
type schemaValue struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted"`
}

// schemaType returns the value's format, AVRO when unset.
func (v *schemaValue) schemaType() string {
	if v.SchemaType == "" {
		return formatAvro
	}
	return v.SchemaType
}

// configValue is the JSON value of a CONFIG record.
type configValue struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// modeValue is the JSON value of a MODE record.
type modeValue struct {
	Mode string `json:"mode"`
}

// deleteSubjectValue is the JSON value of a DELETE_SUBJECT record: every
// version of Subject up to Version is soft-deleted.
type deleteSubjectValue struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// record is one keyed entry to append to _schemas; a nil value is a
// tombstone.
type record struct {
	key   recordKey
	value any
}

func (r record) encode() (key, value []byte, err error) {
	key, err = json.Marshal(r.key)
	if err != nil {
		return nil, nil, err
	}
	if r.value == nil {
		return key, nil, nil
	}
	value, err = json.Marshal(r.value)
	return key, value, err
}
