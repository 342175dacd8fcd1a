package schemaregistry

import (
	"net/http"
	"slices"
	"strings"
)

// The subjects resource: GET /subjects, POST /subjects/{subject} (look a
// schema up under a subject) and DELETE /subjects/{subject}.
func (r *Registry) routeSubjects(mux *http.ServeMux) {
	mux.HandleFunc("GET /subjects", r.listSubjects)
	mux.HandleFunc("POST /subjects/{subject}", r.lookupSchema)
	mux.HandleFunc("DELETE /subjects/{subject}", r.handleDeleteSubject)
}

// versionResponse is a subject version as the API returns it.
type versionResponse struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Schema     string      `json:"schema"`
}

func newVersionResponse(v *schemaValue) versionResponse {
	return versionResponse{Subject: v.Subject, Version: v.Version, ID: v.ID, SchemaType: v.SchemaType, References: v.References, Schema: v.Schema}
}

// listSubjects lists subjects with a live version; ?deleted=true adds
// those whose versions are all soft-deleted; ?subjectPrefix= filters.
func (r *Registry) listSubjects(w http.ResponseWriter, req *http.Request) {
	deleted := boolParam(req, "deleted")
	prefix := req.URL.Query().Get("subjectPrefix")
	r.state.mu.RLock()
	out := []string{}
	for s := range r.state.subjects {
		if strings.HasPrefix(s, prefix) && len(r.state.versionList(s, deleted)) > 0 {
			out = append(out, s)
		}
	}
	r.state.mu.RUnlock()
	slices.Sort(out)
	writeJSON(w, out)
}

// lookupSchema answers whether a schema is registered under a subject,
// with the version holding it.
func (r *Registry) lookupSchema(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	var body registerRequest
	if e := readBody(req, &body); e != nil {
		writeError(w, e)
		return
	}
	deleted := boolParam(req, "deleted")
	r.state.mu.RLock()
	exists := len(r.state.versionList(subject, deleted)) > 0
	r.state.mu.RUnlock()
	if !exists {
		writeError(w, errSubjectNotFound(subject))
		return
	}
	c, e := r.parseCandidate(&body)
	if e != nil {
		writeError(w, e)
		return
	}
	v := r.findInSubject(subject, c, body.References, deleted)
	if v == nil {
		writeError(w, errSchemaNotFound())
		return
	}
	writeJSON(w, newVersionResponse(v))
}

// handleDeleteSubject deletes every version of a subject; ?permanent=true
// hard-deletes a soft-deleted subject. It answers the deleted versions.
func (r *Registry) handleDeleteSubject(w http.ResponseWriter, req *http.Request) {
	r.leaderOr(w, req, func() {
		versions, e := r.deleteSubject(req.Context(), req.PathValue("subject"), boolParam(req, "permanent"))
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, versions)
	})
}
