package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// splitKeyValue splits "k=v" at the first '='. The key must be non-empty;
// the value may be empty.
func splitKeyValue(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("%q: want key=value", s)
	}
	if key == "" {
		return "", "", fmt.Errorf("%q: empty key", s)
	}
	return key, value, nil
}

// parseHeaders turns repeated --header k=v flags into record headers, in
// flag order. Repeated keys are kept, as Kafka allows them.
func parseHeaders(flags []string) ([]kgo.RecordHeader, error) {
	headers := make([]kgo.RecordHeader, 0, len(flags))
	for _, f := range flags {
		k, v, err := splitKeyValue(f)
		if err != nil {
			return nil, fmt.Errorf("--header %w", err)
		}
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	return headers, nil
}

// parseConfigs turns repeated k=v flags into a topic config map. A key
// given twice is an error rather than a silent override.
func parseConfigs(flag string, flags []string) (map[string]*string, error) {
	configs := make(map[string]*string, len(flags))
	for _, f := range flags {
		k, v, err := splitKeyValue(f)
		if err != nil {
			return nil, fmt.Errorf("--%s %w", flag, err)
		}
		if _, dup := configs[k]; dup {
			return nil, fmt.Errorf("--%s: %q given twice", flag, k)
		}
		configs[k] = &v
	}
	return configs, nil
}

// splitKey splits a produce input line into key and value at the first sep.
// With an empty sep the whole line is the value and the key is nil.
func splitKey(line []byte, sep string) (key, value []byte, err error) {
	if sep == "" {
		return nil, line, nil
	}
	k, v, ok := strings.Cut(string(line), sep)
	if !ok {
		return nil, nil, fmt.Errorf("no key separator %q in line", sep)
	}
	return []byte(k), []byte(v), nil
}

// parseTimestamp accepts either milliseconds since the Unix epoch or an
// RFC 3339 time (fractional seconds allowed).
func parseTimestamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty timestamp")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp %q: want RFC 3339 (2006-01-02T15:04:05Z) or Unix milliseconds", s)
	}
	return t, nil
}

// acksOpts maps --acks to producer options. Idempotence needs acks=all,
// so it is switched off for weaker settings.
func acksOpts(acks string) ([]kgo.Opt, error) {
	switch acks {
	case "all", "-1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}, nil
	case "1":
		return []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}, nil
	case "0":
		return []kgo.Opt{kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite()}, nil
	}
	return nil, fmt.Errorf("--acks %q: want all, 1 or 0", acks)
}

// compressionOpt maps --compression to a producer option. It is always set
// explicitly because franz-go compresses with snappy unless told otherwise.
func compressionOpt(codec string) (kgo.Opt, error) {
	var c kgo.CompressionCodec
	switch codec {
	case "none", "":
		c = kgo.NoCompression()
	case "gzip":
		c = kgo.GzipCompression()
	case "snappy":
		c = kgo.SnappyCompression()
	case "lz4":
		c = kgo.Lz4Compression()
	case "zstd":
		c = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", codec)
	}
	return kgo.ProducerBatchCompression(c), nil
}

// checkFormat validates a --format value.
func checkFormat(format string) error {
	if format != formatPlain && format != formatJSON {
		return fmt.Errorf("--format %q: want %s or %s", format, formatPlain, formatJSON)
	}
	return nil
}

const (
	formatPlain = "plain"
	formatJSON  = "json"
)
