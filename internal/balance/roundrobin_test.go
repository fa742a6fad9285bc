package balance

import (
	"slices"
	"strings"
	"testing"
)

func TestRoundRobinPick(t *testing.T) {
	cases := []struct {
		name   string
		names  []string
		filter Filter
		want   string // space-separated picks
	}{
		{"two alternate", []string{"a", "b"}, nil, "a b a b a b"},
		{"three in order", []string{"a", "b", "c"}, nil, "a b c a b c"},
		{"single", []string{"a"}, nil, "a a a"},
		{"skips unavailable and alternates exactly", []string{"a", "b", "c"}, except("b"), "a c a c a c"},
		{"skips first", []string{"a", "b", "c"}, except("a"), "b c b c"},
		{"one left", []string{"a", "b", "c"}, except("a", "c"), "b b b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewRoundRobin(named(t, c.names...))
			want := strings.Fields(c.want)
			if got := pickNames(p, c.filter, "", len(want)); !slices.Equal(got, want) {
				t.Errorf("picks = %v, want %v", got, want)
			}
		})
	}
}

func TestRoundRobinIgnoresKey(t *testing.T) {
	p := NewRoundRobin(named(t, "a", "b"))
	want := []string{"a", "b", "a", "b"}
	if got := pickNames(p, nil, "user-1", len(want)); !slices.Equal(got, want) {
		t.Errorf("picks with a key = %v, want %v", got, want)
	}
}

func TestRoundRobinEvenAfterAvailabilityChanges(t *testing.T) {
	p := NewRoundRobin(named(t, "a", "b", "c"))
	pickNames(p, except("b"), "", 5) // some picks while b is out
	counts := countPicks(p, nil, "", 300)
	for _, n := range []string{"a", "b", "c"} {
		if counts[n] != 100 {
			t.Errorf("after b returned, %s picked %d of 300 times, want 100", n, counts[n])
		}
	}
}
