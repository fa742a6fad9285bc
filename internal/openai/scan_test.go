package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseFields(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      Fields
		wantParam string
		wantCode  string
	}{
		{name: "chat", body: `{"model":"llama","messages":[]}`, want: Fields{Model: "llama"}},
		{name: "stream and usage", body: `{"stream":true,"model":"m","stream_options":{"include_usage":true},"user":"u1"}`,
			want: Fields{Model: "m", Stream: true, IncludeUsage: true, User: "u1"}},
		{name: "stream null", body: `{"model":"m","stream":null}`, want: Fields{Model: "m"}},
		{name: "escaped model", body: `{"model":"a\/b\u00e9"}`, want: Fields{Model: "a/bé"}},
		{name: "escaped key", body: `{"mod\u0065l":"x"}`, want: Fields{Model: "x"}},
		{name: "whitespace", body: " \n{ \"model\" : \"m\" } \n", want: Fields{Model: "m"}},
		{name: "nested model ignored", body: `{"x":{"model":"inner"},"model":"outer"}`, want: Fields{Model: "outer"}},
		{name: "bad json", body: `{"model":"m",}`, wantCode: "invalid_json"},
		{name: "truncated", body: `{"model":"m"`, wantCode: "invalid_json"},
		{name: "trailing garbage", body: `{"model":"m"} x`, wantCode: "invalid_json"},
		{name: "not object", body: `["model"]`, wantCode: "invalid_json"},
		{name: "empty", body: ``, wantCode: "invalid_json"},
		{name: "no model", body: `{"messages":[]}`, wantParam: "model", wantCode: "missing_required_parameter"},
		{name: "empty model", body: `{"model":""}`, wantParam: "model", wantCode: "missing_required_parameter"},
		{name: "model not string", body: `{"model":5}`, wantParam: "model", wantCode: "invalid_type"},
		{name: "stream not bool", body: `{"model":"m","stream":"yes"}`, wantParam: "stream", wantCode: "invalid_type"},
		{name: "bad json after model", body: `{"model":"m","x":tru}`, wantCode: "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFields([]byte(tt.body))
			if tt.wantCode != "" {
				var re *RequestError
				if !errors.As(err, &re) {
					t.Fatalf("got err %v, want *RequestError", err)
				}
				if re.Code != tt.wantCode || re.Param != tt.wantParam {
					t.Fatalf("got code %q param %q, want %q %q", re.Code, re.Param, tt.wantCode, tt.wantParam)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			got.modelStart, got.modelEnd = 0, 0
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRewriteModel(t *testing.T) {
	body := []byte(`{"messages":[{"role":"user","content":"model"}], "model" : "alias" ,"stream":true}`)
	f, err := ParseFields(body)
	if err != nil {
		t.Fatal(err)
	}
	out := f.RewriteModel(body, `real/"model"`)
	want := `{"messages":[{"role":"user","content":"model"}], "model" : "real/\"model\"" ,"stream":true}`
	if string(out) != want {
		t.Fatalf("got %s, want %s", out, want)
	}
	if string(body) != `{"messages":[{"role":"user","content":"model"}], "model" : "alias" ,"stream":true}` {
		t.Fatal("input body was modified")
	}
	if same := f.RewriteModel(body, "alias"); &same[0] != &body[0] {
		t.Fatal("rewriting to the same model should return the body unchanged")
	}
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `""`, `0`, `-0`, `01`, `1.`, `1.5e`, `1e+5`, `-`, `tru`, `true`, `null`, `nul`,
		`"\u12"`, `"\u1234"`, `"\x"`, "\"a\tb\"", `{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{1:2}`,
		" { } ", `"\ud800"`, "\"\xff\"", `[[[[]]]]`, `{"a":[{"b":null}]}`, `1 2`, ``, ` `,
		strings.Repeat("[", 100) + strings.Repeat("]", 100),
	}
	for _, c := range cases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q): got %v, want %v", c, got, want)
		}
	}
}

func FuzzParseFields(f *testing.F) {
	for _, s := range []string{`{"model":"m","stream":true}`, `{"model":"a\u0041"}`, `{}`, `[`, `{"model":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Valid(b) != json.Valid(b) {
			t.Fatalf("Valid disagrees with encoding/json for %q", b)
		}
		got, err := ParseFields(b)
		var ref map[string]any
		if json.Unmarshal(b, &ref) != nil {
			if err == nil {
				t.Fatalf("ParseFields accepted invalid object %q", b)
			}
			return
		}
		if err != nil {
			return
		}
		// encoding/json keeps the last duplicate key; ParseFields does too.
		if m, _ := ref["model"].(string); m != got.Model {
			t.Fatalf("model: got %q, want %q", got.Model, m)
		}
		out := got.RewriteModel(b, "rewritten")
		var ref2 map[string]any
		if err := json.Unmarshal(out, &ref2); err != nil {
			t.Fatalf("rewritten body is invalid: %v", err)
		}
	})
}

// BenchmarkParseFields measures reading the routing fields of a typical
// chat request without decoding the body.
func BenchmarkParseFields(b *testing.B) {
	body := []byte(`{"model":"llama-3.1-8b","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about routers, please."}],"max_tokens":128,"temperature":0.7,"stream":true,"stream_options":{"include_usage":true},"user":"user-1234"}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		if _, err := ParseFields(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseUsage measures finding usage in a whole response body.
func BenchmarkParseUsage(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ok := ParseUsage(body); !ok {
			b.Fatal("no usage")
		}
	}
}
