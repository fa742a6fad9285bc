package app_test

// Operations suite (issue 4), the admin API: its authentication on the main
// listener and on its own address, draining a backend, and secrets kept out
// of the effective configuration and of the logs.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// opsAdminAuth configures admin authentication.
func opsAdminAuth(method, token, user, password string) func(*config.Config) {
	return func(c *config.Config) {
		c.Admin.Auth = config.AdminAuth{Method: method, Token: token, Username: user, Password: password}
	}
}

// opsBasic returns an Authorization value for HTTP Basic authentication.
func opsBasic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// opsAdminURL returns the base URL the admin API is served on.
func opsAdminURL(e *env) string {
	if addr := e.App.AdminAddr(); addr != nil {
		return "http://" + addr.String()
	}
	return e.URL
}

// opsAdminBackends returns GET /admin/backends as decoded JSON objects by name.
func opsAdminBackends(t *testing.T, e *env, header ...string) map[string]map[string]any {
	t.Helper()
	resp, body := send(t, http.MethodGet, opsAdminURL(e)+"/admin/backends", "", header...)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/backends: got %d %s, want 200", resp.StatusCode, body)
	}
	var list struct {
		Backends []map[string]any `json:"backends"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatalf("GET /admin/backends: %v in %s", err, body)
	}
	out := map[string]map[string]any{}
	for _, b := range list.Backends {
		name, _ := b["name"].(string)
		out[name] = b
	}
	return out
}

func TestOpsAdminAuth(t *testing.T) {
	t.Parallel()
	const token, user, password = "adm-token-3c9f", "operator", "adm-pass-81d0"
	methods := []struct {
		method       string
		right, wrong []string
	}{
		{"bearer_token", []string{"Authorization", "Bearer " + token}, []string{"Authorization", "Bearer not-" + token}},
		{"basic", []string{"Authorization", opsBasic(user, password)}, []string{"Authorization", opsBasic(user, "not-"+password)}},
		{"api_key", []string{"X-API-Key", token}, []string{"X-API-Key", "not-" + token}},
	}
	for _, separate := range []bool{false, true} {
		for _, m := range methods {
			name := m.method + "/main listener"
			if separate {
				name = m.method + "/own address"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := start(t, withConfig(opsAdminAuth(m.method, token, user, password)), withConfig(func(c *config.Config) {
					if separate {
						c.Admin.BindAddress = "127.0.0.1:0"
					}
				}), withBackend("a", mock.Options{}))
				if got := e.App.AdminAddr() != nil; got != separate {
					t.Fatalf("AdminAddr set: got %v, want %v", got, separate)
				}
				base := opsAdminURL(e)
				for _, c := range []struct {
					name   string
					header []string
					want   int
				}{
					{"without credentials", nil, 401},
					{"with wrong credentials", m.wrong, 401},
					{"with the right credentials", m.right, 200},
				} {
					resp, body := send(t, http.MethodGet, base+"/admin/backends", "", c.header...)
					if resp.StatusCode != c.want {
						t.Errorf("%s: got %d %s, want %d", c.name, resp.StatusCode, body, c.want)
						continue
					}
					if c.want == 401 {
						if got := opsErrorType(t, body); got != "authentication_error" {
							t.Errorf("%s: error type %q, want authentication_error", c.name, got)
						}
						if resp.Header.Get("WWW-Authenticate") == "" {
							t.Errorf("%s: 401 without a WWW-Authenticate challenge", c.name)
						}
					}
				}
				// Without credentials even an unknown admin path is refused.
				if resp, body := send(t, http.MethodGet, base+"/admin/nope", ""); resp.StatusCode != 401 {
					t.Errorf("GET /admin/nope without credentials: got %d %s, want 401", resp.StatusCode, body)
				}
				if separate {
					resp, body := send(t, http.MethodGet, e.URL+"/admin/backends", "", m.right...)
					if resp.StatusCode != 404 {
						t.Errorf("main listener with the admin API on its own address: got %d %s, want 404", resp.StatusCode, body)
					}
				}
			})
		}
	}
}

// TestOpsAdminDisabled: an admin API with an empty credential refuses every
// call rather than opening up.
func TestOpsAdminDisabled(t *testing.T) {
	t.Parallel()
	e := start(t, withConfig(opsAdminAuth("bearer_token", "", "", "")), withBackend("a", mock.Options{}))
	for _, header := range [][]string{nil, {"Authorization", "Bearer "}, {"Authorization", "Bearer x"}} {
		resp, body := e.Get("/admin/backends", header...)
		if resp.StatusCode != 403 || opsErrorType(t, body) != "permission_error" {
			t.Errorf("header %q: got %d %s, want 403 permission_error", header, resp.StatusCode, body)
		}
	}
}

// opsStream is a raw streaming request read event by event.
type opsStream struct{ sseStream }

// opsOpenStream starts a streaming chat request with the given header pairs.
func opsOpenStream(t *testing.T, ctx context.Context, url, model string, header ...string) *opsStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(chatBody(model, true)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("stream request: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &opsStream{sseStream{resp: resp, br: bufio.NewReader(resp.Body)}}
}

// opsHold is a mock Gate that lets the first chunk of every stream through
// and holds the others until Release.
type opsHold struct{ release chan struct{} }

func opsNewHold(t *testing.T) *opsHold {
	h := &opsHold{release: make(chan struct{})}
	t.Cleanup(h.Release)
	return h
}

// Gate implements mock.Options.Gate.
func (h *opsHold) Gate(ctx context.Context, chunk int) error {
	if chunk == 0 {
		return nil
	}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release lets every held stream go on; it may be called more than once.
func (h *opsHold) Release() {
	select {
	case <-h.release:
	default:
		close(h.release)
	}
}

func TestOpsAdminDrain(t *testing.T) {
	t.Parallel()
	const token = "adm-drain-token"
	admin := []string{"Authorization", "Bearer " + token}
	hold := opsNewHold(t)
	e := faultEnv(t, withConfig(opsAdminAuth("bearer_token", token, "", "")),
		withBackend("a", mock.Options{Models: []string{"m"}, Gate: hold.Gate}),
		withBackend("b", mock.Options{Models: []string{"m"}, Gate: hold.Gate}))

	s := opsOpenStream(t, context.Background(), e.URL, "m")
	drained := s.resp.Header.Get("X-Continuum-Backend")
	if s.resp.StatusCode != 200 || (drained != "a" && drained != "b") {
		t.Fatalf("stream: got %d from %q", s.resp.StatusCode, drained)
	}
	other := map[string]string{"a": "b", "b": "a"}[drained]
	first, err := s.next()
	if err != nil {
		t.Fatalf("first event: %v", err)
	}

	resp, body := e.Post("/admin/backends/"+drained+"/drain", "", admin...)
	if resp.StatusCode != 200 || !strings.Contains(body, `"drained": true`) {
		t.Fatalf("drain: got %d %s, want 200 with the backend drained", resp.StatusCode, body)
	}
	list := opsAdminBackends(t, e, admin...)
	for _, name := range []string{"a", "b"} {
		for _, field := range []string{"drained", "health", "circuit_breaker", "in_flight", "error_rate"} {
			if _, ok := list[name][field]; !ok {
				t.Errorf("GET /admin/backends: backend %s has no %q field: %v", name, field, list[name])
			}
		}
	}
	if got := list[drained]["drained"]; got != true {
		t.Errorf("drained backend: drained %v, want true", got)
	}
	if got := list[other]["drained"]; got != false {
		t.Errorf("other backend: drained %v, want false", got)
	}
	if got := list[drained]["in_flight"]; got != 1.0 {
		t.Errorf("drained backend: in_flight %v, want 1 (the held stream)", got)
	}
	if got := list[drained]["circuit_breaker"]; got != "closed" {
		t.Errorf("drained backend: circuit_breaker %v, want closed", got)
	}

	before := inference(e.Backends[drained])
	for i := 0; i < 6; i++ {
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 200 || resp.Header.Get("X-Continuum-Backend") != other {
			t.Fatalf("request %d while %s is drained: got %d from %q %s, want 200 from %s",
				i, drained, resp.StatusCode, resp.Header.Get("X-Continuum-Backend"), body, other)
		}
	}
	if got := inference(e.Backends[drained]); got != before {
		t.Fatalf("drained backend got %d new requests", got-before)
	}

	// The stream in flight on the drained backend finishes normally.
	hold.Release()
	events, err := s.rest()
	if err != io.EOF {
		t.Fatalf("held stream ended with %v, want a clean end", err)
	}
	events = append([]string{first}, events...)
	if events[len(events)-1] != "[DONE]" {
		t.Fatalf("held stream: last event %q, want [DONE]", events[len(events)-1])
	}
	if got := content(events); got != allTokens(mock.DefaultTokens) {
		t.Fatalf("held stream content: got %q, want %q", got, allTokens(mock.DefaultTokens))
	}

	resp, body = e.Post("/admin/backends/"+drained+"/undrain", "", admin...)
	if resp.StatusCode != 200 || !strings.Contains(body, `"drained": false`) {
		t.Fatalf("undrain: got %d %s, want 200 with the backend undrained", resp.StatusCode, body)
	}
	served := 0
	for i := 0; i < 4; i++ {
		resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 200 {
			t.Fatalf("after undrain: got %d", resp.StatusCode)
		}
		if resp.Header.Get("X-Continuum-Backend") == drained {
			served++
		}
	}
	if served != 2 {
		t.Errorf("after undrain the backend served %d of 4 requests, want 2 (round robin)", served)
	}

	for _, path := range []string{"/admin/backends/nope/drain", "/admin/backends/nope"} {
		method := http.MethodPost
		if !strings.HasSuffix(path, "/drain") {
			method = http.MethodGet
		}
		resp, body := send(t, method, e.URL+path, "", admin...)
		if resp.StatusCode != 404 {
			t.Errorf("%s %s: got %d %s, want 404", method, path, resp.StatusCode, body)
		}
	}
}

// TestOpsSecretsStayHidden: secrets never appear in /admin/config, in any
// admin answer, or in the logs, whatever the traffic.
func TestOpsSecretsStayHidden(t *testing.T) {
	t.Parallel()
	const (
		backendKey = "sk-upstream-SECRET-4e7a"
		clientKey  = "sk-client-SECRET-91bc"
		adminToken = "adm-token-SECRET-55de"
		adminPass  = "adm-pass-SECRET-c2f0"
		bypassKey  = "sk-bypass-SECRET-0d3b"
		wrongKey   = "sk-wrong-SECRET-7a11"
		wrongAdmin = "adm-wrong-SECRET-9e42"
	)
	for _, method := range []string{"bearer_token", "basic"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			right := []string{"Authorization", "Bearer " + adminToken}
			wrong := []string{"Authorization", "Bearer " + wrongAdmin}
			if method == "basic" {
				right = []string{"Authorization", opsBasic("root", adminPass)}
				wrong = []string{"Authorization", opsBasic("root", wrongAdmin)}
			}
			e := start(t, withConfig(func(c *config.Config) {
				c.APIKeys.Mode = "blocking"
				c.APIKeys.Keys = []config.APIKey{
					{Key: clientKey, ID: "client", Enabled: true},
					{Key: bypassKey, ID: "bypass", Enabled: true},
				}
				c.RateLimiting.BypassKeys = []string{bypassKey}
				c.Admin.Auth = config.AdminAuth{Method: method, Token: adminToken, Username: "root", Password: adminPass}
			}), withBackend("a", mock.Options{Models: []string{"m"}, RequireAPIKey: backendKey}, func(b *config.Backend) {
				b.APIKey = backendKey
			}))

			var answers []string
			record := func(resp *http.Response, body string) {
				answers = append(answers, body)
				for name, values := range resp.Header {
					answers = append(answers, name+": "+strings.Join(values, ", "))
				}
			}
			// Traffic: good and failed client requests, streams, admin calls.
			for _, key := range []string{clientKey, wrongKey, ""} {
				h := []string{"Authorization", "Bearer " + key}
				if key == "" {
					h = nil
				}
				for _, stream := range []bool{false, true} {
					resp, body := e.Post("/v1/chat/completions", chatBody("m", stream), h...)
					want := 401
					if key == clientKey {
						want = 200
					}
					if resp.StatusCode != want {
						t.Errorf("key %q stream %v: got %d %s, want %d", key, stream, resp.StatusCode, body, want)
					}
					record(resp, body)
				}
			}
			resp, body := e.Post("/v1/chat/completions", chatBody("m", false), "X-Api-Key", wrongKey)
			if resp.StatusCode != 401 {
				t.Errorf("wrong key in X-Api-Key: got %d, want 401", resp.StatusCode)
			}
			record(resp, body)
			calls := []struct{ method, path string }{
				{"GET", "/admin/config"}, {"GET", "/admin/backends"}, {"GET", "/admin/backends/a"},
				{"POST", "/admin/backends/a/drain"}, {"POST", "/admin/backends/a/undrain"},
				{"POST", "/admin/config/reload"}, {"GET", "/admin/nope"},
			}
			for _, c := range calls {
				for _, h := range [][]string{right, wrong, nil} {
					resp, body := send(t, c.method, e.URL+c.path, "", h...)
					record(resp, body)
				}
			}

			resp, body = send(t, http.MethodGet, e.URL+"/admin/config", "", right...)
			if resp.StatusCode != 200 {
				t.Fatalf("GET /admin/config: got %d %s, want 200", resp.StatusCode, body)
			}
			var cfg any
			if err := json.Unmarshal([]byte(body), &cfg); err != nil {
				t.Fatalf("GET /admin/config: %v", err)
			}
			// The masked values are shown where the secrets were, under the
			// YAML key names or the Go field names.
			wantMasked := [][]string{
				{"backends.0.apikey"},
				{"apikeys.apikeys.0.key", "apikeys.keys.0.key"},
				{"apikeys.apikeys.1.key", "apikeys.keys.1.key"},
				{"ratelimiting.bypasskeys.0"},
				{"admin.auth.token"},
				{"admin.auth.password"},
			}
			masked := opsFlatten(cfg)
			for _, paths := range wantMasked {
				found := false
				for _, path := range paths {
					if got, ok := masked[path]; ok {
						found = true
						if got != config.RedactedValue {
							t.Errorf("/admin/config %s: got %v, want %q", path, got, config.RedactedValue)
						}
					}
				}
				if !found {
					t.Errorf("/admin/config: no %s", strings.Join(paths, " or "))
				}
			}

			logs := e.Logs.String()
			if !strings.Contains(logs, "msg=request") || !strings.Contains(logs, "status=401") || !strings.Contains(logs, "admin: authentication failed") {
				t.Fatalf("the logs do not show the traffic:\n%s", logs)
			}
			for _, secret := range []string{backendKey, clientKey, adminToken, adminPass, bypassKey, wrongKey, wrongAdmin} {
				if strings.Contains(logs, secret) {
					t.Errorf("the logs hold the secret %q", secret)
				}
				for _, a := range answers {
					if strings.Contains(a, secret) {
						t.Errorf("an answer holds the secret %q: %s", secret, a)
					}
				}
				if strings.Contains(body, secret) {
					t.Errorf("/admin/config holds the secret %q", secret)
				}
			}
		})
	}
}

// opsFlatten maps every leaf of decoded JSON to its path, with keys
// lower-cased and stripped of underscores ("Backends.0.APIKey" and
// "backends.0.api_key" both give "backends.0.apikey").
func opsFlatten(v any) map[string]any {
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		join := func(k string) string {
			k = strings.ToLower(strings.ReplaceAll(k, "_", ""))
			if prefix == "" {
				return k
			}
			return prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(join(k), e)
			}
		case []any:
			for i, e := range v {
				walk(join(strconv.Itoa(i)), e)
			}
		default:
			out[prefix] = v
		}
	}
	walk("", v)
	return out
}
