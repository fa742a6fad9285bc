package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// oneBackend is the smallest valid configuration.
const oneBackend = "backends:\n  - {name: a, url: http://127.0.0.1:8000}\n"

func noEnv(string) (string, bool) { return "", false }

func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// parseOK parses src and fails the test on any error.
func parseOK(t *testing.T, src string) (*Config, []Diagnostic) {
	t.Helper()
	c, warns, err := Parse([]byte(src), "config.yaml", noEnv)
	if err != nil {
		t.Fatalf("Parse: got error\n%v\nwant none", err)
	}
	return c, warns
}

// parseErrors parses src, requires it to fail and returns the errors as
// strings.
func parseErrors(t *testing.T, src string) []string {
	t.Helper()
	c, _, err := Parse([]byte(src), "config.yaml", noEnv)
	if err == nil {
		t.Fatalf("Parse: got no error, want one")
	}
	if c != nil {
		t.Errorf("Parse: got a config with an error, want nil")
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse: got error type %T, want ErrorList", err)
	}
	return diagStrings(list)
}

func diagStrings(ds []Diagnostic) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	return out
}

func TestDefaults(t *testing.T) {
	c, _ := parseOK(t, oneBackend)
	b := c.Backends[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"server.bind_address", c.Server.BindAddress, []string{"127.0.0.1:8080"}},
		{"server.socket_mode", c.Server.SocketMode, uint32(0)},
		{"server.max_body_size", c.Server.MaxBodySize, int64(32 << 20)},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, 30 * time.Second},
		{"server.expose_backend_header", c.Server.ExposeBackendHeader, true},
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout, 10 * time.Second},
		{"server.idle_timeout", c.Server.IdleTimeout, 120 * time.Second},
		{"server.max_concurrent_requests", c.Server.MaxConcurrentRequests, 0},
		{"server.connection_pool_size", c.Server.ConnectionPoolSize, 100},
		{"server.workers", c.Server.Workers, 1},
		{"server.cors.enabled", c.Server.CORS.Enabled, false},
		{"server.cors.allowed_origins", c.Server.CORS.AllowedOrigins, []string{"*"}},
		{"server.cors.allowed_methods", c.Server.CORS.AllowedMethods, []string{"GET", "POST", "OPTIONS"}},
		{"server.cors.allowed_headers", c.Server.CORS.AllowedHeaders, []string{"Authorization", "Content-Type", "Accept", "X-Api-Key", "Api-Key",
			"X-Request-Id", "X-Session-Id", "OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta", "X-Stainless-*"}},
		{"server.cors.allow_credentials", c.Server.CORS.AllowCredentials, false},
		{"server.cors.max_age", c.Server.CORS.MaxAge, 10 * time.Minute},
		{"backends[0].type", b.Type, "openai"},
		{"backends[0].weight", b.Weight, 1},
		{"backends[0].models", b.Models, []string(nil)},
		{"backends[0].request", b.Request, c.Request},
		{"backends[0].retry", b.Retry, c.Retry},
		{"backends[0].circuit_breaker", b.CircuitBreaker, c.CircuitBreaker},
		{"backends[0].health_checks", b.HealthChecks, c.HealthChecks},
		{"selection_strategy", c.SelectionStrategy, "RoundRobin"},
		{"model_aliases", c.ModelAliases, map[string]string(nil)},
		{"fallbacks", c.Fallbacks, map[string][]string(nil)},
		{"fallback.enabled", c.Fallback.Enabled, true},
		{"cache.model_cache_ttl", c.Cache.ModelCacheTTL, 60 * time.Second},
		{"request.timeout", c.Request.Timeout, 180 * time.Second},
		{"request.connect_timeout", c.Request.ConnectTimeout, 5 * time.Second},
		{"request.first_token_timeout", c.Request.FirstTokenTimeout, 30 * time.Second},
		{"request.idle_timeout", c.Request.IdleTimeout, 60 * time.Second},
		{"request.max_retries", c.Request.MaxRetries, 2},
		{"retry.max_attempts", c.Retry.MaxAttempts, 3},
		{"retry.base_delay", c.Retry.BaseDelay, 50 * time.Millisecond},
		{"retry.max_delay", c.Retry.MaxDelay, 5 * time.Second},
		{"retry.exponential_backoff", c.Retry.ExponentialBackoff, true},
		{"retry.jitter", c.Retry.Jitter, true},
		{"retry.budget_ratio", c.Retry.BudgetRatio, 0.2},
		{"retry.budget_min_per_second", c.Retry.BudgetMinPerSecond, 1.0},
		{"retry.budget_window", c.Retry.BudgetWindow, 10 * time.Second},
		{"circuit_breaker.enabled", c.CircuitBreaker.Enabled, true},
		{"circuit_breaker.failure_threshold", c.CircuitBreaker.FailureThreshold, 5},
		{"circuit_breaker.failure_rate_threshold", c.CircuitBreaker.FailureRateThreshold, 0.5},
		{"circuit_breaker.minimum_requests", c.CircuitBreaker.MinimumRequests, 20},
		{"circuit_breaker.window", c.CircuitBreaker.Window, 30 * time.Second},
		{"circuit_breaker.timeout", c.CircuitBreaker.Timeout, 30 * time.Second},
		{"circuit_breaker.max_timeout", c.CircuitBreaker.MaxTimeout, 300 * time.Second},
		{"circuit_breaker.backoff", c.CircuitBreaker.Backoff, "exponential"},
		{"circuit_breaker.half_open_max_requests", c.CircuitBreaker.HalfOpenMaxRequests, 1},
		{"circuit_breaker.half_open_success_threshold", c.CircuitBreaker.HalfOpenSuccessThreshold, 1},
		{"health_checks.enabled", c.HealthChecks.Enabled, true},
		{"health_checks.interval", c.HealthChecks.Interval, 30 * time.Second},
		{"health_checks.timeout", c.HealthChecks.Timeout, 10 * time.Second},
		{"health_checks.unhealthy_threshold", c.HealthChecks.UnhealthyThreshold, 3},
		{"health_checks.healthy_threshold", c.HealthChecks.HealthyThreshold, 2},
		{"health_checks.endpoint", c.HealthChecks.Endpoint, ""},
		{"health_checks.warmup_check_interval", c.HealthChecks.WarmupCheckInterval, time.Second},
		{"health_checks.max_warmup_duration", c.HealthChecks.MaxWarmupDuration, 300 * time.Second},
		{"health_checks.panic_threshold", c.HealthChecks.PanicThreshold, 0.5},
		{"logging.level", c.Logging.Level, "info"},
		{"logging.format", c.Logging.Format, "text"},
		{"api_keys.mode", c.APIKeys.Mode, "permissive"},
		{"api_keys.api_keys", c.APIKeys.Keys, []APIKey(nil)},
		{"api_keys.api_keys_file", c.APIKeys.File, ""},
		{"admin.bind_address", c.Admin.BindAddress, ""},
		{"admin.auth.method", c.Admin.Auth.Method, "bearer_token"},
		{"rate_limiting.enabled", c.RateLimiting.Enabled, false},
		{"rate_limiting.storage", c.RateLimiting.Storage, "memory"},
		{"rate_limiting.limits", c.RateLimiting.Limits, RateLimits{}},
		{"rate_limiting.use_rightmost_xff", c.RateLimiting.UseRightmostXFF, true},
		{"metrics.enabled", c.Metrics.Enabled, true},
		{"metrics.endpoint", c.Metrics.Endpoint, "/metrics"},
		{"metrics.listener", c.Metrics.Listener, "main"},
		{"File", c.File, "config.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestDefaultMatchesEmptyFile(t *testing.T) {
	c, warns, err := Parse(nil, "empty.yaml", noEnv)
	if err != nil {
		t.Fatalf("Parse(empty): got error %v, want none", err)
	}
	if got := diagStrings(warns); !slices.Equal(got, []string{"empty.yaml: no backends are configured; every request will fail until some are added"}) {
		t.Errorf("warnings: got %q, want the no-backends warning", got)
	}
	c.File, c.src = "", nil
	if want := Default(); !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(empty):\ngot  %+v\nwant %+v", c, want)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate(): got %v, want nil", err)
	}
}

func TestEnvExpansion(t *testing.T) {
	env := envOf(map[string]string{"KEY": "sk-123", "EMPTY": "", "HOST": "10.0.0.1", "W": "4"})
	tests := []struct {
		name      string
		value     string
		want      string
		wantWarns []string
	}{
		{"set", `"${KEY}"`, "sk-123", nil},
		{"embedded", `"Bearer ${KEY}!"`, "Bearer sk-123!", nil},
		{"unset", `"${NOPE}"`, "", []string{`config.yaml:2:49: backends[0].api_key: environment variable "NOPE" is not set; using ""`}},
		{"unset with default", `"${NOPE:-fallback}"`, "fallback", nil},
		{"empty uses default", `"${EMPTY:-fallback}"`, "fallback", nil},
		{"empty without default", `"${EMPTY}"`, "", nil},
		{"empty default", `"${NOPE:-}"`, "", nil},
		{"nested default", `"${NOPE:-${KEY}}"`, "sk-123", nil},
		{"dollar escape", `"pa$$word"`, "pa$word", nil},
		{"escaped reference", `"$${KEY}"`, "${KEY}", nil},
		{"lone dollar", `"a$b$"`, "a$b$", nil},
		{"two unset", `"${A}${B}"`, "", []string{
			`config.yaml:2:49: backends[0].api_key: environment variable "A" is not set; using ""`,
			`config.yaml:2:49: backends[0].api_key: environment variable "B" is not set; using ""`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "backends:\n  - {name: a, url: http://127.0.0.1:1, api_key: " + tt.value + "}\n"
			c, warns, err := Parse([]byte(src), "config.yaml", env)
			if err != nil {
				t.Fatalf("Parse: got error %v, want none", err)
			}
			if got := c.Backends[0].APIKey; got != tt.want {
				t.Errorf("api_key: got %q, want %q", got, tt.want)
			}
			if got := diagStrings(warns); !slices.Equal(got, tt.wantWarns) {
				t.Errorf("warnings:\ngot  %q\nwant %q", got, tt.wantWarns)
			}
		})
	}

	t.Run("typed values", func(t *testing.T) {
		src := "server: {bind_address: \"${HOST}:${PORT:-9000}\"}\nbackends:\n  - {name: a, url: \"http://${HOST}\", weight: \"${W}\"}\n"
		c, _, err := Parse([]byte(src), "config.yaml", env)
		if err != nil {
			t.Fatalf("Parse: got error %v, want none", err)
		}
		if got, want := c.Server.BindAddress, []string{"10.0.0.1:9000"}; !slices.Equal(got, want) {
			t.Errorf("bind_address: got %q, want %q", got, want)
		}
		if got := c.Backends[0].Weight; got != 4 {
			t.Errorf("weight: got %d, want 4", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		// The text of a secret setting (api_key) is never quoted; that of
		// another setting (org_id) is.
		for _, tt := range []struct{ key, value, want string }{
			{"api_key", `"${KEY"`, `config.yaml:2:49: backends[0].api_key: unterminated "${"`},
			{"api_key", `"${1X}"`, `config.yaml:2:49: backends[0].api_key: invalid environment variable name "1X"`},
			{"api_key", `"${}"`, `config.yaml:2:49: backends[0].api_key: invalid environment variable name ""`},
			{"api_key", `"sk-live-0123456789abcdef${"`, `config.yaml:2:49: backends[0].api_key: unterminated "${"`},
			{"org_id", `"${KEY"`, `config.yaml:2:48: backends[0].org_id: unterminated "${" in "${KEY"`},
			{"org_id", `"${1X}"`, `config.yaml:2:48: backends[0].org_id: invalid environment variable name "1X" in "${1X}"`},
		} {
			src := "backends:\n  - {name: a, url: http://127.0.0.1:1, " + tt.key + ": " + tt.value + "}\n"
			if got := parseErrors(t, src); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("%s:\ngot  %q\nwant %q", tt.value, got, tt.want)
			}
		}
	})
}

func TestContinuumRouterFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "continuum-router.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"CONTINUUM_OPENAI_API_KEY": "sk-openai", "CONTINUUM_OPENAI_ORG_ID": "org-1"})
	c, warns, err := Parse(data, "router.yaml", env)
	if err != nil {
		t.Fatalf("Parse: got error\n%v\nwant none", err)
	}
	wantWarns := []string{
		`router.yaml:19:21: backends[0].retry_override.max_attempts: has no effect in a backend's block (attempts are counted per request); set it in the global block`,
	}
	if got := diagStrings(warns); !slices.Equal(got, wantWarns) {
		t.Errorf("warnings:\ngot  %q\nwant %q", got, wantWarns)
	}

	if !c.Cache.EnableDeduplication || c.Cache.DeduplicationTTL != 120*time.Second {
		t.Errorf("cache: got enable_deduplication %v, deduplication_ttl %s; want true, 2m0s", c.Cache.EnableDeduplication, c.Cache.DeduplicationTTL)
	}
	if got := c.GlobalPrompts.DefaultPrompt(); got != "You are a helpful assistant." || c.GlobalPrompts.MergeStrategy != MergePrepend {
		t.Errorf("global_prompts: got default %q, merge_strategy %q; want %q, prepend", got, c.GlobalPrompts.MergeStrategy, "You are a helpful assistant.")
	}

	openai, ollama, vllm := c.BackendByName("openai"), c.BackendByName("local-ollama"), c.BackendByName("vllm-server")
	if openai == nil || ollama == nil || vllm == nil {
		t.Fatalf("BackendByName: got %v %v %v, want three backends", openai, ollama, vllm)
	}
	retry := c.Retry
	retry.MaxAttempts, retry.BaseDelay, retry.MaxDelay, retry.Jitter = 5, 200*time.Millisecond, 30*time.Second, false
	health := c.HealthChecks
	health.Interval = 10 * time.Second
	tests := []struct {
		name      string
		got, want any
	}{
		{"server.bind_address", c.Server.BindAddress, []string{"0.0.0.0:8080"}},
		{"server.connection_pool_size", c.Server.ConnectionPoolSize, 200},
		{"server.workers", c.Server.Workers, 4},
		{"openai url defaults to the OpenAI API", openai.URL, "https://api.openai.com"},
		{"openai api_key expanded", openai.APIKey, "sk-openai"},
		{"openai org_id expanded", openai.OrgID, "org-1"},
		{"openai weight", openai.Weight, 3},
		{"openai models", openai.Models, []string{"gpt-4o", "gpt-4o-mini"}},
		{"retry_override merged over retry", openai.Retry, retry},
		{"request.timeout written after backends still applies", openai.Request.Timeout, 300 * time.Second},
		{"request.max_retries", c.Request.MaxRetries, 3},
		{"health_check (singular) merged", ollama.HealthChecks, health},
		{"other backends keep the global retry", ollama.Retry, c.Retry},
		{"vllm url trailing slash trimmed", vllm.URL, "http://localhost:8000"},
		{"vllm type", vllm.Type, "vllm"},
		{"model_configs aliases merged", c.ModelAliases, map[string]string{
			"llama-3.1-8b": "meta-llama/Llama-3.1-8B-Instruct",
			"llama3":       "meta-llama/Llama-3.1-8B-Instruct",
		}},
		{"metadata kept", vllm.ModelConfigs[0].Metadata["limits"], map[string]any{"context_window": 131072, "max_output": 4096}},
		{"metadata pricing", vllm.ModelConfigs[0].Metadata["pricing"], map[string]any{"input_tokens": 0.03, "output_tokens": 0.06}},
		{"selection_strategy", c.SelectionStrategy, "WeightedRoundRobin"},
		{"health_checks", c.HealthChecks, HealthConfig{
			Enabled: true, Interval: 45 * time.Second, Timeout: 15 * time.Second,
			UnhealthyThreshold: 4, HealthyThreshold: 1, Endpoint: "/v1/models",
			WarmupCheckInterval: 2 * time.Second, MaxWarmupDuration: 600 * time.Second, PanicThreshold: 0.5,
		}},
		{"cache.model_cache_ttl", c.Cache.ModelCacheTTL, 600 * time.Second},
		{"logging", c.Logging, LoggingConfig{Level: "info", Format: "json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "top-level typo",
			src:  oneBackend + "helth_checks:\n  enabled: false\n",
			want: []string{`config.yaml:3:1: unknown key "helth_checks"; did you mean "health_checks"?`},
		},
		{
			name: "nested typo",
			src:  oneBackend + "server:\n  bind_adress: \":80\"\n",
			want: []string{`config.yaml:4:3: unknown key "server.bind_adress"; did you mean "bind_address"?`},
		},
		{
			name: "transposition",
			src:  oneBackend + "retry:\n  max_attemtps: 2\n",
			want: []string{`config.yaml:4:3: unknown key "retry.max_attemtps"; did you mean "max_attempts"?`},
		},
		{
			name: "backend key",
			src:  "backends:\n  - name: a\n    url: http://h\n    wieght: 2\n",
			want: []string{`config.yaml:4:5: unknown key "backends[0].wieght"; did you mean "weight"?`},
		},
		{
			name: "no close match lists the valid keys",
			src:  oneBackend + "cache:\n  zzz: 1\n",
			want: []string{`config.yaml:4:3: unknown key "cache.zzz"; valid: deduplication_ttl, enable_deduplication, model_cache_ttl, response_cache`},
		},
		{
			name: "duplicate key",
			src:  oneBackend + "logging:\n  level: info\n  level: debug\n",
			want: []string{`config.yaml:5:3: logging.level: duplicate key "level" (first defined at line 4)`},
		},
		{
			name: "synonyms both written",
			src:  "backends:\n  - name: a\n    url: http://h\n    retry: {max_attempts: 2}\n    retry_override: {max_attempts: 3}\n",
			want: []string{`config.yaml:5:21: backends[0].retry_override: "retry" and "retry_override" are the same setting; keep one`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErrors(t, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestOtherWarnings(t *testing.T) {
	_, warns := parseOK(t, oneBackend+"api_keys:\n  mode: blocking\n")
	want := []string{`config.yaml:4:9: api_keys.mode: blocking with no keys configured; every /v1 request will be refused`}
	if got := diagStrings(warns); !slices.Equal(got, want) {
		t.Errorf("\ngot  %q\nwant %q", got, want)
	}
}

func TestRouterOnlyKeysWarnEverywhere(t *testing.T) {
	src := "backends:\n  - name: a\n    url: http://h\n    request: {retry_delay: 1s}\nrate_limiting:\n  limits:\n    per_backend: {requests_per_second: 1}\nmetrics: {cardinality_limit: 5}\n"
	_, warns := parseOK(t, src)
	want := []string{
		`config.yaml:4:15: key "backends[0].request.retry_delay" is a continuum-router setting that Continuum does not support yet; ignored`,
		`config.yaml:8:11: key "metrics.cardinality_limit" is a continuum-router setting that Continuum does not support yet; ignored`,
	}
	if got := diagStrings(warns); !slices.Equal(got, want) {
		t.Errorf("\ngot  %q\nwant %q", got, want)
	}
}

func TestValueErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"duration words", "request:\n  timeout: 30 seconds\n", `config.yaml:2:12: request.timeout: invalid duration "30 seconds" (use e.g. 500ms, 30s, 5m)`},
		{"duration unit", "request:\n  timeout: 5x\n", `config.yaml:2:12: request.timeout: invalid duration "5x" (use e.g. 500ms, 30s, 5m)`},
		{"negative duration", "request:\n  timeout: -5s\n", `config.yaml:2:12: request.timeout: must not be negative (got -5s)`},
		{"size unit", "server:\n  max_body_size: 32 megs\n", `config.yaml:2:18: server.max_body_size: invalid size "32 megs" (use e.g. 1024, 512KiB, 10MB, 32MiB)`},
		{"size fraction", "server:\n  max_body_size: 1.5MiB\n", `config.yaml:2:18: server.max_body_size: invalid size "1.5MiB" (use e.g. 1024, 512KiB, 10MB, 32MiB)`},
		{"size zero", "server:\n  max_body_size: 0\n", `config.yaml:2:18: server.max_body_size: must be positive (got 0)`},
		{"integer", "request:\n  max_retries: two\n", `config.yaml:2:16: request.max_retries: invalid integer "two"`},
		{"integer float", "request:\n  max_retries: 1.5\n", `config.yaml:2:16: request.max_retries: invalid integer "1.5"`},
		{"boolean", "metrics:\n  enabled: maybe\n", `config.yaml:2:12: metrics.enabled: invalid boolean "maybe" (use true or false)`},
		{"number", "retry:\n  budget_ratio: lots\n", `config.yaml:2:17: retry.budget_ratio: invalid number "lots"`},
		{"mapping for a value", "logging:\n  level: {a: b}\n", `config.yaml:2:10: logging.level: expected a single value, got a mapping`},
		{"list for a block", "logging: [a]\n", `config.yaml:1:10: logging: expected a mapping, got a list`},
		{"time", "api_keys:\n  - {key: k, expires_at: tomorrow}\n", `config.yaml:2:26: api_keys[0].expires_at: invalid time "tomorrow" (use RFC 3339, e.g. 2025-12-31T23:59:59Z)`},
		{"workers negative", "server:\n  workers: -2\n", `config.yaml:2:12: server.workers: must not be negative (got -2; 0 or 1: one process, auto: one worker per CPU)`},
		{"workers too many", "server:\n  workers: 1000\n", `config.yaml:2:12: server.workers: 1000 is more than 256 worker processes`},
		{"workers word", "server:\n  workers: many\n", `config.yaml:2:12: server.workers: invalid worker count "many" (use a whole number, or auto for one per CPU)`},
		{"socket mode decimal", "server:\n  socket_mode: 660\n", `config.yaml:2:16: server.socket_mode: 01224 is not a file mode (write modes in octal, e.g. 0o660)`},
		{"rate out of range", "circuit_breaker:\n  failure_rate_threshold: 1.5\n", `config.yaml:2:27: circuit_breaker.failure_rate_threshold: must be between 0 and 1 (got 1.5)`},
		{"max_timeout below timeout", "circuit_breaker:\n  timeout: 60s\n  max_timeout: 30s\n", `config.yaml:3:16: circuit_breaker.max_timeout: must be at least timeout (got 30s < 1m0s)`},
		{"max_delay below base_delay", "retry:\n  base_delay: 2s\n  max_delay: 1s\n", `config.yaml:3:14: retry.max_delay: must be at least base_delay (got 1s < 2s)`},
		{"max_attempts zero", "retry:\n  max_attempts: 0\n", `config.yaml:2:17: retry.max_attempts: must be at least 1 (got 0)`},
		{"negative count", "circuit_breaker:\n  minimum_requests: -1\n", `config.yaml:2:21: circuit_breaker.minimum_requests: must not be negative (got -1)`},
		{"health interval zero", "health_checks:\n  interval: 0\n", `config.yaml:2:13: health_checks.interval: must be positive when health checks are enabled`},
		{"health endpoint", "health_checks:\n  endpoint: health\n", `config.yaml:2:13: health_checks.endpoint: must start with "/" (got "health")`},
		{"strategy", "selection_strategy: RoundRobbin\n", `config.yaml:1:21: selection_strategy: unknown selection strategy "RoundRobbin"; did you mean "RoundRobin"?`},
		{"strategy snake", "selection_strategy: least_conections\n", `config.yaml:1:21: selection_strategy: unknown selection strategy "least_conections"; did you mean "least_connections"?`},
		{"log level", "logging:\n  level: verbose\n", `config.yaml:2:10: logging.level: unknown log level "verbose"; valid: debug, info, warn, error`},
		{"log format", "logging:\n  format: jsn\n", `config.yaml:2:11: logging.format: unknown log format "jsn"; did you mean "json"?`},
		{"api key mode", "api_keys:\n  mode: blockng\n", `config.yaml:2:9: api_keys.mode: unknown api key mode "blockng"; did you mean "blocking"?`},
		{"admin method", "admin:\n  auth:\n    method: bearer-token\n    token: t\n", `config.yaml:3:13: admin.auth.method: unknown admin auth method "bearer-token"; did you mean "bearer_token"?`},
		{"storage", "rate_limiting:\n  storage: redsi\n", `config.yaml:2:12: rate_limiting.storage: unknown rate limit storage "redsi"; did you mean "redis"?`},
		{"backoff", "circuit_breaker:\n  backoff: linear\n", `config.yaml:2:12: circuit_breaker.backoff: unknown backoff "linear"; valid: constant, exponential, equal_jitter, full_jitter`},
		{"bind address port", "server:\n  bind_address: \"0.0.0.0:99999\"\n", `config.yaml:2:17: server.bind_address[0]: invalid address "0.0.0.0:99999": port "99999" is not a number from 0 to 65535`},
		{"bind address no port", "server:\n  bind_address: [localhost]\n", `config.yaml:2:18: server.bind_address[0]: invalid address "localhost": missing port in address (use host:port or unix:/path)`},
		{"bind address unix", "server:\n  bind_address: \"unix:\"\n", `config.yaml:2:17: server.bind_address[0]: invalid address "unix:": the unix socket path is empty`},
		{"admin bind address", "admin:\n  bind_address: \"127.0.0.1:8080\"\n", `config.yaml:2:17: admin.bind_address: "127.0.0.1:8080" is also in server.bind_address; leave admin.bind_address empty to serve the admin API there`},
		{"admin method without token", "admin:\n  auth:\n    method: api_key\n", `config.yaml:3:5: admin.auth: method api_key needs a token`},
		{"admin basic half", "admin:\n  auth:\n    method: basic\n    username: root\n    password: \"\"\n", `config.yaml:3:5: admin.auth: method basic needs both a username and a password`},
		{"admin basic missing", "admin:\n  auth: {method: basic, username: u}\n", `config.yaml:2:9: admin.auth: method basic needs a username and a password`},
		{"metrics endpoint", "metrics:\n  endpoint: metrics\n", `config.yaml:2:13: metrics.endpoint: must start with "/" (got "metrics")`},
		{"metrics endpoint under admin", "metrics:\n  endpoint: /admin/metrics\n", `config.yaml:2:13: metrics.endpoint: "/admin/metrics" is under /admin, the admin API's paths; choose another path`},
		{"metrics listener", "metrics:\n  listener: public\n", `config.yaml:2:13: metrics.listener: unknown metrics listener "public"; valid: main, admin`},
		{"metrics listener admin without admin listener", "metrics:\n  listener: admin\n", `config.yaml:2:13: metrics.listener: admin needs admin.bind_address: metrics move to the admin API's own listener, and there is none`},
		{"whitelist", "rate_limiting:\n  whitelist: [10.0.0.0/33]\n", `config.yaml:2:15: rate_limiting.whitelist[0]: invalid IP address or CIDR "10.0.0.0/33"`},
		{"redis without url", "rate_limiting:\n  storage: redis\n", `config.yaml:2:3: rate_limiting.redis.url: url is required when storage is redis`},
		{"redis url", "rate_limiting:\n  redis_url: \"http://u:secret@h\"\n", `config.yaml:2:14: rate_limiting.redis_url: invalid Redis URL (use redis://[user:password@]host:port[/db], rediss://…, unix:///path, redis+sentinel://…?master_name=… or redis+cluster://…)`},
		{"redis url in the block", "rate_limiting:\n  redis: {url: \"redis+sentinel://s1:26379\"}\n", `config.yaml:2:16: rate_limiting.redis.url: a Sentinel URL needs master_name=NAME in its query`},
		{"redis url twice", "rate_limiting:\n  redis_url: redis://a\n  redis: {url: redis://b}\n", `config.yaml:3:16: rate_limiting.redis.url: "redis_url" and "redis.url" are the same setting; keep one`},
		{"redis timeout", "rate_limiting:\n  redis: {timeout: 0s}\n", `config.yaml:2:20: rate_limiting.redis.timeout: must be positive (got 0s): a slower check is decided by the failure policy`},
		{"failure policy", "rate_limiting:\n  failure_policy: lokal\n", `config.yaml:2:19: rate_limiting.failure_policy: unknown failure policy "lokal"; did you mean "local"?`},
		{"failure policy scope", "rate_limiting:\n  failure_policies: {api_keys: deny}\n", `config.yaml:2:32: rate_limiting.failure_policies.api_keys: unknown limit scope "api_keys"; did you mean "api_key"?`},
		{"failure policy value", "rate_limiting:\n  failure_policies: {model_tokens: block}\n", `config.yaml:2:36: rate_limiting.failure_policies.model_tokens: unknown failure policy "block"; valid: local, deny, allow`},
		{"per backend name", "rate_limiting:\n  limits:\n    per_backend: {b: {requests_per_second: 1}}\n", `config.yaml:3:22: rate_limiting.limits.per_backend.b: no backend is named "b"; did you mean "a"?`},
		{"per model tokens", "rate_limiting:\n  limits:\n    per_model: {\"*\": {tokens_per_minute: -1}}\n", `config.yaml:3:22: rate_limiting.limits.per_model["*"]: tokens_per_minute must not be negative (got -1)`},
		{"cors origin", "server:\n  cors: {allowed_origins: [\"example.com\"]}\n", `config.yaml:2:28: server.cors.allowed_origins[0]: invalid origin "example.com" (use "*" or scheme://host[:port] with scheme http, https, tauri or app)`},
		{"alias to itself", "model_aliases: {a: a}\n", `config.yaml:1:20: model_aliases.a: alias "a" refers to itself`},
		{"alias cycle", "model_aliases:\n  b: c\n  c: d\n  d: b\n", `config.yaml:2:6: model_aliases.b: aliases form a cycle: b -> c -> d -> b`},
		{"fallback to itself", "fallbacks:\n  m: [x, m]\n", `config.yaml:2:10: fallbacks.m[1]: the fallback chain of "m" refers to "m" itself`},
		{"fallback chain to itself", "fallback:\n  fallback_chains:\n    \"gpt-4.1\": [gpt-4.1]\n", `config.yaml:3:17: fallback.fallback_chains["gpt-4.1"][0]: the fallback chain of "gpt-4.1" refers to "gpt-4.1" itself`},
		{"yaml syntax", "server:\n  bind_address: [a\nlogging: {}\n", `config.yaml:2:17: invalid YAML: did not find expected ',' or ']'`},
		{"two documents", "logging: {}\n---\nlogging: {}\n", `config.yaml:2:1: the file holds more than one YAML document; only one is allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Every case but the YAML ones is placed after a valid backend.
			src := tt.src + oneBackend
			if strings.HasPrefix(tt.name, "yaml") || strings.HasPrefix(tt.name, "two") {
				src = tt.src
			}
			if got := parseErrors(t, src); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestBackendErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "duplicate name",
			src:  "backends:\n  - name: vllm-a\n    url: http://a\n  - name: vllm-a\n    url: http://b\n",
			want: []string{`config.yaml:4:11: backends[1].name: duplicate backend name "vllm-a" (first defined at line 2)`},
		},
		{
			name: "missing name and url",
			src:  "backends:\n  - weight: 2\n",
			want: []string{
				`config.yaml:2:5: backends[0].name: name is required`,
				`config.yaml:2:5: backends[0].url: url is required`,
			},
		},
		{
			name: "bad scheme",
			src:  "backends:\n  - {name: a, url: \"ftp://h\"}\n",
			want: []string{`config.yaml:2:20: backends[0].url: invalid URL "ftp://h": the scheme must be http or https`},
		},
		{
			name: "no scheme",
			src:  "backends:\n  - {name: a, url: \"localhost:8000\"}\n",
			want: []string{`config.yaml:2:20: backends[0].url: invalid URL "localhost:8000": the scheme must be http or https`},
		},
		{
			name: "no host",
			src:  "backends:\n  - {name: a, url: \"http://\"}\n",
			want: []string{`config.yaml:2:20: backends[0].url: invalid URL "http://": no host`},
		},
		{
			name: "unparsable",
			src:  "backends:\n  - {name: a, url: \"http://h:port\"}\n",
			want: []string{`config.yaml:2:20: backends[0].url: invalid URL "http://h:port": invalid port ":port" after host`},
		},
		{
			name: "unknown type",
			src:  "backends:\n  - {name: a, url: \"http://h\", type: olama}\n",
			want: []string{`config.yaml:2:38: backends[0].type: unknown backend type "olama"; did you mean "ollama"?`},
		},
		{
			name: "unknown gemini api",
			src:  "backends:\n  - {name: a, url: \"http://h\", type: gemini, gemini_api: rest}\n",
			want: []string{`config.yaml:2:58: backends[0].gemini_api: must be native or openai (got "rest")`},
		},
		{
			name: "weight zero",
			src:  "backends:\n  - {name: a, url: \"http://h\", weight: 0}\n",
			want: []string{`config.yaml:2:40: backends[0].weight: must be at least 1 (got 0)`},
		},
		{
			name: "weight negative",
			src:  "backends:\n  - {name: a, url: \"http://h\", weight: -2}\n",
			want: []string{`config.yaml:2:40: backends[0].weight: must be at least 1 (got -2)`},
		},
		{
			name: "models",
			src:  "backends:\n  - {name: a, url: \"http://h\", models: [m, \"\", m]}\n",
			want: []string{
				`config.yaml:2:44: backends[0].models[1]: model name must not be empty`,
				`config.yaml:2:48: backends[0].models[2]: model "m" is listed twice`,
			},
		},
		{
			name: "override error reported at the backend",
			src:  "backends:\n  - name: a\n    url: http://h\n    retry_override: {max_attempts: 0}\n",
			want: []string{`config.yaml:4:36: backends[0].retry_override.max_attempts: must be at least 1 (got 0)`},
		},
		{
			name: "inherited error reported once",
			src:  "retry: {max_attempts: 0}\nbackends:\n  - {name: a, url: http://h}\n  - {name: b, url: http://i}\n",
			want: []string{`config.yaml:1:23: retry.max_attempts: must be at least 1 (got 0)`},
		},
		{
			name: "decode error not repeated by validation",
			src:  "backends:\n  - {name: a, url: [x]}\n",
			want: []string{`config.yaml:2:20: backends[0].url: expected a single value, got a list`},
		},
		{
			name: "model_configs alias conflict",
			src: "model_aliases: {fast: m1}\nbackends:\n  - name: a\n    url: http://h\n" +
				"    model_configs:\n      - id: m2\n        aliases: [fast]\n",
			want: []string{`config.yaml:7:19: backends[0].model_configs[0].aliases[0]: alias "fast" already refers to model "m1", not "m2"`},
		},
		{
			name: "model_configs without id",
			src:  "backends:\n  - name: a\n    url: http://h\n    model_configs:\n      - aliases: [x]\n",
			want: []string{`config.yaml:5:9: backends[0].model_configs[0].id: id is required`},
		},
		{
			name: "all errors, sorted by line",
			src:  "backends:\n  - {name: a, url: http://h, weight: 0}\nrequest: {timeout: soon}\nselection_strategy: fastest\n",
			want: []string{
				`config.yaml:2:38: backends[0].weight: must be at least 1 (got 0)`,
				`config.yaml:3:20: request.timeout: invalid duration "soon" (use e.g. 500ms, 30s, 5m)`,
				`config.yaml:4:21: selection_strategy: unknown selection strategy "fastest"; valid: round_robin, weighted_round_robin, least_connections, least_latency, random, power_of_two, consistent_hash`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErrors(t, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestNormalisation(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		field func(*Config) string
		want  string
	}{
		{"strategy snake_case", "selection_strategy: weighted_round_robin\n", func(c *Config) string { return c.SelectionStrategy }, "WeightedRoundRobin"},
		{"strategy PascalCase", "selection_strategy: PowerOfTwo\n", func(c *Config) string { return c.SelectionStrategy }, "PowerOfTwo"},
		{"strategy lower", "selection_strategy: leastlatency\n", func(c *Config) string { return c.SelectionStrategy }, "LeastLatency"},
		{"strategy consistent_hash", "selection_strategy: consistent_hash\n", func(c *Config) string { return c.SelectionStrategy }, "ConsistentHash"},
		{"type generic", "backends:\n  - {name: b, url: http://h, type: generic}\n", func(c *Config) string { return c.Backends[1].Type }, "openai"},
		{"type openai_compatible", "backends:\n  - {name: b, url: http://h, type: openai_compatible}\n", func(c *Config) string { return c.Backends[1].Type }, "openai"},
		{"type llama.cpp", "backends:\n  - {name: b, url: http://h, type: LlamaCpp}\n", func(c *Config) string { return c.Backends[1].Type }, "llamacpp"},
		{"level warning", "logging: {level: warning}\n", func(c *Config) string { return c.Logging.Level }, "warn"},
		{"level trace", "logging: {level: TRACE}\n", func(c *Config) string { return c.Logging.Level }, "debug"},
		{"format pretty", "logging: {format: pretty}\n", func(c *Config) string { return c.Logging.Format }, "text"},
		{"mode upper", "api_keys: {mode: BLOCKING}\n", func(c *Config) string { return c.APIKeys.Mode }, "blocking"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The valid backend comes first so that backends[1] is the one written here.
			src := oneBackend + tt.src
			if strings.HasPrefix(tt.src, "backends:") {
				src = oneBackend + strings.TrimPrefix(tt.src, "backends:\n")
			}
			c, _ := parseOK(t, src)
			if got := tt.field(c); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScalarForms(t *testing.T) {
	src := oneBackend + `server:
  bind_address: ["127.0.0.1:8080", "unix:/run/continuum.sock", ":9090"]
  socket_mode: 0o660
  max_body_size: 10MB
  shutdown_timeout: 45
  idle_timeout: 1h30m
request:
  max_retries: 0x3
metrics:
  enabled: off
`
	c, _ := parseOK(t, src)
	tests := []struct {
		name      string
		got, want any
	}{
		{"bind list", c.Server.BindAddress, []string{"127.0.0.1:8080", "unix:/run/continuum.sock", ":9090"}},
		{"octal mode", c.Server.SocketMode, uint32(0o660)},
		{"decimal size", c.Server.MaxBodySize, int64(10_000_000)},
		{"bare seconds", c.Server.ShutdownTimeout, 45 * time.Second},
		{"compound duration", c.Server.IdleTimeout, 90 * time.Minute},
		{"hex integer", c.Request.MaxRetries, 3},
		{"off", c.Metrics.Enabled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	t.Run("workers", func(t *testing.T) {
		for _, tt := range []struct {
			src         string
			want, count int
		}{
			{"server: {workers: 4}\n", 4, 4},
			{"server: {workers: 0}\n", 0, 1},
			{"server: {workers: auto}\n", runtime.NumCPU(), runtime.NumCPU()},
			{"server: {workers: AUTO}\n", runtime.NumCPU(), runtime.NumCPU()},
			{"server: {workers: \"2\"}\n", 2, 2},
		} {
			c, _ := parseOK(t, oneBackend+tt.src)
			if got := c.Server.Workers; got != tt.want {
				t.Errorf("%q: Workers = %d, want %d", tt.src, got, tt.want)
			}
			if got := c.Server.WorkerCount(); got != tt.count {
				t.Errorf("%q: WorkerCount() = %d, want %d", tt.src, got, tt.count)
			}
		}
	})
	t.Run("leading-zero octal", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+"server: {socket_mode: 0660}\n")
		if got := c.Server.SocketMode; got != 0o660 {
			t.Errorf("got %#o, want 0660", got)
		}
	})
	t.Run("null and empty keep defaults", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+"server:\n  max_body_size:\n  idle_timeout: \"\"\ncache:\nretry: ~\n")
		d := Default()
		if c.Server.MaxBodySize != d.Server.MaxBodySize || c.Server.IdleTimeout != d.Server.IdleTimeout || c.Retry != d.Retry {
			t.Errorf("got %d %s %+v, want the defaults", c.Server.MaxBodySize, c.Server.IdleTimeout, c.Retry)
		}
	})
}

func TestParseSizeAndDuration(t *testing.T) {
	sizes := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{"512KiB", 512 << 10, true},
		{"32MiB", 32 << 20, true},
		{"1GiB", 1 << 30, true},
		{"10MB", 10_000_000, true},
		{"2kb", 2000, true},
		{"5 mib", 5 << 20, true},
		{"7B", 7, true},
		{"3TB", 3e12, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"12 parsecs", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, tt := range sizes {
		t.Run("size "+tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("got %d, %v; want %d, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
	durations := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"500ms", 500 * time.Millisecond, true},
		{"30s", 30 * time.Second, true},
		{"5m", 5 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"60", time.Minute, true},
		{"0", 0, true},
		{"-5s", -5 * time.Second, true},
		{"30 seconds", 0, false},
		{"1.5", 0, false},
		{"99999999999999", 0, false},
	}
	for _, tt := range durations {
		t.Run("duration "+tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("got %s, %v; want %s, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestOverrideMerge(t *testing.T) {
	// The global blocks come after the backends, as they may in a real file.
	src := `backends:
  - name: a
    url: http://a
    request: {timeout: 20s}
    circuit_breaker: {enabled: false}
    health_checks: {endpoint: /health}
  - name: b
    url: http://b
request:
  timeout: 60s
  max_retries: 4
circuit_breaker:
  failure_threshold: 9
health_checks:
  interval: 5s
`
	c, _ := parseOK(t, src)
	a, b := c.Backends[0], c.Backends[1]
	wantReq := c.Request
	wantReq.Timeout = 20 * time.Second
	wantCB := c.CircuitBreaker
	wantCB.Enabled = false
	wantHC := c.HealthChecks
	wantHC.Endpoint = "/health"
	tests := []struct {
		name      string
		got, want any
	}{
		{"global request", c.Request.MaxRetries, 4},
		{"a request: only timeout changes", a.Request, wantReq},
		{"a breaker: only enabled changes", a.CircuitBreaker, wantCB},
		{"a breaker keeps global threshold", a.CircuitBreaker.FailureThreshold, 9},
		{"a health: only endpoint changes", a.HealthChecks, wantHC},
		{"a health keeps global interval", a.HealthChecks.Interval, 5 * time.Second},
		{"b request is the global one", b.Request, c.Request},
		{"b breaker is the global one", b.CircuitBreaker, c.CircuitBreaker},
		{"b health is the global one", b.HealthChecks, c.HealthChecks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

func TestFallbackForms(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		want      map[string][]string
		wantWarns []string
	}{
		{
			name: "fallbacks",
			src:  "fallbacks: {big: [small, tiny]}\n",
			want: map[string][]string{"big": {"small", "tiny"}},
		},
		{
			name: "fallback_chains",
			src:  "fallback:\n  fallback_chains:\n    gpt-4o: [gpt-4o-mini]\n",
			want: map[string][]string{"gpt-4o": {"gpt-4o-mini"}},
		},
		{
			name: "both, merged",
			src:  "fallbacks: {a: [b]}\nfallback: {fallback_chains: {c: [d]}}\n",
			want: map[string][]string{"a": {"b"}, "c": {"d"}},
		},
		{
			name: "conflict: fallbacks wins",
			src:  "fallbacks: {a: [b]}\nfallback:\n  fallback_chains:\n    a: [c]\n",
			want: map[string][]string{"a": {"b"}},
			wantWarns: []string{
				`config.yaml:4:8: fallback.fallback_chains.a: conflicts with fallbacks.a, which wins; this chain is ignored`,
			},
		},
		{
			name: "same chain twice is no conflict",
			src:  "fallbacks: {a: [b]}\nfallback: {fallback_chains: {a: [b]}}\n",
			want: map[string][]string{"a": {"b"}},
		},
		{
			name: "disabled",
			src:  "fallback:\n  enabled: false\n  fallback_chains: {a: [b]}\n",
			want: nil,
		},
		{
			name:      "router-only keys",
			src:       "fallback:\n  fallback_policy: {max_fallback_attempts: 3}\n  fallback_chains: {a: [b]}\n",
			want:      map[string][]string{"a": {"b"}},
			wantWarns: []string{`config.yaml:2:3: key "fallback.fallback_policy" is a continuum-router setting that Continuum does not support yet; ignored`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns := parseOK(t, tt.src+oneBackend)
			if !reflect.DeepEqual(c.Fallbacks, tt.want) {
				t.Errorf("fallbacks: got %v, want %v", c.Fallbacks, tt.want)
			}
			if got := diagStrings(warns); !slices.Equal(got, tt.wantWarns) {
				t.Errorf("warnings:\ngot  %q\nwant %q", got, tt.wantWarns)
			}
		})
	}
}

func TestAPIKeysForms(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		wantMode string
		want     []APIKey
	}{
		{
			name:     "mapping",
			src:      "api_keys:\n  mode: blocking\n  api_keys:\n    - {key: k1, id: prod, scopes: [read], models: [m]}\n    - key: k2\n",
			wantMode: "blocking",
			want: []APIKey{
				{Key: "k1", ID: "prod", Scopes: []string{"read"}, Models: []string{"m"}, Enabled: true},
				{Key: "k2", ID: "key-1", Enabled: true},
			},
		},
		{
			name:     "list",
			src:      "api_keys:\n  - key: k1\n    enabled: false\n    expires_at: 2025-12-31T23:59:59Z\n",
			wantMode: "permissive",
			want: []APIKey{
				{Key: "k1", ID: "key-0", Enabled: false, ExpiresAt: time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)},
			},
		},
		{
			name:     "rate_limit per minute",
			src:      "api_keys:\n  - {key: k1, rate_limit: 120}\n",
			wantMode: "permissive",
			want:     []APIKey{{Key: "k1", ID: "key-0", Enabled: true, RateLimit: RateSpec{RequestsPerSecond: 2, BurstCapacity: 120}}},
		},
		{
			name:     "rate_limit mapping",
			src:      "api_keys:\n  - key: k1\n    rate_limit: {requests_per_second: 10, burst_capacity: 20}\n",
			wantMode: "permissive",
			want:     []APIKey{{Key: "k1", ID: "key-0", Enabled: true, RateLimit: RateSpec{RequestsPerSecond: 10, BurstCapacity: 20}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := parseOK(t, tt.src+oneBackend)
			if c.APIKeys.Mode != tt.wantMode {
				t.Errorf("mode: got %q, want %q", c.APIKeys.Mode, tt.wantMode)
			}
			if !reflect.DeepEqual(c.APIKeys.Keys, tt.want) {
				t.Errorf("keys:\ngot  %+v\nwant %+v", c.APIKeys.Keys, tt.want)
			}
		})
	}

	errTests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "errors in list form are located",
			src:  "api_keys:\n  - {key: a, id: x}\n  - {key: a, id: x, scopes: [reed]}\n  - {id: y}\n",
			want: []string{
				`config.yaml:3:11: api_keys[1].key: the same key is listed twice (first defined at line 2)`,
				`config.yaml:3:18: api_keys[1].id: duplicate key id "x" (first defined at line 2)`,
				`config.yaml:3:30: api_keys[1].scopes[0]: unknown scope "reed"; did you mean "read"?`,
				`config.yaml:4:5: api_keys[2].key: key is required (or set enabled: false)`,
			},
		},
		{
			name: "negative rate",
			src:  "api_keys:\n  api_keys:\n    - {key: a, rate_limit: -60}\n",
			want: []string{`config.yaml:3:28: api_keys.api_keys[0].rate_limit: requests_per_second must not be negative (got -1)`},
		},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErrors(t, tt.src+oneBackend); !slices.Equal(got, tt.want) {
				t.Errorf("\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// writeFile writes content to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadAPIKeysFile(t *testing.T) {
	tests := []struct {
		name     string
		keysFile string
		wantIDs  []string
	}{
		{"list", "- {key: f1, id: file-1}\n- key: f2\n", []string{"inline", "file-1", "key-2"}},
		{"mapping", "api_keys:\n  - {key: f1, id: file-1}\n", []string{"inline", "file-1"}},
		{"empty", "", []string{"inline"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			keys := writeFile(t, dir, "secrets/keys.yaml", tt.keysFile)
			cfg := writeFile(t, dir, "config.yaml", oneBackend+"api_keys:\n  api_keys: [{key: k0, id: inline}]\n  api_keys_file: secrets/keys.yaml\n")
			c, _, err := Load(cfg)
			if err != nil {
				t.Fatalf("Load: got error %v, want none", err)
			}
			var ids []string
			for _, k := range c.APIKeys.Keys {
				ids = append(ids, k.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("ids: got %q, want %q", ids, tt.wantIDs)
			}
			if c.APIKeys.File != keys {
				t.Errorf("File: got %q, want the resolved %q", c.APIKeys.File, keys)
			}
			if c.File != cfg {
				t.Errorf("Config.File: got %q, want %q", c.File, cfg)
			}
		})
	}

	t.Run("errors refer to the keys file", func(t *testing.T) {
		dir := t.TempDir()
		keys := writeFile(t, dir, "keys.yaml", "- {key: k0, id: dup}\n- {key: k2, id: dup, scope: [read]}\n")
		cfg := writeFile(t, dir, "config.yaml", oneBackend+"api_keys:\n  api_keys: [{key: k0, id: inline}]\n  api_keys_file: keys.yaml\n")
		_, _, err := Load(cfg)
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("Load: got %v, want an ErrorList", err)
		}
		want := []string{
			keys + `:1:9: api_keys.api_keys[1].key: the same key is listed twice (first defined at ` + cfg + `:4)`,
			keys + `:2:22: unknown key "api_keys.api_keys[2].scope"; did you mean "scopes"?`,
			keys + `:2:17: api_keys.api_keys[2].id: duplicate key id "dup" (first defined at line 1)`,
		}
		slices.Sort(want)
		got := diagStrings(list)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("\ngot  %q\nwant %q", got, want)
		}
	})

	t.Run("missing keys file", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeFile(t, dir, "config.yaml", oneBackend+"api_keys:\n  api_keys_file: nope.yaml\n")
		_, _, err := Load(cfg)
		want := cfg + ":4:18: api_keys.api_keys_file: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"
		if err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	})

	t.Run("missing config file", func(t *testing.T) {
		_, _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
		}
	})
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	src := `backends:
  - &first
    name: a
    url: http://a
    type: vllm
    weight: 2
  - <<: *first
    name: b
    weight: 5
`
	c, _ := parseOK(t, src)
	b := c.Backends[1]
	if b.Name != "b" || b.URL != "http://a" || b.Type != "vllm" || b.Weight != 5 {
		t.Errorf("merged backend: got %+v, want name b, url http://a, type vllm, weight 5", b)
	}

	t.Run("list of merges, earlier wins", func(t *testing.T) {
		src := "backends:\n  - &x {name: x, url: \"http://x\", weight: 2}\n  - &y {name: y, url: \"http://y\", type: vllm, weight: 3}\n" +
			"  - <<: [*x, *y]\n    name: z\n"
		c, _ := parseOK(t, src)
		z := c.Backends[2]
		if z.URL != "http://x" || z.Weight != 2 || z.Type != "vllm" {
			t.Errorf("got %+v, want url http://x, weight 2 (from x), type vllm (from y)", z)
		}
	})

	t.Run("merge of a scalar", func(t *testing.T) {
		got := parseErrors(t, "backends:\n  - <<: 3\n    name: a\n    url: http://a\n")
		want := []string{"config.yaml:2:9: backends[0]: a merge key (<<) takes a mapping or a list of mappings, got a single value"}
		if !slices.Equal(got, want) {
			t.Errorf("\ngot  %q\nwant %q", got, want)
		}
	})
}

func TestValidateWithoutPositions(t *testing.T) {
	c := Default()
	c.File = "built-in"
	c.Backends = []Backend{c.NewBackend("a", "http://a")}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: got %v, want nil", err)
	}
	c.Backends = append(c.Backends, c.Backends[0])
	c.SelectionStrategy = "round_robin" // accepted in either spelling
	c.Backends[1].Retry.MaxAttempts = 0
	err := c.Validate()
	want := "built-in: backends[1].name: duplicate backend name \"a\" (same as backends[0].name)\n" +
		"built-in: backends[1].retry.max_attempts: must be at least 1 (got 0)"
	if err == nil || err.Error() != want {
		t.Errorf("Validate:\ngot  %v\nwant %s", err, want)
	}
}

func TestExample(t *testing.T) {
	c, warns, err := Parse([]byte(Example()), "example.yaml", noEnv)
	if err != nil {
		t.Fatalf("Parse(Example()): got error\n%v\nwant none", err)
	}
	if len(warns) > 0 {
		t.Fatalf("Parse(Example()): got warnings %q, want none", diagStrings(warns))
	}

	t.Run("every key is shown", func(t *testing.T) {
		for _, p := range yamlPaths(reflect.TypeFor[Config](), "") {
			if _, ok := c.src.pos[p]; !ok {
				t.Errorf("Example() does not show %s", p)
			}
		}
	})

	t.Run("every continuum-router key is listed", func(t *testing.T) {
		for block, keys := range routerOnly {
			for _, k := range keys {
				name := pathKey(block, k)
				if !strings.Contains(Example(), name) {
					t.Errorf("Example() does not list the ignored key %s", name)
				}
			}
		}
	})

	t.Run("defaults are shown", func(t *testing.T) {
		d := Default()
		c.Backends, c.ModelAliases, c.APIKeys.Keys = nil, nil, nil
		c.File, c.src = "", nil
		c.Fallbacks, c.Fallback.Chains = nil, nil
		c.GlobalPrompts.Backends, c.GlobalPrompts.Models = nil, nil
		c.ModelMetadataFile, c.ModelMetadata = "", nil
		c.RateLimiting.FailurePolicies, c.RateLimiting.Limits.PerModel, c.RateLimiting.Limits.PerBackend = nil, nil, nil
		if !reflect.DeepEqual(c, d) {
			t.Errorf("Example() values differ from Default():\ngot  %+v\nwant %+v", c, d)
		}
	})
}

// yamlPaths lists the path of every YAML key of type t. Lists of structs
// contribute their first item. Backend override blocks and map-valued or
// dual-form settings contribute only their own key.
func yamlPaths(t reflect.Type, base string) []string {
	var out []string
	for f := range t.Fields() {
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		p := pathKey(base, tag)
		out = append(out, p)
		leaf := t == reflect.TypeFor[Backend]() && f.Type.Kind() == reflect.Struct ||
			f.Type == reflect.TypeFor[RateSpec]() && t == reflect.TypeFor[APIKey]() ||
			f.Type == reflect.TypeFor[time.Time]()
		switch {
		case leaf:
		case f.Type.Kind() == reflect.Struct:
			out = append(out, yamlPaths(f.Type, p)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			out = append(out, yamlPaths(f.Type.Elem(), pathIndex(p, 0))...)
		}
	}
	return out
}

func TestRedacted(t *testing.T) {
	src := `backends:
  - {name: a, url: http://a, api_key: sk-secret}
  - name: b
    url: http://user:hunter2@b:8000/v1
    model_configs: [{id: m, aliases: [n], metadata: {limits: {context: 8}, tags: [x]}}]
fallbacks: {m: [n2]}
api_keys:
  - {key: client-secret, id: c1}
admin:
  auth: {method: basic, username: root, password: hunter2, token: tok}
rate_limiting:
  redis: {url: "redis://user:pw@redis:6379/0"}
  bypass_keys: [bypass-secret]
`
	c, _ := parseOK(t, src)
	before := c.clone()
	r := c.Redacted()
	tests := []struct {
		name      string
		got, want string
	}{
		{"backend api_key", r.Backends[0].APIKey, "****"},
		{"empty backend api_key stays empty", r.Backends[1].APIKey, ""},
		{"backend url user information", r.Backends[1].URL, "http://****@b:8000/v1"},
		{"backend url without user information kept", r.Backends[0].URL, "http://a"},
		{"client key", r.APIKeys.Keys[0].Key, "****"},
		{"client key id kept", r.APIKeys.Keys[0].ID, "c1"},
		{"admin token", r.Admin.Auth.Token, "****"},
		{"admin password", r.Admin.Auth.Password, "****"},
		{"admin username kept", r.Admin.Auth.Username, "root"},
		{"redis user information", r.RateLimiting.Redis.URL, "redis://****@redis:6379/0"},
		{"bypass key", r.RateLimiting.BypassKeys[0], "****"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	t.Run("redis credentials in the query", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+`rate_limiting:
  redis: {url: "redis+sentinel://127.0.0.1:26379?master_name=mymaster&password=SENTQ-SECRET-4444&sentinel_password=S2&username=u"}
`)
		want := "redis+sentinel://127.0.0.1:26379?master_name=mymaster&password=****&sentinel_password=****&username=u"
		if got := c.Redacted().RateLimiting.Redis.URL; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("original unchanged", func(t *testing.T) {
		if !reflect.DeepEqual(c, before) {
			t.Errorf("Redacted modified the original:\ngot  %+v\nwant %+v", c, before)
		}
		r.Backends[0].Models = append(r.Backends[0].Models, "x")
		r.Server.BindAddress[0] = "changed"
		r.Backends[1].ModelConfigs[0].Metadata["limits"].(map[string]any)["context"] = 9
		r.Backends[1].ModelConfigs[0].Metadata["tags"].([]any)[0] = "y"
		r.Fallbacks["m"][0] = "changed"
		if !reflect.DeepEqual(c, before) {
			t.Errorf("the copy shares memory with the original:\ngot  %+v\nwant %+v", c, before)
		}
	})
}

func TestFind(t *testing.T) {
	const xdgFile = "/xdg/continuum/config.yaml"
	const homeFile = "/home/u/.config/continuum/config.yaml"
	const etcFile = "/etc/continuum/config.yaml"
	env := map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"}
	tests := []struct {
		name     string
		explicit string
		env      map[string]string
		existing []string
		want     string
	}{
		{"explicit wins", "my.yaml", map[string]string{"CONTINUUM_CONFIG": "env.yaml"}, []string{"./config.yaml"}, "my.yaml"},
		{"env next", "", map[string]string{"CONTINUUM_CONFIG": "env.yaml"}, []string{"./config.yaml"}, "env.yaml"},
		{"config.yaml", "", env, []string{"./config.yaml", "./config.yml", xdgFile, etcFile}, "./config.yaml"},
		{"config.yml", "", env, []string{"./config.yml", xdgFile, etcFile}, "./config.yml"},
		{"xdg", "", env, []string{xdgFile, etcFile}, xdgFile},
		{"xdg defaults to ~/.config", "", map[string]string{"HOME": "/home/u"}, []string{homeFile, etcFile}, homeFile},
		{"etc", "", env, []string{etcFile}, etcFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := find(tt.explicit, envOf(tt.env), func(p string) bool { return slices.Contains(tt.existing, p) })
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		_, err := find("", envOf(env), func(string) bool { return false })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("real file system", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		writeFile(t, dir, "config.yml", oneBackend)
		got, err := Find("", envOf(map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "nowhere")}))
		if err != nil || got != "./config.yml" {
			t.Errorf("got %q, %v; want ./config.yml", got, err)
		}
	})
}

func TestDiagnosticString(t *testing.T) {
	tests := []struct {
		d    Diagnostic
		want string
	}{
		{Diagnostic{File: "c.yaml", Line: 3, Col: 5, Msg: "m"}, "c.yaml:3:5: m"},
		{Diagnostic{File: "c.yaml", Line: 3, Msg: "m"}, "c.yaml:3: m"},
		{Diagnostic{File: "c.yaml", Msg: "m"}, "c.yaml: m"},
		{Diagnostic{Line: 3, Col: 5, Msg: "m"}, "3:5: m"},
		{Diagnostic{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.d.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	list := ErrorList{{File: "b", Line: 1, Msg: "x"}, {File: "a", Line: 9, Msg: "y"}, {File: "a", Line: 2, Msg: "z"}, {File: "b", Line: 0, Msg: "w"}}
	sortDiagnostics(list)
	if got, want := list.Error(), "b: w\nb:1: x\na:2: z\na:9: y"; got != want {
		t.Errorf("sorted ErrorList:\ngot  %q\nwant %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"bind_address", "max_body_size", "socket_mode", "idle_timeout"}
	tests := []struct{ word, want string }{
		{"bind_adress", "bind_address"},
		{"BIND_ADDRESS", "bind_address"},
		{"max_bdoy_size", "max_body_size"},
		{"idle", "idle_timeout"},
		{"max", "max_body_size"},
		{"zzz", ""},
		{"workers", ""},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			if got := suggest(tt.word, keys); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "abc", 3}, {"abc", "abc", 0}, {"ab", "ba", 1}, {"kitten", "sitting", 3}, {"ca", "abc", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRateLimitingBlocks(t *testing.T) {
	t.Run("per_model and per_backend by name", func(t *testing.T) {
		c, warns := parseOK(t, oneBackend+`rate_limiting:
  limits:
    per_model:
      "*": {requests_per_second: 2}
      llama: {tokens_per_minute: 6000, token_burst: 1000}
    per_backend:
      a: {requests_per_second: 5, burst_capacity: 1}
`)
		if len(warns) > 0 {
			t.Errorf("warnings: %q", diagStrings(warns))
		}
		want := map[string]RateSpec{"*": {RequestsPerSecond: 2}, "llama": {TokensPerMinute: 6000, TokenBurst: 1000}}
		if got := c.RateLimiting.Limits.PerModel; !reflect.DeepEqual(got, want) {
			t.Errorf("per_model: got %v, want %v", got, want)
		}
		if got := c.RateLimiting.Limits.PerBackend["a"]; got != (RateSpec{RequestsPerSecond: 5, BurstCapacity: 1}) {
			t.Errorf("per_backend.a: got %v", got)
		}
	})
	t.Run("a single spec means every one", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+"rate_limiting:\n  limits:\n    per_backend: {requests_per_second: 1}\n")
		if got := c.RateLimiting.Limits.PerBackend; !reflect.DeepEqual(got, map[string]RateSpec{"*": {RequestsPerSecond: 1}}) {
			t.Errorf("per_backend: got %v, want every backend at 1/s", got)
		}
	})
	t.Run("redis_url is redis.url", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+"rate_limiting:\n  storage: redis\n  redis_url: redis://r:6379/1\n")
		if got := c.RateLimiting.Redis.URL; got != "redis://r:6379/1" {
			t.Errorf("redis.url: got %q", got)
		}
	})
	t.Run("the redis block", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+`rate_limiting:
  storage: redis
  redis: {url: "redis+cluster://n1:6379?addr=n2:6379", key_prefix: "x:", timeout: 20ms, pool_size: 7, heartbeat_ttl: 3s}
  failure_policy: deny
  failure_policies: {api_key_tokens: allow}
  replica_id: pod-1
`)
		r := c.RateLimiting
		if r.Redis != (RedisConfig{URL: "redis+cluster://n1:6379?addr=n2:6379", KeyPrefix: "x:", Timeout: 20 * time.Millisecond, PoolSize: 7, HeartbeatTTL: 3 * time.Second}) {
			t.Errorf("redis: got %+v", r.Redis)
		}
		if r.FailurePolicy != "deny" || r.FailurePolicies["api_key_tokens"] != "allow" || r.ReplicaID != "pod-1" {
			t.Errorf("policies: got %q %v %q", r.FailurePolicy, r.FailurePolicies, r.ReplicaID)
		}
	})
}

// TestYAMLSyntaxPositions checks that a YAML syntax error is reported at
// file:line:col of the problem: the YAML library gives no column, and a
// line that is off by one for its parser's errors and is the enclosing
// construct's for some scanner errors; the column is found where it is
// certain, else it is 1.
func TestYAMLSyntaxPositions(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"tab in indentation", "a: 1\nb: 2\nc:\n  d: 1\n\te: 2\n", "syn.yaml:5:1: invalid YAML: found a tab character that violates indentation"},
		{"tab after spaces", "a: 1\nb:\n  c: 1\n  \td: 2\n", "syn.yaml:4:3: invalid YAML: found a tab character that violates indentation"},
		{"tab on the first line", "\ta: 1\n", "syn.yaml:1:1: invalid YAML: found character that cannot start any token"},
		{"unclosed bracket", "a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: [a, b\ng: 1\n", "syn.yaml:6:4: invalid YAML: did not find expected ',' or ']'"},
		{"unclosed brace", "a: 1\nb: {x: 1\nc: 2\n", "syn.yaml:2:4: invalid YAML: did not find expected ',' or '}'"},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", "syn.yaml:3:1: invalid YAML: did not find expected key"},
		{"sequence after a mapping", "a: 1\n- b\n", "syn.yaml:2:1: invalid YAML: did not find expected key"},
		{"mapping in a value", "a: b: c\n", "syn.yaml:1:1: invalid YAML: mapping values are not allowed in this context"},
		{"key without colon", "key: value\nother\nthird: 3\n", "syn.yaml:2:1: invalid YAML: could not find expected ':'"},
		{"character that starts no token", "a: 1\nb: @x\n", "syn.yaml:2:1: invalid YAML: found character that cannot start any token"},
		{"unterminated quote", "a: 'unterminated\nb: 2\n", "syn.yaml:3:1: invalid YAML: found unexpected end of stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tt.src), "syn.yaml", noEnv)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Parse: got %v, want an ErrorList", err)
			}
			if got := diagStrings(list); !slices.Equal(got, []string{tt.want}) {
				t.Errorf("\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}
