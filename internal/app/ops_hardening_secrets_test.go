package app_test

// Hardening (operations): credentials written in a backend URL are sent as
// HTTP basic authentication and shown nowhere; configuration problems never
// quote a secret.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/continuumhq/continuum/internal/mock"
)

// ohCapture is a simulated backend that records the Authorization header of
// every request it gets.
type ohCapture struct {
	*testBackend
	mu   sync.Mutex
	auth map[string][]string // path -> Authorization values
}

func ohCaptureBackend(t *testing.T, name string, models ...string) *ohCapture {
	t.Helper()
	c := &ohCapture{auth: map[string][]string{}}
	m := mock.New(mock.Options{Name: name, Models: models})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.auth[r.URL.Path] = append(c.auth[r.URL.Path], r.Header.Get("Authorization"))
		c.mu.Unlock()
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.testBackend = &testBackend{Name: name, Mock: m, Srv: srv, URL: srv.URL}
	return c
}

// Authorization returns the Authorization values received on path.
func (c *ohCapture) Authorization(path string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.auth[path]...)
}

// withUserinfo inserts user:password@ (password percent-encoded) into an
// http:// URL.
func withUserinfo(url, user, escapedPassword string) string {
	return strings.Replace(url, "http://", "http://"+user+":"+escapedPassword+"@", 1)
}

const (
	// ohPassword is written percent-encoded in the URL (ohPasswordEscaped).
	ohPassword        = "p@ss/w0rd-SECRET-7f3"
	ohPasswordEscaped = "p%40ss%2Fw0rd-SECRET-7f3"
	ohUpstreamKey     = "sk-upstream-SECRET-0c1d2e3f4a5b6c7d"
)

// TestOpsHardeningURLCredentials: URL user information becomes basic auth
// upstream (for discovery and requests), unless the backend has an api_key;
// it is not in the URL requests go to, nor in any admin answer or log line.
func TestOpsHardeningURLCredentials(t *testing.T) {
	t.Parallel()
	basic := ohCaptureBackend(t, "basic", "m")
	both := ohCaptureBackend(t, "both", "n")
	yaml := fmt.Sprintf(`health_checks: { enabled: false }
admin:
  auth: { method: bearer_token, token: %s }
backends:
  - name: basic
    url: %s
  - name: both
    url: %s
    api_key: %s
    models: [n]
`, ohAdminToken, withUserinfo(basic.URL, "alice", ohPasswordEscaped), withUserinfo(both.URL, "bob", ohPasswordEscaped), ohUpstreamKey)
	e, path := opsStartFile(t, yaml, opsFileSetup{Backends: []*testBackend{basic.testBackend, both.testBackend}})

	for _, model := range []string{"m", "n"} {
		if resp, body := e.Post("/v1/chat/completions", chatBody(model, false)); resp.StatusCode != 200 {
			t.Fatalf("model %s: got %d %s, want 200", model, resp.StatusCode, body)
		}
	}
	wantBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+ohPassword))
	for _, p := range []string{"/v1/models", "/v1/chat/completions"} {
		got := basic.Authorization(p)
		if len(got) == 0 {
			t.Errorf("backend basic: no request on %s", p)
		}
		for _, a := range got {
			if a != wantBasic {
				t.Errorf("backend basic %s: Authorization %q, want %q", p, a, wantBasic)
			}
		}
	}
	if got := both.Authorization("/v1/chat/completions"); len(got) != 1 || got[0] != "Bearer "+ohUpstreamKey {
		t.Errorf("backend both: Authorization %q, want only the api_key as a bearer token", got)
	}

	// The admin API shows the URLs without the credentials.
	backends := opsAdminBackends(t, e, ohAdmin...)
	if got := backends["basic"]["url"]; got != basic.URL {
		t.Errorf("/admin/backends url of basic: got %v, want %s", got, basic.URL)
	}
	_, one := send(t, http.MethodGet, e.URL+"/admin/backends/basic", "", ohAdmin...)
	cfg, cfgBody := ohAdminConfig(t, e)
	bs, _ := cfg["backends"].([]any)
	if len(bs) != 2 {
		t.Fatalf("/admin/config backends: got %v", cfg["backends"])
	}
	first, _ := bs[0].(map[string]any)
	if want := strings.Replace(basic.URL, "http://", "http://****@", 1); first["url"] != want {
		t.Errorf("/admin/config url of basic: got %v, want %s", first["url"], want)
	}

	// A reload with a broken URL and a key written where a number belongs
	// is refused without quoting either.
	broken := strings.Replace(yaml, "name: both\n", "name: both\n    weight: "+ohUpstreamKey+"\n", 1)
	hostPort := strings.TrimPrefix(basic.URL, "http://")
	broken = strings.Replace(broken, "@"+hostPort+"\n", "@"+hostPort+"x\n", 1) // port 1234x
	opsWriteConfig(t, path, broken)
	resp, reloadBody := e.Post("/admin/config/reload", "", ohAdmin...)
	if resp.StatusCode != 422 {
		t.Fatalf("reload: got %d %s, want 422", resp.StatusCode, reloadBody)
	}
	for _, word := range []string{"url: ", "weight: "} {
		line, col := opsLineCol(t, broken, word)
		if want := fmt.Sprintf("%s:%d:%d", path, line, col+len(word)); !strings.Contains(reloadBody, want) {
			t.Errorf("reload answer %s does not point at %s", reloadBody, want)
		}
	}

	for name, text := range map[string]string{
		"/admin/backends": fmt.Sprint(backends), "/admin/backends/basic": one, "/admin/config": cfgBody,
		"the reload answer": reloadBody, "the logs": e.Logs.String(),
	} {
		for _, secret := range []string{ohPassword, ohPasswordEscaped, ohUpstreamKey} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the secret %q:\n%s", name, secret, text)
			}
		}
	}
}

// TestOpsHardeningCheckHidesSecrets: `continuum check` reports a broken URL
// holding a password and an API key written in the wrong places without
// printing them, at their line and column.
func TestOpsHardeningCheckHidesSecrets(t *testing.T) {
	t.Parallel()
	src := `backends:
  - name: a
    url: http://admin:` + ohPasswordEscaped + `@10.0.0.1:80x
  - name: b
    url: ` + ohUpstreamKey + `
  - name: c
    url: http://10.0.0.3:8000
    weight: ` + ohUpstreamKey + `
    models: [` + ohUpstreamKey + `, ` + ohUpstreamKey + `]
request:
  timeout: ` + ohUpstreamKey + `
`
	path := rtWriteFile(t, "config.yaml", src)
	code, stdout, stderr := rtMain(t, "check", "-c", path)
	if code != 1 {
		t.Fatalf("got exit code %d, want 1 (stdout %q, stderr %q)", code, stdout, stderr)
	}
	for _, secret := range []string{ohPassword, ohPasswordEscaped, ohUpstreamKey} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("the output holds the secret %q:\n%s", secret, stderr)
		}
	}
	for _, at := range []struct{ line, col int }{{3, 10}, {5, 10}, {8, 13}, {9, 51}, {11, 12}} {
		if want := fmt.Sprintf("%s:%d:%d: ", path, at.line, at.col); !strings.Contains(stderr, want) {
			t.Errorf("no problem reported at %s in:\n%s", want, stderr)
		}
	}
}
