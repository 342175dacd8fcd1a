package config

import (
	"bytes"
	"testing"
)

// FuzzReadProperties parses arbitrary properties files (server.properties,
// --command-config files, registry users files): an error or pairs, never
// a panic, and every pair names a line of the input.
func FuzzReadProperties(f *testing.F) {
	f.Add([]byte("node.id=1\nlisteners = PLAINTEXT://:9092, CONTROLLER://:9093\n# comment\n! also\n"))
	f.Add([]byte("sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    username=\"admin\" password=\"x\";\n"))
	f.Add([]byte("key\\ with\\:colon:v\\u00e9\\t\\\\\n"))
	f.Add([]byte("a\\u12\n"))
	f.Add([]byte("trailing\\"))
	f.Add([]byte("\xff\xfe=1\r\nx:y\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		props, err := ReadProperties(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		lines := bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r")) + 1
		for _, p := range props {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("pair %q=%q on line %d of a %d-line input", p.Key, p.Value, p.Line, lines)
			}
		}
	})
}
