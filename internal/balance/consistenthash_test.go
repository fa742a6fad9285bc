package balance

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/backend"
)

// hashKeys returns n distinct request keys.
func hashKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	return keys
}

// mapping returns the backend picked for each key.
func mapping(p Policy, f Filter, keys []string) []string {
	got := make([]string, len(keys))
	for i, k := range keys {
		got[i] = name(p.Pick(f, k))
	}
	return got
}

// without returns bs minus the backend called name.
func without(bs []*backend.Backend, name string) []*backend.Backend {
	return slices.DeleteFunc(slices.Clone(bs), func(b *backend.Backend) bool { return b.Name == name })
}

func TestStableHash(t *testing.T) {
	// These values must never change: router replicas and restarts must
	// agree on every key's backend. They were checked against an
	// independent implementation.
	golden := []struct {
		in   string
		want uint64
	}{
		{"", 0xefd01f60ba992926},
		{"a", 0x82a2a958a9bece5b},
		{"user-42", 0xa39532c7ab051e8d},
		{"vllm-a#0", 0x78dab5648b841a57},
	}
	for _, g := range golden {
		t.Run(fmt.Sprintf("%q", g.in), func(t *testing.T) {
			if got := stableHash(g.in); got != g.want {
				t.Errorf("stableHash(%q) = %#x, want %#x", g.in, got, g.want)
			}
			h := fnv.New64a()
			h.Write([]byte(g.in))
			if got, want := fnv1a64(g.in), h.Sum64(); got != want {
				t.Errorf("fnv1a64(%q) = %#x, want hash/fnv's %#x", g.in, got, want)
			}
		})
	}
}

func TestConsistentHashGolden(t *testing.T) {
	// A fixed key-to-backend mapping, so that a change to the ring layout
	// (which would move every session after an upgrade) fails loudly.
	p := NewConsistentHash(named(t, "vllm-a", "vllm-b", "ollama-c", "llamacpp-d"))
	want := map[string]string{
		"alice": "ollama-c", "bob": "llamacpp-d", "carol": "llamacpp-d", "dave": "ollama-c",
		"erin": "ollama-c", "frank": "vllm-b", "grace": "ollama-c", "heidi": "vllm-a",
	}
	for key, w := range want {
		if got := name(p.Pick(nil, key)); got != w {
			t.Errorf("Pick(%q) = %s, want %s", key, got, w)
		}
	}
}

func TestConsistentHashSticky(t *testing.T) {
	p := NewConsistentHash(named(t, "a", "b", "c", "d"))
	for _, key := range []string{"alice", "bob", "session-7f3a", strings.Repeat("x", 1000)} {
		t.Run(key[:min(len(key), 12)], func(t *testing.T) {
			first := p.Pick(nil, key)
			for i := range 1000 {
				if got := p.Pick(nil, key); got != first {
					t.Fatalf("pick %d for %q = %s, want %s like the first", i, key, name(got), name(first))
				}
			}
		})
	}
}

func TestConsistentHashSpread(t *testing.T) {
	const keys = 10_000
	cases := []struct {
		name   string
		specs  []spec
		shares map[string][2]float64 // allowed [low, high] share of keys
	}{
		{"equal weights", []spec{{name: "a"}, {name: "b"}, {name: "c"}, {name: "d"}},
			map[string][2]float64{"a": {0.15, 0.35}, "b": {0.15, 0.35}, "c": {0.15, 0.35}, "d": {0.15, 0.35}}},
		{"weight 3:1", []spec{{name: "a", weight: 3}, {name: "b", weight: 1}},
			map[string][2]float64{"a": {0.65, 0.85}, "b": {0.15, 0.35}}},
		{"weight capped at 16", []spec{{name: "a", weight: 1000}, {name: "b", weight: 16}},
			map[string][2]float64{"a": {0.4, 0.6}, "b": {0.4, 0.6}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewConsistentHash(newBackends(t, c.specs...))
			counts := map[string]int{}
			for _, n := range mapping(p, nil, hashKeys(keys)) {
				counts[n]++
			}
			for n, r := range c.shares {
				if got := float64(counts[n]) / keys; got < r[0] || got > r[1] {
					t.Errorf("%s holds %.1f%% of keys, want %.0f–%.0f%% (counts %v)", n, got*100, r[0]*100, r[1]*100, counts)
				}
			}
		})
	}
}

func TestConsistentHashMinimalRemapping(t *testing.T) {
	keys := hashKeys(10_000)
	all := named(t, "a", "b", "c", "d")
	full := NewConsistentHash(all)
	before := mapping(full, nil, keys)
	for _, gone := range []string{"a", "b", "c", "d"} {
		t.Run("without "+gone, func(t *testing.T) {
			removed := mapping(NewConsistentHash(without(all, gone)), nil, keys)
			unavailable := mapping(full, except(gone), keys)
			moved := 0
			for i, key := range keys {
				switch {
				case before[i] == gone && removed[i] == gone:
					t.Fatalf("key %q still on removed backend %s", key, gone)
				case before[i] == gone:
					moved++
				case removed[i] != before[i]:
					t.Fatalf("key %q moved from %s to %s, but only keys of %s may move", key, before[i], removed[i], gone)
				}
				if unavailable[i] != removed[i] {
					t.Fatalf("key %q: %s with %s unavailable, want %s as with it removed", key, unavailable[i], gone, removed[i])
				}
			}
			if moved == 0 {
				t.Errorf("no key was on %s", gone)
			}
			// Back again: every key returns to where it was.
			if back := mapping(full, nil, keys); !slices.Equal(back, before) {
				t.Errorf("after %s became available again the mapping differs from the original", gone)
			}
			if readded := mapping(NewConsistentHash(append(without(all, gone), find(t, all, gone))), nil, keys); !slices.Equal(readded, before) {
				t.Errorf("after %s was added back the mapping differs from the original", gone)
			}
		})
	}
}

func TestConsistentHashOrderIndependent(t *testing.T) {
	keys := hashKeys(1000)
	bs := named(t, "a", "b", "c", "d")
	reversed := slices.Clone(bs)
	slices.Reverse(reversed)
	if a, b := mapping(NewConsistentHash(bs), nil, keys), mapping(NewConsistentHash(reversed), nil, keys); !slices.Equal(a, b) {
		t.Error("the mapping depends on the candidate order")
	}
}

func TestConsistentHashSkipsUnavailable(t *testing.T) {
	p := NewConsistentHash(named(t, "a", "b", "c"))
	cases := []struct {
		name   string
		filter Filter
		allow  []string
	}{
		{"one out", except("b"), []string{"a", "c"}},
		{"two out", except("a", "c"), []string{"b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, key := range hashKeys(500) {
				if got := name(p.Pick(c.filter, key)); !slices.Contains(c.allow, got) {
					t.Fatalf("Pick(%q) = %s, want one of %v", key, got, c.allow)
				}
			}
		})
	}
}

func TestConsistentHashEmptyKeyIsRoundRobin(t *testing.T) {
	cases := []struct {
		name   string
		filter Filter
		want   string
	}{
		{"all available", nil, "a b c a b c"},
		{"skips unavailable", except("b"), "a c a c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewConsistentHash(named(t, "a", "b", "c"))
			want := strings.Fields(c.want)
			if got := pickNames(p, c.filter, "", len(want)); !slices.Equal(got, want) {
				t.Errorf("picks = %v, want %v", got, want)
			}
		})
	}
}
