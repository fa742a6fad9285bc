package balance

import (
	"slices"
	"strings"
	"testing"
)

func TestWeightedRoundRobinPick(t *testing.T) {
	cases := []struct {
		name   string
		specs  []spec
		filter Filter
		want   string // space-separated picks
	}{
		{"3:1 smooth", []spec{{name: "a", weight: 3}, {name: "b", weight: 1}}, nil,
			"a a b a  a a b a  a a b a"},
		// nginx's documented sequence for 5:1:1 is a a b a c a a; its longest
		// run of a is 4, across the end of one cycle and the start of the next.
		{"5:1:1 as nginx", []spec{{name: "a", weight: 5}, {name: "b", weight: 1}, {name: "c", weight: 1}}, nil,
			"a a b a c a a  a a b a c a a"},
		{"equal weights alternate", []spec{{name: "a", weight: 2}, {name: "b", weight: 2}}, nil,
			"a b a b a b"},
		{"weight below 1 counts as 1", []spec{{name: "a", weight: 0}, {name: "b", weight: -3}}, nil,
			"a b a b"},
		{"skips unavailable, weights over the rest", []spec{{name: "a", weight: 3}, {name: "c", weight: 2}, {name: "b", weight: 1}}, except("c"),
			"a a b a  a a b a"},
		{"one left", []spec{{name: "a", weight: 3}, {name: "b", weight: 1}}, except("a"),
			"b b b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewWeightedRoundRobin(newBackends(t, c.specs...))
			want := strings.Fields(c.want)
			if got := pickNames(p, c.filter, "", len(want)); !slices.Equal(got, want) {
				t.Errorf("picks = %v, want %v", got, want)
			}
		})
	}
}

func TestWeightedRoundRobinShares(t *testing.T) {
	cases := []struct {
		name    string
		specs   []spec
		window  int            // picks after which the shares are exact
		want    map[string]int // picks per window
		longest int            // longest run of one backend allowed
	}{
		{"3:1", []spec{{name: "a", weight: 3}, {name: "b", weight: 1}}, 4, map[string]int{"a": 3, "b": 1}, 3},
		{"5:1:1", []spec{{name: "a", weight: 5}, {name: "b", weight: 1}, {name: "c", weight: 1}}, 7, map[string]int{"a": 5, "b": 1, "c": 1}, 4},
		{"10:1", []spec{{name: "a", weight: 10}, {name: "b", weight: 1}}, 11, map[string]int{"a": 10, "b": 1}, 10},
		{"2:3:5", []spec{{name: "a", weight: 2}, {name: "b", weight: 3}, {name: "c", weight: 5}}, 10, map[string]int{"a": 2, "b": 3, "c": 5}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewWeightedRoundRobin(newBackends(t, c.specs...))
			picks := pickNames(p, nil, "", 100*c.window)
			for start := 0; start < len(picks); start += c.window {
				got := map[string]int{}
				for _, n := range picks[start : start+c.window] {
					got[n]++
				}
				for n, want := range c.want {
					if got[n] != want {
						t.Fatalf("window at pick %d: %s picked %d times, want %d (window %v)", start, n, got[n], want, picks[start:start+c.window])
					}
				}
			}
			run, longest := 0, 0
			for i := range picks {
				if i > 0 && picks[i] == picks[i-1] {
					run++
				} else {
					run = 1
				}
				longest = max(longest, run)
			}
			if longest > c.longest {
				t.Errorf("longest run of one backend = %d, want at most %d", longest, c.longest)
			}
		})
	}
}
