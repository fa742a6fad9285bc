package config

import (
	"errors"
	"strings"
	"testing"
)

func TestDocumentEdits(t *testing.T) {
	const src = `# top comment
api_keys:
  - key: k0            # no id: key-0
  - key: k1
    id: named
backends:
  # first
  - name: a
    url: "http://h:1"   # quoted
    weight: 2
`
	tests := []struct {
		name    string
		edit    func(d *Document) error
		want    []string
		notWant []string
		err     error
	}{
		{"add a backend", func(d *Document) error {
			return d.AddBackend(map[string]any{"url": "http://h:2", "name": "b", "models": []any{"m"}})
		}, []string{"# top comment", "# first", `url: "http://h:1" # quoted`, "  - name: b\n    url: http://h:2\n    models:\n      - m"}, nil, nil},
		{"add an existing backend", func(d *Document) error { return d.AddBackend(map[string]any{"name": "a"}) }, nil, nil, ErrExists},
		{"update, null removes", func(d *Document) error {
			return d.UpdateBackend("a", map[string]any{"weight": 5, "url": nil})
		}, []string{"weight: 5", "# first"}, []string{"http://h:1"}, nil},
		{"update an unknown backend", func(d *Document) error { return d.UpdateBackend("x", nil) }, nil, nil, ErrNoEntry},
		{"remove", func(d *Document) error { return d.RemoveBackend("a") }, []string{"backends: []"}, []string{"name: a"}, nil},
		{"disable a key by its default id", func(d *Document) error { return d.SetAPIKeyEnabled("key-0", false) }, []string{"key: k0", "enabled: false"}, nil, nil},
		{"disable a key by id", func(d *Document) error { return d.SetAPIKeyEnabled("named", false) }, []string{"id: named\n    enabled: false"}, nil, nil},
		{"an unknown key", func(d *Document) error { return d.SetAPIKeyEnabled("nope", false) }, nil, nil, ErrNoEntry},
		{"add a key to the short form", func(d *Document) error {
			return d.AddAPIKey(map[string]any{"key": "sk-x", "id": "new", "name": "CI"})
		}, []string{"  - id: new\n    key: sk-x\n    name: CI"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDocument([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			err = tt.edit(d)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not contain %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(string(out), w) {
					t.Errorf("output contains %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("a new api_keys block", func(t *testing.T) {
		d, _ := ParseDocument([]byte("backends: []\n"))
		if err := d.AddAPIKey(map[string]any{"key": "sk-y", "id": "y"}); err != nil {
			t.Fatal(err)
		}
		out, _ := d.Bytes()
		c, _, err := Parse(out, "x.yaml", noEnv)
		if err != nil || len(c.APIKeys.Keys) != 1 || c.APIKeys.Keys[0].ID != "y" {
			t.Errorf("got %v (%s), want one key y", err, out)
		}
	})
}
