// Package route maps a requested model to the backends that can serve it:
// alias resolution, then the model's own backends, then its fallback models
// in order. A Table is immutable; a new one is built whenever the backends
// or their discovered models change.
package route

import (
	"slices"
	"sort"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/openai"
)

// maxAliasHops bounds alias chains (alias → alias → model).
const maxAliasHops = 8

// Group is one model and the backends that serve it, in configuration order.
type Group struct {
	// Model is the model name sent to these backends.
	Model string
	// Index identifies the group within its Table (0 ≤ Index < Table.Len()),
	// so callers can keep per-group state such as a balancing policy.
	Index int
	// Backends serve Model; never empty.
	Backends []*backend.Backend
}

// Resolution is the routing plan for one requested model.
type Resolution struct {
	// Model is the requested model after alias resolution.
	Model string
	// Groups lists the model's own group first (when any backend serves it),
	// then each fallback model that has backends, in configured order.
	Groups []Group
}

// Table is an immutable routing table.
type Table struct {
	aliases   map[string]string
	groups    []Group
	byModel   map[string]int
	plans     map[string][]Group // resolved model → its group then fallback groups
	fallbacks map[string][]string
	list      []openai.Model
}

// Build makes a table from backends (each serving b.ServedModels()), model
// aliases (alias → model) and fallbacks (model → ordered fallback models).
// created is the "created" timestamp reported in the model list, and
// metadata (model → metadata; nil for none) is shown with each model and
// its aliases. The table keeps metadata's maps: they must not change.
func Build(backends []*backend.Backend, aliases map[string]string, fallbacks map[string][]string, created int64, metadata map[string]map[string]any) *Table {
	t := &Table{aliases: aliases, byModel: map[string]int{}, plans: map[string][]Group{}, fallbacks: fallbacks}
	for _, b := range backends {
		for _, m := range b.ServedModels() {
			i, ok := t.byModel[m]
			if !ok {
				i = len(t.groups)
				t.byModel[m] = i
				t.groups = append(t.groups, Group{Model: m, Index: i})
			}
			if !slices.Contains(t.groups[i].Backends, b) {
				t.groups[i].Backends = append(t.groups[i].Backends, b)
			}
		}
	}
	for _, g := range t.groups {
		t.plans[g.Model] = t.plan(g.Model, g.Model)
	}
	for alias := range aliases {
		if m := t.canonical(alias); m != "" {
			if _, ok := t.plans[alias]; !ok || alias != m {
				t.plans[alias] = t.plan(alias, m)
			}
		}
	}
	for model := range fallbacks {
		if _, ok := t.plans[model]; !ok {
			if p := t.plan(model, model); len(p) > 0 {
				t.plans[model] = p
			}
		}
	}
	t.list = t.buildList(created, metadata)
	return t
}

// canonical follows aliases from name and returns the final model name.
func (t *Table) canonical(name string) string {
	for i := 0; i < maxAliasHops; i++ {
		next, ok := t.aliases[name]
		if !ok || next == name {
			return name
		}
		name = next
	}
	return name
}

// plan builds the group list for a requested name resolving to model.
func (t *Table) plan(requested, model string) []Group {
	var out []Group
	seen := map[string]bool{}
	add := func(m string) {
		m = t.canonical(m)
		if seen[m] {
			return
		}
		seen[m] = true
		if i, ok := t.byModel[m]; ok {
			out = append(out, t.groups[i])
		}
	}
	add(model)
	for _, name := range []string{requested, model} {
		for _, fb := range t.fallbacks[name] {
			add(fb)
		}
	}
	return out
}

// Resolve returns the routing plan for a requested model, and false when no
// backend serves it or any of its fallbacks.
func (t *Table) Resolve(requested string) (Resolution, bool) {
	groups, ok := t.plans[requested]
	if !ok || len(groups) == 0 {
		return Resolution{}, false
	}
	return Resolution{Model: t.canonical(requested), Groups: groups}, true
}

// Len returns the number of groups (distinct served models).
func (t *Table) Len() int { return len(t.groups) }

// Group returns the group with the given index.
func (t *Table) Group(i int) Group { return t.groups[i] }

// Models returns the model list for GET /v1/models: every served model with
// its backends, then every alias of a served model, sorted by id. The slice
// is shared; callers must not modify it.
func (t *Table) Models() []openai.Model { return t.list }

func (t *Table) buildList(created int64, metadata map[string]map[string]any) []openai.Model {
	var out []openai.Model
	entry := func(g Group) openai.Model {
		names := make([]string, len(g.Backends))
		for i, b := range g.Backends {
			names[i] = b.Name
		}
		return openai.Model{ID: g.Model, Object: "model", Created: created, OwnedBy: names[0], Backends: names, Metadata: metadata[g.Model]}
	}
	for _, g := range t.groups {
		if t.canonical(g.Model) == g.Model { // an alias with the same name shadows a served model
			out = append(out, entry(g))
		}
	}
	for alias := range t.aliases {
		m := t.canonical(alias)
		i, ok := t.byModel[m]
		if !ok || m == alias {
			continue
		}
		e := entry(t.groups[i])
		e.ID, e.AliasFor = alias, m
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
