package app_test

// Integration tests of the core router (issue 2): the proxied endpoints
// driven with the official OpenAI SDK, headers, body forwarding, the model
// listing, discovery, the service endpoints and the error envelope.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// rtTokens returns the text of the first n tokens of a mock completion.
func rtTokens(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(rtToken(i))
	}
	return b.String()
}

// rtToken returns the text of token i of a mock completion.
func rtToken(i int) string { return "tok" + strconv.Itoa(i) + " " }

// rtChatParams is a small chat request for model.
func rtChatParams(model string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello there")},
	}
}

// rtChat sends a chat completion through the SDK and returns the completion
// and the HTTP response (for its headers).
func rtChat(t *testing.T, e *env, params openai.ChatCompletionNewParams, opts ...option.RequestOption) (*openai.ChatCompletion, *http.Response) {
	t.Helper()
	var resp *http.Response
	c := e.SDK()
	got, err := c.Chat.Completions.New(context.Background(), params, append(opts, option.WithResponseInto(&resp))...)
	if err != nil {
		t.Fatalf("chat completion for %q: %v", params.Model, err)
	}
	return got, resp
}

// rtServedBy sends one chat request and returns the X-Continuum-Backend of its answer.
func rtServedBy(t *testing.T, e *env, params openai.ChatCompletionNewParams, opts ...option.RequestOption) string {
	t.Helper()
	_, resp := rtChat(t, e, params, opts...)
	return resp.Header.Get("X-Continuum-Backend")
}

// rtAPIError is the inside of an OpenAI error envelope; Param and Code are
// nil when they are JSON null.
type rtAPIError struct {
	Message string
	Type    string
	Param   *string
	Code    *string
}

// rtDecodeError checks that body is exactly the OpenAI error envelope
// {"error":{"message","type","param","code"}} and returns its content.
func rtDecodeError(t *testing.T, body string) rtAPIError {
	t.Helper()
	var outer map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &outer); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", body, err)
	}
	if len(outer) != 1 || outer["error"] == nil {
		t.Fatalf("error body %s: got keys %v, want exactly [error]", body, rtKeys(outer))
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(outer["error"], &inner); err != nil {
		t.Fatalf("error body %s: \"error\" is not an object: %v", body, err)
	}
	if got, want := rtKeys(inner), []string{"code", "message", "param", "type"}; !slices.Equal(got, want) {
		t.Fatalf("error body %s: got error keys %v, want %v", body, got, want)
	}
	var e rtAPIError
	if err := json.Unmarshal(outer["error"], &e); err != nil {
		t.Fatalf("error body %s: decode: %v", body, err)
	}
	if e.Message == "" {
		t.Errorf("error body %s: got an empty message, want one", body)
	}
	return e
}

// rtKeys returns the keys of m, sorted.
func rtKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// rtStr renders an optional string for messages: "null" or the value.
func rtStr(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// rtSDKError returns err as the SDK's *openai.Error, failing the test if it is not one.
func rtSDKError(t *testing.T, err error) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("got error %v (%T), want an *openai.Error", err, err)
	}
	return apiErr
}

// rtHexID matches a router-generated request id.
var rtHexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRouterChatCompletion(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{Tokens: 5}))

	got, resp := rtChat(t, e, rtChatParams(mock.DefaultModel))

	if len(got.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(got.Choices))
	}
	if c := got.Choices[0].Message.Content; c != rtTokens(5) {
		t.Errorf("got content %q, want %q", c, rtTokens(5))
	}
	if got.Model != mock.DefaultModel {
		t.Errorf("got model %q, want %q", got.Model, mock.DefaultModel)
	}
	if got.Usage.CompletionTokens != 5 {
		t.Errorf("got %d completion tokens, want 5", got.Usage.CompletionTokens)
	}
	if b := resp.Header.Get("X-Continuum-Backend"); b != "a" {
		t.Errorf("got X-Continuum-Backend %q, want %q", b, "a")
	}
	if s := e.Backends["a"].Mock.Stats(); s.ByPath[mock.RouteChat] != 1 {
		t.Errorf("backend got %d chat requests, want 1", s.ByPath[mock.RouteChat])
	}
}

func TestRouterCompletion(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{Tokens: 4}))
	c := e.SDK()

	got, err := c.Completions.New(context.Background(), openai.CompletionNewParams{
		Model:  openai.CompletionNewParamsModel(mock.DefaultModel),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
	})
	if err != nil {
		t.Fatalf("completion: %v", err)
	}
	if len(got.Choices) != 1 || got.Choices[0].Text != rtTokens(4) {
		t.Fatalf("got choices %+v, want one with text %q", got.Choices, rtTokens(4))
	}
	if path, _, _ := e.Backends["a"].Mock.LastRequest(); path != mock.RouteCompletions {
		t.Errorf("backend got path %q, want %q", path, mock.RouteCompletions)
	}
}

func TestRouterEmbeddings(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{EmbeddingDim: 12}))
	c := e.SDK()

	got, err := c.Embeddings.New(context.Background(), openai.EmbeddingNewParams{
		Model: mock.DefaultModel,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first", "second"}},
	})
	if err != nil {
		t.Fatalf("embeddings: %v", err)
	}
	if len(got.Data) != 2 {
		t.Fatalf("got %d embeddings, want 2", len(got.Data))
	}
	for i, d := range got.Data {
		if d.Index != int64(i) || len(d.Embedding) != 12 {
			t.Errorf("embedding %d: got index %d and %d dimensions, want index %d and 12", i, d.Index, len(d.Embedding), i)
		}
	}
	if slices.Equal(got.Data[0].Embedding, got.Data[1].Embedding) {
		t.Errorf("got equal vectors for different inputs, want them to differ")
	}
}

func TestRouterRequestID(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}))
	tests := []struct {
		name string
		sent string // "" sends none
	}{
		{name: "generated when absent"},
		{name: "propagated when sent", sent: "client-chosen-id-42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.sent != "" {
				header = []string{"X-Request-Id", tt.sent}
			}
			resp, body := e.Post("/v1/chat/completions", chatBody(mock.DefaultModel, false), header...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d (%s), want 200", resp.StatusCode, body)
			}
			id := resp.Header.Get("X-Request-Id")
			if tt.sent != "" && id != tt.sent {
				t.Errorf("got X-Request-Id %q, want the client's %q", id, tt.sent)
			}
			if tt.sent == "" && !rtHexID.MatchString(id) {
				t.Errorf("got X-Request-Id %q, want 32 lowercase hex characters", id)
			}
			_, h, _ := e.Backends["a"].Mock.LastRequest()
			if got := h.Get("X-Request-Id"); got != id {
				t.Errorf("backend got X-Request-Id %q, want the one returned to the client, %q", got, id)
			}
		})
	}
}

func TestRouterRequestIDOnErrors(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}))
	resp, body := e.Post("/v1/chat/completions", chatBody("no-such-model", false))
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("got status %d (%s), want 404", resp.StatusCode, body)
	}
	if id := resp.Header.Get("X-Request-Id"); !rtHexID.MatchString(id) {
		t.Errorf("got X-Request-Id %q on a router-made error, want 32 lowercase hex characters", id)
	}
}

func TestRouterBackendHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		expose bool
		want   string
	}{
		{name: "exposed by default", expose: true, want: "only"},
		{name: "hidden when turned off", expose: false, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, withBackend("only", mock.Options{}),
				withConfig(func(c *config.Config) { c.Server.ExposeBackendHeader = tt.expose }))
			_, resp := rtChat(t, e, rtChatParams(mock.DefaultModel))
			if _, present := resp.Header["X-Continuum-Backend"]; present != (tt.want != "") {
				t.Errorf("got X-Continuum-Backend present %v, want %v", present, tt.want != "")
			}
			if got := resp.Header.Get("X-Continuum-Backend"); got != tt.want {
				t.Errorf("got X-Continuum-Backend %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRouterBodyForwardedUnchanged(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{Models: []string{"real-model"}}),
		withConfig(func(c *config.Config) { c.ModelAliases = map[string]string{"nice-name": "real-model"} }))

	// Unusual but valid JSON: odd spacing, key order, escapes, unknown
	// fields and numbers that a decode/re-encode would change.
	const tmpl = "{ \"temperature\" : 0.70, \"messages\":[{\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"q\\\" \\/ 1e3\"}],\n" +
		"\t\"model\":  %q ,\"x_vendor\":{\"keep\":[1,2.50,true,null]}, \"max_tokens\": 3 }"
	tests := []struct {
		name      string
		model     string
		wantModel string
	}{
		{name: "served model: byte for byte", model: "real-model", wantModel: "real-model"},
		{name: "alias: only the model is rewritten", model: "nice-name", wantModel: "real-model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(tmpl, tt.model)
			resp, got := e.Post("/v1/chat/completions", body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d (%s), want 200", resp.StatusCode, got)
			}
			want := fmt.Sprintf(tmpl, tt.wantModel)
			_, _, sent := e.Backends["a"].Mock.LastRequest()
			if string(sent) != want {
				t.Errorf("backend got body\n%s\nwant\n%s", sent, want)
			}
			var c struct {
				Model string `json:"model"`
			}
			if err := json.Unmarshal([]byte(got), &c); err != nil || c.Model != tt.wantModel {
				t.Errorf("got answer model %q (err %v), want %q", c.Model, err, tt.wantModel)
			}
		})
	}
}

func TestRouterAlias(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{Models: []string{"llama-3.1-8b"}, Tokens: 3}),
		withConfig(func(c *config.Config) { c.ModelAliases = map[string]string{"gpt-4o-mini": "llama-3.1-8b"} }))

	got, resp := rtChat(t, e, rtChatParams("gpt-4o-mini"))
	if got.Choices[0].Message.Content != rtTokens(3) {
		t.Errorf("got content %q, want %q", got.Choices[0].Message.Content, rtTokens(3))
	}
	if b := resp.Header.Get("X-Continuum-Backend"); b != "a" {
		t.Errorf("got X-Continuum-Backend %q, want %q", b, "a")
	}
	_, _, sent := e.Backends["a"].Mock.LastRequest()
	var req struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(sent, &req); err != nil {
		t.Fatalf("backend body %s: %v", sent, err)
	}
	if req.Model != "llama-3.1-8b" {
		t.Errorf("backend got model %q, want the alias rewritten to %q", req.Model, "llama-3.1-8b")
	}
}

func TestRouterCredentialsAndHopByHop(t *testing.T) {
	t.Parallel()
	const key = "backend-secret"
	e := start(t, withBackend("a", mock.Options{RequireAPIKey: key}, func(b *config.Backend) { b.APIKey = key }))

	t.Run("sdk key is replaced by the backend's", func(t *testing.T) {
		_, _ = rtChat(t, e, rtChatParams(mock.DefaultModel), option.WithAPIKey("sk-client-only"))
		_, h, _ := e.Backends["a"].Mock.LastRequest()
		if got, want := h.Get("Authorization"), "Bearer "+key; got != want {
			t.Errorf("backend got Authorization %q, want %q", got, want)
		}
	})

	t.Run("client headers", func(t *testing.T) {
		resp, body := e.Post("/v1/chat/completions", chatBody(mock.DefaultModel, false),
			"Authorization", "Bearer sk-client-only",
			"X-Api-Key", "client-api-key",
			"Connection", "keep-alive, X-Hop-Named",
			"X-Hop-Named", "named in Connection",
			"Keep-Alive", "timeout=5",
			"Proxy-Authorization", "Basic Zm9vOmJhcg==",
			"Proxy-Connection", "keep-alive",
			"Te", "trailers",
			"X-End-To-End", "kept",
		)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got status %d (%s), want 200", resp.StatusCode, body)
		}
		_, h, _ := e.Backends["a"].Mock.LastRequest()
		if got, want := h.Get("Authorization"), "Bearer "+key; got != want {
			t.Errorf("backend got Authorization %q, want %q", got, want)
		}
		if got := h.Values("Authorization"); len(got) != 1 {
			t.Errorf("backend got Authorization values %q, want exactly one", got)
		}
		for _, name := range []string{"X-Api-Key", "X-Hop-Named", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te"} {
			if v, ok := h[http.CanonicalHeaderKey(name)]; ok {
				t.Errorf("backend got %s: %q, want it stripped", name, v)
			}
		}
		if c := h.Get("Connection"); strings.Contains(strings.ToLower(c), "x-hop-named") {
			t.Errorf("backend got Connection %q, want the client's token list stripped", c)
		}
		if got := h.Get("X-End-To-End"); got != "kept" {
			t.Errorf("backend got X-End-To-End %q, want %q", got, "kept")
		}
	})
}

func TestRouterModels(t *testing.T) {
	t.Parallel()
	e := start(t,
		withBackend("a", mock.Options{Models: []string{"m1", "shared"}}),
		withBackend("b", mock.Options{Models: []string{"shared", "m2"}}),
		withDiscovery("b"),
		withConfig(func(c *config.Config) { c.ModelAliases = map[string]string{"al": "m1"} }),
	)
	c := e.SDK()

	page, err := c.Models.List(context.Background())
	if err != nil {
		t.Fatalf("list models: %v", err)
	}
	type entry struct {
		backends []string
		aliasFor string
	}
	got := map[string]entry{}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		var backends []string
		if f, ok := m.JSON.ExtraFields["backends"]; !ok || json.Unmarshal([]byte(f.Raw()), &backends) != nil {
			t.Errorf("model %q: got backends field %q, want a list of names", m.ID, f.Raw())
		}
		var aliasFor string
		if f, ok := m.JSON.ExtraFields["alias_for"]; ok {
			_ = json.Unmarshal([]byte(f.Raw()), &aliasFor)
		}
		got[m.ID] = entry{backends: backends, aliasFor: aliasFor}
		if m.Object != "model" {
			t.Errorf("model %q: got object %q, want %q", m.ID, m.Object, "model")
		}
	}
	sortedIDs := slices.Clone(ids)
	sort.Strings(sortedIDs)
	if want := []string{"al", "m1", "m2", "shared"}; !slices.Equal(sortedIDs, want) {
		t.Fatalf("got model ids %v, want %v (union of static and discovered, deduplicated, with the alias)", ids, want)
	}
	want := map[string]entry{
		"m1":     {backends: []string{"a"}},
		"m2":     {backends: []string{"b"}},
		"shared": {backends: []string{"a", "b"}},
		"al":     {backends: []string{"a"}, aliasFor: "m1"},
	}
	for id, w := range want {
		g := got[id]
		gb := slices.Clone(g.backends)
		sort.Strings(gb)
		if !slices.Equal(gb, w.backends) || g.aliasFor != w.aliasFor {
			t.Errorf("model %q: got backends %v alias_for %q, want backends %v alias_for %q", id, g.backends, g.aliasFor, w.backends, w.aliasFor)
		}
	}

	t.Run("get one", func(t *testing.T) {
		m, err := c.Models.Get(context.Background(), "shared")
		if err != nil {
			t.Fatalf("get model: %v", err)
		}
		if m.ID != "shared" {
			t.Errorf("got id %q, want %q", m.ID, "shared")
		}
	})
	t.Run("get unknown", func(t *testing.T) {
		_, err := c.Models.Get(context.Background(), "nope")
		apiErr := rtSDKError(t, err)
		if apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
			t.Errorf("got status %d code %q, want 404 model_not_found", apiErr.StatusCode, apiErr.Code)
		}
		resp, body := e.Get("/v1/models/nope")
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("got status %d, want 404", resp.StatusCode)
		}
		if env := rtDecodeError(t, body); rtStr(env.Code) != "model_not_found" {
			t.Errorf("got code %s, want model_not_found", rtStr(env.Code))
		}
	})
	t.Run("raw listing", func(t *testing.T) {
		resp, body := e.Get("/v1/models")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("got status %d, want 200", resp.StatusCode)
		}
		var list struct {
			Object string `json:"object"`
			Data   []struct {
				ID       string   `json:"id"`
				Backends []string `json:"backends"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		if list.Object != "list" || len(list.Data) != 4 {
			t.Errorf("got object %q with %d entries, want \"list\" with 4", list.Object, len(list.Data))
		}
	})
}

func TestRouterDiscovery(t *testing.T) {
	t.Parallel()
	e := start(t,
		withBackend("static", mock.Options{Models: []string{"other"}}),
		withBackend("disc", mock.Options{Models: []string{"found-1", "found-2"}}),
		withDiscovery("disc"),
	)
	for _, model := range []string{"found-1", "found-2"} {
		if b := rtServedBy(t, e, rtChatParams(model)); b != "disc" {
			t.Errorf("model %q: got X-Continuum-Backend %q, want %q", model, b, "disc")
		}
	}
	if n := e.Backends["disc"].Mock.Stats().ByPath[mock.RouteModels]; n < 1 {
		t.Errorf("discovered backend got %d model listings, want at least 1", n)
	}
	if n := e.Backends["static"].Mock.Stats().ByPath[mock.RouteModels]; n != 0 {
		t.Errorf("static backend got %d model listings, want 0", n)
	}
}

// rtNoModelsList serves m except GET /v1/models, which answers 404 as an
// Ollama without the OpenAI model listing would.
func rtNoModelsList(m *mock.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == mock.RouteModels {
			http.NotFound(w, r)
			return
		}
		m.ServeHTTP(w, r)
	})
}

func TestRouterOllama(t *testing.T) {
	t.Parallel()
	models := []string{"llama3.2", "qwen2.5:7b"}
	tests := []struct {
		name       string
		noV1Models bool
		wantPath   string // the listing the models must come from
	}{
		{name: "models from /v1/models", wantPath: mock.RouteModels},
		{name: "models from /api/tags when /v1/models is missing", noV1Models: true, wantPath: mock.RouteTags},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The backend is our own mock, behind a handler that may hide
			// /v1/models; the harness's mock for "ol" stays unused.
			m := mock.New(mock.Options{Name: "ol", Models: models, Tokens: 2})
			var h http.Handler = m
			if tt.noV1Models {
				h = rtNoModelsList(m)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			e := start(t,
				withBackend("ol", mock.Options{}, func(b *config.Backend) {
					b.Type = "ollama"
					b.URL = srv.URL
				}),
				withDiscovery("ol"),
			)
			for _, model := range models {
				got, resp := rtChat(t, e, rtChatParams(model))
				if got.Choices[0].Message.Content != rtTokens(2) || resp.Header.Get("X-Continuum-Backend") != "ol" {
					t.Errorf("model %q: got content %q from %q, want %q from ol", model,
						got.Choices[0].Message.Content, resp.Header.Get("X-Continuum-Backend"), rtTokens(2))
				}
			}
			if n := m.Stats().ByPath[tt.wantPath]; n < 1 {
				t.Errorf("got %d requests to %s, want at least 1", n, tt.wantPath)
			}
			if !tt.noV1Models {
				if n := m.Stats().ByPath[mock.RouteTags]; n != 0 {
					t.Errorf("got %d requests to %s, want 0 when /v1/models answers", n, mock.RouteTags)
				}
			}
			var ids []string
			for _, md := range e.App.Models() {
				ids = append(ids, md.ID)
			}
			if !slices.Equal(ids, models) {
				t.Errorf("got models %v, want %v", ids, models)
			}
		})
	}
}

func TestRouterServiceEndpoints(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}))
	for _, path := range []string{"/health", "/healthz", "/ready"} {
		t.Run(path, func(t *testing.T) {
			resp, body := e.Get(path)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("got status %d (%s), want 200", resp.StatusCode, body)
			}
		})
	}
}

func TestRouterNotReady(t *testing.T) {
	t.Parallel()
	t.Run("every backend drained", func(t *testing.T) {
		t.Parallel()
		e := start(t, withBackend("a", mock.Options{}), withBackend("b", mock.Options{}))
		if resp, body := e.Get("/ready"); resp.StatusCode != http.StatusOK {
			t.Fatalf("before draining: got status %d (%s), want 200", resp.StatusCode, body)
		}
		for _, name := range []string{"a", "b"} {
			if err := e.App.SetDrained(name, true); err != nil {
				t.Fatalf("drain %s: %v", name, err)
			}
		}
		resp, body := e.Get("/ready")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("got status %d (%s), want 503", resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("got no Retry-After on 503, want one")
		}
		if err := e.App.SetDrained("b", false); err != nil {
			t.Fatalf("undrain b: %v", err)
		}
		if resp, body := e.Get("/ready"); resp.StatusCode != http.StatusOK {
			t.Errorf("after undraining one: got status %d (%s), want 200", resp.StatusCode, body)
		}
	})
	t.Run("only backend down by health check", func(t *testing.T) {
		t.Parallel()
		e := start(t, withDeadBackend("dead", mock.DefaultModel),
			withConfig(func(c *config.Config) { c.HealthChecks.Enabled = true }))
		// The first probe decides at once; wait for its log line (a
		// safety net against hangs, not a timing assertion).
		e.Logs.WaitFor(t, "backend health changed", "backend=dead", "to=down")
		resp, body := e.Get("/ready")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("got status %d (%s), want 503", resp.StatusCode, body)
		}
	})
}

func TestRouterErrorEnvelope(t *testing.T) {
	t.Parallel()
	const maxBody = 512
	e := start(t, withBackend("a", mock.Options{}),
		withConfig(func(c *config.Config) { c.Server.MaxBodySize = maxBody }))
	big := `{"model":"` + mock.DefaultModel + `","messages":[{"role":"user","content":"` + strings.Repeat("x", 4*maxBody) + `"}]}`
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantType   string
		wantCode   string // "null" for JSON null
		wantParam  string // "null" for JSON null
		wantAllow  string
	}{
		{name: "bad JSON", method: "POST", path: "/v1/chat/completions", body: `{"model": "mock-model", "messages": [`,
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "invalid_json", wantParam: "null"},
		{name: "missing model", method: "POST", path: "/v1/chat/completions", body: `{"messages":[{"role":"user","content":"hi"}]}`,
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "missing_required_parameter", wantParam: "model"},
		{name: "empty model", method: "POST", path: "/v1/completions", body: `{"model":"","prompt":"hi"}`,
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "missing_required_parameter", wantParam: "model"},
		{name: "unknown model", method: "POST", path: "/v1/chat/completions", body: chatBody("no-such-model", false),
			wantStatus: 404, wantType: "invalid_request_error", wantCode: "model_not_found", wantParam: "model"},
		{name: "oversized body", method: "POST", path: "/v1/chat/completions", body: big,
			wantStatus: 413, wantType: "invalid_request_error", wantCode: "request_too_large", wantParam: "null"},
		{name: "stream on embeddings", method: "POST", path: "/v1/embeddings", body: `{"model":"mock-model","input":"x","stream":true}`,
			wantStatus: 400, wantType: "invalid_request_error", wantCode: "unsupported_parameter", wantParam: "stream"},
		{name: "unknown path", method: "POST", path: "/v1/nothing-here", body: `{}`,
			wantStatus: 404, wantType: "invalid_request_error", wantCode: "not_found", wantParam: "null"},
		{name: "unknown GET path", method: "GET", path: "/v2/models",
			wantStatus: 404, wantType: "invalid_request_error", wantCode: "not_found", wantParam: "null"},
		{name: "GET on chat", method: "GET", path: "/v1/chat/completions",
			wantStatus: 405, wantType: "invalid_request_error", wantCode: "method_not_allowed", wantParam: "null", wantAllow: "POST"},
		{name: "POST on models", method: "POST", path: "/v1/models", body: `{}`,
			wantStatus: 405, wantType: "invalid_request_error", wantCode: "method_not_allowed", wantParam: "null", wantAllow: "GET, HEAD"},
		{name: "DELETE on health", method: "DELETE", path: "/health",
			wantStatus: 405, wantType: "invalid_request_error", wantCode: "method_not_allowed", wantParam: "null", wantAllow: "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := send(t, tt.method, e.URL+tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("got Content-Type %q, want application/json", ct)
			}
			got := rtDecodeError(t, body)
			if got.Type != tt.wantType || rtStr(got.Code) != tt.wantCode || rtStr(got.Param) != tt.wantParam {
				t.Errorf("got type %q code %s param %s, want type %q code %s param %s",
					got.Type, rtStr(got.Code), rtStr(got.Param), tt.wantType, tt.wantCode, tt.wantParam)
			}
			if tt.wantAllow != "" && resp.Header.Get("Allow") != tt.wantAllow {
				t.Errorf("got Allow %q, want %q", resp.Header.Get("Allow"), tt.wantAllow)
			}
		})
	}
	if n := e.Backends["a"].Mock.Stats().Requests; n != 0 {
		t.Errorf("backend got %d requests, want 0: the router answers these itself", n)
	}
}

func TestRouterBackendsDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts []setupOption
	}{
		{name: "only backend refuses connections", opts: []setupOption{withDeadBackend("dead", mock.DefaultModel)}},
		{name: "every backend refuses connections", opts: []setupOption{
			withDeadBackend("dead-1", mock.DefaultModel), withDeadBackend("dead-2", mock.DefaultModel)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := start(t, append(tt.opts, withConfig(func(c *config.Config) { c.Retry.BaseDelay = 0 }))...)

			resp, body := e.Post("/v1/chat/completions", chatBody(mock.DefaultModel, false))
			if resp.StatusCode != http.StatusBadGateway {
				t.Fatalf("got status %d (%s), want 502", resp.StatusCode, body)
			}
			if got := rtDecodeError(t, body); got.Type != "upstream_error" {
				t.Errorf("got type %q, want upstream_error", got.Type)
			}

			c := e.SDK()
			_, err := c.Chat.Completions.New(context.Background(), rtChatParams(mock.DefaultModel))
			apiErr := rtSDKError(t, err)
			if apiErr.StatusCode != http.StatusBadGateway || apiErr.Type != "upstream_error" {
				t.Errorf("SDK: got status %d type %q, want 502 upstream_error", apiErr.StatusCode, apiErr.Type)
			}
		})
	}
}

func TestRouterFailsOverToLiveBackend(t *testing.T) {
	t.Parallel()
	e := start(t, withDeadBackend("dead", mock.DefaultModel), withBackend("live", mock.Options{}),
		withConfig(func(c *config.Config) { c.Retry.BaseDelay = 0 }))
	for i := range 4 {
		if b := rtServedBy(t, e, rtChatParams(mock.DefaultModel)); b != "live" {
			t.Errorf("request %d: got X-Continuum-Backend %q, want %q", i, b, "live")
		}
	}
}

func TestRouterSDKErrors(t *testing.T) {
	t.Parallel()
	const maxBody = 512
	e := start(t, withBackend("a", mock.Options{}),
		withConfig(func(c *config.Config) { c.Server.MaxBodySize = maxBody }))
	ctx := context.Background()
	c := e.SDK()
	tests := []struct {
		name       string
		call       func() error
		wantStatus int
		wantType   string
		wantCode   string
		wantParam  string
	}{
		{name: "unknown model", call: func() error {
			_, err := c.Chat.Completions.New(ctx, rtChatParams("no-such-model"))
			return err
		}, wantStatus: 404, wantType: "invalid_request_error", wantCode: "model_not_found", wantParam: "model"},
		{name: "empty model", call: func() error {
			_, err := c.Chat.Completions.New(ctx, rtChatParams(""))
			return err
		}, wantStatus: 400, wantType: "invalid_request_error", wantCode: "missing_required_parameter", wantParam: "model"},
		{name: "bad JSON", call: func() error {
			_, err := c.Chat.Completions.New(ctx, rtChatParams(mock.DefaultModel),
				option.WithRequestBody("application/json", []byte(`{"model":`)))
			return err
		}, wantStatus: 400, wantType: "invalid_request_error", wantCode: "invalid_json"},
		{name: "oversized body", call: func() error {
			p := rtChatParams(mock.DefaultModel)
			p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage(strings.Repeat("y", 4*maxBody))}
			_, err := c.Chat.Completions.New(ctx, p)
			return err
		}, wantStatus: 413, wantType: "invalid_request_error", wantCode: "request_too_large"},
		{name: "stream on embeddings", call: func() error {
			_, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model: mock.DefaultModel,
				Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")},
			}, option.WithJSONSet("stream", true))
			return err
		}, wantStatus: 400, wantType: "invalid_request_error", wantParam: "stream"},
		{name: "streaming unknown model", call: func() error {
			s := c.Chat.Completions.NewStreaming(ctx, rtChatParams("no-such-model"))
			defer s.Close()
			for s.Next() {
			}
			return s.Err()
		}, wantStatus: 404, wantType: "invalid_request_error", wantCode: "model_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			apiErr := rtSDKError(t, tt.call())
			if apiErr.StatusCode != tt.wantStatus || apiErr.Type != tt.wantType {
				t.Errorf("got status %d type %q, want %d %q", apiErr.StatusCode, apiErr.Type, tt.wantStatus, tt.wantType)
			}
			if tt.wantCode != "" && apiErr.Code != tt.wantCode {
				t.Errorf("got code %q, want %q", apiErr.Code, tt.wantCode)
			}
			if tt.wantParam != "" && apiErr.Param != tt.wantParam {
				t.Errorf("got param %q, want %q", apiErr.Param, tt.wantParam)
			}
		})
	}
}
