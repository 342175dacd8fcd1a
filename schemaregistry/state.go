package schemaregistry

import (
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
)

// state is the registry's view of _schemas, built only by applying the
// topic's records in offset order. Every instance that has applied the
// same prefix of the topic has the same state.
type state struct {
	logger *slog.Logger

	// mu guards every field below. It is never held while waiting on
	// Kafka or HTTP.
	mu sync.RWMutex
	// subjects maps a subject to its versions, soft-deleted ones included.
	subjects map[string]map[int]*schemaValue
	// ids maps a schema id to its schema and the subject versions using it.
	ids map[int]*idEntry
	// maxID is the largest id ever applied; ids are never reused while
	// the records that carried them remain in the topic.
	maxID int
	// config maps a subject ("" for global) to its compatibility level.
	config map[string]string
	// mode maps a subject ("" for global) to its mode.
	mode map[string]string
	// next is the offset of the next record to apply.
	next int64
	// changed is closed and replaced whenever next advances.
	changed chan struct{}
}

// idEntry is one schema id: its schema and the subject versions using it.
type idEntry struct {
	schemaType string
	schema     string
	refs       []Reference
	users      map[subjectVersion]struct{}
}

type subjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

func newState(logger *slog.Logger) *state {
	return &state{
		logger:   logger,
		subjects: map[string]map[int]*schemaValue{},
		ids:      map[int]*idEntry{},
		config:   map[string]string{},
		mode:     map[string]string{},
		changed:  make(chan struct{}),
	}
}

// apply applies the record at offset. Records the registry cannot read
// are skipped with a warning, as Confluent's registry does.
func (s *state) apply(offset int64, key, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if offset < s.next {
		return
	}
	s.next = offset + 1
	close(s.changed)
	s.changed = make(chan struct{})

	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		s.logger.Warn("skipping unreadable _schemas key", "offset", offset, "err", err)
		return
	}
	switch k.KeyType {
	case keyTypeSchema:
		s.applySchema(offset, k, value)
	case keyTypeConfig:
		var v configValue
		if value == nil || json.Unmarshal(value, &v) != nil || v.CompatibilityLevel == "" {
			delete(s.config, k.subject())
			return
		}
		s.config[k.subject()] = v.CompatibilityLevel
	case keyTypeMode:
		var v modeValue
		if value == nil || json.Unmarshal(value, &v) != nil || v.Mode == "" {
			delete(s.mode, k.subject())
			return
		}
		s.mode[k.subject()] = v.Mode
	case keyTypeDeleteSubject:
		var v deleteSubjectValue
		if value == nil || json.Unmarshal(value, &v) != nil {
			return
		}
		for ver, sv := range s.subjects[k.subject()] {
			if ver <= v.Version {
				sv.Deleted = true
			}
		}
	case keyTypeClearSubject:
		if value == nil {
			return
		}
		for ver, sv := range s.subjects[k.subject()] {
			if sv.Deleted {
				s.removeVersion(k.subject(), ver)
			}
		}
	case keyTypeNoop:
	default:
		s.logger.Warn("skipping _schemas record of unknown key type", "offset", offset, "keytype", k.KeyType)
	}
}

func (s *state) applySchema(offset int64, k recordKey, value []byte) {
	if k.Subject == nil || k.Version == nil {
		s.logger.Warn("skipping SCHEMA record without subject or version", "offset", offset)
		return
	}
	subject, version := *k.Subject, *k.Version
	if value == nil {
		s.removeVersion(subject, version)
		return
	}
	var v schemaValue
	if err := json.Unmarshal(value, &v); err != nil || v.ID <= 0 {
		s.logger.Warn("skipping unreadable SCHEMA record", "offset", offset, "err", err)
		return
	}
	v.Subject, v.Version = subject, version
	if e, ok := s.ids[v.ID]; ok && !e.same(&v) {
		// Only a writer that missed a leadership change can produce this;
		// the id keeps the schema it was first bound to.
		s.logger.Warn("skipping SCHEMA record that rebinds an id to another schema", "offset", offset, "id", v.ID, "subject", subject, "version", version)
		return
	}
	if old := s.subjects[subject][version]; old != nil && old.ID != v.ID {
		// A version keeps the id it was first given until a tombstone
		// removes it: a writer that missed a leadership change cannot
		// take an acknowledged registration's place.
		s.logger.Warn("skipping SCHEMA record that rebinds a subject version to another id", "offset", offset, "subject", subject, "version", version, "id", v.ID, "bound_id", old.ID)
		return
	}
	s.removeVersion(subject, version)
	versions := s.subjects[subject]
	if versions == nil {
		versions = map[int]*schemaValue{}
		s.subjects[subject] = versions
	}
	versions[version] = &v
	e := s.ids[v.ID]
	if e == nil {
		e = &idEntry{schemaType: v.schemaType(), schema: v.Schema, refs: v.References, users: map[subjectVersion]struct{}{}}
		s.ids[v.ID] = e
	}
	e.users[subjectVersion{subject, version}] = struct{}{}
	s.maxID = max(s.maxID, v.ID)
}

// removeVersion drops subject's version and unbinds it from its id.
func (s *state) removeVersion(subject string, version int) {
	versions := s.subjects[subject]
	old, ok := versions[version]
	if !ok {
		return
	}
	delete(versions, version)
	if len(versions) == 0 {
		delete(s.subjects, subject)
	}
	if e := s.ids[old.ID]; e != nil {
		delete(e.users, subjectVersion{subject, version})
		if len(e.users) == 0 {
			delete(s.ids, old.ID)
		}
	}
}

// same reports whether v carries the schema e is bound to.
func (e *idEntry) same(v *schemaValue) bool {
	return e.schemaType == v.schemaType() && e.schema == v.Schema && slices.Equal(e.refs, v.References)
}

// applied returns the next offset to apply and a channel closed when it
// changes.
func (s *state) applied() (int64, <-chan struct{}) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.next, s.changed
}

// versionList returns subject's versions in ascending order, soft-deleted
// ones only when deleted is set.
func (s *state) versionList(subject string, deleted bool) []*schemaValue {
	var out []*schemaValue
	for _, v := range s.subjects[subject] {
		if deleted || !v.Deleted {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b *schemaValue) int { return a.Version - b.Version })
	return out
}

// latest returns subject's highest live version, or nil.
func (s *state) latest(subject string) *schemaValue {
	vs := s.versionList(subject, false)
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

// maxVersion returns the highest version subject has ever had that is
// still in the topic, soft-deleted ones included.
func (s *state) maxVersion(subject string) int {
	m := 0
	for v := range s.subjects[subject] {
		m = max(m, v)
	}
	return m
}

// referencedBy returns the ids of live schemas that reference subject's
// version, in ascending order.
func (s *state) referencedBy(subject string, version int) []int {
	var out []int
	for _, versions := range s.subjects {
		for _, v := range versions {
			if v.Deleted {
				continue
			}
			for _, r := range v.References {
				if r.Subject == subject && r.Version == version && !slices.Contains(out, v.ID) {
					out = append(out, v.ID)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// compatibility returns subject's level, falling back to the global one
// when fallback is set, then to BACKWARD.
func (s *state) compatibility(subject string, fallback bool) (string, bool) {
	if c, ok := s.config[subject]; ok {
		return c, true
	}
	if !fallback {
		return "", false
	}
	if c, ok := s.config[""]; ok {
		return c, true
	}
	return defaultCompatibility, true
}

// modeOf returns subject's mode, falling back to the global one when
// fallback is set, then to READWRITE.
func (s *state) modeOf(subject string, fallback bool) (string, bool) {
	if m, ok := s.mode[subject]; ok {
		return m, true
	}
	if !fallback {
		return "", false
	}
	if m, ok := s.mode[""]; ok {
		return m, true
	}
	return modeReadWrite, true
}
