package schemaregistry

import (
	"net/http"
)

// The mode resource: GET, PUT and DELETE /mode and /mode/{subject}.
// Modes are READWRITE, READONLY and IMPORT.
func (r *Registry) routeMode(mux *http.ServeMux) {
	mux.HandleFunc("GET /mode", r.getMode)
	mux.HandleFunc("PUT /mode", r.putMode)
	mux.HandleFunc("DELETE /mode", r.handleDeleteMode)
	mux.HandleFunc("GET /mode/{subject}", r.getMode)
	mux.HandleFunc("PUT /mode/{subject}", r.putMode)
	mux.HandleFunc("DELETE /mode/{subject}", r.handleDeleteMode)
}

// modeBody is the body of PUT and every answer.
type modeBody struct {
	Mode string `json:"mode"`
}

func (r *Registry) getMode(w http.ResponseWriter, req *http.Request) {
	subject := req.PathValue("subject")
	r.state.mu.RLock()
	mode, ok := r.state.modeOf(subject, subject == "" || boolParam(req, "defaultToGlobal"))
	r.state.mu.RUnlock()
	if !ok {
		writeError(w, newError(codeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject))
		return
	}
	writeJSON(w, modeBody{Mode: mode})
}

// putMode sets a mode; IMPORT needs no existing schemas unless
// ?force=true.
func (r *Registry) putMode(w http.ResponseWriter, req *http.Request) {
	r.leaderOr(w, req, func() {
		var body modeBody
		if e := readBody(req, &body); e != nil {
			writeError(w, e)
			return
		}
		mode, ok := parseMode(body.Mode)
		if !ok {
			writeError(w, errInvalidMode())
			return
		}
		if e := r.setMode(req.Context(), req.PathValue("subject"), mode, boolParam(req, "force")); e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, modeBody{Mode: mode})
	})
}

func (r *Registry) handleDeleteMode(w http.ResponseWriter, req *http.Request) {
	r.leaderOr(w, req, func() {
		prev, e := r.deleteMode(req.Context(), req.PathValue("subject"))
		if e != nil {
			writeError(w, e)
			return
		}
		writeJSON(w, modeBody{Mode: prev})
	})
}
