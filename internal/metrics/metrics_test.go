package metrics

import (
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/continuumhq/continuum/internal/clock"
)

// allNames is every metric name Continuum exports, exactly as the metrics
// contract lists them.
var allNames = []string{
	"continuum_api_key_requests_total",
	"continuum_api_key_tokens_total",
	"continuum_auth_failures_total",
	"continuum_backend_drained",
	"continuum_backend_error_rate",
	"continuum_backend_health",
	"continuum_backend_health_transitions_total",
	"continuum_backend_in_flight",
	"continuum_backend_up",
	"continuum_build_info",
	"continuum_cache_requests_total",
	"continuum_cache_store_errors_total",
	"continuum_circuit_breaker_rejections_total",
	"continuum_circuit_breaker_state",
	"continuum_circuit_breaker_transitions_total",
	"continuum_cluster_replicas",
	"continuum_config_last_reload_success_timestamp_seconds",
	"continuum_config_reloads_total",
	"continuum_config_version_info",
	"continuum_load_shed_total",
	"continuum_overhead_seconds",
	"continuum_panics_total",
	"continuum_rate_limit_check_seconds",
	"continuum_rate_limit_decisions_total",
	"continuum_rate_limit_store_breaker_state",
	"continuum_rate_limit_store_errors_total",
	"continuum_rate_limited_total",
	"continuum_request_duration_seconds",
	"continuum_requests_total",
	"continuum_retries_total",
	"continuum_retry_budget_exhausted_total",
	"continuum_stream_aborts_total",
	"continuum_time_to_first_token_seconds",
	"continuum_tokens_total",
	"continuum_upstream_attempts_total",
	"continuum_upstream_errors_total",
}

// exerciseAll calls every method once, so that every metric has a series.
func exerciseAll(m *Metrics) {
	m.ObserveRequest(Request{
		Endpoint: "chat_completions", Model: "llama", Backend: "vllm-a", Status: 200, Stream: true,
		Duration: 2 * time.Second, TTFT: 100 * time.Millisecond, Overhead: 50 * time.Microsecond,
		PromptTokens: 10, CompletionTokens: 20, HasUsage: true, Aborted: true,
	})
	m.ObserveAttempt("vllm-a", "failure", "connect")
	m.ObserveRetry("vllm-a", "connect")
	m.ObserveBudgetExhausted()
	m.ObserveBreaker("vllm-a", "open")
	m.ObserveBreaker("vllm-a", "rejected")
	m.ObserveHealthChange("vllm-a", "down")
	m.ObserveReload("success")
	m.ObserveRateLimited("api_key")
	m.ObserveLoadShed()
	m.ObserveAuthFailure("invalid")
	m.ObservePanic()
	m.ObserveCache("hit")
	m.ObserveCacheStoreError()
	m.ObserveLimitDecision("redis", true)
	m.ObserveLimitStoreError()
	m.SetLimitStoreBreaker("open")
	m.ObserveLimitCheck(0.0001)
	m.SetReplicaSource(func() int { return 3 })
	m.SetConfigVersion("0123456789ab")
	m.SetBackendSource(func() []BackendStat {
		return []BackendStat{{Name: "vllm-a", Up: true, Health: "ready", Breaker: "closed", InFlight: 2, ErrorRate: 0.1}}
	})
}

func TestEveryMetricNameAndLintClean(t *testing.T) {
	m, reg := newTestMetrics(t, Options{})
	exerciseAll(m)
	if got := continuumNames(t, reg); !slices.Equal(got, allNames) {
		t.Errorf("got metric names\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(allNames, "\n  "))
	}
	lintClean(t, reg)
}

func TestNewExportsUnlabelledMetricsAtOnce(t *testing.T) {
	_, reg := newTestMetrics(t, Options{})
	want := []string{
		"continuum_build_info",
		"continuum_cache_store_errors_total",
		"continuum_cluster_replicas",
		"continuum_config_last_reload_success_timestamp_seconds",
		"continuum_load_shed_total",
		"continuum_overhead_seconds",
		"continuum_panics_total",
		"continuum_rate_limit_check_seconds",
		"continuum_rate_limit_store_breaker_state",
		"continuum_rate_limit_store_errors_total",
		"continuum_retry_budget_exhausted_total",
	}
	if got := continuumNames(t, reg); !slices.Equal(got, want) {
		t.Errorf("got %v before any call, want %v", got, want)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if seriesCount(t, reg, name) != 1 {
			t.Errorf("got no %s, want the runtime collectors registered", name)
		}
	}
	lintClean(t, reg)
}

func TestBuildInfo(t *testing.T) {
	tests := []struct {
		version string
		want    string
	}{
		{"v1.2.3", "v1.2.3"},
		{"", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			if _, err := New(reg, tt.version); err != nil {
				t.Fatalf("New: %v", err)
			}
			got := value(t, reg, "continuum_build_info", labels{"version": tt.want, "goversion": runtime.Version()})
			if got != 1 {
				t.Errorf("got continuum_build_info %v, want 1", got)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	t.Run("nil registerer", func(t *testing.T) {
		if _, err := New(nil, "v1"); err == nil {
			t.Error("got no error for a nil registerer, want one")
		}
	})
	t.Run("registered twice", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		if _, err := New(reg, "v1"); err != nil {
			t.Fatalf("first New: %v", err)
		}
		_, err := New(reg, "v1")
		if !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			t.Fatalf("got error %v, want an AlreadyRegisteredError", err)
		}
		if !strings.Contains(err.Error(), "continuum_requests_total") {
			t.Errorf("got error %q, want it to name continuum_requests_total", err)
		}
	})
	t.Run("a failure unregisters what was registered", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		// The backend gauges are registered last among Continuum's own.
		blocker := prometheus.NewGauge(prometheus.GaugeOpts{Name: "continuum_backend_up", Help: "Blocks New."})
		reg.MustRegister(blocker)
		_, err := New(reg, "v1")
		if err == nil || !strings.Contains(err.Error(), "backend gauges") {
			t.Fatalf("got error %v, want one naming the backend gauges", err)
		}
		// build_info and the unlabelled counters would show if left registered.
		if got, want := continuumNames(t, reg), []string{"continuum_backend_up"}; !slices.Equal(got, want) {
			t.Errorf("got %v registered after a failed New, want only the blocker %v", got, want)
		}
	})
}

func TestNewKeepsExistingRuntimeCollectors(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if _, err := New(reg, "v1"); err != nil {
		t.Fatalf("got error %v with the runtime collectors already registered, want none", err)
	}
	if got := seriesCount(t, reg, "go_goroutines"); got != 1 {
		t.Errorf("got %d go_goroutines series, want 1", got)
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	var m *Metrics
	exerciseAll(m) // must not panic
	if h := m.Handler(prometheus.NewRegistry()); h == nil {
		t.Error("got a nil handler from a nil *Metrics, want one")
	}
}

func TestReloadTimestampFromInjectedClock(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	m, reg := newTestMetrics(t, Options{Now: clk.Now})
	const name = "continuum_config_last_reload_success_timestamp_seconds"

	steps := []struct {
		advance time.Duration
		result  string
		want    time.Time
	}{
		{0, "success", clk.Now()},
		{time.Minute, "failure", clk.Now()}, // unchanged by a failure
		{time.Hour, "success", clk.Now().Add(time.Minute + time.Hour)},
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		m.ObserveReload(s.result)
		if got, want := value(t, reg, name, labels{}), float64(s.want.Unix()); got != want {
			t.Errorf("after a %s: got %s %v, want %v", s.result, name, got, want)
		}
	}
	for result, want := range map[string]float64{"success": 2, "failure": 1} {
		if got := value(t, reg, "continuum_config_reloads_total", labels{"result": result}); got != want {
			t.Errorf("got continuum_config_reloads_total{result=%q} %v, want %v", result, got, want)
		}
	}
}
