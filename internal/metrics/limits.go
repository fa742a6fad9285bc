package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// limitCheckBuckets spans one rate-limit check: an in-memory one (a few
// microseconds) to a Redis check that ran into its deadline (50ms default).
func limitCheckBuckets() []float64 {
	return []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}
}

// limitMetrics are the collectors of the shared rate-limit store and the
// cluster (rate_limiting.storage: redis).
type limitMetrics struct {
	decisions     *prometheus.CounterVec
	storeErrors   prometheus.Counter
	breakerState  prometheus.Gauge
	checkSeconds  prometheus.Histogram
	replicas      prometheus.GaugeFunc
	replicaSource atomic.Pointer[func() int]
	configVersion *prometheus.GaugeVec
	sources       *labelSet
}

func newLimitMetrics(fixed func() *labelSet) *limitMetrics {
	l := &limitMetrics{
		sources: fixed(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rate_limit_decisions_total",
			Help: `Checks of the rate-limit store (admissions, backend limits, token top-ups and settlements) by who decided ("redis": the shared buckets; "local": this replica's buckets, ` +
				`with storage memory or under the local failure policy; "allow" and "deny": the failure policies while Redis could not decide) and result ("allowed", "refused").`,
		}, []string{"source", "result"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rate_limit_store_errors_total",
			Help:      "Failed checks of the shared rate-limit store (Redis down, slower than rate_limiting.redis.timeout, or a bad answer); each one was decided by its failure policy instead.",
		}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "rate_limit_store_breaker_state",
			Help:      "The breaker in front of the shared rate-limit store: 0 closed (checks go to Redis), 1 half-open (one probe does), 2 open (the failure policies decide). Always 0 with storage memory.",
		}),
		checkSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "rate_limit_check_seconds",
			Help:      "Duration of each check sent to the shared rate-limit store (Redis), failed ones included: the latency the limits add to a request.",
			Buckets:   limitCheckBuckets(),
		}),
		configVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "config_version_info",
			Help:      "Always 1; its version label is the SHA-256 (in hex) of the configuration file this replica applied, from its own file or from another replica's reload. Replicas that differ run different configurations.",
		}, []string{"version"}),
	}
	l.replicas = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "cluster_replicas",
		Help:      "Live replicas at this replica's last heartbeat in Redis (itself included): the N by which the local failure policy divides each limit. 1 with storage memory.",
	}, func() float64 {
		if f := l.replicaSource.Load(); f != nil {
			return float64((*f)())
		}
		return 1
	})
	return l
}

func (l *limitMetrics) collectors() []struct {
	name string
	c    prometheus.Collector
} {
	return []struct {
		name string
		c    prometheus.Collector
	}{
		{"continuum_rate_limit_decisions_total", l.decisions},
		{"continuum_rate_limit_store_errors_total", l.storeErrors},
		{"continuum_rate_limit_store_breaker_state", l.breakerState},
		{"continuum_rate_limit_check_seconds", l.checkSeconds},
		{"continuum_cluster_replicas", l.replicas},
		{"continuum_config_version_info", l.configVersion},
	}
}

// ObserveLimitDecision records one check of the rate-limit store in
// continuum_rate_limit_decisions_total{source,result}; source is "redis",
// "local", "allow" or "deny".
func (m *Metrics) ObserveLimitDecision(source string, allowed bool) {
	if m == nil {
		return
	}
	result := "refused"
	if allowed {
		result = "allowed"
	}
	m.limits.decisions.WithLabelValues(m.limits.sources.value(source), result).Inc()
}

// ObserveLimitStoreError records a failed check of the shared store in
// continuum_rate_limit_store_errors_total.
func (m *Metrics) ObserveLimitStoreError() {
	if m == nil {
		return
	}
	m.limits.storeErrors.Inc()
}

// SetLimitStoreBreaker sets continuum_rate_limit_store_breaker_state from
// the breaker's state: "closed", "half-open" (or "half_open") or "open".
func (m *Metrics) SetLimitStoreBreaker(state string) {
	if m == nil {
		return
	}
	v := 0.0
	switch state {
	case "half-open", breakerHalfOpen:
		v = 1
	case breakerOpen:
		v = 2
	}
	m.limits.breakerState.Set(v)
}

// ObserveLimitCheck records the duration of one check sent to the shared
// store in continuum_rate_limit_check_seconds.
func (m *Metrics) ObserveLimitCheck(seconds float64) {
	if m == nil {
		return
	}
	m.limits.checkSeconds.Observe(seconds)
}

// SetReplicaSource installs the function continuum_cluster_replicas reads
// at every scrape (a heartbeat's count); it must be safe for concurrent use.
// Before the first call, and with nil, the gauge is 1.
func (m *Metrics) SetReplicaSource(f func() int) {
	if m == nil {
		return
	}
	if f == nil {
		m.limits.replicaSource.Store(nil)
		return
	}
	m.limits.replicaSource.Store(&f)
}

// SetConfigVersion makes version the only series of
// continuum_config_version_info.
func (m *Metrics) SetConfigVersion(version string) {
	if m == nil {
		return
	}
	m.limits.configVersion.Reset()
	m.limits.configVersion.WithLabelValues(version).Set(1)
}
