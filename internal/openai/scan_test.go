package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
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
		{name: "escaped key is exact", body: `{"mod\u0065l":"x","stream":true}`, want: Fields{Model: "x", Stream: true}},
		{name: "other keys may repeat", body: `{"model":"m","n":1,"n":2,"Messages":[],"messages":[]}`, want: Fields{Model: "m"}},
		{name: "nested keys are not routing keys", body: `{"model":"m","x":{"model":"a","MODEL":"b"}}`, want: Fields{Model: "m"}},
		{name: "longer key is no variant", body: `{"model":"m","models":"x","Modell":"y"}`, want: Fields{Model: "m"}},
		{name: "model upper case after", body: `{"model":"m2","MODEL":"m1"}`, wantParam: "model", wantCode: "duplicate_parameter"},
		{name: "model upper case before", body: `{"MODEL":"m1","model":"m2"}`, wantParam: "model", wantCode: "duplicate_parameter"},
		{name: "model case variant alone", body: `{"Model":"m1"}`, wantParam: "model", wantCode: "duplicate_parameter"},
		{name: "model twice", body: `{"model":"m2","model":"m1"}`, wantParam: "model", wantCode: "duplicate_parameter"},
		{name: "model twice, one escaped", body: `{"model":"m2","mod\u0065l":"m1"}`, wantParam: "model", wantCode: "duplicate_parameter"},
		{name: "model escaped upper case", body: `{"model":"m2","\u004dODEL":"m1"}`, wantParam: "model", wantCode: "duplicate_parameter"},
		{name: "stream with long s", body: `{"model":"m","ſtream":true}`, wantParam: "stream", wantCode: "duplicate_parameter"},
		{name: "stream with escaped long s", body: `{"model":"m","\u017ftream":true}`, wantParam: "stream", wantCode: "duplicate_parameter"},
		{name: "stream twice", body: `{"model":"m","stream":false,"stream":true}`, wantParam: "stream", wantCode: "duplicate_parameter"},
		{name: "user case variant", body: `{"model":"m","user":"a","USER":"b"}`, wantParam: "user", wantCode: "duplicate_parameter"},
		{name: "stream_options case variant", body: `{"model":"m","Stream_Options":{}}`, wantParam: "stream_options", wantCode: "duplicate_parameter"},
		{name: "include_usage twice", body: `{"model":"m","stream_options":{"include_usage":false,"include_usage":true}}`,
			wantParam: "stream_options.include_usage", wantCode: "duplicate_parameter"},
		{name: "include_usage case variant", body: `{"model":"m","stream_options":{"include_usage":false,"Include_Usage":true}}`,
			wantParam: "stream_options.include_usage", wantCode: "duplicate_parameter"},
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

func TestMatchKey(t *testing.T) {
	names := []string{"model", "stream"}
	tests := []struct {
		key       string // as written in JSON, between the quotes
		want      int
		wantExact bool
	}{
		{`model`, 0, true},
		{`stream`, 1, true},
		{`MoDeL`, 0, false},
		{`mod\u0065l`, 0, true},
		{`\u006D\u006F\u0064\u0065\u006C`, 0, true},
		{`\u004Dodel`, 0, false},
		{"ſtream", 1, false}, // U+017F LATIN SMALL LETTER LONG S folds to s
		{`\u017Ftream`, 1, false},
		{"\u212Aey", -1, false}, // KELVIN SIGN folds to k: no name here has one
		{`modelx`, -1, false},
		{`mode`, -1, false},
		{"mod\u00e9l", -1, false},
		{"\xffmodel", -1, false},
		{strings.Repeat(`\u0041`, 100), -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			m := Member{Key: []byte(tt.key), KeyEscaped: strings.Contains(tt.key, `\`)}
			got, exact := m.MatchKey(names)
			if got != tt.want || exact != tt.wantExact {
				t.Fatalf("got %d exact %v, want %d exact %v", got, exact, tt.want, tt.wantExact)
			}
			// The reference: encoding/json's own key matching into a struct.
			var ref struct {
				Model  *json.RawMessage `json:"model"`
				Stream *json.RawMessage `json:"stream"`
			}
			if err := json.Unmarshal([]byte(`{"`+tt.key+`":1}`), &ref); err != nil {
				t.Fatal(err)
			}
			refIndex := -1
			if ref.Model != nil {
				refIndex = 0
			} else if ref.Stream != nil {
				refIndex = 1
			}
			if refIndex != got {
				t.Fatalf("encoding/json matches key %q to field %d, MatchKey to %d", tt.key, refIndex, got)
			}
		})
	}
}

// routingRef is how a Go backend using encoding/json reads the routing
// fields: field names matched case-insensitively, the last duplicate wins.
type routingRef struct {
	Model         json.RawMessage `json:"model"`
	Stream        json.RawMessage `json:"stream"`
	User          json.RawMessage `json:"user"`
	StreamOptions json.RawMessage `json:"stream_options"`
}

// ambiguousKeys reports whether the top-level object in b holds a routing
// key twice or under a case variant, using encoding/json's tokenizer.
func ambiguousKeys(t *testing.T, b []byte) bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %v %v", tok, err)
	}
	count := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		key := tok.(string)
		for _, name := range routingKeys {
			if strings.EqualFold(key, name) {
				if key != name {
					return true
				}
				count[name]++
			}
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range count {
		if n > 1 {
			return true
		}
	}
	return false
}

func FuzzParseFields(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","stream":true}`, `{"model":"a\u0041"}`, `{}`, `[`, `{"model":1}`,
		`{"model":"m2","MODEL":"m1"}`, `{"model":"m","ſtream":true}`, `{"mod\u0065l":"m","model":"n"}`,
		`{"model":"m","stream_options":{"include_usage":true,"INCLUDE_USAGE":false}}`,
	} {
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
		var re *RequestError
		if errors.As(err, &re) && re.Code == CodeDuplicateParameter && re.Param != "stream_options.include_usage" {
			if !ambiguousKeys(t, b) {
				t.Fatalf("ParseFields rejected %q as ambiguous (%s); it is not", b, re.Param)
			}
			return
		}
		if err == nil && ambiguousKeys(t, b) {
			t.Fatalf("ParseFields accepted %q with an ambiguous routing key", b)
		}
		if err != nil {
			return
		}
		// Accepted: no routing key is repeated, so a case-sensitive reader
		// (a map) and a case-insensitive one (a Go struct) see what the
		// router saw.
		if m, _ := ref["model"].(string); m != got.Model {
			t.Fatalf("model: got %q, want %q", got.Model, m)
		}
		var sref routingRef
		if err := json.Unmarshal(b, &sref); err != nil {
			t.Fatalf("struct decode of an accepted body: %v", err)
		}
		var model string
		if err := json.Unmarshal(sref.Model, &model); err != nil || model != got.Model {
			t.Fatalf("model: got %q, a Go backend reads %q (%v)", got.Model, model, err)
		}
		var stream bool
		if len(sref.Stream) > 0 {
			if err := json.Unmarshal(sref.Stream, &stream); err != nil {
				t.Fatalf("stream %s: %v", sref.Stream, err)
			}
		}
		if stream != got.Stream {
			t.Fatalf("stream: got %v, a Go backend reads %v", got.Stream, stream)
		}
		var user string
		if json.Unmarshal(sref.User, &user) == nil && user != got.User {
			t.Fatalf("user: got %q, a Go backend reads %q", got.User, user)
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

func TestElements(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{`[]`, nil, false},
		{` [ 1 , "a" ,{"b":[2]}, null ] `, []string{`1`, `"a"`, `{"b":[2]}`, `null`}, false},
		{`[1,]`, []string{`1`}, true},
		{`{"a":1}`, nil, true},
		{`[1`, []string{`1`}, true},
	}
	for _, tt := range tests {
		var got []string
		b := []byte(tt.in)
		err := Elements(b, func(s, e int) bool {
			got = append(got, string(b[s:e]))
			return true
		})
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("Elements(%s): got %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	var first string
	b := []byte(`["x", bad`)
	if err := Elements(b, func(s, e int) bool { first = string(b[s:e]); return false }); err != nil || first != `"x"` {
		t.Errorf("Elements stopping early: got %q, %v; want \"x\", nil", first, err)
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{`"a"`: "a", `"\u00e9\n"`: "é\n", `""`: ""} {
		if got, err := Unquote([]byte(in)); err != nil || got != want {
			t.Errorf("Unquote(%s): got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{`a`, `"`, `1`, `"\x"`} {
		if _, err := Unquote([]byte(in)); err == nil {
			t.Errorf("Unquote(%s): got no error", in)
		}
	}
}
