// Package config is Skein's model of Kafka's broker and topic configuration:
// the registry of every property Skein accepts (name, type, default, valid
// values, whether it can change at runtime), the server.properties parser,
// validation with Kafka's error wording, the resolution of effective values
// across Kafka's configuration layers, and the IncrementalAlterConfigs
// operations.
//
// # Names and defaults
//
// Property names, types and defaults are Kafka 4.x's, so a server.properties
// file or a kafka-configs.sh command written for Apache Kafka works unchanged.
// Where Skein's zero-config default differs from Kafka's (node.id, listeners,
// log.dir, the replication factors of the internal topics) the Def's Doc says
// so. Skein adds one topic config, write.caching (Redpanda's name), with the
// broker default log.write.caching.
//
// # Layers
//
// A topic config's effective value comes from the first layer that sets it:
//
//	DYNAMIC_TOPIC_CONFIG           the topic's own override (CreateTopics, AlterConfigs)
//	DYNAMIC_BROKER_CONFIG          a broker synonym set for this broker ("1")
//	DYNAMIC_DEFAULT_BROKER_CONFIG  a broker synonym set cluster-wide ("")
//	STATIC_BROKER_CONFIG           a broker synonym from server.properties or flags
//	DEFAULT_CONFIG                 the broker synonym's default
//
// Several topic configs have more than one broker synonym (retention.ms is
// log.retention.ms, then log.retention.minutes, then log.retention.hours).
// Within a layer the synonyms are tried in Kafka's order; each broker name is
// first merged across the broker layers, then the first non-null name wins,
// converted to the topic's unit.
//
// # Invariants
//
//   - The registry is fixed at init time and never mutated; Defs are values.
//   - A Resolver is immutable once built: the broker swaps whole Resolvers
//     when dynamic configs change, so readers never lock.
//   - Every value a Resolver holds has passed validation, so the typed getters
//     on a View cannot fail on user input; they panic only on a programming
//     error (an unregistered name or a getter of the wrong type).
//   - Every validation error is an *Error whose text is Kafka's message. It
//     wraps ErrInvalidConfig, which the broker maps to INVALID_CONFIG (40),
//     except the malformed-request errors of IncrementalAlter, which wrap
//     ErrInvalidRequest (INVALID_REQUEST, 42). Syntax errors in a properties
//     file are plain errors naming the file and line.
package config
