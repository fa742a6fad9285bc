package metrics

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse runs every method from several goroutines while scrapes
// and source swaps happen; run with -race. Totals must add up.
func TestConcurrentUse(t *testing.T) {
	const (
		workers = 8
		perW    = 500
	)
	m, reg := newTestMetrics(t, Options{MaxLabelValues: 20})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(42, uint64(w)))
			for i := range perW {
				backend := "b" + strconv.Itoa(rng.IntN(5))
				m.ObserveRequest(Request{
					Endpoint: "chat_completions",
					Model:    "m" + strconv.Itoa(rng.IntN(40)), // beyond the cap of 20
					Backend:  backend,
					Status:   []int{200, 429, 502, 0}[rng.IntN(4)],
					Duration: time.Duration(rng.IntN(1000)) * time.Millisecond,
					TTFT:     time.Duration(rng.IntN(100)) * time.Millisecond,
					Overhead: time.Duration(rng.IntN(100)) * time.Microsecond,
					HasUsage: true, PromptTokens: 1, CompletionTokens: 2,
					Aborted: i%10 == 0,
				})
				m.ObserveAttempt(backend, "failure", "connect")
				m.ObserveRetry(backend, "connect")
				m.ObserveBreaker(backend, "rejected")
				m.ObserveHealthChange(backend, "down")
				m.ObserveAuthFailure("invalid")
			}
		})
	}
	// Scrapes and source swaps while the workers run.
	wg.Go(func() {
		for i := range 20 {
			n := i
			m.SetBackendSource(func() []BackendStat {
				return []BackendStat{{Name: "b" + strconv.Itoa(n%5), Up: true, Health: "ready", Breaker: "closed"}}
			})
			if _, err := reg.Gather(); err != nil {
				t.Errorf("Gather: %v", err)
			}
		}
	})
	wg.Wait()

	const total = workers * perW
	sum := 0.0
	for _, mf := range gather(t, reg) {
		if mf.GetName() == "continuum_requests_total" {
			for _, s := range mf.GetMetric() {
				sum += s.GetCounter().GetValue()
			}
		}
	}
	if sum != total {
		t.Errorf("got %v requests in continuum_requests_total, want %d", sum, total)
	}
	if got := value(t, reg, "continuum_auth_failures_total", labels{"reason": "invalid"}); got != total {
		t.Errorf("got %v auth failures, want %d", got, total)
	}
	if n := m.models.len(); n != 20 {
		t.Errorf("got %d models admitted, want the cap 20", n)
	}
	lintClean(t, reg)
}
