// Package metrics exports Continuum's Prometheus metrics.
//
// A Metrics is built from a prometheus.Registerer by New; nothing is
// registered globally. The proxy, resilience, health, config, limit and auth
// stages report to it through its Observe methods, the per-backend gauges are
// read from a source function at scrape time (SetBackendSource), and Handler
// serves the registry in the Prometheus text format.
//
// Every label is bounded: backend, model and key_id keep at most
// Options.MaxLabelValues distinct values, labels drawn from fixed sets
// (endpoint, outcome, kind, reason, scope, state, result) at most
// Options.MaxFixedLabelValues, and the status label is the HTTP status for
// 100..599. Values beyond a cap, invalid statuses and values that are not
// valid UTF-8 are recorded as "other"; an empty value is recorded as "none".
//
// A nil *Metrics is valid and records nothing, so a stage can be built and
// tested without metrics.
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const namespace = "continuum"

// Default label caps; see Options.
const (
	// DefaultMaxLabelValues is the default cap on the distinct values of the
	// model and backend labels.
	DefaultMaxLabelValues = 1000
	// DefaultMaxFixedLabelValues is the default cap on the distinct values of
	// each label whose values come from a fixed set chosen by the caller.
	DefaultMaxFixedLabelValues = 64
)

// Options tunes a Metrics. The zero value is the production configuration.
type Options struct {
	// MaxLabelValues caps the distinct values of the model label and, separately,
	// of the backend label; later new values are recorded as "other". Zero or
	// negative means DefaultMaxLabelValues (1000).
	MaxLabelValues int
	// MaxFixedLabelValues caps the distinct values of each label whose values
	// come from a fixed set chosen by the caller: endpoint, outcome, kind,
	// reason, scope, state and result. Zero or negative means
	// DefaultMaxFixedLabelValues (64).
	MaxFixedLabelValues int
	// Now returns the time recorded by a successful config reload in
	// continuum_config_last_reload_success_timestamp_seconds. Nil means time.Now.
	Now func() time.Time
	// Logger receives the errors a scrape through Handler runs into. Nil means
	// such errors are not logged (the scrape still serves every metric it could
	// gather).
	Logger *slog.Logger
}

// Metrics holds Continuum's collectors. Its methods are safe for concurrent
// use. A nil *Metrics records nothing.
type Metrics struct {
	now    func() time.Time
	logger *slog.Logger

	// Label caps, one per label.
	endpoints, models, backends  *labelSet
	outcomes, kinds, reasons     *labelSet
	breakerStates, healthStates  *labelSet
	results, scopes, authReasons *labelSet
	cacheResults                 *labelSet

	requestsTotal   *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	ttft            *prometheus.HistogramVec
	overhead        prometheus.Histogram
	tokens          *prometheus.CounterVec
	streamAborts    *prometheus.CounterVec

	attempts        *prometheus.CounterVec
	upstreamErrors  *prometheus.CounterVec
	retries         *prometheus.CounterVec
	budgetExhausted prometheus.Counter

	breakerTransitions *prometheus.CounterVec
	breakerRejections  *prometheus.CounterVec
	healthTransitions  *prometheus.CounterVec

	reloads           *prometheus.CounterVec
	lastReloadSuccess prometheus.Gauge

	rateLimited  *prometheus.CounterVec
	loadShed     prometheus.Counter
	authFailures *prometheus.CounterVec
	panics       prometheus.Counter

	cacheRequests    *prometheus.CounterVec
	cacheStoreErrors prometheus.Counter

	buildInfo     prometheus.Gauge
	limits        *limitMetrics
	backendGauges *backendCollector
	keys          *keyUsage

	// mu guards the caches of ObserveRequest's children; see request.go.
	mu       sync.RWMutex
	requests map[requestKey]*requestSeries
	pairs    map[pairKey]*pairSeries
}

// Histogram buckets, in seconds. They are functions, not variables, so that
// no package-level state can be changed.

// requestDurationBuckets spans a cached embedding (5ms) to a long generation
// (5 minutes).
func requestDurationBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300}
}

// ttftBuckets spans a warm small model (1ms) to a cold large one (1 minute).
func ttftBuckets() []float64 {
	return []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 60}
}

// overheadBuckets spans the router's own cost per request, 10µs to 100ms.
func overheadBuckets() []float64 {
	return []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}
}

// New registers every collector on reg and returns the Metrics. version is
// reported by continuum_build_info ("unknown" if empty). It uses the zero
// Options; see NewWithOptions.
func New(reg prometheus.Registerer, version string) (*Metrics, error) {
	return NewWithOptions(reg, version, Options{})
}

// NewWithOptions is New with explicit Options.
//
// Besides Continuum's own metrics it registers the Go runtime and process
// collectors on reg; if reg already has them, they are left in place. If any
// other registration fails, the collectors registered so far are
// unregistered and the error names the metric that failed.
func NewWithOptions(reg prometheus.Registerer, version string, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("new metrics: nil registerer")
	}
	if opts.MaxLabelValues <= 0 {
		opts.MaxLabelValues = DefaultMaxLabelValues
	}
	if opts.MaxFixedLabelValues <= 0 {
		opts.MaxFixedLabelValues = DefaultMaxFixedLabelValues
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if version == "" {
		version = "unknown"
	}
	fixed := func() *labelSet { return newLabelSet(opts.MaxFixedLabelValues) }
	m := &Metrics{
		now:           opts.Now,
		logger:        opts.Logger,
		endpoints:     fixed(),
		models:        newLabelSet(opts.MaxLabelValues),
		backends:      newLabelSet(opts.MaxLabelValues),
		outcomes:      fixed(),
		kinds:         fixed(),
		reasons:       fixed(),
		breakerStates: fixed(),
		healthStates:  fixed(),
		results:       fixed(),
		scopes:        fixed(),
		authReasons:   fixed(),
		cacheResults:  fixed(),
		requests:      make(map[requestKey]*requestSeries),
		pairs:         make(map[pairKey]*pairSeries),
	}

	m.requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "requests_total",
		Help: "Client requests Continuum finished, by endpoint, served model, backend that answered and HTTP status sent to the client. " +
			`model="none" or backend="none": the request was not routed or no backend served it (auth, limits, no backend available). "other": a label cap was reached.`,
	}, []string{"endpoint", "model", "backend", "status"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "request_duration_seconds",
		Help:      "Whole client request duration as seen by Continuum, from the request arriving to the last byte of the response (streams included), retries and failovers included.",
		Buckets:   requestDurationBuckets(),
	}, []string{"endpoint", "model", "backend"})
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "time_to_first_token_seconds",
		Help:      "Time from the request arriving to the first token (first content event of a stream, or the whole body otherwise) by model and backend. What users feel as latency; compare backends here.",
		Buckets:   ttftBuckets(),
	}, []string{"model", "backend"})
	m.overhead = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "overhead_seconds",
		Help:      "Time each request spent inside Continuum itself (auth, limits, routing, proxying), excluding the time waiting on backends. If this grows, the router is the bottleneck, not the backends.",
		Buckets:   overheadBuckets(),
	})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "tokens_total",
		Help:      `Tokens reported in backends' usage fields, by model, backend and type ("prompt" or "completion"). Requests whose backend reported no usage are not counted.`,
	}, []string{"model", "backend", "type"})
	m.streamAborts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "stream_aborts_total",
		Help:      "Streams that failed after the first token was sent to the client, by backend. The client got a partial answer ending in an error event; these cannot be retried.",
	}, []string{"backend"})

	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "upstream_attempts_total",
		Help: "Attempts sent to backends, by backend and outcome: success; failure (counts against health and the circuit breaker); " +
			"capacity (429 or 503 with Retry-After: busy, not broken); ignored (client cancelled or the request itself was invalid).",
	}, []string{"backend", "outcome"})
	m.upstreamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "upstream_errors_total",
		Help:      "Failed or over-capacity attempts by backend and error kind (connect, read, timeout_first_token, empty_stream, status_503, ...). Tells why a backend fails.",
	}, []string{"backend", "kind"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "retries_total",
		Help:      "Retries and failovers to another attempt, by the backend whose attempt failed and the reason (the error kind) it failed.",
	}, []string{"backend", "reason"})
	m.budgetExhausted = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "retry_budget_exhausted_total",
		Help:      "Retries refused because the retry budget (retry.budget_ratio of recent traffic) was used up; the client got the error instead. A rising rate means backends fail broadly.",
	})

	m.breakerTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "circuit_breaker_transitions_total",
		Help:      `Circuit breaker state changes by backend and the state entered ("open": backend ejected, "half_open": probing, "closed": back in rotation).`,
	}, []string{"backend", "state"})
	m.breakerRejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "circuit_breaker_rejections_total",
		Help:      "Requests kept from a backend because its circuit breaker was open (or half-open with its probes in flight), by backend; each request counts once per backend, whether another backend then served it or it got 503.",
	}, []string{"backend"})
	m.healthTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "backend_health_transitions_total",
		Help:      `Backend health changes by backend and the state entered ("ready", "warming_up", "down", "unknown"). Flapping shows up as a high rate here.`,
	}, []string{"backend", "state"})

	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "config_reloads_total",
		Help:      `Configuration reloads by result ("success" or "failure"). After a failure the previous configuration stays in effect; the log says why.`,
	}, []string{"result"})
	m.lastReloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "config_last_reload_success_timestamp_seconds",
		Help:      "Unix time of the last successful configuration load or reload; 0 if none yet.",
	})

	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "rate_limited_total",
		Help:      `Requests refused with 429 by Continuum's own rate limits, by scope ("global", "api_key", "client", "model"; "global_tokens", "api_key_tokens", "client_tokens", "model_tokens" for token limits).`,
	}, []string{"scope"})
	m.loadShed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "load_shed_total",
		Help:      "Requests refused with 503 because Continuum was at its concurrency limit (load shedding).",
	})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "auth_failures_total",
		Help:      `Requests refused by API key authentication, by reason ("missing", "invalid", "disabled", "expired", "forbidden_model", "missing_scope").`,
	}, []string{"reason"})
	m.panics = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "panics_total",
		Help:      "Panics recovered while serving a request (a bug: the log has the stack). The request failed with 500, or its committed stream ended with an error event; other requests went on.",
	})

	m.cacheRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "cache_requests_total",
		Help: `Requests that could reuse an answer (request deduplication or the response cache on), by result: "hit" (from the response cache), ` +
			`"shared" (an identical request's upstream call, in flight or within deduplication_ttl), "miss" (went upstream).`,
	}, []string{"result"})
	m.cacheStoreErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "cache_store_errors_total",
		Help: "Failed calls to the store of kept answers in Redis (cache.response_cache.storage: redis): Redis down or slower than rate_limiting.redis.timeout, " +
			"an unreadable value, or too many writes in flight. A failed read was a miss, a failed write an answer not kept; no request failed. Always 0 with storage memory.",
	})

	m.buildInfo = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "build_info",
		Help:        "Always 1; its labels give the running Continuum version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	m.buildInfo.Set(1)
	m.limits = newLimitMetrics(fixed)
	m.backendGauges = newBackendCollector()
	m.keys = newKeyUsage(opts.MaxLabelValues)

	if err := m.register(reg); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers every collector on reg, or none of Continuum's own if
// one fails.
func (m *Metrics) register(reg prometheus.Registerer) error {
	own := []struct {
		name string
		c    prometheus.Collector
	}{
		{"continuum_requests_total", m.requestsTotal},
		{"continuum_request_duration_seconds", m.requestDuration},
		{"continuum_time_to_first_token_seconds", m.ttft},
		{"continuum_overhead_seconds", m.overhead},
		{"continuum_tokens_total", m.tokens},
		{"continuum_stream_aborts_total", m.streamAborts},
		{"continuum_upstream_attempts_total", m.attempts},
		{"continuum_upstream_errors_total", m.upstreamErrors},
		{"continuum_retries_total", m.retries},
		{"continuum_retry_budget_exhausted_total", m.budgetExhausted},
		{"continuum_circuit_breaker_transitions_total", m.breakerTransitions},
		{"continuum_circuit_breaker_rejections_total", m.breakerRejections},
		{"continuum_backend_health_transitions_total", m.healthTransitions},
		{"continuum_config_reloads_total", m.reloads},
		{"continuum_config_last_reload_success_timestamp_seconds", m.lastReloadSuccess},
		{"continuum_rate_limited_total", m.rateLimited},
		{"continuum_load_shed_total", m.loadShed},
		{"continuum_auth_failures_total", m.authFailures},
		{"continuum_panics_total", m.panics},
		{"continuum_cache_requests_total", m.cacheRequests},
		{"continuum_cache_store_errors_total", m.cacheStoreErrors},
		{"continuum_build_info", m.buildInfo},
		{"continuum_api_key_requests_total", m.keys.requests},
		{"continuum_api_key_tokens_total", m.keys.tokens},
		{"the backend gauges", m.backendGauges},
	}
	own = append(own, m.limits.collectors()...)
	var done []prometheus.Collector
	undo := func() {
		for _, c := range done {
			reg.Unregister(c)
		}
	}
	for _, r := range own {
		if err := reg.Register(r.c); err != nil {
			undo()
			return fmt.Errorf("register %s: %w", r.name, err)
		}
		done = append(done, r.c)
	}
	runtimeCollectors := []struct {
		name string
		c    prometheus.Collector
	}{
		{"the Go collector", collectors.NewGoCollector()},
		{"the process collector", collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})},
	}
	for _, r := range runtimeCollectors {
		err := reg.Register(r.c)
		if errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			continue // someone else exports them already: keep theirs
		}
		if err != nil {
			undo()
			return fmt.Errorf("register %s: %w", r.name, err)
		}
		done = append(done, r.c)
	}
	return nil
}
