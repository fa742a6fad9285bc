package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/responses"

	"github.com/continuumhq/continuum/internal/openai"
)

func TestResponsesDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		opts    ClientOptions
		dropped []string
		err     string
	}{
		{name: "string_input", body: `{"model":"gpt-x","input":"Hello","instructions":"Be brief.","max_output_tokens":50,"temperature":0.2,"top_p":0.5,"stream":true,"store":false,"user":"u1"}`},
		{name: "items", body: `{"model":"m","input":[
			{"role":"developer","content":"Use tools."},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in Paris?"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}]},
			{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need a tool."}]},
			{"type":"function_call","id":"fc_1","call_id":"call_1","name":"weather","arguments":"{\"city\":\"Paris\"}"},
			{"type":"function_call","id":"fc_2","call_id":"call_2","name":"weather","arguments":"{\"city\":\"Rome\"}"},
			{"type":"function_call_output","call_id":"call_1","output":"20C"},
			{"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"25C"}]},
			{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Paris 20C, Rome 25C."}]},
			{"role":"user","content":"Thanks"}],
			"tools":[{"type":"function","name":"weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}],
			"tool_choice":{"type":"function","name":"weather"},"parallel_tool_calls":false,
			"text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"},"strict":true}},
			"reasoning":{"effort":"low"}}`, opts: ClientOptions{Reasoning: true, BackendType: "openai"}},
		{name: "dropped", body: `{"model":"m","input":"x","metadata":{"a":"b"},"include":["reasoning.encrypted_content"],"service_tier":"auto","future_param":1}`, dropped: []string{"metadata", "include", "service_tier", "future_param"}},
		{name: "previous_response", body: `{"model":"m","input":"x","previous_response_id":"resp_1"}`, err: "previous_response_id"},
		{name: "background", body: `{"model":"m","input":"x","background":true}`, err: "background"},
		{name: "web_search", body: `{"model":"m","input":"x","tools":[{"type":"web_search"}]}`, err: "tools[0].type"},
		{name: "no_input", body: `{"model":"m"}`, err: "input"},
		{name: "item_reference", body: `{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, err: "input[0].type"},
		{name: "file_id", body: `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`, err: "input[0].content[0].image_url"},
	}
	c := NewResponsesClient()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			var dropped []string
			opts.Dropped = func(p string) { dropped = append(dropped, p) }
			req, err := c.DecodeRequest([]byte(tt.body), opts)
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
			out, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "responses/request/"+tt.name+".json", out)
			if !slices.Equal(dropped, tt.dropped) {
				t.Errorf("dropped: got %q, want %q", dropped, tt.dropped)
			}
		})
	}
}

func TestResponsesEncodeResponse(t *testing.T) {
	tests := []struct {
		name, completion, status string
		outputs                  []string
	}{
		{"text", `{"id":"chatcmpl-1","object":"chat.completion","created":1767225600,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"Hello","reasoning_content":"Say hello."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":2}}}`, "completed", []string{"reasoning", "message"}},
		{"tools", `{"id":"chatcmpl-2","object":"chat.completion","created":1767225600,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_a","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_b","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Rome\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}`, "completed", []string{"function_call", "function_call"}},
		{"length", `{"id":"chatcmpl-3","object":"chat.completion","created":1767225600,"model":"llama","choices":[{"index":0,"message":{"role":"assistant","content":"cut"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}`, "incomplete", []string{"message"}},
	}
	c := NewResponsesClient()
	req := &openai.ChatRequest{Model: "llama", Messages: []openai.ChatMessage{{Role: "system", Content: openai.TextContent("Be brief.")}}, MaxTokens: ptr(100)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cc openai.ChatCompletion
			if err := json.Unmarshal([]byte(tt.completion), &cc); err != nil {
				t.Fatal(err)
			}
			out, err := c.EncodeResponse(&cc, req)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "responses/response/"+tt.name+".json", out)
			var r responses.Response
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("openai-go cannot decode the response: %v", err)
			}
			if string(r.Status) != tt.status {
				t.Errorf("status: got %q, want %q", r.Status, tt.status)
			}
			var types []string
			for _, o := range r.Output {
				types = append(types, o.Type)
			}
			if !slices.Equal(types, tt.outputs) {
				t.Errorf("output: got %q, want %q", types, tt.outputs)
			}
			if tt.name == "text" && (r.OutputText() != "Hello" || r.Usage.InputTokens != 12 || r.Usage.InputTokensDetails.CachedTokens != 2 || r.Usage.OutputTokensDetails.ReasoningTokens != 2) {
				t.Errorf("got text %q usage %+v", r.OutputText(), r.Usage)
			}
		})
	}
}

func TestResponsesStream(t *testing.T) {
	tests := []struct {
		name     string
		complete bool
		terminal string
		text     string
		args     []string
	}{
		{"text", true, "response.completed", "Hello there", nil},
		{"parallel_tools", true, "response.completed", "", []string{`{"city":"Paris"}`, `{"city":"Rome"}`}},
		{"text_then_tool", true, "response.completed", "Let me look.", []string{`{"q":"go"}`}},
		{"reasoning", true, "response.incomplete", "Answer", nil},
		{"interleaved_tools", true, "response.completed", "", []string{`{"x":1}`, `{"y":2}`}},
		{"error_event", false, "response.failed", "par", nil},
		{"cut", false, "response.failed", "tok0 tok1 tok2 ", nil},
	}
	c := NewResponsesClient()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &openai.ChatRequest{Model: "llama", Stream: true}
			res := runClientStream(t, c.NewStreamEncoder(req), readFile(t, "a2o/stream/"+tt.name+".in.sse"))
			golden(t, "responses/stream/"+tt.name+".out.sse", res.out)
			if res.complete != tt.complete {
				t.Fatalf("complete: got %v, want %v", res.complete, tt.complete)
			}
			// Decode with openai-go's stream types, as an SDK client does.
			hr := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(res.out))}
			stream := ssestream.NewStream[responses.ResponseStreamEventUnion](ssestream.NewDecoder(hr), nil)
			seq := int64(0)
			var text string
			var args []string
			terminal := ""
			for stream.Next() {
				ev := stream.Current()
				if ev.SequenceNumber != seq {
					t.Errorf("%s: sequence_number %d, want %d", ev.Type, ev.SequenceNumber, seq)
				}
				seq++
				switch e := ev.AsAny().(type) {
				case responses.ResponseTextDeltaEvent:
					text += e.Delta
				case responses.ResponseFunctionCallArgumentsDoneEvent:
					args = append(args, e.Arguments)
				case responses.ResponseCompletedEvent, responses.ResponseIncompleteEvent, responses.ResponseFailedEvent:
					terminal = ev.Type
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("openai-go stream: %v", err)
			}
			if terminal != tt.terminal {
				t.Errorf("terminal event: got %q, want %q", terminal, tt.terminal)
			}
			if text != tt.text {
				t.Errorf("text: got %q, want %q", text, tt.text)
			}
			if !slices.Equal(args, tt.args) {
				t.Errorf("arguments: got %q, want %q", args, tt.args)
			}
			for _, ev := range readEvents(t, res.out) {
				var d struct{ Type string }
				if err := json.Unmarshal(ev.Data, &d); err != nil || d.Type != string(ev.Name) {
					t.Errorf("event %q has data type %q (%v)", ev.Name, d.Type, err)
				}
			}
		})
	}
}

func TestResponsesClassify(t *testing.T) {
	c := NewResponsesClient()
	tests := []struct {
		ev            string
		content, done bool
		err           bool
		promptTokens  int
	}{
		{`{"type":"response.created","sequence_number":0,"response":{}}`, false, false, false, 0},
		{`{"type":"response.output_item.added","item":{"type":"message"}}`, false, false, false, 0},
		{`{"type":"response.output_item.added","item":{"type":"function_call","call_id":"c","name":"f"}}`, true, false, false, 0},
		{`{"type":"response.output_text.delta","delta":"hi"}`, true, false, false, 0},
		{`{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}}`, true, true, false, 3},
		{`{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}`, false, false, true, 0},
		{`{"type":"error","code":"x","message":"bad"}`, false, false, true, 0},
	}
	for _, tt := range tests {
		got := c.Classify(openai.Event{Data: []byte(tt.ev)})
		if got.Content != tt.content || got.Done != tt.done || (got.Err != nil) != tt.err {
			t.Errorf("%s: got %+v", tt.ev, got)
		}
		if tt.promptTokens > 0 && (got.Usage == nil || got.Usage.PromptTokens != tt.promptTokens) {
			t.Errorf("%s: usage %+v, want prompt tokens %d", tt.ev, got.Usage, tt.promptTokens)
		}
	}
}
