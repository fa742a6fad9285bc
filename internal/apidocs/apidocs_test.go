package apidocs

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/admin"
)

// document decodes Spec into generic JSON values.
func document(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(Spec()))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode Spec: %v", err)
	}
	if dec.More() {
		t.Fatalf("Spec: got trailing data after the document, want one JSON value")
	}
	return doc
}

// obj returns v[key] as an object, failing the test if it is not one.
func obj(t *testing.T, v any, where string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: got %T, want an object", where, v)
	}
	return m
}

// pointer resolves a local JSON pointer ("#/components/schemas/X").
func pointer(doc map[string]any, ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// resolve follows v's $ref, if any.
func resolve(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	m := obj(t, v, "resolve")
	for i := 0; i < 10; i++ {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		target, ok := pointer(doc, ref)
		if !ok {
			t.Fatalf("$ref %q: does not resolve", ref)
		}
		m = obj(t, target, ref)
	}
	t.Fatalf("$ref chain too long")
	return nil
}

// walk calls f for every value in v with its JSON path.
func walk(path string, v any, f func(path string, v any)) {
	f(path, v)
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			walk(path+"/"+k, e, f)
		}
	case []any:
		for i, e := range x {
			walk(path+"/"+strconv.Itoa(i), e, f)
		}
	}
}

type operation struct {
	method, path string
	op           map[string]any
}

func operations(t *testing.T, doc map[string]any) []operation {
	t.Helper()
	var ops []operation
	for path, item := range obj(t, doc["paths"], "paths") {
		for _, m := range operationKeys() {
			if op, ok := obj(t, item, path)[m]; ok {
				ops = append(ops, operation{strings.ToUpper(m), path, obj(t, op, m+" "+path)})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return ops[i].method < ops[j].method
	})
	return ops
}

func TestSpecTopLevel(t *testing.T) {
	doc := document(t)
	if v, _ := doc["openapi"].(string); v != "3.0.3" {
		t.Errorf("openapi: got %q, want 3.0.3", v)
	}
	info := obj(t, doc["info"], "info")
	for _, k := range []string{"title", "version", "description"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("info.%s: got %q, want non-empty", k, s)
		}
	}
	if len(obj(t, doc["paths"], "paths")) == 0 {
		t.Errorf("paths: got none, want some")
	}
	comps := obj(t, doc["components"], "components")
	for _, k := range []string{"schemas", "responses", "headers", "parameters", "securitySchemes"} {
		obj(t, comps[k], "components."+k)
	}
}

func TestSpecRefsResolve(t *testing.T) {
	doc := document(t)
	var n int
	used := map[string]bool{}
	walk("#", doc, func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		ref, ok := m["$ref"]
		if !ok {
			return
		}
		n++
		s, ok := ref.(string)
		if !ok {
			t.Errorf("%s: $ref is %T, want a string", path, ref)
			return
		}
		if _, ok := pointer(doc, s); !ok {
			t.Errorf("%s: $ref %q does not resolve", path, s)
		}
		if len(m) != 1 {
			t.Errorf("%s: $ref has sibling keys, which OpenAPI 3.0 ignores", path)
		}
		used[s] = true
	})
	if n == 0 {
		t.Fatalf("got no $ref, want the document to use components")
	}
	// Every component is used, so the document has no dead parts.
	for kind, set := range obj(t, doc["components"], "components") {
		if kind == "securitySchemes" {
			continue
		}
		for name := range obj(t, set, kind) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("component %s: never referenced", ref)
			}
		}
	}
}

func TestSpecOperations(t *testing.T) {
	doc := document(t)
	schemes := obj(t, obj(t, doc["components"], "components")["securitySchemes"], "securitySchemes")
	var tags []string
	for _, tg := range doc["tags"].([]any) {
		tags = append(tags, obj(t, tg, "tag")["name"].(string))
	}
	ids := map[string]string{}
	for path, item := range obj(t, doc["paths"], "paths") {
		var n int
		for _, m := range operationKeys() {
			if _, ok := obj(t, item, path)[m]; ok {
				n++
			}
		}
		if n == 0 {
			t.Errorf("path %s: got no operation, want at least one", path)
		}
	}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for _, o := range operations(t, doc) {
		where := o.method + " " + o.path
		t.Run(where, func(t *testing.T) {
			id, _ := o.op["operationId"].(string)
			if id == "" {
				t.Errorf("operationId: missing")
			} else if prev, dup := ids[id]; dup {
				t.Errorf("operationId %q: also used by %s", id, prev)
			}
			ids[id] = where
			if s, _ := o.op["summary"].(string); s == "" {
				t.Errorf("summary: missing")
			}
			if tg := o.op["tags"].([]any); len(tg) == 0 || !slices.Contains(tags, tg[0].(string)) {
				t.Errorf("tags: got %v, want one of the declared tags %v", tg, tags)
			}
			sec, ok := o.op["security"].([]any)
			if !ok {
				t.Errorf("security: missing, want it stated per operation")
			}
			for _, req := range sec {
				for name := range obj(t, req, "security requirement") {
					if _, ok := schemes[name]; !ok {
						t.Errorf("security scheme %q: not declared", name)
					}
				}
			}
			responses := obj(t, o.op["responses"], "responses")
			if len(responses) == 0 {
				t.Fatalf("responses: got none")
			}
			for code, r := range responses {
				if _, err := strconv.Atoi(code); err != nil && code != "default" {
					t.Errorf("response code %q: not a status code", code)
				}
				resp := resolve(t, doc, r)
				if d, _ := resp["description"].(string); d == "" {
					t.Errorf("response %s: no description", code)
				}
				if c, ok := resp["content"]; ok {
					for ct, media := range obj(t, c, "content") {
						if _, ok := obj(t, media, ct)["schema"]; !ok {
							t.Errorf("response %s %s: no schema", code, ct)
						}
					}
				}
			}
			declared := map[string]bool{}
			if ps, ok := o.op["parameters"].([]any); ok {
				for _, p := range ps {
					param := resolve(t, doc, p)
					name, _ := param["name"].(string)
					in, _ := param["in"].(string)
					if name == "" || in == "" || param["schema"] == nil {
						t.Errorf("parameter %v: want name, in and schema", param)
					}
					if in == "path" {
						declared[name] = true
						if param["required"] != true {
							t.Errorf("path parameter %q: want required: true", name)
						}
					}
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(o.path, -1) {
				if !declared[m[1]] {
					t.Errorf("path parameter %q: not declared", m[1])
				}
			}
			if len(declared) != len(pathParam.FindAllString(o.path, -1)) {
				t.Errorf("path parameters: declared %v, path %s", declared, o.path)
			}
		})
	}
}

// wantRoutes is every route the brief and DESIGN.md §4 name.
var wantRoutes = []Route{
	{"POST", "/v1/chat/completions"},
	{"POST", "/v1/completions"},
	{"POST", "/v1/embeddings"},
	{"GET", "/v1/models"},
	{"GET", "/v1/models/{id}"},
	{"GET", "/health"},
	{"GET", "/healthz"},
	{"GET", "/ready"},
	{"GET", "/metrics"},
	{"GET", "/openapi.json"},
	{"GET", "/docs"},
}

func TestPaths(t *testing.T) {
	doc := document(t)
	got := Paths()
	var want []Route
	for _, o := range operations(t, doc) {
		want = append(want, Route{o.method, o.path})
	}
	if !slices.Equal(got, want) {
		t.Errorf("Paths: got %v, want %v", got, want)
	}
	if !slices.IsSortedFunc(got, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	}) {
		t.Errorf("Paths: got %v, want sorted by path then method", got)
	}
	for _, r := range wantRoutes {
		if !slices.Contains(got, r) {
			t.Errorf("Paths: missing %s %s", r.Method, r.Path)
		}
	}
}

// TestAdminRoutesDocumented keeps the admin part of the document in sync
// with the admin package.
func TestAdminRoutesDocumented(t *testing.T) {
	var want []Route
	for _, r := range admin.Routes() {
		want = append(want, Route{r.Method, r.Path})
	}
	var got []Route
	for _, r := range Paths() {
		if strings.HasPrefix(r.Path, "/admin/") {
			got = append(got, r)
		}
	}
	for _, r := range want {
		if !slices.Contains(got, r) {
			t.Errorf("admin route %s %s: not in the document", r.Method, r.Path)
		}
	}
	for _, r := range got {
		if !slices.Contains(want, r) {
			t.Errorf("documented %s %s: not an admin route", r.Method, r.Path)
		}
	}
}

func TestSpecSecurity(t *testing.T) {
	doc := document(t)
	names := func(o operation) []string {
		var out []string
		for _, req := range o.op["security"].([]any) {
			m := obj(t, req, "security requirement")
			if len(m) == 0 {
				out = append(out, "")
			}
			for k := range m {
				out = append(out, k)
			}
		}
		sort.Strings(out)
		return out
	}
	for _, o := range operations(t, doc) {
		var want []string
		switch {
		case strings.HasPrefix(o.path, "/v1/"):
			want = []string{"", "apiKey"} // optional in permissive mode
		case strings.HasPrefix(o.path, "/admin/"):
			want = []string{"adminApiKey", "adminBasic", "adminBearer"}
		}
		if got := names(o); !slices.Equal(got, want) {
			t.Errorf("%s %s security: got %q, want %q", o.method, o.path, got, want)
		}
	}
	schemes := obj(t, obj(t, doc["components"], "components")["securitySchemes"], "securitySchemes")
	if d, _ := obj(t, schemes["apiKey"], "apiKey")["description"].(string); !strings.Contains(d, "permissive") {
		t.Errorf("apiKey description: got %q, want it to explain permissive mode", d)
	}
	key := obj(t, schemes["adminApiKey"], "adminApiKey")
	if key["type"] != "apiKey" || key["in"] != "header" || key["name"] != "X-API-Key" {
		t.Errorf("adminApiKey: got %v, want an apiKey in header X-API-Key", key)
	}
	if s := obj(t, schemes["adminBasic"], "adminBasic"); s["type"] != "http" || s["scheme"] != "basic" {
		t.Errorf("adminBasic: got %v, want http basic", s)
	}
	if s := obj(t, schemes["adminBearer"], "adminBearer"); s["type"] != "http" || s["scheme"] != "bearer" {
		t.Errorf("adminBearer: got %v, want http bearer", s)
	}
}

func TestSpecInference(t *testing.T) {
	doc := document(t)
	paths := obj(t, doc["paths"], "paths")
	tests := []struct {
		path    string
		streams bool
	}{
		{"/v1/chat/completions", true},
		{"/v1/completions", true},
		{"/v1/embeddings", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			op := obj(t, obj(t, paths[tt.path], tt.path)["post"], "post")
			responses := obj(t, op["responses"], "responses")
			for _, code := range []string{"400", "401", "403", "404", "413", "429", "502", "503", "504"} {
				r, ok := responses[code]
				if !ok {
					t.Errorf("response %s: missing", code)
					continue
				}
				resp := resolve(t, doc, r)
				media := obj(t, obj(t, resp["content"], code+" content")["application/json"], code+" json")
				if ref := obj(t, media["schema"], "schema")["$ref"]; ref != "#/components/schemas/ErrorEnvelope" {
					t.Errorf("response %s schema: got %v, want ErrorEnvelope", code, ref)
				}
				headers, _ := resp["headers"].(map[string]any)
				if _, ok := headers["X-Request-Id"]; !ok {
					t.Errorf("response %s: no X-Request-Id header", code)
				}
				if code == "429" || code == "503" {
					if _, ok := headers["Retry-After"]; !ok {
						t.Errorf("response %s: no Retry-After header", code)
					}
				}
				if code == "429" {
					if _, ok := headers["x-ratelimit-remaining-requests"]; !ok {
						t.Errorf("response 429: no x-ratelimit-* headers")
					}
				}
			}
			ok := resolve(t, doc, responses["200"])
			headers := obj(t, ok["headers"], "200 headers")
			for _, h := range []string{"X-Request-Id", "X-Continuum-Backend"} {
				if _, found := headers[h]; !found {
					t.Errorf("200: no %s header", h)
				}
			}
			content := obj(t, ok["content"], "200 content")
			if _, found := content["application/json"]; !found {
				t.Errorf("200: no application/json content")
			}
			if _, found := content["text/event-stream"]; found != tt.streams {
				t.Errorf("200 text/event-stream: got %v, want %v", found, tt.streams)
			}

			body := resolve(t, doc, obj(t, obj(t, op["requestBody"], "requestBody")["content"], "content")["application/json"].(map[string]any)["schema"])
			if body["additionalProperties"] != true {
				t.Errorf("request schema additionalProperties: got %v, want true", body["additionalProperties"])
			}
			props := obj(t, body["properties"], "properties")
			want := []string{"model", "user"}
			if tt.streams {
				want = append(want, "stream", "stream_options")
			}
			for _, f := range want {
				if _, found := props[f]; !found {
					t.Errorf("request schema: no %q field", f)
				}
			}
			if tt.streams {
				so := resolve(t, doc, props["stream_options"])
				if _, found := obj(t, so["properties"], "stream_options")["include_usage"]; !found {
					t.Errorf("stream_options: no include_usage")
				}
			}
			if !slices.Contains(body["required"].([]any), any("model")) {
				t.Errorf("request schema: model not required")
			}
		})
	}
}

func TestSpecModels(t *testing.T) {
	doc := document(t)
	model := resolve(t, doc, map[string]any{"$ref": "#/components/schemas/Model"})
	props := obj(t, model["properties"], "Model.properties")
	for _, f := range []string{"id", "object", "created", "owned_by", "backends", "alias_for"} {
		if _, ok := props[f]; !ok {
			t.Errorf("Model: no %q", f)
		}
	}
	ready := obj(t, obj(t, obj(t, doc["paths"], "paths")["/ready"], "/ready")["get"], "get")
	for _, code := range []string{"200", "503"} {
		if _, ok := obj(t, ready["responses"], "responses")[code]; !ok {
			t.Errorf("/ready: no %s response", code)
		}
	}
	contentOf := func(path string) map[string]any {
		op := obj(t, obj(t, obj(t, doc["paths"], "paths")[path], path)["get"], "get")
		return obj(t, resolve(t, doc, obj(t, op["responses"], "responses")["200"])["content"], path+" content")
	}
	for path, ct := range map[string]string{"/metrics": "text/plain", "/docs": "text/html", "/openapi.json": "application/json"} {
		if _, ok := contentOf(path)[ct]; !ok {
			t.Errorf("%s: no %s content", path, ct)
		}
	}
}

func TestSpecIsACopy(t *testing.T) {
	a := Spec()
	a[0] = 'X'
	if b := Spec(); b[0] == 'X' {
		t.Errorf("Spec: got the modified bytes back, want a fresh copy")
	}
	p := Page()
	p[0] = 'X'
	if q := Page(); q[0] == 'X' {
		t.Errorf("Page: got the modified bytes back, want a fresh copy")
	}
}

func TestPage(t *testing.T) {
	page := Page()
	if len(page) >= 40<<10 {
		t.Errorf("size: got %d bytes, want under 40 KiB", len(page))
	}
	s := string(page)
	for _, want := range []string{"<!doctype html>", "<script>", "/openapi.json", "<style>"} {
		if !strings.Contains(s, want) {
			t.Errorf("page: does not contain %q", want)
		}
	}
	// Nothing is loaded from another host: no absolute URL anywhere, no
	// protocol-relative src or href, no external script, stylesheet, or CSS import.
	for _, bad := range []string{"http://", "https://", "<link", "@import", "<script src", "<iframe"} {
		if strings.Contains(strings.ToLower(s), bad) {
			t.Errorf("page: contains %q, want no external references", bad)
		}
	}
	if m := regexp.MustCompile(`(?i)[^a-z]url\(\s*["']?[a-z/]`).FindString(s); m != "" {
		t.Errorf("page: CSS url reference %q, want none", m)
	}
	attr := regexp.MustCompile(`(?i)\b(src|href)\s*=\s*["']?\s*(https?:|//)`)
	if m := attr.FindString(s); m != "" {
		t.Errorf("page: external reference %q", m)
	}
}
