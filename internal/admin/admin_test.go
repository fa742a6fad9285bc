package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
)

// fakeSource is an in-memory Source.
type fakeSource struct {
	mu        sync.Mutex
	backends  []Backend
	reloadErr error
	reloads   int
	config    any
}

func newFakeSource() *fakeSource {
	until := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return &fakeSource{
		backends: []Backend{
			{Name: "vllm-a", Type: "vllm", URL: "http://10.0.0.1:8000", Weight: 3, Models: []string{"llama-3.1-8b"},
				Health: "ready", Breaker: "closed", InFlight: 2, ErrorRate: 0.125, Requests: 80, Failures: 10, LatencyMS: 42.5},
			{Name: "ollama-b", Type: "ollama", URL: "http://10.0.0.2:11434", Weight: 1,
				Health: "down", Breaker: "open", BreakerOpenUntil: &until, CooldownUntil: &until},
			{Name: "a/b", Type: "openai", URL: "https://api.example.com", Weight: 1, Models: []string{"gpt-4o"},
				Health: "unknown", Breaker: "disabled"},
		},
		config: map[string]any{"backends": []any{map[string]any{"name": "vllm-a", "api_key": "***"}}},
	}
}

func (s *fakeSource) Backends() []Backend {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.backends)
}

func (s *fakeSource) SetDrained(name string, drained bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.backends {
		if s.backends[i].Name == name {
			s.backends[i].Drained = drained
			return nil
		}
	}
	return fmt.Errorf("set drained %q: %w", name, ErrNotFound)
}

func (s *fakeSource) Reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloads++
	return s.reloadErr
}

func (s *fakeSource) Config() any { return s.config }

const testToken = "s3cret-admin-token-XYZ"

func bearerAuth() Auth { return Auth{Method: MethodBearer, Token: testToken} }

// authorized adds valid bearer credentials to r.
func authorized(r *http.Request) *http.Request {
	r.Header.Set("Authorization", "Bearer "+testToken)
	return r
}

// serve runs one request through a Handler over src with bearer auth.
func serve(t *testing.T, src Source, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	h := Handler(src, Options{Auth: bearerAuth})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, authorized(httptest.NewRequest(method, path, nil)))
	return w
}

// decodeError decodes an OpenAI error envelope, failing the test if the
// response is not one.
func decodeError(t *testing.T, w *httptest.ResponseRecorder) openai.Error {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type: got %q, want application/json", ct)
	}
	var body openai.ErrorBody
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("decode error envelope: %v", err)
	}
	if body.Error.Message == "" || body.Error.Type == "" {
		t.Fatalf("error envelope: got %+v, want message and type", body.Error)
	}
	return body.Error
}

func code(e openai.Error) string {
	if e.Code == nil {
		return ""
	}
	return *e.Code
}

func TestBackendsList(t *testing.T) {
	src := newFakeSource()
	w := serve(t, src, http.MethodGet, "/admin/backends")
	if w.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200; body %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var got struct {
		Backends []Backend `json:"backends"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := newFakeSource().backends
	want[1].Models = []string{} // shown as [] rather than null
	if len(got.Backends) != len(want) {
		t.Fatalf("backends: got %d, want %d", len(got.Backends), len(want))
	}
	for i := range want {
		g, w := got.Backends[i], want[i]
		if g.Name != w.Name || g.Type != w.Type || g.URL != w.URL || g.Weight != w.Weight ||
			!slices.Equal(g.Models, w.Models) || g.Health != w.Health || g.Breaker != w.Breaker ||
			g.InFlight != w.InFlight || g.ErrorRate != w.ErrorRate || g.Requests != w.Requests ||
			g.Failures != w.Failures || g.Drained != w.Drained || g.LatencyMS != w.LatencyMS ||
			!timeEqual(g.BreakerOpenUntil, w.BreakerOpenUntil) || !timeEqual(g.CooldownUntil, w.CooldownUntil) {
			t.Errorf("backend %d: got %+v, want %+v", i, g, w)
		}
	}
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func TestBackendJSONFieldNames(t *testing.T) {
	src := newFakeSource()
	w := serve(t, src, http.MethodGet, "/admin/backends/ollama-b")
	var raw map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, key := range []string{"name", "type", "url", "weight", "models", "health", "circuit_breaker",
		"circuit_breaker_open_until", "in_flight", "error_rate", "requests", "failures", "drained",
		"cooldown_until", "latency_ms"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("key %q: missing from %s", key, w.Body)
		}
	}
	if m, ok := raw["models"].([]any); !ok || len(m) != 0 {
		t.Errorf("models: got %v, want []", raw["models"])
	}

	w = serve(t, src, http.MethodGet, "/admin/backends/vllm-a")
	raw = nil
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("decode: %v", err)
	}
	for _, key := range []string{"circuit_breaker_open_until", "cooldown_until"} {
		if _, ok := raw[key]; ok {
			t.Errorf("key %q: present in %s, want omitted when nil", key, w.Body)
		}
	}
}

func TestBackendOne(t *testing.T) {
	tests := []struct {
		path     string
		wantCode int
		wantName string
	}{
		{"/admin/backends/vllm-a", 200, "vllm-a"},
		{"/admin/backends/ollama-b", 200, "ollama-b"},
		{"/admin/backends/a%2Fb", 200, "a/b"},
		{"/admin/backends/nope", 404, ""},
		{"/admin/backends/VLLM-A", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := serve(t, newFakeSource(), http.MethodGet, tt.path)
			if w.Code != tt.wantCode {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if tt.wantCode != 200 {
				e := decodeError(t, w)
				if code(e) != codeBackendNotFound || e.Type != openai.TypeInvalidRequest {
					t.Errorf("error: got type %q code %q, want %q %q", e.Type, code(e), openai.TypeInvalidRequest, codeBackendNotFound)
				}
				return
			}
			var b Backend
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if b.Name != tt.wantName {
				t.Errorf("name: got %q, want %q", b.Name, tt.wantName)
			}
		})
	}
}

func TestDrainUndrain(t *testing.T) {
	src := newFakeSource()
	steps := []struct {
		path        string
		wantCode    int
		wantDrained bool
	}{
		{"/admin/backends/vllm-a/drain", 200, true},
		{"/admin/backends/vllm-a/drain", 200, true}, // idempotent
		{"/admin/backends/vllm-a/undrain", 200, false},
		{"/admin/backends/a%2Fb/drain", 200, true},
		{"/admin/backends/nope/drain", 404, false},
		{"/admin/backends/nope/undrain", 404, false},
	}
	for i, st := range steps {
		t.Run(fmt.Sprintf("%d%s", i, st.path), func(t *testing.T) {
			w := serve(t, src, http.MethodPost, st.path)
			if w.Code != st.wantCode {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, st.wantCode, w.Body)
			}
			if st.wantCode == 404 {
				if e := decodeError(t, w); code(e) != codeBackendNotFound {
					t.Errorf("code: got %q, want %q", code(e), codeBackendNotFound)
				}
				return
			}
			var b Backend
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if b.Drained != st.wantDrained {
				t.Errorf("drained in response: got %v, want %v", b.Drained, st.wantDrained)
			}
		})
	}
	for _, b := range src.Backends() {
		want := b.Name == "a/b"
		if b.Drained != want {
			t.Errorf("source backend %q drained: got %v, want %v", b.Name, b.Drained, want)
		}
	}
}

// failingDrain is a Source whose SetDrained fails for a reason other than
// an unknown name.
type failingDrain struct{ *fakeSource }

func (failingDrain) SetDrained(string, bool) error { return errors.New("state store unavailable") }

func TestDrainOtherError(t *testing.T) {
	w := serve(t, failingDrain{newFakeSource()}, http.MethodPost, "/admin/backends/vllm-a/drain")
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status: got %d, want 500", w.Code)
	}
	if e := decodeError(t, w); e.Type != openai.TypeServer || !strings.Contains(e.Message, "state store unavailable") {
		t.Errorf("error: got %+v, want server_error naming the cause", e)
	}
}

func TestReload(t *testing.T) {
	diag := "config.yaml:12:5: unknown key \"bakends\" (did you mean \"backends\"?)\nconfig.yaml:20:11: invalid duration \"3x\""
	tests := []struct {
		name     string
		err      error
		wantCode int
	}{
		{"ok", nil, 200},
		{"invalid", fmt.Errorf("reload: %w", errors.New(diag)), 422},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newFakeSource()
			src.reloadErr = tt.err
			w := serve(t, src, http.MethodPost, "/admin/config/reload")
			if w.Code != tt.wantCode {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if src.reloads != 1 {
				t.Errorf("reloads: got %d, want 1", src.reloads)
			}
			if tt.err == nil {
				var got map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if got["status"] != "reloaded" || len(got) != 1 {
					t.Errorf("body: got %v, want {status: reloaded}", got)
				}
				return
			}
			e := decodeError(t, w)
			if e.Type != openai.TypeInvalidRequest || code(e) != codeInvalidConfig {
				t.Errorf("error: got type %q code %q, want %q %q", e.Type, code(e), openai.TypeInvalidRequest, codeInvalidConfig)
			}
			for _, line := range strings.Split(diag, "\n") {
				if !strings.Contains(e.Message, line) {
					t.Errorf("message %q: missing diagnostic %q", e.Message, line)
				}
			}
		})
	}
}

func TestConfig(t *testing.T) {
	src := newFakeSource()
	w := serve(t, src, http.MethodGet, "/admin/config")
	if w.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", w.Code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	var got, want any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("decode: %v", err)
	}
	b, _ := json.Marshal(src.config)
	json.Unmarshal(b, &want)
	gb, _ := json.Marshal(got)
	if !bytes.Equal(gb, b) {
		t.Errorf("config: got %s, want %s", gb, b)
	}
}

func TestConfigNotMarshalable(t *testing.T) {
	src := newFakeSource()
	src.config = map[string]any{"f": func() {}}
	w := serve(t, src, http.MethodGet, "/admin/config")
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status: got %d, want 500", w.Code)
	}
	decodeError(t, w)
}

func TestNotFound(t *testing.T) {
	paths := []string{
		"/admin/", "/admin", "/admin/nope", "/admin/backends/", "/admin/backends/vllm-a/",
		"/admin/backends/vllm-a/restart", "/admin/backends/vllm-a/drain/x", "/admin/config/",
		"/admin/config/reload/now", "/admin//backends", "/other",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			w := serve(t, newFakeSource(), http.MethodGet, p)
			if w.Code != http.StatusNotFound {
				t.Fatalf("status: got %d, want 404; body %s", w.Code, w.Body)
			}
			if e := decodeError(t, w); code(e) != openai.CodeNotFound && code(e) != codeBackendNotFound {
				t.Errorf("code: got %q, want %q", code(e), openai.CodeNotFound)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	tests := []struct {
		method, path, wantAllow string
	}{
		{http.MethodPatch, "/admin/backends/vllm-a", "GET, HEAD, PUT, DELETE"},
		{http.MethodDelete, "/admin/backends", "GET, HEAD, POST"},
		{http.MethodGet, "/admin/keys", "POST"},
		{http.MethodPost, "/admin/stats", "GET, HEAD"},
		{http.MethodGet, "/admin/backends/vllm-a/drain", "POST"},
		{http.MethodPut, "/admin/backends/vllm-a/undrain", "POST"},
		{http.MethodGet, "/admin/config/reload", "POST"},
		{http.MethodPatch, "/admin/config", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			src := newFakeSource()
			w := serve(t, src, tt.method, tt.path)
			if w.Code != http.StatusMethodNotAllowed {
				t.Fatalf("status: got %d, want 405", w.Code)
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow: got %q, want %q", got, tt.wantAllow)
			}
			if e := decodeError(t, w); code(e) != openai.CodeMethod {
				t.Errorf("code: got %q, want %q", code(e), openai.CodeMethod)
			}
			if src.reloads != 0 {
				t.Errorf("reloads: got %d, want 0", src.reloads)
			}
		})
	}
}

func TestHead(t *testing.T) {
	w := serve(t, newFakeSource(), http.MethodHead, "/admin/backends")
	if w.Code != http.StatusOK {
		t.Errorf("status: got %d, want 200", w.Code)
	}
}

// TestRoutesServed checks that every route Routes lists is served with its
// method, so Routes cannot drift from the handler.
func TestRoutesServed(t *testing.T) {
	for _, r := range Routes() {
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			path := strings.NewReplacer("{name}", "vllm-a", "{id}", "1").Replace(r.Path)
			bodies := map[string]string{
				"POST /admin/backends":             `{"name":"new","url":"http://10.0.0.9:8000"}`,
				"PUT /admin/backends/{name}":       `{"weight":2}`,
				"POST /admin/keys":                 `{"name":"ci"}`,
				"POST /admin/config/validate":      "backends: []\n",
				"GET /admin/config/diff":           "",
				"POST /admin/config/rollback/{id}": "",
			}
			if r.Path == "/admin/config/diff" {
				path += "?from=1"
			}
			h := Handler(newFakeSource(), Options{Auth: bearerAuth})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, authorized(httptest.NewRequest(r.Method, path, strings.NewReader(bodies[r.Method+" "+r.Path]))))
			if w.Code != http.StatusOK && w.Code != http.StatusCreated {
				t.Errorf("status: got %d, want 200 or 201; body %s", w.Code, w.Body)
			}
			wantCT := "application/json"
			if r.Path == "/admin/config/diff" {
				wantCT = "text/plain; charset=utf-8"
			}
			if ct := w.Header().Get("Content-Type"); ct != wantCT {
				t.Errorf("Content-Type: got %q, want %s", ct, wantCT)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", cc)
			}
		})
	}
}

func TestMutationsLogged(t *testing.T) {
	tests := []struct {
		path, wantAction string
	}{
		{"/admin/backends/vllm-a/drain", "drain"},
		{"/admin/backends/vllm-a/undrain", "undrain"},
		{"/admin/config/reload", "reload"},
	}
	for _, tt := range tests {
		t.Run(tt.wantAction, func(t *testing.T) {
			var buf bytes.Buffer
			h := Handler(newFakeSource(), Options{Auth: bearerAuth, Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
			r := authorized(httptest.NewRequest(http.MethodPost, tt.path, nil))
			r.RemoteAddr = "198.51.100.7:40000"
			h.ServeHTTP(httptest.NewRecorder(), r)
			var found bool
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				if rec["level"] == "INFO" && rec["action"] == tt.wantAction && rec["remote"] == r.RemoteAddr {
					found = true
				}
			}
			if !found {
				t.Errorf("log: got %s, want an INFO line with action=%s remote=%s", buf.String(), tt.wantAction, r.RemoteAddr)
			}
		})
	}
}

// TestErrorsDoNotRepeatRequest checks, over HTTP, that 404 and 405 answers
// have fixed messages: the request's method and path are the client's
// bytes and are never sent back (405 still names the allowed methods).
func TestErrorsDoNotRepeatRequest(t *testing.T) {
	srv := httptest.NewServer(Handler(newFakeSource(), Options{Auth: bearerAuth}))
	t.Cleanup(srv.Close)
	const marker = "zq7marker"
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/admin/" + marker, http.StatusNotFound, ""},
		{"M" + strings.ToUpper(marker), "/admin/" + marker + "/x", http.StatusNotFound, ""},
		{http.MethodGet, "/admin/backends/" + marker + "/drain", http.StatusMethodNotAllowed, "POST"},
		{"M" + strings.ToUpper(marker), "/admin/backends/" + marker, http.StatusMethodNotAllowed, "GET, HEAD, PUT, DELETE"},
		{http.MethodPatch, "/admin/stats", http.StatusMethodNotAllowed, "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(authorized(req))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
			var env openai.ErrorBody
			if err := json.Unmarshal(body, &env); err != nil || env.Error.Message == "" {
				t.Fatalf("body %s is not an OpenAI error envelope: %v", body, err)
			}
			lower := strings.ToLower(string(body))
			for _, echo := range []string{marker, strings.ToLower(tt.method), "/admin"} {
				if strings.Contains(lower, echo) {
					t.Errorf("answer repeats the request's %q: %s", echo, body)
				}
			}
		})
	}
}
