package balance

import (
	"slices"
	"strings"
	"testing"
)

func TestLeastConnectionsPick(t *testing.T) {
	cases := []struct {
		name   string
		specs  []spec
		filter Filter
		want   string // space-separated picks
	}{
		{"fewest in flight", []spec{{name: "a", inFlight: 3}, {name: "b", inFlight: 1}, {name: "c", inFlight: 2}}, nil,
			"b b b b"},
		{"ties rotate", []spec{{name: "a", inFlight: 1}, {name: "b"}, {name: "c"}}, nil,
			"b c b c b c"},
		{"all tied is round robin", []spec{{name: "a", inFlight: 2}, {name: "b", inFlight: 2}, {name: "c", inFlight: 2}}, nil,
			"a b c a b c"},
		{"skips unavailable", []spec{{name: "a", inFlight: 5}, {name: "b"}, {name: "c", inFlight: 1}}, except("b"),
			"c c c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewLeastConnections(newBackends(t, c.specs...))
			want := strings.Fields(c.want)
			if got := pickNames(p, c.filter, "", len(want)); !slices.Equal(got, want) {
				t.Errorf("picks = %v, want %v", got, want)
			}
		})
	}
}

func TestLeastConnectionsFollowsLoad(t *testing.T) {
	bs := newBackends(t, spec{name: "a", inFlight: 2}, spec{name: "b"}, spec{name: "c", inFlight: 1})
	p := NewLeastConnections(bs)
	var got []string
	for range 6 { // every pick stays in flight
		b := p.Pick(nil, "")
		b.State.Acquire()
		got = append(got, b.Name)
	}
	// b catches up with c, b and c with a, then all three take turns; the
	// turn counter is shared, so ties pick up where the last pick left off.
	want := []string{"b", "c", "b", "a", "b", "c"}
	if !slices.Equal(got, want) {
		t.Errorf("picks = %v, want %v", got, want)
	}
	for _, b := range bs {
		if got := b.State.InFlight(); got != 3 {
			t.Errorf("%s in flight = %d, want 3", b.Name, got)
		}
	}
}
