package app_test

// This file is the shared harness of the integration tests: real HTTP
// between an official OpenAI SDK client, the router (a full App on a
// loopback listener) and simulated backends (internal/mock on httptest
// servers). Time-dependent behaviour runs on a fake clock.

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// testBackend is one simulated backend.
type testBackend struct {
	Name string
	Mock *mock.Server
	Srv  *httptest.Server
	URL  string
}

// env is a running router with its backends.
type env struct {
	t        *testing.T
	App      *app.App
	URL      string // router base URL, e.g. http://127.0.0.1:1234
	Clock    *clock.Fake
	Config   *config.Config
	Backends map[string]*testBackend
	Logs     *syncBuffer
	wrap     func(net.Listener) net.Listener
}

// backendSpec describes one backend to start.
type backendSpec struct {
	name  string
	opts  mock.Options
	edit  func(*config.Backend)
	down  bool // configure the backend at an address where nothing listens
	typ   string
	noDis bool // do not set static models: let the router discover them
	// handler, when not nil, serves the backend instead of a mock.
	handler http.Handler
}

type setup struct {
	backends []backendSpec
	edits    []func(*config.Config)
	fake     bool
	seed     uint64
	// wrap, when not nil, wraps the router's listener.
	wrap func(net.Listener) net.Listener
}

type setupOption func(*setup)

// withBackend adds a simulated backend. Unless withDiscovery is used, the
// backend's models are configured statically (no discovery traffic).
func withBackend(name string, opts mock.Options, edit ...func(*config.Backend)) setupOption {
	return func(s *setup) {
		spec := backendSpec{name: name, opts: opts}
		if len(edit) > 0 {
			spec.edit = edit[0]
		}
		s.backends = append(s.backends, spec)
	}
}

// withDeadBackend adds a backend whose address refuses connections.
func withDeadBackend(name string, models ...string) setupOption {
	return func(s *setup) {
		s.backends = append(s.backends, backendSpec{name: name, opts: mock.Options{Models: models}, down: true})
	}
}

// withHandlerBackend adds a backend served by h (not a mock) with static models.
func withHandlerBackend(name string, h http.Handler, models ...string) setupOption {
	return func(s *setup) {
		s.backends = append(s.backends, backendSpec{name: name, opts: mock.Options{Models: models}, handler: h})
	}
}

// withListener wraps the router's listener, to act on its connections.
func withListener(wrap func(net.Listener) net.Listener) setupOption {
	return func(s *setup) { s.wrap = wrap }
}

// withDiscovery makes the named backend's models discovered instead of configured.
func withDiscovery(name string) setupOption {
	return func(s *setup) {
		for i := range s.backends {
			if s.backends[i].name == name {
				s.backends[i].noDis = true
			}
		}
	}
}

// withConfig edits the configuration before the router starts.
func withConfig(edit func(*config.Config)) setupOption {
	return func(s *setup) { s.edits = append(s.edits, edit) }
}

// withFakeClock drives the router (and the mocks) with a fake clock.
func withFakeClock() setupOption { return func(s *setup) { s.fake = true } }

// withSeed sets the router's random seed.
func withSeed(seed uint64) setupOption { return func(s *setup) { s.seed = seed } }

// start runs a router with the given backends. Defaults chosen for
// deterministic tests: health checks off, long discovery TTL, static models.
func start(t *testing.T, opts ...setupOption) *env {
	t.Helper()
	var s setup
	for _, o := range opts {
		o(&s)
	}
	e := &env{t: t, Backends: map[string]*testBackend{}, Logs: &syncBuffer{}}
	var clk clock.Clock = clock.Real()
	if s.fake {
		e.Clock = clock.NewFake(time.Time{})
		clk = e.Clock
	}
	cfg := config.Default()
	cfg.HealthChecks.Enabled = false
	cfg.Cache.ModelCacheTTL = time.Hour
	for _, spec := range s.backends {
		var url string
		if spec.down {
			url = deadURL(t)
		} else if spec.handler != nil {
			srv := httptest.NewServer(spec.handler)
			t.Cleanup(srv.Close)
			url = srv.URL
			e.Backends[spec.name] = &testBackend{Name: spec.name, Srv: srv, URL: url}
		} else {
			o := spec.opts
			if o.Name == "" {
				o.Name = spec.name
			}
			if o.Clock == nil && s.fake {
				o.Clock = e.Clock
			}
			m := mock.New(o)
			srv := httptest.NewServer(m)
			t.Cleanup(srv.Close)
			url = srv.URL
			e.Backends[spec.name] = &testBackend{Name: spec.name, Mock: m, Srv: srv, URL: url}
		}
		b := cfg.NewBackend(spec.name, url)
		if !spec.noDis {
			b.Models = spec.opts.Models
			if len(b.Models) == 0 {
				b.Models = []string{mock.DefaultModel}
			}
		}
		if spec.typ != "" {
			b.Type = spec.typ
		}
		cfg.Backends = append(cfg.Backends, b)
	}
	// Global edits come first so that per-backend edits see final globals.
	for _, edit := range s.edits {
		edit(cfg)
	}
	for i, spec := range s.backends {
		b := &cfg.Backends[i]
		syncBackendBlocks(cfg, b)
		if spec.edit != nil {
			spec.edit(b)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration is invalid: %v", err)
	}
	e.Config = cfg

	e.wrap = s.wrap
	e.launch(app.Options{Config: cfg, Clock: clk, Seed: s.seed, NoWatch: true})
	return e
}

// launch runs a router with opts on a loopback listener, stops it when the
// test ends (printing its logs if the test failed), and waits for its first
// model discovery.
func (e *env) launch(opts app.Options) {
	t := e.t
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listeners = []net.Listener{ln}
	if e.wrap != nil {
		opts.Listeners = []net.Listener{e.wrap(ln)}
	}
	opts.LogOutput, opts.LogLevel = e.Logs, "debug"
	a, err := app.New(opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	e.App = a
	e.URL = "http://" + ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("router logs:\n%s", e.Logs.String())
		}
	})
	select {
	case <-a.Discovered():
	case <-time.After(10 * time.Second):
		t.Fatal("model discovery did not finish")
	}
}

// syncBackendBlocks copies global blocks edited by withConfig into a backend
// whose per-backend blocks were cloned from the defaults before the edit.
func syncBackendBlocks(cfg *config.Config, b *config.Backend) {
	b.Request = cfg.Request
	b.Retry = cfg.Retry
	b.CircuitBreaker = cfg.CircuitBreaker
	b.HealthChecks = cfg.HealthChecks
}

// Backend returns the router's view of the named backend.
func (e *env) Backend(name string) app.BackendStatus {
	e.t.Helper()
	for _, b := range e.App.Backends() {
		if b.Name == name {
			return b
		}
	}
	e.t.Fatalf("no backend %q", name)
	return app.BackendStatus{}
}

// deadURL returns the URL of a local address where nothing listens.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	return url
}

// SDK returns an official OpenAI SDK client for the router, with the SDK's
// own retries off so that every failure is the router's.
func (e *env) SDK(opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(e.URL + "/v1"),
		option.WithAPIKey("sk-test"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(30 * time.Second),
	}
	return openai.NewClient(append(base, opts...)...)
}

// send sends a request with the given method, JSON body (none when "") and
// header pairs to an absolute URL, and returns the response with its body read.
func send(t *testing.T, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, string(b)
}

// Post sends a raw request to the router.
func (e *env) Post(path, body string, header ...string) (*http.Response, string) {
	e.t.Helper()
	return send(e.t, http.MethodPost, e.URL+path, body, header...)
}

// Get sends a GET to the router.
func (e *env) Get(path string, header ...string) (*http.Response, string) {
	e.t.Helper()
	return send(e.t, http.MethodGet, e.URL+path, "", header...)
}

// chatBody is a small chat request body.
func chatBody(model string, stream bool) string {
	s := `{"model":"` + model + `","messages":[{"role":"user","content":"Hello there"}]`
	if stream {
		s += `,"stream":true`
	}
	return s + "}"
}

// syncBuffer is a goroutine-safe log sink that tests can wait on.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// WaitFor blocks until the logs contain every one of parts on one line, or
// the timeout (a safety net against hangs, not a timing assertion) expires.
func (s *syncBuffer) WaitFor(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, line := range strings.Split(s.b.String(), "\n") {
			if containsAll(line, parts) {
				s.mu.Unlock()
				return line
			}
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no log line with %q within 10s", parts)
		}
	}
}

func containsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
