package schemaregistry

import (
	"context"
	"sync"
)

// recordLog is the log the registry's state lives in: the _schemas topic
// (kafkaLog), or a memoryLog in tests.
type recordLog interface {
	// Append appends recs in order and returns the offset of the last.
	Append(ctx context.Context, recs []record) (int64, error)
	// EndOffset returns the offset after the last record.
	EndOffset(ctx context.Context) (int64, error)
	// Consume calls apply for every record from the log's start, in offset
	// order, until ctx is done or the log fails.
	Consume(ctx context.Context, apply func(offset int64, key, value []byte)) error
}

// memoryLog is a recordLog in memory, shared by registries in one test.
type memoryLog struct {
	mu      sync.Mutex
	entries []memoryEntry
	// grown is closed and replaced on every append.
	grown chan struct{}
}

type memoryEntry struct{ key, value []byte }

func newMemoryLog() *memoryLog { return &memoryLog{grown: make(chan struct{})} }

func (l *memoryLog) Append(_ context.Context, recs []record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		k, v, err := r.encode()
		if err != nil {
			return 0, err
		}
		l.entries = append(l.entries, memoryEntry{k, v})
	}
	close(l.grown)
	l.grown = make(chan struct{})
	return int64(len(l.entries) - 1), nil
}

func (l *memoryLog) EndOffset(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.entries)), nil
}

func (l *memoryLog) Consume(ctx context.Context, apply func(offset int64, key, value []byte)) error {
	next := 0
	for {
		l.mu.Lock()
		batch := l.entries[next:]
		grown := l.grown
		l.mu.Unlock()
		for _, e := range batch {
			apply(int64(next), e.key, e.value)
			next++
		}
		select {
		case <-ctx.Done():
			return nil
		case <-grown:
		}
	}
}
