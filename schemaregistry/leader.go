package schemaregistry

import (
	"context"
	"sync"
)

// elector tells an instance who accepts writes.
type elector interface {
	// Run takes part in the election until ctx ends.
	Run(ctx context.Context) error
	// Leader reports whether this instance is the writer, and otherwise
	// the writer's URL; known is false while no writer is elected.
	Leader() (self bool, url string, known bool)
}

// staticElector is a fixed election, for tests: one instance writes.
type staticElector struct {
	mu   sync.Mutex
	self bool
	url  string
}

func (e *staticElector) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (e *staticElector) Leader() (bool, string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.self, e.url, e.self || e.url != ""
}
