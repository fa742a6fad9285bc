package metrics

import (
	"strconv"
	"testing"
)

// series names one expected series and its value.
type series struct {
	name   string
	labels labels
	want   float64
}

func TestObserveEvents(t *testing.T) {
	tests := []struct {
		name   string
		call   func(m *Metrics)
		want   []series
		absent []string // families that must have no series
	}{
		{
			name:   "attempt success",
			call:   func(m *Metrics) { m.ObserveAttempt("a", "success", "") },
			want:   []series{{"continuum_upstream_attempts_total", labels{"backend": "a", "outcome": "success"}, 1}},
			absent: []string{"continuum_upstream_errors_total"},
		},
		{
			name: "attempt failure",
			call: func(m *Metrics) { m.ObserveAttempt("a", "failure", "connect") },
			want: []series{
				{"continuum_upstream_attempts_total", labels{"backend": "a", "outcome": "failure"}, 1},
				{"continuum_upstream_errors_total", labels{"backend": "a", "kind": "connect"}, 1},
			},
		},
		{
			name: "attempt capacity",
			call: func(m *Metrics) { m.ObserveAttempt("a", "capacity", "status_429") },
			want: []series{
				{"continuum_upstream_attempts_total", labels{"backend": "a", "outcome": "capacity"}, 1},
				{"continuum_upstream_errors_total", labels{"backend": "a", "kind": "status_429"}, 1},
			},
		},
		{
			name: "cache results",
			call: func(m *Metrics) {
				for _, r := range []string{"hit", "miss", "shared", "hit"} {
					m.ObserveCache(r)
				}
			},
			want: []series{
				{"continuum_cache_requests_total", labels{"result": "hit"}, 2},
				{"continuum_cache_requests_total", labels{"result": "miss"}, 1},
				{"continuum_cache_requests_total", labels{"result": "shared"}, 1},
			},
		},
		{
			name:   "attempt ignored",
			call:   func(m *Metrics) { m.ObserveAttempt("a", "ignored", "client_cancel") },
			want:   []series{{"continuum_upstream_attempts_total", labels{"backend": "a", "outcome": "ignored"}, 1}},
			absent: []string{"continuum_upstream_errors_total"},
		},
		{
			name: "failure without a kind",
			call: func(m *Metrics) { m.ObserveAttempt("a", "failure", "") },
			want: []series{{"continuum_upstream_errors_total", labels{"backend": "a", "kind": "none"}, 1}},
		},
		{
			name: "retry",
			call: func(m *Metrics) { m.ObserveRetry("a", "timeout"); m.ObserveRetry("a", "timeout") },
			want: []series{{"continuum_retries_total", labels{"backend": "a", "reason": "timeout"}, 2}},
		},
		{
			name: "budget exhausted",
			call: func(m *Metrics) { m.ObserveBudgetExhausted() },
			want: []series{{"continuum_retry_budget_exhausted_total", labels{}, 1}},
		},
		{
			name: "breaker transitions",
			call: func(m *Metrics) {
				for _, e := range []string{"open", "half_open", "open", "half_open", "closed"} {
					m.ObserveBreaker("a", e)
				}
			},
			want: []series{
				{"continuum_circuit_breaker_transitions_total", labels{"backend": "a", "state": "open"}, 2},
				{"continuum_circuit_breaker_transitions_total", labels{"backend": "a", "state": "half_open"}, 2},
				{"continuum_circuit_breaker_transitions_total", labels{"backend": "a", "state": "closed"}, 1},
			},
			absent: []string{"continuum_circuit_breaker_rejections_total"},
		},
		{
			name:   "breaker rejection",
			call:   func(m *Metrics) { m.ObserveBreaker("a", "rejected") },
			want:   []series{{"continuum_circuit_breaker_rejections_total", labels{"backend": "a"}, 1}},
			absent: []string{"continuum_circuit_breaker_transitions_total"},
		},
		{
			name: "health change",
			call: func(m *Metrics) { m.ObserveHealthChange("a", "down"); m.ObserveHealthChange("a", "ready") },
			want: []series{
				{"continuum_backend_health_transitions_total", labels{"backend": "a", "state": "down"}, 1},
				{"continuum_backend_health_transitions_total", labels{"backend": "a", "state": "ready"}, 1},
			},
		},
		{
			name: "reload failure",
			call: func(m *Metrics) { m.ObserveReload("failure") },
			want: []series{
				{"continuum_config_reloads_total", labels{"result": "failure"}, 1},
				{"continuum_config_last_reload_success_timestamp_seconds", labels{}, 0},
			},
		},
		{
			name: "rate limited",
			call: func(m *Metrics) {
				m.ObserveRateLimited("global")
				m.ObserveRateLimited("api_key")
				m.ObserveRateLimited("client")
			},
			want: []series{
				{"continuum_rate_limited_total", labels{"scope": "global"}, 1},
				{"continuum_rate_limited_total", labels{"scope": "api_key"}, 1},
				{"continuum_rate_limited_total", labels{"scope": "client"}, 1},
			},
		},
		{
			name: "load shed",
			call: func(m *Metrics) { m.ObserveLoadShed(); m.ObserveLoadShed() },
			want: []series{{"continuum_load_shed_total", labels{}, 2}},
		},
		{
			name: "panics",
			call: func(m *Metrics) { m.ObservePanic(); m.ObservePanic(); m.ObservePanic() },
			want: []series{{"continuum_panics_total", labels{}, 3}},
		},
		{
			name: "auth failures",
			call: func(m *Metrics) {
				for _, r := range []string{"missing", "invalid", "disabled", "expired", "forbidden_model", "invalid"} {
					m.ObserveAuthFailure(r)
				}
			},
			want: []series{
				{"continuum_auth_failures_total", labels{"reason": "missing"}, 1},
				{"continuum_auth_failures_total", labels{"reason": "invalid"}, 2},
				{"continuum_auth_failures_total", labels{"reason": "disabled"}, 1},
				{"continuum_auth_failures_total", labels{"reason": "expired"}, 1},
				{"continuum_auth_failures_total", labels{"reason": "forbidden_model"}, 1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newTestMetrics(t, Options{})
			tt.call(m)
			for _, s := range tt.want {
				if got := value(t, reg, s.name, s.labels); got != s.want {
					t.Errorf("got %s%v = %v, want %v", s.name, s.labels, got, s.want)
				}
			}
			for _, name := range tt.absent {
				if n := seriesCount(t, reg, name); n != 0 {
					t.Errorf("got %d series of %s, want none", n, name)
				}
			}
			lintClean(t, reg)
		})
	}
}

func TestObserveEventsFixedCap(t *testing.T) {
	const limit = 64
	tests := []struct {
		name    string
		call    func(m *Metrics, v string)
		family  string
		labelOf func(v string) labels
	}{
		{
			name:    "error kind",
			call:    func(m *Metrics, v string) { m.ObserveAttempt("a", "failure", v) },
			family:  "continuum_upstream_errors_total",
			labelOf: func(v string) labels { return labels{"backend": "a", "kind": v} },
		},
		{
			name:    "outcome",
			call:    func(m *Metrics, v string) { m.ObserveAttempt("a", v, "") },
			family:  "continuum_upstream_attempts_total",
			labelOf: func(v string) labels { return labels{"backend": "a", "outcome": v} },
		},
		{
			name:    "retry reason",
			call:    func(m *Metrics, v string) { m.ObserveRetry("a", v) },
			family:  "continuum_retries_total",
			labelOf: func(v string) labels { return labels{"backend": "a", "reason": v} },
		},
		{
			name:    "breaker event",
			call:    func(m *Metrics, v string) { m.ObserveBreaker("a", v) },
			family:  "continuum_circuit_breaker_transitions_total",
			labelOf: func(v string) labels { return labels{"backend": "a", "state": v} },
		},
		{
			name:    "health state",
			call:    func(m *Metrics, v string) { m.ObserveHealthChange("a", v) },
			family:  "continuum_backend_health_transitions_total",
			labelOf: func(v string) labels { return labels{"backend": "a", "state": v} },
		},
		{
			name:    "reload result",
			call:    func(m *Metrics, v string) { m.ObserveReload(v) },
			family:  "continuum_config_reloads_total",
			labelOf: func(v string) labels { return labels{"result": v} },
		},
		{
			name:    "rate limit scope",
			call:    func(m *Metrics, v string) { m.ObserveRateLimited(v) },
			family:  "continuum_rate_limited_total",
			labelOf: func(v string) labels { return labels{"scope": v} },
		},
		{
			name:    "auth reason",
			call:    func(m *Metrics, v string) { m.ObserveAuthFailure(v) },
			family:  "continuum_auth_failures_total",
			labelOf: func(v string) labels { return labels{"reason": v} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newTestMetrics(t, Options{})
			const extra = 3
			for i := range limit + extra {
				tt.call(m, "v"+strconv.Itoa(i))
			}
			if got := value(t, reg, tt.family, tt.labelOf("v0")); got != 1 {
				t.Errorf("got %v for the first value, want 1", got)
			}
			if got := value(t, reg, tt.family, tt.labelOf("other")); got != extra {
				t.Errorf(`got %v for "other", want %d`, got, extra)
			}
			if got := seriesCount(t, reg, tt.family); got != limit+1 {
				t.Errorf("got %d series, want %d", got, limit+1)
			}
		})
	}
}

func TestObserveEventsBackendCap(t *testing.T) {
	m, reg := newTestMetrics(t, Options{MaxLabelValues: 2})
	for _, b := range []string{"a", "b", "c", "d"} {
		m.ObserveBreaker(b, "rejected")
	}
	if got := value(t, reg, "continuum_circuit_breaker_rejections_total", labels{"backend": "other"}); got != 2 {
		t.Errorf(`got %v for backend="other", want 2`, got)
	}
}
