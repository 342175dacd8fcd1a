package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// contentType is the media type of every JSON response, Confluent's.
const contentType = "application/vnd.schemaregistry.v1+json"

// forwardedHeader marks a write forwarded by another instance, so that a
// write is forwarded at most once.
const forwardedHeader = "X-Skein-Registry-Forwarded"

// maxBodyBytes caps request bodies.
const maxBodyBytes = 16 << 20

// Handler returns the REST API. Each resource registers its routes from
// its own file.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	r.routeRoot(mux)
	r.routeSubjects(mux)
	r.routeVersions(mux)
	r.routeSchemas(mux)
	r.routeConfig(mux)
	r.routeMode(mux)
	r.routeCompatibility(mux)
	return r.secure(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// ServeMux answers unknown paths and methods in plain text; the
		// registry answers them in its JSON error form.
		h, pattern := mux.Handler(req)
		if pattern == "" {
			rec := &statusRecorder{header: http.Header{}}
			h.ServeHTTP(rec, req)
			if rec.status == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", rec.header.Get("Allow"))
				writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed, Message: "HTTP 405 Method Not Allowed"})
				return
			}
			writeError(w, &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "HTTP 404 Not Found"})
			return
		}
		mux.ServeHTTP(w, req)
	}))
}

// statusRecorder captures ServeMux's own answer to an unmatched request.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(status int)      { s.status = status }

func (r *Registry) routeRoot(mux *http.ServeMux) {
	root := func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, struct{}{}) }
	mux.HandleFunc("GET /{$}", root)
	mux.HandleFunc("POST /{$}", root)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, newError(codeInternalServerError, "encoding the response: %v", err))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func writeError(w http.ResponseWriter, e *Error) {
	b, _ := json.Marshal(e)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(e.Status)
	w.Write(b)
}

// readBody decodes a JSON request body into v, accepting the registry's
// media types, application/json and none.
func readBody(req *http.Request, v any) *Error {
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || mt == "application/octet-stream" ||
			strings.HasPrefix(mt, "application/vnd.schemaregistry")) {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: codeUnsupportedMediaType, Message: "HTTP 415 Unsupported Media Type"}
		}
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: codeBadRequest, Message: err.Error()}
	}
	if len(body) > maxBodyBytes {
		return newError(codeUnprocessableEntity, "request body exceeds %d bytes", maxBodyBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return errUnprocessable(fmt.Errorf("Unrecognized request body: %v", err))
	}
	return nil
}

// boolParam reads a true/false query parameter.
func boolParam(req *http.Request, name string) bool {
	b, _ := strconv.ParseBool(req.URL.Query().Get(name))
	return b
}

// versionSpec is a parsed {version} path element: "latest", -1, or a
// number in [1, 2^31-1].
type versionSpec struct {
	latest bool
	number int
}

func parseVersion(s string) (versionSpec, *Error) {
	if s == "latest" || s == "-1" {
		return versionSpec{latest: true}, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 {
		return versionSpec{}, errInvalidVersion(s)
	}
	return versionSpec{number: int(n)}, nil
}

// leaderOr runs write on the writer. On any other instance it forwards
// the request to the writer, relays the answer, and then reads the log to
// its end so that this instance shows the write at once.
func (r *Registry) leaderOr(w http.ResponseWriter, req *http.Request, write func()) {
	self, url, known := r.elector.Leader()
	if self {
		write()
		return
	}
	if !known {
		writeError(w, newError(codeUnknownLeader, "Request forwarding failed: no schema registry instance is elected to accept writes"))
		return
	}
	if req.Header.Get(forwardedHeader) != "" {
		writeError(w, newError(codeRequestForwardingFailed, "Request forwarding failed: this instance is not the writer"))
		return
	}
	if e := r.forward(w, req, url); e != nil {
		writeError(w, e)
	}
}

func (r *Registry) forward(w http.ResponseWriter, req *http.Request, leaderURL string) *Error {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Code: codeBadRequest, Message: err.Error()}
	}
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.RequestTimeout)
	defer cancel()
	out, err := http.NewRequestWithContext(ctx, req.Method, strings.TrimRight(leaderURL, "/")+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return newError(codeRequestForwardingFailed, "Error while forwarding the request to the leader: %v", err)
	}
	out.Header.Set("Content-Type", contentType)
	out.Header.Set("Accept", contentType)
	out.Header.Set(forwardedHeader, "1")
	if a := req.Header.Get("Authorization"); a != "" {
		// The writer authenticates the caller again, as Confluent's
		// forwarding does.
		out.Header.Set("Authorization", a)
	}
	resp, err := r.client.Do(out)
	if err != nil {
		return newError(codeRequestForwardingFailed, "Error while forwarding the request to the leader: %v", err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		return newError(codeRequestForwardingFailed, "Error while reading the leader's answer: %v", err)
	}
	if resp.StatusCode == http.StatusOK {
		if err := r.syncToEnd(ctx); err != nil && !errors.Is(err, context.Canceled) {
			r.logger.Warn("reading the schemas topic after a forwarded write", "err", err)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
	return nil
}
