package app_test

// Protocol translation through the whole router (issue 9): the official
// SDKs as clients (anthropic-sdk-go on /v1/messages, openai-go on chat and
// /v1/responses) and simulated OpenAI, Anthropic and Gemini backends
// (internal/mock in each API mode) over real HTTP.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// anthropicBackend configures a backend as type anthropic.
func anthropicBackend(b *config.Backend) { b.Type = "anthropic" }

// geminiBackend configures a backend as type gemini (native API).
func geminiBackend(b *config.Backend) { b.Type = "gemini" }

// anthropicSDK returns the official Anthropic SDK client for the router.
func (e *env) anthropicSDK(key string) anthropicsdk.Client {
	return anthropicsdk.NewClient(aoption.WithBaseURL(e.URL), aoption.WithAPIKey(key), aoption.WithMaxRetries(0))
}

func userMessage(text string) []anthropicsdk.MessageParam {
	return []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock(text))}
}

// An Anthropic client reaches an OpenAI-compatible backend (translated),
// an Anthropic backend (passed through unchanged) and a Gemini backend
// (translated twice, through the chat pivot), streaming and not.
func TestTranslationAnthropicClient(t *testing.T) {
	e := start(t,
		withBackend("oai", mock.Options{Models: []string{"llama"}, Tokens: 3}),
		withBackend("claude", mock.Options{API: mock.APIAnthropic, Models: []string{"claude-x"}, Tokens: 3, RequireAPIKey: "sk-ant-backend"},
			func(b *config.Backend) { anthropicBackend(b); b.APIKey = "sk-ant-backend" }),
		withBackend("gem", mock.Options{API: mock.APIGemini, Models: []string{"gemini-x"}, Tokens: 3}, geminiBackend),
	)
	client := e.anthropicSDK("client-key")
	for _, model := range []string{"llama", "claude-x", "gemini-x"} {
		t.Run(model+"/whole", func(t *testing.T) {
			var resp *http.Response
			msg, err := client.Messages.New(context.Background(), anthropicsdk.MessageNewParams{
				Model: anthropicsdk.Model(model), MaxTokens: 100,
				System:   []anthropicsdk.TextBlockParam{{Text: "Be brief."}},
				Messages: userMessage("hello there"),
			}, aoption.WithResponseInto(&resp))
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "tok0 tok1 tok2 " || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 3 {
				t.Fatalf("got %+v", msg)
			}
			if resp.Header.Get("request-id") == "" || resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("headers: request-id %q X-Request-Id %q, want both", resp.Header.Get("request-id"), resp.Header.Get("X-Request-Id"))
			}
		})
		t.Run(model+"/stream", func(t *testing.T) {
			stream := client.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{
				Model: anthropicsdk.Model(model), MaxTokens: 100, Messages: userMessage("hello there"),
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
			if msg.Content[0].Text != "tok0 tok1 tok2 " || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 3 {
				t.Fatalf("accumulated %+v", msg)
			}
			if types[0] != "message_start" || types[len(types)-1] != "message_stop" {
				t.Fatalf("events %v, want message_start first and message_stop last", types)
			}
		})
	}
	// The Anthropic backend got its own key, never the client's, nor the
	// client SDK's own header fields.
	_, h, _ := e.Backends["claude"].Mock.LastRequest()
	if h.Get("X-Api-Key") != "sk-ant-backend" || h.Get("Authorization") != "" || h.Get("anthropic-version") == "" {
		t.Errorf("the Anthropic backend saw x-api-key %q, authorization %q, anthropic-version %q",
			h.Get("X-Api-Key"), h.Get("Authorization"), h.Get("anthropic-version"))
	}
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "x-stainless") {
			t.Errorf("the Anthropic backend got the client's %s", name)
		}
	}
	m := opsScrape(t, e.URL+"/metrics")
	if got := m.Sum("continuum_requests_total", "endpoint", "messages", "status", "200"); got != 6 {
		t.Errorf("continuum_requests_total{endpoint=messages,status=200} = %v, want 6", got)
	}
	if got := m.Sum("continuum_tokens_total", "backend", "claude", "type", "completion"); got != 6 {
		t.Errorf("completion tokens of the Anthropic backend = %v, want 6 (usage read from passed-through answers)", got)
	}
}

// An OpenAI client (openai-go) reaches Anthropic and Gemini backends:
// whole answers, streams with usage, and tool calls both ways.
func TestTranslationOpenAIClientToVendors(t *testing.T) {
	e := start(t,
		withBackend("claude", mock.Options{API: mock.APIAnthropic, Models: []string{"claude-x"}, Tokens: 3}, anthropicBackend),
		withBackend("gem", mock.Options{API: mock.APIGemini, Models: []string{"gemini-x"}, Tokens: 3}, geminiBackend),
	)
	client := e.SDK()
	for _, model := range []string{"claude-x", "gemini-x"} {
		t.Run(model, func(t *testing.T) {
			c, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("hello")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.Choices[0].Message.Content != "tok0 tok1 tok2 " || c.Choices[0].FinishReason != "stop" || c.Usage.CompletionTokens != 3 {
				t.Fatalf("got %+v", c)
			}
			stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
				Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if acc.Choices[0].Message.Content != "tok0 tok1 tok2 " || acc.Choices[0].FinishReason != "stop" || acc.Usage.CompletionTokens != 3 {
				t.Fatalf("stream accumulated %+v", acc.ChatCompletion)
			}
			// A tool call from the backend, then its result sent back.
			tools := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
				Name: "lookup", Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
			})}
			msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("use the " + mock.ToolTrigger + " please")}
			c, err = client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: msgs, Tools: tools})
			if err != nil {
				t.Fatal(err)
			}
			calls := c.Choices[0].Message.ToolCalls
			if len(calls) == 0 || c.Choices[0].FinishReason != "tool_calls" || calls[0].Function.Name != "lookup" || !json.Valid([]byte(calls[0].Function.Arguments)) {
				t.Fatalf("tool call: got %+v", c.Choices[0])
			}
			msgs = append(msgs, c.Choices[0].Message.ToParam(), openai.ToolMessage(`{"temp":"20C"}`, calls[0].ID))
			c, err = client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model, Messages: msgs, Tools: tools})
			if err != nil {
				t.Fatalf("the tool result turn: %v", err)
			}
			if c.Choices[0].Message.Content == "" {
				t.Fatalf("after the tool result: got %+v", c.Choices[0])
			}
		})
	}
	// Completions and embeddings have no Anthropic form: 400, not a 5xx.
	resp, body := e.Post("/v1/embeddings", `{"model":"claude-x","input":"hi"}`)
	if resp.StatusCode != 400 || !strings.Contains(body, "unsupported_endpoint") {
		t.Errorf("embeddings on an Anthropic-only model: got %d %s, want 400 unsupported_endpoint", resp.StatusCode, body)
	}
}

// openai-go's Responses API over a chat backend, whole and streamed.
func TestTranslationResponsesAPI(t *testing.T) {
	e := start(t, withBackend("oai", mock.Options{Models: []string{"llama"}, Tokens: 3}))
	client := e.SDK()
	r, err := client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "llama", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
		Instructions: openai.String("Be brief."),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "tok0 tok1 tok2 " || r.Status != "completed" || r.Usage.OutputTokens != 3 {
		t.Fatalf("got %q status %s usage %+v", r.OutputText(), r.Status, r.Usage)
	}
	stream := client.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
		Model: "llama", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hello")},
	})
	var text strings.Builder
	completed := false
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.completed":
			completed = true
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "tok0 tok1 tok2 " || !completed {
		t.Fatalf("stream: text %q completed %v", text.String(), completed)
	}
}

// count_tokens is forwarded to an Anthropic backend and estimated for
// others (flagged X-Continuum-Estimated).
func TestTranslationCountTokens(t *testing.T) {
	e := start(t,
		withBackend("oai", mock.Options{Models: []string{"llama"}}),
		withBackend("claude", mock.Options{API: mock.APIAnthropic, Models: []string{"claude-x"}}, anthropicBackend),
	)
	client := e.anthropicSDK("k")
	for _, c := range []struct {
		model     string
		estimated bool
	}{{"claude-x", false}, {"llama", true}} {
		var resp *http.Response
		n, err := client.Messages.CountTokens(context.Background(), anthropicsdk.MessageCountTokensParams{
			Model: anthropicsdk.Model(c.model), Messages: userMessage("how many tokens is this sentence?"),
		}, aoption.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("%s: %v", c.model, err)
		}
		if n.InputTokens <= 0 || (resp.Header.Get("X-Continuum-Estimated") == "true") != c.estimated {
			t.Errorf("%s: %d tokens, estimated header %q, want >0 and estimated=%v", c.model, n.InputTokens, resp.Header.Get("X-Continuum-Estimated"), c.estimated)
		}
	}
}

// Errors reach an Anthropic client in Anthropic's envelope, router-made
// (an unknown model) or not.
func TestTranslationAnthropicErrors(t *testing.T) {
	e := start(t, withBackend("oai", mock.Options{Models: []string{"llama"}}), withConfig(func(c *config.Config) {
		c.APIKeys.Mode = "blocking"
		c.APIKeys.Keys = []config.APIKey{{Key: "sk-good", ID: "good", Enabled: true}}
	}))
	var apiErr *anthropicsdk.Error
	good, wrong := e.anthropicSDK("sk-good"), e.anthropicSDK("sk-wrong")
	_, err := good.Messages.New(context.Background(), anthropicsdk.MessageNewParams{Model: "nope", MaxTokens: 10, Messages: userMessage("x")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.RawJSON(), `"not_found_error"`) {
		t.Errorf("unknown model: got %v, want a 404 not_found_error", err)
	}
	_, err = wrong.Messages.New(context.Background(), anthropicsdk.MessageNewParams{Model: "llama", MaxTokens: 10, Messages: userMessage("x")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || !strings.Contains(apiErr.RawJSON(), `"authentication_error"`) {
		t.Errorf("wrong key: got %v, want a 401 authentication_error", err)
	}
	// The key may come as x-api-key (the SDK's way) or as a bearer token.
	resp, body := e.Post("/v1/messages", `{"model":"llama","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, "Authorization", "Bearer sk-good")
	if resp.StatusCode != 200 {
		t.Errorf("bearer key on /v1/messages: got %d %s", resp.StatusCode, body)
	}
}

// A backend that sends its whole stream in one write: every event is
// translated on its own (the relay's burst batching must not merge them).
func TestTranslationBurstStream(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 3; i++ {
		b.WriteString(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok` + string(rune('0'+i)) + ` "},"finish_reason":null}]}` + "\n\n")
	}
	b.WriteString(`data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Write([]byte(b.String()))
	})
	e := start(t, withHandlerBackend("burst", h, "m"))
	client := e.anthropicSDK("k")
	stream := client.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{Model: "m", MaxTokens: 16, Messages: userMessage("hi")})
	defer stream.Close()
	var msg anthropicsdk.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if msg.Content[0].Text != "tok0 tok1 tok2 " || msg.StopReason != "end_turn" {
		t.Fatalf("got %+v", msg)
	}
}
