package schemaregistry

import (
	"net/http"
)

// The compatibility resource: POST
// /compatibility/subjects/{subject}/versions/{version} tests a schema
// against one version; POST /compatibility/subjects/{subject}/versions
// against the versions the subject's level names (the latest, or all for
// the transitive levels). ?verbose=true adds the reasons.
func (r *Registry) routeCompatibility(mux *http.ServeMux) {
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions/{version}", r.testCompatibility)
	mux.HandleFunc("POST /compatibility/subjects/{subject}/versions", r.testCompatibility)
}

// compatibilityResponse is the answer; Messages only with ?verbose=true.
type compatibilityResponse struct {
	IsCompatible bool      `json:"is_compatible"`
	Messages     *[]string `json:"messages,omitempty"`
}

func (r *Registry) testCompatibility(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	var body registerRequest
	if e := readBody(req, &body); e != nil {
		writeError(w, e)
		return
	}
	var against []*schemaValue
	if req.PathValue("version") != "" {
		v, e := r.findVersion(req)
		if e != nil {
			writeError(w, e)
			return
		}
		against = []*schemaValue{v}
	} else {
		r.state.mu.RLock()
		against = r.state.versionList(subject, false)
		r.state.mu.RUnlock()
	}
	c, e := r.parseCandidate(&body)
	if e != nil {
		writeError(w, e)
		return
	}
	r.state.mu.RLock()
	level, _ := r.state.compatibility(subject, true)
	r.state.mu.RUnlock()
	msgs, e := r.compatibilityErrors(subject, c, against, level)
	if e != nil {
		writeError(w, e)
		return
	}
	resp := compatibilityResponse{IsCompatible: len(msgs) == 0}
	if boolParam(req, "verbose") {
		if msgs == nil {
			msgs = []string{}
		}
		resp.Messages = &msgs
	}
	writeJSON(w, resp)
}
