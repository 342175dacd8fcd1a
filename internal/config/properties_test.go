package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestReadProperties checks the java.util.Properties syntax: each case is a
// file and the pairs (with their starting lines) it must produce.
func TestReadProperties(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Property
	}{
		{"equals", "a=b\n", []Property{{"a", "b", 1}}},
		{"colon", "a:b", []Property{{"a", "b", 1}}},
		{"space", "a b", []Property{{"a", "b", 1}}},
		{"spaces around separator", "  a  =  b c  \n", []Property{{"a", "b c  ", 1}}},
		{"space then colon", "a \t: b", []Property{{"a", "b", 1}}},
		{"second separator is value", "a==b", []Property{{"a", "=b", 1}}},
		{"key only", "a\n", []Property{{"a", "", 1}}},
		{"empty value", "a=\n", []Property{{"a", "", 1}}},
		{"comments and blanks", "# c\n! c\n\n   \n  # indented\na=1\n", []Property{{"a", "1", 6}}},
		{"hash inside value", "a=b # not a comment", []Property{{"a", "b # not a comment", 1}}},
		{"continuation", "a=one,\\\n    two,\\\n\tthree\nb=2", []Property{{"a", "one,two,three", 1}, {"b", "2", 4}}},
		{"continued line starting with hash", "a=x\\\n#y\n", []Property{{"a", "x#y", 1}}},
		{"even backslashes do not continue", "a=x\\\\\nb=y", []Property{{"a", `x\`, 1}, {"b", "y", 2}}},
		{"continuation at EOF", "a=x\\", []Property{{"a", "x", 1}}},
		{"escaped separators in key", `a\=b\:c\ d=v`, []Property{{"a=b:c d", "v", 1}}},
		{"escapes", `a=\t\n\r\f\\\q`, []Property{{"a", "\t\n\r\f\\q", 1}}},
		{"unicode escape", `a=caf\u00e9 \u20AC`, []Property{{"a", "café €", 1}}},
		{"surrogate pair", `a=\ud83d\ude00`, []Property{{"a", "😀", 1}}},
		{"CRLF", "a=1\r\nb=2\r\n", []Property{{"a", "1", 1}, {"b", "2", 2}}},
		{"CR", "a=1\rb=2", []Property{{"a", "1", 1}, {"b", "2", 2}}},
		{"repeat kept in order", "a=1\na=2", []Property{{"a", "1", 1}, {"a", "2", 2}}},
		{"utf8", "broker.rack=zürich", []Property{{"broker.rack", "zürich", 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadProperties(strings.NewReader(tt.in), "f")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestReadPropertiesErrors checks that malformed input is reported with
// the source and the line on which the bad pair starts.
func TestReadPropertiesErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bad unicode", "a=1\n\nb=\\u12G4\n", `server.properties:3: b: malformed \uxxxx encoding`},
		{"short unicode", "a=\\u12", `server.properties:1: a: malformed \uxxxx encoding`},
		{"empty key", "a=1\n=2\n", "server.properties:2: missing property name before the value"},
		{"continued pair reports first line", "x=1\nb=\\\n  \\u00zz\n", `server.properties:2: b: malformed \uxxxx encoding`},
		{"invalid utf8", "a=1\nb=\xff\n", "server.properties:2: invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadProperties(strings.NewReader(tt.in), "server.properties")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestParseProperties checks that a repeated key keeps its last value.
func TestParseProperties(t *testing.T) {
	got, err := ParseProperties(strings.NewReader("a=1\nb=2\na=3\n"), "f")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "3", "b": "2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestParseSet checks command-line name=value settings.
func TestParseSet(t *testing.T) {
	tests := []struct {
		in, name, value string
		ok              bool
	}{
		{"log.retention.hours=1", "log.retention.hours", "1", true},
		{" a =b=c", "a", "b=c", true},
		{"a=", "a", "", true},
		{"a", "", "", false},
		{"=1", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		name, value, err := ParseSet(tt.in)
		if (err == nil) != tt.ok || name != tt.name || value != tt.value {
			t.Errorf("ParseSet(%q) = %q, %q, %v", tt.in, name, value, err)
		}
	}
}

// TestLoadBroker checks that validation errors in a server.properties file
// point at the line that sets the offending config.
func TestLoadBroker(t *testing.T) {
	file := "# broker\nnode.id=1\nlisteners=PLAINTEXT://127.0.0.1:9092\n\nlgo.dirs=/data\n"
	_, err := LoadBroker(strings.NewReader(file), "server.properties")
	want := "server.properties:5: Unknown broker config name: lgo.dirs (did you mean log.dirs?)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("error does not wrap ErrInvalidConfig")
	}

	_, err = LoadBroker(strings.NewReader("node.id=1\nlog.segment.bytes=1000\n"), "server.properties")
	want = "server.properties:2: Invalid value 1000 for configuration log.segment.bytes: Value must be at least 1048576"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}

	got, err := LoadBroker(strings.NewReader("node.id=3\nlog.retention.hours=1\n"), "server.properties")
	if err != nil {
		t.Fatal(err)
	}
	if got["node.id"] != "3" || got["log.retention.hours"] != "1" {
		t.Errorf("got %v", got)
	}
}
