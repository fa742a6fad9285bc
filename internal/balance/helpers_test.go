package balance

import (
	"slices"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
)

// spec describes one test backend: its name, weight, requests in flight and
// observed latency (0: none observed).
type spec struct {
	name     string
	weight   int
	inFlight int
	latency  time.Duration
}

// newBackends builds one backend with a fresh State per spec, with the given
// requests in flight and one latency observation when latency is set.
func newBackends(t testing.TB, specs ...spec) []*backend.Backend {
	t.Helper()
	bs := make([]*backend.Backend, len(specs))
	for i, s := range specs {
		b := &backend.Backend{Name: s.name, Type: backend.OpenAI, URL: "http://" + s.name, Weight: s.weight, State: backend.NewState()}
		for range s.inFlight {
			b.State.Acquire()
		}
		if s.latency > 0 {
			b.State.ObserveLatency(s.latency)
		}
		bs[i] = b
	}
	return bs
}

// named builds weight-1, idle, unmeasured backends with the given names.
func named(t testing.TB, names ...string) []*backend.Backend {
	t.Helper()
	specs := make([]spec, len(names))
	for i, n := range names {
		specs[i] = spec{name: n, weight: 1}
	}
	return newBackends(t, specs...)
}

// find returns the backend called name; the test fails if there is none.
func find(t testing.TB, bs []*backend.Backend, name string) *backend.Backend {
	t.Helper()
	for _, b := range bs {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("no backend %q", name)
	return nil
}

// except returns a Filter that rejects the named backends and admits the rest.
func except(names ...string) Filter {
	return FilterFunc(func(b *backend.Backend) bool { return !slices.Contains(names, b.Name) })
}

// rejectAll is a Filter that admits no backend.
var rejectAll Filter = FilterFunc(func(*backend.Backend) bool { return false })

// name returns b's name, or "<nil>".
func name(b *backend.Backend) string {
	if b == nil {
		return "<nil>"
	}
	return b.Name
}

// pickNames picks n times and returns the picked names in order.
func pickNames(p Policy, f Filter, key string, n int) []string {
	got := make([]string, n)
	for i := range got {
		got[i] = name(p.Pick(f, key))
	}
	return got
}

// countPicks picks n times and counts the picks per backend name.
func countPicks(p Policy, f Filter, key string, n int) map[string]int {
	counts := map[string]int{}
	for range n {
		counts[name(p.Pick(f, key))]++
	}
	return counts
}

// checkWithin fails unless each named count is within tolerance (a fraction)
// of want.
func checkWithin(t *testing.T, counts map[string]int, names []string, want int, tolerance float64) {
	t.Helper()
	lo, hi := float64(want)*(1-tolerance), float64(want)*(1+tolerance)
	for _, n := range names {
		if got := float64(counts[n]); got < lo || got > hi {
			t.Errorf("backend %s picked %v times, want %d ± %.0f%% (all counts: %v)", n, got, want, tolerance*100, counts)
		}
	}
}
