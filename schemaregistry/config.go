package schemaregistry

import (
	"net/http"
)

// The config resource: GET, PUT and DELETE /config and /config/{subject}.
func (r *Registry) routeConfig(mux *http.ServeMux) {
	mux.HandleFunc("GET /config", r.getConfig)
	mux.HandleFunc("PUT /config", r.putConfig)
	mux.HandleFunc("DELETE /config", r.handleDeleteConfig)
	mux.HandleFunc("GET /config/{subject}", r.getConfig)
	mux.HandleFunc("PUT /config/{subject}", r.putConfig)
	mux.HandleFunc("DELETE /config/{subject}", r.handleDeleteConfig)
}

// configResponse is what GET and DELETE answer.
type configResponse struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// configRequest is the body of PUT, and its answer.
type configRequest struct {
	Compatibility string `json:"compatibility"`
}

// getConfig answers a subject's level; without one it is 40408 unless
// ?defaultToGlobal=true. The global level always answers.
func (r *Registry) getConfig(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.state.mu.RLock()
	level, ok := r.state.compatibility(subject, subject == "" || boolParam(req, "defaultToGlobal"))
	r.state.mu.RUnlock()
	if !ok {
		writeError(w, newError(codeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject))
		return
	}
	writeJSON(w, configResponse{CompatibilityLevel: level})
}

func (r *Registry) putConfig(w http.ResponseWriter, req *http.Request) {
	r.leaderOr(w, req, func() {
		var body configRequest
		if e := readBody(req, &body); e != nil {
			writeError(w, e)
			return
		}
		level, ok := parseCompatibility(body.Compatibility)
		if !ok {
			writeError(w, errInvalidCompatibility())
			return
		}
		if e := r.setConfig(req.Context(), req.PathValue("subject"), level); e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, configRequest{Compatibility: level})
	})
}

func (r *Registry) handleDeleteConfig(w http.ResponseWriter, req *http.Request) {
	r.leaderOr(w, req, func() {
		prev, e := r.deleteConfig(req.Context(), req.PathValue("subject"))
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, configResponse{CompatibilityLevel: prev})
	})
}
