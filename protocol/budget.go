package protocol

import (
	"context"
	"sync"
)

// budget is a byte budget shared by all connections: a reader acquires the
// size of a frame before allocating it and the writer releases it once the
// response is sent, so the memory held by requests in flight is bounded.
type budget struct {
	mu      sync.Mutex
	avail   int64
	waiters []chan struct{}
}

func newBudget(n int64) *budget { return &budget{avail: n} }

func (b *budget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.avail >= n {
			b.avail -= n
			b.mu.Unlock()
			return nil
		}
		ch := make(chan struct{})
		b.waiters = append(b.waiters, ch)
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.avail += n
	ws := b.waiters
	b.waiters = nil
	b.mu.Unlock()
	for _, ch := range ws {
		close(ch)
	}
}
