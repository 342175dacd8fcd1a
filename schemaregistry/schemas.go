package schemaregistry

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The schemas resource: GET /schemas/ids/{id} and its /schema, /versions
// and /subjects, and GET /schemas/types.
func (r *Registry) routeSchemas(mux *http.ServeMux) {
	mux.HandleFunc("GET /schemas/types", r.schemaTypes)
	mux.HandleFunc("GET /schemas/ids/{id}", r.getSchemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/schema", r.getRawSchemaByID)
	mux.HandleFunc("GET /schemas/ids/{id}/versions", r.getSchemaVersions)
	mux.HandleFunc("GET /schemas/ids/{id}/subjects", r.getSchemaSubjects)
}

// catchUpTimeout bounds the read to the log's end before answering that
// an id is unknown.
const catchUpTimeout = 5 * time.Second

// schemaResponse is a schema by id as the API returns it; schemaType is
// left out for AVRO, as Confluent does.
type schemaResponse struct {
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func (r *Registry) schemaTypes(w http.ResponseWriter, _ *http.Request) {
	out := []string{}
	for _, name := range formatNames {
		if _, ok := formats[name]; ok {
			out = append(out, name)
		}
	}
	writeJSON(w, out)
}

// findID resolves the {id} path value to its entry, copied under the
// state lock.
func (r *Registry) findIDEntry(req *http.Request) (int, *idEntry, []subjectVersion, *Error) {
	raw := req.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 32)
	if err != nil || id < 1 {
		return 0, nil, nil, newError(codeSchemaNotFound, "Schema %s not found", raw)
	}
	deleted := boolParam(req, "deleted")
	r.state.mu.RLock()
	known := r.state.ids[int(id)] != nil
	r.state.mu.RUnlock()
	if !known {
		// The id may have just been registered through another instance:
		// a deserializer asks for it right after a serializer got it.
		// Catch up with the log once before answering that it is missing.
		ctx, cancel := context.WithTimeout(req.Context(), catchUpTimeout)
		err := r.syncToEnd(ctx)
		cancel()
		if err != nil {
			r.logger.Debug("catching up before answering an unknown id", "id", id, "err", err)
		}
	}
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	e := r.state.ids[int(id)]
	if e == nil {
		return 0, nil, nil, errSchemaIDNotFound(int(id))
	}
	var users []subjectVersion
	for sv := range e.users {
		if v := r.state.subjects[sv.Subject][sv.Version]; v != nil && (deleted || !v.Deleted) {
			users = append(users, sv)
		}
	}
	slices.SortFunc(users, func(a, b subjectVersion) int {
		if a.Subject != b.Subject {
			if a.Subject < b.Subject {
				return -1
			}
			return 1
		}
		return a.Version - b.Version
	})
	cp := *e
	return int(id), &cp, users, nil
}

func (r *Registry) getSchemaByID(w http.ResponseWriter, req *http.Request) {
	id, e, _, err := r.findIDEntry(req)
	if err != nil {
		writeError(w, err)
		return
	}
	text, err := r.formatted(req, id, e.schemaType, e.schema)
	if err != nil {
		writeError(w, err)
		return
	}
	resp := schemaResponse{References: e.refs, Schema: text}
	if e.schemaType != formatAvro {
		resp.SchemaType = e.schemaType
	}
	writeJSON(w, resp)
}

// formatted returns schema (of id) in the form ?format= asks for. For
// PROTOBUF, format=serialized is the FileDescriptorProto in base64, which
// Confluent's Python and Go deserializers ask for whatever form the schema
// was registered in; otherwise the text is answered as registered.
func (r *Registry) formatted(req *http.Request, id int, schemaType, schema string) (string, *Error) {
	if schemaType != formatProtobuf || req.URL.Query().Get("format") != "serialized" {
		return schema, nil
	}
	p, err := r.parsedByID(id)
	if err != nil {
		return "", newError(codeStoreError, "Error while parsing schema %d: %v", id, err)
	}
	text, err := p.(*protobufSchema).serialized()
	if err != nil {
		return "", newError(codeStoreError, "Error while serializing schema %d: %v", id, err)
	}
	return text, nil
}

func (r *Registry) getRawSchemaByID(w http.ResponseWriter, req *http.Request) {
	_, e, _, err := r.findIDEntry(req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeRawSchema(w, e.schema)
}

func (r *Registry) getSchemaVersions(w http.ResponseWriter, req *http.Request) {
	_, _, users, err := r.findIDEntry(req)
	if err != nil {
		writeError(w, err)
		return
	}
	if users == nil {
		users = []subjectVersion{}
	}
	writeJSON(w, users)
}

func (r *Registry) getSchemaSubjects(w http.ResponseWriter, req *http.Request) {
	_, _, users, err := r.findIDEntry(req)
	if err != nil {
		writeError(w, err)
		return
	}
	out := []string{}
	for _, u := range users {
		if !slices.Contains(out, u.Subject) {
			out = append(out, u.Subject)
		}
	}
	writeJSON(w, out)
}
