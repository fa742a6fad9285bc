package metrics

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Request is one finished client request, reported after the response was
// written.
type Request struct {
	// Endpoint names the API called: "chat_completions", "completions",
	// "embeddings", or another fixed name such as "models".
	Endpoint string
	// Model is the served model name; "" for a request that was not routed
	// (recorded as "none").
	Model string
	// Backend is the name of the backend that served the response; "" when
	// none did (recorded as "none").
	Backend string
	// Status is the HTTP status sent to the client; outside 100..599 it is
	// recorded as "other".
	Status int
	// Stream reports whether the client asked for a stream. It is not a label
	// (that would double every series); it is kept for callers that share this
	// value with their access log.
	Stream bool
	// Duration is the whole request, from arrival to the last byte written.
	Duration time.Duration
	// TTFT is the time to first token; zero (or negative) means not observed,
	// and nothing is recorded.
	TTFT time.Duration
	// Overhead is the time spent in the router itself; zero (or negative)
	// means not measured, and nothing is recorded.
	Overhead time.Duration
	// PromptTokens and CompletionTokens are the usage the backend reported;
	// they are recorded only when HasUsage is true.
	PromptTokens, CompletionTokens int
	// HasUsage reports whether the backend reported usage.
	HasUsage bool
	// Aborted reports that a committed stream ended with an error.
	Aborted bool
	// KeyID is the id of the caller's API key; "" for requests without one
	// (recorded as "none").
	KeyID string
}

// requestKey identifies one cached requestSeries. It holds either the values
// the caller passed, when each of them was admitted by its label cap, or the
// recorded label values (with status 0 for "other") when one was not: so the
// cache never holds more keys than there are admitted label tuples.
type requestKey struct {
	endpoint, model, backend string
	status                   int
}

// requestSeries caches the children one label tuple of ObserveRequest feeds,
// so that the hot path does no label hashing and no allocation.
type requestSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
	pair     *pairSeries
}

// pairKey identifies a pairSeries by its recorded model and backend labels.
type pairKey struct{ model, backend string }

// pairSeries holds the children labelled by model and backend (or backend
// alone). Each is created on its first use so that, for instance, an
// embeddings model never shows an empty time-to-first-token histogram.
type pairSeries struct {
	model, backend string // recorded label values

	ttftOnce sync.Once
	ttft     prometheus.Observer

	tokensOnce         sync.Once
	prompt, completion prometheus.Counter

	abortsOnce sync.Once
	aborts     prometheus.Counter
}

// ObserveRequest records one finished client request in
// continuum_requests_total, continuum_request_duration_seconds and, when
// r says they were observed, continuum_time_to_first_token_seconds,
// continuum_overhead_seconds, continuum_tokens_total and
// continuum_stream_aborts_total, and the caller's key in
// continuum_api_key_requests_total and continuum_api_key_tokens_total.
//
// In steady state (a label tuple seen before) it does not allocate.
func (m *Metrics) ObserveRequest(r Request) {
	if m == nil {
		return
	}
	m.keys.observe(&r)
	s := m.requestSeriesFor(requestKey{r.Endpoint, r.Model, r.Backend, r.Status})
	s.requests.Inc()
	s.duration.Observe(r.Duration.Seconds())
	if r.Overhead > 0 {
		m.overhead.Observe(r.Overhead.Seconds())
	}
	p := s.pair
	if r.TTFT > 0 {
		p.ttftOnce.Do(func() { p.ttft = m.ttft.WithLabelValues(p.model, p.backend) })
		p.ttft.Observe(r.TTFT.Seconds())
	}
	if r.HasUsage {
		p.tokensOnce.Do(func() {
			p.prompt = m.tokens.WithLabelValues(p.model, p.backend, "prompt")
			p.completion = m.tokens.WithLabelValues(p.model, p.backend, "completion")
		})
		if r.PromptTokens > 0 {
			p.prompt.Add(float64(r.PromptTokens))
		}
		if r.CompletionTokens > 0 {
			p.completion.Add(float64(r.CompletionTokens))
		}
	}
	if r.Aborted {
		p.abortsOnce.Do(func() { p.aborts = m.streamAborts.WithLabelValues(p.backend) })
		p.aborts.Inc()
	}
}

// requestSeriesFor returns the cached children for raw, creating them on
// first use.
func (m *Metrics) requestSeriesFor(raw requestKey) *requestSeries {
	m.mu.RLock()
	s := m.requests[raw]
	m.mu.RUnlock()
	if s != nil {
		return s
	}
	return m.newRequestSeries(raw)
}

func (m *Metrics) newRequestSeries(raw requestKey) *requestSeries {
	endpoint, okE := m.endpoints.admit(raw.endpoint)
	model, okM := m.models.admit(raw.model)
	backend, okB := m.backends.admit(raw.backend)
	status, okS := statusLabel(raw.status)

	key := raw
	if !okE || !okM || !okB || !okS {
		// Some value became "other": key by the recorded labels, so that
		// endless new values share one entry instead of growing the cache.
		key = requestKey{endpoint, model, backend, raw.status}
		if !okS {
			key.status = 0
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.requests[key]; s != nil {
		return s
	}
	pk := pairKey{model, backend}
	p := m.pairs[pk]
	if p == nil {
		p = &pairSeries{model: model, backend: backend}
		m.pairs[pk] = p
	}
	s := &requestSeries{
		requests: m.requestsTotal.WithLabelValues(endpoint, model, backend, status),
		duration: m.requestDuration.WithLabelValues(endpoint, model, backend),
		pair:     p,
	}
	// Clone: the caller's strings may point into buffers it reuses.
	key.endpoint, key.model, key.backend = strings.Clone(key.endpoint), strings.Clone(key.model), strings.Clone(key.backend)
	m.requests[key] = s
	return s
}
