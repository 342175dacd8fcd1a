// Package records validates the record batches of Produce requests the way
// Apache Kafka 4 does, and encodes and decodes the batch compression codecs.
//
// # Format
//
// A Produce request (v3+) carries, per partition, exactly one record batch of
// format v2 (magic 2). Header, big endian:
//
//	 0 baseOffset           int64   0 from producers
//	 8 batchLength          int32   bytes after this field
//	12 partitionLeaderEpoch int32
//	16 magic                int8    2
//	17 crc                  uint32  CRC32C (Castagnoli) of bytes 21..end
//	21 attributes           int16   bits 0-2 codec, 3 LogAppendTime,
//	                                4 transactional, 5 control
//	23 lastOffsetDelta      int32
//	27 baseTimestamp        int64   ms
//	35 maxTimestamp         int64   ms
//	43 producerId           int64
//	51 producerEpoch        int16
//	53 baseSequence         int32
//	57 recordCount          int32
//	61 records              (compressed as a whole by the codec)
//
// Each record: varint length, then attributes int8, timestampDelta varlong,
// offsetDelta varint, key (varint length, -1 null), value (likewise), header
// count varint, and headers (varint key length, key, varint value length (-1
// null), value). Varints are zigzag encoded.
//
// # Validation
//
// Validate applies, in Kafka's order, the checks of
// ProduceRequest.validateRecords, UnifiedLog.analyzeAndValidateRecords and
// LogValidator, and reports failures as *Error carrying the Kafka error code
// (errors.Is(err, kerr.InvalidRecord) and so on). The batch is never changed:
// it is stored as sent, compressed bytes included. The caller then stamps the
// fields outside the producer's CRC (SetBaseOffset, SetPartitionLeaderEpoch)
// and, as Kafka's leader does, the timestamp fields (SetLogAppendTime for
// LogAppendTime topics, SetMaxTimestamp with BatchInfo.MaxTimestamp
// otherwise), which recompute the CRC in place.
//
// Error mapping (condition → code, message as Kafka words it; only the
// per-record failures put their message in the response's ErrorMessage,
// see Error.ResponseErrorMessage):
//
//	batchLength < 14                       CORRUPT_MESSAGE  Record size N is less than the minimum record overhead (14)
//	magic < 0 or > 2                       CORRUPT_MESSAGE  Invalid magic found in record: M
//	no whole batch (empty, truncated)      INVALID_RECORD   Produce requests must have at least one record batch per partition
//	magic 0 or 1                           INVALID_RECORD   ... only allowed to contain record batches with magic version 2
//	zstd with ProduceVersion < 7           UNSUPPORTED_COMPRESSION_TYPE
//	a second whole batch                   INVALID_RECORD   ... exactly one record batch per partition
//	baseOffset != 0                        INVALID_RECORD   The baseOffset of the record batch ... should be 0
//	12+batchLength > MaxMessageBytes       MESSAGE_TOO_LARGE
//	12+batchLength < 61, CRC mismatch      CORRUPT_MESSAGE  Record is corrupt (stored crc = X, ...)
//	codec id 5..7                          UNSUPPORTED_COMPRESSION_TYPE  Unknown compression type id: N
//	lastOffsetDelta < 0                    INVALID_RECORD   Batch has an invalid offset range
//	recordCount <= 0                       INVALID_RECORD   Invalid reported count for record batch
//	recordCount != lastOffsetDelta+1       INVALID_RECORD   Inconsistent batch offset range ... and count of records
//	control bit, AllowControl unset        INVALID_RECORD   Clients are not allowed to write control records
//	producerId >= 0, baseSequence < 0      INVALID_RECORD   Invalid sequence number ...
//	decompression fails                    CORRUPT_MESSAGE  Failed to decompress ... record stream
//	decompressed > MaxDecompressedBytes    CORRUPT_MESSAGE  Decompressed ... record batch exceeds the limit
//	records end early                      INVALID_RECORD   Incorrect declared batch size, premature EOF reached
//	bytes left after recordCount records   INVALID_RECORD   Incorrect declared batch size, records still remaining in file
//	bad varint, field past record end      INVALID_RECORD   Found invalid record structure / Invalid record size ...
//	negative header count / key length     INVALID_RECORD   Found invalid number of record headers / Invalid negative header key size
//	offsetDelta != batch index             INVALID_RECORD   Record at batch index I has offset delta D ...
//	RequireKey and a null key              INVALID_RECORD   per record: Compacted topic cannot accept message without key
//	CreateTime timestamp out of range      INVALID_TIMESTAMP per record: Timestamp T of message with offset O is out of range ...
//	LogAppendTime bit set, LogAppendTime   INVALID_TIMESTAMP per record: Invalid timestamp type in message ...
//	topic (or NoTimestamp record)
//
// Per-record failures are collected over the whole batch, like Kafka, into
// Error.RecordErrors (KIP-467), capped at RecordErrorsMax; the code is
// INVALID_TIMESTAMP if any of them is a timestamp failure, else
// INVALID_RECORD. A structural fault anywhere fails the batch with no record
// errors, as Kafka's iterator throws.
//
// Where Skein deliberately differs from Kafka 4:
//   - Decompression failures are CORRUPT_MESSAGE; Kafka answers
//     UNKNOWN_SERVER_ERROR (an unchecked KafkaException). Kafka has no
//     decompressed-size cap at all.
//   - An unknown codec id is UNSUPPORTED_COMPRESSION_TYPE; Kafka answers
//     UNKNOWN_SERVER_ERROR (an IllegalArgumentException).
//   - Offset deltas that do not run 0..n-1 are rejected. Kafka stores
//     uncompressed batches as they are and rewrites compressed ones with new
//     offsets; Skein never rewrites a batch.
//   - At most RecordErrorsMax record errors are reported.
//
// Like Kafka, bytes after the batch too few to form a second whole batch are
// ignored: store data[:BatchInfo.Size].
//
// # Memory
//
// Uncompressed records are walked in place. Compressed records are inflated
// into the Scratch buffer, reused across calls, through a bound: the output
// never exceeds Limits.MaxDecompressedBytes (plus one byte to detect the
// overflow), sizes declared by the input are checked against the bound before
// anything is allocated for them, and no step of the walk allocates per
// record. Per-record messages are built only for failing records.
//
// A Scratch keeps its decompression buffer between calls, up to 8 MiB; a
// larger one is dropped after the call that needed it.
//
// # Codecs
//
// gzip (RFC 1952, multiple members allowed), snappy (the xerial framing of
// snappy-java, or one raw block), LZ4 (frame format) and zstd (frames) are
// decoded by Decompress. Compress writes what the Java client writes. zstd
// decoders are pooled per limit (rounded up to a power of two, at least
// 1 MiB) and refuse frames whose window exceeds that size; producers' windows
// are far smaller (8 MiB at zstd level 19) unless both the level and the
// batch are extreme.
//
// # Reading and building
//
// ForEachRecord yields a zero-copy RecordView of each record of a stored
// batch (key, value, raw headers, absolute timestamp and offset), for
// ListOffsets by timestamp and for compaction. AppendBatch and BuildBatch
// encode whole batches as producers do, for tests and tools.
package records
