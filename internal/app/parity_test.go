package app_test

// Parity with continuum-router (issue 11): its habits carry over. The
// command line without a subcommand, the admin "bearer" method, desktop
// CORS origins, and model metadata served in /v1/models over real HTTP with
// the official SDK.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// parityFiles writes files (name → content) into a fresh directory and
// returns the directory. "{{BACKEND}}" in a content is replaced by backend.
func parityFiles(t *testing.T, backend string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		content = strings.ReplaceAll(content, "{{BACKEND}}", backend)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startFile runs a router on the configuration file path, as serve does
// (reloads read the file again), without watching it.
func startFile(t *testing.T, path string) *env {
	t.Helper()
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	e := &env{t: t, Backends: map[string]*testBackend{}, Logs: &syncBuffer{}, Config: cfg}
	e.launch(app.Options{Config: cfg, ConfigPath: path, NoWatch: true})
	return e
}

// mockServer starts a simulated backend serving models.
func mockServer(t *testing.T, models ...string) string {
	t.Helper()
	srv := httptest.NewServer(mock.New(mock.Options{Models: models}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestParityServeWithoutSubcommand(t *testing.T) {
	t.Parallel()
	backend := mockServer(t, "m")
	dir := parityFiles(t, backend, map[string]string{"config.yaml": "backends:\n  - {name: a, url: \"{{BACKEND}}\", models: [m]}\nhealth_checks: {enabled: false}\n"})
	path := filepath.Join(dir, "config.yaml")
	for _, args := range [][]string{
		{"--config", path, "--listen", "127.0.0.1:0"},
		{"-c", path, "--listen", "127.0.0.1:0"},
		{"--config=" + path, "--listen=127.0.0.1:0"},
	} {
		t.Run(strings.Join(args[:1], " "), func(t *testing.T) {
			t.Parallel()
			_, stderr, stop := rtMainAsync(t, args...)
			stderr.WaitFor(t, "listening")
			if code := stop(); code != 0 {
				t.Errorf("continuum %q: got exit code %d, want 0", args, code)
			}
		})
	}
	t.Run("an unknown flag is a usage error", func(t *testing.T) {
		t.Parallel()
		if code, _, stderr := rtMain(t, "--bogus"); code != 2 || !strings.Contains(stderr, "serve") {
			t.Errorf("got exit code %d and %q, want 2 with serve's usage", code, stderr)
		}
	})
}

func TestParityAdminBearerAlias(t *testing.T) {
	t.Parallel()
	const token = "parity-admin-token"
	e := start(t, withConfig(opsAdminAuth("bearer", token, "", "")), withBackend("a", mock.Options{}))
	if resp, body := e.Get("/admin/backends", "Authorization", "Bearer "+token); resp.StatusCode != 200 {
		t.Errorf("GET /admin/backends with method bearer: got %d %s, want 200", resp.StatusCode, body)
	}
	if resp, _ := e.Get("/admin/backends", "Authorization", "Bearer wrong"); resp.StatusCode != 401 {
		t.Errorf("wrong token: got %d, want 401", resp.StatusCode)
	}
}

func TestParityDesktopCORSOrigins(t *testing.T) {
	t.Parallel()
	e := start(t, withConfig(func(c *config.Config) {
		c.Server.CORS.Enabled = true
		c.Server.CORS.AllowedOrigins = []string{"tauri://localhost", "app://continuum-desktop"}
	}), withBackend("a", mock.Options{}))
	tests := []struct {
		origin string
		allow  bool
	}{
		{"tauri://localhost", true},
		{"app://continuum-desktop", true},
		{"tauri://localhost.evil.example", false},
		{"http://localhost", false},
		{"app://continuum", false},
	}
	for _, tt := range tests {
		resp, _ := e.Get("/v1/models", "Origin", tt.origin)
		got := resp.Header.Get("Access-Control-Allow-Origin")
		if want := map[bool]string{true: tt.origin, false: ""}[tt.allow]; got != want {
			t.Errorf("Origin %s: Access-Control-Allow-Origin %q, want %q", tt.origin, got, want)
		}
	}
}

// TestParityModelMetadata serves model_metadata_file merged with
// model_configs[].metadata in /v1/models and /v1/models/{id}, read with the
// official SDK, and reloads both with the configuration.
func TestParityModelMetadata(t *testing.T) {
	t.Parallel()
	backend := mockServer(t, "llama-8b", "qwen-7b", "bare")
	dir := parityFiles(t, backend, map[string]string{
		"config.yaml": `
model_metadata_file: models.yaml
health_checks: {enabled: false}
admin: {auth: {method: bearer, token: tok}}
backends:
  - name: a
    url: "{{BACKEND}}"
    models: [llama-8b, qwen-7b, bare]
    model_configs:
      - id: llama-8b
        aliases: [llama]
        metadata:
          display_name: "Llama 3.1 8B Instruct"
          pricing: {input_tokens: 0.03, output_tokens: 0.06}
`,
		"models.yaml": `
llama-8b:
  display_name: "Llama 8B"
  capabilities: [chat, function_calling]
  context_length: 131072
qwen-7b:
  display_name: "Qwen 7B"
  context_length: 32768
`,
	})
	e := startFile(t, filepath.Join(dir, "config.yaml"))
	client := e.SDK()
	ctx := context.Background()

	metadataOf := func(raw string) map[string]any {
		t.Helper()
		var m struct {
			Metadata map[string]any `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		return m.Metadata
	}
	llama := map[string]any{
		"display_name":   "Llama 3.1 8B Instruct",
		"capabilities":   []any{"chat", "function_calling"},
		"context_length": float64(131072),
		"pricing":        map[string]any{"input_tokens": 0.03, "output_tokens": 0.06},
	}
	want := map[string]map[string]any{
		"llama-8b": llama,
		"llama":    llama, // an alias shows its model's metadata
		"qwen-7b":  {"display_name": "Qwen 7B", "context_length": float64(32768)},
		"bare":     nil,
	}
	page, err := client.Models.List(ctx)
	if err != nil {
		t.Fatalf("Models.List: %v", err)
	}
	seen := 0
	for _, m := range page.Data {
		w, ok := want[m.ID]
		if !ok {
			continue
		}
		seen++
		if got := metadataOf(m.RawJSON()); !reflect.DeepEqual(got, w) {
			t.Errorf("List %s metadata:\ngot  %v\nwant %v", m.ID, got, w)
		}
		if m.ID == "bare" && strings.Contains(m.RawJSON(), "metadata") {
			t.Errorf("List bare: got %s, want no metadata key", m.RawJSON())
		}
	}
	if seen != len(want) {
		t.Errorf("List: saw %d of the models %v", seen, want)
	}
	for id, w := range want {
		m, err := client.Models.Get(ctx, id)
		if err != nil {
			t.Fatalf("Models.Get(%s): %v", id, err)
		}
		if got := metadataOf(m.RawJSON()); !reflect.DeepEqual(got, w) {
			t.Errorf("Get %s metadata:\ngot  %v\nwant %v", id, got, w)
		}
	}

	// Both are read again on reload.
	if err := os.WriteFile(filepath.Join(dir, "models.yaml"), []byte("qwen-7b: {display_name: Qwen 2.5 7B}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if resp, body := e.Post("/admin/config/reload", "", "Authorization", "Bearer tok"); resp.StatusCode != 200 {
		t.Fatalf("reload: got %d %s", resp.StatusCode, body)
	}
	m, err := client.Models.Get(ctx, "qwen-7b")
	if err != nil {
		t.Fatal(err)
	}
	if got := metadataOf(m.RawJSON()); !reflect.DeepEqual(got, map[string]any{"display_name": "Qwen 2.5 7B"}) {
		t.Errorf("after reload: got %v, want the new file's metadata", got)
	}
	if resp, _ := e.Get("/v1/models/bare"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/models/bare: got %d, want 200", resp.StatusCode)
	}
}
