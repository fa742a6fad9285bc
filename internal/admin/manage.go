package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/textdiff"
)

// This file serves the configuration history, diff, rollback and dry-run
// validation, the run-time changes of backends and API keys, and the usage
// statistics.

// Version is one applied configuration of the history.
type Version struct {
	// ID numbers versions from 1 in the order they were applied.
	ID int `json:"id"`
	// Time is when the version was applied.
	Time time.Time `json:"time"`
	// Trigger says what applied it: startup, file, signal, admin (reload),
	// rollback, backend_add, backend_update, backend_remove, key_create or
	// key_revoke.
	Trigger string `json:"trigger"`
	// SHA256 is the hex digest of the configuration file's text.
	SHA256 string `json:"sha256"`
	// Current is true for the version in effect.
	Current bool `json:"current"`
	// YAML is the effective configuration with every secret shown as ****;
	// only in answers about one version.
	YAML string `json:"yaml,omitempty"`
}

// Usage is what was counted for one API key or backend since start.
type Usage struct {
	// Requests counts finished requests; Errors those that failed (status
	// 400 or more, or a stream broken after its first token).
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	// TokensIn and TokensOut add up the usage backends reported.
	TokensIn  uint64 `json:"tokens_in"`
	TokensOut uint64 `json:"tokens_out"`
	// LatencyMS is the mean request duration, TTFTMS the mean time to the
	// first token, in milliseconds; 0 before any.
	LatencyMS float64 `json:"latency_ms"`
	TTFTMS    float64 `json:"ttft_ms"`
}

// Stats is the body of GET /admin/stats.
type Stats struct {
	// Keys is the usage per API key id ("none": requests without a key).
	Keys map[string]Usage `json:"keys"`
	// Backends is the usage per backend.
	Backends map[string]Usage `json:"backends"`
}

// Manager is what the admin API changes the configuration with; the app
// implements it. Errors wrap ErrNotFound, ErrInvalidConfig, ErrConflict or
// ErrBadRequest to choose the answer; any other error is a 500. Changes are
// applied like a reload, written back to the configuration file and
// recorded in the history.
type Manager interface {
	// History returns the applied versions, newest first (at most 100),
	// without their YAML.
	History() []Version
	// Version returns one version with its YAML.
	Version(id int) (Version, bool)
	// Rollback applies version id again and writes it back to the file.
	Rollback(id int) (Version, error)
	// Validate checks a configuration file's text without applying it and
	// returns its warnings.
	Validate(text []byte) ([]string, error)
	// AddBackend adds a backend with the given settings.
	AddBackend(fields map[string]any) (Version, error)
	// UpdateBackend sets the given settings of a backend (null removes one).
	UpdateBackend(name string, fields map[string]any) (Version, error)
	// RemoveBackend removes a backend.
	RemoveBackend(name string) (Version, error)
	// CreateKey adds an API key with a generated secret.
	CreateKey(fields map[string]any) (id, secret string, v Version, err error)
	// RevokeKey disables an API key.
	RevokeKey(id string) (Version, error)
	// Stats returns the usage per key and per backend.
	Stats() Stats
}

// Limits on request bodies.
const (
	maxJSONBody   = 1 << 20
	maxConfigBody = 4 << 20
)

// Error codes of the management routes.
const (
	codeVersionNotFound = "version_not_found"
	codeKeyNotFound     = "key_not_found"
	codeConflict        = "conflict"
	codeBadRequest      = "invalid_request"
	codeNoManager       = "not_supported"
)

// writeChangeError answers a failed change by the error's kind.
func writeChangeError(w http.ResponseWriter, err error, notFoundCode, param string) {
	var status int
	var e openai.Error
	switch {
	case errors.Is(err, ErrNotFound):
		status, e = http.StatusNotFound, openai.NewError(openai.TypeInvalidRequest, notFoundCode, param, err.Error())
	case errors.Is(err, ErrInvalidConfig):
		status, e = http.StatusUnprocessableEntity, openai.NewError(openai.TypeInvalidRequest, codeInvalidConfig, "",
			"the change would make the configuration invalid; nothing was changed:\n"+err.Error())
	case errors.Is(err, ErrConflict):
		status, e = http.StatusConflict, openai.NewError(openai.TypeInvalidRequest, codeConflict, param, err.Error())
	case errors.Is(err, ErrBadRequest):
		status, e = http.StatusBadRequest, openai.NewError(openai.TypeInvalidRequest, codeBadRequest, "", err.Error())
	default:
		status, e = http.StatusInternalServerError, openai.NewError(openai.TypeServer, "", "", err.Error())
	}
	writeError(w, status, e)
}

// manager returns the Source's Manager, or answers 501.
func (h *handler) manager(w http.ResponseWriter) (Manager, bool) {
	m, ok := h.src.(Manager)
	if !ok {
		writeError(w, http.StatusNotImplemented, openai.NewError(openai.TypeInvalidRequest, codeNoManager, "",
			"this router cannot change its configuration at run time"))
	}
	return m, ok
}

// readJSON decodes the request body as a JSON object. A key given twice in
// one object, exactly or in another case, is refused like a syntax error
// (see duplicateKey).
func readJSON(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var fields map[string]any
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err == nil {
		err = json.NewDecoder(bytes.NewReader(body)).Decode(&fields)
	}
	if err == nil && fields != nil {
		key, earlier, dup := duplicateKey(body)
		if !dup {
			return fields, true
		}
		if key == earlier {
			err = fmt.Errorf("the key %q is given twice", key)
		} else {
			err = fmt.Errorf("the key %q is given twice, also as %q (keys are case-sensitive; give each once)", earlier, key)
		}
	}
	msg := "the body must be a JSON object"
	if err != nil {
		msg += ": " + err.Error()
	}
	writeError(w, http.StatusBadRequest, openai.NewError(openai.TypeInvalidRequest, "invalid_json", "", msg))
	return nil, false
}

// versionID parses a version id from a path segment or query value.
func versionID(w http.ResponseWriter, s, param string) (int, bool) {
	id, err := strconv.Atoi(s)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, openai.NewError(openai.TypeInvalidRequest, codeBadRequest, param,
			fmt.Sprintf("%s must be a version id (a positive integer), got %q", param, s)))
		return 0, false
	}
	return id, true
}

func (h *handler) history(w http.ResponseWriter) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	list := m.History()
	if list == nil {
		list = []Version{}
	}
	writeJSON(w, http.StatusOK, struct {
		Versions []Version `json:"versions"`
	}{list})
}

func (h *handler) version(w http.ResponseWriter, idText string) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	id, ok := versionID(w, idText, "id")
	if !ok {
		return
	}
	v, found := m.Version(id)
	if !found {
		writeVersionNotFound(w, id)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func writeVersionNotFound(w http.ResponseWriter, id int) {
	writeError(w, http.StatusNotFound, openai.NewError(openai.TypeInvalidRequest, codeVersionNotFound, "id",
		fmt.Sprintf("version %d is not in the history (it keeps the last 100)", id)))
}

// diff answers the unified diff of two versions' redacted YAML; to defaults
// to the current version.
func (h *handler) diff(w http.ResponseWriter, r *http.Request) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	q := r.URL.Query()
	from, ok := versionID(w, q.Get("from"), "from")
	if !ok {
		return
	}
	var to Version
	if s := q.Get("to"); s != "" {
		id, ok := versionID(w, s, "to")
		if !ok {
			return
		}
		if to, ok = m.Version(id); !ok {
			writeVersionNotFound(w, id)
			return
		}
	} else if list := m.History(); len(list) > 0 {
		to, _ = m.Version(list[0].ID)
	}
	a, found := m.Version(from)
	if !found {
		writeVersionNotFound(w, from)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, textdiff.Unified("version "+strconv.Itoa(a.ID), "version "+strconv.Itoa(to.ID), a.YAML, to.YAML))
}

func (h *handler) rollback(w http.ResponseWriter, r *http.Request, idText string) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	id, ok := versionID(w, idText, "id")
	if !ok {
		return
	}
	log := h.log.With("action", "rollback", "version", id, "remote", r.RemoteAddr)
	v, err := m.Rollback(id)
	if err != nil {
		log.Info("admin: rollback refused", "error", firstLine(err))
		writeChangeError(w, err, codeVersionNotFound, "id")
		return
	}
	log.Info("admin: configuration rolled back", "new_version", v.ID)
	writeJSON(w, http.StatusOK, struct {
		Version Version `json:"version"`
	}{v})
}

func (h *handler) validate(w http.ResponseWriter, r *http.Request) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	text, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, openai.NewError(openai.TypeInvalidRequest, openai.CodeTooLarge, "",
			"the configuration must be at most 4 MiB"))
		return
	}
	warns, err := m.Validate(text)
	if warns == nil {
		warns = []string{}
	}
	if err != nil {
		writeChangeError(w, err, codeBadRequest, "")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Valid    bool     `json:"valid"`
		Warnings []string `json:"warnings"`
	}{true, warns})
}

// changed answers a successful change with the new version and, when
// extra is not nil, more fields.
func changed(w http.ResponseWriter, status int, v Version, extra map[string]any) {
	out := map[string]any{"version": v}
	for k, x := range extra {
		out[k] = x
	}
	writeJSON(w, status, out)
}

func (h *handler) addBackend(w http.ResponseWriter, r *http.Request) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	fields, ok := readJSON(w, r)
	if !ok {
		return
	}
	name, _ := fields["name"].(string)
	log := h.log.With("action", "backend_add", "backend", name, "remote", r.RemoteAddr)
	v, err := m.AddBackend(fields)
	if err != nil {
		log.Info("admin: change refused", "error", firstLine(err))
		writeChangeError(w, err, codeBackendNotFound, "name")
		return
	}
	log.Info("admin: backend added", "version", v.ID)
	b, _ := h.find(name)
	changed(w, http.StatusCreated, v, map[string]any{"backend": b})
}

func (h *handler) updateBackend(w http.ResponseWriter, r *http.Request, name string) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	fields, ok := readJSON(w, r)
	if !ok {
		return
	}
	log := h.log.With("action", "backend_update", "backend", name, "remote", r.RemoteAddr)
	v, err := m.UpdateBackend(name, fields)
	if err != nil {
		log.Info("admin: change refused", "error", firstLine(err))
		writeChangeError(w, err, codeBackendNotFound, "name")
		return
	}
	log.Info("admin: backend updated", "version", v.ID)
	b, _ := h.find(name)
	changed(w, http.StatusOK, v, map[string]any{"backend": b})
}

func (h *handler) removeBackend(w http.ResponseWriter, r *http.Request, name string) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	log := h.log.With("action", "backend_remove", "backend", name, "remote", r.RemoteAddr)
	v, err := m.RemoveBackend(name)
	if err != nil {
		log.Info("admin: change refused", "error", firstLine(err))
		writeChangeError(w, err, codeBackendNotFound, "name")
		return
	}
	log.Info("admin: backend removed", "version", v.ID)
	changed(w, http.StatusOK, v, nil)
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	fields, ok := readJSON(w, r)
	if !ok {
		return
	}
	log := h.log.With("action", "key_create", "remote", r.RemoteAddr)
	id, secret, v, err := m.CreateKey(fields)
	if err != nil {
		log.Info("admin: change refused", "error", firstLine(err))
		writeChangeError(w, err, codeKeyNotFound, "id")
		return
	}
	// The secret is in this answer only; the log has the id.
	log.Info("admin: API key created", "key_id", id, "version", v.ID)
	changed(w, http.StatusCreated, v, map[string]any{"id": id, "key": secret})
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request, id string) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	log := h.log.With("action", "key_revoke", "key_id", id, "remote", r.RemoteAddr)
	v, err := m.RevokeKey(id)
	if err != nil {
		log.Info("admin: change refused", "error", firstLine(err))
		writeChangeError(w, err, codeKeyNotFound, "id")
		return
	}
	log.Info("admin: API key revoked", "version", v.ID)
	changed(w, http.StatusOK, v, map[string]any{"id": id, "enabled": false})
}

func (h *handler) stats(w http.ResponseWriter) {
	m, ok := h.manager(w)
	if !ok {
		return
	}
	s := m.Stats()
	if s.Keys == nil {
		s.Keys = map[string]Usage{}
	}
	if s.Backends == nil {
		s.Backends = map[string]Usage{}
	}
	writeJSON(w, http.StatusOK, s)
}

// firstLine returns the first line of err's text, for a log line (the
// whole of an invalid configuration's diagnostics goes to the caller).
func firstLine(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
