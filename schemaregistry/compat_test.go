package schemaregistry

import (
	"fmt"
	"strings"
	"testing"
)

// evolution is one compatibility case: a subject's history (oldest
// first), a candidate, and the levels under which the candidate must be
// accepted; every other level must reject it.
type evolution struct {
	name      string
	history   []string
	candidate string
	passes    []string
}

var allLevels = []string{compatNone, compatBackward, compatBackwardTransitive, compatForward, compatForwardTransitive, compatFull, compatFullTransitive}

// Shorthands for passes.
var (
	passAll      = allLevels
	passBackward = []string{compatNone, compatBackward, compatBackwardTransitive}
	passForward  = []string{compatNone, compatForward, compatForwardTransitive}
	passNone     = []string{compatNone}
	// passLatestOnly: compatible with the latest version but not with an
	// older one, in both directions.
	passLatestOnly = []string{compatNone, compatBackward, compatForward, compatFull}
)

// runMatrix checks each evolution at every level with f.
func runMatrix(t *testing.T, f format, cases []evolution) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var history []parsedSchema
			for i, s := range c.history {
				p, err := f.parse(s, nil)
				if err != nil {
					t.Fatalf("history[%d]: %v", i, err)
				}
				history = append(history, p)
			}
			cand, err := f.parse(c.candidate, nil)
			if err != nil {
				t.Fatalf("candidate: %v", err)
			}
			for _, level := range allLevels {
				want := false
				for _, p := range c.passes {
					want = want || p == level
				}
				msgs := checkCompatibility(f, level, cand, history)
				if got := len(msgs) == 0; got != want {
					t.Errorf("%s: compatible=%v, want %v (%v)", level, got, want, msgs)
				}
			}
		})
	}
}

func avroRecord(fields string) string {
	return fmt.Sprintf(`{"type":"record","name":"R","namespace":"t","fields":[%s]}`, fields)
}

// TestAvroCompatibilityMatrix checks Avro's resolution rules at every
// level, including transitive histories three versions deep.
func TestAvroCompatibilityMatrix(t *testing.T) {
	name := `{"name":"name","type":"string"}`
	runMatrix(t, avroFormat{}, []evolution{
		{"add field with default", []string{avroRecord(name)}, avroRecord(name + `,{"name":"age","type":"int","default":0}`), passAll},
		{"add field without default", []string{avroRecord(name)}, avroRecord(name + `,{"name":"age","type":"int"}`), passForward},
		{"remove field without default", []string{avroRecord(name + `,{"name":"age","type":"int"}`)}, avroRecord(name), passBackward},
		{"remove field with default", []string{avroRecord(name + `,{"name":"age","type":"int","default":1}`)}, avroRecord(name), passAll},
		{"promote int to long", []string{avroRecord(`{"name":"n","type":"int"}`)}, avroRecord(`{"name":"n","type":"long"}`), passBackward},
		{"narrow long to int", []string{avroRecord(`{"name":"n","type":"long"}`)}, avroRecord(`{"name":"n","type":"int"}`), passForward},
		{"string to bytes", []string{avroRecord(`{"name":"n","type":"string"}`)}, avroRecord(`{"name":"n","type":"bytes"}`), passAll},
		{"change string to int", []string{avroRecord(`{"name":"n","type":"string"}`)}, avroRecord(`{"name":"n","type":"int"}`), passNone},
		{"add enum symbol", []string{`{"type":"enum","name":"E","symbols":["A"]}`}, `{"type":"enum","name":"E","symbols":["A","B"]}`, passBackward},
		{"add enum symbol with default", []string{`{"type":"enum","name":"E","symbols":["A"],"default":"A"}`}, `{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}`, passAll},
		{"widen to union", []string{avroRecord(`{"name":"n","type":"string"}`)}, avroRecord(`{"name":"n","type":["null","string"]}`), passBackward},
		{"rename record", []string{avroRecord(name)}, `{"type":"record","name":"S","namespace":"t","fields":[{"name":"name","type":"string"}]}`, passNone},
		{"rename record with alias", []string{avroRecord(name)}, `{"type":"record","name":"S","namespace":"t","aliases":["t.R"],"fields":[{"name":"name","type":"string"}]}`, passBackward},
		{"fixed size change", []string{`{"type":"fixed","name":"F","size":4}`}, `{"type":"fixed","name":"F","size":8}`, passNone},
		{"empty history", nil, avroRecord(name), passAll},
		// Three versions deep: the candidate fits the latest version both
		// ways but reads (and is read by) the first one with a changed type.
		{"transitive", []string{
			avroRecord(`{"name":"a","type":"string","default":""}`),
			avroRecord(``),
		}, avroRecord(`{"name":"a","type":"int","default":0}`), passLatestOnly},
		// Three versions deep, each step adding a field with a default:
		// every level accepts it.
		{"transitive additions", []string{
			avroRecord(name),
			avroRecord(name + `,{"name":"b","type":"int","default":0}`),
		}, avroRecord(name + `,{"name":"b","type":"int","default":0},{"name":"c","type":"int","default":0}`), passAll},
	})
}

func jsonObject(closed bool, props string, required ...string) string {
	s := `{"type":"object","properties":{` + props + `}`
	if closed {
		s += `,"additionalProperties":false`
	}
	if len(required) > 0 {
		s += `,"required":["` + strings.Join(required, `","`) + `"]`
	}
	return s + "}"
}

// TestJSONCompatibilityMatrix checks the JSON Schema rules (open and
// closed content models, types, enums, bounds, required) at every level,
// including transitive histories three versions deep.
func TestJSONCompatibilityMatrix(t *testing.T) {
	str, num, integer := `{"type":"string"}`, `{"type":"number"}`, `{"type":"integer"}`
	runMatrix(t, jsonFormat{}, []evolution{
		{"add property to open model", []string{jsonObject(false, `"a":`+str)}, jsonObject(false, `"a":`+str+`,"b":`+str), passForward},
		{"add property to closed model", []string{jsonObject(true, `"a":`+str)}, jsonObject(true, `"a":`+str+`,"b":`+str), passBackward},
		{"remove property from open model", []string{jsonObject(false, `"a":`+str+`,"b":`+str)}, jsonObject(false, `"a":`+str), passBackward},
		{"remove property from closed model", []string{jsonObject(true, `"a":`+str+`,"b":`+str)}, jsonObject(true, `"a":`+str), passForward},
		{"add unconstrained property", []string{jsonObject(false, `"a":`+str)}, jsonObject(false, `"a":`+str+`,"b":{}`), passAll},
		{"make property required", []string{jsonObject(true, `"a":`+str)}, jsonObject(true, `"a":`+str, "a"), passForward},
		{"widen integer to number", []string{jsonObject(true, `"a":`+integer)}, jsonObject(true, `"a":`+num), passBackward},
		{"change string to number", []string{jsonObject(true, `"a":`+str)}, jsonObject(true, `"a":`+num), passNone},
		{"allow null", []string{str}, `{"type":["string","null"]}`, passBackward},
		{"add enum value", []string{`{"enum":["A","B"]}`}, `{"enum":["A","B","C"]}`, passBackward},
		{"raise maxLength", []string{`{"type":"string","maxLength":5}`}, `{"type":"string","maxLength":10}`, passBackward},
		{"add oneOf branch", []string{`{"oneOf":[` + str + `]}`}, `{"oneOf":[` + str + `,` + num + `]}`, passBackward},
		{"local ref", []string{`{"definitions":{"a":` + str + `},"type":"object","properties":{"x":{"$ref":"#/definitions/a"}},"additionalProperties":false}`},
			`{"definitions":{"a":` + num + `},"type":"object","properties":{"x":{"$ref":"#/definitions/a"}},"additionalProperties":false}`, passNone},
		{"same schema", []string{jsonObject(false, `"a":`+str)}, jsonObject(false, `"a":`+str), passAll},
		// Three versions deep, closed models: the latest version lacks "a",
		// so it reads the candidate; the first has "a" as a string.
		{"transitive backward", []string{jsonObject(true, `"a":`+str), jsonObject(true, ``)}, jsonObject(true, `"a":`+integer), []string{compatNone, compatBackward}},
		// Open models: the latest version ignores "a"; the first reads it as
		// a string and cannot read the candidate's integer.
		{"transitive forward", []string{jsonObject(false, `"a":`+str), jsonObject(false, ``)}, jsonObject(false, `"a":`+integer), []string{compatNone, compatForward}},
	})
}

func proto3(body string) string { return "syntax = \"proto3\";\npackage t;\n" + body }

// TestProtobufCompatibilityMatrix checks Confluent's protobuf rules at
// every level, including transitive histories three versions deep.
func TestProtobufCompatibilityMatrix(t *testing.T) {
	a := proto3(`message A { int32 x = 1; }`)
	runMatrix(t, protobufFormat{}, []evolution{
		{"add field", []string{a}, proto3(`message A { int32 x = 1; string y = 2; }`), passAll},
		{"remove field", []string{proto3(`message A { int32 x = 1; string y = 2; }`)}, a, passAll},
		{"rename field", []string{a}, proto3(`message A { int32 renamed = 1; }`), passAll},
		{"change scalar type", []string{a}, proto3(`message A { string x = 1; }`), passNone},
		{"scalar to message", []string{a}, proto3(`message A { B x = 1; } message B {}`), passNone},
		{"numeric to repeated", []string{a}, proto3(`message A { repeated int32 x = 1; }`), passNone},
		{"string to repeated", []string{proto3(`message A { string s = 1; }`)}, proto3(`message A { repeated string s = 1; }`), passAll},
		{"remove message", []string{proto3(`message A { int32 x = 1; } message B {}`)}, a, passForward},
		{"add message", []string{a}, proto3(`message A { int32 x = 1; } message B {}`), passBackward},
		{"change package", []string{a}, "syntax = \"proto3\";\npackage u;\nmessage A { int32 x = 1; }", passNone},
		{"add enum value", []string{proto3(`enum E { E0 = 0; } message A { E e = 1; }`)}, proto3(`enum E { E0 = 0; E1 = 1; } message A { E e = 1; }`), passAll},
		{"move two fields into a oneof", []string{proto3(`message A { int32 x = 1; int32 y = 2; }`)}, proto3(`message A { oneof o { int32 x = 1; int32 y = 2; } }`), passNone},
		{"move one field into a oneof", []string{a}, proto3(`message A { oneof o { int32 x = 1; } }`), passBackward},
		{"nested message type change", []string{proto3(`message A { message N { int32 v = 1; } N n = 1; }`)}, proto3(`message A { message N { string v = 1; } N n = 1; }`), passNone},
		// Three versions deep: field 1 is dropped, then comes back with
		// another type, which only the first version conflicts with.
		{"transitive", []string{a, proto3(`message A { }`)}, proto3(`message A { string x = 1; }`), passLatestOnly},
	})
}
