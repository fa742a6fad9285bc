package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// routerOnlyMarker is in every warning about a continuum-router setting
// that Continuum does not support yet.
const routerOnlyMarker = "is a continuum-router setting that Continuum does not support yet"

// TestContinuumRouterCorpus loads every configuration and fragment collected
// from continuum-router's documentation (testdata/continuum-router/) with
// zero errors. The only warnings allowed are one per unsupported key, naming
// it, and the one that says no backends are configured (fragments).
func TestContinuumRouterCorpus(t *testing.T) {
	// Every ${VAR} is set, so that no warning is about the environment.
	env := func(name string) (string, bool) { return "value-of-" + name, true }
	want := map[string][]string{
		"persistent-metrics.yaml":  {"metrics.persistence"},
		"metrics.yaml":             {"metrics.cardinality_limit", "metrics.optional_metrics"},
		"guardrails-disabled.yaml": {"guardrails"},
		"webui.yaml":               {"webui"},
		"webui-disabled.yaml":      {"webui"},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "continuum-router", "*.yaml"))
	if err != nil || len(files) < 20 {
		t.Fatalf("got %d files (%v), want the collected corpus", len(files), err)
	}
	readme, err := os.ReadFile(filepath.Join("testdata", "continuum-router", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(readme), "`"+name+"`") {
				t.Errorf("README.md does not give the source of %s", name)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, warns, err := Parse(data, name, env)
			if err != nil {
				t.Fatalf("got errors:\n%v\nwant none", err)
			}
			var got []string
			for _, w := range warns {
				switch {
				case strings.Contains(w.Msg, routerOnlyMarker):
					if !strings.Contains(w.Msg, `"`+w.Path+`"`) {
						t.Errorf("warning %q does not name its key %q", w.Msg, w.Path)
					}
					got = append(got, w.Path)
				case w.Path == "backends" && strings.Contains(w.Msg, "no backends"):
				default:
					t.Errorf("unexpected warning %s", w)
				}
			}
			slices.Sort(got)
			wantKeys := slices.Clone(want[name])
			slices.Sort(wantKeys)
			if !slices.Equal(got, wantKeys) {
				t.Errorf("warned keys: got %q, want %q (one warning per unsupported key)", got, wantKeys)
			}
		})
	}
}

// TestRouterOnlyBlockIsOneWarning checks that an unsupported block is one
// warning, however much it holds.
func TestRouterOnlyBlockIsOneWarning(t *testing.T) {
	src := oneBackend + "metrics:\n  persistence:\n    enabled: true\n    compaction: {enabled: true, schedule: x}\nguardrails:\n  enabled: true\n  input: [{type: regex}]\n"
	_, warns := parseOK(t, src)
	var paths []string
	for _, w := range warns {
		paths = append(paths, w.Path)
	}
	if want := []string{"metrics.persistence", "guardrails"}; !slices.Equal(paths, want) {
		t.Errorf("got warnings %q at %q, want one each at %q", diagStrings(warns), paths, want)
	}
}

func TestAdminMethodBearerAlias(t *testing.T) {
	tests := []struct {
		written, want string
	}{
		{"bearer", "bearer_token"},
		{"Bearer", "bearer_token"},
		{"bearer_token", "bearer_token"},
		{"basic", "basic"},
	}
	for _, tt := range tests {
		t.Run(tt.written, func(t *testing.T) {
			src := oneBackend + "admin:\n  auth:\n    method: " + tt.written + "\n    token: t\n    username: u\n    password: p\n"
			c, _ := parseOK(t, src)
			if c.Admin.Auth.Method != tt.want {
				t.Errorf("method: got %q, want %q", c.Admin.Auth.Method, tt.want)
			}
		})
	}
	t.Run("built in code", func(t *testing.T) {
		c := Default()
		c.Admin.Auth = AdminAuth{Method: "bearer", Token: "t"}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: got %v, want nil", err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		errs := parseErrors(t, oneBackend+"admin:\n  auth:\n    method: bearer-token\n    token: t\n")
		if len(errs) != 1 || !strings.Contains(errs[0], `did you mean "bearer_token"`) {
			t.Errorf("got %q, want one error suggesting bearer_token", errs)
		}
	})
}

func TestCORSDesktopOrigins(t *testing.T) {
	tests := []struct {
		origin string
		ok     bool
	}{
		{"tauri://localhost", true},
		{"app://obsidian.md", true},
		{"https://app.example.com", true},
		{"http://localhost:1420", true},
		{"file://localhost", false},
		{"tauri://", false},
		{"javascript://x", false},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			src := oneBackend + "server:\n  cors:\n    enabled: true\n    allowed_origins: [\"" + tt.origin + "\"]\n"
			_, _, err := Parse([]byte(src), "config.yaml", noEnv)
			if (err == nil) != tt.ok {
				t.Errorf("got error %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestFindContinuumRouterPath(t *testing.T) {
	const routerFile = "/etc/continuum-router/config.yaml"
	tests := []struct {
		name     string
		existing []string
		want     string
	}{
		{"continuum's own first", []string{"/etc/continuum/config.yaml", routerFile}, "/etc/continuum/config.yaml"},
		{"continuum-router's", []string{routerFile}, routerFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := find("", envOf(map[string]string{"HOME": "/home/u"}), func(p string) bool { return slices.Contains(tt.existing, p) })
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	_, err := find("", envOf(nil), func(string) bool { return false })
	if err == nil || !strings.Contains(err.Error(), routerFile) {
		t.Errorf("not found: got %v, want the message to list %s", err, routerFile)
	}
}

func TestModelMetadata(t *testing.T) {
	const cfg = `
model_metadata_file: meta/models.yaml
backends:
  - name: a
    url: http://127.0.0.1:8000
    models: [m1, m2, m3]
    model_configs:
      - id: m1
        metadata:
          display_name: "M1 (config)"
          pricing: {input_tokens: 1.5}
`
	tests := []struct {
		name, file string
		want       map[string]map[string]any
	}{
		{"a mapping of ids", `
m1: {display_name: M1, context_length: 8192, capabilities: [chat]}
m2: {display_name: M2}
`, map[string]map[string]any{
			"m1": {"display_name": "M1 (config)", "context_length": 8192, "capabilities": []any{"chat"}, "pricing": map[string]any{"input_tokens": 1.5}},
			"m2": {"display_name": "M2"},
		}},
		{"a models list", `
models:
  - id: m2
    metadata: {display_name: M2, context_length: 4096}
  - id: m3
    display_name: M3
`, map[string]map[string]any{
			"m1": {"display_name": "M1 (config)", "pricing": map[string]any{"input_tokens": 1.5}},
			"m2": {"display_name": "M2", "context_length": 4096},
			"m3": {"display_name": "M3"},
		}},
		{"JSON", `{"m3": {"display_name": "M3", "pricing": {"output_tokens": 2}}}`, map[string]map[string]any{
			"m1": {"display_name": "M1 (config)", "pricing": map[string]any{"input_tokens": 1.5}},
			"m3": {"display_name": "M3", "pricing": map[string]any{"output_tokens": 2}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "config.yaml", cfg)
			writeFile(t, dir, "meta/models.yaml", tt.file)
			c, warns, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(warns) > 0 {
				t.Errorf("warnings: got %q, want none", diagStrings(warns))
			}
			if !reflect.DeepEqual(c.ModelMetadata, tt.want) {
				t.Errorf("ModelMetadata:\ngot  %v\nwant %v", c.ModelMetadata, tt.want)
			}
			if c.ModelMetadataFile != filepath.Join(dir, "meta/models.yaml") {
				t.Errorf("ModelMetadataFile: got %q, want the resolved path", c.ModelMetadataFile)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "config.yaml", cfg)
		_, _, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), "config.yaml:2:22: model_metadata_file:") {
			t.Errorf("got %v, want an error at the key", err)
		}
	})
	t.Run("not a mapping", func(t *testing.T) {
		dir := t.TempDir()
		path := writeFile(t, dir, "config.yaml", cfg)
		writeFile(t, dir, "meta/models.yaml", "- a\n- b\n")
		_, _, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), "models.yaml:1:1:") {
			t.Errorf("got %v, want an error in the metadata file", err)
		}
	})
}
