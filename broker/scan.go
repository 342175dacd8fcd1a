package broker

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/skein-streaming/skein/protocol/records"
	"github.com/skein-streaming/skein/storage"
)

// scanBatches calls fn with every whole stored batch of the partition
// holding offsets in [from, end), in offset order, reading the log in
// chunks into one reused buffer: fn must not keep the batch. The first
// batch may start below from (callers skip its earlier records). If
// retention moves the log start past from, the scan continues at the new
// start. It returns the offset after the last batch read.
func (p *partition) scanBatches(from, end int64, fn func(batch []byte) error) (int64, error) {
	var buf []byte
	for from < end {
		if start := p.log.LogStartOffset(); from < start {
			from = start
			continue
		}
		rr, err := p.log.Read(from, 1<<20, end, true, buf)
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			if from < p.log.LogStartOffset() {
				continue
			}
			break
		}
		if err != nil {
			return from, fmt.Errorf("%s: read at %d: %w", p.name, from, err)
		}
		if len(rr.Data) == 0 || rr.NextOffset <= from {
			break
		}
		buf = rr.Data
		for data := rr.Data; len(data) >= records.BatchHeaderBytes; {
			size := batchSize(data)
			if size < records.BatchHeaderBytes || size > len(data) {
				return from, fmt.Errorf("%s: truncated batch in a read at %d", p.name, from)
			}
			if err := fn(data[:size]); err != nil {
				return from, err
			}
			data = data[size:]
		}
		from = rr.NextOffset
	}
	return from, nil
}

// batchSize is the total size of the batch at the start of b.
func batchSize(b []byte) int {
	return 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
}

// batchAttributes returns the attributes of a stored batch.
func batchAttributes(b []byte) uint16 { return binary.BigEndian.Uint16(b[21:]) }

// batchProducerID returns the producer id of a stored batch.
func batchProducerID(b []byte) int64 { return int64(binary.BigEndian.Uint64(b[43:])) }
