// Package schemaregistry is Skein's schema registry: a server for the
// Confluent Schema Registry REST API, so that existing Avro, JSON Schema
// and Protobuf serializers work against Skein unchanged.
//
// # State
//
// The compacted topic _schemas is the only source of truth, laid out as
// Confluent's registry lays it out: JSON keys such as
// {"keytype":"SCHEMA","subject":"s","version":1,"magic":1} and JSON values
// such as {"subject":"s","version":1,"id":1,"schema":"…","deleted":false}.
// Every instance consumes the topic from its start and builds the same
// in-memory state from it (state.go); nothing else is persisted. A
// tombstone (null value) removes the key's entry, so compaction never
// changes the state that a full read produces.
//
// # Writes
//
// Exactly one instance accepts writes: the leader of the Kafka consumer
// group named by Config.GroupID (election.go), elected with the classic
// group protocol (JoinGroup/SyncGroup/Heartbeat) under protocol type "sr".
// The group leader assigns the writer role to itself; every member's
// assignment carries the writer's advertised URL so that other instances
// forward writes to it over HTTP. Before each write the writer reads the
// topic to its end under its write lock, so schema ids (max id + 1) and
// versions are assigned from complete state; after producing it waits
// until its own consumer has applied the record, then answers.
//
// If two instances briefly both believe they lead (a member that has not
// yet learned of a rebalance), the state machine stays deterministic: an
// id already bound to a different schema is never rebound; the record
// that would rebind it is ignored by every instance, and the writer that
// produced it reports a store error instead of a wrong id.
//
// # Formats
//
// AVRO (github.com/hamba/avro/v2: parsing and Avro schema resolution
// rules), JSON (github.com/santhosh-tekuri/jsonschema/v6 for validation of
// the schema itself, with a structural compatibility checker in
// format_json.go) and PROTOBUF (github.com/bufbuild/protocompile, with
// Confluent's protobuf compatibility rules in format_protobuf.go).
//
// # Locks
//
// Registry.writeMu (one write at a time on the leader) is taken before
// state.mu; state.mu is never held while waiting on Kafka or HTTP.
package schemaregistry
