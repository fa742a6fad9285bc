package translate

import (
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/openai"
)

func TestOpenAIEventInfo(t *testing.T) {
	tests := []struct {
		name, ev      string
		content, done bool
		ping          bool
		err           bool
		usage         *openai.Usage
	}{
		{"role", "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n", false, false, false, false, nil},
		{"content", "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", true, false, false, false, nil},
		{"usage", "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n", true, false, false, false, &openai.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}},
		{"done", "data: [DONE]\n\n", false, true, false, false, nil},
		{"comment", ": ping\n\n", false, false, true, false, nil},
		{"error", "data: {\"error\":{\"message\":\"slow\",\"type\":\"rate_limit_exceeded\"}}\n\n", false, false, false, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OpenAIEventInfo(readEvents(t, []byte(tt.ev))[0])
			if got.Content != tt.content || got.Done != tt.done || got.Ping != tt.ping || (got.Err != nil) != tt.err {
				t.Errorf("got %+v", got)
			}
			if tt.usage != nil && (got.Usage == nil || *got.Usage != *tt.usage) {
				t.Errorf("usage: got %+v, want %+v", got.Usage, tt.usage)
			}
			if tt.err && (got.Err.Status != 429 || !got.Err.Capacity || got.Err.Message != "slow") {
				t.Errorf("error: got %+v, want a 429 capacity error", got.Err)
			}
		})
	}
}

func TestDecodeOpenAIError(t *testing.T) {
	tests := []struct {
		status     int
		body       string
		wantStatus int
		capacity   bool
		final      bool
		message    string
	}{
		{400, `{"error":{"message":"bad","type":"invalid_request_error"}}`, 400, false, true, "bad"},
		{422, `{"error":"unprocessable"}`, 422, false, true, "unprocessable"},
		{429, `{"error":{"message":"slow","type":"rate_limit_exceeded"}}`, 429, true, false, "slow"},
		{500, `oops`, 502, false, false, "oops"},
		{503, ``, 503, true, false, "Service Unavailable"},
		{408, `{"error":{"message":"timeout"}}`, 504, false, false, "timeout"},
	}
	for _, tt := range tests {
		got := DecodeOpenAIError(tt.status, []byte(tt.body))
		if got.Status != tt.wantStatus || got.Capacity != tt.capacity || got.Final != tt.final || got.Message != tt.message {
			t.Errorf("%d %s: got %+v", tt.status, tt.body, got)
		}
	}
}

func TestOpenAIStreamEncoder(t *testing.T) {
	enc := NewOpenAIStreamEncoder(&openai.ChatRequest{})
	out := enc.Ping(nil)
	out = enc.Fail(out, &UpstreamError{Status: 503, Type: "overloaded_error", Code: "overloaded", UpstreamType: "overloaded_error", Message: "Overloaded"})
	want := ": ping\n\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\",\"param\":null,\"code\":\"overloaded\"}}\n\n"
	if string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if got := string(enc.End(nil)); got != "data: [DONE]\n\n" {
		t.Errorf("end: got %q", got)
	}
}

// Spec §7 / §8 case 15: count_tokens estimates input_tokens > 0.
func TestEstimateTokens(t *testing.T) {
	req, err := NewAnthropicClient().DecodeRequest([]byte(`{"model":"m","system":"You are a helpful assistant.","messages":[{"role":"user","content":"How many tokens is this message, roughly?"}],"tools":[{"name":"f","description":"does things","input_schema":{"type":"object"}}]}`), ClientOptions{CountTokens: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := EstimateTokens(req); n < 15 || n > 40 {
		t.Errorf("got %d, want about 25", n)
	}
	if n := EstimateTokens(&openai.ChatRequest{}); n != 1 {
		t.Errorf("empty request: got %d, want 1", n)
	}
	if got := string(EncodeCountTokens(12)); got != `{"input_tokens":12}` {
		t.Errorf("count_tokens body: got %s", got)
	}
	if !strings.Contains(NewAnthropicClient().ContentType(), "event-stream") {
		t.Errorf("content type")
	}
}
