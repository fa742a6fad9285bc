package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// These tests cover what the router makes of backends' answers that are
// not what an OpenAI-compatible server should send: malformed 2xx bodies,
// 5xx pages outside the OpenAI envelope, an error event in a committed
// stream, overloaded backends, and upstream request ids.

// rawBackend answers every request with a fixed status, content type and
// body, and counts the requests.
type rawBackend struct {
	status int
	ctype  string
	body   string
	calls  atomic.Int64
}

func (b *rawBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.calls.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	if b.ctype != "" {
		w.Header().Set("Content-Type", b.ctype)
	}
	w.WriteHeader(b.status)
	_, _ = io.WriteString(w, b.body)
}

// envelope checks that an answer is the OpenAI error envelope, as JSON
// (rtDecodeError), and returns its type, code and message.
func envelope(t *testing.T, resp *http.Response, body string) (typ, code, msg string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, body)
	}
	e := rtDecodeError(t, body)
	if e.Code != nil {
		code = *e.Code
	}
	return e.Type, code, e.Message
}

// A 2xx answer that is not a JSON object (a proxy's login page in front of
// a backend, plain text) is a malformed answer: the request fails over, and
// with no other backend the client gets 502 upstream_error.
func TestMalformedAnswerFailsOver(t *testing.T) {
	page := &rawBackend{status: 200, ctype: "text/html", body: "<html>proxy login page</html>"}
	text := &rawBackend{status: 200, ctype: "application/json", body: "this is not json"}
	e := start(t,
		withHandlerBackend("page", page, "m"),
		withBackend("good", mock.Options{Models: []string{"m"}}),
		withHandlerBackend("text", text, "solo"),
		withConfig(func(c *config.Config) { c.SelectionStrategy = "round_robin" }))

	for _, stream := range []bool{false, true} {
		for i := range 4 {
			resp, body := e.Post("/v1/chat/completions", chatBody("m", stream))
			if resp.StatusCode != 200 || strings.Contains(body, "login") || resp.Header.Get("X-Continuum-Backend") != "good" {
				t.Fatalf("stream %v, request %d: %d from %q: %q; want 200 from the good backend", stream, i, resp.StatusCode, resp.Header.Get("X-Continuum-Backend"), body)
			}
		}
	}
	if page.calls.Load() == 0 {
		t.Fatal("the backend answering HTML was never tried: the test proves nothing")
	}
	resp, body := e.Post("/v1/chat/completions", chatBody("solo", false))
	if resp.StatusCode != 502 {
		t.Fatalf("the only backend answering plain text: %d %q, want 502", resp.StatusCode, body)
	}
	if typ, _, _ := envelope(t, resp, body); typ != "upstream_error" {
		t.Errorf("type %q, want upstream_error", typ)
	}
	e.Logs.WaitFor(t, "msg=request", "model=solo", "status=502", "error=protocol")
}

// A backend's 5xx reaches the client in the OpenAI envelope: its own when
// it sent one, the router's otherwise.
func TestBackend5xxInEnvelope(t *testing.T) {
	own := `{"error":{"message":"CUDA out of memory","type":"server_error","param":null,"code":null}}`
	tests := []struct {
		model      string
		backend    *rawBackend
		wantStatus int
		wantType   string
		wantBody   string // exact, when the backend's own envelope is passed on
	}{
		{"html500", &rawBackend{status: 500, ctype: "text/html", body: "<html><body>Internal Server Error</body></html>"}, 502, "upstream_error", ""},
		{"empty502", &rawBackend{status: 502, ctype: "text/plain"}, 502, "upstream_error", ""},
		{"html503", &rawBackend{status: 503, ctype: "text/html", body: "<html>down for maintenance</html>"}, 503, "no_backend_available", ""},
		{"html504", &rawBackend{status: 504, ctype: "text/html", body: "<html>gateway timeout</html>"}, 504, "upstream_timeout", ""},
		{"own500", &rawBackend{status: 500, ctype: "application/json", body: own}, 500, "server_error", own},
	}
	var opts []setupOption
	for _, tt := range tests {
		opts = append(opts, withHandlerBackend(tt.model, tt.backend, tt.model))
	}
	e := start(t, opts...)
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			resp, body := e.Post("/v1/chat/completions", chatBody(tt.model, false))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (body %q), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if typ, _, msg := envelope(t, resp, body); typ != tt.wantType || strings.Contains(msg, "<html") {
				t.Errorf("type %q message %q, want type %s and no page", typ, msg, tt.wantType)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body %q, want the backend's own envelope %q", body, tt.wantBody)
			}
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("a 503 without Retry-After")
			}
		})
	}
}

// A backend's error event after the commit point ends the stream with one
// error event, the router's, carrying the backend's message.
func TestBackendErrorEventAfterCommit(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}`+"\n\n")
		_, _ = io.WriteString(w, `data: {"error":{"message":"engine died","type":"server_error"}}`+"\n\n")
	})
	e := start(t, withHandlerBackend("dying", h, "m"))
	resp, err := http.Post(e.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody("m", true)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Error("the stream ended cleanly; want it cut without the final chunk")
	}
	body := string(raw)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %q", resp.StatusCode, body)
	}
	if n := strings.Count(body, `"error"`); n != 1 {
		t.Errorf("%d error events, want 1:\n%s", n, body)
	}
	if !strings.Contains(body, "engine died") || !strings.Contains(body, "stream_interrupted") || strings.Contains(body, "[DONE]") {
		t.Errorf("want the router's stream_interrupted event with the backend's message and no [DONE]:\n%s", body)
	}
	if !strings.Contains(body, `"content":"Hi"`) {
		t.Errorf("the content before the error is missing:\n%s", body)
	}
}

// Once every backend rests after saying it was overloaded (503 with
// Retry-After), the router answers 503 overloaded, not 429; after a 429 it
// answers 429. Anthropic clients get 529 overloaded_error with the request
// id in the body.
func TestOverloadedBackendsAnswer503(t *testing.T) {
	e := start(t,
		withBackend("busy", mock.Options{Models: []string{"busy"}, ErrorStatus: 503, RetryAfter: "30"}),
		withBackend("limited", mock.Options{Models: []string{"limited"}, ErrorStatus: 429, RetryAfter: "30"}))

	if resp, body := e.Post("/v1/chat/completions", chatBody("busy", false)); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "30" {
		t.Fatalf("the backend's own 503: %d, Retry-After %q, %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	resp, body := e.Post("/v1/chat/completions", chatBody("busy", false))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("while the backend rests: %d, Retry-After %q, %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if typ, code, _ := envelope(t, resp, body); typ != "overloaded_error" || code != "overloaded" {
		t.Errorf("type %q code %q, want overloaded_error/overloaded", typ, code)
	}

	resp, body = e.Post("/v1/messages", `{"model":"busy","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	var ae struct {
		Type  string `json:"type"`
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &ae); err != nil || resp.StatusCode != 529 || ae.Error.Type != "overloaded_error" {
		t.Errorf("Anthropic client: %d %q, want 529 overloaded_error", resp.StatusCode, body)
	}
	if id := resp.Header.Get("Request-Id"); id == "" || ae.RequestID != id {
		t.Errorf("Anthropic error body request_id %q, header request-id %q: want both, equal", ae.RequestID, id)
	}

	e.Post("/v1/chat/completions", chatBody("limited", false))
	resp, body = e.Post("/v1/chat/completions", chatBody("limited", false))
	if resp.StatusCode != 429 {
		t.Fatalf("while a rate-limited backend rests: %d %q, want 429", resp.StatusCode, body)
	}
	if typ, _, _ := envelope(t, resp, body); typ != "rate_limit_exceeded" {
		t.Errorf("type %q, want rate_limit_exceeded", typ)
	}
}

// An Anthropic backend's request-id reaches OpenAI clients as
// X-Upstream-Request-Id, never as their request id.
func TestUpstreamRequestIDRenamed(t *testing.T) {
	e := start(t, withBackend("claude", mock.Options{API: mock.APIAnthropic, Models: []string{"claude-x"}, Tokens: 3}, anthropicBackend))
	for _, path := range []string{"/v1/chat/completions", "/v1/responses"} {
		body := chatBody("claude-x", false)
		if path == "/v1/responses" {
			body = `{"model":"claude-x","input":"hi"}`
		}
		resp, got := e.Post(path, body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, got)
		}
		if id := resp.Header.Get("Request-Id"); id != "" {
			t.Errorf("%s: Request-Id %q passed to an OpenAI client", path, id)
		}
		if up := resp.Header.Get("X-Upstream-Request-Id"); up == "" || up == resp.Header.Get("X-Request-Id") {
			t.Errorf("%s: X-Upstream-Request-Id %q (X-Request-Id %q), want the backend's", path, up, resp.Header.Get("X-Request-Id"))
		}
	}
}

// The listener's own refusals on the Anthropic paths carry the request id
// in Anthropic's error body as well as in the request-id header.
func TestAnthropicRefusalsCarryRequestID(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{}), withConfig(func(c *config.Config) { c.Server.MaxBodySize = 1024 }))
	big := `{"model":"` + mock.DefaultModel + `","max_tokens":10,"messages":[{"role":"user","content":"` + strings.Repeat("x", 2048) + `"}]}`
	for _, tt := range []struct {
		name, path, body string
		status           int
	}{
		{"too large", "/v1/messages", big, 413},
		{"too large, count_tokens", "/v1/messages/count_tokens", big, 413},
		{"bad JSON", "/v1/messages", `{"model":`, 400},
		{"unknown model", "/v1/messages", `{"model":"nope","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, 404},
	} {
		resp, body := e.Post(tt.path, tt.body)
		var ae struct {
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal([]byte(body), &ae); err != nil || resp.StatusCode != tt.status || ae.Type != "error" {
			t.Errorf("%s: %d %q, want %d in Anthropic's envelope", tt.name, resp.StatusCode, body, tt.status)
			continue
		}
		if id := resp.Header.Get("Request-Id"); id == "" || ae.RequestID != id {
			t.Errorf("%s: body request_id %q, header request-id %q; want both, equal", tt.name, ae.RequestID, id)
		}
	}
}

// Admin API and dashboard requests get one msg=admin line each: info for
// changes, debug for reads; never the credential.
func TestAdminAuditLines(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{}), withConfig(func(c *config.Config) {
		c.Admin.Auth = config.AdminAuth{Method: "bearer_token", Token: ohAdminToken}
	}))
	auth := []string{"Authorization", "Bearer " + ohAdminToken}
	if resp, body := e.Post("/admin/backends/a/drain", "", auth...); resp.StatusCode != 200 {
		t.Fatalf("drain: %d %s", resp.StatusCode, body)
	}
	e.Logs.WaitFor(t, "level=INFO", "msg=admin", "method=POST", "path=/admin/backends/a/drain", "status=200", "client_ip=127.0.0.1")
	if resp, _ := e.Get("/admin/config?token=x", auth...); resp.StatusCode != 200 {
		t.Fatalf("config: %d", resp.StatusCode)
	}
	e.Logs.WaitFor(t, "level=DEBUG", "msg=admin", "method=GET", "path=/admin/config", "status=200")
	if resp, _ := e.Post("/admin/backends/a/undrain", ""); resp.StatusCode != 401 {
		t.Fatalf("undrain without credentials: %d", resp.StatusCode)
	}
	e.Logs.WaitFor(t, "msg=admin", "path=/admin/backends/a/undrain", "status=401")
	if logs := e.Logs.String(); strings.Contains(logs, ohAdminToken) || strings.Contains(logs, "token=x") {
		t.Error("the admin credential or the query string is in the log")
	}
}

// An Anthropic backend's error event after the commit point reaches an
// Anthropic client once: the router's event, with the backend's type.
func TestAnthropicPassthroughErrorEventOnce(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`event: message_start` + "\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}`,
			`event: content_block_start` + "\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`event: content_block_delta` + "\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`,
			`event: error` + "\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		} {
			_, _ = io.WriteString(w, ev+"\n\n")
		}
	})
	e := start(t, withHandlerBackend("claude", h, "claude-x"), withConfig(func(c *config.Config) {
		for i := range c.Backends {
			c.Backends[i].Type = "anthropic"
		}
	}))
	resp, err := http.Post(e.URL+"/v1/messages", "application/json",
		strings.NewReader(`{"model":"claude-x","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body) // the stream is cut without its end
	body := string(raw)
	if resp.StatusCode != 200 || !strings.Contains(body, `"text":"Hi"`) {
		t.Fatalf("%d:\n%s", resp.StatusCode, body)
	}
	if n := strings.Count(body, "event: error"); n != 1 || !strings.Contains(body, "overloaded_error") || strings.Contains(body, "message_stop") {
		t.Errorf("%d error events, want one overloaded_error and no message_stop:\n%s", n, body)
	}
}

// A stream whose client did not ask for usage is still counted in tokens
// (the router asks the backend for the usage chunk and keeps it from the
// client), with no token limit configured.
func TestStreamTokensCountedWithoutIncludeUsage(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{Tokens: 7}))
	resp, body := e.Post("/v1/chat/completions", chatBody(mock.DefaultModel, true))
	if resp.StatusCode != 200 || !strings.Contains(body, "[DONE]") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, `"usage":{`) {
		t.Errorf("the client did not ask for usage but got a usage chunk:\n%s", body)
	}
	m := opsScrape(t, e.URL+"/metrics")
	if got := m.Sum("continuum_tokens_total", "type", "completion"); got != 7 {
		t.Errorf("continuum_tokens_total{type=completion} = %v, want 7 (from the backend's usage)", got)
	}
	e.Logs.WaitFor(t, "msg=request", "stream=true", "tokens_out=7")
}

// Anthropic request parameters an OpenAI-compatible backend cannot take
// are named in X-Continuum-Dropped-Params, as in the other direction.
func TestAnthropicClientDroppedParams(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{}))
	for _, stream := range []bool{false, true} {
		body := `{"model":"` + mock.DefaultModel + `","max_tokens":10,"top_k":5,"service_tier":"auto","messages":[{"role":"user","content":"hi"}]`
		if stream {
			body += `,"stream":true`
		}
		resp, got := e.Post("/v1/messages", body+"}")
		if resp.StatusCode != 200 {
			t.Fatalf("stream %v: %d %s", stream, resp.StatusCode, got)
		}
		if h := resp.Header.Get("X-Continuum-Dropped-Params"); !strings.Contains(h, "top_k") || !strings.Contains(h, "service_tier") {
			t.Errorf("stream %v: X-Continuum-Dropped-Params %q, want top_k and service_tier", stream, h)
		}
	}
}

// Rate-limit headers are derived across APIs: OpenAI's x-ratelimit-* for an
// OpenAI client of an Anthropic backend, Anthropic's for the reverse.
func TestRateLimitHeadersAcrossAPIs(t *testing.T) {
	claude := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("anthropic-ratelimit-requests-limit", "100")
		h.Set("anthropic-ratelimit-requests-remaining", "99")
		h.Set("anthropic-ratelimit-requests-reset", time.Now().Add(90*time.Second).UTC().Format(time.RFC3339))
		h.Set("anthropic-ratelimit-tokens-limit", "50000")
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}`)
	})
	gpt := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("x-ratelimit-limit-requests", "60")
		h.Set("x-ratelimit-remaining-requests", "59")
		h.Set("x-ratelimit-reset-requests", "1m0s")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	})
	e := start(t, withHandlerBackend("claude", claude, "claude-x"), withHandlerBackend("gpt", gpt, "gpt-x"),
		withConfig(func(c *config.Config) {
			for i := range c.Backends {
				if c.Backends[i].Name == "claude" {
					c.Backends[i].Type = "anthropic"
				}
			}
		}))

	resp, body := e.Post("/v1/chat/completions", chatBody("claude-x", false))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Ratelimit-Limit-Requests") != "100" || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "99" ||
		resp.Header.Get("X-Ratelimit-Limit-Tokens") != "50000" {
		t.Errorf("OpenAI client of an Anthropic backend: x-ratelimit headers %v", resp.Header)
	}
	if d, err := time.ParseDuration(resp.Header.Get("X-Ratelimit-Reset-Requests")); err != nil || d <= 80*time.Second || d > 90*time.Second {
		t.Errorf("x-ratelimit-reset-requests %q, want about 90s", resp.Header.Get("X-Ratelimit-Reset-Requests"))
	}

	resp, body = e.Post("/v1/messages", `{"model":"gpt-x","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Anthropic-Ratelimit-Requests-Limit") != "60" || resp.Header.Get("Anthropic-Ratelimit-Requests-Remaining") != "59" {
		t.Errorf("Anthropic client of an OpenAI backend: anthropic-ratelimit headers %v", resp.Header)
	}
	at, err := time.Parse(time.RFC3339, resp.Header.Get("Anthropic-Ratelimit-Requests-Reset"))
	if d := time.Until(at); err != nil || d < 55*time.Second || d > 61*time.Second {
		t.Errorf("anthropic-ratelimit-requests-reset %q, want about a minute from now", resp.Header.Get("Anthropic-Ratelimit-Requests-Reset"))
	}
}
