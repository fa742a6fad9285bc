// Package resilience holds the failure handling that stands between a
// picked backend and the upstream call: outcome classes, the circuit
// breaker with its failure policies, backoff with jitter, the sliding
// window both are counted in, the retry budget and Retry-After parsing.
//
// The breaker follows failsafe-rs: it opens on consecutive failures or else
// on a failure rate over a time window, stays open for a backoff that grows
// with every re-open and decays while the backend stays healthy, admits a
// bounded number of half-open probes and reports its transitions through
// instrument hooks. Everything that depends on time takes a clock.Clock and
// every random choice comes from a seeded source, so tests are deterministic.
//
// Nothing here does I/O or logs; the proxy feeds outcomes in and the app
// wires the hooks to metrics and log lines.
package resilience

import "strconv"

// Outcome classifies one finished attempt for the breaker, health tracking
// and metrics.
type Outcome int

// Outcome classes.
const (
	// Success means the backend answered; for a stream, it reached its first
	// content token and finished cleanly.
	Success Outcome = iota
	// Failure counts against health and the breaker: connect error, reset or
	// 5xx before commit, first-token timeout, SSE error before commit,
	// mid-stream abort, or a 200 stream that ends with no content.
	Failure
	// Capacity means the backend is busy, not broken (429, or 503 with
	// Retry-After): the caller cools it down instead of counting a failure.
	Capacity
	// Ignored is never counted: client cancellation, or a 400, 401, 403, 404,
	// 413 or 422 answer that says something about the request, not the backend.
	Ignored
)

// String returns "success", "failure", "capacity" or "ignored", the values
// used in metrics labels and log lines.
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Capacity:
		return "capacity"
	case Ignored:
		return "ignored"
	default:
		return "Outcome(" + strconv.Itoa(int(o)) + ")"
	}
}

// ClassifyStatus classifies an upstream HTTP status answered before commit.
// hasRetryAfter says whether a Retry-After header was present and parseable
// (see ParseRetryAfter).
//
// 2xx is Success; 429 is Capacity, and so is 503 with Retry-After; 408 and
// every other 5xx are Failure; every other 4xx is Ignored, since it describes
// the request rather than the backend. Anything else (1xx, 3xx, or a number
// outside 100–599) is Failure: the backend did not answer the API call.
func ClassifyStatus(status int, hasRetryAfter bool) Outcome {
	switch {
	case status >= 200 && status < 300:
		return Success
	case status == 429:
		return Capacity
	case status == 503 && hasRetryAfter:
		return Capacity
	case status == 408:
		return Failure
	case status >= 400 && status < 500:
		return Ignored
	default:
		return Failure
	}
}
