package app_test

// Admin API growth (issue 11): configuration history, diff, rollback written
// back to the file with its secrets, dry-run validation, backends and API
// keys changed at run time and persisted with the file's comments, and the
// usage statistics, over real HTTP.

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const manageToken = "manage-admin-token"

// manageConfig is a configuration file with comments and a secret.
const manageConfig = `# Router of the integration test.
health_checks: {enabled: false}
admin:
  auth:
    method: bearer
    token: manage-admin-token   # the admin credential
api_keys:
  mode: blocking
  api_keys:
    - key: sk-team-a-secret-0123456789
      id: team-a
backends:
  # The first backend.
  - name: a
    url: "{{BACKEND}}"
    api_key: sk-upstream-secret-abcdef0123
    models: [m]
`

// manage sends an admin request and decodes a JSON answer into out (when
// not nil); it returns the status and body.
func manage(t *testing.T, e *env, method, path, body string, out any) (int, string) {
	t.Helper()
	resp, text := send(t, method, e.URL+path, body, "Authorization", "Bearer "+manageToken)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal([]byte(text), out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, text, err)
		}
	}
	return resp.StatusCode, text
}

type manageVersion struct {
	ID      int    `json:"id"`
	Trigger string `json:"trigger"`
	SHA256  string `json:"sha256"`
	Current bool   `json:"current"`
	YAML    string `json:"yaml"`
}

func startManaged(t *testing.T) (*env, string, string) {
	t.Helper()
	backend := mockServer(t, "m", "n")
	dir := parityFiles(t, backend, map[string]string{"config.yaml": manageConfig})
	path := filepath.Join(dir, "config.yaml")
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	return startFile(t, path), path, backend
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestManageBackendsAndRollback(t *testing.T) {
	t.Parallel()
	e, path, backend := startManaged(t)
	original := readFile(t, path)

	// Add a backend: applied (its model routes), written with the comments kept.
	var added struct {
		Version manageVersion  `json:"version"`
		Backend map[string]any `json:"backend"`
	}
	body := `{"name":"b","url":"` + backend + `","models":["n"],"weight":2}`
	if code, text := manage(t, e, "POST", "/admin/backends", body, &added); code != 201 {
		t.Fatalf("POST /admin/backends: got %d %s, want 201", code, text)
	}
	if added.Version.Trigger != "backend_add" || added.Backend["name"] != "b" {
		t.Errorf("got %+v, want the new version and backend b", added)
	}
	file := readFile(t, path)
	for _, want := range []string{"# Router of the integration test.", "# The first backend.", "# the admin credential", "name: b", "sk-upstream-secret-abcdef0123"} {
		if !strings.Contains(file, want) {
			t.Errorf("the file lost %q:\n%s", want, file)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("file mode: got %v (%v), want 0640 kept", fi.Mode().Perm(), err)
	}
	client := e.SDK(option.WithAPIKey("sk-team-a-secret-0123456789"))
	if _, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model: "n", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}); err != nil {
		t.Errorf("a request for the added backend's model: %v", err)
	}

	// Change it, then a change that would be invalid: 422, nothing written.
	if code, text := manage(t, e, "PUT", "/admin/backends/b", `{"weight":5}`, nil); code != 200 {
		t.Fatalf("PUT: got %d %s", code, text)
	}
	if b := e.Backend("b"); b.Weight != 5 {
		t.Errorf("weight after PUT: got %d, want 5", b.Weight)
	}
	before := readFile(t, path)
	code, text := manage(t, e, "PUT", "/admin/backends/b", `{"url":"ftp://nowhere"}`, nil)
	if code != 422 || !strings.Contains(text, "backends[1].url") || !strings.Contains(text, "invalid_config") {
		t.Errorf("invalid PUT: got %d %s, want 422 naming backends[1].url", code, text)
	}
	if readFile(t, path) != before {
		t.Errorf("an invalid change was written to the file")
	}
	if code, _ := manage(t, e, "PUT", "/admin/backends/zzz", `{"weight":1}`, nil); code != 404 {
		t.Errorf("PUT unknown backend: got %d, want 404", code)
	}
	if code, _ := manage(t, e, "POST", "/admin/backends", `{"name":"a","url":"http://x"}`, nil); code != 409 {
		t.Errorf("POST an existing name: got %d, want 409", code)
	}

	// Remove it.
	if code, text := manage(t, e, "DELETE", "/admin/backends/b", "", nil); code != 200 {
		t.Fatalf("DELETE: got %d %s", code, text)
	}
	if strings.Contains(readFile(t, path), "name: b") {
		t.Errorf("the removed backend is still in the file")
	}

	// History: startup, add, update, remove; newest first.
	var hist struct {
		Versions []manageVersion `json:"versions"`
	}
	manage(t, e, "GET", "/admin/config/history", "", &hist)
	var triggers []string
	for _, v := range hist.Versions {
		triggers = append(triggers, v.Trigger)
	}
	if got, want := strings.Join(triggers, ","), "backend_remove,backend_update,backend_add,startup"; got != want {
		t.Fatalf("history triggers: got %s, want %s", got, want)
	}
	if !hist.Versions[0].Current || hist.Versions[3].Current {
		t.Errorf("current: got %+v, want only the newest", hist.Versions)
	}

	// One version is redacted; a diff shows the change.
	var v2 manageVersion
	manage(t, e, "GET", "/admin/config/history/2", "", &v2)
	if !strings.Contains(v2.YAML, "name: b") || strings.Contains(v2.YAML, "sk-upstream-secret") || strings.Contains(v2.YAML, "sk-team-a-secret") {
		t.Errorf("version 2 YAML: want backend b and no secret:\n%s", v2.YAML)
	}
	code, diff := manage(t, e, "GET", "/admin/config/diff?from=2&to=3", "", nil)
	if code != 200 || !regexp.MustCompile(`(?m)^-\s+weight: 2$`).MatchString(diff) || !regexp.MustCompile(`(?m)^\+\s+weight: 5$`).MatchString(diff) {
		t.Errorf("diff 2→3: got %d\n%s\nwant the weight change", code, diff)
	}

	// Roll back to version 2: backend b is back, in the router and the file,
	// and the secrets survived the round trip.
	if code, text := manage(t, e, "POST", "/admin/config/rollback/2", "", nil); code != 200 {
		t.Fatalf("rollback: got %d %s", code, text)
	}
	if b := e.Backend("b"); b.Weight != 2 {
		t.Errorf("after rollback: backend b weight %d, want 2", b.Weight)
	}
	file = readFile(t, path)
	if !strings.Contains(file, "name: b") || !strings.Contains(file, "sk-upstream-secret-abcdef0123") || !strings.Contains(file, "sk-team-a-secret-0123456789") {
		t.Errorf("file after rollback: want backend b and both secrets:\n%s", file)
	}
	var cur struct {
		Backends []map[string]any `json:"backends"`
	}
	manage(t, e, "GET", "/admin/config", "", &cur)
	if len(cur.Backends) != 2 {
		t.Errorf("GET /admin/config after rollback: got %d backends, want 2", len(cur.Backends))
	}
	// Back to the start: the file is the original text again.
	if code, _ := manage(t, e, "POST", "/admin/config/rollback/1", "", nil); code != 200 || readFile(t, path) != original {
		t.Errorf("rollback to 1: got %d and file\n%s\nwant the original", code, readFile(t, path))
	}
	if code, _ := manage(t, e, "POST", "/admin/config/rollback/99", "", nil); code != 404 {
		t.Errorf("rollback to an unknown version: got %d, want 404", code)
	}
}

func TestManageValidate(t *testing.T) {
	t.Parallel()
	e, path, _ := startManaged(t)
	before := readFile(t, path)
	var ok struct {
		Valid    bool     `json:"valid"`
		Warnings []string `json:"warnings"`
	}
	if code, text := manage(t, e, "POST", "/admin/config/validate", "request:\n  retry_delay: 1s\nbackends: [{name: x, url: \"http://127.0.0.1:1\"}]\n", &ok); code != 200 {
		t.Fatalf("validate: got %d %s", code, text)
	}
	if !ok.Valid || len(ok.Warnings) != 1 || !strings.Contains(ok.Warnings[0], "config.yaml:2:3: key \"request.retry_delay\"") {
		t.Errorf("got %+v, want valid with the retry_delay warning at 2:3", ok)
	}
	code, text := manage(t, e, "POST", "/admin/config/validate", "backends:\n  - name: x\n    urll: http://h\n", nil)
	if code != 422 || !strings.Contains(text, `config.yaml:3:5: unknown key \"backends[0].urll\"`) {
		t.Errorf("invalid: got %d %s, want 422 with file:line:col", code, text)
	}
	if readFile(t, path) != before || len(e.App.History()) != 1 {
		t.Errorf("a dry run changed the file or the history")
	}
}

func TestManageKeysAndStats(t *testing.T) {
	t.Parallel()
	e, path, _ := startManaged(t)
	var created struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if code, text := manage(t, e, "POST", "/admin/keys", `{"id":"ci","name":"CI","models":["m"]}`, &created); code != 201 {
		t.Fatalf("POST /admin/keys: got %d %s", code, text)
	}
	if created.ID != "ci" || !strings.HasPrefix(created.Key, "sk-cnt-") {
		t.Fatalf("got %+v, want id ci and a generated secret", created)
	}
	if !strings.Contains(readFile(t, path), created.Key) {
		t.Errorf("the new key is not in the file")
	}
	if _, text := manage(t, e, "GET", "/admin/config", "", nil); strings.Contains(text, created.Key) {
		t.Errorf("GET /admin/config shows the new key's secret")
	}
	if code, _ := manage(t, e, "POST", "/admin/keys", `{"id":"ci"}`, nil); code != 409 {
		t.Errorf("a second key with id ci: got %d, want 409", code)
	}

	chat := func(key string) error {
		c := e.SDK(option.WithAPIKey(key))
		_, err := c.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		return err
	}
	for range 3 {
		if err := chat(created.Key); err != nil {
			t.Fatalf("request with the new key: %v", err)
		}
	}
	if err := chat("sk-not-a-key-0000000000"); err == nil {
		t.Errorf("an unknown key was accepted in blocking mode")
	}

	var stats struct {
		Keys     map[string]map[string]float64 `json:"keys"`
		Backends map[string]map[string]float64 `json:"backends"`
	}
	manage(t, e, "GET", "/admin/stats", "", &stats)
	if ci := stats.Keys["ci"]; ci["requests"] != 3 || ci["errors"] != 0 || ci["tokens_out"] == 0 || ci["latency_ms"] <= 0 {
		t.Errorf("stats of key ci: got %v, want 3 requests with tokens and latency", ci)
	}
	if none := stats.Keys["none"]; none["requests"] != 1 || none["errors"] != 1 {
		t.Errorf("stats without a valid key: got %v, want 1 failed request", none)
	}
	if a := stats.Backends["a"]; a["requests"] != 3 || a["tokens_in"] == 0 || a["ttft_ms"] <= 0 {
		t.Errorf("stats of backend a: got %v, want 3 requests", a)
	}

	// Revoke: the key is disabled in the file and refused.
	if code, text := manage(t, e, "DELETE", "/admin/keys/ci", "", nil); code != 200 {
		t.Fatalf("DELETE /admin/keys/ci: got %d %s", code, text)
	}
	if err := chat(created.Key); err == nil {
		t.Errorf("a revoked key was accepted")
	}
	if code, _ := manage(t, e, "DELETE", "/admin/keys/nope", "", nil); code != http.StatusNotFound {
		t.Errorf("revoke an unknown key: got %d, want 404", code)
	}
	if f := e.App.RecentFailures(); len(f) < 2 || f[0].Status != 401 {
		t.Errorf("recent failures: got %+v, want the refused requests, newest first", f)
	}
}
