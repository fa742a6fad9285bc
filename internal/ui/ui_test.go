package ui

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeSource is an in-memory Source.
type fakeSource struct {
	drained  map[string]bool
	rollback int
}

func (f *fakeSource) Backends() []Backend {
	return []Backend{
		{Name: "vllm-a", Type: "vllm", URL: "http://10.0.0.1:8000", Health: "ready", Breaker: "closed", InFlight: 2,
			Drained: f.drained["vllm-a"], Usage: Usage{Requests: 1234, Errors: 3, Latency: 42 * time.Millisecond, TTFT: 9 * time.Millisecond},
			Samples: []Sample{{Latency: time.Millisecond}, {Latency: 3 * time.Millisecond, InFlight: 2}}},
		{Name: "<b>", Type: "ollama", URL: "http://10.0.0.2", Health: "down", Breaker: "open"},
	}
}
func (f *fakeSource) Totals() Usage { return Usage{Requests: 1240, Errors: 9} }
func (f *fakeSource) Models() []Model {
	return []Model{{ID: "llama", Backends: []string{"vllm-a"}, Metadata: map[string]any{"display_name": "Llama", "context_length": 8192}}}
}
func (f *fakeSource) Keys() []Key {
	return []Key{{ID: "team-a", Name: "Team A", Enabled: true, Usage: Usage{Requests: 7}}}
}
func (f *fakeSource) Failures() []Failure {
	return []Failure{{Time: time.Unix(0, 0), Status: 502, Error: "upstream_error", Endpoint: "chat_completions"}}
}
func (f *fakeSource) Versions() []Version {
	return []Version{{ID: 2, Trigger: "admin", Current: true, SHA256: "abcdef0123456789"}, {ID: 1, Trigger: "startup"}}
}
func (f *fakeSource) VersionYAML(id int) (string, bool) { return "server: {}\n", true }
func (f *fakeSource) Diff(from, to int) (string, error) {
	if from == 9 {
		return "", errors.New("no version 9")
	}
	return "--- version 1\n+++ version 2\n@@ -1 +1 @@\n-a\n+b\n", nil
}
func (f *fakeSource) Rollback(id int) error { f.rollback = id; return nil }
func (f *fakeSource) SetDrained(name string, d bool) error {
	f.drained[name] = d
	return nil
}

const token = "ui-admin-token"

func newHandler(src *fakeSource, secret string) http.Handler {
	return Handler(Options{
		Source:     src,
		Authorized: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token },
		Credential: func() (string, string) { return "bearer_token", secret },
		Key:        []byte("test-key"),
	})
}

func do(h http.Handler, method, path string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPages(t *testing.T) {
	src := &fakeSource{drained: map[string]bool{}}
	h := newHandler(src, token)
	auth := []string{"Authorization", "Bearer " + token}
	tests := []struct {
		path   string
		wantIn []string
	}{
		{"/ui", []string{`id="total-requests">1,240<`, "vllm-a", "&lt;b&gt;", `hx-get="/ui/fragments/overview"`, "<svg class=\"spark\"", "<polyline", "42 ms"}},
		{"/ui/", []string{"Overview"}},
		{"/ui/fragments/overview", []string{"total-requests"}},
		{"/ui/models", []string{"llama", "Llama", "8192"}},
		{"/ui/keys", []string{"team-a", "Team A"}},
		{"/ui/fragments/keys", []string{"team-a"}},
		{"/ui/errors", []string{"upstream_error", "502"}},
		{"/ui/fragments/errors", []string{"upstream_error"}},
		{"/ui/config", []string{"server: {}", `hx-post="/ui/config/rollback/1"`, "abcdef012345", "current"}},
		{"/ui/config/diff?from=1&to=2", []string{`<span class="del">-a</span>`, `<span class="add">&#43;b</span>`}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			w := do(h, "GET", tt.path, nil, auth...)
			if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("got %d %q, want 200 HTML:\n%s", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("page does not contain %q:\n%s", s, w.Body)
				}
			}
			if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:|//)`).FindString(w.Body.String()); m != "" {
				t.Errorf("page loads from another host: %q", m)
			}
		})
	}
	if w := do(h, "GET", "/ui/nope", nil, auth...); w.Code != 404 {
		t.Errorf("unknown page: got %d, want 404", w.Code)
	}
}

func TestAuthentication(t *testing.T) {
	src := &fakeSource{drained: map[string]bool{}}
	h := newHandler(src, token)
	if w := do(h, "GET", "/ui/", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
		t.Errorf("without credentials: got %d %q, want a redirect to the login", w.Code, w.Header().Get("Location"))
	}
	if w := do(h, "GET", "/ui/fragments/overview", nil, "HX-Request", "true"); w.Code != 401 || w.Header().Get("HX-Redirect") != "/ui/login" {
		t.Errorf("htmx without credentials: got %d, want 401 with HX-Redirect", w.Code)
	}
	if w := do(h, "GET", "/ui/static/htmx.min.js", nil); w.Code != 200 {
		t.Errorf("static assets need no credentials: got %d", w.Code)
	}
	form := func(v string) io.Reader { return strings.NewReader(url.Values{"token": {v}}.Encode()) }
	ct := []string{"Content-Type", "application/x-www-form-urlencoded"}
	if w := do(h, "POST", "/ui/login", form("wrong"), ct...); w.Code != 401 || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong token: got %d with cookies %v, want 401 and none", w.Code, w.Result().Cookies())
	}
	w := do(h, "POST", "/ui/login", form(token), ct...)
	cookies := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("login: got %d with %v, want a redirect and a cookie", w.Code, cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui" || strings.Contains(c.Value, token) {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui, without the token", c)
	}
	cookie := []string{"Cookie", c.Name + "=" + c.Value}
	if w := do(h, "GET", "/ui/", nil, cookie...); w.Code != 200 {
		t.Errorf("with the cookie: got %d, want 200", w.Code)
	}
	// A change needs the HX-Request header (not sendable cross-site).
	if w := do(h, "POST", "/ui/backends/vllm-a/drain", nil, cookie...); w.Code != 403 || src.drained["vllm-a"] {
		t.Errorf("POST without HX-Request: got %d, want 403 and no change", w.Code)
	}
	if w := do(h, "POST", "/ui/backends/vllm-a/drain", nil, append(cookie, "HX-Request", "true")...); w.Code != 200 || !src.drained["vllm-a"] || !strings.Contains(w.Body.String(), "Undrain") {
		t.Errorf("drain: got %d, want 200, the backend drained and an Undrain button", w.Code)
	}
	if w := do(h, "POST", "/ui/config/rollback/1", nil, append(cookie, "HX-Request", "true")...); w.Code != 200 || src.rollback != 1 {
		t.Errorf("rollback: got %d (rolled back to %d), want 200 and version 1", w.Code, src.rollback)
	}
	// A new credential ends the session.
	h2 := newHandler(src, "another-token")
	if w := do(h2, "GET", "/ui/", nil, cookie...); w.Code != http.StatusSeeOther {
		t.Errorf("cookie after the credential changed: got %d, want a redirect to the login", w.Code)
	}
	// A disabled admin API disables the dashboard.
	if w := do(newHandler(src, ""), "GET", "/ui/", nil, "Authorization", "Bearer "); w.Code != 403 {
		t.Errorf("disabled: got %d, want 403", w.Code)
	}
	if w := do(h, "POST", "/ui/logout", nil, cookie...); w.Code != http.StatusSeeOther || w.Result().Cookies()[0].MaxAge >= 0 {
		t.Errorf("logout: got %d, want the cookie removed", w.Code)
	}
}

func TestStaticAssets(t *testing.T) {
	data, err := os.ReadFile("static/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if got, want := hex.EncodeToString(sum[:]), "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"; got != want {
		t.Errorf("htmx.min.js sha256: got %s, want %s (see static/README.md)", got, want)
	}
	h := newHandler(&fakeSource{}, token)
	for path, ct := range map[string]string{"/ui/static/htmx.min.js": "javascript", "/ui/static/style.css": "text/css"} {
		w := do(h, "GET", path, nil)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), ct) {
			t.Errorf("%s: got %d %q", path, w.Code, w.Header().Get("Content-Type"))
		}
	}
}

func TestSpark(t *testing.T) {
	if got := string(spark("x", nil)); strings.Contains(got, "polyline") {
		t.Errorf("empty series: got %s, want no line", got)
	}
	got := string(spark(`a"b`, []float64{0, 5, 10}))
	if !strings.Contains(got, `points="0.0,26.0 60.0,14.0 120.0,2.0 "`) || !strings.Contains(got, `aria-label="a&#34;b, last 10.0"`) {
		t.Errorf("got %s", got)
	}
}
