package ui

import (
	"net/http"
	"strings"
	"testing"
)

// oddNames is a Source whose backends have names that need escaping in a
// URL path.
type oddNames struct{ *fakeSource }

func (o oddNames) Backends() []Backend {
	return []Backend{
		{Name: "50% a?b#c", Type: "vllm", URL: "http://10.0.0.1", Health: "ready", Breaker: "closed"},
		{Name: "ü&x", Type: "vllm", URL: "http://10.0.0.2", Health: "ready", Breaker: "closed", Drained: o.drained["ü&x"]},
	}
}

// TestBackendNamesEscapedInURLs: the drain and undrain buttons put the
// backend's name in the URL path escaped, and the POST they send drains
// or undrains the backend of that exact name.
func TestBackendNamesEscapedInURLs(t *testing.T) {
	src := oddNames{&fakeSource{drained: map[string]bool{"ü&x": true}}}
	h := Handler(Options{
		Source:     src,
		Authorized: func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer "+token },
		Credential: func() (string, string) { return "bearer_token", token },
		Key:        []byte("test-key"),
	})
	auth := []string{"Authorization", "Bearer " + token, "HX-Request", "true"}
	page := do(h, "GET", "/ui/fragments/overview", nil, auth...).Body.String()
	for _, want := range []string{
		`hx-post="/ui/backends/50%25%20a%3Fb%23c/drain"`,
		`hx-post="/ui/backends/%C3%BC&amp;x/undrain"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview does not hold %s:\n%s", want, page)
		}
	}
	for _, tt := range []struct{ path, name string }{
		{"/ui/backends/50%25%20a%3Fb%23c/drain", "50% a?b#c"},
		{"/ui/backends/%C3%BC&x/undrain", "ü&x"},
	} {
		want := strings.HasSuffix(tt.path, "/drain")
		if w := do(h, "POST", tt.path, nil, auth...); w.Code != 200 || src.drained[tt.name] != want {
			t.Errorf("POST %s: got %d, drained %t; want 200 and %q drained %t", tt.path, w.Code, src.drained[tt.name], tt.name, want)
		}
	}
}
