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

// secHistory returns the configuration history, newest first.
func secHistory(t *testing.T, e *env) []manageVersion {
	t.Helper()
	var out struct {
		Versions []manageVersion `json:"versions"`
	}
	if code, text := manage(t, e, "GET", "/admin/config/history", "", &out); code != 200 {
		t.Fatalf("GET /admin/config/history: got %d %s", code, text)
	}
	return out.Versions
}

// TestSecNoOpChangesAddNoVersion: revoking a key twice, and reloading the
// same file twice, add one version each time the configuration changes and
// none otherwise; rolling back still works.
func TestSecNoOpChangesAddNoVersion(t *testing.T) {
	t.Parallel()
	e, _, _ := startManaged(t)
	for i := range 2 {
		if code, text := manage(t, e, "DELETE", "/admin/keys/team-a", "", nil); code != 200 {
			t.Fatalf("DELETE /admin/keys/team-a #%d: got %d %s, want 200", i+1, code, text)
		}
	}
	for i := range 2 {
		if code, text := manage(t, e, "POST", "/admin/config/reload", "", nil); code != 200 {
			t.Fatalf("reload #%d: got %d %s, want 200", i+1, code, text)
		}
	}
	vs := secHistory(t, e)
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%d:%s", v.ID, v.Trigger))
	}
	if want := "2:key_revoke 1:startup"; strings.Join(got, " ") != want {
		t.Fatalf("history: got %s, want %s", strings.Join(got, " "), want)
	}
	if !vs[0].Current || vs[0].SHA256 == vs[1].SHA256 {
		t.Errorf("history: got %+v, want version 2 current and different from 1", vs)
	}

	// Rolling back to version 1 adds version 3; doing it again adds nothing.
	for range 2 {
		if code, text := manage(t, e, "POST", "/admin/config/rollback/1", "", nil); code != 200 {
			t.Fatalf("rollback: got %d %s, want 200", code, text)
		}
	}
	vs = secHistory(t, e)
	if len(vs) != 3 || vs[0].ID != 3 || vs[0].Trigger != "rollback" || vs[0].SHA256 != vs[2].SHA256 || !vs[0].Current {
		t.Errorf("history after rollbacks: got %+v, want version 3 (rollback, as version 1) current", vs)
	}
}

// TestSecDuplicateJSONKeys: an admin body that gives a key twice, exactly or
// in another case, is refused (400 invalid_json, naming the key) and
// changes nothing.
func TestSecDuplicateJSONKeys(t *testing.T) {
	t.Parallel()
	e, path, backend := startManaged(t)
	before := readFile(t, path)
	tests := []struct{ method, path, body, want string }{
		{"POST", "/admin/backends", `{"name":"x4","name":"x5","url":"` + backend + `"}`, `the key \"name\" is given twice`},
		{"POST", "/admin/backends", `{"name":"x4","Name":"x5","url":"` + backend + `"}`, `the key \"name\" is given twice, also as \"Name\"`},
		{"PUT", "/admin/backends/a", `{"weight":2,"weight":3}`, `the key \"weight\" is given twice`},
		{"POST", "/admin/keys", `{"id":"k1","id":"k2"}`, `the key \"id\" is given twice`},
		{"POST", "/admin/keys", `{"id":"k1","ID":"k2"}`, `the key \"id\" is given twice, also as \"ID\"`},
	}
	for _, tt := range tests {
		code, text := manage(t, e, tt.method, tt.path, tt.body, nil)
		if code != 400 || !strings.Contains(text, `"code":"invalid_json"`) || !strings.Contains(text, tt.want) {
			t.Errorf("%s %s %s: got %d %s, want 400 invalid_json holding %s", tt.method, tt.path, tt.body, code, text, tt.want)
		}
	}
	if readFile(t, path) != before {
		t.Errorf("a refused body changed the file:\n%s", readFile(t, path))
	}
	if vs := secHistory(t, e); len(vs) != 1 {
		t.Errorf("history: got %d versions, want 1", len(vs))
	}
}

// TestSecNamesUsableInPaths: the admin API refuses backend names and key
// ids it could not manage afterwards (422, the file unchanged), and so does
// `continuum check`, at the line of the name.
func TestSecNamesUsableInPaths(t *testing.T) {
	t.Parallel()
	e, path, backend := startManaged(t)
	before := readFile(t, path)
	for _, tt := range []struct{ path, body, want string }{
		{"/admin/backends", `{"name":"../../etc/passwd","url":"` + backend + `"}`, `backend name \"../../etc/passwd\" must not contain / or \\`},
		{"/admin/backends", `{"name":"a/b","url":"` + backend + `"}`, `backend name \"a/b\" must not contain / or \\`},
		{"/admin/backends", `{"name":"..","url":"` + backend + `"}`, `backend name \"..\" must not be . or ..`},
		{"/admin/keys", `{"id":"../x"}`, `key id \"../x\" must not contain / or \\`},
	} {
		code, text := manage(t, e, "POST", tt.path, tt.body, nil)
		if code != 422 || !strings.Contains(text, `"code":"invalid_config"`) || !strings.Contains(text, tt.want) {
			t.Errorf("POST %s %s: got %d %s, want 422 invalid_config holding %s", tt.path, tt.body, code, text, tt.want)
		}
	}
	if readFile(t, path) != before {
		t.Errorf("a refused change was written:\n%s", readFile(t, path))
	}

	file := rtWriteFile(t, "config.yaml", "backends:\n  - name: a/b\n    url: http://127.0.0.1:8000\n")
	code, _, stderr := rtMain(t, "check", "-c", file)
	if want := file + `:2:11: backends[0].name: backend name "a/b" must not contain / or \`; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("check: got exit code %d and\n%s\nwant 1 and %s", code, stderr, want)
	}
}
