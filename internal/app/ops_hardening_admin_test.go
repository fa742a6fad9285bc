package app_test

// Hardening (operations): what the admin API shows.

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// ohAdminToken is the admin token of these tests.
const ohAdminToken = "oh-admin-token"

var ohAdmin = []string{"Authorization", "Bearer " + ohAdminToken}

// ohAdminConfig returns GET /admin/config decoded.
func ohAdminConfig(t *testing.T, e *env) (map[string]any, string) {
	t.Helper()
	resp, body := send(t, http.MethodGet, opsAdminURL(e)+"/admin/config", "", ohAdmin...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/config: got %d %s, want 200", resp.StatusCode, body)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(body), &cfg); err != nil {
		t.Fatalf("GET /admin/config: %v", err)
	}
	return cfg, body
}

// TestOpsHardeningKeyExpiryShown: a key that never expires has no
// expires_at in /admin/config (not 0001-01-01); one that does shows it.
func TestOpsHardeningKeyExpiryShown(t *testing.T) {
	t.Parallel()
	expiry := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e := start(t, withConfig(func(c *config.Config) {
		c.Admin.Auth = config.AdminAuth{Method: "bearer_token", Token: ohAdminToken}
		c.APIKeys.Keys = []config.APIKey{
			{Key: "k-never", ID: "never", Enabled: true},
			{Key: "k-expires", ID: "expires", Enabled: true, ExpiresAt: expiry},
		}
	}), withBackend("a", mock.Options{}))
	cfg, body := ohAdminConfig(t, e)
	if strings.Contains(body, "0001-01-01") {
		t.Errorf("/admin/config shows the zero time:\n%s", body)
	}
	keys := map[string]map[string]any{}
	ak, _ := cfg["api_keys"].(map[string]any)
	list, _ := ak["api_keys"].([]any)
	for _, k := range list {
		m, _ := k.(map[string]any)
		id, _ := m["id"].(string)
		keys[id] = m
	}
	if len(keys) != 2 {
		t.Fatalf("/admin/config api_keys.api_keys: got %v, want the two keys", ak)
	}
	if v, ok := keys["never"]["expires_at"]; ok && v != nil {
		t.Errorf("key that never expires: expires_at %v, want it absent", v)
	}
	if got, want := keys["expires"]["expires_at"], expiry.Format(time.RFC3339); got != want {
		t.Errorf("key that expires: expires_at %v, want %s", got, want)
	}
}

// TestOpsHardeningMetricsOnAdminListener: with metrics.listener admin, the
// metrics endpoint is served on the admin listener without admin
// credentials, and no longer on the main listener; by default it is the
// other way round.
func TestOpsHardeningMetricsOnAdminListener(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		listener, endpoint string
	}{
		{config.MetricsOnAdmin, "/metrics"},
		{config.MetricsOnAdmin, "/custom"},
		{config.MetricsOnMain, "/metrics"},
	} {
		t.Run(tt.listener+tt.endpoint, func(t *testing.T) {
			t.Parallel()
			e := start(t, withConfig(func(c *config.Config) {
				c.Admin.BindAddress = "127.0.0.1:0"
				c.Admin.Auth = config.AdminAuth{Method: "bearer_token", Token: ohAdminToken}
				c.Metrics.Listener = tt.listener
				c.Metrics.Endpoint = tt.endpoint
			}), withBackend("a", mock.Options{}))
			if resp, body := e.Post("/v1/chat/completions", chatBody(mock.DefaultModel, false)); resp.StatusCode != 200 {
				t.Fatalf("chat: got %d %s", resp.StatusCode, body)
			}
			admin, main := opsAdminURL(e), e.URL
			if admin == main {
				t.Fatal("the admin API has no listener of its own")
			}
			on, off := admin, main
			if tt.listener == config.MetricsOnMain {
				on, off = main, admin
			}
			m := opsScrape(t, on+tt.endpoint) // no credentials
			if got := m.Sum("continuum_requests_total", "backend", "a", "status", "200"); got != 1 {
				t.Errorf("continuum_requests_total on %s%s: got %v, want 1", on, tt.endpoint, got)
			}
			resp, body := send(t, http.MethodGet, off+tt.endpoint, "")
			if strings.Contains(body, "continuum_requests_total") {
				t.Errorf("metrics are also served on %s%s: %d", off, tt.endpoint, resp.StatusCode)
			}
			switch off {
			case main:
				if resp.StatusCode != 404 {
					t.Errorf("GET %s on the main listener: got %d, want 404", tt.endpoint, resp.StatusCode)
				}
			case admin:
				// The admin API answers it: 401 without credentials, 404 with.
				if resp.StatusCode != 401 {
					t.Errorf("GET %s on the admin listener without credentials: got %d, want 401", tt.endpoint, resp.StatusCode)
				}
				if resp, _ := send(t, http.MethodGet, off+tt.endpoint, "", ohAdmin...); resp.StatusCode != 404 {
					t.Errorf("GET %s on the admin listener: got %d, want 404", tt.endpoint, resp.StatusCode)
				}
			}
			// The admin API itself still needs credentials on its listener.
			if resp, _ := send(t, http.MethodGet, admin+"/admin/backends", ""); resp.StatusCode != 401 {
				t.Errorf("GET /admin/backends without credentials: got %d, want 401", resp.StatusCode)
			}
		})
	}

	t.Run("needs admin.bind_address", func(t *testing.T) {
		t.Parallel()
		src := "metrics:\n  listener: admin\n" + ohServeConfig
		path := rtWriteFile(t, "config.yaml", src)
		code, _, stderr := rtMain(t, "check", "-c", path)
		if want := path + ":2:13: metrics.listener: admin needs admin.bind_address"; code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("check: got exit code %d and %q, want 1 and %q", code, stderr, want)
		}
	})
}
