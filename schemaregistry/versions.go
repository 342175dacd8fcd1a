package schemaregistry

import (
	"net/http"
)

// The versions resource: GET and POST /subjects/{subject}/versions, GET
// and DELETE /subjects/{subject}/versions/{version}, and its /schema and
// /referencedby.
func (r *Registry) routeVersions(mux *http.ServeMux) {
	mux.HandleFunc("GET /subjects/{subject}/versions", r.listVersions)
	mux.HandleFunc("POST /subjects/{subject}/versions", r.handleRegister)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}", r.getVersion)
	mux.HandleFunc("DELETE /subjects/{subject}/versions/{version}", r.handleDeleteVersion)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/schema", r.getVersionSchema)
	mux.HandleFunc("GET /subjects/{subject}/versions/{version}/referencedby", r.getReferencedBy)
}

func (r *Registry) listVersions(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.state.mu.RLock()
	versions := r.state.versionList(subject, boolParam(req, "deleted"))
	r.state.mu.RUnlock()
	if len(versions) == 0 {
		writeError(w, errSubjectNotFound(subject))
		return
	}
	out := make([]int, len(versions))
	for i, v := range versions {
		out[i] = v.Version
	}
	writeJSON(w, out)
}

// registerResponse is the answer to a registration.
type registerResponse struct {
	ID int `json:"id"`
}

func (r *Registry) handleRegister(w http.ResponseWriter, req *http.Request) {
	r.leaderOr(w, req, func() {
		var body registerRequest
		if e := readBody(req, &body); e != nil {
			writeError(w, e)
			return
		}
		id, e := r.register(req.Context(), req.PathValue("subject"), &body)
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, registerResponse{ID: id})
	})
}

// findVersion resolves the {subject} and {version} path values; soft-
// deleted versions count only with ?deleted=true.
func (r *Registry) findVersion(req *http.Request) (*schemaValue, *Error) {
	subject := req.PathValue("subject")
	spec, e := parseVersion(req.PathValue("version"))
	if e != nil {
		return nil, e
	}
	deleted := boolParam(req, "deleted")
	r.state.mu.RLock()
	defer r.state.mu.RUnlock()
	versions := r.state.versionList(subject, deleted)
	if len(versions) == 0 {
		return nil, errSubjectNotFound(subject)
	}
	if spec.latest {
		return versions[len(versions)-1], nil
	}
	for _, v := range versions {
		if v.Version == spec.number {
			return v, nil
		}
	}
	return nil, errVersionNotFound(spec.number)
}

func (r *Registry) getVersion(w http.ResponseWriter, req *http.Request) {
	v, e := r.findVersion(req)
	if e != nil {
		writeError(w, e)
		return
	}
	resp := newVersionResponse(v)
	if resp.Schema, e = r.formatted(req, v.ID, v.schemaType(), v.Schema); e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, resp)
}

// getVersionSchema answers the schema text alone, unescaped.
func (r *Registry) getVersionSchema(w http.ResponseWriter, req *http.Request) {
	v, e := r.findVersion(req)
	if e != nil {
		writeError(w, e)
		return
	}
	writeRawSchema(w, v.Schema)
}

func writeRawSchema(w http.ResponseWriter, schema string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(schema))
}

func (r *Registry) getReferencedBy(w http.ResponseWriter, req *http.Request) {
	v, e := r.findVersion(req)
	if e != nil {
		writeError(w, e)
		return
	}
	r.state.mu.RLock()
	ids := r.state.referencedBy(v.Subject, v.Version)
	r.state.mu.RUnlock()
	if ids == nil {
		ids = []int{}
	}
	writeJSON(w, ids)
}

func (r *Registry) handleDeleteVersion(w http.ResponseWriter, req *http.Request) {
	r.leaderOr(w, req, func() {
		spec, e := parseVersion(req.PathValue("version"))
		if e != nil {
			writeError(w, e)
			return
		}
		version, e := r.deleteVersion(req.Context(), req.PathValue("subject"), spec, boolParam(req, "permanent"))
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, version)
	})
}
