package main

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSplitKey checks the --key-separator split: first separator wins, a
// missing separator is an error, and no separator means a nil key.
func TestSplitKey(t *testing.T) {
	for _, tc := range []struct {
		line, sep, key, value string
		nilKey, wantErr       bool
	}{
		{line: "k:v", sep: ":", key: "k", value: "v"},
		{line: "k:v:w", sep: ":", key: "k", value: "v:w"},
		{line: ":v", sep: ":", key: "", value: "v"},
		{line: "k:", sep: ":", key: "k", value: ""},
		{line: "k::v", sep: "::", key: "k", value: "v"},
		{line: "no separator", sep: ":", wantErr: true},
		{line: "a:b", sep: "", nilKey: true, value: "a:b"},
	} {
		key, value, err := splitKey([]byte(tc.line), tc.sep)
		if tc.wantErr {
			if err == nil {
				t.Errorf("splitKey(%q, %q): want error", tc.line, tc.sep)
			}
			continue
		}
		if err != nil {
			t.Fatalf("splitKey(%q, %q): %v", tc.line, tc.sep, err)
		}
		if tc.nilKey != (key == nil) || string(key) != tc.key || string(value) != tc.value {
			t.Errorf("splitKey(%q, %q) = %q, %q; want %q, %q (nil key %t)", tc.line, tc.sep, key, value, tc.key, tc.value, tc.nilKey)
		}
	}
}

// TestParseHeaders checks k=v header flags: order and repeats are kept,
// '=' in values survives, and malformed flags are rejected.
func TestParseHeaders(t *testing.T) {
	got, err := parseHeaders([]string{"a=1", "b=x=y", "a=2", "empty="})
	if err != nil {
		t.Fatal(err)
	}
	want := []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("x=y")}, {Key: "a", Value: []byte("2")}, {Key: "empty", Value: []byte("")}}
	if !slices.EqualFunc(got, want, func(a, b kgo.RecordHeader) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"novalue", "=v"} {
		if _, err := parseHeaders([]string{bad}); err == nil {
			t.Errorf("parseHeaders(%q): want error", bad)
		}
	}
}

// TestParseConfigs checks topic config flags, rejecting repeated keys.
func TestParseConfigs(t *testing.T) {
	got, err := parseConfigs("config", []string{"cleanup.policy=compact", "retention.ms=1000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || *got["cleanup.policy"] != "compact" || *got["retention.ms"] != "1000" {
		t.Fatalf("got %v", got)
	}
	if _, err := parseConfigs("config", []string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("repeated key: got %v", err)
	}
}

// TestConfigAlterations checks --set/--delete: sorted output, the right
// ops, and rejection of conflicting or empty input.
func TestConfigAlterations(t *testing.T) {
	got, err := configAlterations([]string{"retention.ms=5"}, []string{"cleanup.policy"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "cleanup.policy" || got[0].Op != kadm.DeleteConfig ||
		got[1].Name != "retention.ms" || got[1].Op != kadm.SetConfig || *got[1].Value != "5" {
		t.Fatalf("got %+v", got)
	}
	if _, err := configAlterations([]string{"a=1"}, []string{"a"}); err == nil {
		t.Error("set and delete of one key: want error")
	}
	if _, err := configAlterations(nil, nil); err == nil {
		t.Error("no alterations: want error")
	}
}

// TestParseTimestamp checks both accepted forms and rejects others.
func TestParseTimestamp(t *testing.T) {
	for _, tc := range []struct {
		in     string
		millis int64
	}{
		{"0", 0},
		{"1700000000123", 1700000000123},
		{"2023-11-14T22:13:20Z", 1700000000000},
		{"2023-11-14T22:13:20.123Z", 1700000000123},
		{"2023-11-15T00:13:20+02:00", 1700000000000},
	} {
		got, err := parseTimestamp(tc.in)
		if err != nil {
			t.Fatalf("parseTimestamp(%q): %v", tc.in, err)
		}
		if got.UnixMilli() != tc.millis {
			t.Errorf("parseTimestamp(%q) = %d, want %d", tc.in, got.UnixMilli(), tc.millis)
		}
	}
	for _, bad := range []string{"", "yesterday", "2023-11-14", "1.5"} {
		if _, err := parseTimestamp(bad); err == nil {
			t.Errorf("parseTimestamp(%q): want error", bad)
		}
	}
}

// TestProducerOptions checks that the --acks and --compression values are
// accepted or rejected as documented.
func TestProducerOptions(t *testing.T) {
	for _, acks := range []string{"all", "-1", "1", "0"} {
		if _, err := acksOpts(acks); err != nil {
			t.Errorf("acks %q: %v", acks, err)
		}
	}
	if _, err := acksOpts("2"); err == nil {
		t.Error("acks 2: want error")
	}
	for _, c := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		if _, err := compressionOpt(c); err != nil {
			t.Errorf("compression %q: %v", c, err)
		}
	}
	if _, err := compressionOpt("brotli"); err == nil {
		t.Error("compression brotli: want error")
	}
}

// TestConsumeStartSpec checks the start flag combinations and parsing.
func TestConsumeStartSpec(t *testing.T) {
	base := func() *consumeFlags { return &consumeFlags{partition: -1, format: formatPlain} }

	f := base()
	f.fromTimestamp = "2023-11-14T22:13:20Z"
	spec, err := f.startSpec(false)
	if err != nil || spec.mode != startTimestamp || spec.millis != 1700000000000 {
		t.Fatalf("from-timestamp: %+v, %v", spec, err)
	}

	f = base()
	f.offset = 7
	if spec, err = f.startSpec(true); err != nil || spec.mode != startOffset || spec.offset != 7 {
		t.Fatalf("offset: %+v, %v", spec, err)
	}
	if spec, err = base().startSpec(false); err != nil || spec.mode != startLatest {
		t.Fatalf("default: %+v, %v", spec, err)
	}

	f = base()
	f.fromBeginning = true
	if _, err := f.startSpec(true); err == nil {
		t.Error("--from-beginning with --offset: want error")
	}
	f = base()
	f.group = "g"
	if _, err := f.startSpec(true); err == nil {
		t.Error("--group with --offset: want error")
	}
	f = base()
	f.format = "xml"
	if _, err := f.startSpec(false); err == nil {
		t.Error("--format xml: want error")
	}
}

// TestFormatTopicID checks Kafka's textual topic ID form.
func TestFormatTopicID(t *testing.T) {
	var id kadm.TopicID
	raw, err := base64.StdEncoding.DecodeString("9nncN1R/1fmFgB+YIV85fA==")
	if err != nil {
		t.Fatal(err)
	}
	copy(id[:], raw)
	if got := formatTopicID(id); got != "9nncN1R_1fmFgB-YIV85fA" {
		t.Fatalf("got %s", got)
	}
}
