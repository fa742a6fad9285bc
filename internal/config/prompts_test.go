package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadGlobalPrompts(t *testing.T) {
	dir := t.TempDir()
	def := writeFile(t, dir, "prompts/system.md", "Default from a file.\n")
	back := writeFile(t, dir, "prompts/backend-a.md", "For backend a.")
	model := writeFile(t, dir, "elsewhere/model.md", "For model m.")
	cfg := writeFile(t, dir, "config.yaml", oneBackend+`global_prompts:
  prompts_dir: ./prompts
  default: inline default, overridden by the file
  default_file: system.md
  backends:
    a: { prompt: inline, prompt_file: backend-a.md }
  models:
    m: { prompt_file: `+model+` }
    n: For model n.
  merge_strategy: Append
  separator: " | "
`)
	c, warns, err := Load(cfg)
	if err != nil || len(warns) > 0 {
		t.Fatalf("Load: got %v, warnings %q; want none", err, diagStrings(warns))
	}
	g := c.GlobalPrompts
	checks := []struct{ name, got, want string }{
		{"default", g.DefaultPrompt(), "Default from a file.\n"},
		{"backend a", g.Backends["a"].Effective(), "For backend a."},
		{"model m (absolute path)", g.Models["m"].Effective(), "For model m."},
		{"model n (plain string)", g.Models["n"].Effective(), "For model n."},
		{"merge_strategy (normalised)", g.MergeStrategy, MergeAppend},
		{"separator", g.Separator, " | "},
		{"default_file as written", g.DefaultFile, "system.md"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if want := []string{def, back, model}; !slices.Equal(g.Files, want) {
		t.Errorf("Files: got %q, want %q", g.Files, want)
	}

	t.Run("files relative to the configuration's directory without prompts_dir", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "p/sys.md", "S")
		cfg := writeFile(t, dir, "config.yaml", oneBackend+"global_prompts: {default_file: p/sys.md}\n")
		c, _, err := Load(cfg)
		if err != nil || c.GlobalPrompts.DefaultPrompt() != "S" {
			t.Fatalf("Load: got %v, default %q; want S", err, c.GlobalPrompts.DefaultPrompt())
		}
	})

	t.Run("Parse does not read files", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+"global_prompts: {default: inline, default_file: nowhere.md}\n")
		if got := c.GlobalPrompts.DefaultPrompt(); got != "" {
			t.Errorf("DefaultPrompt after Parse: got %q, want \"\" (the file wins and is not read)", got)
		}
	})
}

func TestLoadGlobalPromptsErrors(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "big.md", strings.Repeat("x", maxPromptFile+1))
	writeFile(t, dir, "binary.md", "\xff\xfe")
	cfg := writeFile(t, dir, "config.yaml", oneBackend+`global_prompts:
  default_file: missing.md
  backends:
    a: { prompt_file: big.md }
  models:
    m:
      prompt_file: binary.md
`)
	_, _, err := Load(cfg)
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Load: got %v, want an ErrorList", err)
	}
	want := []string{
		cfg + ":4:17: global_prompts.default_file: open " + filepath.Join(dir, "missing.md") + ": no such file or directory",
		cfg + ":6:23: global_prompts.backends.a.prompt_file: " + filepath.Join(dir, "big.md") + " is larger than 1048576 bytes",
		cfg + ":9:20: global_prompts.models.m.prompt_file: " + filepath.Join(dir, "binary.md") + " is not UTF-8 text",
	}
	if got := diagStrings(list); !slices.Equal(got, want) {
		t.Errorf("errors:\ngot  %q\nwant %q", got, want)
	}

	t.Run("a file removed before a reload", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "sys.md", "S")
		cfg := writeFile(t, dir, "config.yaml", oneBackend+"global_prompts:\n  default_file: sys.md\n")
		if _, _, err := Load(cfg); err != nil {
			t.Fatalf("first Load: %v", err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		_, _, err := Load(cfg)
		want := cfg + ":4:17: global_prompts.default_file: open " + p + ": no such file or directory"
		if err == nil || err.Error() != want {
			t.Errorf("Load: got %v, want %s", err, want)
		}
	})
}

func TestGlobalPromptsAndCacheValidation(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"merge strategy", oneBackend + "global_prompts:\n  merge_strategy: prepnd\n",
			[]string{`config.yaml:4:19: global_prompts.merge_strategy: unknown merge strategy "prepnd"; did you mean "prepend"?`}},
		{"unknown key", oneBackend + "global_prompts:\n  models: {m: {file: x.md}}\n",
			[]string{`config.yaml:4:16: unknown key "global_prompts.models.m.file"; valid: prompt, prompt_file`}},
		{"negative deduplication_ttl", oneBackend + "cache: {deduplication_ttl: -1s}\n",
			[]string{`config.yaml:3:28: cache.deduplication_ttl: must not be negative (got -1s)`}},
		{"response cache ttl", oneBackend + "cache:\n  response_cache: {enabled: true, ttl: 0}\n",
			[]string{`config.yaml:4:40: cache.response_cache.ttl: must be positive when the response cache is enabled (got 0s)`}},
		{"max_bytes with the response cache", oneBackend + "cache:\n  response_cache: {enabled: true, max_bytes: 0}\n",
			[]string{`config.yaml:4:46: cache.response_cache.max_bytes: must be positive when answers are kept (response_cache.enabled, or enable_deduplication with a deduplication_ttl) (got 0)`}},
		{"max_bytes with deduplication_ttl", oneBackend + "cache:\n  enable_deduplication: true\n  response_cache: {max_bytes: 0}\n",
			[]string{`config.yaml:5:31: cache.response_cache.max_bytes: must be positive when answers are kept (response_cache.enabled, or enable_deduplication with a deduplication_ttl) (got 0)`}},
		{"answer storage", oneBackend + "cache:\n  response_cache: {storage: redsi}\n",
			[]string{`config.yaml:4:29: cache.response_cache.storage: unknown answer storage "redsi"; did you mean "redis"?`}},
		{"answers in redis without the shared store", oneBackend + "cache:\n  response_cache: {storage: Redis}\n",
			[]string{`config.yaml:4:29: cache.response_cache.storage: redis needs rate_limiting.storage: redis (answers are kept in the Redis server of rate_limiting.redis)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseErrors(t, tt.src); !slices.Equal(got, tt.want) {
				t.Errorf("\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}

	t.Run("no max_bytes needed when nothing is kept", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend+"cache: {enable_deduplication: true, deduplication_ttl: 0, response_cache: {max_bytes: 0}}\n")
		if !c.Cache.EnableDeduplication || c.Cache.DeduplicationTTL != 0 {
			t.Errorf("cache: got %+v", c.Cache)
		}
	})

	t.Run("a prompt for an unknown backend is a warning", func(t *testing.T) {
		_, warns := parseOK(t, oneBackend+"global_prompts:\n  backends: {b: {prompt: x}, a: {prompt: y}}\n")
		want := []string{`config.yaml:4:17: global_prompts.backends.b: no backend is named "b"; this prompt applies to no request; did you mean "a"?`}
		if got := diagStrings(warns); !slices.Equal(got, want) {
			t.Errorf("warnings:\ngot  %q\nwant %q", got, want)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		c, _ := parseOK(t, oneBackend)
		rc := c.Cache.ResponseCache
		if c.Cache.EnableDeduplication || c.Cache.DeduplicationTTL != time.Minute || rc.Enabled || rc.TTL != 5*time.Minute || rc.MaxBytes != 64<<20 {
			t.Errorf("cache defaults: got %+v", c.Cache)
		}
		if g := c.GlobalPrompts; g.MergeStrategy != MergePrepend || g.Separator != "\n\n" || g.DefaultPrompt() != "" {
			t.Errorf("global_prompts defaults: got %+v", g)
		}
	})
}
