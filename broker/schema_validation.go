package broker

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/skein-streaming/skein/protocol/records"
)

// Broker-side schema validation (Confluent's confluent.key.schema.validation
// and confluent.value.schema.validation topic configs): on a topic with it
// on, every record's key or value must start with the schema registry's
// wire format — magic byte 0 and a four-byte schema id — naming a schema
// registered under the record's subject. The broker learns what is
// registered by reading the registry's own topic, _schemas, which lives in
// this cluster; it reads only what was appended since the last check, and
// only when a validating topic is produced to, so other topics pay nothing.

// schemasTopic is the schema registry's topic (Confluent's kafkastore.topic
// default).
const schemasTopic = "_schemas"

// Subject name strategies (Confluent's serializer classes).
const (
	topicNameStrategy       = "io.confluent.kafka.serializers.subject.TopicNameStrategy"
	recordNameStrategy      = "io.confluent.kafka.serializers.subject.RecordNameStrategy"
	topicRecordNameStrategy = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
)

// schemaValidation is a topic's validation settings.
type schemaValidation struct {
	key, value                 bool
	keyStrategy, valueStrategy string
}

func (v schemaValidation) on() bool { return v.key || v.value }

// schemaIndex is what the broker knows of the registry: which schema ids
// are live under which subject.
type schemaIndex struct {
	mu sync.Mutex
	// next is the _schemas offset read up to.
	next int64
	// topicID detects a re-created _schemas topic.
	topicID TopicID
	// versions maps subject → version → id of live (not deleted) versions.
	versions map[string]map[int]int32
}

type schemaRecordKey struct {
	KeyType string  `json:"keytype"`
	Subject *string `json:"subject"`
	Version *int    `json:"version"`
}

type schemaRecordValue struct {
	Version int   `json:"version"`
	ID      int32 `json:"id"`
	Deleted bool  `json:"deleted"`
}

// schemaCatchUp reads the _schemas records appended since the last call.
func (b *Broker) schemaCatchUp() error {
	ix := &b.schemas
	t := b.lookupTopic(schemasTopic)
	if t == nil {
		return nil
	}
	p := t.partition(0)
	if p == nil {
		return nil
	}
	if ix.topicID != t.id || ix.versions == nil {
		ix.topicID, ix.next, ix.versions = t.id, 0, map[string]map[int]int32{}
	}
	from := ix.next
	next, err := p.scanBatches(from, p.highWatermark(), func(batch []byte) error {
		if batchAttributes(batch)&attrControl != 0 {
			return nil // markers carry no schema records
		}
		return records.ForEachRecord(batch, nil, func(rv records.RecordView) error {
			if rv.Offset >= from {
				ix.apply(rv.Key, rv.Value)
			}
			return nil
		})
	})
	ix.next = next
	return err
}

// apply applies one _schemas record.
func (ix *schemaIndex) apply(key, value []byte) {
	var k schemaRecordKey
	if json.Unmarshal(key, &k) != nil || k.Subject == nil {
		return
	}
	subject := *k.Subject
	switch k.KeyType {
	case "SCHEMA":
		if k.Version == nil {
			return
		}
		var v schemaRecordValue
		if value == nil || json.Unmarshal(value, &v) != nil || v.Deleted {
			delete(ix.versions[subject], *k.Version)
			return
		}
		if ix.versions[subject] == nil {
			ix.versions[subject] = map[int]int32{}
		}
		ix.versions[subject][*k.Version] = v.ID
	case "DELETE_SUBJECT":
		var v schemaRecordValue
		if value == nil || json.Unmarshal(value, &v) != nil {
			return
		}
		for ver := range ix.versions[subject] {
			if ver <= v.Version {
				delete(ix.versions[subject], ver)
			}
		}
	}
}

// registered reports whether id is live under a subject the strategy
// allows for this topic and part ("key" or "value"). With the record name
// strategies the subject depends on the schema's record name, which the
// id alone does not tell: any subject of the strategy's form qualifies.
func (ix *schemaIndex) registered(topic, part, strategy string, id int32) bool {
	match := func(subject string) bool {
		for _, sid := range ix.versions[subject] {
			if sid == id {
				return true
			}
		}
		return false
	}
	switch strategy {
	case recordNameStrategy:
		for subject := range ix.versions {
			if match(subject) {
				return true
			}
		}
		return false
	case topicRecordNameStrategy:
		for subject := range ix.versions {
			if strings.HasPrefix(subject, topic+"-") && subject != topic+"-key" && subject != topic+"-value" && match(subject) {
				return true
			}
		}
		return false
	}
	return match(topic + "-" + part)
}

// validateSchemas checks every record of a validated batch. It returns a
// records.Error with one entry per rejected record, as Produce reports
// INVALID_RECORD.
func (b *Broker) validateSchemas(p *partition, v schemaValidation, batch []byte) error {
	t := p.topic
	ix := &b.schemas
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if err := b.schemaCatchUp(); err != nil {
		return err
	}
	var rejected []records.RecordError
	index := int32(0)
	check := func(part, strategy string, data []byte) string {
		if len(data) < 5 || data[0] != 0 {
			return fmt.Sprintf("the %s has no schema registry magic byte and schema id", part)
		}
		id := int32(binary.BigEndian.Uint32(data[1:5]))
		if !ix.registered(t.name, part, strategy, id) {
			return fmt.Sprintf("the %s's schema id %d is not registered under its subject", part, id)
		}
		return ""
	}
	err := records.ForEachRecord(batch, nil, func(rv records.RecordView) error {
		var msg string
		if v.key {
			msg = check("key", v.keyStrategy, rv.Key)
		}
		if msg == "" && v.value && rv.Value != nil {
			msg = check("value", v.valueStrategy, rv.Value)
		}
		if msg != "" && len(rejected) < records.RecordErrorsMax {
			rejected = append(rejected, records.RecordError{BatchIndex: index, Message: fmt.Sprintf("Record %d of %s: %s", index, p.name, msg)})
		}
		index++
		return nil
	})
	if err != nil {
		return err
	}
	if len(rejected) == 0 {
		return nil
	}
	return &records.Error{
		Code:         kerr.InvalidRecord,
		Message:      fmt.Sprintf("%d record(s) rejected by schema validation: %s", len(rejected), rejected[0].Message),
		RecordErrors: rejected,
	}
}

// forEachRecordIn walks the records of whole stored batches, skipping
// control batches.
func forEachRecordIn(data []byte, fn func(records.RecordView) error) error {
	for len(data) >= records.BatchHeaderBytes {
		size := batchSize(data)
		if size < records.BatchHeaderBytes || size > len(data) {
			return errors.New("truncated batch")
		}
		if batchAttributes(data)&attrControl == 0 {
			if err := records.ForEachRecord(data[:size], nil, fn); err != nil {
				return err
			}
		}
		data = data[size:]
	}
	return nil
}
