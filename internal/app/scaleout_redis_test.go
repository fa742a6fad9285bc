package app_test

// Scale-out wiring (issue 10) with a real Redis (internal/redistest):
// routers sharing one limit, provider cooldowns and configuration reloads,
// and the failure policies while Redis is down. Skipped without
// redis-server unless CONTINUUM_REQUIRE_REDIS=1. Real time, bounded: the
// limits below never refill within a test (rates of one per 1000 s).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/app"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
	"github.com/continuumhq/continuum/internal/redistest"
)

// withRedis makes a router keep its limits in srv, as replica id.
func withRedis(srv *redistest.Server, id string) setupOption {
	return withConfig(func(c *config.Config) {
		c.RateLimiting.Storage = "redis"
		c.RateLimiting.Redis.URL = srv.URL()
		c.RateLimiting.ReplicaID = id
		c.RateLimiting.Redis.HeartbeatTTL = 600 * time.Millisecond
	})
}

// ready reads a router's /ready body.
func ready(t *testing.T, url string) (version string, replicas int) {
	t.Helper()
	resp, body := send(t, http.MethodGet, url+"/ready", "")
	var r struct {
		Status        string `json:"status"`
		ConfigVersion string `json:"config_version"`
		Replicas      int    `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/ready: %d %s (%v)", resp.StatusCode, body, err)
	}
	return r.ConfigVersion, r.Replicas
}

// eventually polls cond every 10 ms for at most limit.
func eventually(t *testing.T, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("condition not met within %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func TestRedisSharedLimit(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	limits := withConfig(func(c *config.Config) {
		c.RateLimiting.Enabled = true
		c.RateLimiting.Limits.Global = config.RateSpec{RequestsPerSecond: 0.001, BurstCapacity: 5}
		c.RateLimiting.Limits.PerModel = map[string]config.RateSpec{"*": {TokensPerMinute: 6, TokenBurst: 100000}}
	})
	one := start(t, withRedis(srv, "one"), limits, withBackend("a", mock.Options{Models: []string{"m"}}))
	two := start(t, withRedis(srv, "two"), limits, withBackend("a", mock.Options{Models: []string{"m"}}))

	admitted := 0
	for i := range 8 {
		e := one
		if i%2 == 1 {
			e = two
		}
		resp, body := e.Post("/v1/chat/completions", chatBody("m", i%3 == 0))
		switch resp.StatusCode {
		case 200:
			admitted++
		case 429:
			if resp.Header.Get("Retry-After") == "" || resp.Header.Get("x-ratelimit-limit-requests") != "5" {
				t.Errorf("429 headers: %v", resp.Header)
			}
		default:
			t.Fatalf("call %d: got %d %s", i+1, resp.StatusCode, body)
		}
	}
	if admitted != 5 {
		t.Errorf("admitted across both routers: got %d, want the burst of 5 (one shared bucket)", admitted)
	}
	for _, e := range []*env{one, two} {
		m := opsScrape(t, e.URL+"/metrics")
		if got := m.Sum("continuum_rate_limit_decisions_total", "source", "redis"); got < 4 {
			t.Errorf("decisions from redis: got %v, want one per admission and settlement", got)
		}
	}
	// The token buckets in Redis were settled to the usage the mock reported.
	rdb := srv.Client()
	keys, err := rdb.Keys(t.Context(), "continuum:{rl}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, ",") == "" || !strings.Contains(strings.Join(keys, ","), "tokens:model:m") {
		t.Errorf("redis keys: %v, want the global and the model's token bucket", keys)
	}
	eventually(t, 5*time.Second, func() bool { _, n := ready(t, one.URL); return n == 2 })
}

func TestRedisSharedCooldown(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	busy := mock.New(mock.Options{Models: []string{"m"}, ErrorStatus: 429, RetryAfter: "60"})
	hBusy := httpServer(t, busy)
	edit := func(c *config.Config) {
		b := c.NewBackend("busy", hBusy)
		b.Models = []string{"m"}
		c.Backends = append([]config.Backend{b}, c.Backends...)
		c.SelectionStrategy = "round_robin"
	}
	one := start(t, withRedis(srv, "one"), withConfig(edit), withBackend("ok", mock.Options{Models: []string{"m"}}))
	two := start(t, withRedis(srv, "two"), withConfig(edit), withBackend("ok", mock.Options{Models: []string{"m"}}))

	// One call on the first router meets the 429 and fails over.
	for range 2 {
		if resp, body := one.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
			t.Fatalf("router one: got %d %s", resp.StatusCode, body)
		}
	}
	if got := busy.Stats().Requests; got != 1 {
		t.Fatalf("the busy backend got %d requests on router one, want 1", got)
	}
	// The second router knows at once (milliseconds): it never asks.
	took := eventually(t, time.Second, func() bool {
		return !two.Backend("busy").CooldownUntil.IsZero()
	})
	t.Logf("the cooldown reached the other router within %v", took)
	for range 4 {
		if resp, body := two.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
			t.Fatalf("router two: got %d %s", resp.StatusCode, body)
		}
	}
	if got := busy.Stats().Requests; got != 1 {
		t.Errorf("the busy backend got %d requests in all, want 1 (its cooldown is shared)", got)
	}
}

// writeFile writes a configuration file atomically.
func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func TestRedisConfigPropagation(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	backend := httpServer(t, mock.New(mock.Options{Models: []string{"m", "n"}}))
	yaml := func(models string) string {
		return fmt.Sprintf(`health_checks: {enabled: false}
rate_limiting:
  storage: redis
  redis: {url: %q, heartbeat_ttl: 600ms}
backends:
  - {name: a, url: %q, models: [%s]}
`, srv.URL(), backend, models)
	}
	dir := t.TempDir()
	routers := make([]*env, 3)
	paths := make([]string, 3)
	for i := range routers {
		paths[i] = filepath.Join(dir, fmt.Sprintf("r%d.yaml", i))
		writeFile(t, paths[i], yaml("m"))
		cfg, _, err := config.Load(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		cfg.RateLimiting.ReplicaID = fmt.Sprintf("r%d", i)
		routers[i] = &env{t: t, Logs: &syncBuffer{}, Config: cfg}
		routers[i].launch(app.Options{Config: cfg, ConfigPath: paths[i], NoWatch: true})
	}
	v0, _ := ready(t, routers[0].URL)
	for _, e := range routers[1:] {
		if v, _ := ready(t, e.URL); v != v0 {
			t.Fatalf("versions at start: %s and %s, want the same file's", v0, v)
		}
	}

	// A reload on the first router reaches the others, which validate and
	// apply it (and write nothing to their own files).
	writeFile(t, paths[0], yaml("m, n"))
	began := time.Now()
	if err := routers[0].App.Reload("admin"); err != nil {
		t.Fatal(err)
	}
	v1, _ := ready(t, routers[0].URL)
	if v1 == v0 {
		t.Fatal("the reload did not change the version")
	}
	for i, e := range routers[1:] {
		eventually(t, time.Second, func() bool { v, _ := ready(t, e.URL); return v == v1 })
		t.Logf("router %d applied version %.12s %v after the reload", i+2, v1, time.Since(began))
		e.Logs.WaitFor(t, "configuration reloaded", "trigger=cluster", "version="+v1)
		if resp, body := e.Post("/v1/chat/completions", chatBody("n", false)); resp.StatusCode != 200 {
			t.Errorf("router %d after the change: model n got %d %s", i+2, resp.StatusCode, body)
		}
		if data, _ := os.ReadFile(paths[i+1]); strings.Contains(string(data), "n]") {
			t.Errorf("router %d wrote its file", i+2)
		}
	}
	if got := opsScrape(t, routers[2].URL+"/metrics").Sum("continuum_config_version_info", "version", v1); got != 1 {
		t.Errorf("continuum_config_version_info{version=%q}: got %v, want 1", v1, got)
	}
}

func TestRedisOutagePolicies(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	const denied, local = "sk-deny-key", "sk-local-key"
	e := start(t, withRedis(srv, "solo"), withConfig(func(c *config.Config) {
		c.RateLimiting.Enabled = true
		c.RateLimiting.FailurePolicies = map[string]string{"api_key": "deny"}
		c.RateLimiting.Limits.Global = config.RateSpec{RequestsPerSecond: 0.001, BurstCapacity: 4}
		c.APIKeys.Keys = []config.APIKey{
			{Key: denied, ID: "deny", Enabled: true, RateLimit: config.RateSpec{RequestsPerSecond: 100}},
			{Key: local, ID: "local", Enabled: true},
		}
	}), withBackend("a", mock.Options{Models: []string{"m"}}))
	post := func(key string) (*http.Response, string) {
		return e.Post("/v1/chat/completions", chatBody("m", false), "Authorization", "Bearer "+key)
	}
	if resp, body := post(local); resp.StatusCode != 200 {
		t.Fatalf("with redis: got %d %s", resp.StatusCode, body)
	}
	srv.Kill()
	// The global limit is local now: its burst of 4 (one replica), a fresh
	// local bucket; the key limited with the deny policy is refused.
	resp, body := post(denied)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "rate_limit_unavailable") {
		t.Errorf("deny policy while redis is down: got %d %s, want 503 rate_limit_unavailable with Retry-After 1", resp.StatusCode, body)
	}
	ok := 0
	for range 6 {
		if resp, _ := post(local); resp.StatusCode == 200 {
			ok++
		} else if resp.StatusCode != 429 {
			t.Fatalf("local policy while redis is down: got %d, want 200 or 429", resp.StatusCode)
		}
	}
	if ok != 4 {
		t.Errorf("admitted while redis is down: got %d, want 4 (the local bucket's burst)", ok)
	}
	if _, n := ready(t, e.URL); n != 1 {
		t.Errorf("/ready during the outage: replicas %d", n)
	}
	m := opsScrape(t, e.URL+"/metrics")
	if m.Sum("continuum_rate_limit_store_errors_total") < 1 || m.Sum("continuum_rate_limit_store_breaker_state") != 2 ||
		m.Sum("continuum_rate_limit_decisions_total", "source", "local") < 4 || m.Sum("continuum_rate_limit_decisions_total", "source", "deny") != 1 {
		t.Errorf("store metrics during the outage: errors %v, breaker %v, local %v, deny %v", m.Sum("continuum_rate_limit_store_errors_total"),
			m.Sum("continuum_rate_limit_store_breaker_state"), m.Sum("continuum_rate_limit_decisions_total", "source", "local"),
			m.Sum("continuum_rate_limit_decisions_total", "source", "deny"))
	}
	e.Logs.WaitFor(t, "rate-limit store unavailable")
	srv.Restart()
	// Once the breaker lets a probe through (500 ms), Redis decides again.
	eventually(t, 3*time.Second, func() bool {
		post(denied)
		return opsScrape(t, e.URL+"/metrics").Sum("continuum_rate_limit_store_breaker_state") == 0
	})
}

// httpServer serves h on a loopback port until the test ends and returns
// its URL.
func httpServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRedisSharedResponseCache: with cache.response_cache.storage redis an
// answer kept by one replica answers identical requests on another, and a
// Redis outage only makes misses.
func TestRedisSharedResponseCache(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	backend := mock.New(mock.Options{})
	hBackend := httpServer(t, backend)
	edit := func(c *config.Config) {
		c.Backends = []config.Backend{c.NewBackend("a", hBackend)}
		c.Cache.ResponseCache.Enabled, c.Cache.ResponseCache.TTL = true, time.Minute
		c.Cache.ResponseCache.Storage = config.CacheInRedis
		c.Cache.ResponseCache.MaxBytes = 1 << 20
	}
	one := start(t, withRedis(srv, "one"), withConfig(edit))
	two := start(t, withRedis(srv, "two"), withConfig(edit))
	upstream := func() int64 { return backend.Stats().ByPath[mock.RouteChat] }
	zero, warm := 0.0, 0.7

	mark, first := chatAt(t, one, &zero, false)
	if mark != "miss" || upstream() != 1 {
		t.Fatalf("first request on replica one: %q and %d upstream calls, want miss and 1", mark, upstream())
	}
	// The answer is written in the background: wait until Redis has it.
	eventually(t, 2*time.Second, func() bool {
		keys, _ := srv.Client().Keys(context.Background(), "*answer:*").Result()
		return len(keys) == 1
	})
	mark, second := chatAt(t, two, &zero, false)
	if mark != "hit" || second != first || upstream() != 1 {
		t.Fatalf("the identical request on replica two: %q, answer %q (first %q), %d upstream calls; want a hit, the same answer, no call",
			mark, second, first, upstream())
	}
	if mark, _ := chatAt(t, two, &warm, false); mark != "" || upstream() != 2 {
		t.Errorf("a non-deterministic request: %q, %d upstream calls; want no cache and a call", mark, upstream())
	}

	srv.Kill()
	for i := range 3 {
		if mark, _ := chatAt(t, two, &zero, false); mark != "miss" {
			t.Errorf("request %d with Redis down: %q, want miss (and 200)", i, mark)
		}
	}
	if got := upstream(); got != 5 {
		t.Errorf("upstream calls with Redis down: %d in all, want 5", got)
	}
	m := opsScrape(t, two.URL+"/metrics")
	if m.Sum("continuum_cache_store_errors_total") < 1 {
		t.Errorf("continuum_cache_store_errors_total is %v with Redis down, want at least 1", m.Sum("continuum_cache_store_errors_total"))
	}
}
