package prompts

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/continuumhq/continuum/internal/openai"
)

func TestParseStrategy(t *testing.T) {
	tests := []struct {
		in   string
		want Strategy
		ok   bool
	}{
		{"", Prepend, true},
		{"prepend", Prepend, true},
		{"append", Append, true},
		{"replace", Replace, true},
		{"Prepend", Prepend, false},
		{"merge", Prepend, false},
	}
	for _, tt := range tests {
		got, ok := ParseStrategy(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseStrategy(%q): got %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && tt.in != "" && got.String() != tt.in {
			t.Errorf("%v.String(): got %q, want %q", got, got.String(), tt.in)
		}
	}
}

func TestResolve(t *testing.T) {
	s := New(Options{
		Default:  "D",
		Backends: map[string]string{"b1": "B1", "empty": ""},
		Models:   map[string]string{"m1": "M1", "alias": "A"},
	})
	tests := []struct {
		name                      string
		model, requested, backend string
		want                      string
	}{
		{"model wins over backend", "m1", "m1", "b1", "M1"},
		{"backend wins over default", "m2", "m2", "b1", "B1"},
		{"default", "m2", "m2", "b2", "D"},
		{"requested name when the served model has none", "m2", "alias", "b1", "A"},
		{"served model wins over the requested name", "m1", "alias", "b1", "M1"},
		{"an empty prompt is no prompt", "m2", "m2", "empty", "D"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := s.Resolve(tt.model, tt.requested, tt.backend)
			if p == nil || p.Text() != tt.want {
				t.Fatalf("Resolve(%q, %q, %q): got %v, want %q", tt.model, tt.requested, tt.backend, p, tt.want)
			}
		})
	}

	noDefault := New(Options{Models: map[string]string{"m": "M"}})
	if p := noDefault.Resolve("x", "x", "b"); p != nil {
		t.Errorf("Resolve without a default: got %q, want nil", p.Text())
	}
	var none *Set
	if p := none.Resolve("m", "m", "b"); p != nil || none.Digest() != "" {
		t.Errorf("nil Set: got %v, %q; want nil, \"\"", p, none.Digest())
	}
	if s := New(Options{Backends: map[string]string{"b": ""}, Separator: "x"}); s != nil {
		t.Errorf("New with no prompt text: got %+v, want nil", s)
	}
}

func TestDigest(t *testing.T) {
	base := Options{Default: "D", Models: map[string]string{"m": "M"}}
	same := Options{Default: "D", Models: map[string]string{"m": "M"}, Separator: DefaultSeparator}
	if a, b := New(base).Digest(), New(same).Digest(); a != b || a == "" {
		t.Errorf("equal sets: got digests %q and %q, want equal and not empty", a, b)
	}
	for name, o := range map[string]Options{
		"text":      {Default: "D2", Models: map[string]string{"m": "M"}},
		"strategy":  {Default: "D", Models: map[string]string{"m": "M"}, Strategy: Append},
		"separator": {Default: "D", Models: map[string]string{"m": "M"}, Separator: "--"},
		"model key": {Default: "D", Models: map[string]string{"n": "M"}},
		"kind":      {Default: "D", Backends: map[string]string{"m": "M"}},
	} {
		if New(o).Digest() == New(base).Digest() {
			t.Errorf("a different %s: got the same digest", name)
		}
	}
}

// decoded is a body decoded for comparison.
func decoded(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not valid JSON: %v\n%s", err, b)
	}
	return v
}

func TestChat(t *testing.T) {
	const sep = "\n--\n"
	tests := []struct {
		name     string
		strategy Strategy
		body     string
		want     string
	}{
		{"no system message: one is put first", Prepend,
			`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"m","messages":[{"role":"system","content":"G <&>"},{"role":"user","content":"hi"}]}`},
		{"no system message, replace", Replace,
			`{"messages":[{"role":"user","content":"hi"}],"model":"m"}`,
			`{"messages":[{"role":"system","content":"G <&>"},{"role":"user","content":"hi"}],"model":"m"}`},
		{"prepend to a string", Prepend,
			`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
			`{"messages":[{"role":"system","content":"G <&>\n--\nbe brief"},{"role":"user","content":"hi"}]}`},
		{"append to a string", Append,
			`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
			`{"messages":[{"role":"system","content":"be brief\n--\nG <&>"},{"role":"user","content":"hi"}]}`},
		{"replace a string", Replace,
			`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`,
			`{"messages":[{"role":"system","content":"G <&>"},{"role":"user","content":"hi"}]}`},
		{"developer message", Prepend,
			`{"messages":[{"role":"developer","content":"x"}]}`,
			`{"messages":[{"role":"developer","content":"G <&>\n--\nx"}]}`},
		{"escaped client text", Append,
			`{"messages":[{"role":"system","content":"a\"b\u00e9"}]}`,
			`{"messages":[{"role":"system","content":"a\"bé\n--\nG <&>"}]}`},
		{"prepend to parts", Prepend,
			`{"messages":[{"role":"system","content":[{"type":"text","text":"x"}]}]}`,
			`{"messages":[{"role":"system","content":[{"type":"text","text":"G <&>\n--\n"},{"type":"text","text":"x"}]}]}`},
		{"append to parts", Append,
			`{"messages":[{"role":"system","content":[ {"type":"text","text":"x"} ]}]}`,
			`{"messages":[{"role":"system","content":[{"type":"text","text":"x"},{"type":"text","text":"\n--\nG <&>"}]}]}`},
		{"replace parts", Replace,
			`{"messages":[{"role":"system","content":[{"type":"text","text":"x"}]}]}`,
			`{"messages":[{"role":"system","content":"G <&>"}]}`},
		{"empty parts", Prepend,
			`{"messages":[{"role":"system","content":[ ]}]}`,
			`{"messages":[{"role":"system","content":"G <&>"}]}`},
		{"null content", Append,
			`{"messages":[{"role":"system","content":null}]}`,
			`{"messages":[{"role":"system","content":"G <&>"}]}`},
		{"no content", Prepend,
			`{"messages":[{"role":"system"}]}`,
			`{"messages":[{"role":"system","content":"G <&>"}]}`},
		{"empty list", Prepend,
			`{"messages":[ ]}`,
			`{"messages":[{"role":"system","content":"G <&>"}]}`},
		{"a later system message is the client's own", Replace,
			`{"messages":[{"role":"user","content":"hi"},{"role":"system","content":"s"}]}`,
			`{"messages":[{"role":"system","content":"G <&>"},{"role":"user","content":"hi"},{"role":"system","content":"s"}]}`},
		{"role given twice: not trusted as the system prompt", Replace,
			`{"messages":[{"role":"system","role":"user","content":"x"}]}`,
			`{"messages":[{"role":"system","content":"G <&>"},{"role":"system","role":"user","content":"x"}]}`},
		{"content given twice: both get the prompt", Replace,
			`{"messages":[{"role":"system","content":"a","Content":"b"}]}`,
			`{"messages":[{"role":"system","content":"G <&>","Content":"G <&>"}]}`},
		{"messages given twice: both get the prompt", Prepend,
			`{"messages":[],"Messages":[{"role":"user","content":"hi"}]}`,
			`{"messages":[{"role":"system","content":"G <&>"}],"Messages":[{"role":"system","content":"G <&>"},{"role":"user","content":"hi"}]}`},
		{"messages not a list: unchanged", Prepend,
			`{"messages":"hi"}`,
			`{"messages":"hi"}`},
		{"no messages: unchanged", Prepend,
			`{"model":"m"}`,
			`{"model":"m"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Options{Default: "G <&>", Strategy: tt.strategy, Separator: sep}).Resolve("m", "m", "b")
			got := p.Chat([]byte(tt.body))
			if !reflect.DeepEqual(decoded(t, got), decoded(t, []byte(tt.want))) {
				t.Errorf("Chat(%s):\ngot  %s\nwant %s", tt.body, got, tt.want)
			}
		})
	}
}

func TestChatKeepsTheRestOfTheBody(t *testing.T) {
	p := New(Options{Default: "G"}).Resolve("", "", "")
	body := `{ "model" : "m",  "messages":[{"role":"system","content":"s"}], "x": {"keep": [1, 2.50, "\u00e9"]} }`
	want := `{ "model" : "m",  "messages":[{"role":"system","content":"G\n\ns"}], "x": {"keep": [1, 2.50, "\u00e9"]} }`
	if got := string(p.Chat([]byte(body))); got != want {
		t.Errorf("Chat:\ngot  %s\nwant %s", got, want)
	}
}

func TestAnthropic(t *testing.T) {
	tests := []struct {
		name     string
		strategy Strategy
		body     string
		want     string
	}{
		{"no system", Prepend,
			`{"model":"m","max_tokens":5,"messages":[]}`,
			`{"system":"G","model":"m","max_tokens":5,"messages":[]}`},
		{"no system, empty object", Prepend, ` { } `, `{"system":"G"}`},
		{"null system", Append, `{"system":null}`, `{"system":"G"}`},
		{"prepend to a string", Prepend, `{"system":"s"}`, `{"system":"G||s"}`},
		{"append to a string", Append, `{"system":"s"}`, `{"system":"s||G"}`},
		{"replace a string", Replace, `{"system":"s"}`, `{"system":"G"}`},
		{"prepend to blocks", Prepend,
			`{"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}`,
			`{"system":[{"type":"text","text":"G||"},{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}`},
		{"append to blocks", Append,
			`{"system":[{"type":"text","text":"s"}]}`,
			`{"system":[{"type":"text","text":"s"},{"type":"text","text":"||G"}]}`},
		{"replace blocks", Replace, `{"system":[{"type":"text","text":"s"}]}`, `{"system":"G"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Options{Default: "G", Strategy: tt.strategy, Separator: "||"}).Resolve("m", "m", "b")
			got := p.Anthropic([]byte(tt.body))
			if !reflect.DeepEqual(decoded(t, got), decoded(t, []byte(tt.want))) {
				t.Errorf("Anthropic(%s):\ngot  %s\nwant %s", tt.body, got, tt.want)
			}
		})
	}
}

func TestPivot(t *testing.T) {
	text := func(s string) openai.Content { return openai.TextContent(s) }
	user := openai.ChatMessage{Role: openai.RoleUser, Content: text("hi")}
	tests := []struct {
		name     string
		strategy Strategy
		in       []openai.ChatMessage
		want     []openai.ChatMessage
	}{
		{"no system", Prepend, []openai.ChatMessage{user},
			[]openai.ChatMessage{{Role: openai.RoleSystem, Content: text("G")}, user}},
		{"prepend", Prepend, []openai.ChatMessage{{Role: openai.RoleSystem, Content: text("s")}, user},
			[]openai.ChatMessage{{Role: openai.RoleSystem, Content: text("G||s")}, user}},
		{"append", Append, []openai.ChatMessage{{Role: openai.RoleSystem, Content: text("s")}, user},
			[]openai.ChatMessage{{Role: openai.RoleSystem, Content: text("s||G")}, user}},
		{"replace", Replace, []openai.ChatMessage{{Role: openai.RoleDeveloper, Content: text("s")}, user},
			[]openai.ChatMessage{{Role: openai.RoleDeveloper, Content: text("G")}, user}},
		{"parts", Append,
			[]openai.ChatMessage{{Role: openai.RoleSystem, Content: openai.PartsContent(openai.ContentPart{Type: "text", Text: "s"})}},
			[]openai.ChatMessage{{Role: openai.RoleSystem, Content: openai.PartsContent(
				openai.ContentPart{Type: "text", Text: "s"}, openai.ContentPart{Type: "text", Text: "||G"})}}},
		{"null", Prepend, []openai.ChatMessage{{Role: openai.RoleSystem}},
			[]openai.ChatMessage{{Role: openai.RoleSystem, Content: text("G")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(Options{Default: "G", Strategy: tt.strategy, Separator: "||"}).Resolve("m", "m", "b")
			req := &openai.ChatRequest{Model: "m", Messages: tt.in}
			before, _ := json.Marshal(req)
			got := p.Pivot(req)
			gotJSON, _ := json.Marshal(got.Messages)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("Pivot:\ngot  %s\nwant %s", gotJSON, wantJSON)
			}
			if after, _ := json.Marshal(req); string(after) != string(before) {
				t.Errorf("Pivot changed its argument:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func BenchmarkChat(b *testing.B) {
	p := New(Options{Default: "You must follow company policy."}).Resolve("m", "m", "b")
	body := []byte(`{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"Hello there, how are you today?"}],"temperature":0}`)
	b.ReportAllocs()
	for b.Loop() {
		p.Chat(body)
	}
}
