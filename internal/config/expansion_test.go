package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// aliasBomb returns a valid configuration whose model metadata holds
// levels lines of nested anchors, each a list of ten copies of the
// previous one: 10^levels nodes once expanded, in a few hundred bytes.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("backends:\n  - name: a\n    url: http://127.0.0.1:8000\n    model_configs:\n      - id: m\n        metadata:\n")
	b.WriteString("          l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "          l%d: &l%d [%s]\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	return b.String()
}

// TestAliasBomb: a document whose aliases expand past maxExpandedNodes is
// refused at the alias that passes the limit, before anything is expanded
// (little memory), and so is an alias inside the node it refers to.
func TestAliasBomb(t *testing.T) {
	src := aliasBomb(7)
	if len(src) > 1024 {
		t.Fatalf("the bomb is %d bytes, want under 1 KiB", len(src))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	errs := parseErrors(t, src)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("parsing the bomb allocated %d MB, want under 64", alloc>>20)
	}
	// l5 (line 12) expands to 1,111,111 nodes: its ninth alias, at column
	// 55, passes the limit.
	want := "config.yaml:12:55: with its aliases expanded the document holds more than 1000000 nodes"
	if len(errs) != 1 || !strings.HasPrefix(errs[0], want) {
		t.Errorf("got\n%s\nwant one error starting %q", strings.Join(errs, "\n"), want)
	}

	t.Run("in model_metadata_file too", func(t *testing.T) {
		d := newDecoder("models.yaml", noEnv)
		if _, ok := d.document([]byte(strings.Replace(aliasBomb(7), "backends:", "x:", 1))); ok || len(d.errs) != 1 {
			t.Errorf("document: got ok %t and errors %v, want one error", ok, diagStrings(d.errs))
		}
	})
	t.Run("alias inside its own anchor", func(t *testing.T) {
		errs := parseErrors(t, "backends:\n  - name: a\n    url: http://127.0.0.1:8000\n    model_configs:\n      - id: m\n        metadata: &a {x: *a}\n")
		want := "config.yaml:6:26: the alias *a refers to a node that contains it"
		if len(errs) != 1 || errs[0] != want {
			t.Errorf("got\n%s\nwant %q", strings.Join(errs, "\n"), want)
		}
	})
	t.Run("anyValue stops at the limit", func(t *testing.T) {
		d := newDecoder("config.yaml", noEnv)
		root, ok := d.document([]byte("m: [1, 2, 3]\n"))
		if !ok {
			t.Fatal(diagStrings(d.errs))
		}
		d.values = maxExpandedNodes - 2
		if v := d.anyValue(root, "m"); v != nil && len(d.errs) == 0 {
			t.Errorf("anyValue: got %v and no error, want an error", v)
		}
	})
}

// TestAnchorsStillWork: ordinary anchors, aliases and merge keys, as
// continuum-router configurations use them for shared backend settings,
// decode as before, and a bomb one level short of the limit is accepted.
func TestAnchorsStillWork(t *testing.T) {
	c, _ := parseOK(t, `backends:
  - &base
    name: a
    url: http://127.0.0.1:8000
    weight: 3
    models: &models [m1, m2]
    model_configs: [{id: m1, metadata: &meta {context: 8192, tags: [chat, code]}}]
  - <<: *base
    name: b
    url: http://127.0.0.1:8001
    model_configs: [{id: m2, metadata: *meta}]
  - {name: c, url: http://127.0.0.1:8002, models: *models}
`)
	if len(c.Backends) != 3 {
		t.Fatalf("got %d backends, want 3", len(c.Backends))
	}
	b := c.Backends[1]
	if b.Name != "b" || b.Weight != 3 || strings.Join(b.Models, ",") != "m1,m2" || strings.Join(c.Backends[2].Models, ",") != "m1,m2" {
		t.Errorf("merged backend: got %+v, want name b, weight 3, models m1,m2", b)
	}
	if got := fmt.Sprint(c.ModelMetadata["m2"]); got != "map[context:8192 tags:[chat code]]" {
		t.Errorf("metadata of m2: got %s, want the shared mapping", got)
	}
	if _, _, err := Parse([]byte(aliasBomb(5)), "config.yaml", noEnv); err != nil {
		t.Errorf("a document expanding to about 123,000 nodes: got %v, want no error", err)
	}
}
