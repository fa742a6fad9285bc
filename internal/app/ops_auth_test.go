package app_test

// Operations suite (issue 4), client authentication: API keys in blocking
// and permissive mode, over real HTTP and through the official SDK.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// Client API keys of the authentication tests.
const (
	opsKeyValid    = "sk-ops-valid-5b1e"
	opsKeyDisabled = "sk-ops-disabled-77c2"
	opsKeyExpired  = "sk-ops-expired-a3d9"
	opsKeyOnlyA    = "sk-ops-only-a-0f64"
	opsKeyUnknown  = "sk-ops-unknown-e810"
)

// opsAuthKeys configures blocking API keys: one valid, one disabled, one
// expired by the fake clock's start (2025-01-01), one limited to model a.
func opsAuthKeys(mode string) func(*config.Config) {
	return func(c *config.Config) {
		c.APIKeys.Mode = mode
		c.APIKeys.Keys = []config.APIKey{
			{Key: opsKeyValid, ID: "valid", Enabled: true},
			{Key: opsKeyDisabled, ID: "disabled", Enabled: false},
			{Key: opsKeyExpired, ID: "expired", Enabled: true, ExpiresAt: time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)},
			{Key: opsKeyOnlyA, ID: "only-a", Enabled: true, Models: []string{"a"}},
		}
	}
}

// opsEnvelope is the OpenAI error envelope, with presence of each field kept.
type opsEnvelope struct {
	Error map[string]json.RawMessage `json:"error"`
}

// opsErrorType checks that body is an OpenAI error envelope with every
// field (message, type, param, code) and returns its type.
func opsErrorType(t *testing.T, body string) string {
	t.Helper()
	var env opsEnvelope
	if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error == nil {
		t.Fatalf("body %q is not an OpenAI error envelope: %v", body, err)
	}
	for _, field := range []string{"message", "type", "param", "code"} {
		if _, ok := env.Error[field]; !ok {
			t.Errorf("error envelope %s: field %q is missing", body, field)
		}
	}
	var typ, msg string
	json.Unmarshal(env.Error["type"], &typ)
	json.Unmarshal(env.Error["message"], &msg)
	if msg == "" {
		t.Errorf("error envelope %s: empty message", body)
	}
	return typ
}

// opsModelIDs returns the ids of a /v1/models answer.
func opsModelIDs(t *testing.T, body string) []string {
	t.Helper()
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("model list %q: %v", body, err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestOpsAuthBlocking(t *testing.T) {
	t.Parallel()
	e := start(t, withFakeClock(), withConfig(opsAuthKeys("blocking")),
		withBackend("x", mock.Options{Models: []string{"a", "b"}}))
	tests := []struct {
		name     string
		header   []string
		model    string
		want     int
		wantType string
	}{
		{"missing key", nil, "a", 401, "authentication_error"},
		{"unknown key", []string{"Authorization", "Bearer " + opsKeyUnknown}, "a", 401, "authentication_error"},
		{"disabled key", []string{"Authorization", "Bearer " + opsKeyDisabled}, "a", 401, "authentication_error"},
		{"expired key", []string{"Authorization", "Bearer " + opsKeyExpired}, "a", 401, "authentication_error"},
		{"expired key in X-Api-Key", []string{"X-Api-Key", opsKeyExpired}, "a", 401, "authentication_error"},
		{"valid key as bearer", []string{"Authorization", "Bearer " + opsKeyValid}, "a", 200, ""},
		{"valid key as X-Api-Key", []string{"X-Api-Key", opsKeyValid}, "b", 200, ""},
		{"bearer scheme in lower case", []string{"Authorization", "bearer " + opsKeyValid}, "a", 200, ""},
		{"model-limited key, allowed model", []string{"Authorization", "Bearer " + opsKeyOnlyA}, "a", 200, ""},
		{"model-limited key, other model", []string{"Authorization", "Bearer " + opsKeyOnlyA}, "b", 403, "permission_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := inference(e.Backends["x"])
			resp, body := e.Post("/v1/chat/completions", chatBody(tt.model, false), tt.header...)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == 200 {
				if got := inference(e.Backends["x"]); got != before+1 {
					t.Fatalf("backend requests: got %d, want %d", got, before+1)
				}
				return
			}
			if got := opsErrorType(t, body); got != tt.wantType {
				t.Errorf("error type: got %q, want %q", got, tt.wantType)
			}
			if got := inference(e.Backends["x"]); got != before {
				t.Errorf("a refused request reached the backend (%d calls, want %d)", got, before)
			}
			if tt.want == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without a WWW-Authenticate challenge")
			}
		})
	}

	t.Run("model list", func(t *testing.T) {
		for _, tt := range []struct {
			key  string
			want []string
		}{
			{opsKeyOnlyA, []string{"a"}},
			{opsKeyValid, []string{"a", "b"}},
		} {
			resp, body := e.Get("/v1/models", "Authorization", "Bearer "+tt.key)
			if resp.StatusCode != 200 {
				t.Fatalf("GET /v1/models: got %d %s, want 200", resp.StatusCode, body)
			}
			if got := opsModelIDs(t, body); !slices.Equal(got, tt.want) {
				t.Errorf("models for key %s: got %v, want %v", tt.key, got, tt.want)
			}
		}
		resp, body := e.Get("/v1/models/b", "Authorization", "Bearer "+opsKeyOnlyA)
		if resp.StatusCode != 404 {
			t.Errorf("GET /v1/models/b with a key limited to a: got %d %s, want 404", resp.StatusCode, body)
		}
		resp, body = e.Get("/v1/models")
		if resp.StatusCode != 401 || opsErrorType(t, body) != "authentication_error" {
			t.Errorf("GET /v1/models without a key: got %d %s, want 401 authentication_error", resp.StatusCode, body)
		}
	})

	t.Run("health needs no key", func(t *testing.T) {
		for _, path := range []string{"/health", "/healthz", "/ready"} {
			if resp, body := e.Get(path); resp.StatusCode != 200 {
				t.Errorf("GET %s without a key: got %d %s, want 200", path, resp.StatusCode, body)
			}
		}
	})

	t.Run("SDK", func(t *testing.T) {
		params := func(model string) openai.ChatCompletionNewParams {
			return openai.ChatCompletionNewParams{
				Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			}
		}
		tests := []struct {
			name     string
			key      string
			model    string
			want     int
			wantType string
		}{
			{"unknown key", opsKeyUnknown, "a", 401, "authentication_error"},
			{"expired key", opsKeyExpired, "a", 401, "authentication_error"},
			{"forbidden model", opsKeyOnlyA, "b", 403, "permission_error"},
		}
		for _, tt := range tests {
			c := e.SDK(option.WithAPIKey(tt.key))
			_, err := c.Chat.Completions.New(context.Background(), params(tt.model))
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("%s: got %v, want *openai.Error", tt.name, err)
			}
			if apiErr.StatusCode != tt.want || apiErr.Type != tt.wantType {
				t.Errorf("%s: got %d %q, want %d %q", tt.name, apiErr.StatusCode, apiErr.Type, tt.want, tt.wantType)
			}
		}
		c := e.SDK(option.WithAPIKey(opsKeyValid))
		if _, err := c.Chat.Completions.New(context.Background(), params("b")); err != nil {
			t.Errorf("valid key: %v", err)
		}
	})
}

func TestOpsAuthPermissive(t *testing.T) {
	t.Parallel()
	e := start(t, withFakeClock(), withConfig(opsAuthKeys("permissive")),
		withBackend("x", mock.Options{Models: []string{"a", "b"}}))
	tests := []struct {
		name   string
		header []string
		model  string
		want   int
	}{
		{"no key", nil, "b", 200},
		{"unknown key", []string{"Authorization", "Bearer " + opsKeyUnknown}, "b", 200},
		{"valid key", []string{"X-Api-Key", opsKeyValid}, "b", 200},
		// A valid key keeps its restrictions in permissive mode.
		{"model-limited key, other model", []string{"Authorization", "Bearer " + opsKeyOnlyA}, "b", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.Post("/v1/chat/completions", chatBody(tt.model, false), tt.header...)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
	resp, body := e.Get("/v1/models")
	if resp.StatusCode != 200 || !slices.Equal(opsModelIDs(t, body), []string{"a", "b"}) {
		t.Errorf("GET /v1/models without a key: got %d %s, want 200 with a and b", resp.StatusCode, body)
	}
}

func TestOpsKeyScopes(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{Models: []string{"m"}}), withConfig(func(c *config.Config) {
		c.APIKeys.Mode = "blocking"
		c.APIKeys.Keys = []config.APIKey{
			{Key: "sk-reader", ID: "reader", Scopes: []string{"read"}, Enabled: true},
			{Key: "sk-writer", ID: "writer", Scopes: []string{"write"}, Enabled: true},
			{Key: "sk-any", ID: "any", Enabled: true},
		}
	}))
	for _, tt := range []struct {
		key          string
		chat, models int
	}{{"sk-reader", 403, 200}, {"sk-writer", 200, 200}, {"sk-any", 200, 200}} {
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false), "Authorization", "Bearer "+tt.key)
		if resp.StatusCode != tt.chat {
			t.Errorf("%s chat: got %d %s, want %d", tt.key, resp.StatusCode, body, tt.chat)
		}
		if tt.chat == 403 && opsErrorType(t, body) != "permission_error" {
			t.Errorf("%s chat: error type %q, want permission_error", tt.key, opsErrorType(t, body))
		}
		if resp, _ := e.Get("/v1/models", "Authorization", "Bearer "+tt.key); resp.StatusCode != tt.models {
			t.Errorf("%s models: got %d, want %d", tt.key, resp.StatusCode, tt.models)
		}
	}
}
