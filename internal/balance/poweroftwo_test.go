package balance

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPowerOfTwoPick(t *testing.T) {
	const picks = 12_000
	cases := []struct {
		name   string
		specs  []spec
		filter Filter
		want   map[string]float64 // expected share of picks; 0 means never
	}{
		{"avoids the loaded one", []spec{{name: "a", inFlight: 100}, {name: "b"}, {name: "c"}}, nil,
			map[string]float64{"a": 0, "b": 0.5, "c": 0.5}},
		{"two backends: less loaded wins", []spec{{name: "a", inFlight: 2}, {name: "b", inFlight: 1}}, nil,
			map[string]float64{"a": 0, "b": 1}},
		{"equal load: first drawn, so uniform", []spec{{name: "a", inFlight: 1}, {name: "b", inFlight: 1}, {name: "c", inFlight: 1}}, nil,
			map[string]float64{"a": 1.0 / 3, "b": 1.0 / 3, "c": 1.0 / 3}},
		// With loads 0, 1, 2, 3 a backend wins only against busier ones: the
		// idle one wins every pair it is in (half of them), the busiest none.
		{"less loaded wins more", []spec{{name: "a"}, {name: "b", inFlight: 1}, {name: "c", inFlight: 2}, {name: "d", inFlight: 3}}, nil,
			map[string]float64{"a": 1.0 / 2, "b": 1.0 / 3, "c": 1.0 / 6, "d": 0}},
		{"one available, however loaded", []spec{{name: "a", inFlight: 100}, {name: "b"}}, except("b"),
			map[string]float64{"a": 1, "b": 0}},
		{"skips unavailable", []spec{{name: "a"}, {name: "b"}, {name: "c", inFlight: 3}, {name: "d", inFlight: 3}}, except("a"),
			map[string]float64{"a": 0, "b": 2.0 / 3, "c": 1.0 / 6, "d": 1.0 / 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewPowerOfTwo(newBackends(t, c.specs...), rand.NewPCG(3, 4))
			counts := countPicks(p, c.filter, "", picks)
			for n, share := range c.want {
				if share == 0 {
					if counts[n] != 0 {
						t.Errorf("%s picked %d times, want 0 (counts %v)", n, counts[n], counts)
					}
					continue
				}
				checkWithin(t, counts, []string{n}, int(share*picks+0.5), 0.05)
			}
		})
	}
}

func TestPowerOfTwoReproducible(t *testing.T) {
	bs := newBackends(t, spec{name: "a"}, spec{name: "b"}, spec{name: "c"})
	first, _ := New(PowerOfTwoName, bs, 9)
	second, _ := New(PowerOfTwoName, bs, 9)
	if a, b := pickNames(first, nil, "", 50), pickNames(second, nil, "", 50); !slices.Equal(a, b) {
		t.Errorf("same seed gave different picks:\n%v\n%v", a, b)
	}
}
