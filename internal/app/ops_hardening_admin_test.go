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
