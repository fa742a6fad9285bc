package balance

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLeastLatencyPick(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name   string
		specs  []spec
		filter Filter
		want   string // space-separated picks
	}{
		{"unmeasured first, in turn", []spec{{name: "a", latency: 10 * ms}, {name: "b"}, {name: "c"}}, nil,
			"b c b c"},
		{"fastest", []spec{{name: "a", latency: 100 * ms}, {name: "b", latency: 50 * ms}, {name: "c", latency: 200 * ms}}, nil,
			"b b b"},
		{"ties rotate", []spec{{name: "a", latency: 100 * ms}, {name: "b", latency: 100 * ms}, {name: "c", latency: 200 * ms}}, nil,
			"a b a b"},
		{"skips unavailable", []spec{{name: "a", latency: 100 * ms}, {name: "b", latency: 50 * ms}, {name: "c", latency: 200 * ms}}, except("b"),
			"a a a"},
		{"skips unavailable unmeasured", []spec{{name: "a", latency: 100 * ms}, {name: "b"}, {name: "c", latency: 20 * ms}}, except("b"),
			"c c c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewLeastLatency(newBackends(t, c.specs...))
			want := strings.Fields(c.want)
			if got := pickNames(p, c.filter, "", len(want)); !slices.Equal(got, want) {
				t.Errorf("picks = %v, want %v", got, want)
			}
		})
	}
}

func TestLeastLatencyExploresThenExploits(t *testing.T) {
	bs := named(t, "a", "b", "c")
	observed := map[string]time.Duration{"a": 300 * time.Millisecond, "b": 100 * time.Millisecond, "c": 200 * time.Millisecond}
	p := NewLeastLatency(bs)
	var got []string
	for range 6 { // every answer is measured at once
		b := p.Pick(nil, "")
		b.State.ObserveLatency(observed[b.Name])
		got = append(got, b.Name)
	}
	// Each backend is measured once (the turn counter is shared, so after a
	// comes c, then b), then the fastest takes every request.
	want := []string{"a", "c", "b", "b", "b", "b"}
	if !slices.Equal(got, want) {
		t.Errorf("picks = %v, want %v", got, want)
	}

	// b slows down past c: the EWMA moves and c takes over.
	for range 10 {
		find(t, bs, "b").State.ObserveLatency(time.Second)
	}
	if got := name(p.Pick(nil, "")); got != "c" {
		t.Errorf("after b slowed down, picked %s, want c", got)
	}
}
