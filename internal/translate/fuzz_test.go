package translate

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/continuumhq/continuum/internal/openai"
)

// checkPivot fails unless req re-encodes as JSON that decodes to a pivot
// request again, and can be sent to each backend API or is refused with a
// RequestError.
func checkPivot(t *testing.T, req *openai.ChatRequest) {
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("pivot does not re-encode: %v", err)
	}
	var again openai.ChatRequest
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatalf("re-encoded pivot does not decode: %v\n%s", err, b)
	}
	for _, be := range []Backend{NewAnthropicBackend(), NewGeminiBackend()} {
		if _, err := be.EncodeRequest(req, BackendOptions{}); err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("backend encode: got %v, want nil or a RequestError", err)
			}
		}
	}
	_ = EstimateTokens(req)
}

func FuzzAnthropicRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","max_tokens":10,"system":[{"type":"text","text":"s"}],"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":1}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"x"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]},{"type":"text","text":"y"}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}}`,
		`{"model":"m","max_tokens":10,"thinking":{"type":"enabled","budget_tokens":2048},"output_config":{"effort":"high","format":{"type":"json_schema","schema":{}}},"messages":[]}`,
		`{"model":"m","max_tokens":1,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","data":"d"}}]}],"stop_sequences":["a"],"metadata":{"user_id":"u"}}`,
		`{}`, `[]`, `null`, `{"model":1}`,
	} {
		f.Add([]byte(s))
	}
	c := NewAnthropicClient()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, opts := range []ClientOptions{{}, {BackendType: "openai", Reasoning: true, DropUnsupportedTools: true}, {CountTokens: true, AnthropicVersion: "2026-10-21"}} {
			req, err := c.DecodeRequest(body, opts)
			if err != nil {
				var re *RequestError
				if !errors.As(err, &re) {
					t.Fatalf("got %T %v, want a RequestError", err, err)
				}
				continue
			}
			checkPivot(t, req)
		}
	})
}

func FuzzResponsesRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","input":"hi"}`,
		`{"model":"m","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"x"},{"type":"input_image","image_url":"https://x/y.png"}]},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"tool_choice":"required"}`,
		`{"model":"m","input":[{"type":"reasoning","summary":[{"type":"summary_text","text":"t"}]},{"role":"assistant","content":[{"type":"output_text","text":"a"}]}],"text":{"format":{"type":"json_schema","name":"n","schema":{}}},"reasoning":{"effort":"high"},"max_output_tokens":5,"stream":true}`,
		`{}`, `{"model":"m","input":[{}]}`, `{"model":"m","input":7}`,
	} {
		f.Add([]byte(s))
	}
	c := NewResponsesClient()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, opts := range []ClientOptions{{}, {BackendType: "openai", Reasoning: true}} {
			req, err := c.DecodeRequest(body, opts)
			if err != nil {
				var re *RequestError
				if !errors.As(err, &re) {
					t.Fatalf("got %T %v, want a RequestError", err, err)
				}
				continue
			}
			checkPivot(t, req)
		}
	})
}
