package resilience

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		n    int
		want time.Duration
	}{
		{"constant first", Backoff{Kind: Constant, Base: time.Second, Max: 10 * time.Second}, 0, time.Second},
		{"constant later", Backoff{Kind: Constant, Base: time.Second, Max: 10 * time.Second}, 7, time.Second},
		{"constant capped", Backoff{Kind: Constant, Base: time.Minute, Max: time.Second}, 3, time.Second},
		{"exponential first", Backoff{Kind: Exponential, Base: 30 * time.Second, Max: 300 * time.Second}, 0, 30 * time.Second},
		{"exponential third", Backoff{Kind: Exponential, Base: 30 * time.Second, Max: 300 * time.Second}, 2, 120 * time.Second},
		{"exponential capped", Backoff{Kind: Exponential, Base: 30 * time.Second, Max: 300 * time.Second}, 4, 300 * time.Second},
		{"exponential no cap", Backoff{Kind: Exponential, Base: time.Second}, 10, 1024 * time.Second},
		{"zero kind is exponential", Backoff{Base: time.Second, Max: time.Hour}, 3, 8 * time.Second},
		{"unknown kind is exponential", Backoff{Kind: "linear", Base: time.Second, Max: time.Hour}, 3, 8 * time.Second},
		{"negative n is first", Backoff{Kind: Exponential, Base: time.Second}, -4, time.Second},
		{"huge n capped", Backoff{Kind: Exponential, Base: time.Second, Max: time.Hour}, 1 << 30, time.Hour},
		{"huge n saturates", Backoff{Kind: Exponential, Base: time.Second}, 1 << 30, maxDuration},
		{"n 62 saturates", Backoff{Kind: Exponential, Base: time.Nanosecond}, 63, maxDuration},
		{"large n just fits", Backoff{Kind: Exponential, Base: time.Nanosecond}, 62, 1 << 62},
		{"zero base", Backoff{Kind: Exponential, Max: time.Hour}, 5, 0},
		{"negative base", Backoff{Kind: Exponential, Base: -time.Second}, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.b.Delay(tt.n, nil); got != tt.want {
				t.Errorf("Delay(%d): got %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestBackoffJitterBounds(t *testing.T) {
	tests := []struct {
		kind     BackoffKind
		low      func(d time.Duration) time.Duration
		distinct int // at least this many different values per n
	}{
		{EqualJitter, func(d time.Duration) time.Duration { return d / 2 }, 50},
		{FullJitter, func(time.Duration) time.Duration { return 0 }, 50},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			b := Backoff{Kind: tt.kind, Base: 30 * time.Second, Max: 300 * time.Second}
			for n := range 8 {
				d := Backoff{Kind: Exponential, Base: b.Base, Max: b.Max}.Delay(n, nil)
				seen := map[time.Duration]bool{}
				for range 1000 {
					got := b.Delay(n, r)
					if got < tt.low(d) || got >= d {
						t.Fatalf("Delay(%d): got %v, want in [%v, %v)", n, got, tt.low(d), d)
					}
					seen[got] = true
				}
				if len(seen) < tt.distinct {
					t.Errorf("Delay(%d): got %d distinct values in 1000 draws, want at least %d", n, len(seen), tt.distinct)
				}
			}
		})
	}
}

func TestBackoffJitterIsReproducible(t *testing.T) {
	for _, kind := range []BackoffKind{EqualJitter, FullJitter} {
		t.Run(string(kind), func(t *testing.T) {
			b := Backoff{Kind: kind, Base: time.Second, Max: time.Minute}
			r1, r2 := rand.New(rand.NewPCG(7, 7)), rand.New(rand.NewPCG(7, 7))
			for n := range 10 {
				if got, want := b.Delay(n, r1), b.Delay(n, r2); got != want {
					t.Fatalf("Delay(%d) with equal seeds: got %v and %v, want equal", n, got, want)
				}
			}
		})
	}
}

func TestBackoffJitterWithoutRandIsCeiling(t *testing.T) {
	for _, kind := range []BackoffKind{EqualJitter, FullJitter} {
		t.Run(string(kind), func(t *testing.T) {
			b := Backoff{Kind: kind, Base: time.Second, Max: time.Minute}
			if got, want := b.Delay(2, nil), 4*time.Second; got != want {
				t.Errorf("Delay(2, nil): got %v, want %v", got, want)
			}
		})
	}
}

func TestBackoffKindValid(t *testing.T) {
	tests := []struct {
		kind BackoffKind
		want bool
	}{
		{Constant, true},
		{Exponential, true},
		{EqualJitter, true},
		{FullJitter, true},
		{"", false},
		{"Exponential", false},
		{"linear", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := tt.kind.Valid(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	const base, maxDelay = 50 * time.Millisecond, 5 * time.Second
	tests := []struct {
		name        string
		attempt     int
		exponential bool
		want        time.Duration
	}{
		{"first retry", 1, true, 50 * time.Millisecond},
		{"second retry doubles", 2, true, 100 * time.Millisecond},
		{"fifth retry", 5, true, 800 * time.Millisecond},
		{"capped", 10, true, maxDelay},
		{"huge attempt capped", 1 << 40, true, maxDelay},
		{"attempt 0 counts as 1", 0, true, 50 * time.Millisecond},
		{"constant", 5, false, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryDelay(tt.attempt, base, maxDelay, tt.exponential, false, nil); got != tt.want {
				t.Errorf("RetryDelay(%d): got %v, want %v", tt.attempt, got, tt.want)
			}
		})
	}
	t.Run("no cap", func(t *testing.T) {
		if got, want := RetryDelay(4, base, 0, true, false, nil), 400*time.Millisecond; got != want {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("equal jitter", func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for attempt := 1; attempt <= 10; attempt++ {
			d := RetryDelay(attempt, base, maxDelay, true, false, nil)
			for range 200 {
				if got := RetryDelay(attempt, base, maxDelay, true, true, r); got < d/2 || got >= d {
					t.Fatalf("RetryDelay(%d) with jitter: got %v, want in [%v, %v)", attempt, got, d/2, d)
				}
			}
		}
	})
}
