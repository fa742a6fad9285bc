package openai

import (
	"bytes"
	"encoding/json"
	"testing"
)

// roundTrip decodes doc into v, re-encodes it, decodes that again and
// checks that both encodings are equal as JSON values to want (doc when
// want is "").
func roundTrip[T any](t *testing.T, doc, want string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if want == "" {
		want = doc
	}
	if !jsonEqual(t, b, []byte(want)) {
		t.Errorf("round trip: got\n%s\nwant\n%s", b, want)
	}
	var again T
	if err := json.Unmarshal(b, &again); err != nil {
		t.Fatalf("decode again: %v", err)
	}
	b2, _ := json.Marshal(again)
	if !bytes.Equal(b, b2) {
		t.Errorf("second round trip changed the encoding:\n%s\n%s", b, b2)
	}
	return v
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

func TestChatRequestRoundTrip(t *testing.T) {
	// A request with every typed field and vendor extras (vLLM, Gemini).
	doc := `{"model":"gpt-4o","messages":[
		{"role":"developer","content":"Be brief."},
		{"role":"user","name":"ann","content":[{"type":"text","text":"Look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA==","detail":"high"}},{"type":"input_audio","input_audio":{"data":"UklG","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JV==","filename":"a.pdf"}},{"type":"text","text":""}]},
		{"role":"assistant","content":null,"reasoning_content":"hm","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"},"extra_content":{"google":{"thought_signature":"sig"}}}],"thinking_blocks":[{"type":"thinking","thinking":"hm","signature":"s"}]},
		{"role":"tool","tool_call_id":"call_1","content":"ok"},
		{"role":"assistant","content":"","refusal":"no"}],
		"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}],
		"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,
		"max_tokens":10,"max_completion_tokens":20,"temperature":0.5,"top_p":0.9,"top_k":40,"stop":["a","b"],
		"stream":true,"stream_options":{"include_usage":true},"user":"u","reasoning_effort":"low",
		"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}},
		"n":1,"logprobs":true,"top_logprobs":2,"seed":7,"presence_penalty":0.1,"frequency_penalty":0.2,
		"logit_bias":{"50256":-100},"metadata":{"k":"v"},
		"continue_final_message":true,"extra_body":{"google":{"cached_content":"c"}}}`
	req := roundTrip[ChatRequest](t, doc, "")
	if len(req.Extra) != 2 || string(req.Extra["continue_final_message"]) != "true" {
		t.Errorf("extra: got %v, want continue_final_message and extra_body", req.Extra)
	}
	if tc := req.Messages[2].ToolCalls[0]; string(tc.Extra["extra_content"]) != `{"google":{"thought_signature":"sig"}}` {
		t.Errorf("tool call extra: got %s", tc.Extra["extra_content"])
	}
	if !req.Messages[2].Content.IsNull() || req.Messages[1].Content.Parts == nil || req.Messages[3].Content.String() != "ok" {
		t.Errorf("content forms not kept: %+v", req.Messages)
	}
	if n, ok := req.MaxOutputTokens(); !ok || n != 20 {
		t.Errorf("MaxOutputTokens: got %d %v, want 20 true", n, ok)
	}
}

func TestChatRequestForms(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"model":"m","messages":[],"stop":"END"}`, `{"model":"m","messages":[],"stop":["END"]}`},
		{`{"model":"m","messages":[],"stop":null}`, `{"model":"m","messages":[]}`},
		{`{"model":"m","messages":[],"tool_choice":"auto"}`, ``},
		{`{"model":"m","messages":[{"role":"assistant","content":"x","reasoning":"r"}]}`, `{"model":"m","messages":[{"role":"assistant","content":"x","reasoning_content":"r"}]}`},
	}
	for _, tt := range tests {
		roundTrip[ChatRequest](t, tt.doc, tt.want)
	}
	for _, bad := range []string{`{"model":"m","messages":[],"stop":1}`, `{"model":"m","messages":[{"role":"user","content":1}]}`, `{"model":"m","messages":[],"tool_choice":{"type":"x"}}`} {
		var r ChatRequest
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("%s: got no error", bad)
		}
	}
}

func TestChatCompletionRoundTrip(t *testing.T) {
	// vLLM's answer with a stop_reason string and usage details.
	doc := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"llama","system_fingerprint":"fp","choices":[{"index":0,"message":{"role":"assistant","content":"one two","reasoning_content":"r"},"finish_reason":"stop","logprobs":null,"stop_reason":"END"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":1}}}`
	c := roundTrip[ChatCompletion](t, doc, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"llama","system_fingerprint":"fp","choices":[{"index":0,"message":{"role":"assistant","content":"one two","reasoning_content":"r"},"finish_reason":"stop","logprobs":null,"stop_reason":"END"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":3},"completion_tokens_details":{"reasoning_tokens":1}}}`)
	if StopString(c.Choices[0].StopReason) != "END" || c.Usage.Cached() != 3 || c.Usage.Reasoning() != 1 {
		t.Errorf("got %+v", c)
	}
	if StopString([]byte("151643")) != "" {
		t.Errorf("a token id stop_reason is not a string")
	}
}

func TestChatChunkRoundTrip(t *testing.T) {
	docs := []string{
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_1","type":"function","function":{"name":"f","arguments":""},"extra_content":{"google":{"thought_signature":"s"}}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":"r","refusal":"x"},"finish_reason":"stop","stop_reason":"END"}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}`,
	}
	for _, doc := range docs {
		roundTrip[ChatChunk](t, doc, "")
	}
	c := roundTrip[ChatChunk](t, `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning":"r"},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"reasoning_content":"r"},"finish_reason":null}]}`)
	if *c.Choices[0].Delta.ReasoningContent != "r" {
		t.Errorf("reasoning not taken")
	}
	b, _ := json.Marshal(ChatChunk{ID: "x"})
	if !bytes.Contains(b, []byte(`"choices":[]`)) {
		t.Errorf("nil choices: got %s, want []", b)
	}
}
