package limit

import (
	"math"
	"time"
)

// epsilon absorbs floating-point rounding in token counts: a bucket holding
// 0.9999999999 tokens after an exact refill of one token counts as holding one.
const epsilon = 1e-9

// Spec is a token-bucket rate.
type Spec struct {
	// RatePerSecond is the sustained rate in requests per second; fractional
	// rates such as 0.5 (one request every two seconds) are allowed. Default
	// 0: unlimited. Negative, NaN and infinite rates also mean unlimited.
	RatePerSecond float64
	// Burst is the bucket size: how many requests may come at once after a
	// quiet period. Default 0: max(1, ceil(RatePerSecond)). A negative Burst
	// is treated as 0.
	Burst int
}

// Limited reports whether s limits anything.
func (s Spec) Limited() bool {
	return s.RatePerSecond > 0 && !math.IsInf(s.RatePerSecond, 1)
}

// normalized returns s with its default burst filled in. It is only called on
// limited specs.
func (s Spec) normalized() Spec {
	if s.Burst <= 0 {
		s.Burst = max(1, int(math.Ceil(s.RatePerSecond)))
	}
	return s
}

// bucket is a token bucket refilled lazily, on access: no goroutine or timer
// runs per bucket. It is not safe for concurrent use; the Limiter's mutex
// guards it.
type bucket struct {
	spec   Spec // normalized
	tokens float64
	last   time.Time // when tokens was last brought up to date
}

// reset makes b a full bucket for spec, as of now.
func (b *bucket) reset(spec Spec, now time.Time) {
	b.spec = spec
	b.tokens = float64(spec.Burst)
	b.last = now
}

// refill brings the token count up to now: tokens = min(burst, tokens +
// elapsed*rate). A now before the last refill (a concurrent caller read the
// clock earlier) adds nothing and does not move last backwards.
func (b *bucket) refill(now time.Time) {
	elapsed := now.Sub(b.last)
	if elapsed <= 0 {
		return
	}
	b.tokens = min(float64(b.spec.Burst), b.tokens+float64(elapsed)*b.spec.RatePerSecond/float64(time.Second))
	b.last = now
}

// respec switches b to spec (normalized), keeping its tokens up to the new
// burst, so that a reload neither refunds nor grants a burst. It refills at
// the old rate first.
func (b *bucket) respec(spec Spec, now time.Time) {
	if b.spec == spec {
		return
	}
	b.refill(now)
	b.spec = spec
	b.tokens = min(b.tokens, float64(spec.Burst))
}

// available reports whether one whole token can be taken.
func (b *bucket) available() bool { return b.tokens+epsilon >= 1 }

// take removes one token. The caller checked available.
func (b *bucket) take() { b.tokens = max(0, b.tokens-1) }

// remaining returns the whole tokens left.
func (b *bucket) remaining() int { return int(math.Floor(b.tokens + epsilon)) }

// untilFull returns how long the bucket needs to fill up completely.
func (b *bucket) untilFull() time.Duration { return b.until(float64(b.spec.Burst)) }

// untilAvailable returns how long until one whole token is available.
func (b *bucket) untilAvailable() time.Duration { return b.until(1) }

// until returns how long until the bucket holds n tokens, rounded up to the
// nanosecond so that waiting that long is always enough.
func (b *bucket) until(n float64) time.Duration {
	deficit := n - b.tokens
	if deficit <= epsilon {
		return 0
	}
	ns := deficit * float64(time.Second) / b.spec.RatePerSecond
	// A thousandth of a nanosecond of slack keeps exact results (1s/2 = 0.5s)
	// from being bumped up by rounding noise.
	return time.Duration(math.Ceil(ns - 1e-3))
}

// need is how many tokens must be in b for a charge of cost to pass: the cost
// itself, or the whole burst when the cost is larger than the burst (such a
// charge passes only on a full bucket, and overdraws it).
func (b *bucket) need(cost float64) float64 { return min(cost, float64(b.spec.Burst)) }

// fits reports whether a charge of cost passes with tokens in the bucket.
func (b *bucket) fits(tokens, cost float64) bool { return tokens+epsilon >= b.need(cost) }

// charged returns the token count after a charge of cost from tokens: a
// positive cost may overdraw the bucket (debt), a negative cost refunds up to
// a full bucket, never beyond.
func (b *bucket) charged(tokens, cost float64) float64 {
	return min(float64(b.spec.Burst), tokens-cost)
}

// waitFor returns how long until the bucket, holding tokens, has n: rounded
// up to the nanosecond.
func (b *bucket) waitFor(tokens, n float64) time.Duration {
	deficit := n - tokens
	if deficit <= epsilon {
		return 0
	}
	return time.Duration(math.Ceil(deficit*float64(time.Second)/b.spec.RatePerSecond - 1e-3))
}
