package metrics

// Outcomes of ObserveAttempt that also count in continuum_upstream_errors_total.
const (
	outcomeFailure  = "failure"
	outcomeCapacity = "capacity"
)

// Breaker events of ObserveBreaker.
const (
	breakerOpen     = "open"
	breakerHalfOpen = "half_open"
	breakerClosed   = "closed"
	breakerRejected = "rejected"
	breakerDisabled = "disabled" // only in BackendStat.Breaker
)

// reloadSuccess is the ObserveReload result that sets the last-success timestamp.
const reloadSuccess = "success"

// ObserveAttempt records one attempt sent to backend in
// continuum_upstream_attempts_total{backend,outcome}; outcome is "success",
// "failure", "capacity" or "ignored" (resilience.Outcome's String values).
// When outcome is "failure" or "capacity" it also counts
// continuum_upstream_errors_total{backend,kind}, kind naming the error
// (for instance "connect", "timeout_first_token", "status_503").
func (m *Metrics) ObserveAttempt(backend, outcome, kind string) {
	if m == nil {
		return
	}
	b := m.backends.value(backend)
	m.attempts.WithLabelValues(b, m.outcomes.value(outcome)).Inc()
	if outcome == outcomeFailure || outcome == outcomeCapacity {
		m.upstreamErrors.WithLabelValues(b, m.kinds.value(kind)).Inc()
	}
}

// ObserveRetry records that an attempt on backend failed with the error kind
// and the request was tried again, in continuum_retries_total{backend,reason}.
func (m *Metrics) ObserveRetry(backend, kind string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(m.backends.value(backend), m.reasons.value(kind)).Inc()
}

// ObserveBudgetExhausted records a retry refused by the retry budget in
// continuum_retry_budget_exhausted_total.
func (m *Metrics) ObserveBudgetExhausted() {
	if m == nil {
		return
	}
	m.budgetExhausted.Inc()
}

// ObserveBreaker records a circuit breaker event of backend. The events
// "open", "half_open" and "closed" (and any other except "rejected") count in
// continuum_circuit_breaker_transitions_total{backend,state}; "rejected"
// counts in continuum_circuit_breaker_rejections_total{backend}.
func (m *Metrics) ObserveBreaker(backend, event string) {
	if m == nil {
		return
	}
	b := m.backends.value(backend)
	if event == breakerRejected {
		m.breakerRejections.WithLabelValues(b).Inc()
		return
	}
	m.breakerTransitions.WithLabelValues(b, m.breakerStates.value(event)).Inc()
}

// ObserveHealthChange records that backend's health changed to the state to
// ("ready", "warming_up", "down" or "unknown") in
// continuum_backend_health_transitions_total{backend,state}.
func (m *Metrics) ObserveHealthChange(backend, to string) {
	if m == nil {
		return
	}
	m.healthTransitions.WithLabelValues(m.backends.value(backend), m.healthStates.value(to)).Inc()
}

// ObserveReload records a configuration load or reload in
// continuum_config_reloads_total{result}; result is "success" or "failure".
// On success it also sets continuum_config_last_reload_success_timestamp_seconds
// to Options.Now. Report the initial load as a success too, so that the
// timestamp is never 0 in a running router.
func (m *Metrics) ObserveReload(result string) {
	if m == nil {
		return
	}
	m.reloads.WithLabelValues(m.results.value(result)).Inc()
	if result == reloadSuccess {
		m.lastReloadSuccess.Set(float64(m.now().UnixNano()) / 1e9)
	}
}

// ObserveRateLimited records a request refused by a rate limit of scope
// ("global", "api_key", "client", "model", or one of those followed by
// "_tokens" for a token limit) in continuum_rate_limited_total{scope}.
func (m *Metrics) ObserveRateLimited(scope string) {
	if m == nil {
		return
	}
	m.rateLimited.WithLabelValues(m.scopes.value(scope)).Inc()
}

// ObserveLoadShed records a request refused by load shedding in
// continuum_load_shed_total.
func (m *Metrics) ObserveLoadShed() {
	if m == nil {
		return
	}
	m.loadShed.Inc()
}

// ObserveAuthFailure records a request refused by authentication in
// continuum_auth_failures_total{reason}; reason is "missing", "invalid",
// "disabled", "expired", "forbidden_model" or "missing_scope".
func (m *Metrics) ObserveAuthFailure(reason string) {
	if m == nil {
		return
	}
	m.authFailures.WithLabelValues(m.authReasons.value(reason)).Inc()
}

// ObservePanic records a panic recovered while serving a request in
// continuum_panics_total.
func (m *Metrics) ObservePanic() {
	if m == nil {
		return
	}
	m.panics.Inc()
}

// ObserveCache records a request that could reuse an answer in
// continuum_cache_requests_total{result}; result is "hit", "shared" or
// "miss".
func (m *Metrics) ObserveCache(result string) {
	if m == nil {
		return
	}
	m.cacheRequests.WithLabelValues(m.cacheResults.value(result)).Inc()
}

// ObserveCacheStoreError records a failed call to the Redis store of kept
// answers in continuum_cache_store_errors_total.
func (m *Metrics) ObserveCacheStoreError() {
	if m == nil {
		return
	}
	m.cacheStoreErrors.Inc()
}
