package broker

import (
	"context"
	"errors"
	"sync"
)

// sharedMetadata is an in-memory MetadataStore that several in-process
// brokers share, to test a cluster without a replicated log: every batch
// applies at once for all of them, and each broker's view is told of it.
// It keeps nothing on disk.
type sharedMetadata struct {
	mu         sync.Mutex
	image      *MetadataImage
	views      map[*sharedMetadataView]bool
	controller int32
	// failApply, when set, makes Apply fail without applying; with
	// blockApply, Apply instead waits for its context to end (a quorum
	// that cannot be reached).
	failApply  error
	blockApply bool
}

func newSharedMetadata(controller int32) *sharedMetadata {
	img := newImage()
	img.ClusterID = newClusterID()
	return &sharedMetadata{image: img.seal(), views: map[*sharedMetadataView]bool{}, controller: controller}
}

// view returns a MetadataStore for one broker; closing it leaves the
// shared metadata to the others.
func (s *sharedMetadata) view() *sharedMetadataView {
	v := &sharedMetadataView{s: s, updates: make(chan struct{}, 1)}
	s.mu.Lock()
	s.views[v] = true
	s.mu.Unlock()
	return v
}

func (s *sharedMetadata) Image() *MetadataImage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.image
}

// apply applies recs as one batch and tells every open view.
func (s *sharedMetadata) apply(recs []MetadataRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failApply != nil {
		return s.failApply
	}
	if len(recs) == 0 {
		return nil
	}
	next, err := s.image.applyBatch(recs)
	if err != nil {
		return err
	}
	s.image = next
	for v := range s.views {
		select {
		case v.updates <- struct{}{}:
		default:
		}
	}
	return nil
}

type sharedMetadataView struct {
	s       *sharedMetadata
	updates chan struct{}
}

func (v *sharedMetadataView) Image() *MetadataImage { return v.s.Image() }

func (v *sharedMetadataView) Apply(ctx context.Context, recs ...MetadataRecord) error {
	v.s.mu.Lock()
	open := v.s.views[v]
	v.s.mu.Unlock()
	if !open {
		return errors.New("metadata store closed")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v.s.mu.Lock()
	block := v.s.blockApply
	v.s.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return v.s.apply(recs)
}

func (v *sharedMetadataView) Updates() <-chan struct{} { return v.updates }

func (v *sharedMetadataView) ControllerID() int32 {
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return v.s.controller
}

func (v *sharedMetadataView) Close() error {
	v.s.mu.Lock()
	delete(v.s.views, v)
	v.s.mu.Unlock()
	return nil
}
