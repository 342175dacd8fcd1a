// Package broker is a Kafka broker: one handler per API key (the files
// api_NN_name.go, listed in the table in apis.go), the partitions and their
// logs, and the metadata those rest on.
//
// Flow of a request: protocol decodes a frame and calls Broker.Handle in
// request order per connection; the handler for the API key validates the
// request, delegates to a partition or the metadata store, and fills Kafka
// error codes per topic and partition. Handlers that wait (a Produce with
// acks=all waiting for an fsync, a Fetch long poll) return a Wait function
// that protocol resolves in order on the connection's writer.
//
// Metadata: meta.go holds the metadata records, the immutable image they
// build and the store interface; meta_cluster.go the broker registrations
// and partition states; cluster.go the broker's registration, the roles of
// its replicas and the answers that point clients at leaders and
// coordinators; placement.go where new replicas go (docs/cluster.md).
//
// Lock order: adminMu (metadata changes and reconciliation) before
// Broker.mu (topic map) before partition locks; a partition's log has its
// own locks below that. No lock is held while waiting.
package broker
