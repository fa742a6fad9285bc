package app_test

// Edges of the listeners found by an outside tester: methods on the
// metrics endpoint, and request ids on the admin API's own listener.

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// TestMetricsMethods: the metrics endpoint answers GET and HEAD only, on
// either listener; any other method gets 405 in the OpenAI envelope with
// Allow: GET, HEAD, as /health and /openapi.json do.
func TestMetricsMethods(t *testing.T) {
	t.Parallel()
	for _, listener := range []string{config.MetricsOnMain, config.MetricsOnAdmin} {
		t.Run(listener, func(t *testing.T) {
			t.Parallel()
			e := start(t, withConfig(func(c *config.Config) {
				c.Admin.BindAddress = "127.0.0.1:0"
				c.Admin.Auth = config.AdminAuth{Method: "bearer_token", Token: ohAdminToken}
				c.Metrics.Listener = listener
			}), withBackend("a", mock.Options{}))
			url := e.URL + "/metrics"
			if listener == config.MetricsOnAdmin {
				url = opsAdminURL(e) + "/metrics"
			}
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				if resp, _ := send(t, method, url, ""); resp.StatusCode != 200 {
					t.Errorf("%s %s: got %d, want 200", method, url, resp.StatusCode)
				}
			}
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
				resp, body := send(t, method, url, "")
				if resp.StatusCode != 405 {
					t.Errorf("%s %s: got %d, want 405", method, url, resp.StatusCode)
					continue
				}
				if got := resp.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("%s %s: got Allow %q, want %q", method, url, got, "GET, HEAD")
				}
				var env struct {
					Error struct{ Type, Code, Message string }
				}
				if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error.Code != "method_not_allowed" || env.Error.Message == "" {
					t.Errorf("%s %s: body %s, want the OpenAI envelope with code method_not_allowed (%v)", method, url, body, err)
				}
			}
		})
	}
}

// TestAdminListenerRequestID: the admin API's own listener returns
// X-Request-Id on every answer (its 401, 403 and 404 too, and the metrics
// served there), by the main listener's rules: a valid client id is kept,
// another one is replaced by a generated id.
func TestAdminListenerRequestID(t *testing.T) {
	t.Parallel()
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	withAdmin := func(token string) setupOption {
		return withConfig(func(c *config.Config) {
			c.Admin.BindAddress = "127.0.0.1:0"
			c.Admin.Auth = config.AdminAuth{Method: "bearer_token", Token: token}
			c.Metrics.Listener = config.MetricsOnAdmin
		})
	}
	open := start(t, withAdmin(ohAdminToken), withBackend("a", mock.Options{}))
	disabled := start(t, withAdmin(""), withBackend("a", mock.Options{}))
	auth := ohAdmin
	tests := []struct {
		name   string
		e      *env
		method string
		path   string
		header []string
		status int
	}{
		{"200", open, http.MethodGet, "/admin/backends", auth, 200},
		{"401", open, http.MethodGet, "/admin/backends", nil, 401},
		{"403", disabled, http.MethodGet, "/admin/backends", auth, 403},
		{"404", open, http.MethodGet, "/admin/nope", auth, 404},
		{"405", open, http.MethodGet, "/admin/config/reload", auth, 405},
		{"metrics", open, http.MethodGet, "/metrics", nil, 200},
		{"metrics 405", open, http.MethodPost, "/metrics", nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := opsAdminURL(tt.e) + tt.path
			if url == tt.e.URL+tt.path {
				t.Fatal("the admin API has no listener of its own")
			}
			for _, id := range []struct{ sent, want string }{
				{"", ""},
				{"adm-1", "adm-1"},
				{"adm 2 with spaces", "adm 2 with spaces"},
				{"r\u00e9q", ""},
			} {
				header := append([]string(nil), tt.header...)
				if id.sent != "" {
					header = append(header, "X-Request-Id", id.sent)
				}
				resp, body := send(t, tt.method, url, "", header...)
				if resp.StatusCode != tt.status {
					t.Fatalf("%s %s: got %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.status)
				}
				got := resp.Header.Get("X-Request-Id")
				switch {
				case id.want != "" && got != id.want:
					t.Errorf("sent X-Request-Id %q: got %q, want it back", id.sent, got)
				case id.want == "" && !generated.MatchString(got):
					t.Errorf("sent X-Request-Id %q: got %q, want a generated id of 32 hex digits", id.sent, got)
				}
			}
		})
	}
}
