package app_test

// Operations suite (issue 4), the API description: /openapi.json lists
// exactly the routes the router serves, and /docs is a self-contained page.

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/admin"
	"github.com/continuumhq/continuum/internal/apidocs"
	"github.com/continuumhq/continuum/internal/endpoint"
	"github.com/continuumhq/continuum/internal/mock"
)

// opsRoute is one operation, as "METHOD /path".
type opsRoute = string

// opsServedRoutes lists the routes the router serves: the listener's own
// and the admin API's.
func opsServedRoutes() []opsRoute {
	var routes []opsRoute
	for _, r := range endpoint.Default().Routes() {
		routes = append(routes, r.Method+" "+r.Doc)
	}
	for _, r := range admin.Routes() {
		routes = append(routes, r.Method+" "+r.Path)
	}
	slices.Sort(routes)
	return routes
}

func TestOpsOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	const token = "docs-admin-token"
	e := start(t, withConfig(opsAdminAuth("bearer_token", token, "", "")),
		withBackend("a", mock.Options{Models: []string{"m"}}))

	resp, body := e.Get("/openapi.json")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: got %d %q, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("GET /openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version: got %q, want 3.x", doc.OpenAPI)
	}
	var served []opsRoute
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				served = append(served, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(served)
	var embedded []opsRoute
	for _, r := range apidocs.Paths() {
		embedded = append(embedded, r.Method+" "+r.Path)
	}
	slices.Sort(embedded)
	want := opsServedRoutes()
	if !slices.Equal(served, want) {
		t.Errorf("routes in the served document:\n got %q\nwant %q", served, want)
	}
	if !slices.Equal(embedded, want) {
		t.Errorf("apidocs.Paths():\n got %q\nwant %q", embedded, want)
	}

	// Every documented route exists: a real request is not answered 404
	// (no such route) or 405 (not with that method).
	bodies := map[string]string{
		"/v1/chat/completions": chatBody("m", false),
		"/v1/completions":      `{"model":"m","prompt":"Hello"}`,
		"/v1/embeddings":       `{"model":"m","input":"Hello"}`,
	}
	for _, route := range served {
		method, path, _ := strings.Cut(route, " ")
		url := strings.NewReplacer("{id}", "m", "{name}", "a").Replace(path)
		switch {
		case strings.HasPrefix(path, "/admin/config/"):
			url = strings.ReplaceAll(path, "{id}", "1") // version 1: the configuration at start
		case method == http.MethodPut || method == http.MethodDelete:
			// Changes are asked of what does not exist: the route answers
			// with the resource's own 404, and backend a stays.
			url = strings.NewReplacer("{id}", "ghost", "{name}", "ghost").Replace(path)
		}
		var header []string
		if strings.HasPrefix(path, "/admin/") {
			header = []string{"Authorization", "Bearer " + token}
		}
		resp, body := send(t, method, e.URL+url, bodies[path], header...)
		unknown := resp.StatusCode == http.StatusNotFound && strings.Contains(body, `"code":"not_found"`)
		if unknown || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s %s (documented as %s): got %d %.200s", method, url, path, resp.StatusCode, body)
		}
	}
	// And the router does answer 404 for what is not documented.
	for _, path := range []string{"/v1/nope", "/admin/nope", "/docs/nope"} {
		if resp, _ := e.Get(path, "Authorization", "Bearer "+token); resp.StatusCode != 404 {
			t.Errorf("GET %s: got %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestOpsDocsPageIsSelfContained(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}))
	resp, body := e.Get("/docs")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: got %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "openapi.json") {
		t.Error("the page does not load openapi.json")
	}
	if urls := regexp.MustCompile(`(?i)https?://[^\s"'<>()]+`).FindAllString(body, -1); len(urls) > 0 {
		t.Errorf("the page refers to other hosts: %q", urls)
	}
	if refs := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?//`).FindAllString(body, -1); len(refs) > 0 {
		t.Errorf("the page loads protocol-relative URLs: %q", refs)
	}
}
