package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestJSONRecordOut checks the consume JSON form: field order, null key,
// UTF-8 strings, base64 with encoding fields for other bytes, and header
// order with repeated keys.
func TestJSONRecordOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  kgo.Record
		want string
	}{
		{
			name: "utf8",
			rec: kgo.Record{Topic: "t", Partition: 1, Offset: 7, Timestamp: time.UnixMilli(1700000000000),
				Key: []byte("k"), Value: []byte(`héllo "x" <y>`),
				Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}, {Key: "n"}}},
			want: `{"topic":"t","partition":1,"offset":7,"timestamp":1700000000000,"key":"k","value":"héllo \"x\" <y>","headers":{"a":"1","a":"2","n":null}}`,
		},
		{
			name: "binary and null",
			rec: kgo.Record{Topic: "t", Timestamp: time.UnixMilli(5), Value: []byte{0xff, 0x00},
				Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0xfe}}, {Key: "u", Value: []byte("ok")}}},
			want: `{"topic":"t","partition":0,"offset":0,"timestamp":5,"key":null,"value":"/wA=","value_encoding":"base64","headers":{"h":"/g==","u":"b2s="},"headers_encoding":"base64"}`,
		},
		{
			name: "no headers",
			rec:  kgo.Record{Topic: "t", Timestamp: time.UnixMilli(5), Key: []byte{0x80}, Value: []byte{}},
			want: `{"topic":"t","partition":0,"offset":0,"timestamp":5,"key":"gA==","key_encoding":"base64","value":"","headers":{}}`,
		},
	} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(newJSONRecordOut(&tc.rec)); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); got != tc.want+"\n" {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestJSONRecordRoundTrip checks that consume's JSON output parses back into
// the same key, value, headers, partition and timestamp on the produce side.
func TestJSONRecordRoundTrip(t *testing.T) {
	for _, rec := range []kgo.Record{
		{Key: []byte("k"), Value: []byte("v"), Partition: 2, Timestamp: time.UnixMilli(1234),
			Headers: []kgo.RecordHeader{{Key: "x", Value: []byte("1")}, {Key: "x", Value: []byte("2")}}},
		{Value: []byte{0, 1, 2, 0xff}, Timestamp: time.UnixMilli(1),
			Headers: []kgo.RecordHeader{{Key: "bin", Value: []byte{0xc3}}, {Key: "nil"}}},
		{Key: []byte{0xff}, Timestamp: time.UnixMilli(99)},
	} {
		line, err := json.Marshal(newJSONRecordOut(&rec))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseJSONRecord(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !sameBytes(got.Key, rec.Key) || !sameBytes(got.Value, rec.Value) ||
			got.Partition != rec.Partition || !got.Timestamp.Equal(rec.Timestamp) || len(got.Headers) != len(rec.Headers) {
			t.Fatalf("%s: got %+v", line, got)
		}
		for i, h := range got.Headers {
			if h.Key != rec.Headers[i].Key || !sameBytes(h.Value, rec.Headers[i].Value) {
				t.Fatalf("%s: header %d = %+v, want %+v", line, i, h, rec.Headers[i])
			}
		}
	}
}

// sameBytes compares byte slices, treating nil and empty as different.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// TestParseJSONRecordInput checks produce-only input forms: raw JSON values,
// RFC 3339 timestamps, absent fields, and rejected input.
func TestParseJSONRecordInput(t *testing.T) {
	r, err := parseJSONRecord([]byte(`{"value": {"a": [1, 2]}, "timestamp": "2023-11-14T22:13:20Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Value) != `{"a":[1,2]}` || r.Key != nil || r.Partition != -1 || r.Timestamp.UnixMilli() != 1700000000000 {
		t.Fatalf("got %+v", r)
	}
	r, err = parseJSONRecord([]byte(`{}`))
	if err != nil || r.Value != nil || !r.Timestamp.IsZero() {
		t.Fatalf("empty object: %+v, %v", r, err)
	}
	for _, bad := range []string{
		`not json`,
		`{"value":"x","value_encoding":"hex"}`,
		`{"value":"!!","value_encoding":"base64"}`,
		`{"partition":-2}`,
		`{"headers":{"h":1}}`,
		`{"headers":[]}`,
		`{"timestamp":"soon"}`,
	} {
		if _, err := parseJSONRecord([]byte(bad)); err == nil {
			t.Errorf("parseJSONRecord(%s): want error", bad)
		}
	}
}
