package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The fake Source is also a Manager: two versions, and changes that record
// what they were asked.

func (s *fakeSource) History() []Version {
	return []Version{
		{ID: 2, Time: time.Unix(20, 0).UTC(), Trigger: "admin", SHA256: "bb", Current: true},
		{ID: 1, Time: time.Unix(10, 0).UTC(), Trigger: "startup", SHA256: "aa"},
	}
}

func (s *fakeSource) Version(id int) (Version, bool) {
	for _, v := range s.History() {
		if v.ID == id {
			v.YAML = fmt.Sprintf("server:\n  bind_address: [\"127.0.0.1:808%d\"]\nbackends: []\n", id)
			return v, true
		}
	}
	return Version{}, false
}

func (s *fakeSource) Rollback(id int) (Version, error) {
	if _, ok := s.Version(id); !ok {
		return Version{}, fmt.Errorf("%w: version %d", ErrNotFound, id)
	}
	return Version{ID: 3, Trigger: "rollback", Current: true}, nil
}

func (s *fakeSource) Validate(text []byte) ([]string, error) {
	if strings.Contains(string(text), "bogus") {
		return nil, errors.Join(ErrInvalidConfig, errors.New("config.yaml:1:1: unknown key \"bogus\""))
	}
	return []string{"config.yaml: no backends are configured"}, nil
}

func (s *fakeSource) AddBackend(fields map[string]any) (Version, error) {
	if fields["name"] == "vllm-a" {
		return Version{}, fmt.Errorf("%w: backend \"vllm-a\" already exists", ErrConflict)
	}
	return Version{ID: 3, Trigger: "backend_add"}, nil
}

func (s *fakeSource) UpdateBackend(name string, fields map[string]any) (Version, error) {
	return Version{ID: 3, Trigger: "backend_update"}, nil
}

func (s *fakeSource) RemoveBackend(name string) (Version, error) {
	if name == "nope" {
		return Version{}, fmt.Errorf("%w: backend %q", ErrNotFound, name)
	}
	return Version{ID: 3, Trigger: "backend_remove"}, nil
}

func (s *fakeSource) CreateKey(fields map[string]any) (string, string, Version, error) {
	return "key-1", "sk-cnt-secret", Version{ID: 3, Trigger: "key_create"}, nil
}

func (s *fakeSource) RevokeKey(id string) (Version, error) {
	return Version{ID: 3, Trigger: "key_revoke"}, nil
}

func (s *fakeSource) Stats() Stats {
	return Stats{Keys: map[string]Usage{"team-a": {Requests: 3, TokensIn: 30}}}
}

func TestManagementAnswers(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantIn                   []string
	}{
		{"history", "GET", "/admin/config/history", "", 200, []string{`"id": 2`, `"current": true`, `"trigger": "startup"`}},
		{"one version", "GET", "/admin/config/history/1", "", 200, []string{`"yaml": "server:`}},
		{"unknown version", "GET", "/admin/config/history/9", "", 404, []string{`"code":"version_not_found"`}},
		{"bad version", "GET", "/admin/config/history/x", "", 400, []string{`"param":"id"`}},
		{"diff", "GET", "/admin/config/diff?from=1&to=2", "", 200, []string{"--- version 1\n+++ version 2\n", "-  bind_address: [\"127.0.0.1:8081\"]\n+  bind_address: [\"127.0.0.1:8082\"]"}},
		{"diff to current", "GET", "/admin/config/diff?from=1", "", 200, []string{"+++ version 2"}},
		{"diff without from", "GET", "/admin/config/diff", "", 400, []string{`"param":"from"`}},
		{"rollback", "POST", "/admin/config/rollback/1", "", 200, []string{`"trigger": "rollback"`}},
		{"rollback unknown", "POST", "/admin/config/rollback/7", "", 404, []string{"version_not_found"}},
		{"validate", "POST", "/admin/config/validate", "backends: []\n", 200, []string{`"valid": true`, "no backends"}},
		{"validate invalid", "POST", "/admin/config/validate", "bogus: 1\n", 422, []string{`"code":"invalid_config"`, `config.yaml:1:1: unknown key`}},
		{"add backend", "POST", "/admin/backends", `{"name":"x","url":"http://h:1"}`, 201, []string{`"trigger": "backend_add"`}},
		{"add existing backend", "POST", "/admin/backends", `{"name":"vllm-a"}`, 409, []string{`"code":"conflict"`}},
		{"add backend, not JSON", "POST", "/admin/backends", `name: x`, 400, []string{`"code":"invalid_json"`}},
		{"remove unknown backend", "DELETE", "/admin/backends/nope", "", 404, []string{`"code":"backend_not_found"`}},
		{"create key", "POST", "/admin/keys", `{}`, 201, []string{`"key": "sk-cnt-secret"`, `"id": "key-1"`}},
		{"revoke key", "DELETE", "/admin/keys/key-1", "", 200, []string{`"enabled": false`}},
		{"stats", "GET", "/admin/stats", "", 200, []string{`"team-a"`, `"tokens_in": 30`, `"backends": {}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Handler(newFakeSource(), Options{Auth: bearerAuth})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, authorized(httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))))
			if w.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			for _, s := range tt.wantIn {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("body %s: does not contain %q", w.Body, s)
				}
			}
			if w.Code >= 400 {
				var env map[string]any
				if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env["error"] == nil {
					t.Errorf("error body %s: not the OpenAI envelope", w.Body)
				}
			}
		})
	}
}

func TestManagementNotSupported(t *testing.T) {
	h := Handler(struct{ Source }{newFakeSource()}, Options{Auth: bearerAuth})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, authorized(httptest.NewRequest(http.MethodGet, "/admin/stats", nil)))
	if w.Code != http.StatusNotImplemented {
		t.Errorf("status: got %d, want 501", w.Code)
	}
}
