// Package admin serves the operator API under /admin/ as a standard
// net/http Handler: backend state, drain and undrain, configuration reload
// and the effective (masked) configuration; and, when the Source also
// implements Manager, the configuration history with diff and rollback,
// dry-run validation, backends and API keys changed at run time, and usage
// statistics per key and per backend.
//
// The app serves the Handler either on the main listener or on a listener of
// its own (admin.bind_address). The package reads and changes the router's
// state only through the Source interface, which the app implements, so it
// depends on no other stage.
//
// # Authentication
//
// The admin API never answers without valid credentials. Every request,
// including one for an unknown path, is authenticated first, with the method
// of the admin.auth block (see Auth):
//
//   - bearer_token: "Authorization: Bearer <token>";
//   - basic: HTTP Basic authentication with a username and password;
//   - api_key: "X-API-Key: <token>".
//
// Missing or wrong credentials get 401 with a WWW-Authenticate challenge and
// the OpenAI error envelope of type "authentication_error". Credentials are
// compared in constant time on their SHA-256 digests, so neither their
// content nor their length leaks through timing, and they are never logged.
//
// The admin API is disabled when the method is "none", when the method needs
// a credential that is empty (a bearer or API-key token of "", a basic
// username or password of "", typically from an unset ${VAR}), or when no
// Auth is configured at all. A disabled admin API answers every request with
// 403 and a "permission_error" explaining how to enable it. This is
// deliberate: an empty credential must never turn into an open door, and
// "none" does not mean "no authentication" but "no admin API", so that a
// mutating endpoint is never reachable anonymously.
//
// # Responses
//
// Every response is JSON (Content-Type: application/json) and is not cached
// (Cache-Control: no-store). Errors use the OpenAI envelope
// {"error":{"message","type","param","code"}}: 404 for unknown paths and
// backends, 405 with an Allow header for a wrong method, 422 with code
// "invalid_config" when a reload fails (the message holds the file:line:col
// diagnostics). Drain, undrain and reload are logged at info level with the
// caller's remote address.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
)

// Backend is one backend as the admin API shows it.
type Backend struct {
	// Name is the backend's unique name.
	Name string `json:"name"`
	// Type is the backend's dialect, e.g. "vllm" or "ollama".
	Type string `json:"type"`
	// URL is the configured base URL.
	URL string `json:"url"`
	// Weight is the weight used by weighted policies.
	Weight int `json:"weight"`
	// Models lists the models the backend serves (static or discovered).
	// The handler shows nil as an empty list.
	Models []string `json:"models"`
	// Health is ready, warming_up, down or unknown.
	Health string `json:"health"`
	// Breaker is the circuit breaker state: closed, open, half_open or disabled.
	Breaker string `json:"circuit_breaker"`
	// BreakerOpenUntil is when an open breaker lets a probe through; nil
	// when the breaker is not open.
	BreakerOpenUntil *time.Time `json:"circuit_breaker_open_until,omitempty"`
	// InFlight is the number of requests currently sent to the backend.
	InFlight int64 `json:"in_flight"`
	// ErrorRate is the recent failure rate in [0, 1].
	ErrorRate float64 `json:"error_rate"`
	// Requests counts the attempts sent since start.
	Requests uint64 `json:"requests"`
	// Failures counts the failed attempts since start.
	Failures uint64 `json:"failures"`
	// Drained reports whether an operator drained the backend.
	Drained bool `json:"drained"`
	// CooldownUntil is the end of a capacity cooldown (after a 429 or a 503
	// with Retry-After); nil when there is none.
	CooldownUntil *time.Time `json:"cooldown_until,omitempty"`
	// LatencyMS is the recent latency (time to first token or response) in
	// milliseconds; 0 before the first observation.
	LatencyMS float64 `json:"latency_ms"`
}

// Source is what the admin API reads and changes; the app implements it.
// Its methods are called concurrently.
type Source interface {
	// Backends returns every configured backend, in configuration order.
	Backends() []Backend
	// SetDrained drains (true) or undrains (false) the named backend. It
	// returns an error wrapping ErrNotFound for an unknown name.
	SetDrained(name string, drained bool) error
	// Reload re-reads the configuration file and applies it. On failure the
	// running configuration is kept and the error text holds one
	// "file:line:col: message" line per problem. Reload logs its own
	// failures: the handler sends the error to the caller and does not log
	// it again.
	Reload(ctx context.Context) error
	// Config returns the effective configuration with every secret masked.
	// It must marshal to JSON.
	Config() any
}

// Errors a Source wraps to choose the answer's status.
var (
	// ErrNotFound: an unknown backend, key or version (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalidConfig: the configuration the change would make is invalid;
	// the error text holds every problem as file:line:col lines (422).
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrConflict: the change conflicts with what exists (409).
	ErrConflict = errors.New("conflict")
	// ErrBadRequest: the request is malformed (400).
	ErrBadRequest = errors.New("bad request")
)

// Options configure the Handler.
type Options struct {
	// Auth returns the current admin.auth block. It is called on every
	// request, so a configuration reload applies at once. If nil, the admin
	// API is disabled and every request gets 403.
	Auth func() Auth
	// Logger receives a line for every mutating call and every failed
	// authentication. If nil, nothing is logged.
	Logger *slog.Logger
}

// Route is one operation of the admin API.
type Route struct {
	// Method is the HTTP method, e.g. "GET".
	Method string
	// Path is the path pattern, with "{name}" standing for a backend name.
	Path string
}

// Routes lists every route the Handler serves, for documentation and for
// tests that keep the OpenAPI document in sync.
func Routes() []Route {
	return []Route{
		{http.MethodGet, "/admin/backends"},
		{http.MethodPost, "/admin/backends"},
		{http.MethodGet, "/admin/backends/{name}"},
		{http.MethodPut, "/admin/backends/{name}"},
		{http.MethodDelete, "/admin/backends/{name}"},
		{http.MethodPost, "/admin/backends/{name}/drain"},
		{http.MethodPost, "/admin/backends/{name}/undrain"},
		{http.MethodGet, "/admin/config"},
		{http.MethodPost, "/admin/config/reload"},
		{http.MethodGet, "/admin/config/history"},
		{http.MethodGet, "/admin/config/history/{id}"},
		{http.MethodGet, "/admin/config/diff"},
		{http.MethodPost, "/admin/config/rollback/{id}"},
		{http.MethodPost, "/admin/config/validate"},
		{http.MethodPost, "/admin/keys"},
		{http.MethodDelete, "/admin/keys/{id}"},
		{http.MethodGet, "/admin/stats"},
	}
}

// Error codes of the admin API, in addition to the openai package's.
const (
	codeBackendNotFound    = "backend_not_found"
	codeInvalidConfig      = "invalid_config"
	codeAdminDisabled      = "admin_disabled"
	codeMissingCredentials = "missing_credentials"
	codeInvalidCredentials = "invalid_credentials"
)

// Handler returns the admin API over src. It serves the paths listed by
// Routes and answers every other path with 404, after authentication.
func Handler(src Source, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &handler{src: src, auth: opts.Auth, log: log}
}

type handler struct {
	src  Source
	auth func() Auth
	log  *slog.Logger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !h.authenticate(w, r) {
		return
	}
	seg, ok := segments(r.URL)
	if !ok {
		h.notFound(w)
		return
	}
	switch {
	case len(seg) == 1 && seg[0] == "backends":
		switch allowAny(w, r, http.MethodGet, http.MethodPost) {
		case http.MethodGet:
			h.list(w)
		case http.MethodPost:
			h.addBackend(w, r)
		}
	case len(seg) == 2 && seg[0] == "backends":
		switch allowAny(w, r, http.MethodGet, http.MethodPut, http.MethodDelete) {
		case http.MethodGet:
			h.one(w, seg[1])
		case http.MethodPut:
			h.updateBackend(w, r, seg[1])
		case http.MethodDelete:
			h.removeBackend(w, r, seg[1])
		}
	case len(seg) == 3 && seg[0] == "backends" && (seg[2] == "drain" || seg[2] == "undrain"):
		if allow(w, r, http.MethodPost) {
			h.drain(w, r, seg[1], seg[2] == "drain")
		}
	case len(seg) == 1 && seg[0] == "config":
		if allow(w, r, http.MethodGet) {
			h.config(w)
		}
	case len(seg) == 2 && seg[0] == "config" && seg[1] == "reload":
		if allow(w, r, http.MethodPost) {
			h.reload(w, r)
		}
	case len(seg) == 2 && seg[0] == "config" && seg[1] == "history":
		if allow(w, r, http.MethodGet) {
			h.history(w)
		}
	case len(seg) == 3 && seg[0] == "config" && seg[1] == "history":
		if allow(w, r, http.MethodGet) {
			h.version(w, seg[2])
		}
	case len(seg) == 2 && seg[0] == "config" && seg[1] == "diff":
		if allow(w, r, http.MethodGet) {
			h.diff(w, r)
		}
	case len(seg) == 3 && seg[0] == "config" && seg[1] == "rollback":
		if allow(w, r, http.MethodPost) {
			h.rollback(w, r, seg[2])
		}
	case len(seg) == 2 && seg[0] == "config" && seg[1] == "validate":
		if allow(w, r, http.MethodPost) {
			h.validate(w, r)
		}
	case len(seg) == 1 && seg[0] == "keys":
		if allow(w, r, http.MethodPost) {
			h.createKey(w, r)
		}
	case len(seg) == 2 && seg[0] == "keys":
		if allow(w, r, http.MethodDelete) {
			h.revokeKey(w, r, seg[1])
		}
	case len(seg) == 1 && seg[0] == "stats":
		if allow(w, r, http.MethodGet) {
			h.stats(w)
		}
	default:
		h.notFound(w)
	}
}

// segments splits the path below /admin/ into unescaped segments, so that a
// backend name may hold an escaped "/". It reports false for a path outside
// /admin/ or with an empty or malformed segment.
func segments(u *url.URL) ([]string, bool) {
	rest, ok := strings.CutPrefix(u.EscapedPath(), "/admin/")
	if !ok || rest == "" {
		return nil, false
	}
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" {
			return nil, false
		}
		seg[i] = v
	}
	return seg, true
}

// allow reports whether r uses method (HEAD counting as GET); otherwise it
// answers 405 with an Allow header. The message is fixed: it never repeats
// the request's method or path.
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	allowed := method
	if method == http.MethodGet {
		allowed = "GET, HEAD"
	}
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, openai.ErrorForStatus(http.StatusMethodNotAllowed,
		"this method is not allowed here; use "+method))
	return false
}

// allowAny returns the method of r when it is one of methods (HEAD counting
// as GET); otherwise it answers 405 with an Allow header and a fixed
// message, and returns "".
func allowAny(w http.ResponseWriter, r *http.Request, methods ...string) string {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return m
		}
	}
	allowed := strings.Join(methods, ", ")
	if methods[0] == http.MethodGet {
		allowed = strings.Replace(allowed, "GET", "GET, HEAD", 1)
	}
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, openai.ErrorForStatus(http.StatusMethodNotAllowed,
		"this method is not allowed here; use "+strings.Join(methods, " or ")))
	return ""
}

func (h *handler) list(w http.ResponseWriter) {
	all := h.src.Backends()
	out := make([]Backend, len(all))
	for i, b := range all {
		out[i] = normalize(b)
	}
	writeJSON(w, http.StatusOK, struct {
		Backends []Backend `json:"backends"`
	}{out})
}

func (h *handler) one(w http.ResponseWriter, name string) {
	b, ok := h.find(name)
	if !ok {
		writeBackendNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (h *handler) drain(w http.ResponseWriter, r *http.Request, name string, drained bool) {
	action := "undrain"
	if drained {
		action = "drain"
	}
	log := h.log.With("action", action, "backend", name, "remote", r.RemoteAddr)
	if err := h.src.SetDrained(name, drained); err != nil {
		if errors.Is(err, ErrNotFound) {
			log.Info("admin: backend not found")
			writeBackendNotFound(w, name)
			return
		}
		log.Error("admin: drain failed", "error", err)
		writeError(w, http.StatusInternalServerError, openai.NewError(openai.TypeServer, "", "",
			fmt.Sprintf("%s %q: %v", action, name, err)))
		return
	}
	log.Info("admin: backend " + action + "ed")
	b, ok := h.find(name)
	if !ok { // removed by a reload in between
		writeBackendNotFound(w, name)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (h *handler) reload(w http.ResponseWriter, r *http.Request) {
	log := h.log.With("action", "reload", "remote", r.RemoteAddr)
	log.Info("admin: configuration reload requested")
	if err := h.src.Reload(r.Context()); err != nil {
		// The Source logs the failure and its diagnostics; logging them
		// here too would print every problem twice.
		writeError(w, http.StatusUnprocessableEntity, openai.NewError(openai.TypeInvalidRequest, codeInvalidConfig, "",
			"configuration reload failed; the running configuration is kept:\n"+err.Error()))
		return
	}
	log.Info("admin: configuration reloaded")
	writeJSON(w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"reloaded"})
}

func (h *handler) config(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, h.src.Config())
}

// notFound answers 404 for a path the admin API does not serve. The path
// is not repeated in the answer: it is the client's bytes.
func (h *handler) notFound(w http.ResponseWriter) {
	writeError(w, http.StatusNotFound, openai.NewError(openai.TypeInvalidRequest, openai.CodeNotFound, "",
		"Invalid URL: the admin API serves no such path"))
}

// find returns the named backend from a fresh Backends snapshot.
func (h *handler) find(name string) (Backend, bool) {
	for _, b := range h.src.Backends() {
		if b.Name == name {
			return normalize(b), true
		}
	}
	return Backend{}, false
}

// normalize makes a Backend's JSON stable: an absent model list is [].
func normalize(b Backend) Backend {
	if b.Models == nil {
		b.Models = []string{}
	}
	return b
}

func writeBackendNotFound(w http.ResponseWriter, name string) {
	writeError(w, http.StatusNotFound, openai.NewError(openai.TypeInvalidRequest, codeBackendNotFound, "name",
		fmt.Sprintf("backend %q does not exist", name)))
}

func writeError(w http.ResponseWriter, status int, e openai.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(e.JSON(), '\n'))
}

// writeJSON writes v as indented JSON (admin responses are read by people
// as often as by programs), or a 500 error if v cannot be encoded.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		writeError(w, http.StatusInternalServerError, openai.NewError(openai.TypeServer, "", "",
			"encode response: "+err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
