package mock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.uber.org/goleak"

	"github.com/continuumhq/continuum/internal/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventGuard bounds how long a test waits for an event that must come; it is
// a deadlock guard, not a timing assertion.
const eventGuard = 10 * time.Second

// start serves a new mock with opts on an httptest server closed at cleanup.
func start(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s := New(opts)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// do sends a request and returns the response with its body read in full.
func do(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	resp := send(t, t.Context(), srv, method, path, body, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// send sends a request and returns the response with its body unread; the
// caller closes it. header holds name, value pairs.
func send(t *testing.T, ctx context.Context, srv *httptest.Server, method, path, body string, header ...string) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// nextEvent returns the payload of the next "data: " event of an SSE body.
func nextEvent(r *bufio.Reader) (string, error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: "); ok {
			return data, nil
		}
	}
}

// readEvents returns every event payload of an SSE body and the error that
// ended it (nil for a clean end).
func readEvents(body io.Reader) ([]string, error) {
	r := bufio.NewReader(body)
	var events []string
	for {
		e, err := nextEvent(r)
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, e)
	}
}

// waitEvent reads s.Events until an event of the given kind arrives and returns it.
func waitEvent(t *testing.T, s *Server, kind EventKind) Event {
	t.Helper()
	guard := time.NewTimer(eventGuard)
	defer guard.Stop()
	for {
		select {
		case e := <-s.Events():
			if e.Kind == kind {
				return e
			}
		case <-guard.C:
			t.Fatalf("no %v event", kind)
		}
	}
}

// drainEvents returns the events already queued, without waiting.
func drainEvents(s *Server) []Event {
	var got []Event
	for {
		select {
		case e := <-s.Events():
			got = append(got, e)
		default:
			return got
		}
	}
}

func waitTimers(t *testing.T, c *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventGuard)
	defer cancel()
	if err := c.WaitForTimers(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers: %v", n, err)
	}
}

func sdk(srv *httptest.Server) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithAPIKey("x"),
		option.WithMaxRetries(0),
		option.WithHTTPClient(srv.Client()),
	)
}

// tokens returns "tok0 tok1 … tok<n-1> ".
func tokens(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "tok%d ", i)
	}
	return b.String()
}

const chatBody = `{"model":"mock-model","messages":[{"role":"user","content":"hello world!"}]}`

func streamBody(extra string) string {
	return `{"model":"mock-model","messages":[{"role":"user","content":"hello world!"}],"stream":true` + extra + `}`
}

func TestSDKChat(t *testing.T) {
	_, srv := start(t, Options{Name: "b1", Tokens: 5})
	client := sdk(srv)
	got, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "mock-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello world, hello!")},
	})
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	if !strings.HasPrefix(got.ID, "chatcmpl-mock-") {
		t.Errorf("got id %q, want prefix chatcmpl-mock-", got.ID)
	}
	if fp := got.JSON.SystemFingerprint.Raw(); got.Model != "mock-model" || fp != `"b1"` {
		t.Errorf("got model %q fingerprint %s, want mock-model \"b1\"", got.Model, fp)
	}
	if len(got.Choices) != 1 {
		t.Fatalf("got %d choices, want 1", len(got.Choices))
	}
	c := got.Choices[0]
	if c.Message.Content != tokens(5) || c.Message.Role != "assistant" || c.FinishReason != "stop" {
		t.Errorf("got message %q role %q finish %q, want %q assistant stop", c.Message.Content, c.Message.Role, c.FinishReason, tokens(5))
	}
	if u := got.Usage; u.PromptTokens != 4 || u.CompletionTokens != 5 || u.TotalTokens != 9 {
		t.Errorf("got usage %d+%d=%d, want 4+5=9", u.PromptTokens, u.CompletionTokens, u.TotalTokens)
	}
}

func TestSDKChatStreamIncludeUsage(t *testing.T) {
	_, srv := start(t, Options{})
	client := sdk(srv)
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model:         "mock-model",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	defer stream.Close()
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if chunks != DefaultTokens+2 {
		t.Errorf("got %d chunks, want %d content + final + usage", chunks, DefaultTokens)
	}
	if got := acc.Choices[0].Message.Content; got != tokens(DefaultTokens) {
		t.Errorf("got content %q, want %q", got, tokens(DefaultTokens))
	}
	if got := acc.Choices[0].FinishReason; got != "stop" {
		t.Errorf("got finish reason %q, want stop", got)
	}
	if u := acc.Usage; u.PromptTokens != 1 || u.CompletionTokens != DefaultTokens || u.TotalTokens != DefaultTokens+1 {
		t.Errorf("got usage %d+%d=%d, want 1+16=17", u.PromptTokens, u.CompletionTokens, u.TotalTokens)
	}
}

func TestSDKCompletions(t *testing.T) {
	_, srv := start(t, Options{Tokens: 4})
	client := sdk(srv)
	params := openai.CompletionNewParams{
		Model:     "mock-model",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("once upon a time")},
		MaxTokens: openai.Int(3),
	}
	got, err := client.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatalf("completion: %v", err)
	}
	if !strings.HasPrefix(got.ID, "cmpl-mock-") || got.Model != "mock-model" {
		t.Errorf("got id %q model %q, want cmpl-mock-… mock-model", got.ID, got.Model)
	}
	if c := got.Choices[0]; c.Text != tokens(3) || c.FinishReason != "length" {
		t.Errorf("got text %q finish %q, want %q length", c.Text, c.FinishReason, tokens(3))
	}
	if u := got.Usage; u.PromptTokens != 4 || u.CompletionTokens != 3 || u.TotalTokens != 7 {
		t.Errorf("got usage %d+%d=%d, want 4+3=7", u.PromptTokens, u.CompletionTokens, u.TotalTokens)
	}

	stream := client.Completions.NewStreaming(t.Context(), params)
	defer stream.Close()
	var text strings.Builder
	finish := ""
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			text.WriteString(c.Text)
			if c.FinishReason != "" {
				finish = string(c.FinishReason)
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if text.String() != tokens(3) || finish != "length" {
		t.Errorf("got streamed text %q finish %q, want %q length", text.String(), finish, tokens(3))
	}
}

func TestSDKEmbeddings(t *testing.T) {
	_, srv := start(t, Options{EmbeddingDim: 12})
	client := sdk(srv)
	embed := func(t *testing.T, input openai.EmbeddingNewParamsInputUnion, format openai.EmbeddingNewParamsEncodingFormat) *openai.CreateEmbeddingResponse {
		t.Helper()
		got, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{Model: "mock-model", Input: input, EncodingFormat: format})
		if err != nil {
			t.Fatalf("embeddings (%q): %v", format, err)
		}
		return got
	}
	texts := openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"alpha", "beta", "alpha"}}
	want := embed(t, texts, openai.EmbeddingNewParamsEncodingFormatFloat)

	for _, format := range []openai.EmbeddingNewParamsEncodingFormat{"", openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
		t.Run("format="+string(format), func(t *testing.T) {
			got := embed(t, texts, format)
			if len(got.Data) != 3 || got.Model != "mock-model" {
				t.Fatalf("got %d embeddings for model %q, want 3 for mock-model", len(got.Data), got.Model)
			}
			for i, e := range got.Data {
				if e.Index != int64(i) || len(e.Embedding) != 12 {
					t.Fatalf("embedding %d: got index %d dim %d, want %d 12", i, e.Index, len(e.Embedding), i)
				}
				var norm float64
				for j, f := range e.Embedding {
					norm += f * f
					if float32(f) != float32(want.Data[i].Embedding[j]) {
						t.Fatalf("embedding %d[%d]: got %v, want %v (as float)", i, j, f, want.Data[i].Embedding[j])
					}
				}
				if math.Abs(norm-1) > 1e-5 {
					t.Errorf("embedding %d: got norm² %v, want 1", i, norm)
				}
			}
			if !sameVector(got.Data[0].Embedding, got.Data[2].Embedding) {
				t.Errorf("got different vectors for the same input")
			}
			if sameVector(got.Data[0].Embedding, got.Data[1].Embedding) {
				t.Errorf("got the same vector for different inputs")
			}
			if got.Usage.PromptTokens != 3 || got.Usage.TotalTokens != 3 {
				t.Errorf("got usage %d/%d, want 3/3", got.Usage.PromptTokens, got.Usage.TotalTokens)
			}
		})
	}

	t.Run("token arrays", func(t *testing.T) {
		got := embed(t, openai.EmbeddingNewParamsInputUnion{OfArrayOfTokenArrays: [][]int64{{1, 2, 3}, {4}}}, openai.EmbeddingNewParamsEncodingFormatBase64)
		if len(got.Data) != 2 || got.Usage.PromptTokens != 4 {
			t.Errorf("got %d embeddings, %d prompt tokens, want 2 and 4", len(got.Data), got.Usage.PromptTokens)
		}
		single := embed(t, openai.EmbeddingNewParamsInputUnion{OfArrayOfTokens: []int64{1, 2, 3}}, "")
		if len(single.Data) != 1 || !sameVector(single.Data[0].Embedding, got.Data[0].Embedding) {
			t.Errorf("got a different vector for token array [1 2 3] alone")
		}
	})
}

// sameVector reports whether a and b hold the same float32 components; a
// float answer and a base64 answer agree only at float32 precision.
func sameVector(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return float32(x) == float32(y) })
}

func TestSDKModels(t *testing.T) {
	_, srv := start(t, Options{Models: []string{"a", "org/b"}})
	client := sdk(srv)
	page, err := client.Models.List(t.Context())
	if err != nil {
		t.Fatalf("list models: %v", err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
		if m.OwnedBy != "mock" || m.Created == 0 {
			t.Errorf("model %s: got owned_by %q created %d, want mock and non-zero", m.ID, m.OwnedBy, m.Created)
		}
	}
	if !slices.Equal(ids, []string{"a", "org/b"}) {
		t.Errorf("got models %v, want [a org/b]", ids)
	}
	m, err := client.Models.Get(t.Context(), "org/b")
	if err != nil || m.ID != "org/b" {
		t.Fatalf("get org/b: got %v, %v; want the model", m, err)
	}
	_, err = client.Models.Get(t.Context(), "missing")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
		t.Errorf("get missing: got %v, want 404 model_not_found", err)
	}
}

func TestStreamWireFormat(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		body  string
		usage bool
	}{
		{"chat", RouteChat, streamBody(`,"max_tokens":3`), false},
		{"chat with usage", RouteChat, streamBody(`,"max_tokens":3,"stream_options":{"include_usage":true}`), true},
		{"completions", RouteCompletions, `{"model":"mock-model","prompt":"abcdefgh","stream":true,"max_tokens":3}`, false},
		{"completions with usage", RouteCompletions, `{"model":"mock-model","prompt":"abcdefgh","stream":true,"max_tokens":3,"stream_options":{"include_usage":true}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv := start(t, Options{Name: "wire"})
			resp, raw := do(t, srv, http.MethodPost, tt.path, tt.body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d, want 200", resp.StatusCode)
			}
			for h, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", HeaderBackend: "wire"} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("got %s %q, want %q", h, got, want)
				}
			}
			parts := strings.Split(string(raw), "\n\n")
			if last := parts[len(parts)-1]; last != "" {
				t.Fatalf("got trailing %q after the last event, want nothing", last)
			}
			parts = parts[:len(parts)-1]
			want := 3 + 1 + 1 // content, final, [DONE]
			if tt.usage {
				want++
			}
			if len(parts) != want {
				t.Fatalf("got %d events, want %d:\n%s", len(parts), want, raw)
			}
			if parts[len(parts)-1] != "data: [DONE]" {
				t.Errorf("got last event %q, want data: [DONE]", parts[len(parts)-1])
			}
			chat := tt.path == RouteChat
			for i, p := range parts[:len(parts)-1] {
				data, ok := strings.CutPrefix(p, "data: ")
				if !ok {
					t.Fatalf("event %d: got %q, want a data: line", i, p)
				}
				var ev map[string]any
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				checkChunk(t, ev, i, chat, tt.usage)
			}
		})
	}
}

// checkChunk checks stream chunk i of a 3-token stream in its decoded form.
func checkChunk(t *testing.T, ev map[string]any, i int, chat, usage bool) {
	t.Helper()
	object, prefix := "text_completion", "cmpl-mock-"
	if chat {
		object, prefix = "chat.completion.chunk", "chatcmpl-mock-"
	}
	if ev["object"] != object || ev["model"] != "mock-model" || ev["system_fingerprint"] != "wire" {
		t.Errorf("chunk %d: got object %v model %v fingerprint %v, want %s mock-model wire", i, ev["object"], ev["model"], ev["system_fingerprint"], object)
	}
	if id, _ := ev["id"].(string); !strings.HasPrefix(id, prefix) {
		t.Errorf("chunk %d: got id %q, want prefix %s", i, id, prefix)
	}
	u, hasUsage := ev["usage"]
	choices, _ := ev["choices"].([]any)
	switch {
	case i == 4: // the usage chunk
		if len(choices) != 0 || choices == nil {
			t.Errorf("usage chunk: got choices %v, want []", ev["choices"])
		}
		want := map[string]any{"prompt_tokens": 2.0, "completion_tokens": 3.0, "total_tokens": 5.0}
		if chat {
			want["prompt_tokens"], want["total_tokens"] = 3.0, 6.0
		}
		if !reflect.DeepEqual(u, want) {
			t.Errorf("usage chunk: got usage %v, want %v", u, want)
		}
		return
	case usage && (!hasUsage || u != nil):
		t.Errorf("chunk %d: got usage %v (present %v), want null", i, u, hasUsage)
	case !usage && hasUsage:
		t.Errorf("chunk %d: got usage %v, want none", i, u)
	}
	if len(choices) != 1 {
		t.Fatalf("chunk %d: got %d choices, want 1", i, len(choices))
	}
	c := choices[0].(map[string]any)
	var wantFinish any
	if i == 3 {
		wantFinish = "length"
	}
	if c["finish_reason"] != wantFinish || c["index"] != 0.0 {
		t.Errorf("chunk %d: got finish_reason %v index %v, want %v 0", i, c["finish_reason"], c["index"], wantFinish)
	}
	if !chat {
		want := ""
		if i < 3 {
			want = fmt.Sprintf("tok%d ", i)
		}
		if c["text"] != want {
			t.Errorf("chunk %d: got text %v, want %q", i, c["text"], want)
		}
		return
	}
	want := map[string]any{}
	switch {
	case i == 0:
		want = map[string]any{"role": "assistant", "content": "tok0 "}
	case i < 3:
		want = map[string]any{"content": fmt.Sprintf("tok%d ", i)}
	}
	if !reflect.DeepEqual(c["delta"], want) {
		t.Errorf("chunk %d: got delta %v, want %v", i, c["delta"], want)
	}
}

func TestTokenLimits(t *testing.T) {
	tests := []struct {
		name       string
		limits     string
		wantTokens int
		wantFinish string
	}{
		{"none", ``, 6, "stop"},
		{"max_tokens below", `,"max_tokens":2`, 2, "length"},
		{"max_tokens equal", `,"max_tokens":6`, 6, "stop"},
		{"max_tokens above", `,"max_tokens":100`, 6, "stop"},
		{"max_completion_tokens", `,"max_completion_tokens":4`, 4, "length"},
		{"both, smaller wins", `,"max_tokens":5,"max_completion_tokens":3`, 3, "length"},
	}
	_, srv := start(t, Options{Tokens: 6})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv, http.MethodPost, RouteChat, `{"model":"mock-model","messages":[]`+tt.limits+`}`)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got status %d, want 200: %s", resp.StatusCode, body)
			}
			var got chatCompletion
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if c := got.Choices[0]; c.Message.Content == nil || *c.Message.Content != tokens(tt.wantTokens) || c.FinishReason != tt.wantFinish {
				t.Errorf("got %s, want %q %s", body, tokens(tt.wantTokens), tt.wantFinish)
			}
			if got.Usage.CompletionTokens != tt.wantTokens {
				t.Errorf("got completion_tokens %d, want %d", got.Usage.CompletionTokens, tt.wantTokens)
			}
		})
	}
}

func TestPromptTokens(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
		want int
	}{
		{"chat strings", RouteChat, `{"model":"mock-model","messages":[{"role":"system","content":"12345678"},{"role":"user","content":"1234"}]}`, 3},
		{"chat content parts", RouteChat, `{"model":"mock-model","messages":[{"role":"user","content":[{"type":"text","text":"1234567890123456"},{"type":"image_url","image_url":{"url":"x"}}]}]}`, 4},
		{"chat empty is at least 1", RouteChat, `{"model":"mock-model","messages":[{"role":"user","content":""}]}`, 1},
		{"completion string", RouteCompletions, `{"model":"mock-model","prompt":"12345678901234567890"}`, 5},
		{"completion strings", RouteCompletions, `{"model":"mock-model","prompt":["12345678","12345678"]}`, 4},
		{"completion tokens", RouteCompletions, `{"model":"mock-model","prompt":[1,2,3,4,5,6]}`, 6},
		{"embedding token arrays", RouteEmbeddings, `{"model":"mock-model","input":[[1,2],[3]]}`, 3},
	}
	_, srv := start(t, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, srv, http.MethodPost, tt.path, tt.body)
			var got struct {
				Usage struct {
					PromptTokens int `json:"prompt_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d %s (%v), want 200", resp.StatusCode, body, err)
			}
			if got.Usage.PromptTokens != tt.want {
				t.Errorf("got prompt_tokens %d, want %d", got.Usage.PromptTokens, tt.want)
			}
		})
	}
}

// apiError decodes an OpenAI error envelope, failing the test if body is not one.
func apiError(t *testing.T, body []byte) errorDetail {
	t.Helper()
	var env struct {
		Error *struct {
			Message *string `json:"message"`
			Type    *string `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Message == nil || env.Error.Type == nil {
		t.Fatalf("got body %s, want an OpenAI error envelope", body)
	}
	d := errorDetail{Message: *env.Error.Message, Type: *env.Error.Type, Param: env.Error.Param, Code: env.Error.Code}
	return d
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		method     string
		path       string
		body       string
		wantStatus int
		wantType   string
		wantCode   string
		wantParam  string
	}{
		{"bad JSON", Options{}, "POST", RouteChat, `{"model":`, 400, "invalid_request_error", "", ""},
		{"no model", Options{}, "POST", RouteChat, `{"messages":[]}`, 400, "invalid_request_error", "", "model"},
		{"model not a string", Options{}, "POST", RouteCompletions, `{"model":7}`, 400, "invalid_request_error", "", "model"},
		{"unknown model", Options{}, "POST", RouteChat, `{"model":"gpt-9"}`, 404, "invalid_request_error", "model_not_found", ""},
		{"max_tokens 0", Options{}, "POST", RouteChat, `{"model":"mock-model","max_tokens":0}`, 400, "invalid_request_error", "", "max_tokens"},
		{"embeddings without input", Options{}, "POST", RouteEmbeddings, `{"model":"mock-model"}`, 400, "invalid_request_error", "", "input"},
		{"embeddings bad input", Options{}, "POST", RouteEmbeddings, `{"model":"mock-model","input":[{"a":1}]}`, 400, "invalid_request_error", "", "input"},
		{"embeddings bad format", Options{}, "POST", RouteEmbeddings, `{"model":"mock-model","input":"x","encoding_format":"int8"}`, 400, "invalid_request_error", "", "encoding_format"},
		{"wrong method", Options{}, "GET", RouteChat, ``, 405, "invalid_request_error", "method_not_allowed", ""},
		{"unknown path", Options{}, "GET", "/v2/things", ``, 404, "invalid_request_error", "not_found", ""},
		{"unknown model id", Options{}, "GET", "/v1/models/gpt-9", ``, 404, "invalid_request_error", "model_not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := start(t, tt.opts)
			resp, body := do(t, srv, tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			e := apiError(t, body)
			if e.Type != tt.wantType || deref(e.Code) != tt.wantCode || deref(e.Param) != tt.wantParam {
				t.Errorf("got type %q code %q param %q, want %q %q %q", e.Type, deref(e.Code), deref(e.Param), tt.wantType, tt.wantCode, tt.wantParam)
			}
			if st := s.Stats(); st.Errors != 1 || st.Completed != 0 {
				t.Errorf("got %d errors %d completed, want 1 and 0", st.Errors, st.Completed)
			}
		})
	}
}

func TestAcceptAnyModel(t *testing.T) {
	_, srv := start(t, Options{AcceptAnyModel: true})
	resp, body := do(t, srv, http.MethodPost, RouteChat, `{"model":"anything/at-all"}`)
	var got chatCompletion
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d %s, want 200", resp.StatusCode, body)
	}
	if got.Model != "anything/at-all" {
		t.Errorf("got model %q, want the requested anything/at-all", got.Model)
	}
	if resp, body := do(t, srv, http.MethodGet, "/v1/models/anything/at-all", ""); resp.StatusCode != http.StatusOK {
		t.Errorf("get model: got %d %s, want 200", resp.StatusCode, body)
	}
}

func TestHealthAndModelEndpoints(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		_, srv := start(t, Options{Models: []string{"m1", "m2"}})
		resp, body := do(t, srv, http.MethodGet, RouteHealth, "")
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
			t.Errorf("health: got %d %s, want 200 {\"status\":\"ok\"}", resp.StatusCode, body)
		}
		resp, body = do(t, srv, http.MethodGet, RouteTags, "")
		var tags struct {
			Models []map[string]any `json:"models"`
		}
		if err := json.Unmarshal(body, &tags); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("tags: got %d %s, want 200", resp.StatusCode, body)
		}
		if len(tags.Models) != 2 {
			t.Fatalf("tags: got %d models, want 2", len(tags.Models))
		}
		for i, want := range []string{"m1", "m2"} {
			m := tags.Models[i]
			digest, _ := m["digest"].(string)
			if m["name"] != want || m["model"] != want || m["size"] != 0.0 || len(digest) != 64 || m["modified_at"] == "" {
				t.Errorf("tag %d: got %v, want name/model %s, size 0, a sha256 digest and modified_at", i, m, want)
			}
		}
		resp, body = do(t, srv, http.MethodGet, RouteModels, "")
		var list map[string]any
		if err := json.Unmarshal(body, &list); err != nil || resp.StatusCode != http.StatusOK || list["object"] != "list" {
			t.Errorf("models: got %d %s, want 200 and an object list", resp.StatusCode, body)
		}
	})
	t.Run("health status 503", func(t *testing.T) {
		_, srv := start(t, Options{HealthStatus: 503, RetryAfter: "3"})
		for _, path := range []string{RouteHealth, RouteModels, "/v1/models/mock-model", RouteTags} {
			resp, body := do(t, srv, http.MethodGet, path, "")
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" {
				t.Errorf("%s: got %d Retry-After %q, want 503 and 3", path, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if e := apiError(t, body); e.Type != "server_error" {
				t.Errorf("%s: got type %q, want server_error", path, e.Type)
			}
		}
		if resp, _ := do(t, srv, http.MethodPost, RouteChat, chatBody); resp.StatusCode != 200 {
			t.Errorf("chat: got %d, want 200 (health status does not affect inference)", resp.StatusCode)
		}
	})
	t.Run("head", func(t *testing.T) {
		_, srv := start(t, Options{})
		if resp, _ := do(t, srv, http.MethodHead, RouteHealth, ""); resp.StatusCode != 200 {
			t.Errorf("HEAD /health: got %d, want 200", resp.StatusCode)
		}
	})
}

func TestErrorStatus(t *testing.T) {
	tests := []struct {
		status   int
		wantType string
		wantCode string
	}{
		{500, "server_error", ""},
		{502, "server_error", ""},
		{503, "server_error", ""},
		{429, "rate_limit_error", "rate_limit_exceeded"},
		{400, "invalid_request_error", ""},
		{401, "authentication_error", "invalid_api_key"},
		{403, "permission_error", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			s, srv := start(t, Options{ErrorStatus: tt.status})
			for _, path := range []string{RouteChat, RouteCompletions, RouteEmbeddings} {
				resp, body := do(t, srv, http.MethodPost, path, `{"model":"mock-model","input":"x","stream":true}`)
				if resp.StatusCode != tt.status {
					t.Fatalf("%s: got status %d, want %d", path, resp.StatusCode, tt.status)
				}
				if e := apiError(t, body); e.Type != tt.wantType || deref(e.Code) != tt.wantCode {
					t.Errorf("%s: got type %q code %q, want %q %q", path, e.Type, deref(e.Code), tt.wantType, tt.wantCode)
				}
				if h := resp.Header.Get("Retry-After"); h != "" {
					t.Errorf("%s: got Retry-After %q, want none", path, h)
				}
			}
			if st := s.Stats(); st.Errors != 3 {
				t.Errorf("got %d errors, want 3", st.Errors)
			}
			if resp, _ := do(t, srv, http.MethodGet, RouteHealth, ""); resp.StatusCode != 200 {
				t.Errorf("health: got %d, want 200 (errors are injected on inference only)", resp.StatusCode)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	for _, value := range []string{"2", "Wed, 21 Oct 2015 07:28:00 GMT", "soon-ish", "-5"} {
		t.Run(value, func(t *testing.T) {
			_, srv := start(t, Options{ErrorStatus: 429, RetryAfter: value})
			resp, _ := do(t, srv, http.MethodPost, RouteChat, chatBody)
			if got := resp.Header.Get("Retry-After"); resp.StatusCode != 429 || got != value {
				t.Errorf("got %d Retry-After %q, want 429 %q", resp.StatusCode, got, value)
			}
			resp, _ = do(t, srv, http.MethodPost, RouteChat, `{"model":"nope"}`)
			if got := resp.Header.Get("Retry-After"); got != "" {
				t.Errorf("404: got Retry-After %q, want none on errors caused by the request", got)
			}
		})
	}
}

// statuses sends n chat requests straight to s and returns their statuses.
func statuses(s *Server, n int) []int {
	got := make([]int, n)
	for i := range got {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, RouteChat, strings.NewReader(chatBody)))
		got[i] = rec.Code
	}
	return got
}

func TestErrorRate(t *testing.T) {
	const n = 1000
	got := statuses(New(Options{ErrorStatus: 503, ErrorRate: 0.1, Seed: 42}), n)
	errs := 0
	for _, code := range got {
		switch code {
		case 503:
			errs++
		case 200:
		default:
			t.Fatalf("got status %d, want 200 or 503", code)
		}
	}
	if errs < 70 || errs > 130 {
		t.Errorf("got %d errors in %d requests at rate 0.1, want 70..130", errs, n)
	}
	if again := statuses(New(Options{ErrorStatus: 503, ErrorRate: 0.1, Seed: 42}), n); !slices.Equal(again, got) {
		t.Errorf("got a different error sequence from the same seed")
	}
	s := New(Options{ErrorStatus: 503, ErrorRate: 0.1, Seed: 42})
	statuses(s, 10)
	s.SetOptions(Options{ErrorStatus: 503, ErrorRate: 0.1, Seed: 42})
	if again := statuses(s, n); !slices.Equal(again, got) {
		t.Errorf("got a different error sequence after SetOptions with the same seed, want it reseeded")
	}
}

func TestHang(t *testing.T) {
	for _, path := range []string{RouteChat, RouteEmbeddings} {
		t.Run(path, func(t *testing.T) {
			s, srv := start(t, Options{Hang: true})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(`{"model":"mock-model","input":"x"}`))
				resp, err := srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				errc <- err
			}()
			if e := waitEvent(t, s, EventRequest); e.Path != path || e.Model != "mock-model" {
				t.Errorf("got request event %s %q, want %s mock-model", e.Path, e.Model, path)
			}
			if st := s.Stats(); st.InFlight != 1 {
				t.Errorf("got %d in flight, want 1", st.InFlight)
			}
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("got client error %v, want context.Canceled", err)
			}
			waitEvent(t, s, EventCancelled)
			if st := s.Stats(); st.Cancelled != 1 || st.Completed != 0 || st.Errors != 0 || st.InFlight != 0 {
				t.Errorf("got stats %+v, want 1 cancelled and nothing else", st)
			}
		})
	}
}

func TestHangAfterHeaders(t *testing.T) {
	tests := []struct {
		name, body, wantType string
	}{
		{"stream", streamBody(""), "text/event-stream"},
		{"non-stream", chatBody, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := start(t, Options{HangAfterHeaders: true})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			resp := send(t, ctx, srv, http.MethodPost, RouteChat, tt.body)
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tt.wantType {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, resp.Header.Get("Content-Type"), tt.wantType)
			}
			readErr := make(chan error, 1)
			go func() {
				_, err := io.ReadAll(resp.Body)
				readErr <- err
			}()
			cancel()
			if err := <-readErr; err == nil {
				t.Errorf("got a complete body, want a read error after cancel")
			}
			waitEvent(t, s, EventCancelled)
			if st := s.Stats(); st.Cancelled != 1 {
				t.Errorf("got %d cancelled, want 1", st.Cancelled)
			}
		})
	}
}

func TestCutAfter(t *testing.T) {
	tests := []struct {
		name       string
		cutAfter   int
		wantChunks int
		wantErr    bool
	}{
		{"mid-stream", 3, 3, true},
		{"after the first", 1, 1, true},
		{"before the final chunk", 5, 5, true},
		{"beyond the end", 6, 5 + 1, false}, // every content chunk plus the final one
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := start(t, Options{Tokens: 5, CutAfter: tt.cutAfter})
			resp := send(t, t.Context(), srv, http.MethodPost, RouteChat, streamBody(""))
			defer resp.Body.Close()
			events, err := readEvents(resp.Body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got read error %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if len(events) != tt.wantChunks {
					t.Errorf("got %d events, want exactly %d", len(events), tt.wantChunks)
				}
				for i, e := range events {
					if !strings.Contains(e, fmt.Sprintf(`"content":"tok%d "`, i)) {
						t.Errorf("event %d: got %s, want tok%d", i, e, i)
					}
				}
				waitEvent(t, s, EventDone)
				if st := s.Stats(); st.Errors != 1 || st.Completed != 0 {
					t.Errorf("got %d errors %d completed, want 1 and 0", st.Errors, st.Completed)
				}
				return
			}
			if len(events) != tt.wantChunks+1 || events[len(events)-1] != "[DONE]" {
				t.Errorf("got %d events ending %q, want %d and [DONE]", len(events), events[len(events)-1], tt.wantChunks+1)
			}
		})
	}
}

func TestStallAfter(t *testing.T) {
	s, srv := start(t, Options{Tokens: 5, StallAfter: 2})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := send(t, ctx, srv, http.MethodPost, RouteChat, streamBody(""))
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for i := range 2 {
		e, err := nextEvent(r)
		if err != nil || !strings.Contains(e, fmt.Sprintf(`"content":"tok%d "`, i)) {
			t.Fatalf("event %d: got %q, %v; want tok%d", i, e, err, i)
		}
	}
	waitEvent(t, s, EventChunk) // chunk 0
	if e := waitEvent(t, s, EventChunk); e.Chunk != 1 {
		t.Fatalf("got chunk event %d, want 1", e.Chunk)
	}
	cancel()
	if e, err := nextEvent(r); err == nil {
		t.Errorf("got event %q after the stall, want a read error", e)
	}
	waitEvent(t, s, EventCancelled)
	for _, e := range drainEvents(s) {
		if e.Kind == EventChunk {
			t.Errorf("got chunk %d after the stall, want none", e.Chunk)
		}
	}
	if st := s.Stats(); st.Cancelled != 1 || st.InFlight != 0 {
		t.Errorf("got %d cancelled %d in flight, want 1 and 0", st.Cancelled, st.InFlight)
	}
}

func TestFirstEventErrorAndEmptyStream(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string
	}{
		{"first event error", Options{FirstEventError: true}, []string{`{"error":{"message":"mock stream error","type":"server_error"}}`}},
		{"empty stream", Options{EmptyStream: true}, []string{"[DONE]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, srv := start(t, tt.opts)
			resp := send(t, t.Context(), srv, http.MethodPost, RouteChat, streamBody(""))
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("got %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			events, err := readEvents(resp.Body)
			if err != nil || !slices.Equal(events, tt.want) {
				t.Errorf("got events %q (%v), want %q", events, err, tt.want)
			}
			waitEvent(t, s, EventDone)
			if st := s.Stats(); st.Errors != 1 {
				t.Errorf("got %d errors, want 1", st.Errors)
			}
			// A non-streaming request is not affected.
			if resp, body := do(t, srv, http.MethodPost, RouteChat, chatBody); resp.StatusCode != 200 || !strings.Contains(string(body), "tok15") {
				t.Errorf("non-stream: got %d %s, want a normal answer", resp.StatusCode, body)
			}
		})
	}
	t.Run("sdk sees the error event", func(t *testing.T) {
		_, srv := start(t, Options{FirstEventError: true})
		client := sdk(srv)
		stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
			Model: "mock-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		defer stream.Close()
		for stream.Next() {
		}
		if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "mock stream error") {
			t.Errorf("got stream error %v, want one mentioning mock stream error", err)
		}
	})
}

func TestWarmup(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	s, srv := start(t, Options{Clock: fake, WarmupFor: 30 * time.Second, RetryAfter: "5"})
	check := func(t *testing.T, want int) {
		t.Helper()
		for _, c := range []struct{ method, path, body string }{
			{"GET", RouteHealth, ""}, {"GET", RouteModels, ""}, {"GET", RouteTags, ""},
			{"POST", RouteChat, chatBody}, {"POST", RouteEmbeddings, `{"model":"mock-model","input":"x"}`},
		} {
			resp, body := do(t, srv, c.method, c.path, c.body)
			if resp.StatusCode != want {
				t.Errorf("%s %s: got %d, want %d", c.method, c.path, resp.StatusCode, want)
				continue
			}
			if want == 503 {
				if e := apiError(t, body); e.Message != "loading model" || resp.Header.Get("Retry-After") != "5" {
					t.Errorf("%s: got message %q Retry-After %q, want loading model and 5", c.path, e.Message, resp.Header.Get("Retry-After"))
				}
			}
		}
	}
	check(t, 503)
	fake.Advance(30*time.Second - time.Nanosecond)
	check(t, 503)
	s.SetOptions(s.Options()) // does not restart the warm-up
	fake.Advance(time.Nanosecond)
	check(t, 200)
}

func TestRequireAPIKey(t *testing.T) {
	_, srv := start(t, Options{RequireAPIKey: "sekrit"})
	tests := []struct {
		name       string
		method     string
		path       string
		auth       string
		wantStatus int
	}{
		{"no header", "POST", RouteChat, "", 401},
		{"wrong key", "POST", RouteChat, "Bearer nope", 401},
		{"not bearer", "POST", RouteChat, "Basic sekrit", 401},
		{"right key", "POST", RouteChat, "Bearer sekrit", 200},
		{"lowercase scheme", "POST", RouteChat, "bearer sekrit", 200},
		{"models without key", "GET", RouteModels, "", 401},
		{"models with key", "GET", RouteModels, "Bearer sekrit", 200},
		{"tags without key", "GET", RouteTags, "", 401},
		{"health without key", "GET", RouteHealth, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.auth != "" {
				header = []string{"Authorization", tt.auth}
			}
			body := ""
			if tt.method == "POST" {
				body = chatBody
			}
			resp, b := do(t, srv, tt.method, tt.path, body, header...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("got %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == 401 {
				if e := apiError(t, b); e.Type != "authentication_error" {
					t.Errorf("got type %q, want authentication_error", e.Type)
				}
			}
		})
	}
}

func TestGate(t *testing.T) {
	t.Run("ordering", func(t *testing.T) {
		calls := make(chan int)
		release := make(chan struct{})
		gate := func(ctx context.Context, chunk int) error {
			select {
			case calls <- chunk:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s, srv := start(t, Options{Tokens: 4, Gate: gate})
		resp := send(t, t.Context(), srv, http.MethodPost, RouteChat, streamBody(""))
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for i := range 4 {
			if got := <-calls; got != i {
				t.Fatalf("got gate call %d, want %d", got, i)
			}
			var chunks []int
			for _, e := range drainEvents(s) {
				if e.Kind == EventChunk {
					chunks = append(chunks, e.Chunk)
				}
			}
			if i > 0 && !slices.Equal(chunks, []int{i - 1}) {
				t.Errorf("before gate %d: got chunk events %v, want [%d] only", i, chunks, i-1)
			}
			release <- struct{}{}
			e, err := nextEvent(r)
			if err != nil || !strings.Contains(e, fmt.Sprintf(`"content":"tok%d "`, i)) {
				t.Fatalf("after gate %d: got %q, %v; want tok%d", i, e, err, i)
			}
		}
		rest, err := readEvents(r)
		if err != nil || len(rest) != 2 || rest[1] != "[DONE]" {
			t.Errorf("got tail %q (%v), want the final chunk and [DONE] without gating", rest, err)
		}
	})
	t.Run("error aborts", func(t *testing.T) {
		gate := func(ctx context.Context, chunk int) error {
			if chunk == 2 {
				return errors.New("enough")
			}
			return nil
		}
		s, srv := start(t, Options{Tokens: 4, Gate: gate})
		resp := send(t, t.Context(), srv, http.MethodPost, RouteChat, streamBody(""))
		defer resp.Body.Close()
		events, err := readEvents(resp.Body)
		if err == nil || len(events) != 2 {
			t.Errorf("got %d events and error %v, want 2 and a read error", len(events), err)
		}
		waitEvent(t, s, EventDone)
		if st := s.Stats(); st.Errors != 1 {
			t.Errorf("got %d errors, want 1", st.Errors)
		}
	})
}

func TestStreamTiming(t *testing.T) {
	fake := clock.NewFake(time.Time{})
	t0 := fake.Now()
	s, srv := start(t, Options{Clock: fake, TTFT: 100 * time.Millisecond, TokenDelay: 10 * time.Millisecond, Tokens: 3})
	resp := send(t, t.Context(), srv, http.MethodPost, RouteChat, streamBody("")) // headers come at once
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("got status %d, want 200", resp.StatusCode)
	}
	r := bufio.NewReader(resp.Body)
	due := t0
	for i, d := range []time.Duration{100 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond} {
		due = due.Add(d)
		waitTimers(t, fake, 1)
		if got, ok := fake.NextDeadline(); !ok || !got.Equal(due) {
			t.Fatalf("token %d: got deadline %v, want %v", i, got, due)
		}
		fake.Advance(d - time.Nanosecond)
		if fake.Pending() != 1 {
			t.Fatalf("token %d: timer fired %v early", i, time.Nanosecond)
		}
		fake.Advance(time.Nanosecond)
		e, err := nextEvent(r)
		if err != nil || !strings.Contains(e, fmt.Sprintf(`"content":"tok%d "`, i)) {
			t.Fatalf("token %d: got %q, %v", i, e, err)
		}
		if ev := waitEvent(t, s, EventChunk); ev.Chunk != i || !ev.Time.Equal(due) {
			t.Errorf("token %d: got chunk event %d at %v, want %d at %v", i, ev.Chunk, ev.Time, i, due)
		}
	}
	rest, err := readEvents(r)
	if err != nil || len(rest) != 2 {
		t.Errorf("got tail %q (%v), want the final chunk and [DONE] without further waits", rest, err)
	}
}

func TestNonStreamTiming(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
		want time.Duration
	}{
		{"chat", RouteChat, chatBody, time.Second + 3*100*time.Millisecond},
		{"completions", RouteCompletions, `{"model":"mock-model","prompt":"x","max_tokens":2}`, time.Second + 100*time.Millisecond},
		{"embeddings", RouteEmbeddings, `{"model":"mock-model","input":"x"}`, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := clock.NewFake(time.Time{})
			_, srv := start(t, Options{Clock: fake, TTFT: time.Second, TokenDelay: 100 * time.Millisecond, Tokens: 4})
			done := make(chan int, 1)
			go func() {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
				resp, err := srv.Client().Do(req)
				if err != nil {
					done <- -1
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			waitTimers(t, fake, 1)
			if got, _ := fake.NextDeadline(); got.Sub(fake.Now()) != tt.want {
				t.Fatalf("got wait %v, want %v", got.Sub(fake.Now()), tt.want)
			}
			fake.Advance(tt.want - time.Nanosecond)
			select {
			case code := <-done:
				t.Fatalf("got response %d before the wait ended", code)
			default:
			}
			fake.Advance(time.Nanosecond)
			if code := <-done; code != 200 {
				t.Errorf("got status %d, want 200", code)
			}
		})
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	for _, body := range []string{chatBody, streamBody("")} {
		t.Run(fmt.Sprint("stream=", strings.Contains(body, "stream")), func(t *testing.T) {
			fake := clock.NewFake(time.Time{})
			s, srv := start(t, Options{Clock: fake, TTFT: time.Hour})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+RouteChat, strings.NewReader(body))
				if resp, err := srv.Client().Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
			waitTimers(t, fake, 1)
			cancel()
			e := waitEvent(t, s, EventCancelled)
			if !e.Time.Equal(fake.Now()) {
				t.Errorf("got cancel at %v, want %v (no time passed)", e.Time, fake.Now())
			}
			if n := fake.Pending(); n != 0 {
				t.Errorf("got %d pending timers, want the TTFT timer stopped", n)
			}
			if st := s.Stats(); st.Cancelled != 1 || st.InFlight != 0 {
				t.Errorf("got %d cancelled %d in flight, want 1 and 0", st.Cancelled, st.InFlight)
			}
		})
	}
}

func TestSetOptions(t *testing.T) {
	s, srv := start(t, Options{ErrorStatus: 503, Name: "a"})
	if resp, _ := do(t, srv, http.MethodPost, RouteChat, chatBody); resp.StatusCode != 503 {
		t.Fatalf("got %d, want 503", resp.StatusCode)
	}
	got := s.Options()
	if !slices.Equal(got.Models, []string{DefaultModel}) || got.Tokens != DefaultTokens || got.EmbeddingDim != DefaultEmbeddingDim ||
		got.ErrorRate != 1 || got.Seed != DefaultSeed || got.Clock == nil {
		t.Errorf("got options %+v, want defaults filled in", got)
	}
	got.ErrorStatus, got.ErrorRate, got.Name = 0, 0, "b"
	s.SetOptions(got)
	resp, _ := do(t, srv, http.MethodPost, RouteChat, chatBody)
	if resp.StatusCode != 200 || resp.Header.Get(HeaderBackend) != "b" {
		t.Errorf("got %d from %q, want 200 from b", resp.StatusCode, resp.Header.Get(HeaderBackend))
	}
	if st := s.Stats(); st.Requests != 2 || st.Errors != 1 || st.Completed != 1 {
		t.Errorf("got stats %+v, want the counters kept across SetOptions", st)
	}
}

func TestLastRequestAndEvents(t *testing.T) {
	s, srv := start(t, Options{Name: "backend-7"})
	if path, header, body := s.LastRequest(); path != "" || header != nil || body != nil {
		t.Errorf("got last request %q %v %q, want none", path, header, body)
	}
	body := `{"model":"mock-model","messages":[{"role":"user","content":"hi"}]}`
	resp, out := do(t, srv, http.MethodPost, RouteChat, body, "X-Request-Id", "req-1", "Authorization", "Bearer k")
	if resp.Header.Get(HeaderBackend) != "backend-7" || !strings.Contains(string(out), `"system_fingerprint":"backend-7"`) {
		t.Errorf("got header %q and body %s, want backend-7 in both", resp.Header.Get(HeaderBackend), out)
	}
	do(t, srv, http.MethodGet, RouteModels, "") // probes do not replace the last request
	path, header, got := s.LastRequest()
	if path != RouteChat || string(got) != body || header.Get("X-Request-Id") != "req-1" || header.Get("Authorization") != "Bearer k" {
		t.Errorf("got last request %s %v %s, want %s with the sent headers and body", path, header, got, RouteChat)
	}

	var kinds []EventKind
	for _, e := range drainEvents(s) {
		kinds = append(kinds, e.Kind)
		if e.Path == RouteChat && (e.Model != "mock-model" || e.Header.Get("X-Request-Id") != "req-1") {
			t.Errorf("%v event: got model %q request id %q, want mock-model req-1", e.Kind, e.Model, e.Header.Get("X-Request-Id"))
		}
		if e.Kind == EventDone && e.Status != 200 {
			t.Errorf("done event for %s: got status %d, want 200", e.Path, e.Status)
		}
	}
	want := []EventKind{EventRequest, EventDone, EventRequest, EventDone}
	if !slices.Equal(kinds, want) {
		t.Errorf("got events %v, want %v", kinds, want)
	}
}

func TestStatsByPath(t *testing.T) {
	s, srv := start(t, Options{})
	do(t, srv, http.MethodPost, RouteChat, chatBody)
	do(t, srv, http.MethodPost, RouteChat, streamBody(""))
	do(t, srv, http.MethodGet, "/v1/models/mock-model", "")
	do(t, srv, http.MethodGet, "/v1/models/other", "")
	do(t, srv, http.MethodGet, RouteHealth, "")
	do(t, srv, http.MethodGet, "/nope", "")
	got := s.Stats()
	want := Stats{Requests: 6, Completed: 4, Errors: 2, ByPath: map[string]int64{RouteChat: 2, RouteModel: 2, RouteHealth: 1, RouteOther: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestEventsDropWhenFull(t *testing.T) {
	s := New(Options{})
	for range eventBuffer + 10 {
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, RouteHealth, nil))
	}
	if got := len(s.Events()); got != eventBuffer {
		t.Errorf("got %d queued events, want the buffer (%d) full and the rest dropped", got, eventBuffer)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // substring of the error; "" for valid
	}{
		{"zero", Options{}, ""},
		{"full", Options{Models: []string{"a"}, Tokens: 3, ErrorStatus: 503, ErrorRate: 0.5, HealthStatus: 503, CutAfter: 2}, ""},
		{"empty model", Options{Models: []string{"a", ""}}, "model 2 is empty"},
		{"negative ttft", Options{TTFT: -1}, "ttft"},
		{"negative delay", Options{TokenDelay: -1}, "token delay"},
		{"too many tokens", Options{Tokens: MaxTokens + 1}, "tokens"},
		{"negative dim", Options{EmbeddingDim: -1}, "embedding dimension"},
		{"status 200", Options{ErrorStatus: 200}, "error status"},
		{"rate above 1", Options{ErrorStatus: 500, ErrorRate: 1.5}, "error rate"},
		{"rate NaN", Options{ErrorStatus: 500, ErrorRate: math.NaN()}, "error rate"},
		{"rate without status", Options{ErrorRate: 0.5}, "needs an error status"},
		{"negative cut", Options{CutAfter: -1}, "cut-after"},
		{"negative stall", Options{StallAfter: -1}, "stall-after"},
		{"health 99", Options{HealthStatus: 99}, "health status"},
		{"negative warmup", Options{WarmupFor: -time.Second}, "warm-up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			defer func() {
				if recover() == nil {
					t.Errorf("New: got no panic, want one for invalid options")
				}
			}()
			New(tt.opts)
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		var o Options
		fs := flag.NewFlagSet("mock", flag.ContinueOnError)
		o.RegisterFlags(fs)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(o.Models, []string{DefaultModel}) || o.Tokens != DefaultTokens || o.EmbeddingDim != DefaultEmbeddingDim || o.Seed != DefaultSeed {
			t.Errorf("got %+v, want the documented defaults", o)
		}
		fs.VisitAll(func(f *flag.Flag) {
			if f.Usage == "" || strings.Contains(f.Usage, "\n") {
				t.Errorf("flag --%s: got help %q, want one line", f.Name, f.Usage)
			}
		})
	})
	t.Run("all flags", func(t *testing.T) {
		var o Options
		fs := flag.NewFlagSet("mock", flag.ContinueOnError)
		o.RegisterFlags(fs)
		args := []string{
			"--models", "a, b,,c", "--ttft", "200ms", "--token-delay", "20ms", "--tokens", "7", "--embedding-dim", "4",
			"--error-status", "503", "--error-rate", "0.3", "--retry-after", "2", "--hang", "--hang-after-headers",
			"--cut-after", "3", "--stall-after", "4", "--first-event-error", "--empty-stream", "--health-status", "503",
			"--warmup", "30s", "--api-key", "KEY", "--any-model", "--name", "n1", "--seed", "9", "--api", "anthropic",
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		want := Options{
			Models: []string{"a", "b", "c"}, TTFT: 200 * time.Millisecond, TokenDelay: 20 * time.Millisecond, Tokens: 7, EmbeddingDim: 4,
			ErrorStatus: 503, ErrorRate: 0.3, RetryAfter: "2", Hang: true, HangAfterHeaders: true, CutAfter: 3, StallAfter: 4,
			FirstEventError: true, EmptyStream: true, HealthStatus: 503, WarmupFor: 30 * time.Second, RequireAPIKey: "KEY",
			AcceptAnyModel: true, Name: "n1", Seed: 9, API: APIAnthropic,
		}
		if !reflect.DeepEqual(o, want) {
			t.Errorf("got %+v, want %+v", o, want)
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n != 21 {
			t.Errorf("got %d flags, want 21", n)
		}
	})
	t.Run("empty models", func(t *testing.T) {
		var o Options
		fs := flag.NewFlagSet("mock", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.RegisterFlags(fs)
		if err := fs.Parse([]string{"--models", " , "}); err == nil {
			t.Errorf("got no error, want one for an empty model list")
		}
	})
}

func TestRun(t *testing.T) {
	t.Run("serves until cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		out, w := io.Pipe()
		defer out.Close()
		done := make(chan error, 1)
		go func() { done <- Run(ctx, "127.0.0.1:0", Options{Models: []string{"a", "b"}}, w) }()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("read banner: %v", err)
		}
		var url string
		if _, err := fmt.Sscanf(line, "mock backend listening on %s (models: a, b)", &url); err != nil || !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("got banner %q, want mock backend listening on http://127.0.0.1:PORT (models: a, b)", line)
		}
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(url + RouteHealth)
		if err != nil {
			t.Fatalf("health: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("health: got %d, want 200", resp.StatusCode)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("got %v, want nil after cancel", err)
		}
	})
	t.Run("invalid options", func(t *testing.T) {
		if err := Run(t.Context(), "127.0.0.1:0", Options{ErrorStatus: 42}, io.Discard); err == nil || !strings.Contains(err.Error(), "error status") {
			t.Errorf("got %v, want an options error", err)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		if err := Run(t.Context(), "127.0.0.1:-1", Options{}, io.Discard); err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("got %v, want a listen error", err)
		}
	})
}

func TestHealthStatusWithoutBody(t *testing.T) {
	_, srv := start(t, Options{HealthStatus: http.StatusNoContent})
	resp, body := do(t, srv, http.MethodGet, RouteHealth, "")
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Errorf("got %d with %d body bytes, want 204 and none", resp.StatusCode, len(body))
	}
}

func benchmarkChat(b *testing.B, body string) {
	s := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, RouteChat, strings.NewReader(body)))
		if rec.Code != http.StatusOK {
			b.Fatalf("got status %d, want 200", rec.Code)
		}
		select { // keep the event feed from filling, as a test reading it would
		case <-s.Events():
		default:
		}
	}
}

func BenchmarkChat(b *testing.B)       { benchmarkChat(b, chatBody) }
func BenchmarkChatStream(b *testing.B) { benchmarkChat(b, streamBody("")) }

// TestSDKChatToolCall: in the OpenAI mode, a chat request that declares
// functions and whose last user message contains "tool" gets a call of its
// first function, whole and streamed, as the Anthropic and Gemini modes
// do; without the trigger, or after a tool result, it gets text.
func TestSDKChatToolCall(t *testing.T) {
	_, srv := start(t, Options{})
	client := sdk(srv)
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "lookup"}),
		openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{Name: "other"}),
	}
	const ask = "use a tool please"
	params := openai.ChatCompletionNewParams{
		Model:    "mock-model",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(ask)},
		Tools:    tools,
	}
	wantArgs := `{"query":"` + ask + `"}`

	got, err := client.Chat.Completions.New(t.Context(), params)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	c := got.Choices[0]
	if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 {
		t.Fatalf("got finish %q and %d tool calls (%s), want tool_calls and one", c.FinishReason, len(c.Message.ToolCalls), got.RawJSON())
	}
	call := c.Message.ToolCalls[0]
	if call.Function.Name != "lookup" || call.Function.Arguments != wantArgs || call.ID == "" || call.Type != "function" {
		t.Errorf("got call %s, want lookup(%s) with an id", call.RawJSON(), wantArgs)
	}
	if raw := c.Message.JSON.Content.Raw(); raw != "null" {
		t.Errorf("got content %s, want null", raw)
	}
	if got.Usage.CompletionTokens == 0 {
		t.Errorf("got no completion tokens in %s", got.RawJSON())
	}

	stream := client.Chat.Completions.NewStreaming(t.Context(), params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	stream.Close()
	sc := acc.Choices[0]
	if sc.FinishReason != "tool_calls" || len(sc.Message.ToolCalls) != 1 {
		t.Fatalf("stream: got finish %q and %d tool calls, want tool_calls and one", sc.FinishReason, len(sc.Message.ToolCalls))
	}
	if call := sc.Message.ToolCalls[0]; call.Function.Name != "lookup" || call.Function.Arguments != wantArgs || !strings.HasPrefix(call.ID, "call_mock_") {
		t.Errorf("stream: got call %s(%s) id %q, want lookup(%s)", call.Function.Name, call.Function.Arguments, call.ID, wantArgs)
	}
	if sc.Message.Content != "" {
		t.Errorf("stream: got content %q, want none", sc.Message.Content)
	}

	for name, p := range map[string]openai.ChatCompletionNewParams{
		"no trigger": {Model: "mock-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}, Tools: tools},
		"no tools":   {Model: "mock-model", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(ask)}},
		"after a tool result": {Model: "mock-model", Tools: tools, Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage(ask), openai.ToolMessage("sunny", "call_mock_1")}},
	} {
		got, err := client.Chat.Completions.New(t.Context(), p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c := got.Choices[0]; c.FinishReason != "stop" || len(c.Message.ToolCalls) != 0 || c.Message.Content != tokens(DefaultTokens) {
			t.Errorf("%s: got %s, want text and stop", name, got.RawJSON())
		}
	}
}
