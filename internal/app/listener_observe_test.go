package app_test

// Listener hardening, end to end: every request the listener answers is in
// the access log and in continuum_requests_total with a bounded endpoint
// label, including unknown paths and requests refused before routing, and
// access lines say who asked for what.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/mock"
	"github.com/continuumhq/continuum/internal/server"
)

// accessLine waits for the JSON access line of a request and decodes it.
func accessLine(t *testing.T, e *env, reqID string) map[string]any {
	t.Helper()
	line := e.Logs.WaitFor(t, `"msg":"request"`, `"request_id":"`+reqID+`"`)
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("access line %q: %v", line, err)
	}
	return m
}

func TestListenerAccessLines(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}), withConfig(func(c *config.Config) {
		c.Logging.Format = "json"
		c.Server.MaxBodySize = 1024
		c.APIKeys.Keys = []config.APIKey{{Key: "sk-reader-31d0", ID: "reader", Enabled: true, Scopes: []string{"read"}}}
	}))
	longUA := "agent/1.0 \u202e" + strings.Repeat("u", 1000)
	tests := []struct {
		name, method, path, body string
		header                   []string
		want                     int
		wantFields               map[string]any
	}{
		{name: "proxied", method: "POST", path: "/v1/chat/completions?trace=sk-query-secret", body: chatBody(mock.DefaultModel, false),
			header: []string{"User-Agent", longUA}, want: 200,
			wantFields: map[string]any{"client_ip": "127.0.0.1", "method": "POST", "path": "/v1/chat/completions",
				"user_agent": ("agent/1.0 " + strings.Repeat("u", 1000))[:256], "endpoint": "chat_completions", "status": 200.0}},
		{name: "unknown path", method: "GET", path: "/v1/unknown%0A%1b[31mred?x=sk-query-secret", header: []string{"User-Agent", "curl/8.5"}, want: 404,
			wantFields: map[string]any{"method": "GET", "path": "/v1/unknown[31mred", "user_agent": "curl/8.5",
				"endpoint": "unknown", "status": 404.0, "error": "not_found"}},
		{name: "body too large", method: "POST", path: "/v1/completions", body: `{"model":"m","prompt":"` + strings.Repeat("x", 2000) + `"}`,
			want: 413, wantFields: map[string]any{"method": "POST", "path": "/v1/completions", "endpoint": "completions", "status": 413.0, "error": "body_too_large"}},
		{name: "missing scope", method: "POST", path: "/v1/chat/completions", body: chatBody(mock.DefaultModel, false),
			header: []string{"Authorization", "Bearer sk-reader-31d0"}, want: 403,
			wantFields: map[string]any{"key_id": "reader", "status": 403.0, "error": "missing_scope"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "access-" + string(rune('a'+i))
			resp, body := send(t, tt.method, e.URL+tt.path, tt.body, append([]string{"X-Request-Id", id}, tt.header...)...)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if got := resp.Header.Get("X-Request-Id"); got != id {
				t.Errorf("got X-Request-Id %q, want %q", got, id)
			}
			line := accessLine(t, e, id)
			for k, want := range tt.wantFields {
				if line[k] != want {
					t.Errorf("access line field %s: got %#v, want %#v", k, line[k], want)
				}
			}
			if strings.Contains(e.Logs.String(), "sk-query-secret") {
				t.Error("the logs hold the query string")
			}
		})
	}

	m := opsScrape(t, e.URL+"/metrics")
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"endpoint", "unknown", "status", "404"}, 1},
		{[]string{"endpoint", "completions", "status", "413"}, 1},
		{[]string{"endpoint", "chat_completions", "status", "403"}, 1},
	} {
		if got := m.Sum("continuum_requests_total", c.labels...); got != c.want {
			t.Errorf("continuum_requests_total%v: got %v, want %v", c.labels, got, c.want)
		}
	}
	if got := m.Sum("continuum_auth_failures_total", "reason", "missing_scope"); got != 1 {
		t.Errorf(`continuum_auth_failures_total{reason="missing_scope"}: got %v, want 1`, got)
	}
	if got := m.Sum("continuum_auth_failures_total", "reason", "forbidden_model"); got != 0 {
		t.Errorf(`continuum_auth_failures_total{reason="forbidden_model"}: got %v, want 0 (a missing scope is not a forbidden model)`, got)
	}
	for _, s := range m.Find("continuum_requests_total") {
		switch s.Labels["endpoint"] {
		case "chat_completions", "completions", "embeddings", "models", "unknown", "other":
		default:
			t.Errorf("continuum_requests_total has endpoint %q, not a fixed label", s.Labels["endpoint"])
		}
	}
}

func TestListenerUnknownPathsBoundedLabels(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}))
	for _, p := range []string{"/a", "/b/c", "/v1/x?y=1", "/v2/chat/completions", "/%ff"} {
		if resp, body := e.Get(p); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: got %d %s, want 404", p, resp.StatusCode, body)
		}
	}
	m := opsScrape(t, e.URL+"/metrics")
	if got := m.Sum("continuum_requests_total", "endpoint", "unknown", "status", "404"); got != 5 {
		t.Errorf(`continuum_requests_total{endpoint="unknown",status="404"}: got %v, want 5`, got)
	}
	if n := len(m.Find("continuum_requests_total", "endpoint", "unknown")); n != 1 {
		t.Errorf("got %d series for unknown paths, want 1", n)
	}
}

// TestListenerPanicCounted checks the app's side of a recovered panic: the
// listener reports the request with error kind "panic" (see the server
// package's TestPanicRecovery, which injects them), and the app counts it
// in continuum_panics_total and logs the access line as a server error.
func TestListenerPanicCounted(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}))
	before := opsScrape(t, e.URL+"/metrics").Sum("continuum_panics_total")
	for range 2 {
		e.App.RequestDone(&exchange.Record{Start: time.Now(), RequestID: "panicked", Endpoint: "chat_completions", Status: 500, ErrorKind: server.ErrorPanic})
	}
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_panics_total"); got != before+2 {
		t.Errorf("continuum_panics_total: got %v, want %v", got, before+2)
	}
	e.Logs.WaitFor(t, "level=WARN", "msg=request", "request_id=panicked", "status=500", "error=panic")
}
