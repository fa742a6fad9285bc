package app_test

// Security review: configuration input the admin API and the CLI accept.

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// secAliasBomb is a valid configuration of 7 lines of nested anchors in a
// backend's model metadata, each a list of ten copies of the previous one:
// 10 million nodes once expanded.
func secAliasBomb() string {
	var b strings.Builder
	b.WriteString("backends:\n  - name: a\n    url: http://127.0.0.1:8000\n    model_configs:\n      - id: m\n        metadata:\n")
	b.WriteString("          l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 7; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "          l%d: &l%d [%s]\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	return b.String()
}

// TestSecAliasBomb: POST /admin/config/validate and `continuum check`
// refuse a YAML alias bomb at its line and column without expanding it.
func TestSecAliasBomb(t *testing.T) {
	e, _, _ := startManaged(t)
	bomb := secAliasBomb()
	const want = ":12:55: with its aliases expanded the document holds more than 1000000 nodes"

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, text := manage(t, e, "POST", "/admin/config/validate", bomb, nil)
	runtime.ReadMemStats(&after)
	if code != 422 || !strings.Contains(text, want) {
		t.Errorf("validate: got %d %s, want 422 holding %q", code, text, want)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("validating the bomb allocated %d MB, want under 64", alloc>>20)
	}

	path := rtWriteFile(t, "config.yaml", bomb)
	code, stdout, stderr := rtMain(t, "check", "-c", path)
	if code != 1 || !strings.Contains(stderr, path+want) {
		t.Errorf("check: got exit code %d, stdout %q, stderr %q; want 1 and %s%s", code, stdout, stderr, path, want)
	}
}
