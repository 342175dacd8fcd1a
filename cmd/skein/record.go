package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The --format json record shape, one JSON object per line, shared by
// consume (output) and produce (input) so that consume output can be fed
// back to produce:
//
//	{"topic":"t","partition":0,"offset":7,"timestamp":1700000000000,
//	 "key":"k","value":"v","headers":{"h":"x"}}
//
// Keys, values and header values are UTF-8 strings when the bytes are valid
// UTF-8. Otherwise they are base64 (standard alphabet) and the matching
// key_encoding, value_encoding or headers_encoding field is "base64";
// headers_encoding covers every header value of the record. A nil key or
// value is null. Headers keep their order, and a repeated header key is
// written repeatedly.

const encodingBase64 = "base64"

// jsonRecordOut is the consume output form. Field order is the output order.
type jsonRecordOut struct {
	Topic           string      `json:"topic"`
	Partition       int32       `json:"partition"`
	Offset          int64       `json:"offset"`
	Timestamp       int64       `json:"timestamp"`
	Key             *string     `json:"key"`
	KeyEncoding     string      `json:"key_encoding,omitempty"`
	Value           *string     `json:"value"`
	ValueEncoding   string      `json:"value_encoding,omitempty"`
	Headers         jsonHeaders `json:"headers"`
	HeadersEncoding string      `json:"headers_encoding,omitempty"`
}

// jsonHeader is one record header; a nil Value is a null header value.
type jsonHeader struct {
	Key   string
	Value *string
}

// jsonHeaders is an ordered header list rendered as a JSON object.
type jsonHeaders []jsonHeader

// MarshalJSON writes the headers as an object in order, keeping repeated keys.
func (hs jsonHeaders) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, h := range hs {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(h.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(h.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads a header object in order, keeping repeated keys.
// Values must be strings or null.
func (hs *jsonHeaders) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*hs = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("headers: want an object")
	}
	var out jsonHeaders
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("headers: %w", err)
		}
		key, _ := tok.(string)
		var v *string
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("header %q: value must be a string or null", key)
		}
		out = append(out, jsonHeader{Key: key, Value: v})
	}
	*hs = out
	return nil
}

// encodeBytes renders b as a JSON string, base64 when b is not valid UTF-8.
// A nil b is null.
func encodeBytes(b []byte) (s *string, encoding string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		v := string(b)
		return &v, ""
	}
	v := base64.StdEncoding.EncodeToString(b)
	return &v, encodingBase64
}

// newJSONRecordOut converts a consumed record to its JSON output form.
func newJSONRecordOut(r *kgo.Record) jsonRecordOut {
	out := jsonRecordOut{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Headers:   jsonHeaders{},
	}
	out.Key, out.KeyEncoding = encodeBytes(r.Key)
	out.Value, out.ValueEncoding = encodeBytes(r.Value)
	allUTF8 := true
	for _, h := range r.Headers {
		allUTF8 = allUTF8 && utf8.Valid(h.Value)
	}
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		if h.Value != nil {
			v := string(h.Value)
			if !allUTF8 {
				v = base64.StdEncoding.EncodeToString(h.Value)
			}
			jh.Value = &v
		}
		out.Headers = append(out.Headers, jh)
	}
	if !allUTF8 {
		out.HeadersEncoding = encodingBase64
	}
	return out
}

// jsonRecordIn is the produce input form. Fields of the output form that
// produce cannot honour (topic, offset) are accepted and ignored. A key or
// value may also be any non-string JSON value, which is produced as its
// compact JSON text.
type jsonRecordIn struct {
	Key             json.RawMessage `json:"key"`
	KeyEncoding     string          `json:"key_encoding"`
	Value           json.RawMessage `json:"value"`
	ValueEncoding   string          `json:"value_encoding"`
	Headers         jsonHeaders     `json:"headers"`
	HeadersEncoding string          `json:"headers_encoding"`
	Partition       *int32          `json:"partition"`
	Timestamp       json.RawMessage `json:"timestamp"`
}

// parseJSONRecord decodes one json input line into a record. The record's
// Partition is -1 unless the line names one.
func parseJSONRecord(line []byte) (*kgo.Record, error) {
	var in jsonRecordIn
	if err := json.Unmarshal(line, &in); err != nil {
		return nil, fmt.Errorf("invalid JSON record: %w", err)
	}
	r := &kgo.Record{Partition: -1}
	var err error
	if r.Key, err = decodeField("key", in.Key, in.KeyEncoding); err != nil {
		return nil, err
	}
	if r.Value, err = decodeField("value", in.Value, in.ValueEncoding); err != nil {
		return nil, err
	}
	for _, h := range in.Headers {
		var v []byte
		if h.Value != nil {
			if v, err = decodeString("header "+strconv.Quote(h.Key), *h.Value, in.HeadersEncoding); err != nil {
				return nil, err
			}
		}
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: v})
	}
	if in.Partition != nil {
		if *in.Partition < 0 {
			return nil, fmt.Errorf("partition %d: must be >= 0", *in.Partition)
		}
		r.Partition = *in.Partition
	}
	if r.Timestamp, err = decodeTimestamp(in.Timestamp); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeField turns a JSON key or value into record bytes: null or absent
// is nil, a string is its text (base64-decoded when encoding says so), and
// anything else is its compact JSON text.
func decodeField(name string, raw json.RawMessage, encoding string) ([]byte, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] != '"' {
		if encoding != "" {
			return nil, fmt.Errorf("%s: %s encoding needs a string", name, encoding)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return b.Bytes(), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return decodeString(name, s, encoding)
}

// decodeString applies an encoding field to a JSON string.
func decodeString(name, s, encoding string) ([]byte, error) {
	switch encoding {
	case "":
		return []byte(s), nil
	case encodingBase64:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%s: invalid base64: %w", name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s: unknown encoding %q (want %s)", name, encoding, encodingBase64)
}

// decodeTimestamp reads a JSON timestamp given as Unix milliseconds or as
// an RFC 3339 string. An absent timestamp is the zero time, which lets the
// client stamp the record when it is produced.
func decodeTimestamp(raw json.RawMessage) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return time.Time{}, nil
	}
	var s string
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, fmt.Errorf("timestamp: %w", err)
		}
	} else {
		s = string(raw)
	}
	return parseTimestamp(s)
}
