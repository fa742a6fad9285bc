package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"

	"github.com/continuumhq/continuum/internal/openai"
)

func TestAnthropicClientDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		opts    ClientOptions
		dropped []string
		err     string
	}{
		{name: "basic", body: `{"model":"claude-x","max_tokens":1024,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Use French."}],"messages":[{"role":"user","content":"Hello"}],"stop_sequences":["END"],"stream":true,"temperature":0.2,"top_p":0.9,"top_k":5,"metadata":{"user_id":"u-1"}}`,
			opts: ClientOptions{BackendType: "vllm"}},
		{name: "openai_backend", body: `{"model":"gpt-x","max_tokens":100,"top_k":5,"messages":[{"role":"user","content":[{"type":"text","text":"Read"},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},"title":"r.pdf"}]}],"stream":true}`,
			opts: ClientOptions{BackendType: "openai", NoStreamUsage: true}, dropped: []string{"top_k"}},
		// Spec §8 case 4.
		{name: "tool_results", body: `{"model":"m","max_tokens":100,"messages":[
			{"role":"user","content":"Weather?"},
			{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"toolu_1","name":"weather","input":{"city":"Paris"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"20C"},{"type":"text","text":"and?"}]}],
			"tools":[{"name":"weather","description":"Weather now","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
			"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`},
		{name: "tool_result_image", body: `{"model":"m","max_tokens":100,"messages":[
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_2","name":"shot","input":{}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_2","is_error":true,"content":[{"type":"text","text":"partial"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},{"type":"text","text":"see?"}]}]}`},
		// Spec §8 case 6.
		{name: "images", body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}},{"type":"text","text":"Compare."}]}]}`},
		{name: "prefill_vllm", body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"Hi"}]}`, opts: ClientOptions{BackendType: "vllm"}},
		{name: "reasoning", body: `{"model":"m","max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":10000},"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},{"type":"text","text":"y"}]},{"role":"user","content":"z"}]}`,
			opts: ClientOptions{Reasoning: true}},
		{name: "reasoning_off", body: `{"model":"m","max_tokens":20000,"thinking":{"type":"enabled","budget_tokens":10000},"messages":[{"role":"user","content":"x"}]}`, dropped: []string{"thinking"}},
		{name: "effort", body: `{"model":"m","max_tokens":100,"output_config":{"effort":"max","format":{"type":"json_schema","schema":{"type":"object"}}},"messages":[{"role":"user","content":"x"}]}`, opts: ClientOptions{Reasoning: true}},
		{name: "tool_choice_tool", body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}}`},
		{name: "dropped", body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],"service_tier":"auto","container":"c1","mcp_servers":[],"context_management":{}}`,
			dropped: []string{"service_tier", "container", "mcp_servers", "context_management"}},
		{name: "server_tool_dropped", body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"name":"f","input_schema":{"type":"object"}}]}`,
			opts: ClientOptions{DropUnsupportedTools: true}, dropped: []string{"tools[0]:web_search_20250305"}},
		{name: "system_in_messages", body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"},{"role":"system","content":"Now be terse."},{"role":"user","content":"y"}]}`},
		{name: "count_tokens", body: `{"model":"m","messages":[{"role":"user","content":"How many tokens?"}]}`, opts: ClientOptions{CountTokens: true}},
		{name: "server_tool", body: `{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"bash_20250124","name":"bash"}]}`, err: "tools.0.type"},
		{name: "no_max_tokens", body: `{"model":"m","messages":[{"role":"user","content":"x"}]}`, err: "max_tokens"},
		{name: "no_model", body: `{"max_tokens":1,"messages":[]}`, err: "model"},
		{name: "bad_json", body: `{"model":`, err: ""},
		{name: "bad_type", body: `{"model":"m","max_tokens":"many","messages":[]}`, err: "max_tokens"},
		{name: "version_2026_temperature", body: `{"model":"m","max_tokens":10,"temperature":0.5,"messages":[{"role":"user","content":"x"}]}`, opts: ClientOptions{AnthropicVersion: "2026-10-21"}, err: "temperature"},
		{name: "pdf_generic_backend", body: `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]}`, err: "messages.0.content.0"},
		{name: "assistant_document", body: `{"model":"m","max_tokens":10,"messages":[{"role":"assistant","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]}]}`, err: "messages.0.content.0"},
	}
	c := NewAnthropicClient()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			var dropped []string
			opts.Dropped = func(p string) { dropped = append(dropped, p) }
			req, err := c.DecodeRequest([]byte(tt.body), opts)
			if tt.err != "" || tt.name == "bad_json" {
				var re *RequestError
				if !errors.As(err, &re) || re.Param != tt.err {
					t.Fatalf("got error %v, want a RequestError for %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "a2o/request/"+tt.name+".json", out)
			if !slices.Equal(dropped, tt.dropped) {
				t.Errorf("dropped: got %q, want %q", dropped, tt.dropped)
			}
		})
	}
}

func TestAnthropicClientEncodeResponse(t *testing.T) {
	tests := []struct{ name, completion string }{
		// Spec §8 case 1: a text block, end_turn, input_tokens = prompt_tokens − cached.
		{"text", `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":2,"total_tokens":32,"prompt_tokens_details":{"cached_tokens":20}}}`},
		{"tools", `{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"Need weather.","tool_calls":[{"id":"call_a","type":"function","function":{"name":"weather","arguments":"{\"city\": \"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"weather","arguments":"not json"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`},
		// Spec §8 case 13: vLLM's stop_reason names the matched stop string.
		{"stop_sequence", `{"id":"chatcmpl-3","object":"chat.completion","created":1,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"one two"},"finish_reason":"stop","stop_reason":"END"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`},
		{"length", `{"id":"chatcmpl-4","object":"chat.completion","created":1,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"one"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`},
		{"gemini_stop_tools", `{"id":"chatcmpl-5","object":"chat.completion","created":1,"model":"gemini","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}]}`},
		{"content_filter", `{"id":"chatcmpl-6","object":"chat.completion","created":1,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}`},
	}
	c := NewAnthropicClient()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cc openai.ChatCompletion
			if err := json.Unmarshal([]byte(tt.completion), &cc); err != nil {
				t.Fatal(err)
			}
			out, err := c.EncodeResponse(&cc, &openai.ChatRequest{Model: "claude-x"})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "a2o/response/"+tt.name+".json", out)
			// The official SDK decodes it.
			var m anthropicsdk.Message
			if err := json.Unmarshal(out, &m); err != nil {
				t.Fatalf("anthropic-sdk-go cannot decode the response: %v", err)
			}
		})
	}
}

func TestAnthropicClientEncodeError(t *testing.T) {
	tests := []struct {
		status     int
		typ        string
		wantStatus int
		wantType   string
	}{
		{400, "invalid_request_error", 400, "invalid_request_error"},
		{422, "invalid_request_error", 400, "invalid_request_error"},
		{401, "authentication_error", 401, "authentication_error"},
		{402, "billing_error", 402, "billing_error"},
		{403, "permission_error", 403, "permission_error"},
		{404, "invalid_request_error", 404, "not_found_error"},
		{408, "upstream_timeout", 504, "timeout_error"},
		{413, "invalid_request_error", 413, "request_too_large"},
		{429, "rate_limit_exceeded", 429, "rate_limit_error"},
		{500, "server_error", 500, "api_error"},
		{502, "upstream_error", 502, "api_error"},
		{503, "no_backend_available", 529, "overloaded_error"},
		{504, "upstream_timeout", 504, "timeout_error"},
	}
	c := NewAnthropicClient()
	for _, tt := range tests {
		status, body := c.EncodeError(tt.status, openai.NewError(tt.typ, "", "", "boom"))
		var eb struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(body, &eb); err != nil {
			t.Fatal(err)
		}
		if status != tt.wantStatus || eb.Type != "error" || eb.Error.Type != tt.wantType || eb.Error.Message != "boom" {
			t.Errorf("%d %s: got %d %s, want %d %s", tt.status, tt.typ, status, body, tt.wantStatus, tt.wantType)
		}
	}
}

func TestAnthropicClientStream(t *testing.T) {
	tests := []struct {
		name     string
		complete bool
		stop     string
		blocks   []string // the accumulated content block types
	}{
		// Spec §8 case 2: message_start, text block, deltas, message_delta, message_stop.
		{"text", true, "end_turn", []string{"text"}},
		// Spec §8 case 3: two parallel tool calls, arguments split mid-token.
		{"parallel_tools", true, "tool_use", []string{"tool_use", "tool_use"}},
		{"text_then_tool", true, "tool_use", []string{"text", "tool_use"}},
		{"reasoning", true, "max_tokens", []string{"thinking", "text"}},
		{"interleaved_tools", true, "tool_use", []string{"tool_use", "tool_use"}},
		{"stop_sequence", true, "stop_sequence", []string{"text"}},
		{"gemini_stop_tools", true, "tool_use", []string{"tool_use"}},
		// Spec §8 case 9: the backend cut the stream.
		{"cut", false, "", nil},
		{"error_event", false, "", nil},
	}
	c := NewAnthropicClient()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &openai.ChatRequest{Model: "claude-x", Stream: true}
			res := runClientStream(t, c.NewStreamEncoder(req), readFile(t, "a2o/stream/"+tt.name+".in.sse"))
			golden(t, "a2o/stream/"+tt.name+".out.sse", res.out)
			if res.complete != tt.complete {
				t.Fatalf("complete: got %v, want %v", res.complete, tt.complete)
			}
			checkAnthropicEvents(t, res.out)
			msg, err := accumulateAnthropic(res.out)
			if !tt.complete {
				var apiErr *anthropicsdk.Error
				if !errors.As(err, &apiErr) {
					t.Fatalf("anthropic-sdk-go: got error %v, want an API error", err)
				}
				if strings.Contains(string(res.out), "message_stop") {
					t.Errorf("a failed stream has message_stop")
				}
				return
			}
			if err != nil {
				t.Fatalf("anthropic-sdk-go Accumulate: %v", err)
			}
			if string(msg.StopReason) != tt.stop {
				t.Errorf("stop_reason: got %q, want %q", msg.StopReason, tt.stop)
			}
			var types []string
			for _, b := range msg.Content {
				types = append(types, b.Type)
				if b.Type == "tool_use" {
					var in map[string]any
					if err := json.Unmarshal(b.Input, &in); err != nil {
						t.Errorf("tool_use input %s is not a JSON object: %v", b.Input, err)
					}
				}
			}
			if !slices.Equal(types, tt.blocks) {
				t.Errorf("blocks: got %q, want %q", types, tt.blocks)
			}
			if tt.name == "parallel_tools" {
				for i, b := range msg.Content {
					if string(b.Input) != `{"city":"Paris"}` && string(b.Input) != `{"city":"Rome"}` {
						t.Errorf("block %d input: got %s", i, b.Input)
					}
				}
			}
			if tt.name == "text" && (msg.Usage.InputTokens != 25 || msg.Usage.OutputTokens != 3 || msg.Usage.CacheReadInputTokens != 5) {
				t.Errorf("usage: got %+v, want input 25, output 3, cache read 5", msg.Usage)
			}
		})
	}
}

// checkAnthropicEvents checks the stream grammar of spec §3: every event is
// named as its data's type, and block starts use consecutive indices.
func checkAnthropicEvents(t *testing.T, out []byte) {
	t.Helper()
	next := 0
	for _, ev := range readEvents(t, out) {
		var d struct {
			Type  string `json:"type"`
			Index *int   `json:"index"`
		}
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("event data %q: %v", ev.Data, err)
		}
		if string(ev.Name) != d.Type {
			t.Errorf("event name %q, data type %q", ev.Name, d.Type)
		}
		if d.Type == "content_block_start" {
			if d.Index == nil || *d.Index != next {
				t.Errorf("content_block_start index %v, want %d", d.Index, next)
			}
			next++
		}
	}
}

// accumulateAnthropic decodes an Anthropic stream with anthropic-sdk-go's
// ssestream and Message.Accumulate, as an SDK client would.
func accumulateAnthropic(out []byte) (anthropicsdk.Message, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://test/v1/messages", nil)
	res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(out)), Request: req}
	stream := ssestream.NewStream[anthropicsdk.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
	var msg anthropicsdk.Message
	for stream.Next() {
		if err := msg.Accumulate(stream.Current()); err != nil {
			return msg, err
		}
	}
	return msg, stream.Err()
}

func TestAnthropicClientClassify(t *testing.T) {
	c := NewAnthropicClient()
	tests := []struct {
		name string
		ev   string
		want Info
	}{
		{"message_start", "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n", Info{Usage: &openai.Usage{PromptTokens: 5, CompletionTokens: 1, TotalTokens: 6}}},
		{"ping", "event: ping\ndata: {\"type\":\"ping\"}\n\n", Info{Ping: true}},
		{"text start", "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n", Info{}},
		{"tool start", "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}\n\n", Info{Content: true}},
		{"text delta", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n", Info{Content: true}},
		{"empty json delta", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n", Info{}},
		{"message_delta", "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n", Info{Content: true, Usage: &openai.Usage{CompletionTokens: 7, TotalTokens: 7}}},
		{"message_stop", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", Info{Content: true, Done: true}},
		{"unknown", "event: future\ndata: {\"type\":\"future\"}\n\n", Info{Unknown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Classify(readEvents(t, []byte(tt.ev))[0])
			if got.Content != tt.want.Content || got.Done != tt.want.Done || got.Ping != tt.want.Ping || got.Unknown != tt.want.Unknown || got.Err != nil {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if (got.Usage == nil) != (tt.want.Usage == nil) || got.Usage != nil && *got.Usage != *tt.want.Usage {
				t.Errorf("usage: got %+v, want %+v", got.Usage, tt.want.Usage)
			}
		})
	}
	got := c.Classify(readEvents(t, []byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"))[0])
	if got.Err == nil || got.Err.Status != 503 || !got.Err.Capacity || got.Err.Message != "Overloaded" {
		t.Errorf("error event: got %+v, want a 503 capacity error", got.Err)
	}
}
