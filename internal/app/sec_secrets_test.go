package app_test

// Security review: credentials written as URL query parameters (a Redis
// sentinel password, a Gemini-style ?key=) are masked wherever URLs are
// shown: the admin API, the history, the dashboard and diagnostics.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/mock"
)

const (
	secRedisPassword = "SENTQ-SECRET-4444"
	secQueryKey      = "QUERYKEY-SECRET-2121"
)

// TestSecURLQueryCredentialsHidden: the Redis URL's password= is shown as
// **** by GET /admin/config, the history's YAML and /ui/config; a backend
// URL with ?key= is refused by a reload, by `continuum check` and in the log
// without quoting the key.
func TestSecURLQueryCredentialsHidden(t *testing.T) {
	t.Parallel()
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}})
	yaml := fmt.Sprintf(`health_checks: { enabled: false }
admin:
  auth: { method: bearer_token, token: %s }
rate_limiting:
  redis:
    url: "redis+sentinel://127.0.0.1:26379?master_name=mymaster&password=%s"
backends:
  - name: a
    url: %s
    models: [m]
`, ohAdminToken, secRedisPassword, a.URL)
	e, path := opsStartFile(t, yaml, opsFileSetup{Backends: []*testBackend{a}})

	const wantURL = "redis+sentinel://127.0.0.1:26379?master_name=mymaster&password=****"
	cfg, cfgBody := ohAdminConfig(t, e)
	rl, _ := cfg["rate_limiting"].(map[string]any)
	redis, _ := rl["redis"].(map[string]any)
	if got := redis["url"]; got != wantURL {
		t.Errorf("/admin/config rate_limiting.redis.url: got %v, want %s", got, wantURL)
	}
	shown := map[string]string{"/admin/config": cfgBody}
	for _, p := range []string{"/admin/config/history/1", "/ui/config"} {
		resp, body := send(t, http.MethodGet, opsAdminURL(e)+p, "", ohAdmin...)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: got %d %s, want 200", p, resp.StatusCode, body)
		}
		if !strings.Contains(body, "password=****") {
			t.Errorf("GET %s does not show the masked password:\n%s", p, body)
		}
		shown[p] = body
	}

	// A backend URL with a key in its query is refused without quoting it.
	broken := strings.Replace(yaml, "url: "+a.URL+"\n", `url: "`+a.URL+"/?key="+secQueryKey+"\"\n", 1)
	opsWriteConfig(t, path, broken)
	resp, reloadBody := e.Post("/admin/config/reload", "", ohAdmin...)
	if resp.StatusCode != 422 {
		t.Fatalf("reload: got %d %s, want 422", resp.StatusCode, reloadBody)
	}
	if want := `?key=****\": a base URL has no query or fragment`; !strings.Contains(reloadBody, want) {
		t.Errorf("reload answer %s does not hold %s", reloadBody, want)
	}
	shown["the reload answer"] = reloadBody
	e.Logs.WaitFor(t, "a base URL has no query or fragment")
	shown["the logs"] = e.Logs.String()

	code, stdout, stderr := rtMain(t, "check", "-c", path)
	if code != 1 || !strings.Contains(stderr, "?key=****") {
		t.Errorf("check: got exit code %d and\n%s\nwant 1 and the URL with ?key=****", code, stderr)
	}
	shown["continuum check"] = stdout + stderr

	for name, text := range shown {
		for _, secret := range []string{secRedisPassword, secQueryKey} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the secret %q:\n%s", name, secret, text)
			}
		}
	}
}
