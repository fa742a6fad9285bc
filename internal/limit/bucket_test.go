package limit

import (
	"math"
	"testing"
	"time"
)

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSpecNormalized(t *testing.T) {
	cases := []struct {
		spec        Spec
		wantLimited bool
		wantBurst   int
	}{
		{Spec{RatePerSecond: 2}, true, 2},
		{Spec{RatePerSecond: 0.5}, true, 1},
		{Spec{RatePerSecond: 2.5}, true, 3},
		{Spec{RatePerSecond: 1.0 / 60}, true, 1},
		{Spec{RatePerSecond: 10, Burst: 5}, true, 5},
		{Spec{RatePerSecond: 3, Burst: -4}, true, 3},
		{Spec{}, false, 0},
		{Spec{Burst: 10}, false, 0},
		{Spec{RatePerSecond: -1, Burst: 10}, false, 0},
		{Spec{RatePerSecond: math.NaN()}, false, 0},
		{Spec{RatePerSecond: math.Inf(1)}, false, 0},
	}
	for _, c := range cases {
		if got := c.spec.Limited(); got != c.wantLimited {
			t.Errorf("%+v.Limited() = %t, want %t", c.spec, got, c.wantLimited)
		}
		if got := normalize(c.spec).Burst; got != c.wantBurst {
			t.Errorf("normalize(%+v).Burst = %d, want %d", c.spec, got, c.wantBurst)
		}
	}
}

// step is one action on a bucket and what it should hold afterwards.
type step struct {
	advance        time.Duration
	take           bool
	wantAvailable  bool
	wantRemaining  int
	wantUntilFull  time.Duration
	wantUntilToken time.Duration
}

func TestBucketRefill(t *testing.T) {
	cases := []struct {
		name  string
		spec  Spec
		steps []step
	}{
		{"burst then steady rate", Spec{RatePerSecond: 1, Burst: 3}, []step{
			{take: true, wantAvailable: true, wantRemaining: 2, wantUntilFull: time.Second},
			{take: true, wantAvailable: true, wantRemaining: 1, wantUntilFull: 2 * time.Second},
			{take: true, wantAvailable: false, wantRemaining: 0, wantUntilFull: 3 * time.Second, wantUntilToken: time.Second},
			{advance: 500 * time.Millisecond, wantAvailable: false, wantRemaining: 0, wantUntilFull: 2500 * time.Millisecond, wantUntilToken: 500 * time.Millisecond},
			{advance: 500 * time.Millisecond, wantAvailable: true, wantRemaining: 1, wantUntilFull: 2 * time.Second},
			{take: true, wantAvailable: false, wantRemaining: 0, wantUntilFull: 3 * time.Second, wantUntilToken: time.Second},
			{advance: time.Hour, wantAvailable: true, wantRemaining: 3},
		}},
		{"half a request per second", Spec{RatePerSecond: 0.5}, []step{
			{take: true, wantAvailable: false, wantRemaining: 0, wantUntilFull: 2 * time.Second, wantUntilToken: 2 * time.Second},
			{advance: time.Second, wantAvailable: false, wantRemaining: 0, wantUntilFull: time.Second, wantUntilToken: time.Second},
			{advance: time.Second, wantAvailable: true, wantRemaining: 1},
			{advance: time.Second, wantAvailable: true, wantRemaining: 1},
		}},
		{"ten per second in 100ms steps", Spec{RatePerSecond: 10}, []step{
			{take: true, wantAvailable: true, wantRemaining: 9, wantUntilFull: 100 * time.Millisecond},
			{take: true, wantAvailable: true, wantRemaining: 8, wantUntilFull: 200 * time.Millisecond},
			{advance: 100 * time.Millisecond, wantAvailable: true, wantRemaining: 9, wantUntilFull: 100 * time.Millisecond},
			{advance: 100 * time.Millisecond, wantAvailable: true, wantRemaining: 10},
		}},
		{"sixty per minute-style rate", Spec{RatePerSecond: 1.0 / 60, Burst: 2}, []step{
			{take: true, wantAvailable: true, wantRemaining: 1, wantUntilFull: time.Minute},
			{take: true, wantAvailable: false, wantRemaining: 0, wantUntilFull: 2 * time.Minute, wantUntilToken: time.Minute},
			{advance: time.Minute, wantAvailable: true, wantRemaining: 1, wantUntilFull: time.Minute},
		}},
		{"three per second rounds the wait up", Spec{RatePerSecond: 3, Burst: 1}, []step{
			{take: true, wantAvailable: false, wantRemaining: 0, wantUntilFull: 333333334, wantUntilToken: 333333334},
			{advance: 333333334, wantAvailable: true, wantRemaining: 1},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := start
			var b bucket
			b.reset(normalize(c.spec), now)
			for i, s := range c.steps {
				now = now.Add(s.advance)
				b.refill(now)
				if s.take {
					if !b.available() {
						t.Fatalf("step %d: no token to take", i)
					}
					b.take()
				}
				if got := b.available(); got != s.wantAvailable {
					t.Errorf("step %d: available = %t, want %t", i, got, s.wantAvailable)
				}
				if got := b.remaining(); got != s.wantRemaining {
					t.Errorf("step %d: remaining = %d, want %d", i, got, s.wantRemaining)
				}
				if got := b.untilFull(); got != s.wantUntilFull {
					t.Errorf("step %d: untilFull = %v, want %v", i, got, s.wantUntilFull)
				}
				if got := b.untilAvailable(); got != s.wantUntilToken {
					t.Errorf("step %d: untilAvailable = %v, want %v", i, got, s.wantUntilToken)
				}
			}
		})
	}
}

func TestBucketIgnoresEarlierTime(t *testing.T) {
	var b bucket
	b.reset(Spec{RatePerSecond: 1, Burst: 2}, start)
	b.take()
	b.take()
	b.refill(start.Add(-time.Second))
	if got := b.last; !got.Equal(start) {
		t.Errorf("last after an earlier refill = %v, want %v", got, start)
	}
	if got := b.remaining(); got != 0 {
		t.Errorf("remaining after an earlier refill = %d, want 0", got)
	}
}

func TestBucketRespec(t *testing.T) {
	cases := []struct {
		name          string
		next          Spec
		wantRemaining int
		wantLimit     int
	}{
		{"same spec keeps tokens", Spec{RatePerSecond: 1, Burst: 5}, 2, 5},
		{"larger burst keeps tokens", Spec{RatePerSecond: 1, Burst: 10}, 2, 10},
		{"smaller burst caps tokens", Spec{RatePerSecond: 1, Burst: 1}, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b bucket
			b.reset(Spec{RatePerSecond: 1, Burst: 5}, start)
			b.take()
			b.take()
			b.take()
			b.respec(normalize(c.next), start)
			if got := b.remaining(); got != c.wantRemaining {
				t.Errorf("remaining = %d, want %d", got, c.wantRemaining)
			}
			if got := b.spec.Burst; got != c.wantLimit {
				t.Errorf("burst = %d, want %d", got, c.wantLimit)
			}
		})
	}
}
