// Package ui serves the operator dashboard under /ui: server-rendered HTML
// pages (html/template) that htmx, embedded in the binary with the pages'
// style sheet, refreshes by fetching small HTML fragments every two
// seconds. Nothing is loaded from another host.
//
// Pages: the overview (backends with health, breaker, requests in flight,
// latency and time-to-first-token sparklines, drain and undrain), the
// models, the API keys with their usage, the recent failed requests, and
// the configuration (the current one, its history, diffs and rollback).
//
// The dashboard is behind the admin API's authentication: a request is
// let in when its headers carry the admin credentials (as for /admin), or
// when it has the session cookie that the login form sets. The cookie holds
// an HMAC-SHA256, under a key drawn at start, of the admin credential: it
// is HttpOnly and SameSite=Strict, stops working when the credential
// changes or the router restarts, and never holds the credential itself.
// Changes (drain, undrain, rollback) are POSTs that must carry htmx's
// HX-Request header, which a page of another site cannot send without the
// router's consent (CORS), on top of the SameSite cookie.
//
// The package reads and changes the router only through Source, which the
// app implements; it imports no other stage.
package ui

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Backend is one backend as the overview shows it.
type Backend struct {
	Name, Type, URL string
	Health          string // ready, warming_up, down, unknown
	Breaker         string // closed, open, half_open, disabled
	InFlight        int64
	Drained         bool
	Usage           Usage
	Samples         []Sample // oldest first
}

// Sample is one point of a backend's sparklines.
type Sample struct {
	Latency, TTFT time.Duration
	InFlight      int64
}

// Usage is what was counted for a backend or key.
type Usage struct {
	Requests, Errors    uint64
	TokensIn, TokensOut uint64
	Latency, TTFT       time.Duration
}

// Model is one entry of the model list.
type Model struct {
	ID       string
	AliasFor string
	Backends []string
	Metadata map[string]any
}

// Key is one API key (never its secret), or, when Pseudo is set, a row of
// requests that no configured key accounts for ("none", "other").
type Key struct {
	ID, Name string
	Enabled  bool
	Pseudo   bool
	Models   []string
	Usage    Usage
}

// Failure is one recent failed request.
type Failure struct {
	Time                                       time.Time
	RequestID, KeyID, Endpoint, Model, Backend string
	Error                                      string
	Status                                     int
}

// Version is one applied configuration.
type Version struct {
	ID      int
	Time    time.Time
	Trigger string
	SHA256  string
	Current bool
}

// Source is what the dashboard reads and changes; the app implements it.
// Its methods are called concurrently.
type Source interface {
	Backends() []Backend
	// Totals is the usage of every request the router finished, whether or
	// not a backend was reached.
	Totals() Usage
	Models() []Model
	Keys() []Key
	Failures() []Failure
	// Versions returns the configuration history, newest first.
	Versions() []Version
	// VersionYAML returns a version's redacted YAML.
	VersionYAML(id int) (string, bool)
	// Diff returns the unified diff between two versions' redacted YAML.
	Diff(from, to int) (string, error)
	// Rollback applies version id again and writes it to the file.
	Rollback(id int) error
	SetDrained(name string, drained bool) error
}

// Options configure the Handler.
type Options struct {
	// Source is the router. Required.
	Source Source
	// Authorized reports whether a request's headers carry the admin
	// credentials. If nil, only the session cookie lets requests in.
	Authorized func(r *http.Request) bool
	// Credential returns the admin authentication method and the secret a
	// login must give (the token, or "user:password" for basic); secret ""
	// means the admin API, and so the dashboard, is disabled. Required.
	Credential func() (method, secret string)
	// Key signs the session cookie. Required; draw it at random.
	Key []byte
	// Logger receives a line for each login and change. If nil, nothing is logged.
	Logger *slog.Logger
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// cookieName is the session cookie.
const cookieName = "continuum_ui"

// Handler returns the dashboard; it serves /ui and the paths below it.
func Handler(opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	static, _ := fs.Sub(staticFS, "static")
	return &handler{
		opts:   opts,
		log:    log,
		tmpl:   template.Must(template.New("").Funcs(templateFuncs()).ParseFS(templateFS, "templates/*.html")),
		static: http.StripPrefix("/ui/static/", http.FileServerFS(static)),
	}
}

type handler struct {
	opts   Options
	log    *slog.Logger
	tmpl   *template.Template
	static http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/ui/static/"):
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.static.ServeHTTP(w, r)
		return
	case path == "/ui/login":
		h.login(w, r)
		return
	case path == "/ui/logout":
		h.logout(w, r)
		return
	}
	method, secret := h.opts.Credential()
	if secret == "" {
		w.WriteHeader(http.StatusForbidden)
		h.render(w, "disabled", page{Title: "Dashboard disabled"})
		return
	}
	if !h.authorized(r, method, secret) {
		if r.Header.Get("HX-Request") != "" {
			w.Header().Set("HX-Redirect", "/ui/login")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return
	}
	if r.Method == http.MethodPost && r.Header.Get("HX-Request") == "" {
		http.Error(w, "changes are made from the dashboard's pages", http.StatusForbidden)
		return
	}
	h.route(w, r)
}

// authorized checks the admin headers, then the session cookie.
func (h *handler) authorized(r *http.Request, method, secret string) bool {
	if h.opts.Authorized != nil && h.opts.Authorized(r) {
		return true
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return false
	}
	got, err := hex.DecodeString(c.Value)
	return err == nil && hmac.Equal(got, h.sign(method, secret))
}

// sign returns the session cookie's MAC of a credential.
func (h *handler) sign(method, secret string) []byte {
	m := hmac.New(sha256.New, h.opts.Key)
	m.Write([]byte("continuum-ui\x00" + method + "\x00" + secret))
	return m.Sum(nil)
}

func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	method, secret := h.opts.Credential()
	p := page{Title: "Sign in", Basic: method == "basic"}
	if secret == "" {
		w.WriteHeader(http.StatusForbidden)
		h.render(w, "disabled", page{Title: "Dashboard disabled"})
		return
	}
	if r.Method == http.MethodPost {
		given := r.PostFormValue("token")
		if p.Basic {
			given = r.PostFormValue("username") + ":" + r.PostFormValue("password")
		}
		if hmac.Equal(h.sign(method, given), h.sign(method, secret)) {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: hex.EncodeToString(h.sign(method, secret)),
				Path: "/ui", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			h.log.Info("dashboard: signed in", "remote", r.RemoteAddr)
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		h.log.Warn("dashboard: sign-in failed", "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		p.Error = "Those credentials are not the admin API's."
	}
	h.render(w, "login", p)
}

func (h *handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/ui", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// page is the data of every template.
type page struct {
	Title    string
	Nav      string
	Basic    bool
	Error    string
	Backends []Backend
	Totals   Usage
	InFlight int64
	Up       int
	Models   []Model
	Keys     []Key
	Failures []Failure
	Versions []Version
	YAML     string
	Diff     string
	DiffFrom int
	DiffTo   int
}

func (h *handler) route(w http.ResponseWriter, r *http.Request) {
	src := h.opts.Source
	path := strings.TrimSuffix(r.URL.Path, "/")
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case get && path == "/ui":
		h.render(w, "overview", h.overview())
	case get && path == "/ui/fragments/overview":
		h.render(w, "overview-body", h.overview())
	case get && path == "/ui/models":
		h.render(w, "models", page{Title: "Models", Nav: "models", Models: src.Models()})
	case get && path == "/ui/keys":
		h.render(w, "keys", page{Title: "API keys", Nav: "keys", Keys: src.Keys()})
	case get && path == "/ui/fragments/keys":
		h.render(w, "keys-body", page{Keys: src.Keys()})
	case get && path == "/ui/errors":
		h.render(w, "errors", page{Title: "Recent errors", Nav: "errors", Failures: src.Failures()})
	case get && path == "/ui/fragments/errors":
		h.render(w, "errors-body", page{Failures: src.Failures()})
	case get && path == "/ui/config":
		h.render(w, "config", h.configPage())
	case get && path == "/ui/config/diff":
		h.diff(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/ui/backends/"):
		// The name is one escaped segment (see pathseg): split the path
		// as sent, then unescape it.
		h.drain(w, r, strings.TrimPrefix(strings.TrimSuffix(r.URL.EscapedPath(), "/"), "/ui/backends/"))
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/ui/config/rollback/"):
		h.rollback(w, r, strings.TrimPrefix(path, "/ui/config/rollback/"))
	default:
		w.WriteHeader(http.StatusNotFound)
		h.render(w, "notfound", page{Title: "Not found"})
	}
}

func (h *handler) overview() page {
	p := page{Title: "Overview", Nav: "overview", Backends: h.opts.Source.Backends(), Totals: h.opts.Source.Totals()}
	for _, b := range p.Backends {
		p.InFlight += b.InFlight
		if !b.Drained && b.Health != "down" && b.Breaker != "open" {
			p.Up++
		}
	}
	return p
}

func (h *handler) configPage() page {
	p := page{Title: "Configuration", Nav: "config", Versions: h.opts.Source.Versions()}
	if len(p.Versions) > 0 {
		p.YAML, _ = h.opts.Source.VersionYAML(p.Versions[0].ID)
	}
	return p
}

func (h *handler) diff(w http.ResponseWriter, r *http.Request) {
	from, err1 := strconv.Atoi(r.URL.Query().Get("from"))
	to, err2 := strconv.Atoi(r.URL.Query().Get("to"))
	if err1 != nil || err2 != nil {
		http.Error(w, "from and to must be version ids", http.StatusBadRequest)
		return
	}
	d, err := h.opts.Source.Diff(from, to)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	h.render(w, "diff", page{Diff: d, DiffFrom: from, DiffTo: to})
}

func (h *handler) drain(w http.ResponseWriter, r *http.Request, rest string) {
	escaped, action, ok := strings.Cut(rest, "/")
	name, err := url.PathUnescape(escaped)
	if !ok || err != nil || (action != "drain" && action != "undrain") {
		http.NotFound(w, r)
		return
	}
	if err := h.opts.Source.SetDrained(name, action == "drain"); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	h.log.Info("dashboard: backend "+action+"ed", "backend", name, "remote", r.RemoteAddr)
	h.render(w, "overview-body", h.overview())
}

func (h *handler) rollback(w http.ResponseWriter, r *http.Request, idText string) {
	id, err := strconv.Atoi(idText)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	p := h.configPage()
	if err := h.opts.Source.Rollback(id); err != nil {
		h.log.Info("dashboard: rollback refused", "version", id, "remote", r.RemoteAddr, "error", firstLine(err.Error()))
		p.Error = err.Error()
	} else {
		h.log.Info("dashboard: configuration rolled back", "version", id, "remote", r.RemoteAddr)
		p = h.configPage()
	}
	h.render(w, "config-body", p)
}

// render executes a template into a buffer, so that a failure is a 500
// rather than half a page.
func (h *handler) render(w http.ResponseWriter, name string, p page) {
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, p); err != nil {
		h.log.Error("dashboard: render", "template", name, "error", err)
		http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
