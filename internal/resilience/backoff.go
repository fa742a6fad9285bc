package resilience

import (
	"math"
	"math/rand/v2"
	"time"
)

// BackoffKind names how successive delays grow. Its values equal the YAML
// values of circuit_breaker.backoff.
type BackoffKind string

// Backoff kinds.
const (
	// Constant makes every delay Base.
	Constant BackoffKind = "constant"
	// Exponential makes the n-th delay Base*2^n, capped at Max.
	Exponential BackoffKind = "exponential"
	// EqualJitter takes the exponential delay d and returns d/2 + rand[0, d/2).
	EqualJitter BackoffKind = "equal_jitter"
	// FullJitter takes the exponential delay d and returns rand[0, d).
	FullJitter BackoffKind = "full_jitter"
)

// Valid reports whether k is one of the four backoff kinds. The config
// package uses it to reject unknown values; at run time an invalid kind
// behaves as Exponential.
func (k BackoffKind) Valid() bool {
	switch k {
	case Constant, Exponential, EqualJitter, FullJitter:
		return true
	}
	return false
}

// maxDuration is the largest time.Duration; growing delays saturate there.
const maxDuration = time.Duration(math.MaxInt64)

// Backoff computes delays that grow with each attempt.
type Backoff struct {
	// Kind selects how delays grow. The zero value, and any invalid kind,
	// means Exponential.
	Kind BackoffKind
	// Base is the first delay (n = 0). Zero or negative gives zero delays.
	Base time.Duration
	// Max caps every delay before jitter is applied. Zero or negative means
	// no cap (the delay then saturates at the largest time.Duration).
	Max time.Duration
}

// Delay returns the n-th delay; n = 0 is the first and a negative n counts as
// 0. It never overflows, whatever n. Jitter kinds draw from r; r may be nil
// for Constant and Exponential, and a nil r makes the jitter kinds return the
// un-jittered exponential delay.
func (b Backoff) Delay(n int, r *rand.Rand) time.Duration {
	d := b.ceiling(n)
	if r == nil {
		return d
	}
	switch b.Kind {
	case EqualJitter:
		return equalJitter(d, r)
	case FullJitter:
		if d <= 0 {
			return 0
		}
		return time.Duration(r.Int64N(int64(d)))
	default:
		return d
	}
}

// ceiling returns the n-th delay before jitter: Base for Constant, otherwise
// Base*2^n; both capped at Max.
func (b Backoff) ceiling(n int) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	d := b.Base
	if b.Kind != Constant && n > 0 {
		if n >= 63 || d > maxDuration>>uint(n) {
			d = maxDuration
		} else {
			d <<= uint(n)
		}
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	return d
}

// equalJitter returns d/2 + rand[0, d/2).
func equalJitter(d time.Duration, r *rand.Rand) time.Duration {
	half := d / 2
	if half <= 0 {
		return half
	}
	return half + time.Duration(r.Int64N(int64(half)))
}

// RetryDelay is the retry block's rule for the pause before a retry: base,
// doubled per attempt when exponential, capped at maxDelay (zero or negative
// means no cap), with equal jitter (d/2 + rand[0, d/2)) when jitter is on.
// attempt is 1 for the delay before the second attempt; smaller values count
// as 1. r may be nil when jitter is off; with jitter on, a nil r disables it.
func RetryDelay(attempt int, base, maxDelay time.Duration, exponential, jitter bool, r *rand.Rand) time.Duration {
	kind := Constant
	if exponential {
		kind = Exponential
	}
	d := Backoff{Kind: kind, Base: base, Max: maxDelay}.ceiling(attempt - 1)
	if jitter && r != nil {
		d = equalJitter(d, r)
	}
	return d
}
