package schemaregistry

import (
	"fmt"
	"strings"
)

// Schema types as the REST API names them.
const (
	formatAvro     = "AVRO"
	formatJSON     = "JSON"
	formatProtobuf = "PROTOBUF"
)

// Compatibility levels (CompatibilityLevel.java).
const (
	compatNone               = "NONE"
	compatBackward           = "BACKWARD"
	compatBackwardTransitive = "BACKWARD_TRANSITIVE"
	compatForward            = "FORWARD"
	compatForwardTransitive  = "FORWARD_TRANSITIVE"
	compatFull               = "FULL"
	compatFullTransitive     = "FULL_TRANSITIVE"

	defaultCompatibility = compatBackward
)

// Modes (Mode.java).
const (
	modeReadWrite = "READWRITE"
	modeReadOnly  = "READONLY"
	modeImport    = "IMPORT"
)

// parseCompatibility returns the canonical name of level, accepting any
// case as Confluent does.
func parseCompatibility(level string) (string, bool) {
	switch l := strings.ToUpper(level); l {
	case compatNone, compatBackward, compatBackwardTransitive, compatForward,
		compatForwardTransitive, compatFull, compatFullTransitive:
		return l, true
	}
	return "", false
}

func parseMode(mode string) (string, bool) {
	switch m := strings.ToUpper(mode); m {
	case modeReadWrite, modeReadOnly, modeImport:
		return m, true
	}
	return "", false
}

// parsedSchema is a schema that its format has parsed and validated.
type parsedSchema interface {
	// canonical is a normal form of the schema: two schemas of one format
	// with the same canonical form and references are the same schema.
	canonical() string
}

// dependency is a referenced schema, ready for a format to load: its
// reference name and text.
type dependency struct {
	name   string
	schema string
}

// format parses and compares the schemas of one schema type.
type format interface {
	// parse parses schema, whose references (transitively, dependencies
	// first) are deps.
	parse(schema string, deps []dependency) (parsedSchema, error)
	// compatible returns why a consumer using reader cannot read data
	// written with writer; none when it can.
	compatible(reader, writer parsedSchema) []string
}

// formats are the schema types the registry serves, in the order
// /schemas/types lists them.
var formats = map[string]format{
	formatAvro:     avroFormat{},
	formatJSON:     jsonFormat{},
	formatProtobuf: protobufFormat{},
}

// formatNames lists the supported schema types.
var formatNames = []string{formatJSON, formatProtobuf, formatAvro}

func lookupFormat(schemaType string) (format, error) {
	if schemaType == "" {
		schemaType = formatAvro
	}
	f, ok := formats[schemaType]
	if !ok {
		return nil, fmt.Errorf("unknown schema type %q", schemaType)
	}
	return f, nil
}

// checkCompatibility checks candidate against previous (oldest first) at
// level and returns every reason it fails; none when it passes.
func checkCompatibility(f format, level string, candidate parsedSchema, previous []parsedSchema) []string {
	if len(previous) == 0 || level == compatNone {
		return nil
	}
	against := previous[len(previous)-1:]
	switch level {
	case compatBackwardTransitive, compatForwardTransitive, compatFullTransitive:
		against = previous
	}
	var msgs []string
	// Newest first, as Confluent reports.
	for i := len(against) - 1; i >= 0; i-- {
		old := against[i]
		switch level {
		case compatBackward, compatBackwardTransitive:
			msgs = append(msgs, f.compatible(candidate, old)...)
		case compatForward, compatForwardTransitive:
			msgs = append(msgs, f.compatible(old, candidate)...)
		case compatFull, compatFullTransitive:
			msgs = append(msgs, f.compatible(candidate, old)...)
			msgs = append(msgs, f.compatible(old, candidate)...)
		}
	}
	return msgs
}
