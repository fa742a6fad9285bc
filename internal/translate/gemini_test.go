package translate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/openai"
)

func TestGeminiPath(t *testing.T) {
	b := NewGeminiBackend()
	tests := []struct {
		req  openai.ChatRequest
		want string
	}{
		{openai.ChatRequest{Model: "gemini-2.5-flash"}, "/v1beta/models/gemini-2.5-flash:generateContent"},
		{openai.ChatRequest{Model: "models/gemini-2.5-pro", Stream: true}, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"},
	}
	for _, tt := range tests {
		if got := b.Path(&tt.req); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.req.Model, got, tt.want)
		}
	}
}

func TestGeminiEncodeRequest(t *testing.T) {
	tests := []struct {
		name string
		req  string
		opts func(*BackendOptions)
		err  string
	}{
		{name: "basic", req: `{"model":"gemini-2.5-flash","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":100,"temperature":0.5,"top_p":0.9,"top_k":20,"stop":["END"],"reasoning_effort":"medium","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}`,
			opts: func(o *BackendOptions) {
				o.Reasoning = true
				o.GeminiSafetySettings = []byte(`[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}]`)
			}},
		// A two-turn tool loop: the thought signature of the first call goes back.
		{name: "tool_loop", req: `{"model":"gemini-3-pro","messages":[
			{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
			{"role":"assistant","content":null,"tool_calls":[{"id":"call_0","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"},"extra_content":{"google":{"thought_signature":"c2lnMQ=="}}},{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Rome\"}"}}]},
			{"role":"tool","tool_call_id":"call_0","content":"{\"temp\":20}"},
			{"role":"tool","tool_call_id":"call_1","content":"25C"},
			{"role":"user","content":"thanks"}],
			"tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":{"type":"function","function":{"name":"weather"}}}`},
		{name: "foreign_history", req: `{"model":"gemini-3-pro","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"toolu_1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","reasoning_effort":"none"}`},
		{name: "unknown_tool_result", req: `{"model":"g","messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]}`, err: "messages[0].tool_call_id"},
		{name: "n", req: `{"model":"g","n":3,"messages":[{"role":"user","content":"x"}]}`, err: "n"},
	}
	b := NewGeminiBackend()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testBackendOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			body, err := b.EncodeRequest(decodeChat(t, tt.req), opts)
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
			golden(t, "gemini/request/"+tt.name+".json", body)
		})
	}
}

func TestGeminiDecodeResponse(t *testing.T) {
	tests := []struct{ name, body string }{
		{"text", `{"candidates":[{"content":{"role":"model","parts":[{"text":"Thinking...","thought":true},{"text":"Hello"},{"text":" world"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":7,"cachedContentTokenCount":4,"totalTokenCount":22},"modelVersion":"gemini-2.5-flash","responseId":"abc"}`},
		{"function_calls", `{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"},{"functionCall":{"name":"weather","args":{"city":"Rome"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15},"responseId":"def"}`},
		{"max_tokens", `{"candidates":[{"content":{"role":"model","parts":[{"text":"cut"}]},"finishReason":"MAX_TOKENS"}],"responseId":"ghi"}`},
		{"safety", `{"candidates":[{"finishReason":"SAFETY","safetyRatings":[]}],"responseId":"jkl"}`},
		{"prompt_blocked", `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"responseId":"mno"}`},
	}
	b := NewGeminiBackend()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := b.DecodeResponse([]byte(tt.body), &openai.ChatRequest{Model: "gemini-2.5-flash"})
			if err != nil {
				t.Fatal(err)
			}
			c.Created = fixedTime.Unix()
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "gemini/response/"+tt.name+".json", out)
		})
	}
}

func TestGeminiStream(t *testing.T) {
	tests := []struct {
		name     string
		complete bool
	}{
		{"text", true},
		{"function_call", true},
		{"blocked", true},
		{"error", false},
		{"cut", false},
	}
	b := NewGeminiBackend()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testBackendOptions()
			opts.Reasoning = true
			req := &openai.ChatRequest{Model: "gemini-2.5-flash", Stream: true, StreamOptions: &openai.StreamOptions{IncludeUsage: true}}
			res := runBackendStream(t, b.NewStreamDecoder(req, opts), NewOpenAIStreamEncoder(req), readFile(t, "gemini/stream/"+tt.name+".in.sse"))
			if res.complete != tt.complete {
				t.Errorf("complete: got %v, want %v", res.complete, tt.complete)
			}
			golden(t, "gemini/stream/"+tt.name+".out.sse", res.out)
		})
	}
}

func TestGeminiDecodeError(t *testing.T) {
	tests := []struct {
		status     int
		body       string
		wantStatus int
		capacity   bool
		message    string
	}{
		{400, `{"error":{"code":400,"message":"bad arg","status":"INVALID_ARGUMENT"}}`, 400, false, "bad arg"},
		{400, `[{"error":{"code":400,"message":"array form","status":"INVALID_ARGUMENT"}}]`, 400, false, "array form"},
		{403, `{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`, 403, false, "denied"},
		{404, `{"error":{"code":404,"message":"no model","status":"NOT_FOUND"}}`, 404, false, "no model"},
		{429, `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`, 429, true, "quota"},
		{503, `{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`, 503, true, "overloaded"},
		{504, `{"error":{"code":504,"message":"slow","status":"DEADLINE_EXCEEDED"}}`, 504, false, "slow"},
		{500, `{"error":{"code":500,"message":"oops","status":"INTERNAL"}}`, 502, false, "oops"},
		{500, `garbage`, 502, false, "garbage"},
	}
	b := NewGeminiBackend()
	for _, tt := range tests {
		got := b.DecodeError(tt.status, []byte(tt.body))
		if got.Status != tt.wantStatus || got.Capacity != tt.capacity || got.Message != tt.message {
			t.Errorf("%d %s: got %+v, want status %d capacity %v message %q", tt.status, tt.body, got, tt.wantStatus, tt.capacity, tt.message)
		}
	}
}

// Spec §8 case 15, as far as it is pure translation.
func TestGeminiCompat(t *testing.T) {
	var g GeminiCompat
	e := g.Error(400, []byte(`[{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}]`))
	if e.Status != 400 || e.Type != "invalid_request_error" || e.Message != "Invalid JSON payload" || !e.Final {
		t.Errorf("array error: got %+v, want a final 400 invalid_request_error", e)
	}
	if body := e.OpenAI().JSON(); !strings.Contains(string(body), `"type":"invalid_request_error"`) {
		t.Errorf("envelope: got %s", body)
	}
	e = g.Error(429, []byte(`{"error":{"message":"slow down","type":"rate_limit_exceeded"}}`))
	if e.Status != 429 || !e.Capacity || e.Message != "slow down" {
		t.Errorf("OpenAI envelope: got %+v, want a 429 capacity error", e)
	}

	var c openai.ChatCompletion
	if err := json.Unmarshal([]byte(`{"id":"x","object":"chat.completion","created":1,"model":"gemini","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"sig"}}}]},"finish_reason":"stop"}]}`), &c); err != nil {
		t.Fatal(err)
	}
	g.Completion(&c)
	if c.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish: got %q, want tool_calls", c.Choices[0].FinishReason)
	}
	out, _ := json.Marshal(c)
	if !strings.Contains(string(out), `"extra_content":{"google":{"thought_signature":"sig"}}`) {
		t.Errorf("thought signature lost: %s", out)
	}

	s := g.NewStream()
	chunks := readEvents(t, readFile(t, "a2o/stream/gemini_stop_tools.in.sse"))
	ch, _, err := DecodeOpenAIChunk(chunks[0])
	if err != nil {
		t.Fatal(err)
	}
	if !s.Chunk(ch) || *ch.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("stream finish: got %q, want tool_calls", *ch.Choices[0].FinishReason)
	}
	out = EncodeOpenAIChunk(nil, ch)
	if !strings.Contains(string(out), `"thought_signature":"sig"`) {
		t.Errorf("stream thought signature lost: %s", out)
	}

	// A foreign history gets the placeholder signature on its first call only.
	foreign := decodeChat(t, `{"model":"gemini-3-pro","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},{"id":"b","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"real"}}}]}]}`)
	g.Request(foreign)
	if got := thoughtSignature(foreign.Messages[0].ToolCalls[0]); got != skipSignature {
		t.Errorf("first call: got %q, want %q", got, skipSignature)
	}
	if got := thoughtSignature(foreign.Messages[0].ToolCalls[1]); got != "" {
		t.Errorf("second call: got %q, want none", got)
	}
	if got := thoughtSignature(foreign.Messages[1].ToolCalls[0]); got != "real" {
		t.Errorf("signed call: got %q, want real", got)
	}

	// The signature survives a two-turn loop through the native backend too.
	gc, err := NewGeminiBackend().DecodeResponse([]byte(`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"c2ln"}]},"finishReason":"STOP"}]}`), &openai.ChatRequest{Model: "g"})
	if err != nil {
		t.Fatal(err)
	}
	next := &openai.ChatRequest{Model: "g", Messages: []openai.ChatMessage{
		{Role: "user", Content: openai.TextContent("x")}, gc.Choices[0].Message,
		{Role: "tool", ToolCallID: gc.Choices[0].Message.ToolCalls[0].ID, Content: openai.TextContent("ok")},
	}}
	body, err := NewGeminiBackend().EncodeRequest(next, BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"thoughtSignature":"c2ln"`) {
		t.Errorf("native signature lost in the second turn: %s", body)
	}
}
