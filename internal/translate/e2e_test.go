package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/continuumhq/continuum/internal/mock"
	"github.com/continuumhq/continuum/internal/openai"
)

// miniCore is the smallest router core that uses the translators the way
// the real one does: decode the client's request, encode it for the
// backend, and translate the answer back, holding a stream until its
// commit point. A nil client is an OpenAI client; a nil backend an
// OpenAI-compatible one.
type miniCore struct {
	client   Client
	backend  Backend
	upstream string
	copts    ClientOptions
}

func (m *miniCore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req *openai.ChatRequest
	var err error
	if m.client != nil {
		req, err = m.client.DecodeRequest(body, m.copts)
	} else {
		req = &openai.ChatRequest{}
		err = json.Unmarshal(body, req)
	}
	if err != nil {
		m.fail(w, 400, openai.NewError("invalid_request_error", "", "", err.Error()))
		return
	}
	path, up := "/v1/chat/completions", []byte(nil)
	if m.backend != nil {
		path = m.backend.Path(req)
		up, err = m.backend.EncodeRequest(req, BackendOptions{})
	} else {
		up, err = json.Marshal(req)
	}
	if err != nil {
		m.fail(w, 400, openai.NewError("invalid_request_error", "", "", err.Error()))
		return
	}
	ureq, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, m.upstream+path, bytes.NewReader(up))
	ureq.Header.Set("Content-Type", "application/json")
	ureq.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(ureq)
	if err != nil {
		m.fail(w, 502, openai.NewError("upstream_error", "", "", err.Error()))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(resp.Body)
		var ue *UpstreamError
		if m.backend != nil {
			ue = m.backend.DecodeError(resp.StatusCode, b)
		} else {
			ue = DecodeOpenAIError(resp.StatusCode, b)
		}
		m.fail(w, ue.Status, ue.OpenAI())
		return
	}
	if !req.Stream {
		b, _ := io.ReadAll(resp.Body)
		var c *openai.ChatCompletion
		if m.backend != nil {
			c, err = m.backend.DecodeResponse(b, req)
		} else {
			c = &openai.ChatCompletion{}
			err = json.Unmarshal(b, c)
		}
		if err != nil {
			m.fail(w, 502, openai.NewError("upstream_error", "", "", err.Error()))
			return
		}
		out := b
		if m.client != nil {
			out, _ = m.client.EncodeResponse(c, req)
		} else if m.backend != nil {
			out, _ = json.Marshal(c)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
		return
	}
	dec := NewOpenAIStreamDecoder()
	if m.backend != nil {
		dec = m.backend.NewStreamDecoder(req, BackendOptions{})
	}
	enc := NewOpenAIStreamEncoder(req)
	if m.client != nil {
		enc = m.client.NewStreamEncoder(req)
	}
	var chunks []*openai.ChatChunk
	var out []byte
	committed := false
	write := func() {
		for _, c := range chunks {
			out = enc.Chunk(out, c)
		}
		chunks = chunks[:0]
		_, _ = w.Write(out)
		out = out[:0]
		w.(http.Flusher).Flush()
	}
	rd := openai.NewReader(resp.Body, 0)
	for {
		ev, err := rd.Next()
		if err != nil {
			break // EOF or a cut connection: Finish decides
		}
		var info Info
		chunks, info = dec.Decode(ev, chunks)
		if info.Err != nil {
			if !committed {
				m.fail(w, info.Err.Status, info.Err.OpenAI())
				return
			}
			write()
			out = enc.Fail(out, info.Err)
			_, _ = w.Write(out)
			return
		}
		if info.Content && !committed {
			committed = true
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
		}
		if committed {
			write()
		}
	}
	chunks, complete := dec.Finish(chunks)
	if !committed {
		if !complete {
			m.fail(w, 502, openai.NewError("upstream_error", "", "", "empty stream"))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
	}
	write()
	if complete {
		out = enc.End(out)
	} else {
		out = enc.Fail(out, &UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_error", Message: "the backend's stream ended early"})
	}
	_, _ = w.Write(out)
}

func (m *miniCore) fail(w http.ResponseWriter, status int, e openai.Error) {
	body := e.JSON()
	if m.client != nil {
		status, body = m.client.EncodeError(status, e)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// route starts a mock with opts and a miniCore in front of it.
func route(t *testing.T, opts mock.Options, client Client, backend Backend) (*mock.Server, *httptest.Server) {
	t.Helper()
	ms := mock.New(opts)
	up := httptest.NewServer(ms)
	t.Cleanup(up.Close)
	core := httptest.NewServer(&miniCore{client: client, backend: backend, upstream: up.URL, copts: ClientOptions{BackendType: "vllm"}})
	t.Cleanup(core.Close)
	return ms, core
}

func sdkAnthropic(srv *httptest.Server) anthropicsdk.Client {
	return anthropicsdk.NewClient(aoption.WithBaseURL(srv.URL), aoption.WithAPIKey("router-key"), aoption.WithMaxRetries(0))
}

func openAIClient(srv *httptest.Server) oai.Client {
	return oai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("router-key"), option.WithMaxRetries(0))
}

// Spec §8 case 1: Go SDK, non-streaming, through the OpenAI mock.
func TestE2EAnthropicSDKNonStreaming(t *testing.T) {
	ms, core := route(t, mock.Options{Tokens: 3}, NewAnthropicClient(), nil)
	client := sdkAnthropic(core)
	msg, err := client.Messages.New(t.Context(), anthropicsdk.MessageNewParams{
		Model: "mock-model", MaxTokens: 100,
		System:   []anthropicsdk.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hello world!"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != "tok0 tok1 tok2 " || msg.StopReason != "end_turn" {
		t.Errorf("got %+v", msg)
	}
	if msg.Usage.InputTokens != 5 || msg.Usage.OutputTokens != 3 || !strings.HasPrefix(msg.ID, "msg_") {
		t.Errorf("usage %+v id %q, want input 5 (20 bytes / 4), output 3", msg.Usage, msg.ID)
	}
	_, _, body := ms.LastRequest()
	var sent struct {
		Messages  []struct{ Role string }
		MaxTokens int `json:"max_tokens"`
	}
	if err := json.Unmarshal(body, &sent); err != nil || len(sent.Messages) != 2 || sent.Messages[0].Role != "system" || sent.MaxTokens != 100 {
		t.Errorf("the mock saw %s", body)
	}
}

// Spec §8 case 2 (with the Go SDK): the exact event sequence, and the
// accumulated message matches the mock's answer.
func TestE2EAnthropicSDKStreaming(t *testing.T) {
	_, core := route(t, mock.Options{Tokens: 3}, NewAnthropicClient(), nil)
	client := sdkAnthropic(core)
	stream := client.Messages.NewStreaming(t.Context(), anthropicsdk.MessageNewParams{
		Model: "mock-model", MaxTokens: 100,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hello world!"))},
	})
	var msg anthropicsdk.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	want := "message_start,content_block_start,content_block_delta,content_block_delta,content_block_delta,content_block_stop,message_delta,message_stop"
	if strings.Join(types, ",") != want {
		t.Errorf("events: got %s, want %s", strings.Join(types, ","), want)
	}
	if msg.Content[0].Text != "tok0 tok1 tok2 " || msg.StopReason != "end_turn" || msg.Usage.InputTokens != 3 || msg.Usage.OutputTokens != 3 {
		t.Errorf("got %+v", msg)
	}
}

// Spec §8 case 9: a backend cut after 3 chunks is an SDK error, with no message_stop.
func TestE2EAnthropicSDKCut(t *testing.T) {
	_, core := route(t, mock.Options{CutAfter: 3}, NewAnthropicClient(), nil)
	client := sdkAnthropic(core)
	stream := client.Messages.NewStreaming(t.Context(), anthropicsdk.MessageNewParams{
		Model: "mock-model", MaxTokens: 100, Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("x"))},
	})
	for stream.Next() {
		if stream.Current().Type == "message_stop" {
			t.Errorf("got message_stop")
		}
	}
	var apiErr *anthropicsdk.Error
	if err := stream.Err(); !errors.As(err, &apiErr) || !strings.Contains(apiErr.RawJSON(), "api_error") {
		t.Errorf("got %v, want an api_error", err)
	}
}

// Spec §8 case 10, second half: a backend 429 reaches an Anthropic client
// as 429 rate_limit_error.
func TestE2EAnthropicSDKRateLimited(t *testing.T) {
	_, core := route(t, mock.Options{ErrorStatus: 429}, NewAnthropicClient(), nil)
	client := sdkAnthropic(core)
	_, err := client.Messages.New(t.Context(), anthropicsdk.MessageNewParams{
		Model: "mock-model", MaxTokens: 10, Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("x"))},
	})
	var apiErr *anthropicsdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || !strings.Contains(apiErr.RawJSON(), "rate_limit_error") {
		t.Errorf("got %v, want a 429 rate_limit_error", err)
	}
}

// Spec §8 case 7 (with the Anthropic mock): openai-go streams a tool call
// from an Anthropic backend.
func TestE2EOpenAISDKFromAnthropic(t *testing.T) {
	_, core := route(t, mock.Options{API: mock.APIAnthropic}, nil, NewAnthropicBackend())
	client := openAIClient(core)
	stream := client.Chat.Completions.NewStreaming(t.Context(), oai.ChatCompletionNewParams{
		Model:         "mock-model",
		Messages:      []oai.ChatCompletionMessageParamUnion{oai.UserMessage("use the lookup tool")},
		Tools:         []oai.ChatCompletionToolUnionParam{oai.ChatCompletionFunctionTool(oai.FunctionDefinitionParam{Name: "lookup"})},
		StreamOptions: oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)},
	})
	var acc oai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "tool_calls" || len(acc.Choices[0].Message.ToolCalls) != 1 {
		t.Fatalf("got %+v", acc.ChatCompletion)
	}
	tc := acc.Choices[0].Message.ToolCalls[0]
	if tc.Function.Name != "lookup" || tc.Function.Arguments != `{"query":"use the lookup tool"}` || acc.Usage.PromptTokens == 0 {
		t.Errorf("got %+v usage %+v", tc, acc.Usage)
	}

	// Non-streaming.
	c, err := client.Chat.Completions.New(t.Context(), oai.ChatCompletionNewParams{Model: "mock-model", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
	if err != nil || c.Choices[0].Message.Content != mockText(16) || c.Choices[0].FinishReason != "stop" {
		t.Errorf("got %+v %v", c, err)
	}
}

// Spec §8 case 8, second half: overloaded right after message_start fails
// before the commit point (a 503 the core can fail over from).
func TestE2EOpenAISDKOverloadedFirst(t *testing.T) {
	_, core := route(t, mock.Options{API: mock.APIAnthropic, FirstEventError: true}, nil, NewAnthropicBackend())
	client := openAIClient(core)
	stream := client.Chat.Completions.NewStreaming(t.Context(), oai.ChatCompletionNewParams{Model: "mock-model", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
	for stream.Next() {
		t.Errorf("got a chunk")
	}
	var apiErr *oai.Error
	if err := stream.Err(); !errors.As(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Errorf("got %v, want a 503 before any chunk", err)
	}
}

// Spec §8 case 8, first half: overloaded after text ends the stream with an
// error openai-go reports, no finish and no [DONE].
func TestE2EOpenAISDKOverloadedMidStream(t *testing.T) {
	// The mock cannot inject an error event after text: replay the fixture
	// of an Anthropic stream that has one.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write(readFile(t, "o2a/stream/error_after_text.in.sse"))
	}))
	t.Cleanup(up.Close)
	core := httptest.NewServer(&miniCore{backend: NewAnthropicBackend(), upstream: up.URL})
	t.Cleanup(core.Close)
	client := openAIClient(core)
	stream := client.Chat.Completions.NewStreaming(t.Context(), oai.ChatCompletionNewParams{Model: "m", Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage("hi")}})
	text := ""
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			text += c.Delta.Content
			if c.FinishReason != "" {
				t.Errorf("got finish %q", c.FinishReason)
			}
		}
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "Overloaded") || text != "Hello" {
		t.Errorf("got text %q, error %v; want Hello and an Overloaded error", text, err)
	}
}

// The Responses API with openai-go, non-streaming and streaming, through
// the OpenAI mock.
func TestE2EResponsesSDK(t *testing.T) {
	ms, core := route(t, mock.Options{Tokens: 3}, NewResponsesClient(), nil)
	client := openAIClient(core)
	r, err := client.Responses.New(t.Context(), responses.ResponseNewParams{
		Model: "mock-model", Instructions: oai.String("Be brief."),
		Input:           responses.ResponseNewParamsInputUnion{OfString: oai.String("hello world!")},
		MaxOutputTokens: oai.Int(2),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "tok0 tok1 " || r.Status != "incomplete" || r.IncompleteDetails.Reason != "max_output_tokens" || r.Usage.OutputTokens != 2 {
		t.Errorf("got %+v", r)
	}
	_, _, body := ms.LastRequest()
	if !bytes.Contains(body, []byte(`"role":"system","content":"Be brief."`)) || !bytes.Contains(body, []byte(`"max_tokens":2`)) {
		t.Errorf("the mock saw %s", body)
	}

	stream := client.Responses.NewStreaming(t.Context(), responses.ResponseNewParams{
		Model: "mock-model", Input: responses.ResponseNewParamsInputUnion{OfString: oai.String("hi")},
	})
	text, completed := "", false
	for stream.Next() {
		switch e := stream.Current().AsAny().(type) {
		case responses.ResponseTextDeltaEvent:
			text += e.Delta
		case responses.ResponseCompletedEvent:
			completed = e.Response.Status == "completed" && e.Response.OutputText() == "tok0 tok1 tok2 " && e.Response.Usage.TotalTokens > 0
		}
	}
	if err := stream.Err(); err != nil || text != "tok0 tok1 tok2 " || !completed {
		t.Errorf("got text %q completed %v err %v", text, completed, err)
	}
}

// mockText is the mocks' answer of n tokens, "tok0 tok1 … ".
func mockText(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "tok%d ", i)
	}
	return b.String()
}
