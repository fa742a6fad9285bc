package tokens

import (
	"strings"
	"testing"
)

func TestEncodingFor(t *testing.T) {
	cases := []struct {
		model string
		chars bool
		want  encoding
	}{
		{"gpt-4o", false, encO200k},
		{"gpt-4o-mini-2024-07-18", false, encO200k},
		{"openai/gpt-4.1-nano", false, encO200k},
		{"ft:gpt-4o-mini:org::abc", false, encO200k},
		{"o1", false, encO200k},
		{"o3-mini", false, encO200k},
		{"o4-mini", false, encO200k},
		{"gpt-5", false, encO200k},
		{"GPT-5-Nano", false, encO200k},
		{"gpt-oss-20b", false, encO200k},
		{"gpt-4", false, encCl100k},
		{"gpt-4-turbo", false, encCl100k},
		{"gpt-3.5-turbo", false, encCl100k},
		{"text-embedding-3-small", true, encCl100k},
		{"o1x", false, encCl100k},
		{"llama-3.1-8b", false, encCl100k},
		{"llama-3.1-8b", true, encChars},
		{"qwen2.5:7b", true, encChars},
	}
	for _, c := range cases {
		if got := New(Options{CharsFallback: c.chars}).encodingFor(c.model); got != c.want {
			t.Errorf("encodingFor(%q, chars=%t) = %d, want %d", c.model, c.chars, got, c.want)
		}
	}
}

func TestCount(t *testing.T) {
	chars := New(Options{CharsFallback: true})
	cases := []struct {
		c     *Counter
		model string
		text  string
		want  int
	}{
		{New(Options{}), "gpt-4o", "hello world", 2},
		{New(Options{}), "gpt-4", "hello world", 2},
		{New(Options{}), "gpt-4", "", 0},
		// "tiktoken is great!" is 6 tokens in cl100k_base (OpenAI's cookbook)
		{New(Options{}), "gpt-3.5-turbo", "tiktoken is great!", 6},
		{New(Options{}), "gpt-4o", "tiktoken is great!", 6},
		{chars, "llama-3", "abcdefg", 3},
		{chars, "llama-3", "日本", 2},
		{chars, "gpt-4o", "hello world", 2},
	}
	for _, c := range cases {
		if got := c.c.Count(c.model, c.text); got != c.want {
			t.Errorf("Count(%q, %q) = %d, want %d", c.model, c.text, got, c.want)
		}
	}
	if got := Count("gpt-4o", "hello world"); got != 2 {
		t.Errorf("package Count = %d, want 2", got)
	}
}

func TestEstimateChat(t *testing.T) {
	cases := []struct {
		name       string
		body       string
		wantPrompt int
		wantMax    int
		wantOK     bool
	}{
		// 3 priming + (3 + "user" 1 + "hello world" 2)
		{"one message", `{"model":"gpt-4o","messages":[{"role":"user","content":"hello world"}]}`, 9, 0, true},
		// + (3 + "system" 1 + "hello world" 2) + name (1 + "bob" 1)
		{"name and two messages", `{"messages":[{"role":"system","content":"hello world"},{"role":"user","name":"bob","content":"hello world"}],"max_tokens":100}`, 17, 100, true},
		{"text parts and an image", `{"messages":[{"role":"user","content":[{"type":"text","text":"hello world"},{"type":"image_url","image_url":{"url":"data:"}}]}]}`, 9 + 765, 0, true},
		{"largest output cap", `{"messages":[],"max_tokens":10,"max_completion_tokens":300,"max_output_tokens":20}`, 3, 300, true},
		{"tools count as JSON", `{"messages":[],"tools":[ {"type": "function"} ]}`, 3 + Count("gpt-4o", `[{"type":"function"}]`), 0, true},
		{"no messages", `{"model":"x"}`, 0, 0, false},
		{"not JSON", `{"messages":[`, 0, 0, false},
		{"messages not an array", `{"messages":{}}`, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, m, ok := EstimateChat("gpt-4o", []byte(c.body))
			if p != c.wantPrompt || m != c.wantMax || ok != c.wantOK {
				t.Errorf("EstimateChat = %d, %d, %t; want %d, %d, %t", p, m, ok, c.wantPrompt, c.wantMax, c.wantOK)
			}
		})
	}
}

var benchText = strings.Repeat("The quick brown fox jumps over the lazy dog; 1234567890. ", 40)

func BenchmarkCount(b *testing.B) {
	for _, bc := range []struct {
		name, model string
		c           *Counter
	}{
		{"o200k", "gpt-4o", New(Options{})},
		{"cl100k", "gpt-4", New(Options{})},
		{"chars", "llama-3", New(Options{CharsFallback: true})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.c.Count(bc.model, "warm up")
			b.SetBytes(int64(len(benchText)))
			b.ReportAllocs()
			for range b.N {
				bc.c.Count(bc.model, benchText)
			}
		})
	}
}

func BenchmarkEstimateChat(b *testing.B) {
	body := []byte(`{"model":"gpt-4o","max_tokens":512,"messages":[` +
		`{"role":"system","content":"You are a helpful assistant."},` +
		`{"role":"user","content":"` + benchText + `"},` +
		`{"role":"assistant","content":"Sure."},` +
		`{"role":"user","content":[{"type":"text","text":"Summarise it in one line."}]}]}`)
	c := New(Options{})
	c.EstimateChat("gpt-4o", body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for range b.N {
		c.EstimateChat("gpt-4o", body)
	}
}
