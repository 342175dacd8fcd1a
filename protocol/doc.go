// Package protocol owns the Kafka wire protocol at the connection level:
// listeners, size-prefixed framing, request and response headers (v0–v2 with
// flexible versions and tagged fields), version checks and in-order
// pipelined dispatch to a Handler.
//
// Every request and response body is a kmsg type; this package never
// declares a wire struct of its own. It knows nothing about topics, logs or
// groups: the broker package fills in the Handler.
//
// # Connection model
//
// Each connection has a reader goroutine and a writer goroutine. The reader
// decodes one frame at a time and calls Handler.Handle in request order (the
// dispatch stage: appends to a partition log happen in the order a client
// pipelined its produce requests). A handler either answers at once or
// returns a Reply whose Wait function completes later (acks=all waiting on an
// fsync, a Fetch long poll). The writer resolves replies strictly in request
// order, so responses leave in the order their requests arrived, while a
// waiting request never blocks any other connection.
//
// # Limits
//
// A frame larger than Config.MaxRequestBytes (socket.request.max.bytes) or
// smaller than a request header closes the connection before anything is
// allocated. Frame memory is drawn from a server-wide budget
// (Config.MemoryBudgetBytes), and a connection has at most
// Config.MaxInflight requests between dispatch and response, so memory stays
// bounded whatever clients send.
//
// # Errors
//
// Bad input never panics the process: an undecodable header or body, an
// unknown API key, or an unsupported version closes the connection and is
// logged at debug level with the peer address. The exception is ApiVersions,
// which Kafka answers at version 0 with UNSUPPORTED_VERSION and the supported
// ranges so that a newer client can downgrade.
package protocol
