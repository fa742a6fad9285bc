package app

import (
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/tokens"
)

func TestEstimateCall(t *testing.T) {
	counter := tokens.New(tokens.Options{CharsFallback: true})
	call := func(api exchange.API, body string) *exchange.Call {
		f, err := openai.ParseFields([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return &exchange.Call{API: api, Body: []byte(body), Fields: f}
	}
	big := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("a", 70<<10) + `"}]}`
	const (
		anthropic  = `{"model":"claude","max_tokens":300,"messages":[]}`
		responses  = `{"model":"gpt-4o","max_output_tokens":64,"input":"hi"}`
		embeddings = `{"model":"e","input":"hello"}`
	)
	thirds := func(body string) int64 { return int64((len(body) + 2) / 3) }
	tests := []struct {
		name           string
		c              *exchange.Call
		prompt, output int64
	}{
		// 3 to prime + 3 per message + "user" (1) + "Hello world" (2) on o200k.
		{"openai chat, tokenizer", call(exchange.ChatCompletions, `{"model":"gpt-4o","max_tokens":50,"messages":[{"role":"user","content":"Hello world"}]}`), 9, 50},
		{"other model, bytes/3", call(exchange.ChatCompletions, `{"model":"llama","max_completion_tokens":70,"messages":[{"role":"user","content":"Hello world"}]}`), 3 + 3 + 2 + 4, 70},
		{"no max: the default", call(exchange.ChatCompletions, `{"model":"llama","messages":[]}`), 3, 1024},
		{"over 64 KiB: bytes/3", call(exchange.ChatCompletions, big), int64((len(big) + 2) / 3), 1024},
		{"anthropic messages", call(exchange.Messages, anthropic), thirds(anthropic), 300},
		{"responses", call(exchange.Responses, responses), thirds(responses), 64},
		{"embeddings: no output", call(exchange.Embeddings, embeddings), thirds(embeddings), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := estimateCall(tt.c, counter, 1024)
			if got != (exchange.Estimate{Prompt: tt.prompt, Output: tt.output}) {
				t.Errorf("got %+v, want prompt %d, output %d", got, tt.prompt, tt.output)
			}
		})
	}
}

func TestSpecOf(t *testing.T) {
	if s := specOf(config.RateSpec{TokensPerMinute: 600}); s.tokenRate != 10 || s.tokenBurst != 600 {
		t.Errorf("token burst 0: got %+v, want a minute's worth (600) at 10/s", s)
	}
	key := specOf(config.RateSpec{TokensPerMinute: 60, TokenBurst: 5})
	perKey := specOf(config.RateSpec{RequestsPerSecond: 2, TokensPerMinute: 6000})
	if got := perKey.over(key); got.rate != 2 || got.tokenRate != 1 || got.tokenBurst != 5 {
		t.Errorf("a key's own token limit over per_api_key: got %+v, want per_api_key's requests and the key's tokens", got)
	}
}
