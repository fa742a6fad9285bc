package resilience

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// hookLog records hook calls as "open 30s consecutive_failures",
// "half_open", "closed" and "reject".
type hookLog struct {
	mu  sync.Mutex
	got []string
}

func (h *hookLog) hooks() Hooks {
	return Hooks{
		OnOpen:     func(d time.Duration, reason string) { h.add(fmt.Sprintf("open %v %s", d, reason)) },
		OnHalfOpen: func() { h.add("half_open") },
		OnClose:    func() { h.add("closed") },
		OnReject:   func() { h.add("reject") },
	}
}

func (h *hookLog) add(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got = append(h.got, s)
}

// take returns the calls recorded since the last take.
func (h *hookLog) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.got
	h.got = nil
	return got
}

func (h *hookLog) expect(t *testing.T, want ...string) {
	t.Helper()
	if got := h.take(); !slices.Equal(got, want) {
		t.Fatalf("hooks: got %q, want %q", got, want)
	}
}

func newTestBreaker(t *testing.T, cfg BreakerConfig) (*Breaker, *clock.Fake, *hookLog) {
	t.Helper()
	clk := clock.NewFake(time.Time{})
	log := &hookLog{}
	return NewBreaker(cfg, clk, 1, log.hooks()), clk, log
}

func mustAllow(t *testing.T, b *Breaker) Permit {
	t.Helper()
	p, ok := b.Allow()
	if !ok {
		t.Fatalf("Allow in state %v: got rejected, want admitted", b.State())
	}
	return p
}

func mustReject(t *testing.T, b *Breaker) {
	t.Helper()
	if p, ok := b.Allow(); ok {
		p.Done(Ignored)
		t.Fatalf("Allow in state %v: got admitted, want rejected", b.State())
	}
}

// attempts runs one admitted attempt per outcome.
func attempts(t *testing.T, b *Breaker, outcomes ...Outcome) {
	t.Helper()
	for _, o := range outcomes {
		mustAllow(t, b).Done(o)
	}
}

func repeat(o Outcome, n int) []Outcome {
	s := make([]Outcome, n)
	for i := range s {
		s[i] = o
	}
	return s
}

func wantState(t *testing.T, b *Breaker, want State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("State: got %v, want %v", got, want)
	}
}

// reopen lets the open time elapse and fails one probe.
func reopen(t *testing.T, b *Breaker, clk *clock.Fake) {
	t.Helper()
	clk.Set(b.OpenUntil())
	p := mustAllow(t, b)
	if !p.Probe() {
		t.Fatal("Probe: got false, want true")
	}
	p.Done(Failure)
	wantState(t, b, Open)
}

// halfOpen lets the open time elapse.
func halfOpen(t *testing.T, b *Breaker, clk *clock.Fake) {
	t.Helper()
	clk.Set(b.OpenUntil())
	wantState(t, b, HalfOpen)
}

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Closed, "closed"},
		{Open, "open"},
		{HalfOpen, "half_open"},
		{State(7), "State(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBreakerOpensAtFifthConsecutiveFailure(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 5})
	for i := 1; i <= 4; i++ {
		attempts(t, b, Failure)
		wantState(t, b, Closed)
	}
	attempts(t, b, Failure)
	wantState(t, b, Open)
	log.expect(t, "open 30s consecutive_failures")
	if got, want := b.OpenUntil(), clk.Now().Add(30*time.Second); !got.Equal(want) {
		t.Errorf("OpenUntil: got %v, want %v", got, want)
	}
	if got := b.Level(); got != 1 {
		t.Errorf("Level: got %d, want 1", got)
	}
}

func TestBreakerClosedCounting(t *testing.T) {
	tests := []struct {
		name         string
		outcomes     []Outcome
		wantState    State
		wantCalls    int
		wantFailures int
	}{
		{"success resets the run", slices.Concat(repeat(Failure, 4), []Outcome{Success}, repeat(Failure, 4)), Closed, 9, 8},
		{"capacity and ignored change nothing", slices.Concat(repeat(Failure, 4), repeat(Capacity, 10), repeat(Ignored, 10)), Closed, 4, 4},
		{"capacity does not break the run", slices.Concat(repeat(Failure, 4), []Outcome{Capacity, Ignored, Failure}), Open, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, _ := newTestBreaker(t, BreakerConfig{FailureThreshold: 5})
			attempts(t, b, tt.outcomes...)
			wantState(t, b, tt.wantState)
			calls, failures := b.window.sums(clk.Now())
			if calls != tt.wantCalls || failures != tt.wantFailures {
				t.Errorf("window: got %d calls, %d failures; want %d, %d", calls, failures, tt.wantCalls, tt.wantFailures)
			}
		})
	}
}

func TestBreakerOpenDurationGrows(t *testing.T) {
	tests := []struct {
		kind       BackoffKind
		want       []time.Duration
		wantLevels []int
	}{
		{Exponential,
			[]time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 240 * time.Second, 300 * time.Second, 300 * time.Second, 300 * time.Second},
			[]int{1, 2, 3, 4, 4, 4, 4}},
		{Constant,
			[]time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second},
			[]int{0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			cfg := BreakerConfig{FailureThreshold: 1, Timeout: 30 * time.Second, MaxTimeout: 300 * time.Second, Backoff: tt.kind}
			b, clk, _ := newTestBreaker(t, cfg)
			attempts(t, b, Failure)
			for i, want := range tt.want {
				if i > 0 {
					reopen(t, b, clk)
				}
				if got := b.OpenUntil().Sub(clk.Now()); got != want {
					t.Fatalf("open #%d: got %v, want %v", i+1, got, want)
				}
				if got := b.Level(); got != tt.wantLevels[i] {
					t.Fatalf("Level after open #%d: got %d, want %d", i+1, got, tt.wantLevels[i])
				}
			}
		})
	}
}

func TestBreakerJitterOpenDurations(t *testing.T) {
	tests := []struct {
		kind BackoffKind
		low  func(d time.Duration) time.Duration
	}{
		{EqualJitter, func(d time.Duration) time.Duration { return d / 2 }},
		{FullJitter, func(time.Duration) time.Duration { return 0 }},
	}
	ceilings := []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 240 * time.Second, 300 * time.Second, 300 * time.Second}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			run := func() []time.Duration {
				cfg := BreakerConfig{FailureThreshold: 1, Backoff: tt.kind}
				b, clk, _ := newTestBreaker(t, cfg)
				attempts(t, b, Failure)
				var got []time.Duration
				for i, d := range ceilings {
					if i > 0 {
						reopen(t, b, clk)
					}
					openFor := b.OpenUntil().Sub(clk.Now())
					if openFor < tt.low(d) || openFor >= d {
						t.Fatalf("open #%d: got %v, want in [%v, %v)", i+1, openFor, tt.low(d), d)
					}
					got = append(got, openFor)
				}
				return got
			}
			first, second := run(), run()
			if !slices.Equal(first, second) {
				t.Errorf("open durations with the same seed: got %v and %v, want equal", first, second)
			}
		})
	}
}

func TestBreakerLevelDecays(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
	attempts(t, b, Failure) // 30s
	reopen(t, b, clk)       // 60s
	reopen(t, b, clk)       // 120s
	halfOpen(t, b, clk)
	mustAllow(t, b).Done(Success)
	wantState(t, b, Closed)
	log.take()

	steps := []struct {
		after time.Duration
		want  int
	}{
		{0, 3},
		{119 * time.Second, 3},
		{time.Second, 2}, // one full 120s period
		{119 * time.Second, 2},
		{time.Second, 1},
		{120 * time.Second, 0},
		{time.Hour, 0},
	}
	for _, s := range steps {
		clk.Advance(s.after)
		if got := b.Level(); got != s.want {
			t.Fatalf("Level after %v more: got %d, want %d", s.after, got, s.want)
		}
	}
	attempts(t, b, Failure)
	log.expect(t, "open 30s consecutive_failures")
}

func TestBreakerLevelDecaysOnTrip(t *testing.T) {
	// Decay is evaluated when the breaker trips, without anyone reading Level.
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
	attempts(t, b, Failure) // 30s
	reopen(t, b, clk)       // 60s
	halfOpen(t, b, clk)
	mustAllow(t, b).Commit()
	wantState(t, b, Closed)
	log.take()

	clk.Advance(60 * time.Second) // one period: level 2 -> 1
	attempts(t, b, Failure)
	log.expect(t, "open 1m0s consecutive_failures")
}

func TestBreakerFlappingKeepsGrowing(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
	attempts(t, b, Failure)
	var got []string
	for range 6 {
		halfOpen(t, b, clk)
		mustAllow(t, b).Done(Success) // closes
		clk.Advance(10 * time.Second) // less than any decay period
		attempts(t, b, Failure)       // and trips again
	}
	for _, s := range log.take() {
		if len(s) > 4 && s[:4] == "open" {
			got = append(got, s)
		}
	}
	want := []string{
		"open 30s consecutive_failures",
		"open 1m0s consecutive_failures",
		"open 2m0s consecutive_failures",
		"open 4m0s consecutive_failures",
		"open 5m0s consecutive_failures",
		"open 5m0s consecutive_failures",
		"open 5m0s consecutive_failures",
	}
	if !slices.Equal(got, want) {
		t.Errorf("opens: got %q, want %q", got, want)
	}
}

func TestBreakerFailureRate(t *testing.T) {
	tests := []struct {
		name     string
		failAt   func(i int) bool // i counts calls from 0
		calls    int
		wantTrip int // 1-based call that trips; 0 = never
	}{
		{"30% trips at the 20th call", func(i int) bool { return i%10 == 0 || i%10 == 3 || i%10 == 6 }, 100, 20},
		{"1% never trips", func(i int) bool { return i%100 == 50 }, 300, 0},
		{"every call failing waits for the minimum", func(int) bool { return true }, 100, 20},
		{"exactly the threshold trips", func(i int) bool { return i%4 == 3 }, 100, 20},
		{"just below the threshold never trips", func(i int) bool { return i%5 == 4 }, 300, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := BreakerConfig{FailureRateThreshold: 0.25, MinimumRequests: 20}
			b, _, log := newTestBreaker(t, cfg)
			for i := range tt.calls {
				o := Success
				if tt.failAt(i) {
					o = Failure
				}
				attempts(t, b, o)
				if b.State() == Open {
					if i+1 != tt.wantTrip {
						t.Fatalf("opened at call %d, want %d", i+1, tt.wantTrip)
					}
					log.expect(t, "open 30s failure_rate")
					return
				}
			}
			if tt.wantTrip != 0 {
				t.Fatalf("never opened in %d calls, want at call %d", tt.calls, tt.wantTrip)
			}
		})
	}
}

func TestBreakerFailureRateWindowExpires(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		want    State
	}{
		{"still in the window", 27 * time.Second, Open},
		{"slid out of the window", 30 * time.Second, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := BreakerConfig{FailureRateThreshold: 0.5, MinimumRequests: 4, Window: 30 * time.Second, WindowBuckets: 10}
			b, clk, _ := newTestBreaker(t, cfg)
			attempts(t, b, Failure, Failure, Failure)
			wantState(t, b, Closed)
			clk.Advance(tt.advance)
			attempts(t, b, Failure)
			wantState(t, b, tt.want)
		})
	}
}

func TestBreakerDisabledPolicies(t *testing.T) {
	tests := []struct {
		name string
		cfg  BreakerConfig
	}{
		{"both disabled", BreakerConfig{}},
		{"negative values disable", BreakerConfig{FailureThreshold: -1, FailureRateThreshold: -0.5}},
		{"rate only, below the minimum", BreakerConfig{FailureRateThreshold: 0.5, MinimumRequests: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, log := newTestBreaker(t, tt.cfg)
			attempts(t, b, repeat(Failure, 500)...)
			wantState(t, b, Closed)
			log.expect(t)
		})
	}
	t.Run("consecutive only", func(t *testing.T) {
		b, _, _ := newTestBreaker(t, BreakerConfig{FailureThreshold: 3})
		for range 100 { // a 2-in-3 failure rate never opens on its own
			attempts(t, b, Failure, Failure, Success)
		}
		wantState(t, b, Closed)
	})
}

func TestBreakerOpenRejects(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
	attempts(t, b, Failure)
	log.take()
	for range 3 {
		mustReject(t, b)
	}
	if b.Available() {
		t.Error("Available while open: got true, want false")
	}
	log.expect(t, "reject", "reject", "reject")

	clk.Advance(30*time.Second - time.Nanosecond)
	mustReject(t, b)
	log.expect(t, "reject")
}

func TestBreakerTurnsHalfOpenLazily(t *testing.T) {
	tests := []struct {
		name string
		call func(b *Breaker)
	}{
		{"State", func(b *Breaker) { b.State() }},
		{"Available", func(b *Breaker) { b.Available() }},
		{"OpenUntil", func(b *Breaker) { b.OpenUntil() }},
		{"Allow", func(b *Breaker) {
			if p, ok := b.Allow(); ok {
				p.Done(Ignored)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
			attempts(t, b, Failure)
			log.take()
			clk.Advance(30 * time.Second)
			tt.call(b)
			log.expect(t, "half_open")
			if got := b.state; got != HalfOpen {
				t.Fatalf("state after %s: got %v, want half_open", tt.name, got)
			}
			if got := b.OpenUntil(); !got.IsZero() {
				t.Errorf("OpenUntil when half-open: got %v, want zero", got)
			}
			b.State()
			b.Available()
			log.expect(t) // once per transition
		})
	}
}

func TestBreakerAvailableHasNoSideEffects(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, HalfOpenMaxRequests: 1})
	if !b.Available() {
		t.Fatal("Available while closed: got false, want true")
	}
	attempts(t, b, Failure)
	halfOpen(t, b, clk)
	log.take()
	for range 3 {
		if !b.Available() {
			t.Fatal("Available with a free probe slot: got false, want true")
		}
	}
	p := mustAllow(t, b) // Available did not take the slot
	if b.Available() {
		t.Error("Available with every probe slot taken: got true, want false")
	}
	log.expect(t) // and never reported a reject
	p.Done(Ignored)
}

func TestBreakerHalfOpenProbes(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, HalfOpenMaxRequests: 3, HalfOpenSuccessThreshold: 5})
	attempts(t, b, Failure)
	halfOpen(t, b, clk)
	log.take()

	var probes []Permit
	for range 3 {
		p := mustAllow(t, b)
		if !p.Probe() {
			t.Fatal("Probe on a half-open permit: got false, want true")
		}
		probes = append(probes, p)
	}
	mustReject(t, b)
	log.expect(t, "reject")

	probes[0].Done(Capacity) // frees its slot without a verdict
	wantState(t, b, HalfOpen)
	probes[0] = mustAllow(t, b)
	mustReject(t, b)

	probes[1].Done(Ignored)
	wantState(t, b, HalfOpen)
	probes[1] = mustAllow(t, b)
	mustReject(t, b)
	log.expect(t, "reject", "reject")

	for _, p := range probes {
		p.Done(Ignored)
	}
	if b.successes != 0 {
		t.Errorf("successes after only Capacity and Ignored: got %d, want 0", b.successes)
	}
}

func TestBreakerCommitCloses(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
	attempts(t, b, Failure)
	halfOpen(t, b, clk)
	log.take()

	p := mustAllow(t, b)
	p.Commit()
	wantState(t, b, Closed)
	log.expect(t, "closed")
	p.Commit()
	p.Done(Success)
	log.expect(t)
	if calls, _ := b.window.sums(clk.Now()); calls != 0 {
		t.Errorf("window after closing: got %d calls, want 0", calls)
	}
	if p2 := mustAllow(t, b); p2.Probe() {
		t.Error("Probe on a closed permit: got true, want false")
	}
}

func TestBreakerSuccessThreshold(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, HalfOpenSuccessThreshold: 2})
	attempts(t, b, Failure)
	halfOpen(t, b, clk)
	log.take()

	p := mustAllow(t, b)
	p.Commit()
	p.Commit()
	p.Done(Success) // counted once, at Commit
	wantState(t, b, HalfOpen)

	mustAllow(t, b).Done(Success)
	wantState(t, b, Closed)
	log.expect(t, "closed")
}

func TestBreakerProbeFailureReopens(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, HalfOpenSuccessThreshold: 2})
	attempts(t, b, Failure)
	halfOpen(t, b, clk)
	log.take()

	p := mustAllow(t, b)
	p.Commit() // one success, not enough to close
	p.Done(Failure)
	wantState(t, b, Open)
	log.expect(t, "open 1m0s probe_failure")
	if got := b.Level(); got != 2 {
		t.Errorf("Level: got %d, want 2", got)
	}
}

func TestBreakerCommittedProbeFailsAfterClosing(t *testing.T) {
	t.Run("committed probe counts as a closed failure", func(t *testing.T) {
		b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 2})
		attempts(t, b, Failure, Failure)
		halfOpen(t, b, clk)
		p := mustAllow(t, b)
		p.Commit()
		wantState(t, b, Closed)
		log.take()

		p.Done(Failure) // mid-stream abort after the commit closed the breaker
		wantState(t, b, Closed)
		attempts(t, b, Failure) // the second consecutive failure
		wantState(t, b, Open)
		log.expect(t, "open 1m0s consecutive_failures")
	})
	t.Run("uncommitted sibling probe is ignored", func(t *testing.T) {
		b, clk, _ := newTestBreaker(t, BreakerConfig{FailureThreshold: 2, HalfOpenMaxRequests: 2})
		attempts(t, b, Failure, Failure)
		halfOpen(t, b, clk)
		committed, sibling := mustAllow(t, b), mustAllow(t, b)
		committed.Commit()
		wantState(t, b, Closed)

		sibling.Done(Failure)
		attempts(t, b, Failure)
		wantState(t, b, Closed) // one counted failure, not two
		committed.Done(Success)
	})
}

func TestBreakerStaleGenerationIgnored(t *testing.T) {
	t.Run("closed permit failing after the breaker opened", func(t *testing.T) {
		b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 2})
		slow := mustAllow(t, b)
		attempts(t, b, Failure, Failure)
		until := b.OpenUntil()
		log.take()

		slow.Done(Failure)
		if got := b.OpenUntil(); !got.Equal(until) {
			t.Errorf("OpenUntil after a stale failure: got %v, want %v", got, until)
		}
		if got := b.Level(); got != 1 {
			t.Errorf("Level after a stale failure: got %d, want 1", got)
		}
		log.expect(t)

		halfOpen(t, b, clk)
		slow.Done(Success) // a second, stale report cannot close the breaker
		wantState(t, b, HalfOpen)
	})
	t.Run("closed permit failing after a full cycle", func(t *testing.T) {
		b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
		slow := mustAllow(t, b)
		attempts(t, b, Failure)
		halfOpen(t, b, clk)
		mustAllow(t, b).Done(Success)
		wantState(t, b, Closed)
		log.take()

		slow.Done(Failure)
		wantState(t, b, Closed)
		log.expect(t)
	})
	t.Run("probe of an earlier half-open period", func(t *testing.T) {
		b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, HalfOpenMaxRequests: 2})
		attempts(t, b, Failure)
		halfOpen(t, b, clk)
		failing, slow := mustAllow(t, b), mustAllow(t, b)
		failing.Done(Failure) // re-opens for 60s
		halfOpen(t, b, clk)
		log.take()

		slow.Commit()
		slow.Done(Failure)
		wantState(t, b, HalfOpen)
		log.expect(t)
		a, c := mustAllow(t, b), mustAllow(t, b) // both slots of this period are free
		mustReject(t, b)
		a.Done(Ignored)
		c.Done(Ignored)
	})
	t.Run("second Done of a probe", func(t *testing.T) {
		b, clk, _ := newTestBreaker(t, BreakerConfig{FailureThreshold: 1, HalfOpenMaxRequests: 2, HalfOpenSuccessThreshold: 2})
		attempts(t, b, Failure)
		halfOpen(t, b, clk)
		p := mustAllow(t, b)
		p.Done(Success)
		p.Done(Success)
		wantState(t, b, HalfOpen)
	})
}

func TestBreakerHooksInOrder(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 3})
	attempts(t, b, Failure, Failure, Failure)
	mustReject(t, b)
	clk.Advance(30 * time.Second)
	p := mustAllow(t, b)
	mustReject(t, b)
	p.Done(Success)
	attempts(t, b, Success)
	log.expect(t, "open 30s consecutive_failures", "reject", "half_open", "reject", "closed")
}

func TestBreakerHooksMayCallBack(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	var b *Breaker
	var states []State
	hooks := Hooks{
		OnOpen:     func(time.Duration, string) { states = append(states, b.State()) },
		OnHalfOpen: func() { states = append(states, b.State()) },
		OnClose:    func() { states = append(states, b.State()) },
		OnReject:   func() { states = append(states, b.State()) },
	}
	b = NewBreaker(BreakerConfig{FailureThreshold: 1}, clk, 1, hooks)
	attempts(t, b, Failure)
	mustReject(t, b)
	clk.Advance(30 * time.Second)
	mustAllow(t, b).Done(Success)
	if want := []State{Open, Open, HalfOpen, Closed}; !slices.Equal(states, want) {
		t.Errorf("states seen by hooks: got %v, want %v", states, want)
	}
}

func TestBreakerReconfigure(t *testing.T) {
	t.Run("keeps an open breaker open", func(t *testing.T) {
		b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 1})
		attempts(t, b, Failure)
		reopen(t, b, clk)
		until := b.OpenUntil()
		log.take()

		b.Reconfigure(BreakerConfig{FailureThreshold: 10, Timeout: 5 * time.Second, MaxTimeout: time.Hour})
		wantState(t, b, Open)
		if got := b.OpenUntil(); !got.Equal(until) {
			t.Errorf("OpenUntil: got %v, want %v", got, until)
		}
		if got := b.Level(); got != 2 {
			t.Errorf("Level: got %d, want 2", got)
		}
		reopen(t, b, clk) // the new Timeout at the kept level: 5s*2^2
		log.expect(t, "half_open", "open 20s probe_failure")
	})
	t.Run("keeps the counts of a closed breaker", func(t *testing.T) {
		b, clk, _ := newTestBreaker(t, BreakerConfig{FailureThreshold: 5})
		attempts(t, b, Success, Failure, Failure, Failure)
		b.Reconfigure(BreakerConfig{FailureThreshold: 4})
		wantState(t, b, Closed)
		if calls, failures := b.window.sums(clk.Now()); calls != 4 || failures != 3 {
			t.Errorf("window: got %d calls, %d failures; want 4, 3", calls, failures)
		}
		attempts(t, b, Failure)
		wantState(t, b, Open)
	})
	t.Run("moves the counts into a resized window", func(t *testing.T) {
		b, clk, _ := newTestBreaker(t, BreakerConfig{FailureRateThreshold: 0.5, MinimumRequests: 4})
		attempts(t, b, Success, Failure, Failure)
		b.Reconfigure(BreakerConfig{FailureRateThreshold: 0.5, MinimumRequests: 4, Window: time.Minute, WindowBuckets: 6})
		if calls, failures := b.window.sums(clk.Now()); calls != 3 || failures != 2 {
			t.Errorf("window: got %d calls, %d failures; want 3, 2", calls, failures)
		}
		if got := b.window.width; got != 10*time.Second {
			t.Errorf("bucket width: got %v, want 10s", got)
		}
		attempts(t, b, Failure)
		wantState(t, b, Open)
	})
}

func TestBreakerReset(t *testing.T) {
	b, clk, log := newTestBreaker(t, BreakerConfig{FailureThreshold: 2})
	slow := mustAllow(t, b)
	attempts(t, b, Failure, Failure)
	reopen(t, b, clk)
	log.take()

	b.Reset()
	wantState(t, b, Closed)
	log.expect(t, "closed")
	if got := b.Level(); got != 0 {
		t.Errorf("Level after Reset: got %d, want 0", got)
	}
	if got := b.OpenUntil(); !got.IsZero() {
		t.Errorf("OpenUntil after Reset: got %v, want zero", got)
	}
	slow.Done(Failure) // issued before Reset
	attempts(t, b, Failure)
	wantState(t, b, Closed)

	b.Reset() // already closed: no hook
	log.expect(t)
	attempts(t, b, Failure, Failure)
	log.expect(t, "open 30s consecutive_failures")
}

func TestBreakerConfigDefaults(t *testing.T) {
	got := BreakerConfig{MaxTimeout: time.Second, Backoff: "linear"}.withDefaults()
	want := BreakerConfig{
		MinimumRequests:          20,
		Window:                   30 * time.Second,
		WindowBuckets:            10,
		Timeout:                  30 * time.Second,
		MaxTimeout:               30 * time.Second, // raised to Timeout
		Backoff:                  Exponential,
		HalfOpenMaxRequests:      1,
		HalfOpenSuccessThreshold: 1,
	}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	def := DefaultBreakerConfig()
	if def.FailureThreshold != 5 || def.FailureRateThreshold != 0.5 || def.withDefaults() != def {
		t.Errorf("DefaultBreakerConfig: got %+v, want the documented defaults", def)
	}
}

func TestNilBreakerAndZeroPermit(t *testing.T) {
	var b *Breaker
	p, ok := b.Allow()
	if !ok || p.Probe() {
		t.Fatalf("nil Allow: got %v, probe %v; want admitted, not a probe", ok, p.Probe())
	}
	p.Commit()
	p.Done(Failure)
	if !b.Available() || b.State() != Closed || !b.OpenUntil().IsZero() || b.Level() != 0 {
		t.Error("nil breaker: got a state other than closed")
	}
	b.Reconfigure(BreakerConfig{})
	b.Reset()
	var zero Permit
	zero.Commit()
	zero.Done(Success)
}

func TestBreakerConcurrent(t *testing.T) {
	const workers, iterations = 8, 3000
	clk := clock.NewFake(time.Time{})
	var opens, halfOpens, closes, rejects atomic.Int64
	hooks := Hooks{
		OnOpen:     func(time.Duration, string) { opens.Add(1) },
		OnHalfOpen: func() { halfOpens.Add(1) },
		OnClose:    func() { closes.Add(1) },
		OnReject:   func() { rejects.Add(1) },
	}
	cfg := BreakerConfig{
		FailureThreshold:         4,
		FailureRateThreshold:     0.5,
		MinimumRequests:          10,
		Window:                   time.Second,
		Timeout:                  2 * time.Millisecond,
		MaxTimeout:               20 * time.Millisecond,
		Backoff:                  FullJitter,
		HalfOpenMaxRequests:      2,
		HalfOpenSuccessThreshold: 2,
	}
	b := NewBreaker(cfg, clk, 42, hooks)

	var mu sync.Mutex
	inFlight := map[uint64]int{} // probes in flight per half-open generation
	var errs []string
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 99))
			for i := range iterations {
				if i%4 == 0 { // the workers move time along: 3s of fake time in all
					clk.Advance(time.Millisecond)
				}
				b.Available()
				p, ok := b.Allow()
				if !ok {
					continue
				}
				if p.Probe() {
					mu.Lock()
					inFlight[p.gen]++
					if n := inFlight[p.gen]; n > cfg.HalfOpenMaxRequests {
						errs = append(errs, fmt.Sprintf("%d probes in flight in generation %d, want at most %d", n, p.gen, cfg.HalfOpenMaxRequests))
					}
					mu.Unlock()
				}
				o := Outcome(r.IntN(4))
				if r.IntN(2) == 0 {
					p.Commit()
				}
				if p.Probe() {
					mu.Lock()
					inFlight[p.gen]--
					mu.Unlock()
				}
				p.Done(o)
				if r.IntN(50) == 0 {
					b.Level()
					b.OpenUntil()
				}
			}
		})
	}
	wg.Wait()

	for _, e := range errs {
		t.Error(e)
	}
	t.Logf("%d opens, %d half-opens, %d closes, %d rejects", opens.Load(), halfOpens.Load(), closes.Load(), rejects.Load())
	if opens.Load() == 0 || closes.Load() == 0 || rejects.Load() == 0 {
		t.Errorf("got %d opens, %d closes, %d rejects; want some of each", opens.Load(), closes.Load(), rejects.Load())
	}
	// Every open is followed by a half-open except possibly the last one.
	wantHalfOpens := opens.Load()
	if State(b.word.Load()&3) == Open {
		wantHalfOpens--
	}
	if got := halfOpens.Load(); got != wantHalfOpens {
		t.Errorf("half-opens: got %d, want %d (%d opens, final state %v)", got, wantHalfOpens, opens.Load(), State(b.word.Load()&3))
	}
}

func TestAllowDoneClosedDoesNotAllocate(t *testing.T) {
	b := NewBreaker(DefaultBreakerConfig(), clock.Real(), 1, Hooks{})
	got := testing.AllocsPerRun(1000, func() {
		p, _ := b.Allow()
		p.Done(Success)
	})
	if got != 0 {
		t.Errorf("allocations per Allow+Done: got %v, want 0", got)
	}
}

func BenchmarkAllowDoneClosed(b *testing.B) {
	br := NewBreaker(DefaultBreakerConfig(), clock.Real(), 1, Hooks{})
	b.ReportAllocs()
	for b.Loop() {
		p, ok := br.Allow()
		if !ok {
			b.Fatal("Allow: got rejected, want admitted")
		}
		p.Done(Success)
	}
}

func BenchmarkAllowDoneClosedParallel(b *testing.B) {
	br := NewBreaker(DefaultBreakerConfig(), clock.Real(), 1, Hooks{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, _ := br.Allow()
			p.Done(Success)
		}
	})
}

func BenchmarkAllowClosed(b *testing.B) {
	br := NewBreaker(DefaultBreakerConfig(), clock.Real(), 1, Hooks{})
	b.ReportAllocs()
	for b.Loop() {
		br.Allow()
	}
}
