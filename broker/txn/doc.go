// Package txn is the transaction coordinator (KIP-98): it owns the state of
// every transactional id, hands out producer ids and epochs, fences zombie
// producers, and drives commits and aborts by having markers written to
// every partition of a transaction.
//
// The coordinator knows nothing of the network or of the broker. It takes
// plain arguments and returns errors that wrap kerr errors (errors.As with
// *kerr.Error gives the code to answer). The broker provides, through
// Config, the internal topic __transaction_state (Log), the marker writer
// (WriteMarker) and the producer id allocator (NewProducerID).
//
// # States
//
// A transactional id moves through Kafka's states:
//
//	Empty ──AddPartitions──▶ Ongoing ──EndTxn(commit)──▶ PrepareCommit ──markers──▶ CompleteCommit
//	                            │    ──EndTxn(abort)───▶ PrepareAbort  ──markers──▶ CompleteAbort
//	                            └─InitProducerId or timeout: PrepareEpochFence (in memory only), then PrepareAbort
//	Empty, CompleteCommit, CompleteAbort ──InitProducerId──▶ Empty (epoch bumped)
//	                                     ──AddPartitions──▶ Ongoing
//	Empty, CompleteCommit, CompleteAbort ──idle past transactional.id.expiration.ms──▶ Dead (tombstone, removed)
//
// Every change is written to __transaction_state and fsynced before it
// takes effect and before the request that caused it is answered. While
// the record of one change is being written the id has a pending
// transition, and other requests for it get CONCURRENT_TRANSACTIONS, as in
// Kafka. The decision to commit or abort is durable once PrepareCommit or
// PrepareAbort is written: if writing markers then fails, the transaction
// stays prepared and Tick retries until the markers are written and the
// Complete state is recorded.
//
// Unlike Kafka, where markers are sent asynchronously, EndTxn is answered
// after the markers are written and CompleteCommit or CompleteAbort is
// recorded (when that succeeds), and InitProducerId that fences an ongoing
// transaction aborts it and then answers with the new epoch instead of
// asking the client to retry with CONCURRENT_TRANSACTIONS. The epochs a
// client sees are the same as with Kafka's retry.
//
// # Records
//
// The records are Kafka's, so Kafka tooling reads them: the key is
// TransactionLogKey version 0 (int16 version, string transactional id), the
// value TransactionLogValue version 0 (producer id, epoch, timeout, state,
// partitions — null when Empty — last update and start timestamps). A null
// value is a tombstone: the id expired. The partition of an id is
// abs(javaStringHashCode(id)) % partitions, as Kafka computes it.
//
// Load replays every partition in offset order; a later record for an id
// replaces an earlier one. Transactions found prepared are completed after
// the replay; ongoing ones are aborted by the timeout check.
//
// # Time
//
// Requests read Config.Now. Timeouts and expirations happen only in Tick
// and ExpireIDs, which the broker calls periodically and tests call with a
// fake clock.
//
// # Locking
//
// One mutex, Coordinator.mu, guards every transactional id. No I/O happens
// under it: a transition marks the id pending, releases the mutex, writes
// and fsyncs, then takes the mutex again to apply the change. The pending
// mark keeps other changes of that id out meanwhile.
package txn
