package bench

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestTargetURL(t *testing.T) {
	tests := []struct {
		base, endpoint, want string
	}{
		{"http://127.0.0.1:8080", EndpointChat, "http://127.0.0.1:8080/v1/chat/completions"},
		{"http://127.0.0.1:8080/", EndpointChat, "http://127.0.0.1:8080/v1/chat/completions"},
		{"http://127.0.0.1:8080/v1", EndpointChat, "http://127.0.0.1:8080/v1/chat/completions"},
		{"http://127.0.0.1:8080/v1/", EndpointCompletions, "http://127.0.0.1:8080/v1/completions"},
		{"https://api.example.com/openai/v1", EndpointEmbeddings, "https://api.example.com/openai/v1/embeddings"},
		{"http://h/prefix", EndpointChat, "http://h/prefix/v1/chat/completions"},
		{"http://h/v1/chat/completions", EndpointChat, "http://h/v1/chat/completions"},
		{"http://h:1/v1?x=1", EndpointChat, "http://h:1/v1/chat/completions?x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.base+" "+tt.endpoint, func(t *testing.T) {
			got, err := targetURL(tt.base, tt.endpoint)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestBuildBody(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		prompt  string
		want    string // JSON, compared as decoded values
		wantErr string
	}{
		{
			name:   "chat prompt becomes a user message",
			cfg:    Config{Model: "m", Endpoint: EndpointChat},
			prompt: `{"prompt":"hi"}`,
			want:   `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`,
		},
		{
			name:   "chat messages kept, stream with usage, max_tokens set",
			cfg:    Config{Model: "m", Endpoint: EndpointChat, Stream: true, MaxTokens: 7},
			prompt: `{"messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"temperature":0.5}`,
			want: `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":"u"}],"temperature":0.5,
				"stream":true,"stream_options":{"include_usage":true},"max_tokens":7}`,
		},
		{
			name:   "a full body keeps its model; the flags still apply",
			cfg:    Config{Model: "m", Endpoint: EndpointChat},
			prompt: `{"model":"own","messages":[],"stream":true,"stream_options":{"include_usage":true},"max_tokens":3}`,
			want:   `{"model":"own","messages":[],"stream":false,"max_tokens":3}`,
		},
		{
			name:   "completions keep the prompt",
			cfg:    Config{Model: "m", Endpoint: EndpointCompletions, Stream: true},
			prompt: `{"prompt":["a","b"]}`,
			want:   `{"model":"m","prompt":["a","b"],"stream":true,"stream_options":{"include_usage":true}}`,
		},
		{
			name:   "embeddings take the prompt as input, never stream",
			cfg:    Config{Model: "e", Endpoint: EndpointEmbeddings, MaxTokens: 9},
			prompt: `{"prompt":"text"}`,
			want:   `{"model":"e","input":"text"}`,
		},
		{
			name:    "completions without a prompt",
			cfg:     Config{Model: "m", Endpoint: EndpointCompletions},
			prompt:  `{"messages":[]}`,
			wantErr: `has no "prompt"`,
		},
		{
			name:    "embeddings without input",
			cfg:     Config{Model: "m", Endpoint: EndpointEmbeddings},
			prompt:  `{"messages":[]}`,
			wantErr: `neither "input" nor "prompt"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.prompt), &obj); err != nil {
				t.Fatalf("bad test prompt: %v", err)
			}
			got, err := buildBody(&tt.cfg, obj)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("buildBody: %v", err)
			}
			var gotV, wantV any
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, got)
			}
			if err := json.Unmarshal([]byte(tt.want), &wantV); err != nil {
				t.Fatalf("bad test want: %v", err)
			}
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestGeneratedBodies(t *testing.T) {
	cfg := Config{Model: "m", Endpoint: EndpointChat, PromptTokens: 50, Seed: 3}
	a, err := buildBodies(&cfg)
	if err != nil {
		t.Fatalf("buildBodies: %v", err)
	}
	b, _ := buildBodies(&cfg)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed: got different bodies, want the same")
	}
	if len(a) != generatedPrompts {
		t.Errorf("got %d bodies, want %d", len(a), generatedPrompts)
	}
	distinct := map[string]bool{}
	for _, body := range a {
		distinct[string(body)] = true
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) != 1 {
			t.Fatalf("body %s: want one message (%v)", body, err)
		}
		if got := len(strings.Fields(req.Messages[0].Content)); got != 50 {
			t.Errorf("prompt has %d words, want 50", got)
		}
	}
	if len(distinct) < generatedPrompts/2 {
		t.Errorf("got %d distinct bodies of %d, want them to differ", len(distinct), len(a))
	}
}

func TestReadPrompts(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    int
		wantErr string
	}{
		{"lines and blanks", "{\"prompt\":\"a\"}\n\n  {\"messages\":[]}  \r\n", 2, ""},
		{"not an object", "{\"prompt\":\"a\"}\n[1,2]\n", 0, "line 2"},
		{"null", "null\n", 0, "line 1"},
		{"empty", "\n\n", 0, "no prompt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPrompts(strings.NewReader(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d prompts, %v; want %d", len(got), err, tt.want)
			}
		})
	}
}

func TestValueStartsWith(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{`{"usage":{"completion_tokens":1}}`, true},
		{`{"usage" : {"completion_tokens":1}}`, true},
		{`{"usage":null}`, false},
		{`{"choices":[{"delta":{"content":"the \"usage\": {"}}]}`, false},
		{`{}`, false},
	}
	for _, tt := range tests {
		if got := valueStartsWith([]byte(tt.doc), usageKey, '{'); got != tt.want {
			t.Errorf("valueStartsWith(%s, usage, '{'): got %t, want %t", tt.doc, got, tt.want)
		}
	}
}
