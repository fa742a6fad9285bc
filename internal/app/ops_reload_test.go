package app_test

// Operations suite (issue 4), configuration reloads from a file: by the
// admin API, by a file edit, an invalid file, and reloads under load.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// opsFileSetup configures opsStartFile.
type opsFileSetup struct {
	// Clock drives the router; nil means the wall clock.
	Clock *clock.Fake
	// Watch reloads the configuration when the file changes; false sets NoWatch.
	Watch bool
	// Backends are recorded in the env's Backends map.
	Backends []*testBackend
}

// opsMock starts a simulated backend named name.
func opsMock(t *testing.T, name string, opts mock.Options) *testBackend {
	t.Helper()
	if opts.Name == "" {
		opts.Name = name
	}
	m := mock.New(opts)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return &testBackend{Name: name, Mock: m, Srv: srv, URL: srv.URL}
}

// opsWriteConfig replaces the file at path with data the way editors and
// configuration managers do: a temporary file renamed over it, so that a
// reader (or a watcher) never sees half a file.
func opsWriteConfig(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// opsStartFile writes yaml to a configuration file in a temporary
// directory, loads it and runs a router from it, as `continuum serve -c`
// does. It returns the router and the file's path.
func opsStartFile(t *testing.T, yaml string, s opsFileSetup) (*env, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	opsWriteConfig(t, path, yaml)
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatalf("test configuration is invalid: %v\n%s", err, yaml)
	}
	e := &env{t: t, Backends: map[string]*testBackend{}, Logs: &syncBuffer{}, Config: cfg, Clock: s.Clock}
	for _, b := range s.Backends {
		e.Backends[b.Name] = b
	}
	var clk clock.Clock = clock.Real()
	if s.Clock != nil {
		clk = s.Clock
	}
	e.launch(app.Options{Config: cfg, ConfigPath: path, Clock: clk, NoWatch: !s.Watch})
	return e, path
}

// opsReloadYAML is a file configuration with backend a (model m) and, when
// bURL is not empty, backend b whose models are discovered.
func opsReloadYAML(aURL, bURL string) string {
	y := `selection_strategy: round_robin
cache: { model_cache_ttl: 1h }
health_checks: { enabled: false }
admin:
  auth: { method: bearer_token, token: reload-admin-token }
backends:
  - name: a
    url: ` + aURL + `
    models: [m]
`
	if bURL != "" {
		y += `  - name: b
    url: ` + bURL + `
`
	}
	return y
}

// opsReloadAuth is the Authorization value of the reload tests' admin API.
const opsReloadAuth = "Bearer reload-admin-token"

// opsLineCol returns the 1-based line and column of the first occurrence of
// word in text.
func opsLineCol(t *testing.T, text, word string) (int, int) {
	t.Helper()
	for i, line := range strings.Split(text, "\n") {
		if col := strings.Index(line, word); col >= 0 {
			return i + 1, col + 1
		}
	}
	t.Fatalf("no %q in the text", word)
	return 0, 0
}

func TestOpsReloadByAdmin(t *testing.T) {
	t.Parallel()
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}})
	b := opsMock(t, "b", mock.Options{Models: []string{"n"}})
	e, path := opsStartFile(t, opsReloadYAML(a.URL, ""), opsFileSetup{Clock: clock.NewFake(time.Time{}), Backends: []*testBackend{a, b}})

	if _, body := e.Get("/v1/models"); !slices.Equal(opsModelIDs(t, body), []string{"m"}) {
		t.Fatalf("models before the reload: got %s, want m only", body)
	}
	if resp, _ := e.Post("/v1/chat/completions", chatBody("n", false)); resp.StatusCode != 404 {
		t.Fatalf("model n before the reload: got %d, want 404", resp.StatusCode)
	}

	// A new backend with discovered models.
	opsWriteConfig(t, path, opsReloadYAML(a.URL, b.URL))
	if resp, body := e.Post("/admin/config/reload", "", "Authorization", opsReloadAuth); resp.StatusCode != 200 {
		t.Fatalf("reload: got %d %s, want 200", resp.StatusCode, body)
	}
	e.Logs.WaitFor(t, "configuration reloaded", "trigger=admin", "backends=2")
	opsCheckReloaded(t, e)

	// An invalid file changes nothing and says where the problem is.
	before := opsScrape(t, e.URL+"/metrics").Sum("continuum_config_reloads_total", "result", "failure")
	broken := opsReloadYAML(a.URL, b.URL) + "    modles: [n]\n"
	opsWriteConfig(t, path, broken)
	resp, body := e.Post("/admin/config/reload", "", "Authorization", opsReloadAuth)
	if resp.StatusCode != 422 || opsErrorType(t, body) != "invalid_request_error" {
		t.Fatalf("invalid reload: got %d %s, want 422 invalid_request_error", resp.StatusCode, body)
	}
	line, col := opsLineCol(t, broken, "modles")
	if want := fmt.Sprintf("%s:%d:%d", path, line, col); !strings.Contains(body, want) {
		t.Errorf("invalid reload: message %s does not point at %s", body, want)
	}
	if !strings.Contains(body, "models") {
		t.Errorf("invalid reload: message %s does not suggest the key models", body)
	}
	after := opsScrape(t, e.URL+"/metrics").Sum("continuum_config_reloads_total", "result", "failure")
	if after != before+1 {
		t.Errorf(`continuum_config_reloads_total{result="failure"}: got %v, want %v`, after, before+1)
	}
	opsCheckReloaded(t, e)

	// The router still answers the admin API with the old credentials.
	if resp, body := e.Get("/admin/backends", "Authorization", opsReloadAuth); resp.StatusCode != 200 {
		t.Errorf("admin after the failed reload: got %d %s", resp.StatusCode, body)
	}
}

// opsCheckReloaded checks that backend b and its model n are in service
// next to a and m.
func opsCheckReloaded(t *testing.T, e *env) {
	t.Helper()
	if _, body := e.Get("/v1/models"); !slices.Equal(opsModelIDs(t, body), []string{"m", "n"}) {
		t.Fatalf("models after the reload: got %s, want m and n", body)
	}
	before := inference(e.Backends["b"])
	for i := 0; i < 2; i++ {
		resp, body := e.Post("/v1/chat/completions", chatBody("n", false))
		if resp.StatusCode != 200 || resp.Header.Get("X-Continuum-Backend") != "b" {
			t.Fatalf("model n: got %d from %q %s, want 200 from b", resp.StatusCode, resp.Header.Get("X-Continuum-Backend"), body)
		}
	}
	if got := inference(e.Backends["b"]); got != before+2 {
		t.Fatalf("backend b requests: got %d, want %d", got, before+2)
	}
	if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 || resp.Header.Get("X-Continuum-Backend") != "a" {
		t.Fatalf("model m: got %d from %q, want 200 from a", resp.StatusCode, resp.Header.Get("X-Continuum-Backend"))
	}
}

// opsAwaitWatch advances the fake clock past the watcher's debounce once the
// watcher has seen the file change (its debounce timer is pending).
func opsAwaitWatch(t *testing.T, clk *clock.Fake, pendingBefore int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.WaitForTimers(ctx, pendingBefore+1); err != nil {
		t.Fatalf("the watcher did not see the change: %v", err)
	}
	clk.Advance(300 * time.Millisecond)
}

func TestOpsReloadByFileEdit(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Time{})
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}})
	b := opsMock(t, "b", mock.Options{Models: []string{"n"}})
	e, path := opsStartFile(t, opsReloadYAML(a.URL, ""), opsFileSetup{Clock: clk, Watch: true, Backends: []*testBackend{a, b}})

	pending := clk.Pending()
	opsWriteConfig(t, path, opsReloadYAML(a.URL, b.URL))
	opsAwaitWatch(t, clk, pending)
	e.Logs.WaitFor(t, "configuration reloaded", "trigger=file", "backends=2")
	opsCheckReloaded(t, e)

	// A broken edit is refused and logged; the running configuration stays.
	pending = clk.Pending()
	broken := opsReloadYAML(a.URL, b.URL) + "    modles: [n]\n"
	opsWriteConfig(t, path, broken)
	opsAwaitWatch(t, clk, pending)
	line, col := opsLineCol(t, broken, "modles")
	e.Logs.WaitFor(t, "invalid configuration", fmt.Sprintf("%s:%d:%d", path, line, col))
	e.Logs.WaitFor(t, "configuration reload failed")
	opsCheckReloaded(t, e)
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_config_reloads_total", "result", "failure"); got != 1 {
		t.Errorf(`continuum_config_reloads_total{result="failure"}: got %v, want 1`, got)
	}
}

// opsLoadYAML is one of two equivalent configurations of the reload-under-
// load test: the same backends and models, different weights, policy and
// upstream key (which forces a new connection pool for b).
func opsLoadYAML(aURL, bURL string, variant int) string {
	strategy, weight, key := "round_robin", 1, "sk-upstream-one"
	if variant%2 == 1 {
		strategy, weight, key = "least_connections", 3, "sk-upstream-two"
	}
	return fmt.Sprintf(`selection_strategy: %s
cache: { model_cache_ttl: 1h }
health_checks: { enabled: false }
request: { max_retries: 0 }
retry: { max_attempts: 1 }
admin:
  auth: { method: bearer_token, token: reload-admin-token }
backends:
  - name: a
    url: %s
    weight: %d
    models: [m]
  - name: b
    url: %s
    api_key: %s
    models: [m]
`, strategy, aURL, weight, bURL, key)
}

// TestOpsReloadUnderLoad: no request fails while the configuration is
// reloaded again and again. Retries are off, so any failed attempt shows.
func TestOpsReloadUnderLoad(t *testing.T) {
	t.Parallel()
	const workers, total, reloads = 8, 400, 20
	a := opsMock(t, "a", mock.Options{Models: []string{"m"}})
	b := opsMock(t, "b", mock.Options{Models: []string{"m"}})
	e, path := opsStartFile(t, opsLoadYAML(a.URL, b.URL, 0), opsFileSetup{Backends: []*testBackend{a, b}})

	var (
		next     atomic.Int64
		failures = make(chan string, total)
		progress = make(chan struct{}, total)
		wg       sync.WaitGroup
	)
	// A transport of its own, closed before the router shuts down: the
	// connections it dialed but never used would otherwise hold the
	// router's shutdown for the listener's read timeout (see
	// TestOpsShutdownWithUnusedConnection).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				stream := i%2 == 0
				resp, err := client.Post(e.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody("m", stream)))
				if err != nil {
					failures <- fmt.Sprintf("request %d: %v", i, err)
					progress <- struct{}{}
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					failures <- fmt.Sprintf("request %d: read: %v", i, err)
				case resp.StatusCode != 200:
					failures <- fmt.Sprintf("request %d: got %d %s", i, resp.StatusCode, body)
				case stream && !strings.HasSuffix(string(body), "data: [DONE]\n\n"):
					failures <- fmt.Sprintf("request %d: stream without [DONE]: %s", i, body)
				}
				progress <- struct{}{}
			}
		}()
	}
	// Reload every total/(reloads+1) finished requests, so that every reload
	// happens with requests in flight.
	done := 0
	for r := 1; r <= reloads; r++ {
		for done < r*total/(reloads+1) {
			<-progress
			done++
		}
		opsWriteConfig(t, path, opsLoadYAML(a.URL, b.URL, r))
		if resp, body := e.Post("/admin/config/reload", "", "Authorization", opsReloadAuth); resp.StatusCode != 200 {
			t.Errorf("reload %d: got %d %s", r, resp.StatusCode, body)
		}
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_config_reloads_total", "result", "success"); got != reloads+1 {
		t.Errorf(`continuum_config_reloads_total{result="success"}: got %v, want %d (the start and %d reloads)`, got, reloads+1, reloads)
	}
	na, nb := inference(a), inference(b)
	t.Logf("%d requests during %d reloads: a served %d, b served %d", total, reloads, na, nb)
	if na+nb != total || na == 0 || nb == 0 {
		t.Errorf("backend requests: a %d + b %d, want %d split between both", na, nb, total)
	}
	// After the last reload b's requests carry the last configuration's key.
	wantKey := "Bearer sk-upstream-one"
	if reloads%2 == 1 {
		wantKey = "Bearer sk-upstream-two"
	}
	for i := 0; i < 4; i++ {
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 200 {
			t.Fatalf("after the reloads: got %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Continuum-Backend") == "b" {
			if _, header, _ := b.Mock.LastRequest(); header.Get("Authorization") != wantKey {
				t.Errorf("backend b's request carried %q, want %q from the last configuration", header.Get("Authorization"), wantKey)
			}
		}
	}
	if got := inference(b); got == nb {
		t.Error("backend b got no request after the reloads")
	}
}
