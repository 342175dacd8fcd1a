package schemaregistry

import (
	"fmt"
	"sync"
)

// schemaCache keeps each schema id's parsed form. An id is bound to one
// schema for good (state.applySchema), so entries never go stale.
type schemaCache struct {
	mu     sync.Mutex
	parsed map[int]parsedSchema
}

func newSchemaCache() *schemaCache { return &schemaCache{parsed: map[int]parsedSchema{}} }

// parsedByID returns the parsed schema of id, parsing it on first use.
func (r *Registry) parsedByID(id int) (parsedSchema, error) {
	r.schema.mu.Lock()
	p, ok := r.schema.parsed[id]
	r.schema.mu.Unlock()
	if ok {
		return p, nil
	}
	r.state.mu.RLock()
	e := r.state.ids[id]
	var deps []dependency
	var err error
	if e != nil {
		deps, err = r.state.dependencies(e.refs)
	}
	r.state.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("schema %d not found", id)
	}
	if err != nil {
		return nil, err
	}
	f, err := lookupFormat(e.schemaType)
	if err != nil {
		return nil, err
	}
	p, err = f.parse(e.schema, deps)
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	r.schema.mu.Lock()
	r.schema.parsed[id] = p
	r.schema.mu.Unlock()
	return p, nil
}

// dependencies resolves refs transitively into the order formats load
// them: every schema after the schemas it references. Callers hold s.mu.
func (s *state) dependencies(refs []Reference) ([]dependency, error) {
	var out []dependency
	done := map[subjectVersion]bool{}
	var visit func(refs []Reference, depth int) error
	visit = func(refs []Reference, depth int) error {
		if depth > 64 {
			return fmt.Errorf("references nest deeper than 64")
		}
		for _, ref := range refs {
			v := s.lookupVersion(ref.Subject, ref.Version)
			if v == nil {
				return fmt.Errorf("reference %q: subject '%s' version %d not found", ref.Name, ref.Subject, ref.Version)
			}
			key := subjectVersion{v.Subject, v.Version}
			if done[key] {
				continue
			}
			done[key] = true
			if err := visit(v.References, depth+1); err != nil {
				return err
			}
			out = append(out, dependency{name: ref.Name, schema: v.Schema})
		}
		return nil
	}
	return out, visit(refs, 0)
}

// lookupVersion returns subject's version, where -1 is the latest live
// one; soft-deleted versions are found by number. Callers hold s.mu.
func (s *state) lookupVersion(subject string, version int) *schemaValue {
	if version == -1 {
		return s.latest(subject)
	}
	return s.subjects[subject][version]
}
