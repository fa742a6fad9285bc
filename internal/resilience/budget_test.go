package resilience

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// retries calls TryRetry until it refuses (at most limit times) and returns
// how many retries it allowed.
func retries(t *testing.T, b *Budget, limit int) int {
	t.Helper()
	for n := range limit {
		if !b.TryRetry() {
			return n
		}
	}
	return limit
}

func requests(b *Budget, n int) {
	for range n {
		b.Request()
	}
}

func TestBudgetRatio(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	b := NewBudget(BudgetConfig{Ratio: 0.2, MinPerSecond: 0, Window: 10 * time.Second}, clk)

	requests(b, 100)
	if got := retries(t, b, 1000); got != 20 {
		t.Fatalf("after 100 requests: got %d retries, want 20", got)
	}
	if req, ret := b.Counts(); req != 100 || ret != 20 {
		t.Fatalf("Counts: got %d requests, %d retries; want 100, 20", req, ret)
	}

	// Half a window later 100 more requests earn 20 more retries.
	clk.Advance(5 * time.Second)
	requests(b, 100)
	if got := retries(t, b, 1000); got != 20 {
		t.Fatalf("after 100 more requests: got %d retries, want 20", got)
	}

	// Once the first batch slides out, its requests and retries are gone
	// together: the second batch has spent its own budget.
	clk.Advance(5 * time.Second)
	if req, ret := b.Counts(); req != 100 || ret != 20 {
		t.Fatalf("Counts after the first batch expired: got %d requests, %d retries; want 100, 20", req, ret)
	}
	if b.TryRetry() {
		t.Fatal("TryRetry with the budget spent: got true, want false")
	}

	// Once everything has slid out, fresh traffic refills the budget.
	clk.Advance(5 * time.Second)
	if req, ret := b.Counts(); req != 0 || ret != 0 {
		t.Fatalf("Counts after the window slid by: got %d requests, %d retries; want 0, 0", req, ret)
	}
	requests(b, 50)
	if got := retries(t, b, 1000); got != 10 {
		t.Fatalf("after 50 fresh requests: got %d retries, want 10", got)
	}
}

func TestBudgetLimits(t *testing.T) {
	tests := []struct {
		name     string
		cfg      BudgetConfig
		requests int
		want     int
	}{
		{"nothing allowed", BudgetConfig{}, 100, 0},
		{"floor without traffic", BudgetConfig{MinPerSecond: 1, Window: 10 * time.Second}, 0, 10},
		{"floor plus ratio", BudgetConfig{Ratio: 0.2, MinPerSecond: 1, Window: 10 * time.Second}, 100, 30},
		{"zero window means 10s", BudgetConfig{MinPerSecond: 2}, 0, 20},
		{"defaults", DefaultBudgetConfig(), 50, 20},
		{"float error does not grant an extra retry", BudgetConfig{Ratio: 0.1}, 30, 3},
		{"negative ratio is unlimited", BudgetConfig{Ratio: -1}, 0, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(tt.cfg, clock.NewFake(time.Time{}))
			requests(b, tt.requests)
			if got := retries(t, b, 1000); got != tt.want {
				t.Errorf("got %d retries, want %d", got, tt.want)
			}
		})
	}
}

func TestBudgetConcurrent(t *testing.T) {
	const workers, perWorker = 8, 1000
	b := NewBudget(BudgetConfig{Ratio: 0.2, Window: time.Minute}, clock.NewFake(time.Time{}))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				b.Request()
				if b.TryRetry() {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	req, ret := b.Counts()
	if req != workers*perWorker || int64(ret) != allowed.Load() {
		t.Errorf("Counts: got %d requests, %d retries; want %d, %d", req, ret, workers*perWorker, allowed.Load())
	}
	if limit := workers * perWorker / 5; ret > limit {
		t.Errorf("retries: got %d, want at most %d", ret, limit)
	}
}
