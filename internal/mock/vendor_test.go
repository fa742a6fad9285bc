package mock

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"

	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/translate"
)

func anthropicSDK(srv *httptest.Server, key string) anthropicsdk.Client {
	return anthropicsdk.NewClient(
		aoption.WithBaseURL(srv.URL),
		aoption.WithAPIKey(key),
		aoption.WithMaxRetries(0),
		aoption.WithHTTPClient(srv.Client()),
	)
}

func userMessage(text string) anthropicsdk.MessageNewParams {
	return anthropicsdk.MessageNewParams{
		Model: "mock-model", MaxTokens: 1024,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock(text))},
	}
}

var weatherTool = anthropicsdk.ToolUnionParam{OfTool: &anthropicsdk.ToolParam{
	Name: "weather", InputSchema: anthropicsdk.ToolInputSchemaParam{Properties: map[string]any{"query": map[string]any{"type": "string"}}},
}}

func TestAnthropicSDK(t *testing.T) {
	s, srv := start(t, Options{API: APIAnthropic, Tokens: 4, RequireAPIKey: "k"})
	client := anthropicSDK(srv, "k")

	msg, err := client.Messages.New(t.Context(), userMessage("hello world!"))
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != tokens(4) || msg.StopReason != "end_turn" || msg.Usage.InputTokens != 3 || msg.Usage.OutputTokens != 4 {
		t.Errorf("got %+v, want %q, end_turn, usage 3/4", msg, tokens(4))
	}
	_, h, _ := s.LastRequest()
	if h.Get("X-Api-Key") != "k" || h.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("the SDK sent x-api-key %q, version %q", h.Get("X-Api-Key"), h.Get("Anthropic-Version"))
	}

	p := userMessage("hello")
	p.MaxTokens = 2
	if msg, err = client.Messages.New(t.Context(), p); err != nil || msg.StopReason != "max_tokens" || msg.Content[0].Text != tokens(2) {
		t.Errorf("max_tokens 2: got %+v %v, want 2 tokens and max_tokens", msg, err)
	}

	stream := client.Messages.NewStreaming(t.Context(), userMessage("hello"))
	var acc anthropicsdk.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := acc.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Errorf("events: got %q, want %q", types, want)
	}
	if acc.Content[0].Text != tokens(4) || acc.StopReason != "end_turn" || acc.Usage.OutputTokens != 4 || acc.Usage.InputTokens != 1 {
		t.Errorf("accumulated %+v", acc)
	}

	// The tool trigger: tools declared and "tool" in the last user message.
	tp := userMessage("Use the weather tool")
	tp.Tools = []anthropicsdk.ToolUnionParam{weatherTool}
	if msg, err = client.Messages.New(t.Context(), tp); err != nil || msg.StopReason != "tool_use" || msg.Content[0].Type != "tool_use" || msg.Content[0].Name != "weather" || string(msg.Content[0].Input) != `{"query":"Use the weather tool"}` {
		t.Errorf("tool call: got %+v %v", msg, err)
	}
	stream = client.Messages.NewStreaming(t.Context(), tp)
	acc = anthropicsdk.Message{}
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil || acc.StopReason != "tool_use" || string(acc.Content[0].Input) != `{"query":"Use the weather tool"}` {
		t.Errorf("streamed tool call: got %+v %v", acc, err)
	}

	n, err := client.Messages.CountTokens(t.Context(), anthropicsdk.MessageCountTokensParams{Model: "mock-model",
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hello world!"))}})
	if err != nil || n.InputTokens != 3 {
		t.Errorf("count_tokens: got %+v %v, want 3", n, err)
	}
	models, err := client.Models.List(t.Context(), anthropicsdk.ModelListParams{})
	if err != nil || len(models.Data) != 1 || models.Data[0].ID != "mock-model" {
		t.Errorf("models: got %+v %v", models, err)
	}
	if m, err := client.Models.Get(t.Context(), "mock-model", anthropicsdk.ModelGetParams{}); err != nil || m.ID != "mock-model" {
		t.Errorf("model: got %+v %v", m, err)
	}

	wrong := anthropicSDK(srv, "wrong")
	_, err = wrong.Messages.New(t.Context(), userMessage("x"))
	var apiErr *anthropicsdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || !strings.Contains(apiErr.RawJSON(), "authentication_error") {
		t.Errorf("wrong key: got %v, want a 401 authentication_error", err)
	}
}

// The stream is byte for byte what the real API sends.
func TestAnthropicStreamWireFormat(t *testing.T) {
	_, srv := start(t, Options{API: APIAnthropic, Tokens: 2})
	resp, body := do(t, srv, http.MethodPost, RouteMessages, `{"model":"mock-model","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hello world!"}]}`, "anthropic-version", "2023-06-01")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Request-Id") == "" {
		t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
	}
	want := `event: message_start
data: {"message":{"content":[],"id":"msg_mock_2","model":"mock-model","role":"assistant","stop_reason":null,"stop_sequence":null,"type":"message","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":3,"output_tokens":1}},"type":"message_start"}

event: ping
data: {"type":"ping"}

event: content_block_start
data: {"content_block":{"text":"","type":"text"},"index":0,"type":"content_block_start"}

event: content_block_delta
data: {"delta":{"text":"tok0 ","type":"text_delta"},"index":0,"type":"content_block_delta"}

event: content_block_delta
data: {"delta":{"text":"tok1 ","type":"text_delta"},"index":0,"type":"content_block_delta"}

event: content_block_stop
data: {"index":0,"type":"content_block_stop"}

event: message_delta
data: {"delta":{"stop_reason":"end_turn","stop_sequence":null},"type":"message_delta","usage":{"input_tokens":3,"output_tokens":2}}

event: message_stop
data: {"type":"message_stop"}

`
	if string(body) != want {
		t.Errorf("got\n%s\nwant\n%s", body, want)
	}
}

func TestAnthropicFaults(t *testing.T) {
	body := `{"model":"mock-model","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	t.Run("overloaded", func(t *testing.T) {
		_, srv := start(t, Options{API: APIAnthropic, ErrorStatus: 529, RetryAfter: "3"})
		resp, b := do(t, srv, http.MethodPost, RouteMessages, body, "anthropic-version", "2023-06-01")
		if resp.StatusCode != 529 || resp.Header.Get("Retry-After") != "3" || !strings.Contains(string(b), `"type":"overloaded_error"`) {
			t.Errorf("got %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
		}
		up := translate.NewAnthropicBackend().DecodeError(resp.StatusCode, b)
		if up.Status != 503 || !up.Capacity {
			t.Errorf("translated: got %+v, want a 503 capacity error", up)
		}
	})
	t.Run("first event error", func(t *testing.T) {
		_, srv := start(t, Options{API: APIAnthropic, FirstEventError: true})
		client := anthropicSDK(srv, "x")
		stream := client.Messages.NewStreaming(t.Context(), userMessage("hi"))
		for stream.Next() {
		}
		var apiErr *anthropicsdk.Error
		if err := stream.Err(); !errors.As(err, &apiErr) || !strings.Contains(apiErr.RawJSON(), "overloaded_error") {
			t.Errorf("got %v, want an overloaded_error API error", err)
		}
	})
	t.Run("empty stream", func(t *testing.T) {
		s, srv := start(t, Options{API: APIAnthropic, EmptyStream: true})
		_, b := do(t, srv, http.MethodPost, RouteMessages, body, "anthropic-version", "2023-06-01")
		if strings.Contains(string(b), "content_block") || !strings.Contains(string(b), "message_stop") {
			t.Errorf("got %s, want no content block", b)
		}
		waitEvent(t, s, EventDone)
		if st := s.Stats(); st.Errors != 1 {
			t.Errorf("got %d errors, want 1", st.Errors)
		}
	})
	t.Run("cut after", func(t *testing.T) {
		_, srv := start(t, Options{API: APIAnthropic, CutAfter: 2})
		client := anthropicSDK(srv, "x")
		stream := client.Messages.NewStreaming(t.Context(), userMessage("hi"))
		n := 0
		for stream.Next() {
			n++
		}
		if stream.Err() == nil {
			t.Errorf("got a clean end after %d events, want an error", n)
		}
	})
	t.Run("errors", func(t *testing.T) {
		_, srv := start(t, Options{API: APIAnthropic})
		for _, tt := range []struct {
			body, version string
			status        int
			typ           string
		}{
			{body, "", 400, "invalid_request_error"},
			{`{"model":"nope","max_tokens":1,"messages":[]}`, "2023-06-01", 404, "not_found_error"},
			{`{"model":"mock-model","messages":[]}`, "2023-06-01", 400, "invalid_request_error"},
			{`{"model":`, "2023-06-01", 400, "invalid_request_error"},
		} {
			var h []string
			if tt.version != "" {
				h = []string{"anthropic-version", tt.version}
			}
			resp, b := do(t, srv, http.MethodPost, RouteMessages, tt.body, h...)
			var eb struct {
				Type  string
				Error struct{ Type string }
			}
			if err := json.Unmarshal(b, &eb); err != nil || resp.StatusCode != tt.status || eb.Type != "error" || eb.Error.Type != tt.typ {
				t.Errorf("%s: got %d %s, want %d %s", tt.body, resp.StatusCode, b, tt.status, tt.typ)
			}
		}
	})
}

// Spec §8 case 7 end to end: the mock's Anthropic stream through the
// translator gives an OpenAI stream with a tool call.
func TestAnthropicMockThroughTranslator(t *testing.T) {
	_, srv := start(t, Options{API: APIAnthropic})
	req := &openai.ChatRequest{Model: "mock-model", Stream: true, StreamOptions: &openai.StreamOptions{IncludeUsage: true},
		Messages: []openai.ChatMessage{{Role: "user", Content: openai.TextContent("call the tool please")}},
		Tools:    []openai.Tool{{Type: "function", Function: &openai.FunctionDef{Name: "lookup"}}}}
	b := translate.NewAnthropicBackend()
	body, err := b.EncodeRequest(req, translate.BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp := send(t, t.Context(), srv, http.MethodPost, b.Path(req), string(body), "anthropic-version", "2023-06-01")
	defer resp.Body.Close()
	dec := b.NewStreamDecoder(req, translate.BackendOptions{})
	var chunks []*openai.ChatChunk
	r := openai.NewReader(resp.Body, 0)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var info translate.Info
		chunks, info = dec.Decode(ev, chunks)
		if info.Err != nil {
			t.Fatal(info.Err)
		}
	}
	chunks, complete := dec.Finish(chunks)
	var out []byte
	for _, c := range chunks {
		out = translate.EncodeOpenAIChunk(out, c)
	}
	if !complete || !bytes.Contains(out, []byte(`"name":"lookup"`)) || !bytes.Contains(out, []byte(`"finish_reason":"tool_calls"`)) || !bytes.Contains(out, []byte(`"usage":{"prompt_tokens":`)) {
		t.Errorf("complete %v, got\n%s", complete, out)
	}
}

func TestGeminiMock(t *testing.T) {
	s, srv := start(t, Options{API: APIGemini, Tokens: 3, RequireAPIKey: "g"})
	key := []string{"x-goog-api-key", "g"}
	b := translate.NewGeminiBackend()

	req := &openai.ChatRequest{Model: "mock-model", Messages: []openai.ChatMessage{{Role: "system", Content: openai.TextContent("Be brief.")}, {Role: "user", Content: openai.TextContent("hello world!")}}}
	body, err := b.EncodeRequest(req, translate.BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp, raw := do(t, srv, http.MethodPost, b.Path(req), string(body), key...)
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, raw)
	}
	c, err := b.DecodeResponse(raw, req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Choices[0].Message.Content.String() != tokens(3) || c.Choices[0].FinishReason != "stop" || c.Usage.PromptTokens != 5 || c.Usage.CompletionTokens != 3 {
		t.Errorf("got %s", raw)
	}

	// Streamed, with the tool trigger.
	req.Stream = true
	req.Messages[1].Content = openai.TextContent("use a tool")
	req.Tools = []openai.Tool{{Type: "function", Function: &openai.FunctionDef{Name: "lookup"}}}
	body, _ = b.EncodeRequest(req, translate.BackendOptions{})
	resp, raw = do(t, srv, http.MethodPost, b.Path(req), string(body), key...)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("got %d %s", resp.StatusCode, raw)
	}
	dec := b.NewStreamDecoder(req, translate.BackendOptions{})
	var chunks []*openai.ChatChunk
	r := openai.NewReader(bytes.NewReader(raw), 0)
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		chunks, _ = dec.Decode(ev, chunks)
	}
	chunks, complete := dec.Finish(chunks)
	var out []byte
	for _, c := range chunks {
		out = translate.EncodeOpenAIChunk(out, c)
	}
	if !complete || !bytes.Contains(out, []byte(`"name":"lookup"`)) || !bytes.Contains(out, []byte(`"thought_signature":"`+mockThoughtSignature+`"`)) || !bytes.Contains(out, []byte(`"finish_reason":"tool_calls"`)) {
		t.Errorf("complete %v, got\n%s", complete, out)
	}

	// A text stream: one event per token, the last with finishReason.
	resp, raw = do(t, srv, http.MethodPost, "/v1beta/models/mock-model:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":2}}`, key...)
	events, _ := readEvents(bytes.NewReader(raw))
	if resp.StatusCode != 200 || len(events) != 2 || !strings.Contains(events[1], `"finishReason":"MAX_TOKENS"`) {
		t.Errorf("got %d %q", resp.StatusCode, events)
	}

	resp, raw = do(t, srv, http.MethodGet, "/v1beta/models", "", key...)
	if resp.StatusCode != 200 || !strings.Contains(string(raw), `"name":"models/mock-model"`) {
		t.Errorf("models: got %d %s", resp.StatusCode, raw)
	}
	resp, _ = do(t, srv, http.MethodGet, "/v1beta/models/mock-model?key=g", "")
	if resp.StatusCode != 200 {
		t.Errorf("model with ?key=: got %d", resp.StatusCode)
	}
	resp, raw = do(t, srv, http.MethodPost, "/v1beta/models/mock-model:generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`)
	if up := b.DecodeError(resp.StatusCode, raw); resp.StatusCode != 401 || up.Status != 401 || !strings.Contains(string(raw), `"status":"UNAUTHENTICATED"`) {
		t.Errorf("no key: got %d %s", resp.StatusCode, raw)
	}
	resp, raw = do(t, srv, http.MethodPost, "/v1beta/models/other:generateContent", `{"contents":[{"parts":[{"text":"x"}]}]}`, key...)
	if resp.StatusCode != 404 || !strings.Contains(string(raw), `"status":"NOT_FOUND"`) {
		t.Errorf("unknown model: got %d %s", resp.StatusCode, raw)
	}
	if st := s.Stats(); st.ByPath[RouteGenerate] != 3 || st.ByPath[RouteStreamGenerate] != 2 || st.ByPath[RouteGeminiModels] != 1 || st.ByPath[RouteGeminiModel] != 1 {
		t.Errorf("stats: got %+v", st.ByPath)
	}
}

func TestGeminiFaults(t *testing.T) {
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	path := "/v1beta/models/mock-model:streamGenerateContent?alt=sse"
	t.Run("error status", func(t *testing.T) {
		_, srv := start(t, Options{API: APIGemini, ErrorStatus: 429, RetryAfter: "2"})
		resp, b := do(t, srv, http.MethodPost, path, body)
		up := translate.NewGeminiBackend().DecodeError(resp.StatusCode, b)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || up.Status != 429 || !up.Capacity {
			t.Errorf("got %d %s %+v", resp.StatusCode, b, up)
		}
	})
	t.Run("first event error", func(t *testing.T) {
		_, srv := start(t, Options{API: APIGemini, FirstEventError: true})
		_, b := do(t, srv, http.MethodPost, path, body)
		events, _ := readEvents(bytes.NewReader(b))
		if len(events) != 1 || !strings.Contains(events[0], `"status":"UNAVAILABLE"`) {
			t.Errorf("got %q", events)
		}
		dec := translate.NewGeminiBackend().NewStreamDecoder(&openai.ChatRequest{Model: "mock-model"}, translate.BackendOptions{})
		if _, info := dec.Decode(openai.Event{Data: []byte(events[0])}, nil); info.Err == nil || info.Err.Status != 503 || !info.Err.Capacity {
			t.Errorf("translated: got %+v", info.Err)
		}
	})
	t.Run("empty stream", func(t *testing.T) {
		_, srv := start(t, Options{API: APIGemini, EmptyStream: true})
		resp, b := do(t, srv, http.MethodPost, path, body)
		if resp.StatusCode != 200 || len(b) != 0 {
			t.Errorf("got %d %q, want an empty stream", resp.StatusCode, b)
		}
	})
	t.Run("no alt", func(t *testing.T) {
		_, srv := start(t, Options{API: APIGemini})
		resp, _ := do(t, srv, http.MethodPost, "/v1beta/models/mock-model:streamGenerateContent", body)
		if resp.StatusCode != 400 {
			t.Errorf("got %d, want 400", resp.StatusCode)
		}
	})
}

func TestValidateAPI(t *testing.T) {
	if err := (Options{API: "cohere"}).Validate(); err == nil || !strings.Contains(err.Error(), "api") {
		t.Errorf("got %v, want an api error", err)
	}
}
