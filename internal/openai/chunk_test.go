package openai

import "testing"

func TestInspectEvent(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		want Chunk
	}{
		{"role only", Event{Data: []byte(`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`)}, Chunk{}},
		{"content", Event{Data: []byte(`{"choices":[{"delta":{"content":"hi"}}]}`)}, Chunk{Content: true}},
		{"tool call", Event{Data: []byte(`{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}`)}, Chunk{Content: true}},
		{"reasoning", Event{Data: []byte(`{"choices":[{"delta":{"reasoning_content":"hm"}}]}`)}, Chunk{Content: true}},
		{"completion text", Event{Data: []byte(`{"choices":[{"text":"x","finish_reason":null}]}`)}, Chunk{Content: true}},
		{"finish only", Event{Data: []byte(`{"choices":[{"delta":{},"finish_reason":"stop"}]}`)}, Chunk{Content: true}},
		{"usage only", Event{Data: []byte(`{"choices":[],"usage":{"prompt_tokens":1}}`)}, Chunk{Content: true}},
		{"usage null", Event{Data: []byte(`{"choices":[],"usage":null}`)}, Chunk{}},
		{"error member", Event{Data: []byte(`{"error":{"message":"boom","type":"server_error"}}`)}, Chunk{Error: true, Message: "boom"}},
		{"error event name", Event{Name: []byte("error"), Data: []byte(`overloaded`)}, Chunk{Error: true, Message: "overloaded"}},
		{"comment", Event{Raw: []byte(": ping\n\n")}, Chunk{}},
		{"done", Event{Data: []byte("[DONE]")}, Chunk{}},
		{"not json", Event{Data: []byte("hello")}, Chunk{Content: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InspectEvent(tt.ev); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseUsage(t *testing.T) {
	u, ok := ParseUsage([]byte(`{"id":"x","choices":[{"message":{"content":"usage"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`))
	if !ok || u != (Usage{3, 4, 7}) {
		t.Fatalf("got %+v %v, want {3 4 7} true", u, ok)
	}
	u, ok = ParseUsage([]byte(`{"choices":[{"delta":{"content":"the \"usage\": {\"prompt_tokens\": 9}"}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"prompt_tokens_details":{"cached_tokens":0}}}`))
	if !ok || u != (Usage{1, 2, 3}) {
		t.Fatalf("with usage text in content and nested details: got %+v %v, want {1 2 3} true", u, ok)
	}
	if n := testing.AllocsPerRun(100, func() {
		ParseUsage([]byte(`{"a":1,"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`))
	}); n != 0 {
		t.Fatalf("ParseUsage allocates %v times, want 0", n)
	}
	for _, doc := range []string{`{"usage":null}`, `not json`, `{}`, `{"usage":{"prompt_tokens":"x"}}`, `{"usage":{"prompt_tokens":1`} {
		if _, ok := ParseUsage([]byte(doc)); ok {
			t.Errorf("ParseUsage(%s): got ok, want none", doc)
		}
	}
}
