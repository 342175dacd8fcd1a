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

// initialElection is implemented by electors that tell when their first
// election has ended.
type initialElection interface {
	Elected() <-chan struct{}
}

// changeNotifier is implemented by electors that announce changes.
type changeNotifier interface {
	Changed() <-chan struct{}
}

// Writer reports the URL of the instance that accepts writes, and
// whether it is this one; url is "" while none is elected.
func (r *Registry) Writer() (url string, self bool) {
	if r.elector == nil {
		return "", false
	}
	self, url, known := r.elector.Leader()
	if !known {
		return "", false
	}
	return url, self
}

// WriterChanged returns a channel closed at the next change of Writer's
// answer; a nil channel before Run has set up the election.
func (r *Registry) WriterChanged() <-chan struct{} {
	if n, ok := r.elector.(changeNotifier); ok {
		return n.Changed()
	}
	return nil
}
