package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// BackendStat is a backend's live state, read at scrape time.
type BackendStat struct {
	// Name is the backend's configured name. Stats with an empty name, or a
	// name already seen in the same scrape, are skipped.
	Name string
	// Up reports whether the backend can take traffic now.
	Up bool
	// Health is "ready", "warming_up", "down" or "unknown" (backend.Health's
	// String values); any other value, "" included, is reported as "unknown".
	Health string
	// Breaker is the circuit breaker state: "closed", "open", "half_open" or
	// "disabled". For any other value, "" included,
	// continuum_circuit_breaker_state is omitted for this backend.
	Breaker string
	// InFlight is the number of requests currently sent to the backend.
	InFlight int64
	// ErrorRate is the recent failure rate, 0..1.
	ErrorRate float64
	// Drained reports whether an operator drained the backend.
	Drained bool
}

// breakerStateValue maps BackendStat.Breaker to continuum_circuit_breaker_state.
func breakerStateValue(state string) (v float64, ok bool) {
	switch state {
	case breakerClosed:
		return 0, true
	case breakerHalfOpen:
		return 1, true
	case breakerOpen:
		return 2, true
	case breakerDisabled:
		return -1, true
	default:
		return 0, false
	}
}

// SetBackendSource installs the function read at every scrape for the
// per-backend gauges; it replaces any earlier one (for instance after a config
// reload, so that removed backends disappear). f must be safe for concurrent
// use, as concurrent scrapes may call it at once. A nil f emits no backend
// gauges, which is also the state before the first call. SetBackendSource is
// safe for concurrent use.
//
// The gauges emitted for each backend are continuum_backend_up,
// continuum_backend_in_flight, continuum_backend_health (one series per
// state), continuum_circuit_breaker_state, continuum_backend_error_rate and
// continuum_backend_drained.
func (m *Metrics) SetBackendSource(f func() []BackendStat) {
	if m == nil {
		return
	}
	if f == nil {
		m.backendGauges.source.Store(nil)
		return
	}
	m.backendGauges.source.Store(&f)
}

// backendCollector emits the per-backend gauges from the installed source at
// every scrape, so the values are never stale.
type backendCollector struct {
	source atomic.Pointer[func() []BackendStat]

	up, inFlight, health, breaker, errorRate, drained *prometheus.Desc
}

func newBackendCollector() *backendCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &backendCollector{
		up: desc("backend_up",
			"1 if the backend can take traffic now (healthy or not yet probed, not drained, circuit breaker not open), 0 if not.",
			"backend"),
		inFlight: desc("backend_in_flight",
			"Requests Continuum currently has in flight to the backend, streams included.",
			"backend"),
		health: desc("backend_health",
			`Backend health: 1 for the current state, 0 for the other three; states are "ready", "warming_up" (loading a model, answering 503), "down" and "unknown" (not probed yet). Alert on state="down" == 1.`,
			"backend", "state"),
		breaker: desc("circuit_breaker_state",
			"Circuit breaker state of the backend: 0 closed (normal), 1 half-open (probing after an ejection), 2 open (ejected, no traffic), -1 breaker disabled.",
			"backend"),
		errorRate: desc("backend_error_rate",
			"Recent failure rate of attempts to the backend, 0..1 (a moving average over about the last 20 attempts; capacity answers and cancellations excluded).",
			"backend"),
		drained: desc("backend_drained",
			"1 if an operator drained the backend (no new requests; in-flight ones finish), 0 if not.",
			"backend"),
	}
}

// Describe implements prometheus.Collector.
func (c *backendCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.inFlight, c.health, c.breaker, c.errorRate, c.drained} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *backendCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.source.Load()
	if src == nil {
		return
	}
	stats := (*src)()
	seen := make(map[string]bool, len(stats))
	for _, s := range stats {
		if s.Name == "" || seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		c.collectOne(ch, s)
	}
}

func (c *backendCollector) collectOne(ch chan<- prometheus.Metric, s BackendStat) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		if err != nil {
			// An invalid name (not UTF-8, say) fails this scrape's gather
			// for this metric loudly instead of panicking.
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	gauge(c.up, boolValue(s.Up), s.Name)
	gauge(c.inFlight, float64(s.InFlight), s.Name)
	current := s.Health
	switch current {
	case "ready", "warming_up", "down":
	default:
		current = "unknown"
	}
	for _, state := range [...]string{"ready", "warming_up", "down", "unknown"} {
		gauge(c.health, boolValue(state == current), s.Name, state)
	}
	if v, ok := breakerStateValue(s.Breaker); ok {
		gauge(c.breaker, v, s.Name)
	}
	gauge(c.errorRate, s.ErrorRate, s.Name)
	gauge(c.drained, boolValue(s.Drained), s.Name)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
