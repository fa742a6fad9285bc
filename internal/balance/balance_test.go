package balance

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
)

// spellings pairs every canonical name with its snake_case spelling.
var spellings = []struct{ canonical, snake string }{
	{"RoundRobin", "round_robin"},
	{"WeightedRoundRobin", "weighted_round_robin"},
	{"LeastConnections", "least_connections"},
	{"LeastLatency", "least_latency"},
	{"Random", "random"},
	{"PowerOfTwo", "power_of_two"},
	{"ConsistentHash", "consistent_hash"},
}

func TestCanonical(t *testing.T) {
	for _, s := range spellings {
		for _, in := range []string{s.canonical, s.snake} {
			t.Run(in, func(t *testing.T) {
				got, ok := Canonical(in)
				if got != s.canonical || !ok {
					t.Errorf("Canonical(%q) = %q, %v; want %q, true", in, got, ok, s.canonical)
				}
			})
		}
	}
	for _, in := range []string{"", "roundrobin", "ROUND_ROBIN", "Round_Robin", "round-robin", " RoundRobin", "least_conn", "p2c"} {
		t.Run("unknown "+in, func(t *testing.T) {
			if got, ok := Canonical(in); got != "" || ok {
				t.Errorf("Canonical(%q) = %q, %v; want \"\", false", in, got, ok)
			}
		})
	}
}

func TestNames(t *testing.T) {
	got := Names()
	want := make([]string, len(spellings))
	for i, s := range spellings {
		want[i] = s.canonical
	}
	if !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Names()[0] != RoundRobinName {
		t.Errorf("Names()[0] = %q after changing an earlier result, want %q", Names()[0], RoundRobinName)
	}
}

func TestNew(t *testing.T) {
	bs := named(t, "a", "b")
	for _, s := range spellings {
		for _, in := range []string{s.canonical, s.snake} {
			t.Run(in, func(t *testing.T) {
				p, err := New(in, bs, 1)
				if err != nil {
					t.Fatalf("New(%q) error: %v", in, err)
				}
				if got := p.Name(); got != s.canonical {
					t.Errorf("New(%q).Name() = %q, want %q", in, got, s.canonical)
				}
			})
		}
	}
	t.Run("unknown", func(t *testing.T) {
		p, err := New("fastest", bs, 1)
		if !errors.Is(err, ErrUnknownPolicy) {
			t.Errorf("New(\"fastest\") error = %v, want ErrUnknownPolicy", err)
		}
		if p != nil {
			t.Errorf("New(\"fastest\") policy = %v, want nil", p)
		}
	})
}

func TestNewCopiesCandidates(t *testing.T) {
	for _, n := range Names() {
		t.Run(n, func(t *testing.T) {
			bs := named(t, "a")
			p, err := New(n, bs, 1)
			if err != nil {
				t.Fatal(err)
			}
			bs[0] = named(t, "other")[0]
			if got := name(p.Pick(nil, "key")); got != "a" {
				t.Errorf("after changing the caller's slice, picked %s, want a", got)
			}
		})
	}
}

func TestPickNoneAvailable(t *testing.T) {
	cases := []struct {
		name       string
		candidates []*backend.Backend
		filter     Filter
	}{
		{"no candidates", nil, nil},
		{"all rejected", named(t, "a", "b", "c"), rejectAll},
		{"single rejected", named(t, "a"), except("a")},
	}
	for _, n := range Names() {
		for _, c := range cases {
			for _, key := range []string{"", "user-1"} {
				t.Run(fmt.Sprintf("%s/%s/key=%q", n, c.name, key), func(t *testing.T) {
					p, err := New(n, c.candidates, 1)
					if err != nil {
						t.Fatal(err)
					}
					if got := p.Pick(c.filter, key); got != nil {
						t.Errorf("Pick = %s, want nil", got.Name)
					}
				})
			}
		}
	}
}

// countingFilter admits the backends whose names are not in reject and
// counts the calls per backend.
type countingFilter struct {
	reject []string
	calls  map[*backend.Backend]int
}

func (f *countingFilter) Available(b *backend.Backend) bool {
	f.calls[b]++
	return !slices.Contains(f.reject, b.Name)
}

func TestPickCallsFilterAtMostOncePerCandidate(t *testing.T) {
	many := make([]string, 300) // past the stack buffers
	for i := range many {
		many[i] = fmt.Sprintf("b%03d", i)
	}
	cases := []struct {
		name   string
		names  []string
		reject []string
		want   string // "" for any, "<nil>" for nil
	}{
		{"all available", []string{"a", "b", "c"}, nil, ""},
		{"one left", []string{"a", "b", "c"}, []string{"a", "c"}, "b"},
		{"none left", []string{"a", "b", "c"}, []string{"a", "b", "c"}, "<nil>"},
		{"300 candidates one left", many, slices.Delete(slices.Clone(many), 123, 124), "b123"},
		{"300 candidates none left", many, many, "<nil>"},
	}
	for _, n := range Names() {
		for _, c := range cases {
			for _, key := range []string{"", "user-1"} {
				t.Run(fmt.Sprintf("%s/%s/key=%q", n, c.name, key), func(t *testing.T) {
					p, err := New(n, named(t, c.names...), 1)
					if err != nil {
						t.Fatal(err)
					}
					f := &countingFilter{reject: c.reject, calls: map[*backend.Backend]int{}}
					got := name(p.Pick(f, key))
					if c.want != "" && got != c.want {
						t.Errorf("Pick = %s, want %s", got, c.want)
					}
					for b, calls := range f.calls {
						if calls > 1 {
							t.Errorf("Available(%s) called %d times, want at most 1", b.Name, calls)
						}
					}
				})
			}
		}
	}
}

func TestPickConcurrent(t *testing.T) {
	const goroutines, picks = 8, 500
	for _, n := range Names() {
		t.Run(n, func(t *testing.T) {
			bs := newBackends(t,
				spec{name: "a", weight: 3}, spec{name: "b", weight: 1},
				spec{name: "c", weight: 2}, spec{name: "down", weight: 1})
			p, err := New(n, bs, 7)
			if err != nil {
				t.Fatal(err)
			}
			f := except("down")
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Go(func() {
					for i := range picks {
						b := p.Pick(f, fmt.Sprintf("user-%d", (g*picks+i)%50))
						if b == nil || b.Name == "down" {
							errs <- fmt.Errorf("picked %s, want one of a, b, c", name(b))
							return
						}
						b.State.Acquire()
						b.State.ObserveLatency(time.Duration(1+i%3) * time.Millisecond)
						b.State.Release()
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			for _, b := range bs {
				if got := b.State.InFlight(); got != 0 {
					t.Errorf("%s in flight = %d, want 0", b.Name, got)
				}
			}
		})
	}
}

func BenchmarkPick(b *testing.B) {
	bs := newBackends(b,
		spec{name: "a", weight: 3, inFlight: 2, latency: 80 * time.Millisecond},
		spec{name: "b", weight: 1, inFlight: 1, latency: 50 * time.Millisecond},
		spec{name: "c", weight: 2, inFlight: 4, latency: 120 * time.Millisecond},
		spec{name: "d", weight: 1, inFlight: 0, latency: 90 * time.Millisecond})
	routable := FilterFunc(func(b *backend.Backend) bool { return b.State.Health().Routable() })
	for _, n := range Names() {
		b.Run(n, func(b *testing.B) {
			p, err := New(n, bs, 1)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if p.Pick(routable, "user-42") == nil {
					b.Fatal("Pick = nil")
				}
			}
		})
	}
}
