package translate

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/openai"
)

// decodeChat decodes a pivot request.
func decodeChat(t *testing.T, s string) *openai.ChatRequest {
	t.Helper()
	var req openai.ChatRequest
	if err := json.Unmarshal([]byte(s), &req); err != nil {
		t.Fatalf("decode request: %v", err)
	}
	return &req
}

func TestAnthropicBackendEncodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		req     string
		opts    func(*BackendOptions)
		dropped []string
		warned  bool
		err     string // the param of the expected RequestError
	}{
		{name: "basic", req: `{"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":"Answer in French."},{"role":"user","content":"Hi"},{"role":"system","content":"late"}],"user":"u-42","stop":"END","stream":true,"stream_options":{"include_usage":true}}`},
		{name: "tool_results", req: `{"model":"m","messages":[
			{"role":"user","content":"Weather in Paris and Rome?"},
			{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\": \"Paris\"}"}},{"id":"call.2","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Rome\"}"}}]},
			{"role":"tool","tool_call_id":"call_1","content":"20C"},
			{"role":"tool","tool_call_id":"call.2","content":[{"type":"text","text":"25C"}]},
			{"role":"user","content":"and tomorrow?"}],
			"tools":[{"type":"function","function":{"name":"weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}},{"type":"function","function":{"name":"noargs"}}],
			"tool_choice":"required","parallel_tool_calls":false}`},
		{name: "tool_stubs", req: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"lookup","arguments":"{}"}}]},{"role":"tool","tool_call_id":"t1","content":"ok"}]}`},
		{name: "images", req: `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/webp;base64,UklGRg=="}},{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}]}`},
		{name: "bmp", req: `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}]}]}`, err: "messages[0].content[0].image_url.url"},
		{name: "audio", req: `{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}]}]}`, err: "messages[0].content[0]"},
		{name: "n", req: `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, err: "n"},
		{name: "logprobs", req: `{"model":"m","logprobs":true,"messages":[{"role":"user","content":"x"}]}`, err: "logprobs"},
		{name: "bad_arguments", req: `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, err: "messages[0].tool_calls[0].function.arguments"},
		{name: "non_function_tool", req: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}`, err: "tools[0].type"},
		{name: "reasoning_medium", req: `{"model":"claude-sonnet-4-5","reasoning_effort":"medium","messages":[{"role":"user","content":"think"}]}`},
		{name: "reasoning_capped", req: `{"model":"claude-sonnet-4-5","reasoning_effort":"high","max_completion_tokens":1000,"messages":[{"role":"user","content":"think"}]}`},
		{name: "reasoning_cap_2000", req: `{"model":"claude-sonnet-4-5","reasoning_effort":"high","max_tokens":2000,"messages":[{"role":"user","content":"think"}]}`},
		{name: "reasoning_adaptive", req: `{"model":"claude-opus-4-7","reasoning_effort":"medium","messages":[{"role":"user","content":"think"}]}`,
			opts: func(o *BackendOptions) { o.AdaptiveThinkingModels = []string{"claude-opus-4-7"} }},
		{name: "reasoning_tool_turn", req: `{"model":"m","reasoning_effort":"low","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"t1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, warned: true},
		{name: "reasoning_signed_turn", req: `{"model":"m","reasoning_effort":"low","messages":[{"role":"user","content":"x"},{"role":"assistant","thinking_blocks":[{"type":"thinking","thinking":"hmm","signature":"sig=="}],"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"t1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f"}}]}`},
		{name: "explicit_thinking", req: `{"model":"m","reasoning_effort":"high","thinking":{"type":"enabled","budget_tokens":2048},"max_tokens":4000,"messages":[{"role":"user","content":"x"}]}`},
		{name: "sampling_2023", req: `{"model":"m","temperature":0.3,"top_p":0.9,"top_k":40,"messages":[{"role":"user","content":"x"}]}`},
		{name: "sampling_2026", req: `{"model":"m","temperature":0.3,"top_p":0.9,"messages":[{"role":"user","content":"x"}]}`,
			opts: func(o *BackendOptions) { o.AnthropicVersion = "2026-10-21" }, dropped: []string{"temperature", "top_p"}},
		{name: "temperature_high", req: `{"model":"m","temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, err: "temperature"},
		{name: "temperature_clamped", req: `{"model":"m","temperature":1.5,"messages":[{"role":"user","content":"x"}]}`, opts: func(o *BackendOptions) { o.ClampTemperature = true }},
		{name: "json_schema_tool", req: `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"city","schema":{"type":"object","properties":{"name":{"type":"string"}}}}}}`},
		{name: "json_schema_native", req: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"city","schema":{"type":"object"}}}}`,
			opts: func(o *BackendOptions) { o.JSONSchemaModels = []string{"claude-sonnet-4-5"} }},
		{name: "json_object_thinking", req: `{"model":"m","reasoning_effort":"low","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}`},
		{name: "dropped", req: `{"model":"m","seed":1,"presence_penalty":0.5,"frequency_penalty":0.1,"logit_bias":{"50256":-100},"user":"someone@example.com","service_tier":"auto","store":true,"messages":[{"role":"user","content":"x"}]}`,
			dropped: []string{"seed", "presence_penalty", "frequency_penalty", "logit_bias", "store"}},
		{name: "keep_system", req: `{"model":"m","messages":[{"role":"system","content":"a"},{"role":"user","content":"x"},{"role":"system","content":"b"}]}`,
			opts: func(o *BackendOptions) { o.KeepSystemInPlace = true }},
	}
	b := NewAnthropicBackend()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testBackendOptions()
			var dropped []string
			warned := false
			opts.Dropped = func(p string) { dropped = append(dropped, p) }
			opts.Warn = func(string) { warned = true }
			if tt.opts != nil {
				tt.opts(&opts)
			}
			req := decodeChat(t, tt.req)
			if got := b.Path(req); got != "/v1/messages" {
				t.Errorf("path: got %q, want /v1/messages", got)
			}
			body, err := b.EncodeRequest(req, opts)
			if tt.err != "" {
				var re *RequestError
				if !errors.As(err, &re) || re.Param != tt.err {
					t.Fatalf("got error %v, want a RequestError for %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "o2a/request/"+tt.name+".json", body)
			if !slices.Equal(dropped, tt.dropped) {
				t.Errorf("dropped: got %q, want %q", dropped, tt.dropped)
			}
			if warned != tt.warned {
				t.Errorf("warned: got %v, want %v", warned, tt.warned)
			}
		})
	}
}

func TestAnthropicBackendDecodeResponse(t *testing.T) {
	tests := []struct{ name, req, body string }{
		{"text_cache", `{"model":"claude-sonnet-4-5","messages":[]}`, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"thinking","thinking":"Let me see.","signature":"c2ln"},{"type":"text","text":"Hello"},{"type":"text","text":" world"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5,"cache_read_input_tokens":100,"cache_creation_input_tokens":20}}`},
		{"tool_use", `{"model":"m","messages":[]}`, `{"id":"msg_02","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city": "Paris"}},{"type":"tool_use","id":"toolu_2","name":"weather","input":{"city":"Rome"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}`},
		{"stop_sequence", `{"model":"m","messages":[]}`, `{"id":"msg_03","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"a b"}],"stop_reason":"stop_sequence","stop_sequence":"END","usage":{"input_tokens":3,"output_tokens":4}}`},
		{"max_tokens", `{"model":"m","messages":[]}`, `{"id":"msg_04","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"a"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}`},
		{"refusal", `{"model":"m","messages":[]}`, `{"id":"msg_05","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":0}}`},
		{"json_tool", `{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}`, `{"id":"msg_06","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_9","name":"json_tool_call","input":{"name": "Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}}`},
	}
	b := NewAnthropicBackend()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := b.DecodeResponse([]byte(tt.body), decodeChat(t, tt.req))
			if err != nil {
				t.Fatal(err)
			}
			c.Created = fixedTime.Unix()
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "o2a/response/"+tt.name+".json", out)
		})
	}
}

func TestAnthropicBackendStream(t *testing.T) {
	tests := []struct {
		name     string
		req      string
		opts     func(*BackendOptions)
		complete bool
		commit   int
	}{
		// Spec §8 case 7: ping, text, a tool_use with three input_json_deltas, an unknown event.
		{"text_tool", `{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}`, nil, true, 3},
		{"thinking", `{"model":"m","messages":[],"stream":true}`, func(o *BackendOptions) { o.Reasoning, o.ThinkingBlocks = true, true }, true, 2},
		{"thinking_dropped", `{"model":"m","messages":[],"stream":true}`, nil, true, 7},
		// Spec §8 case 8: overloaded_error after text, and right after message_start.
		{"error_after_text", `{"model":"m","messages":[],"stream":true}`, nil, false, 3},
		{"error_first", `{"model":"m","messages":[],"stream":true}`, nil, false, -1},
		{"cut", `{"model":"m","messages":[],"stream":true}`, nil, false, 3},
		{"json_tool", `{"model":"m","messages":[],"stream":true,"response_format":{"type":"json_object"}}`, nil, true, 3},
		{"stop_sequence", `{"model":"m","messages":[],"stream":true}`, nil, true, 2},
	}
	b := NewAnthropicBackend()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testBackendOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			req := decodeChat(t, tt.req)
			res := runBackendStream(t, b.NewStreamDecoder(req, opts), NewOpenAIStreamEncoder(req), readFile(t, "o2a/stream/"+tt.name+".in.sse"))
			if res.complete != tt.complete {
				t.Errorf("complete: got %v, want %v", res.complete, tt.complete)
			}
			if res.commit != tt.commit {
				t.Errorf("commit at event %d, want %d", res.commit, tt.commit)
			}
			golden(t, "o2a/stream/"+tt.name+".out.sse", res.out)
			if res.complete && !strings.HasSuffix(string(res.out), "data: [DONE]\n\n") {
				t.Errorf("a complete stream does not end with [DONE]")
			}
			if !res.complete && strings.Contains(string(res.out), "[DONE]") {
				t.Errorf("an incomplete stream has [DONE]")
			}
		})
	}
}

func TestAnthropicBackendDecodeError(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   UpstreamError
	}{
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"bad"},"request_id":"req_1"}`, UpstreamError{Status: 400, Type: "invalid_request_error", Message: "bad", Final: true, UpstreamType: "invalid_request_error"}},
		{401, `{"type":"error","error":{"type":"authentication_error","message":"key"}}`, UpstreamError{Status: 401, Type: "authentication_error", Message: "key", Final: true, UpstreamType: "authentication_error"}},
		{402, `{"type":"error","error":{"type":"billing_error","message":"pay"}}`, UpstreamError{Status: 402, Type: "billing_error", Code: "insufficient_quota", Message: "pay", Final: true, UpstreamType: "billing_error"}},
		{403, `{"type":"error","error":{"type":"permission_error","message":"no"}}`, UpstreamError{Status: 403, Type: "permission_error", Message: "no", Final: true, UpstreamType: "permission_error"}},
		{404, `{"type":"error","error":{"type":"not_found_error","message":"model"}}`, UpstreamError{Status: 404, Type: "not_found_error", Code: "model_not_found", Message: "model", Final: true, UpstreamType: "not_found_error"}},
		{413, `{"type":"error","error":{"type":"request_too_large","message":"big"}}`, UpstreamError{Status: 413, Type: "invalid_request_error", Code: "request_too_large", Message: "big", Final: true, UpstreamType: "request_too_large"}},
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`, UpstreamError{Status: 429, Type: "rate_limit_error", Code: "rate_limit_exceeded", Message: "slow", Capacity: true, UpstreamType: "rate_limit_error"}},
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"spend","details":{"error_code":"enforced_spend_limit_reached"}}}`, UpstreamError{Status: 429, Type: "rate_limit_error", Code: "enforced_spend_limit_reached", Message: "spend", Final: true, SpendLimit: true, UpstreamType: "rate_limit_error"}},
		{500, `{"type":"error","error":{"type":"api_error","message":"oops"}}`, UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_error", Message: "oops", UpstreamType: "api_error"}},
		{504, `{"type":"error","error":{"type":"timeout_error","message":"slow"}}`, UpstreamError{Status: 504, Type: "upstream_timeout", Code: "upstream_timeout", Message: "slow", UpstreamType: "timeout_error"}},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, UpstreamError{Status: 503, Type: "overloaded_error", Code: "overloaded", Message: "Overloaded", Capacity: true, UpstreamType: "overloaded_error"}},
		{502, `<html>bad gateway</html>`, UpstreamError{Status: 502, Type: "upstream_error", Code: "upstream_error", Message: "<html>bad gateway</html>"}},
	}
	b := NewAnthropicBackend()
	for _, tt := range tests {
		got := b.DecodeError(tt.status, []byte(tt.body))
		if *got != tt.want {
			t.Errorf("%d %s: got %+v, want %+v", tt.status, tt.body, *got, tt.want)
		}
	}
}
