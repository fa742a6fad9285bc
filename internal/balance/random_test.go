package balance

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRandomUniform(t *testing.T) {
	const picks = 10_000
	cases := []struct {
		name   string
		filter Filter
		want   []string // the backends that share the picks evenly
	}{
		{"all available", nil, []string{"a", "b", "c", "d"}},
		{"skips unavailable", except("b"), []string{"a", "c", "d"}},
		{"one left", except("a", "b", "c"), []string{"d"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewRandom(named(t, "a", "b", "c", "d"), rand.NewPCG(1, 2))
			counts := countPicks(p, c.filter, "", picks)
			checkWithin(t, counts, c.want, picks/len(c.want), 0.05)
			if total := sumCounts(counts, c.want); total != picks {
				t.Errorf("picked the available backends %d times, want %d (counts %v)", total, picks, counts)
			}
		})
	}
}

func TestRandomReproducible(t *testing.T) {
	bs := named(t, "a", "b", "c", "d")
	first := pickNames(NewRandom(bs, rand.NewPCG(42, 0)), nil, "", 50)
	second := pickNames(NewRandom(bs, rand.NewPCG(42, 0)), nil, "", 50)
	if !slices.Equal(first, second) {
		t.Errorf("same seed gave different picks:\n%v\n%v", first, second)
	}
	viaNew, err := New(RandomName, bs, 42)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := New(RandomName, bs, 42)
	if a, b := pickNames(viaNew, nil, "", 50), pickNames(again, nil, "", 50); !slices.Equal(a, b) {
		t.Errorf("New with the same seed gave different picks:\n%v\n%v", a, b)
	}
}

func TestRandomNilSource(t *testing.T) {
	p := NewRandom(named(t, "a", "b"), nil)
	counts := countPicks(p, nil, "", 1000)
	if counts["a"]+counts["b"] != 1000 {
		t.Errorf("counts = %v, want 1000 picks of a or b", counts)
	}
}

// sumCounts adds up the counts of the named backends.
func sumCounts(counts map[string]int, names []string) int {
	total := 0
	for _, n := range names {
		total += counts[n]
	}
	return total
}
