// Package apidocs holds Continuum's own API description: an OpenAPI 3.0
// document (served at GET /openapi.json) and a self-contained HTML page that
// renders it (served at GET /docs).
//
// Both are embedded in the binary. The page loads nothing from other hosts:
// its styles and script are inline, and it fetches the document from the
// router itself, so it works offline and behind a reverse proxy that adds a
// path prefix.
//
// The document is written by hand in openapi.json. Paths lists its
// operations so that tests can keep it in sync with the routes the router
// actually serves.
package apidocs

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

//go:embed openapi.json
var spec []byte

//go:embed docs.html
var page []byte

// Spec returns the OpenAPI document as JSON. Each call returns a new copy,
// so the caller may keep or modify it.
func Spec() []byte { return slices.Clone(spec) }

// Page returns the HTML reference page. It fetches the document from
// /openapi.json next to its own path (so /docs reads /openapi.json, and
// /prefix/docs reads /prefix/openapi.json). Each call returns a new copy.
func Page() []byte { return slices.Clone(page) }

// Route is one operation of the document.
type Route struct {
	// Method is the HTTP method in upper case, e.g. "GET".
	Method string
	// Path is the path template as written in the document, e.g. "/v1/models/{id}".
	Path string
}

// Paths lists every operation in the document, sorted by path and then by
// method.
func Paths() []Route {
	routes, err := paths(spec)
	if err != nil { // the embedded document is checked by the tests
		panic(fmt.Sprintf("apidocs: %v", err))
	}
	return routes
}

// paths lists the operations of an OpenAPI document.
func paths(doc []byte) ([]Route, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("decode openapi document: %w", err)
	}
	var routes []Route
	for path, item := range d.Paths {
		for _, m := range operationKeys() {
			if _, ok := item[m]; ok {
				routes = append(routes, Route{Method: strings.ToUpper(m), Path: path})
			}
		}
	}
	slices.SortFunc(routes, func(a, b Route) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return routes, nil
}

// operationKeys returns the OpenAPI path item keys that name operations.
func operationKeys() []string {
	return []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
}
