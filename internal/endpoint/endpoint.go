// Package endpoint is the route registry: every path the router answers
// on its public listener, with its method, what serves it and its metric
// label. The listener dispatches on it, the OpenAPI document is checked
// against it, and later services (another listener, the dashboard) read it
// instead of keeping their own list.
package endpoint

import (
	"bytes"

	"github.com/continuumhq/continuum/internal/exchange"
)

// Kind says what serves a route.
type Kind uint8

// Route kinds.
const (
	// Proxy routes are calls of a client API, admitted and forwarded to a backend.
	Proxy Kind = iota + 1
	// ModelList is GET /v1/models.
	ModelList
	// ModelByID is GET /v1/models/{id}.
	ModelByID
	// Health is the liveness check (no authentication).
	Health
	// Ready is the readiness check (no authentication).
	Ready
	// Service routes are served by the application beside the API (metrics,
	// the OpenAPI document and its page, the admin API); their paths may
	// change with the configuration, so the registry only names them.
	Service
)

// Route is one entry of the registry.
type Route struct {
	// Method is the method the route answers ("POST" or "GET"; GET routes
	// answer HEAD too).
	Method string
	// Path is the path, or its prefix when Prefix is set ("/v1/models/"
	// for /v1/models/{id}).
	Path   string
	Prefix bool
	// Kind says what serves it; API is the client API of a Proxy route.
	Kind Kind
	API  exchange.API
	// Label is the endpoint label of metrics and access lines. It never
	// holds client bytes.
	Label string
	// Doc is the path as the OpenAPI document writes it.
	Doc string
}

// routes is the registry. It is a function, not a variable, so that no
// package-level state can be changed.
func routes() []Route {
	proxy := func(path string, api exchange.API) Route {
		return Route{Method: "POST", Path: path, Kind: Proxy, API: api, Label: api.String(), Doc: path}
	}
	return []Route{
		proxy("/v1/chat/completions", exchange.ChatCompletions),
		proxy("/v1/completions", exchange.Completions),
		proxy("/v1/embeddings", exchange.Embeddings),
		proxy("/v1/responses", exchange.Responses),
		proxy("/v1/messages", exchange.Messages),
		proxy("/v1/messages/count_tokens", exchange.CountTokens),
		{Method: "GET", Path: "/v1/models", Kind: ModelList, API: exchange.Models, Label: "models", Doc: "/v1/models"},
		{Method: "GET", Path: "/v1/models/", Prefix: true, Kind: ModelByID, API: exchange.Models, Label: "models", Doc: "/v1/models/{id}"},
		{Method: "GET", Path: "/health", Kind: Health, Label: "health", Doc: "/health"},
		{Method: "GET", Path: "/healthz", Kind: Health, Label: "health", Doc: "/healthz"},
		{Method: "GET", Path: "/ready", Kind: Ready, Label: "ready", Doc: "/ready"},
		{Method: "GET", Path: "/metrics", Kind: Service, Label: "metrics", Doc: "/metrics"},
		{Method: "GET", Path: "/openapi.json", Kind: Service, Label: "openapi", Doc: "/openapi.json"},
		{Method: "GET", Path: "/docs", Kind: Service, Label: "docs", Doc: "/docs"},
	}
}

// Table is the registry, ready for lookups. The zero Table is empty; use Default.
type Table struct {
	exact  map[string]Route
	prefix []Route
	all    []Route
}

// Default returns the registry of the router's routes.
func Default() *Table {
	t := &Table{exact: map[string]Route{}}
	for _, r := range routes() {
		t.all = append(t.all, r)
		if r.Prefix {
			t.prefix = append(t.prefix, r)
		} else {
			t.exact[r.Path] = r
		}
	}
	return t
}

// Routes returns every route, in registry order. The slice is a copy.
func (t *Table) Routes() []Route { return append([]Route(nil), t.all...) }

// Lookup returns the route for a request path (without its query). A
// prefix route matches only with something after the prefix. Service
// routes are returned too: the caller decides whether it serves them.
func (t *Table) Lookup(path []byte) (Route, bool) {
	if r, ok := t.exact[string(path)]; ok { // no allocation: the compiler reads the bytes in place
		return r, true
	}
	for _, r := range t.prefix {
		if len(path) > len(r.Path) && bytes.HasPrefix(path, []byte(r.Path)) {
			return r, true
		}
	}
	return Route{}, false
}

// Label returns the metric label of a request path: its route's, or
// "other" for a path the registry does not know. It never returns client bytes.
func (t *Table) Label(path []byte) string {
	if r, ok := t.Lookup(path); ok && r.Kind != Service {
		return r.Label
	}
	return "other"
}
