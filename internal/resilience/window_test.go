package resilience

import (
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

func TestWindowBucketsExpire(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	w := NewWindow(10*time.Second, 10, clk)

	w.Add(true) // t=0s, bucket 0
	clk.Advance(3 * time.Second)
	w.Add(false) // t=3s, bucket 3
	w.Add(true)

	steps := []struct {
		at           time.Duration // since start
		calls, fails int
	}{
		{3 * time.Second, 3, 2},
		{9*time.Second + 999*time.Millisecond, 3, 2},
		{10 * time.Second, 2, 1},  // bucket 0 has left the window
		{12 * time.Second, 2, 1},  // bucket 3 is still in it
		{13 * time.Second, 0, 0},  // and now gone
		{100 * time.Second, 0, 0}, // long idle
	}
	origin := clk.Now().Add(-3 * time.Second)
	for _, s := range steps {
		clk.Set(origin.Add(s.at))
		calls, fails := w.Counts()
		if calls != s.calls || fails != s.fails {
			t.Errorf("at %v: got %d calls, %d failures; want %d, %d", s.at, calls, fails, s.calls, s.fails)
		}
	}
}

func TestWindowReusesBuckets(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	w := NewWindow(4*time.Second, 4, clk)
	for i := range 12 { // one call per second for 12s
		w.Add(i%2 == 0)
		clk.Advance(time.Second)
	}
	// At t=12s the window holds the calls of 9s, 10s and 11s (bucket 12 is empty).
	if calls, fails := w.Counts(); calls != 3 || fails != 1 {
		t.Errorf("got %d calls, %d failures; want 3, 1", calls, fails)
	}
}

func TestWindowReset(t *testing.T) {
	clk := clock.NewFake(time.Time{})
	w := NewWindow(time.Minute, 6, clk)
	w.Add(true)
	w.Add(false)
	w.Reset()
	if calls, fails := w.Counts(); calls != 0 || fails != 0 {
		t.Errorf("after Reset: got %d calls, %d failures; want 0, 0", calls, fails)
	}
	w.Add(true)
	if calls, fails := w.Counts(); calls != 1 || fails != 1 {
		t.Errorf("after Reset and Add: got %d calls, %d failures; want 1, 1", calls, fails)
	}
}

func TestWindowDefaults(t *testing.T) {
	tests := []struct {
		name        string
		size        time.Duration
		buckets     int
		wantWidth   time.Duration
		wantBuckets int
	}{
		{"zero", 0, 0, 3 * time.Second, 10},
		{"negative", -time.Second, -1, 3 * time.Second, 10},
		{"more buckets than nanoseconds", 3, 10, 1, 10},
		{"explicit", time.Minute, 6, 10 * time.Second, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWindow(tt.size, tt.buckets, clock.NewFake(time.Time{}))
			if w.r.width != tt.wantWidth || len(w.r.slots) != tt.wantBuckets {
				t.Errorf("got width %v and %d buckets, want %v and %d", w.r.width, len(w.r.slots), tt.wantWidth, tt.wantBuckets)
			}
		})
	}
}
