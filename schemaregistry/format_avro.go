package schemaregistry

import (
	"encoding/json"

	"github.com/hamba/avro/v2"
)

// avroFormat is the AVRO schema type. Parsing and compatibility come from
// github.com/hamba/avro/v2; compatibility follows the Avro specification's
// schema resolution rules (field defaults, numeric promotion, enum
// symbols and defaults, union branches, named type names and aliases).
type avroFormat struct{}

type avroSchema struct {
	schema avro.Schema
	canon  string
}

func (s *avroSchema) canonical() string { return s.canon }

func (avroFormat) parse(schema string, deps []dependency) (parsedSchema, error) {
	// A fresh cache per parse: named types must come only from this
	// schema and its references, never from another subject's schema.
	cache := &avro.SchemaCache{}
	for _, d := range deps {
		if _, err := avro.ParseWithCache(d.schema, "", cache); err != nil {
			return nil, err
		}
	}
	s, err := avro.ParseWithCache(schema, "", cache)
	if err != nil {
		return nil, err
	}
	// The full JSON form (docs, defaults and properties kept, whitespace and
	// attribute spelling normalized), like Avro's Schema.toString, which
	// Confluent compares schemas by.
	canon, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return &avroSchema{schema: s, canon: string(canon)}, nil
}

func (avroFormat) compatible(reader, writer parsedSchema) []string {
	r, w := reader.(*avroSchema), writer.(*avroSchema)
	if err := avro.NewSchemaCompatibility().Compatible(r.schema, w.schema); err != nil {
		return []string{err.Error()}
	}
	return nil
}
