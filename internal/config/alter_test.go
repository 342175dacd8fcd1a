package config

import (
	"errors"
	"reflect"
	"testing"
)

func sp(s string) *string { return &s }

// TestIncrementalAlter checks each IncrementalAlterConfigs operation
// against Kafka's controller behaviour, starting from a topic's overrides.
func TestIncrementalAlter(t *testing.T) {
	tests := []struct {
		name     string
		resource Resource
		current  map[string]string
		ops      []Alteration
		want     map[string]string
		err      string
		request  bool
	}{
		{name: "set and delete", current: map[string]string{RetentionMs: "1", SegmentMs: "5"},
			ops:  []Alteration{{RetentionMs, AlterSet, sp("2")}, {SegmentMs, AlterDelete, nil}, {MaxMessageBytes, AlterSet, sp("100")}},
			want: map[string]string{RetentionMs: "2", MaxMessageBytes: "100"}},
		{name: "delete of unset is a no-op", ops: []Alteration{{RetentionMs, AlterDelete, sp("ignored")}},
			want: map[string]string{}},
		{name: "append to default", ops: []Alteration{{CleanupPolicy, AlterAppend, sp("compact")}},
			want: map[string]string{CleanupPolicy: "delete,compact"}},
		{name: "append to override", current: map[string]string{CleanupPolicy: "compact"},
			ops:  []Alteration{{CleanupPolicy, AlterAppend, sp("delete")}},
			want: map[string]string{CleanupPolicy: "compact,delete"}},
		{name: "append existing is a no-op", current: map[string]string{CleanupPolicy: "compact,delete"},
			ops:  []Alteration{{CleanupPolicy, AlterAppend, sp("delete")}},
			want: map[string]string{CleanupPolicy: "compact,delete"}},
		{name: "subtract", current: map[string]string{CleanupPolicy: "compact,delete"},
			ops:  []Alteration{{CleanupPolicy, AlterSubtract, sp("compact")}},
			want: map[string]string{CleanupPolicy: "delete"}},
		{name: "subtract from default to empty", ops: []Alteration{{CleanupPolicy, AlterSubtract, sp("delete")}},
			want: map[string]string{CleanupPolicy: ""}},
		{name: "subtract absent is a no-op", current: map[string]string{CleanupPolicy: "delete"},
			ops:  []Alteration{{CleanupPolicy, AlterSubtract, sp("compact")}},
			want: map[string]string{CleanupPolicy: "delete"}},
		{name: "append several to empty-default list", ops: []Alteration{{LeaderReplicationThrottledReplicas, AlterAppend, sp("0:1,1:1")}},
			want: map[string]string{LeaderReplicationThrottledReplicas: "0:1,1:1"}},
		{name: "broker list", resource: ResourceBroker, current: map[string]string{"log.cleanup.policy": "delete"},
			ops:  []Alteration{{"log.cleanup.policy", AlterAppend, sp("compact")}},
			want: map[string]string{"log.cleanup.policy": "delete,compact"}},
		{name: "append to non-list", ops: []Alteration{{RetentionMs, AlterAppend, sp("1")}},
			err: "Can't APPEND to key retention.ms because its type is not LIST."},
		{name: "subtract from non-list", ops: []Alteration{{CompressionType, AlterSubtract, sp("gzip")}},
			err: "Can't SUBTRACT to key compression.type because its type is not LIST."},
		{name: "append to unknown", ops: []Alteration{{"foo", AlterAppend, sp("1")}},
			err: "Can't APPEND to key foo because its type is not LIST."},
		{name: "topic list name on broker", resource: ResourceBroker, ops: []Alteration{{CleanupPolicy, AlterAppend, sp("compact")}},
			err: "Can't APPEND to key cleanup.policy because its type is not LIST."},
		{name: "duplicate keys", ops: []Alteration{{RetentionMs, AlterSet, sp("1")}, {RetentionMs, AlterDelete, nil}},
			err: "Error due to duplicate config keys", request: true},
		{name: "null value", ops: []Alteration{{RetentionMs, AlterSet, nil}},
			err: "Null value not supported for : retention.ms", request: true},
		{name: "unknown op", ops: []Alteration{{RetentionMs, AlterOp(4), sp("1")}},
			err: "Unknown operations type 4", request: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.resource
			if res == 0 {
				res = ResourceTopic
			}
			before := map[string]string{}
			for k, v := range tt.current {
				before[k] = v
			}
			got, err := IncrementalAlter(res, tt.current, tt.ops)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				want := ErrInvalidConfig
				if tt.request {
					want = ErrInvalidRequest
				}
				if !errors.Is(err, want) {
					t.Errorf("error class: want %v", want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if tt.current != nil && !reflect.DeepEqual(tt.current, before) {
				t.Errorf("current was modified: %v", tt.current)
			}
		})
	}
}

// TestIncrementalAlterThenValidate checks the intended sequence: apply the
// operations, then validate the result, which catches values the
// operations alone cannot (a duplicate via SET, an invalid item).
func TestIncrementalAlterThenValidate(t *testing.T) {
	got, err := IncrementalAlter(ResourceTopic, nil, []Alteration{{CleanupPolicy, AlterAppend, sp("remove")}})
	if err != nil {
		t.Fatal(err)
	}
	want := "Invalid value remove for configuration cleanup.policy: String must be one of: compact, delete"
	if err := ValidateTopic(got); err == nil || err.Error() != want {
		t.Errorf("ValidateTopic(%v) = %v, want %q", got, err, want)
	}
	got, err = IncrementalAlter(ResourceTopic, nil, []Alteration{{CleanupPolicy, AlterSubtract, sp("delete")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateTopic(got); err != nil {
		t.Errorf("empty cleanup.policy should be valid in Kafka 4.x: %v", err)
	}
}
