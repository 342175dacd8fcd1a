package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// registerRequest is the body of POST /subjects/{subject}/versions, of
// the lookup and of the compatibility check.
type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	// ID and Version are honoured only in IMPORT mode.
	ID      int `json:"id,omitempty"`
	Version int `json:"version,omitempty"`
}

// candidate is a request's schema, parsed.
type candidate struct {
	schemaType string
	format     format
	parsed     parsedSchema
}

// parseCandidate parses req's schema with its references, using state
// under its read lock.
func (r *Registry) parseCandidate(req *registerRequest) (*candidate, *Error) {
	schemaType := strings.ToUpper(req.SchemaType)
	if schemaType == "" {
		schemaType = formatAvro
	}
	f, err := lookupFormat(schemaType)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	if strings.TrimSpace(req.Schema) == "" {
		return nil, newError(codeInvalidSchema, "Empty schema")
	}
	r.state.mu.RLock()
	deps, err := r.state.dependencies(req.References)
	r.state.mu.RUnlock()
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	p, err := f.parse(req.Schema, deps)
	if err != nil {
		return nil, errInvalidSchema(err)
	}
	return &candidate{schemaType: schemaType, format: f, parsed: p}, nil
}

// sameSchema reports whether id holds c with refs.
func (r *Registry) sameSchema(id int, c *candidate, refs []Reference) bool {
	r.state.mu.RLock()
	e := r.state.ids[id]
	r.state.mu.RUnlock()
	if e == nil || e.schemaType != c.schemaType || !slices.Equal(e.refs, refs) {
		return false
	}
	p, err := r.parsedByID(id)
	return err == nil && p.canonical() == c.parsed.canonical()
}

// findInSubject returns subject's version holding c, or nil.
func (r *Registry) findInSubject(subject string, c *candidate, refs []Reference, deleted bool) *schemaValue {
	r.state.mu.RLock()
	versions := r.state.versionList(subject, deleted)
	r.state.mu.RUnlock()
	for i := len(versions) - 1; i >= 0; i-- {
		if r.sameSchema(versions[i].ID, c, refs) {
			return versions[i]
		}
	}
	return nil
}

// findID returns the id already bound to c, or 0.
func (r *Registry) findID(c *candidate, refs []Reference) int {
	r.state.mu.RLock()
	ids := make([]int, 0, len(r.state.ids))
	for id, e := range r.state.ids {
		if e.schemaType == c.schemaType {
			ids = append(ids, id)
		}
	}
	r.state.mu.RUnlock()
	slices.Sort(ids)
	for _, id := range ids {
		if r.sameSchema(id, c, refs) {
			return id
		}
	}
	return 0
}

// compatibilityErrors checks c against subject's live versions, all of
// them or only against (when given), at subject's level.
func (r *Registry) compatibilityErrors(subject string, c *candidate, against []*schemaValue, level string) ([]string, *Error) {
	var previous []parsedSchema
	for _, v := range against {
		if v.schemaType() != c.schemaType {
			return []string{fmt.Sprintf("Incompatible because of different schema type: version %d is %s, the new schema is %s", v.Version, v.schemaType(), c.schemaType)}, nil
		}
		p, err := r.parsedByID(v.ID)
		if err != nil {
			return nil, errStore(err)
		}
		previous = append(previous, p)
	}
	return checkCompatibility(c.format, level, c.parsed, previous), nil
}

// writable returns an error unless subject's mode accepts writes.
func (r *Registry) writable(subject string) *Error {
	r.state.mu.RLock()
	mode, _ := r.state.modeOf(subject, true)
	r.state.mu.RUnlock()
	if mode == modeReadOnly {
		return newError(codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return nil
}

// write runs prepare on the leader under the write lock after reading
// the log to its end, appends the records it returns, and waits until the
// state has applied them.
func (r *Registry) write(ctx context.Context, prepare func() ([]record, *Error)) *Error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	if err := r.syncToEnd(ctx); err != nil {
		return errStore(err)
	}
	recs, e := prepare()
	if e != nil || len(recs) == 0 {
		return e
	}
	last, err := r.log.Append(ctx, recs)
	if err != nil {
		return errStore(err)
	}
	if err := r.waitApplied(ctx, last+1); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return newError(codeOperationTimeout, "Write to the schemas topic timed out")
		}
		return errStore(err)
	}
	return nil
}

// register registers req under subject and returns its id.
func (r *Registry) register(ctx context.Context, subject string, req *registerRequest) (int, *Error) {
	if e := validSubject(subject); e != nil {
		return 0, e
	}
	var id, version int
	// written is the record this call appended, if any.
	var written *schemaValue
	e := r.write(ctx, func() ([]record, *Error) {
		written = nil
		r.state.mu.RLock()
		mode, _ := r.state.modeOf(subject, true)
		level, _ := r.state.compatibility(subject, true)
		r.state.mu.RUnlock()
		if mode == modeReadOnly {
			return nil, newError(codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
		}
		if req.ID > 0 && mode != modeImport {
			return nil, newError(codeOperationNotPermitted, "Subject %s is not in import mode", subject)
		}
		c, e := r.parseCandidate(req)
		if e != nil {
			return nil, e
		}
		refs := req.References
		if existing := r.findInSubject(subject, c, refs, false); existing != nil {
			if req.ID > 0 && req.ID != existing.ID {
				return nil, newError(codeIDDoesNotMatch, "Schema already registered with id %d instead of input id %d", existing.ID, req.ID)
			}
			id, version = existing.ID, existing.Version
			return nil, nil
		}
		if mode != modeImport {
			r.state.mu.RLock()
			live := r.state.versionList(subject, false)
			r.state.mu.RUnlock()
			msgs, e := r.compatibilityErrors(subject, c, live, level)
			if e != nil {
				return nil, e
			}
			if len(msgs) > 0 {
				return nil, incompatible(subject, msgs)
			}
		}
		id = r.findID(c, refs)
		switch {
		case req.ID > 0 && id > 0 && id != req.ID:
			return nil, newError(codeIDDoesNotMatch, "Schema already registered with id %d instead of input id %d", id, req.ID)
		case req.ID > 0:
			r.state.mu.RLock()
			taken := r.state.ids[req.ID] != nil
			r.state.mu.RUnlock()
			if taken && !r.sameSchema(req.ID, c, refs) {
				return nil, newError(codeIDDoesNotMatch, "Overwrite new schema with id %d is not permitted.", req.ID)
			}
			id = req.ID
		}
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		schemaText := req.Schema
		if e := r.state.ids[id]; e != nil {
			// An id is bound to one text; a differently written copy of the
			// same schema reuses it.
			schemaText = e.schema
		} else if id == 0 {
			id = r.state.maxID + 1
		}
		version = r.state.maxVersion(subject) + 1
		if req.Version > 0 && mode == modeImport {
			if r.state.subjects[subject][req.Version] != nil {
				return nil, newError(codeInvalidVersion, "Version %d already exists for subject %s", req.Version, subject)
			}
			version = req.Version
		}
		v := schemaValue{Subject: subject, Version: version, ID: id, References: refs, Schema: schemaText}
		if c.schemaType != formatAvro {
			v.SchemaType = c.schemaType
		}
		written = &v
		return []record{{key: schemaKey(subject, version), value: &v}}, nil
	})
	if e != nil {
		return 0, e
	}
	// Every instance applies the topic the same way and keeps the first
	// binding of an id and of a subject version: the registration holds
	// only if the record applied is the one written here, not one that
	// another writer appended first.
	r.state.mu.RLock()
	got := r.state.subjects[subject][version]
	r.state.mu.RUnlock()
	if got == nil || got.ID != id || written != nil && !sameRecord(got, written) {
		return 0, errStore(errors.New("the registration was overtaken by a concurrent writer; retry"))
	}
	return id, nil
}

// sameRecord reports whether applied carries the registration of written.
func sameRecord(applied, written *schemaValue) bool {
	return applied.ID == written.ID && applied.Schema == written.Schema &&
		applied.schemaType() == written.schemaType() && slices.Equal(applied.References, written.References)
}

func incompatible(subject string, msgs []string) *Error {
	return newError(codeIncompatibleSchema, "Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]", subject, strings.Join(msgs, ", "))
}

// validSubject rejects subjects Confluent rejects: empty ones and those
// with control characters.
func validSubject(subject string) *Error {
	if subject == "" || strings.ContainsFunc(subject, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return newError(codeInvalidSubject, "The specified subject '%s' is not a valid.", subject)
	}
	return nil
}

// deleteVersion deletes subject's version (soft unless permanent) and
// returns its number.
func (r *Registry) deleteVersion(ctx context.Context, subject string, ver versionSpec, permanent bool) (int, *Error) {
	var deleted int
	e := r.write(ctx, func() ([]record, *Error) {
		if e := r.writable(subject); e != nil {
			return nil, e
		}
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		if len(r.state.subjects[subject]) == 0 {
			return nil, errSubjectNotFound(subject)
		}
		var v *schemaValue
		if ver.latest {
			if permanent {
				all := r.state.versionList(subject, true)
				v = all[len(all)-1]
			} else {
				v = r.state.latest(subject)
			}
			if v == nil {
				return nil, errSubjectNotFound(subject)
			}
		} else {
			v = r.state.subjects[subject][ver.number]
			if v == nil {
				return nil, errVersionNotFound(ver.number)
			}
		}
		switch {
		case permanent && !v.Deleted:
			return nil, newError(codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.Version)
		case !permanent && v.Deleted:
			return nil, newError(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted.Set permanent=true to delete permanently", subject, v.Version)
		}
		if refs := r.state.referencedBy(subject, v.Version); len(refs) > 0 {
			return nil, newError(codeReferenceExists, "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", subject, v.Version)
		}
		deleted = v.Version
		if permanent {
			return []record{{key: schemaKey(subject, v.Version)}}, nil
		}
		soft := *v
		soft.Deleted = true
		return []record{{key: schemaKey(subject, v.Version), value: &soft}}, nil
	})
	return deleted, e
}

// deleteSubject deletes every version of subject (soft unless permanent)
// and returns their numbers.
func (r *Registry) deleteSubject(ctx context.Context, subject string, permanent bool) ([]int, *Error) {
	var deleted []int
	e := r.write(ctx, func() ([]record, *Error) {
		if e := r.writable(subject); e != nil {
			return nil, e
		}
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		all := r.state.versionList(subject, true)
		if len(all) == 0 {
			return nil, errSubjectNotFound(subject)
		}
		live := r.state.versionList(subject, false)
		switch {
		case permanent && len(live) > 0:
			return nil, newError(codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		case !permanent && len(live) == 0:
			return nil, newError(codeSubjectSoftDeleted, "Subject '%s' was soft deleted.Set permanent=true to delete permanently", subject)
		}
		var recs []record
		targets := live
		if permanent {
			targets = all
		}
		for _, v := range targets {
			if refs := r.state.referencedBy(subject, v.Version); len(refs) > 0 {
				return nil, newError(codeReferenceExists, "One or more references exist to the schema {magic=1,keytype=SCHEMA,subject=%s,version=%d}.", subject, v.Version)
			}
			deleted = append(deleted, v.Version)
			if permanent {
				recs = append(recs, record{key: schemaKey(subject, v.Version)})
				continue
			}
			soft := *v
			soft.Deleted = true
			recs = append(recs, record{key: schemaKey(subject, v.Version), value: &soft})
		}
		if permanent {
			if _, ok := r.state.config[subject]; ok {
				recs = append(recs, record{key: configKey(subject)})
			}
			if _, ok := r.state.mode[subject]; ok {
				recs = append(recs, record{key: modeKey(subject)})
			}
		}
		return recs, nil
	})
	return deleted, e
}

// setConfig sets subject's compatibility level ("" for global).
func (r *Registry) setConfig(ctx context.Context, subject, level string) *Error {
	return r.write(ctx, func() ([]record, *Error) {
		if subject != "" {
			if e := validSubject(subject); e != nil {
				return nil, e
			}
		}
		return []record{{key: configKey(subject), value: &configValue{CompatibilityLevel: level}}}, nil
	})
}

// deleteConfig removes subject's level ("" resets the global one) and
// returns the level it had.
func (r *Registry) deleteConfig(ctx context.Context, subject string) (string, *Error) {
	var prev string
	e := r.write(ctx, func() ([]record, *Error) {
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		if subject != "" && len(r.state.subjects[subject]) == 0 {
			return nil, errSubjectNotFound(subject)
		}
		prev, _ = r.state.compatibility(subject, true)
		if _, ok := r.state.config[subject]; !ok {
			return nil, nil
		}
		return []record{{key: configKey(subject)}}, nil
	})
	return prev, e
}

// setMode sets subject's mode ("" for global). IMPORT needs an empty
// subject (or registry) unless force is set.
func (r *Registry) setMode(ctx context.Context, subject, mode string, force bool) *Error {
	return r.write(ctx, func() ([]record, *Error) {
		if subject != "" {
			if e := validSubject(subject); e != nil {
				return nil, e
			}
		}
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		if mode == modeImport && !force {
			nonEmpty := len(r.state.subjects) > 0
			if subject != "" {
				nonEmpty = len(r.state.subjects[subject]) > 0
			}
			if nonEmpty {
				return nil, newError(codeOperationNotPermitted, "Cannot import since found existing subjects")
			}
		}
		return []record{{key: modeKey(subject), value: &modeValue{Mode: mode}}}, nil
	})
}

// deleteMode removes subject's mode ("" resets the global one) and
// returns the mode it had.
func (r *Registry) deleteMode(ctx context.Context, subject string) (string, *Error) {
	var prev string
	e := r.write(ctx, func() ([]record, *Error) {
		r.state.mu.RLock()
		defer r.state.mu.RUnlock()
		if subject != "" && len(r.state.subjects[subject]) == 0 {
			if _, ok := r.state.mode[subject]; !ok {
				return nil, errSubjectNotFound(subject)
			}
		}
		prev, _ = r.state.modeOf(subject, true)
		if _, ok := r.state.mode[subject]; !ok {
			return nil, nil
		}
		return []record{{key: modeKey(subject)}}, nil
	})
	return prev, e
}
