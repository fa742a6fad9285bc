package route

import (
	"slices"
	"testing"

	"github.com/continuumhq/continuum/internal/backend"
)

func be(name string, models ...string) *backend.Backend {
	return &backend.Backend{Name: name, Models: models, State: backend.NewState()}
}

func names(g Group) []string {
	var out []string
	for _, b := range g.Backends {
		out = append(out, b.Name)
	}
	return out
}

func TestResolve(t *testing.T) {
	a := be("a", "llama-8b", "llama-70b")
	b := be("b", "llama-8b")
	c := be("c", "qwen")
	disc := &backend.Backend{Name: "d", State: backend.NewState()}
	disc.State.SetModels([]string{"mistral"})
	tbl := Build([]*backend.Backend{a, b, c, disc},
		map[string]string{"gpt-4o-mini": "llama-8b", "small": "gpt-4o-mini", "qwen": "llama-8b", "ghost": "nowhere"},
		map[string][]string{"llama-70b": {"gpt-4o-mini", "missing", "mistral"}, "unserved": {"qwen"}},
		1700000000, nil)

	type group struct {
		model    string
		backends []string
	}
	tests := []struct {
		requested string
		model     string
		groups    []group
	}{
		{"llama-8b", "llama-8b", []group{{"llama-8b", []string{"a", "b"}}}},
		{"gpt-4o-mini", "llama-8b", []group{{"llama-8b", []string{"a", "b"}}}},
		{"small", "llama-8b", []group{{"llama-8b", []string{"a", "b"}}}},
		{"qwen", "llama-8b", []group{{"llama-8b", []string{"a", "b"}}}}, // an alias shadows a served model
		{"llama-70b", "llama-70b", []group{{"llama-70b", []string{"a"}}, {"llama-8b", []string{"a", "b"}}, {"mistral", []string{"d"}}}},
		{"mistral", "mistral", []group{{"mistral", []string{"d"}}}},
		{"unserved", "unserved", []group{{"llama-8b", []string{"a", "b"}}}}, // only its fallback is served
	}
	for _, tt := range tests {
		t.Run(tt.requested, func(t *testing.T) {
			res, ok := tbl.Resolve(tt.requested)
			if !ok {
				t.Fatal("not resolved")
			}
			if res.Model != tt.model {
				t.Errorf("model: got %q, want %q", res.Model, tt.model)
			}
			var got []group
			for _, g := range res.Groups {
				got = append(got, group{g.Model, names(g)})
				if tbl.Group(g.Index).Model != g.Model {
					t.Errorf("group index %d does not name %q", g.Index, g.Model)
				}
			}
			if !slices.EqualFunc(got, tt.groups, func(x, y group) bool { return x.model == y.model && slices.Equal(x.backends, y.backends) }) {
				t.Errorf("groups: got %v, want %v", got, tt.groups)
			}
		})
	}
	for _, missing := range []string{"nope", "ghost", ""} {
		if _, ok := tbl.Resolve(missing); ok {
			t.Errorf("Resolve(%q): got ok, want not found", missing)
		}
	}
}

func TestModels(t *testing.T) {
	a := be("a", "m1", "m2")
	b := be("b", "m1")
	tbl := Build([]*backend.Backend{a, b}, map[string]string{"alias": "m1", "m2": "m1"}, nil, 42, nil)
	var got []string
	for _, m := range tbl.Models() {
		got = append(got, m.ID+"="+m.AliasFor+":"+m.OwnedBy+":"+string(rune('0'+len(m.Backends))))
		if m.Object != "model" || m.Created != 42 {
			t.Errorf("%s: object %q created %d", m.ID, m.Object, m.Created)
		}
	}
	want := []string{"alias=m1:a:2", "m1=:a:2", "m2=m1:a:2"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDuplicateModelOnOneBackend(t *testing.T) {
	a := be("a", "m", "m")
	tbl := Build([]*backend.Backend{a}, nil, nil, 0, nil)
	res, _ := tbl.Resolve("m")
	if n := len(res.Groups[0].Backends); n != 1 {
		t.Fatalf("got %d backends, want 1", n)
	}
}
