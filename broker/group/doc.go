// Package group is the group coordinator: classic consumer groups
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), consumer groups of the
// KIP-848 protocol (ConsumerGroupHeartbeat with server-side assignors), and
// the committed offsets of both, kept in the internal compacted topic
// __consumer_offsets.
//
// The coordinator knows nothing of the network or of the broker: it takes
// decoded kmsg requests and returns kmsg responses. Requests that wait (a
// JoinGroup until the rebalance completes, an OffsetCommit until its record
// is fsynced) return channels or wait functions; the broker turns those into
// deferred replies so that no connection blocks another.
//
// Time is explicit. The coordinator reads Config.Now when a request arrives,
// and expirations (session timeouts, rebalance timeouts, the initial
// rebalance delay, pending syncs) happen only in Tick(now), which the broker
// calls periodically and tests call with a fake clock. Offset retention runs
// in ExpireOffsets(now).
//
// # Records
//
// Every state change that must survive a restart is a record appended to
// the __consumer_offsets partition of the group, abs(javaHashCode(group)) %
// partitions as Kafka computes it. The formats are Kafka's, so Kafka tooling
// reads them:
//
//	key version 0/1: OffsetCommitKey (group, topic, partition)
//	                 → OffsetCommitValue v3 (offset, leader epoch, metadata,
//	                   commit timestamp); a null value deletes the offset
//	key version 2:   GroupMetadataKey (group)
//	                 → GroupMetadataValue v3 (protocol type, generation,
//	                   protocol, leader, state timestamp, members with their
//	                   subscriptions and assignments); a null value deletes
//	                   the group
//
// Consumer groups (KIP-848) store their group epoch under a Skein key
// version, so that Kafka tooling skips it as an unknown record:
//
//	key version 1000: int16 version, string group (int16 length + bytes)
//	                  → int16 value version 0, int32 group epoch,
//	                    int32 assignor name length + bytes
//	                  a null value deletes the group
//
// Their members are not stored: after a restart members heartbeat with an
// epoch the coordinator no longer knows, get UNKNOWN_MEMBER_ID, and rejoin,
// resuming from their committed offsets.
//
// On start the coordinator replays every partition of __consumer_offsets in
// offset order; a later record for a key replaces an earlier one and a null
// value removes it, which is also what compaction keeps.
//
// Offsets committed in a transaction (TxnOffsetCommit) are OffsetCommit
// records in a transactional batch of the producer. They stay pending,
// invisible to OffsetFetch, until the transaction's COMMIT or ABORT marker
// (a control batch of the producer) is written to the same partition; a
// commit makes them the committed offsets unless a commit written after
// them already replaced them, an abort drops them. The replay does the
// same with the markers it finds; offsets whose marker is not in the log
// yet stay pending until the transaction coordinator ends the transaction
// (see txn_offsets.go).
//
// # Locking
//
// One mutex, Coordinator.mu, guards all groups. Appends to the log happen
// under it, so the log order of records matches the order of the state
// changes; waiting for an fsync never happens under it.
package group
