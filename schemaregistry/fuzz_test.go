package schemaregistry

import (
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

// FuzzParseSchema feeds arbitrary schema text to each format's parser, as
// a POST /subjects/{subject}/versions body does. A parse must fail with an
// error or succeed; a parsed schema is compatible with itself, and its
// canonical form (Avro, JSON Schema) parses again to the same canonical
// form.
func FuzzParseSchema(f *testing.F) {
	seeds := []struct {
		typ    string
		schema string
	}{
		{formatAvro, `{"type":"record","name":"Rx","namespace":"org.example","fields":[{"name":"id","type":"string"},{"name":"dose","type":["null","double"],"default":null}]}`},
		{formatAvro, `"string"`},
		{formatAvro, `{"type":"enum","name":"Status","symbols":["ACTIVE","CANCELLED"]}`},
		{formatAvro, `{"type":"array","items":{"type":"map","values":"long"}}`},
		{formatJSON, `{"type":"object","properties":{"id":{"type":"string"},"dose":{"type":"number","minimum":0}},"required":["id"],"additionalProperties":false}`},
		{formatJSON, `{"$ref":"#/definitions/a","definitions":{"a":{"type":"integer"}}}`},
		{formatProtobuf, "syntax = \"proto3\";\npackage rx;\nmessage Prescription {\n  string id = 1;\n  repeated double doses = 2;\n  map<string, string> attrs = 3;\n}\n"},
		{formatProtobuf, "syntax = \"proto2\";\nmessage A { optional int32 x = 1; enum E { Z = 0; } }\n"},
		{formatAvro, `{"type":"record","name":"R","fields":[{"name":"r","type":"R"}]}`},
		{formatJSON, `{"type":`},
		{formatProtobuf, `message {`},
	}
	for _, s := range seeds {
		f.Add(s.typ, s.schema)
	}
	f.Fuzz(func(t *testing.T, typ, schema string) {
		if len(schema) > 1<<16 || !utf8.ValidString(schema) {
			// Schema text reaches the parsers decoded from JSON (a
			// request body or a _schemas record), which makes it
			// valid UTF-8.
			return
		}
		fm, err := lookupFormat(typ)
		if err != nil {
			return
		}
		p, err := fm.parse(schema, nil)
		if err != nil {
			return
		}
		if msgs := fm.compatible(p, p); len(msgs) != 0 {
			t.Fatalf("%s schema not compatible with itself: %v\n%s", typ, msgs, schema)
		}
		if typ == formatProtobuf {
			// Its canonical form is the encoded file descriptor, not
			// schema text.
			return
		}
		canon := p.canonical()
		again, err := fm.parse(canon, nil)
		if err != nil {
			t.Fatalf("%s canonical form does not parse: %v\nschema: %s\ncanonical: %s", typ, err, schema, canon)
		}
		if c2 := again.canonical(); c2 != canon {
			t.Fatalf("%s canonical form is not stable:\n%s\n%s", typ, canon, c2)
		}
	})
}

// FuzzUsersFile reads arbitrary users files (authentication.users.file): a
// bad file is an error, never a panic, and every user read can be checked
// against a password.
func FuzzUsersFile(f *testing.F) {
	f.Add([]byte("admin: s3cret,admin\n# comment\nreader=OBF:1v2j1uum1xtv1zej1zer1xtn1uvk1v1v,user\n"), "s3cret")
	f.Add([]byte("dev: MD5:5ebe2294ecd0e0f08eab7690d2a6ee69,developer\n"), "secret")
	f.Add([]byte("x: CRYPT:abc\n"), "")
	f.Add([]byte("bad: OBF:U12\n"), "")
	f.Add([]byte("a\\\n b: p\\u0041ss\n"), "pAss")
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		path := filepath.Join(t.TempDir(), "users.properties")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		users, err := loadUsers(path)
		if err != nil {
			return
		}
		for _, u := range users {
			u.check(password)
		}
		_, _ = Deobfuscate(string(data))
	})
}
