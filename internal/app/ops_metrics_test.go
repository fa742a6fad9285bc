package app_test

// Operations suite (issue 4), metrics: after a mix of traffic that drives
// every event the router counts, the Prometheus endpoint exposes every
// metric the metrics package defines, with the expected label values.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// opsSample is one sample of a scraped metric.
type opsSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// opsMetrics is a scraped Prometheus text exposition.
type opsMetrics []opsSample

// opsScrape fetches and parses a metrics endpoint.
func opsScrape(t *testing.T, url string) opsMetrics {
	t.Helper()
	resp, body := send(t, http.MethodGet, url, "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: got %d %s, want 200", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET %s: Content-Type %q, want the text exposition format", url, ct)
	}
	m, err := opsParseMetrics(body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return m
}

// opsParseMetrics parses the samples of a text exposition; comments and
// timestamps are skipped.
func opsParseMetrics(text string) (opsMetrics, error) {
	var out opsMetrics
	for n, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s := opsSample{Labels: map[string]string{}}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			return nil, fmt.Errorf("line %d: no value: %q", n+1, line)
		}
		s.Name, line = line[:i], line[i:]
		if line[0] == '{' {
			rest, err := opsParseLabels(line[1:], s.Labels)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			line = rest
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			return nil, fmt.Errorf("line %d: no value", n+1)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: value: %w", n+1, err)
		}
		s.Value = v
		out = append(out, s)
	}
	return out, nil
}

// opsParseLabels reads `name="value",…}` into labels and returns what
// follows the closing brace.
func opsParseLabels(s string, labels map[string]string) (string, error) {
	for {
		s = strings.TrimLeft(s, ", ")
		if strings.HasPrefix(s, "}") {
			return s[1:], nil
		}
		eq := strings.Index(s, `="`)
		if eq < 0 {
			return "", fmt.Errorf("malformed labels %q", s)
		}
		name := s[:eq]
		s = s[eq+2:]
		var v strings.Builder
		for {
			if s == "" {
				return "", fmt.Errorf("unterminated value of label %s", name)
			}
			c := s[0]
			s = s[1:]
			if c == '"' {
				break
			}
			if c == '\\' && s != "" {
				switch s[0] {
				case 'n':
					v.WriteByte('\n')
				default:
					v.WriteByte(s[0])
				}
				s = s[1:]
				continue
			}
			v.WriteByte(c)
		}
		labels[name] = v.String()
	}
}

// Find returns the samples of name whose labels include the given
// name/value pairs.
func (m opsMetrics) Find(name string, labels ...string) []opsSample {
	var out []opsSample
	for _, s := range m {
		if s.Name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				match = false
				break
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

// Sum adds up the samples Find returns (0 when there are none).
func (m opsMetrics) Sum(name string, labels ...string) float64 {
	var sum float64
	for _, s := range m.Find(name, labels...) {
		sum += s.Value
	}
	return sum
}

// Has reports whether the metric family name has a sample, counting the
// _bucket, _sum and _count series of a histogram.
func (m opsMetrics) Has(name string) bool {
	for _, s := range m {
		if s.Name == name || s.Name == name+"_bucket" || s.Name == name+"_count" || s.Name == name+"_sum" {
			return true
		}
	}
	return false
}

const (
	opsMetricsKey     = "sk-ops-metrics-main"
	opsMetricsLimited = "sk-ops-metrics-limited"
	opsMetricsOnlyM   = "sk-ops-metrics-only-m"
)

func opsMetricsYAML(a, bad, cut, slow string) string {
	return `selection_strategy: round_robin
cache: { model_cache_ttl: 1h }
health_checks: { enabled: true, interval: 1h }
request: { max_retries: 2 }
retry: { base_delay: 0s, jitter: false, budget_ratio: 1, budget_min_per_second: 1000 }
circuit_breaker: { failure_threshold: 2, failure_rate_threshold: 0 }
server: { max_concurrent_requests: 2 }
api_keys:
  mode: blocking
  api_keys:
    - { key: ` + opsMetricsKey + `, id: main }
    - { key: ` + opsMetricsLimited + `, id: limited, rate_limit: { requests_per_second: 0.001, burst_capacity: 1 } }
    - { key: ` + opsMetricsOnlyM + `, id: only-m, models: [m] }
admin:
  auth: { method: bearer_token, token: metrics-admin-token }
backends:
  - { name: a, url: "` + a + `", models: [m, r] }
  - { name: bad, url: "` + bad + `", models: [f, r] }
  - { name: cut, url: "` + cut + `", models: [c] }
  - { name: slow, url: "` + slow + `", models: [s] }
`
}

// TestOpsMetricsAfterTraffic drives success, failure, a stream with usage,
// a retry, an open breaker, an aborted stream, a rate limit, load shedding,
// failed authentication and reloads (good and bad), then checks every
// metric. It runs on the wall clock: durations measured on a fake clock
// would all be zero.
func TestOpsMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	hold := opsNewHold(t)
	a := opsMock(t, "a", mock.Options{Models: []string{"m", "r"}})
	bad := opsMock(t, "bad", mock.Options{Models: []string{"f", "r"}, ErrorStatus: 500})
	cut := opsMock(t, "cut", mock.Options{Models: []string{"c"}, CutAfter: 3})
	slow := opsMock(t, "slow", mock.Options{Models: []string{"s"}, Gate: hold.Gate})
	yaml := opsMetricsYAML(a.URL, bad.URL, cut.URL, slow.URL)
	e, path := opsStartFile(t, yaml, opsFileSetup{Backends: []*testBackend{a, bad, cut, slow}})
	for _, name := range []string{"a", "bad", "cut", "slow"} {
		e.Logs.WaitFor(t, "backend health changed", "backend="+name, "to=ready")
	}

	key := []string{"Authorization", "Bearer " + opsMetricsKey}
	expect := func(what string, want int, resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != want {
			t.Fatalf("%s: got %d %s, want %d", what, resp.StatusCode, body, want)
		}
	}
	post := func(what, path, body string, want int, header ...string) {
		t.Helper()
		resp, b := e.Post(path, body, header...)
		expect(what, want, resp, b)
	}
	// stream runs a streaming request to its end and waits until the
	// router has recorded it (a stream's concurrency slot is freed then).
	stream := func(what, id, model string, wantAbort bool) {
		t.Helper()
		s := opsOpenStream(t, context.Background(), e.URL, model, append([]string{"X-Request-Id", id}, key...)...)
		expect(what, 200, s.resp, "")
		if _, err := s.rest(); (err != io.EOF) != wantAbort {
			t.Fatalf("%s: stream ended with %v, want aborted %v", what, err, wantAbort)
		}
		e.Logs.WaitFor(t, "msg=request", "request_id="+id)
	}

	post("success", "/v1/chat/completions", chatBody("m", false), 200, key...)
	post("completion", "/v1/completions", `{"model":"m","prompt":"Hello"}`, 200, key...)
	post("embedding", "/v1/embeddings", `{"model":"m","input":"Hello"}`, 200, key...)
	resp, body := e.Post("/v1/chat/completions",
		`{"model":"m","messages":[{"role":"user","content":"Hello"}],"stream":true,"stream_options":{"include_usage":true}}`, key...)
	expect("stream with usage", 200, resp, body)
	if !strings.Contains(body, `"completion_tokens"`) {
		t.Fatalf("stream with usage: no usage chunk in %s", body)
	}
	post("failure", "/v1/chat/completions", chatBody("f", false), 500, key...)
	for i := 0; i < 4; i++ {
		post("retried request", "/v1/chat/completions", chatBody("r", false), 200, key...)
	}
	if got := e.Backend("bad").Breaker; got != "open" {
		t.Fatalf("bad backend breaker: got %s, want open after two failures", got)
	}
	post("breaker open", "/v1/chat/completions", chatBody("f", false), 503, key...)
	stream("aborted stream", "ops-metrics-abort", "c", true)
	post("within the key's rate", "/v1/chat/completions", chatBody("m", false), 200, "Authorization", "Bearer "+opsMetricsLimited)
	post("over the key's rate", "/v1/chat/completions", chatBody("m", false), 429, "Authorization", "Bearer "+opsMetricsLimited)
	post("wrong key", "/v1/chat/completions", chatBody("m", false), 401, "Authorization", "Bearer sk-ops-metrics-wrong")
	post("no key", "/v1/chat/completions", chatBody("m", false), 401)
	post("forbidden model", "/v1/chat/completions", chatBody("r", false), 403, "Authorization", "Bearer "+opsMetricsOnlyM)

	// Load shedding: two held streams fill server.max_concurrent_requests.
	held := []*opsStream{
		opsOpenStream(t, context.Background(), e.URL, "s", append([]string{"X-Request-Id", "ops-metrics-held-1"}, key...)...),
		opsOpenStream(t, context.Background(), e.URL, "s", append([]string{"X-Request-Id", "ops-metrics-held-2"}, key...)...),
	}
	post("load shed", "/v1/chat/completions", chatBody("m", false), 503, key...)
	hold.Release()
	for i, s := range held {
		if _, err := s.rest(); err != io.EOF {
			t.Fatalf("held stream %d ended with %v, want a clean end", i+1, err)
		}
		e.Logs.WaitFor(t, "msg=request", fmt.Sprintf("request_id=ops-metrics-held-%d", i+1))
	}

	admin := []string{"Authorization", "Bearer metrics-admin-token"}
	post("reload", "/admin/config/reload", "", 200, admin...)
	opsWriteConfig(t, path, yaml+"bogus_key: 1\n")
	post("invalid reload", "/admin/config/reload", "", 422, admin...)

	m := opsScrape(t, e.URL+"/metrics")
	for _, s := range m.Find("continuum_upstream_errors_total") {
		t.Logf("upstream error series: %v = %v", s.Labels, s.Value)
	}
	for _, s := range m.Find("continuum_retries_total") {
		t.Logf("retry series: %v = %v", s.Labels, s.Value)
	}

	// Every metric the metrics package defines is exposed.
	for _, name := range []string{
		"continuum_requests_total", "continuum_request_duration_seconds", "continuum_time_to_first_token_seconds",
		"continuum_overhead_seconds", "continuum_tokens_total", "continuum_stream_aborts_total",
		"continuum_upstream_attempts_total", "continuum_upstream_errors_total", "continuum_retries_total",
		"continuum_retry_budget_exhausted_total", "continuum_circuit_breaker_transitions_total",
		"continuum_backend_health_transitions_total", "continuum_config_reloads_total",
		"continuum_config_last_reload_success_timestamp_seconds", "continuum_rate_limited_total",
		"continuum_load_shed_total", "continuum_auth_failures_total", "continuum_build_info",
		"continuum_backend_up", "continuum_backend_in_flight", "continuum_backend_health",
		"continuum_circuit_breaker_state", "continuum_backend_error_rate", "continuum_backend_drained",
		"go_goroutines", "process_start_time_seconds",
	} {
		if !m.Has(name) {
			t.Errorf("metric %s is not exposed", name)
		}
	}

	// One series of each, with its labels and value.
	ge := func(min float64) func(float64) bool { return func(v float64) bool { return v >= min } }
	eq := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	tests := []struct {
		name   string
		labels []string
		want   func(float64) bool
		desc   string
	}{
		{"continuum_requests_total", []string{"endpoint", "chat_completions", "model", "m", "backend", "a", "status", "200"}, ge(3), ">= 3"},
		{"continuum_requests_total", []string{"endpoint", "completions", "model", "m", "backend", "a", "status", "200"}, eq(1), "1"},
		{"continuum_requests_total", []string{"endpoint", "embeddings", "model", "m", "backend", "a", "status", "200"}, eq(1), "1"},
		{"continuum_requests_total", []string{"endpoint", "chat_completions", "model", "r", "backend", "a", "status", "200"}, eq(4), "4"},
		{"continuum_requests_total", []string{"endpoint", "chat_completions", "model", "f", "backend", "bad", "status", "500"}, eq(1), "1"},
		{"continuum_requests_total", []string{"endpoint", "chat_completions", "status", "503"}, eq(2), "2 (breaker open, load shed)"},
		{"continuum_requests_total", []string{"endpoint", "chat_completions", "model", "none", "backend", "none", "status", "401"}, eq(2), "2"},
		{"continuum_requests_total", []string{"endpoint", "chat_completions", "status", "403"}, eq(1), "1"},
		{"continuum_requests_total", []string{"endpoint", "chat_completions", "status", "429"}, eq(1), "1"},
		{"continuum_request_duration_seconds_count", []string{"endpoint", "chat_completions", "model", "m", "backend", "a"}, ge(3), ">= 3"},
		{"continuum_request_duration_seconds_bucket", []string{"endpoint", "chat_completions", "model", "m", "backend", "a", "le", "+Inf"}, ge(3), ">= 3"},
		{"continuum_request_duration_seconds_sum", []string{"endpoint", "chat_completions", "model", "m", "backend", "a"}, func(v float64) bool { return v > 0 }, "> 0"},
		{"continuum_time_to_first_token_seconds_count", []string{"model", "m", "backend", "a"}, ge(3), ">= 3"},
		{"continuum_time_to_first_token_seconds_count", []string{"model", "s", "backend", "slow"}, eq(2), "2"},
		{"continuum_overhead_seconds_count", nil, ge(10), ">= 10"},
		{"continuum_tokens_total", []string{"model", "m", "backend", "a", "type", "prompt"}, ge(1), ">= 1"},
		{"continuum_tokens_total", []string{"model", "m", "backend", "a", "type", "completion"}, ge(2 * mock.DefaultTokens), fmt.Sprintf(">= %d", 2*mock.DefaultTokens)},
		{"continuum_stream_aborts_total", []string{"backend", "cut"}, eq(1), "1"},
		{"continuum_upstream_attempts_total", []string{"backend", "a", "outcome", "success"}, ge(9), ">= 9"},
		{"continuum_upstream_attempts_total", []string{"backend", "bad", "outcome", "failure"}, eq(2), "2"},
		{"continuum_upstream_errors_total", []string{"backend", "bad"}, eq(2), "2"},
		{"continuum_upstream_errors_total", []string{"backend", "cut"}, eq(1), "1"},
		{"continuum_retries_total", []string{"backend", "bad"}, eq(1), "1"},
		{"continuum_retry_budget_exhausted_total", nil, eq(0), "0"},
		{"continuum_circuit_breaker_transitions_total", []string{"backend", "bad", "state", "open"}, eq(1), "1"},
		{"continuum_backend_health_transitions_total", []string{"backend", "a", "state", "ready"}, eq(1), "1"},
		{"continuum_config_reloads_total", []string{"result", "success"}, eq(2), "2 (the start and one reload)"},
		{"continuum_config_reloads_total", []string{"result", "failure"}, eq(1), "1"},
		{"continuum_config_last_reload_success_timestamp_seconds", nil, func(v float64) bool { return v > 1.7e9 }, "a Unix time"},
		{"continuum_rate_limited_total", []string{"scope", "api_key"}, eq(1), "1"},
		{"continuum_load_shed_total", nil, eq(1), "1"},
		{"continuum_auth_failures_total", []string{"reason", "invalid"}, eq(1), "1"},
		{"continuum_auth_failures_total", []string{"reason", "missing"}, eq(1), "1"},
		{"continuum_auth_failures_total", []string{"reason", "forbidden_model"}, eq(1), "1"},
		{"continuum_build_info", []string{"goversion", runtime.Version()}, eq(1), "1"},
		{"continuum_backend_up", []string{"backend", "a"}, eq(1), "1"},
		{"continuum_backend_up", []string{"backend", "bad"}, eq(0), "0 (breaker open)"},
		{"continuum_backend_in_flight", []string{"backend", "a"}, eq(0), "0"},
		{"continuum_backend_health", []string{"backend", "a", "state", "ready"}, eq(1), "1"},
		{"continuum_backend_health", []string{"backend", "a", "state", "down"}, eq(0), "0"},
		{"continuum_circuit_breaker_state", []string{"backend", "bad"}, eq(2), "2 (open)"},
		{"continuum_circuit_breaker_state", []string{"backend", "a"}, eq(0), "0 (closed)"},
		{"continuum_backend_error_rate", []string{"backend", "bad"}, func(v float64) bool { return v > 0 }, "> 0"},
		{"continuum_backend_drained", []string{"backend", "a"}, eq(0), "0"},
	}
	for _, tt := range tests {
		series := m.Find(tt.name, tt.labels...)
		if len(series) == 0 {
			t.Errorf("%s%v: no series", tt.name, tt.labels)
			continue
		}
		if got := m.Sum(tt.name, tt.labels...); !tt.want(got) {
			t.Errorf("%s%v: got %v, want %s", tt.name, tt.labels, got, tt.desc)
		}
	}
}

func TestOpsMetricsEndpointMoves(t *testing.T) {
	t.Parallel()
	e := start(t, withConfig(func(c *config.Config) { c.Metrics.Endpoint = "/custom" }), withBackend("a", mock.Options{}))
	e.Post("/v1/chat/completions", chatBody(mock.DefaultModel, false))
	m := opsScrape(t, e.URL+"/custom")
	if got := m.Sum("continuum_requests_total", "backend", "a", "status", "200"); got != 1 {
		t.Errorf("continuum_requests_total at /custom: got %v, want 1", got)
	}
	if resp, body := e.Get("/metrics"); resp.StatusCode != 404 {
		t.Errorf("GET /metrics with metrics.endpoint /custom: got %d %.100s, want 404", resp.StatusCode, body)
	}

	off := start(t, withConfig(func(c *config.Config) { c.Metrics.Enabled = false }), withBackend("a", mock.Options{}))
	if resp, _ := off.Get("/metrics"); resp.StatusCode != 404 {
		t.Errorf("GET /metrics with metrics disabled: got %d, want 404", resp.StatusCode)
	}
}
