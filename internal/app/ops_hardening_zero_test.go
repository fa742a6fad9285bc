package app

// Hardening (operations): a zero in the configuration means what the
// documentation says, all the way down to the package that uses it, or
// validation refuses it at its line. The test walks the Config type, so a
// new duration or number without a case here fails it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/health"
	"github.com/continuumhq/continuum/internal/resilience"
)

// zeroRouter is a router built (not started) from a configuration with one
// key set to 0, on a fake clock.
type zeroRouter struct {
	a   *App
	clk *clock.Fake
	m   *member // the only backend
}

// zeroCase says what a 0 for one key must do.
type zeroCase struct {
	// with lists other settings the case needs (path: YAML value).
	with map[string]string
	// reject is part of the error validation must report at the key's line;
	// "" when the zero is valid.
	reject string
	// ignored is part of the warning a zero in a backend's block gets when
	// the key applies to the whole router only.
	ignored string
	// check observes the zero's documented meaning in the built router.
	check func(t *testing.T, z zeroRouter)
}

// TestOpsHardeningZeroMeansWhatTheDocsSay covers every duration and number
// of the configuration, global and per backend.
func TestOpsHardeningZeroMeansWhatTheDocsSay(t *testing.T) {
	t.Parallel()
	cases := map[string]zeroCase{
		// server
		"server.shutdown_timeout": {check: func(t *testing.T, z zeroRouter) {
			// "0 stops at once": the shutdown context is over when it is made.
			if g := z.a.shutdownGrace(); g != 0 {
				t.Errorf("shutdown grace: got %s, want 0", g)
			}
		}},
		"server.read_header_timeout": {check: func(t *testing.T, z zeroRouter) {
			if got := serverOptions(z.a.rt.Load().cfg).ReadTimeout; got != 0 { // server: zero means no limit
				t.Errorf("listener read timeout: got %s, want 0 (no limit)", got)
			}
		}},
		"server.idle_timeout": {check: func(t *testing.T, z zeroRouter) {
			if got := serverOptions(z.a.rt.Load().cfg).IdleTimeout; got != 0 { // server: zero means no limit
				t.Errorf("listener idle timeout: got %s, want 0 (no limit)", got)
			}
		}},
		"server.cors.max_age": {with: map[string]string{"server.cors.enabled": "true"}, check: func(t *testing.T, z zeroRouter) {
			// The listener sends Access-Control-Max-Age only when positive.
			if got := corsSettings(z.a.rt.Load().cfg.Server.CORS).MaxAge; got != 0 {
				t.Errorf("CORS max age: got %s, want 0 (no header)", got)
			}
		}},
		"server.socket_mode": {check: func(t *testing.T, z zeroRouter) {
			// listen changes a socket's mode only when it is not 0.
			if got := z.a.rt.Load().cfg.Server.SocketMode; got != 0 {
				t.Errorf("socket mode: got %#o, want 0 (kept as created)", got)
			}
		}},
		"server.max_body_size": {reject: "must be positive"},
		"server.workers": {check: func(t *testing.T, z zeroRouter) {
			// "0 and 1 run the router in this one process": serve starts
			// no master, and limits are not split.
			if got := z.a.rt.Load().cfg.Server.WorkerCount(); got != 1 {
				t.Errorf("worker processes: got %d, want 1 (this process)", got)
			}
			if got := z.a.workers(); got != 1 {
				t.Errorf("workers sharing the limits: got %d, want 1", got)
			}
		}},
		"server.max_concurrent_requests": {check: func(t *testing.T, z zeroRouter) {
			if got := z.a.guard.gate.Max(); got != 0 { // limit: zero means unlimited
				t.Errorf("concurrency gate: got %d, want 0 (unlimited)", got)
			}
		}},
		"server.max_retry_after": {check: func(t *testing.T, z zeroRouter) {
			// proxy and listener: a zero cap means none.
			if got := z.a.proxyOptions(z.a.rt.Load().cfg, z.a.rt.Load().budget).RetryAfterCap; got != 0 {
				t.Errorf("proxy Retry-After cap: got %s, want 0 (no cap)", got)
			}
			if got := z.a.guard.retryAfterCap.Load(); got != 0 {
				t.Errorf("rate-limit Retry-After cap: got %d, want 0 (no cap)", got)
			}
		}},
		"server.client_write_timeout": {check: func(t *testing.T, z zeroRouter) {
			// proxy and listener: zero means no limit.
			if got := z.a.proxyOptions(z.a.rt.Load().cfg, z.a.rt.Load().budget).ClientWriteTimeout; got != 0 {
				t.Errorf("stream write timeout: got %s, want 0 (no limit)", got)
			}
			if got := serverSettings(z.a.rt.Load().cfg).ClientWriteTimeout; got != 0 {
				t.Errorf("answer write timeout: got %s, want 0 (no limit)", got)
			}
		}},
		"backends[].default_max_tokens": {check: func(t *testing.T, z zeroRouter) {
			// translate: zero means its default, 4096.
			if got := z.m.target.Dialect.Options.DefaultMaxTokens; got != 0 {
				t.Errorf("default max tokens: got %d, want 0 (the translator's 4096)", got)
			}
		}},
		"server.connection_pool_size": {check: func(t *testing.T, z zeroRouter) {
			if got := upstreamOptions(z.m.cfg, z.a.rt.Load().cfg).MaxIdle; got != 0 { // upstream: zero means its default
				t.Errorf("upstream idle pool: got %d, want 0 (the client's default)", got)
			}
		}},

		"cache.model_cache_ttl": {reject: "must be positive"},
		"cache.deduplication_ttl": {with: map[string]string{"cache.enable_deduplication": "true"}, check: func(t *testing.T, z zeroRouter) {
			// proxy: answers are shared only while in flight, none is kept.
			r := z.a.proxyOptions(z.a.rt.Load().cfg, z.a.rt.Load().budget).Reuse
			if r == nil || !r.Dedup || r.DedupTTL != 0 || r.Store != nil {
				t.Errorf("reuse: got %+v, want deduplication in flight only, no store", r)
			}
		}},
		"cache.response_cache.ttl":       {with: map[string]string{"cache.response_cache.enabled": "true"}, reject: "must be positive when the response cache is enabled"},
		"cache.response_cache.max_bytes": {with: map[string]string{"cache.response_cache.enabled": "true"}, reject: "must be positive when answers are kept"},

		// request
		"request.timeout": {check: func(t *testing.T, z zeroRouter) {
			if got := z.a.proxyOptions(z.a.rt.Load().cfg, z.a.rt.Load().budget).Timeout; got != 0 {
				t.Errorf("request timeout: got %s, want 0 (no limit)", got)
			}
			if got := z.m.target.Timeout; got != 0 {
				t.Errorf("attempt timeout: got %s, want 0", got)
			}
		}},
		"request.connect_timeout":     {check: checkConnectTimeout},
		"request.first_token_timeout": {check: checkFirstTokenTimeout},
		"request.idle_timeout":        {check: checkIdleTimeout},
		"request.max_retries": {check: func(t *testing.T, z zeroRouter) {
			if got := z.a.proxyOptions(z.a.rt.Load().cfg, z.a.rt.Load().budget).MaxAttempts; got != 1 {
				t.Errorf("attempts: got %d, want 1 (no retries)", got)
			}
		}},
		"backends[].request.timeout": {check: func(t *testing.T, z zeroRouter) {
			if got := z.m.target.Timeout; got != 0 {
				t.Errorf("attempt timeout on the backend: got %s, want 0 (none of its own)", got)
			}
			if got := z.a.proxyOptions(z.a.rt.Load().cfg, z.a.rt.Load().budget).Timeout; got != 180*time.Second {
				t.Errorf("request timeout: got %s, want the global 3m0s", got)
			}
		}},
		"backends[].request.connect_timeout":     {check: checkConnectTimeout},
		"backends[].request.first_token_timeout": {check: checkFirstTokenTimeout},
		"backends[].request.idle_timeout":        {check: checkIdleTimeout},
		"backends[].request.max_retries":         {ignored: "attempts are counted per request"},

		// retry
		"retry.max_attempts":                     {reject: "must be at least 1"},
		"backends[].retry.max_attempts":          {reject: "must be at least 1"},
		"retry.base_delay":                       {check: checkBaseDelay},
		"backends[].retry.base_delay":            {check: checkBaseDelay},
		"retry.max_delay":                        {reject: "must be at least base_delay"},
		"backends[].retry.max_delay":             {reject: "must be at least base_delay"},
		"retry.budget_window":                    {reject: "must be positive"},
		"backends[].retry.budget_window":         {reject: "must be positive"},
		"backends[].retry.budget_ratio":          {ignored: "the retry budget is shared"},
		"backends[].retry.budget_min_per_second": {ignored: "the retry budget is shared"},
		"retry.budget_ratio": {check: func(t *testing.T, z zeroRouter) {
			// Only budget_min_per_second (1) over budget_window (10s) is left.
			if got := retriesAllowed(z, 100); got != 10 {
				t.Errorf("retries allowed after 100 requests: got %d, want 10", got)
			}
		}},
		"retry.budget_min_per_second": {check: func(t *testing.T, z zeroRouter) {
			// Only budget_ratio (0.2) of the requests is left.
			if got := retriesAllowed(z, 10); got != 2 {
				t.Errorf("retries allowed after 10 requests: got %d, want 2", got)
			}
		}},

		// circuit_breaker
		"circuit_breaker.window":                                 {reject: "must be positive when failure_rate_threshold is set"},
		"backends[].circuit_breaker.window":                      {reject: "must be positive when failure_rate_threshold is set"},
		"circuit_breaker.max_timeout":                            {reject: "must be at least timeout"},
		"backends[].circuit_breaker.max_timeout":                 {reject: "must be at least timeout"},
		"circuit_breaker.half_open_max_requests":                 {reject: "must be at least 1"},
		"backends[].circuit_breaker.half_open_max_requests":      {reject: "must be at least 1"},
		"circuit_breaker.half_open_success_threshold":            {reject: "must be at least 1"},
		"backends[].circuit_breaker.half_open_success_threshold": {reject: "must be at least 1"},
		"circuit_breaker.timeout":                                {with: map[string]string{"circuit_breaker.failure_threshold": "1"}, check: checkBreakerTimeout},
		"backends[].circuit_breaker.timeout":                     {with: map[string]string{"backends[].circuit_breaker.failure_threshold": "1"}, check: checkBreakerTimeout},
		"circuit_breaker.failure_threshold":                      {check: checkFailureThreshold},
		"backends[].circuit_breaker.failure_threshold":           {check: checkFailureThreshold},
		"circuit_breaker.failure_rate_threshold":                 {check: checkFailureRate},
		"backends[].circuit_breaker.failure_rate_threshold":      {check: checkFailureRate},
		"circuit_breaker.minimum_requests":                       {with: map[string]string{"circuit_breaker.failure_threshold": "0"}, check: checkMinimumRequests},
		"backends[].circuit_breaker.minimum_requests":            {with: map[string]string{"backends[].circuit_breaker.failure_threshold": "0"}, check: checkMinimumRequests},

		// health_checks
		"health_checks.interval":                         {reject: "must be positive when health checks are enabled"},
		"backends[].health_checks.interval":              {reject: "must be positive when health checks are enabled"},
		"health_checks.timeout":                          {reject: "must be positive"},
		"backends[].health_checks.timeout":               {reject: "must be positive"},
		"health_checks.warmup_check_interval":            {reject: "must be positive when health checks are enabled"},
		"backends[].health_checks.warmup_check_interval": {reject: "must be positive when health checks are enabled"},
		"health_checks.unhealthy_threshold":              {reject: "must be at least 1"},
		"backends[].health_checks.unhealthy_threshold":   {reject: "must be at least 1"},
		"health_checks.healthy_threshold":                {reject: "must be at least 1"},
		"backends[].health_checks.healthy_threshold":     {reject: "must be at least 1"},
		"health_checks.max_warmup_duration":              {check: checkMaxWarmup},
		"backends[].health_checks.max_warmup_duration":   {check: checkMaxWarmup},
		"health_checks.panic_threshold": {check: func(t *testing.T, z zeroRouter) {
			if got := z.a.proxyOptions(z.a.rt.Load().cfg, z.a.rt.Load().budget).PanicThreshold; got != 0 { // proxy: only when none is healthy
				t.Errorf("panic threshold: got %g, want 0", got)
			}
		}},
		"backends[].health_checks.panic_threshold": {ignored: "panic mode is decided per model"},

		"backends[].weight": {reject: "must be at least 1"},

		// rate limits: a zero rate is no limit, a zero burst is ceil(rate).
		"api_keys.api_keys[].rate_limit.requests_per_second": {check: func(t *testing.T, z zeroRouter) {
			if n := allowedInARow(t, z, zeroKey, 50); n != 50 {
				t.Errorf("requests allowed at once: got %d, want all 50 (no per-key limit)", n)
			}
		}},
		"api_keys.api_keys[].rate_limit.burst_capacity": {
			with: map[string]string{"api_keys.api_keys[].rate_limit.requests_per_second": "2"},
			check: func(t *testing.T, z zeroRouter) {
				if n := allowedInARow(t, z, zeroKey, 50); n != 2 {
					t.Errorf("requests allowed at once: got %d, want 2 (a burst of ceil(2/s))", n)
				}
			}},
	}
	// token limits: tokens_per_minute 0 is no token limit; token_burst 0 is
	// a minute's worth. A call without max_tokens reserves
	// default_output_tokens (1024) plus its prompt (none here).
	cases["api_keys.api_keys[].rate_limit.tokens_per_minute"] = zeroCase{check: checkNoTokenLimit}
	cases["api_keys.api_keys[].rate_limit.token_burst"] = zeroCase{
		with:  map[string]string{"api_keys.api_keys[].rate_limit.tokens_per_minute": "6000"},
		check: checkMinuteTokenBurst,
	}
	for _, level := range []string{"per_api_key", "per_client", "global"} {
		prefix := "rate_limiting.limits." + level
		cases[prefix+".tokens_per_minute"] = zeroCase{with: map[string]string{"rate_limiting.enabled": "true"}, check: checkNoTokenLimit}
		cases[prefix+".token_burst"] = zeroCase{
			with:  map[string]string{"rate_limiting.enabled": "true", prefix + ".tokens_per_minute": "6000"},
			check: checkMinuteTokenBurst,
		}
	}
	cases["rate_limiting.default_output_tokens"] = zeroCase{
		with: map[string]string{"rate_limiting.enabled": "true", "rate_limiting.limits.global.tokens_per_minute": "6000"},
		check: func(t *testing.T, z zeroRouter) {
			// 0 reserves the prompt only.
			c := zeroCall(t, z, zeroKey)
			if err := z.a.rateLimit(context.Background(), c); err != nil {
				t.Fatalf("rate limit: %v", err)
			}
			if c.Estimate.Output != 0 || c.Charge == nil || c.Charge.Reserved() != c.Estimate.Prompt {
				t.Errorf("reservation of a call without max_tokens: estimate %+v, reserved %v; want the prompt only", c.Estimate, c.Charge)
			}
		}}
	cases["rate_limiting.redis.timeout"] = zeroCase{reject: "must be positive"}
	cases["rate_limiting.redis.heartbeat_ttl"] = zeroCase{reject: "must be positive"}
	cases["rate_limiting.redis.pool_size"] = zeroCase{
		with: map[string]string{"rate_limiting.storage": "redis", "rate_limiting.redis.url": "redis://127.0.0.1:9"},
		check: func(t *testing.T, z zeroRouter) {
			// go-redis's default: 10 connections per CPU.
			if got, want := z.a.shared.rdb.(*redis.Client).Options().PoolSize, 10*runtime.GOMAXPROCS(0); got != want {
				t.Errorf("redis pool size: got %d, want %d (the client's default)", got, want)
			}
		}}
	for _, level := range []string{"per_api_key", "per_client", "global"} {
		prefix := "rate_limiting.limits." + level
		cases[prefix+".requests_per_second"] = zeroCase{
			with: map[string]string{"rate_limiting.enabled": "true"},
			check: func(t *testing.T, z zeroRouter) {
				if n := allowedInARow(t, z, zeroKey, 50); n != 50 {
					t.Errorf("requests allowed at once: got %d, want all 50 (no %s limit)", n, level)
				}
			}}
		cases[prefix+".burst_capacity"] = zeroCase{
			with: map[string]string{"rate_limiting.enabled": "true", prefix + ".requests_per_second": "2"},
			check: func(t *testing.T, z zeroRouter) {
				if n := allowedInARow(t, z, zeroKey, 50); n != 2 {
					t.Errorf("requests allowed at once: got %d, want 2 (a %s burst of ceil(2/s))", n, level)
				}
			}}
	}

	keys := zeroPaths(reflect.TypeFor[config.Config](), "")
	for _, k := range keys {
		if _, ok := cases[k]; !ok {
			t.Errorf("%s has no case: say what 0 means for it", k)
		}
	}
	for k := range cases {
		if !slices.Contains(keys, k) {
			t.Errorf("case %s is not a duration or number of the configuration", k)
		}
	}
	for _, key := range keys {
		tc, ok := cases[key]
		if !ok {
			continue
		}
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			settings := map[string]string{key: "0"}
			for k, v := range tc.with {
				settings[k] = v
			}
			src, lines := zeroYAML(settings)
			cfg, warns, err := config.Parse([]byte(src), "zero.yaml", func(string) (string, bool) { return "", false })
			at := strings.ReplaceAll(key, "[]", "[0]")
			if tc.reject != "" {
				var list config.ErrorList
				if !errors.As(err, &list) {
					t.Fatalf("got no error, want %q at line %d:\n%s", tc.reject, lines[key], src)
				}
				for _, d := range list {
					if d.Line == lines[key] && d.Path == at && strings.Contains(d.Msg, tc.reject) {
						return
					}
				}
				t.Fatalf("got\n%v\nwant %q at zero.yaml:%d (%s):\n%s", err, tc.reject, lines[key], at, src)
			}
			if err != nil {
				t.Fatalf("got error\n%v\nwant none:\n%s", err, src)
			}
			if tc.ignored != "" {
				for _, w := range warns {
					if w.Line == lines[key] && strings.Contains(w.Msg, tc.ignored) {
						return
					}
				}
				t.Fatalf("got warnings %v, want %q at line %d", warns, tc.ignored, lines[key])
			}
			tc.check(t, newZeroRouter(t, cfg))
		})
	}
}

// zeroKey is the API key of the configurations of the test.
const zeroKey = "zero-key"

// newZeroRouter builds the router for cfg on a fake clock, without starting
// it, and releases it when the test ends.
func newZeroRouter(t *testing.T, cfg *config.Config) zeroRouter {
	t.Helper()
	clk := clock.NewFake(time.Time{})
	a, err := New(Options{Config: cfg, Clock: clk, LogOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.cancel()
		for _, m := range a.rt.Load().members {
			m.client.Close()
		}
		a.closeShared()
	})
	return zeroRouter{a: a, clk: clk, m: a.rt.Load().members[0]}
}

// zeroPaths lists the path of every duration and number of type t, items
// of lists written "[]".
func zeroPaths(t reflect.Type, base string) []string {
	var out []string
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		p := tag
		if base != "" {
			p = base + "." + tag
		}
		switch ft := f.Type; {
		case ft == reflect.TypeFor[time.Time]():
		case ft.Kind() == reflect.Struct:
			out = append(out, zeroPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, zeroPaths(ft.Elem(), p+"[]")...)
		case ft == reflect.TypeFor[time.Duration](), ft.Kind() == reflect.Int, ft.Kind() == reflect.Int64,
			ft.Kind() == reflect.Uint32, ft.Kind() == reflect.Float64:
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// zeroYAML writes settings (path: value) as a configuration with one
// backend and, when needed, one API key, and returns it with the line of
// each setting.
func zeroYAML(settings map[string]string) (string, map[string]int) {
	global, back, key := &yamlTree{}, &yamlTree{}, &yamlTree{}
	for p, v := range settings {
		switch {
		case strings.HasPrefix(p, "backends[]."):
			back.set(strings.Split(strings.TrimPrefix(p, "backends[]."), "."), v, p)
		case strings.HasPrefix(p, "api_keys.api_keys[]."):
			key.set(strings.Split(strings.TrimPrefix(p, "api_keys.api_keys[]."), "."), v, p)
		default:
			global.set(strings.Split(p, "."), v, p)
		}
	}
	var lines []string
	pos := map[string]int{}
	global.render(&lines, pos, 0)
	lines = append(lines, "backends:", "  - name: a", "    url: http://127.0.0.1:9", "    models: [m]")
	back.render(&lines, pos, 4)
	lines = append(lines, "api_keys:", "  api_keys:", "    - key: "+zeroKey, "      id: zero")
	key.render(&lines, pos, 6)
	return strings.Join(lines, "\n") + "\n", pos
}

// yamlTree is a nested YAML mapping in insertion order.
type yamlTree struct {
	keys  []string
	kids  map[string]*yamlTree
	value string
	path  string // a leaf's full path, for its line
}

func (y *yamlTree) set(path []string, value, full string) {
	if y.kids == nil {
		y.kids = map[string]*yamlTree{}
	}
	kid, ok := y.kids[path[0]]
	if !ok {
		kid = &yamlTree{}
		y.kids[path[0]] = kid
		y.keys = append(y.keys, path[0])
		sort.Strings(y.keys)
	}
	if len(path) == 1 {
		kid.value, kid.path = value, full
		return
	}
	kid.set(path[1:], value, full)
}

func (y *yamlTree) render(lines *[]string, pos map[string]int, indent int) {
	for _, k := range y.keys {
		kid := y.kids[k]
		if kid.path != "" {
			*lines = append(*lines, fmt.Sprintf("%*s%s: %s", indent, "", k, kid.value))
			pos[kid.path] = len(*lines)
			continue
		}
		*lines = append(*lines, fmt.Sprintf("%*s%s:", indent, "", k))
		kid.render(lines, pos, indent+2)
	}
}

func checkConnectTimeout(t *testing.T, z zeroRouter) {
	if got := upstreamOptions(z.m.cfg, z.a.rt.Load().cfg).ConnectTimeout; got != 0 { // upstream: zero means no limit
		t.Errorf("connect timeout: got %s, want 0 (no limit)", got)
	}
}

func checkFirstTokenTimeout(t *testing.T, z zeroRouter) {
	if got := z.m.target.FirstTokenTimeout; got != 0 { // proxy: zero means no limit
		t.Errorf("first-token timeout: got %s, want 0 (no limit)", got)
	}
}

func checkIdleTimeout(t *testing.T, z zeroRouter) {
	if got := z.m.target.IdleTimeout; got != 0 { // proxy: zero means no limit
		t.Errorf("stream idle timeout: got %s, want 0 (no limit)", got)
	}
}

func checkBaseDelay(t *testing.T, z zeroRouter) {
	r := z.m.target.Retry
	if d := resilience.RetryDelay(1, r.BaseDelay, r.MaxDelay, r.Exponential, r.Jitter, nil); r.BaseDelay != 0 || d != 0 {
		t.Errorf("retry delay: base %s gives %s, want 0 (retry at once)", r.BaseDelay, d)
	}
}

// failures records n outcomes on the backend's breaker, failures where
// fail(i) is true, and returns the breaker's state.
func outcomes(t *testing.T, z zeroRouter, n int, fail func(i int) bool) resilience.State {
	t.Helper()
	for i := range n {
		p, ok := z.m.breaker.Allow()
		if !ok {
			t.Fatalf("outcome %d: the breaker refused the attempt", i)
		}
		o := resilience.Success
		if fail(i) {
			o = resilience.Failure
		}
		p.Done(o)
	}
	return z.m.breaker.State()
}

// checkBreakerTimeout: timeout 0 lets probes through at once: the breaker
// that one failure opens is half-open without the clock moving.
func checkBreakerTimeout(t *testing.T, z zeroRouter) {
	if got := outcomes(t, z, 1, func(int) bool { return true }); got != resilience.HalfOpen {
		t.Errorf("breaker after a failure, clock unchanged: got %s, want half_open", got)
	}
	if _, ok := z.m.breaker.Allow(); !ok {
		t.Error("the breaker refused a probe at once")
	}
}

// checkFailureThreshold: 0 turns the consecutive-failures policy off: ten
// failures in a row (fewer than the rate policy's 20 calls) leave it closed.
func checkFailureThreshold(t *testing.T, z zeroRouter) {
	if got := outcomes(t, z, 10, func(int) bool { return true }); got != resilience.Closed {
		t.Errorf("breaker after 10 failures: got %s, want closed", got)
	}
}

// checkFailureRate: 0 turns the failure-rate policy off: a 50% failure rate
// over 40 calls, never two failures in a row, leaves it closed.
func checkFailureRate(t *testing.T, z zeroRouter) {
	if got := outcomes(t, z, 40, func(i int) bool { return i%2 == 0 }); got != resilience.Closed {
		t.Errorf("breaker after 40 calls at 50%% failures: got %s, want closed", got)
	}
}

// checkMinimumRequests: 0 means any number of calls: the first failure
// gives a failure rate of 1, which opens the breaker.
func checkMinimumRequests(t *testing.T, z zeroRouter) {
	if got := outcomes(t, z, 1, func(int) bool { return true }); got != resilience.Open {
		t.Errorf("breaker after one failed call: got %s, want open", got)
	}
}

// checkMaxWarmup: 0 means no limit: a backend that answers 503 stays
// warming up however long the clock runs.
func checkMaxWarmup(t *testing.T, z zeroRouter) {
	tr, st := z.m.tracker, z.m.backend.State
	tr.Observe(health.Warming)
	for range 5 {
		z.clk.Advance(1000 * time.Hour)
		tr.Observe(health.Warming)
	}
	if got := st.Health(); got != backend.WarmingUp {
		t.Errorf("health after 5000h of 503 answers: got %s, want warming_up", got)
	}
}

// retriesAllowed counts requests first attempts, then how many retries the
// retry budget allows.
func retriesAllowed(z zeroRouter, requests int) int {
	for range requests {
		z.a.rt.Load().budget.Request()
	}
	n := 0
	for z.a.rt.Load().budget.TryRetry() && n < 1000 {
		n++
	}
	return n
}

// zeroCall returns an authenticated chat call with key, from one client
// address, without a body.
func zeroCall(t *testing.T, z zeroRouter, key string) *exchange.Call {
	t.Helper()
	c := &exchange.Call{API: exchange.ChatCompletions, Credential: []byte(key), ClientIP: netip.MustParseAddr("192.0.2.1"), Record: &exchange.Record{}}
	if err := z.a.authenticate(context.Background(), c); err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return c
}

// allowedInARow sends n requests with key at one instant and counts those
// the rate limits let through. Token reservations are kept (never settled).
func allowedInARow(t *testing.T, z zeroRouter, key string, n int) int {
	t.Helper()
	allowed := 0
	for range n {
		if z.a.rateLimit(context.Background(), zeroCall(t, z, key)) == nil {
			allowed++
		}
	}
	return allowed
}

// checkNoTokenLimit: tokens_per_minute 0 limits no tokens: 50 calls at once
// pass and reserve nothing.
func checkNoTokenLimit(t *testing.T, z zeroRouter) {
	c := zeroCall(t, z, zeroKey)
	if err := z.a.rateLimit(context.Background(), c); err != nil || c.Charge != nil {
		t.Errorf("a call: error %v, charge %v; want none (no token limit)", err, c.Charge)
	}
	if n := allowedInARow(t, z, zeroKey, 50); n != 50 {
		t.Errorf("calls allowed at once: got %d, want all 50", n)
	}
}

// checkMinuteTokenBurst: token_burst 0 is tokens_per_minute (6000): five
// calls reserving 1024 tokens each pass at once, the sixth does not.
func checkMinuteTokenBurst(t *testing.T, z zeroRouter) {
	if n := allowedInARow(t, z, zeroKey, 20); n != 5 {
		t.Errorf("calls of 1024 tokens allowed at once: got %d, want 5 (a burst of 6000 tokens)", n)
	}
}
