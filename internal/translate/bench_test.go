package translate

import (
	"testing"

	"github.com/continuumhq/continuum/internal/openai"
)

// Benchmarks of the translation work itself, per request and per stream
// event; bench/ (BenchmarkTranslated) measures it end to end.

var benchMessagesRequest = []byte(`{"model":"m","max_tokens":256,"system":"Be brief.","messages":[{"role":"user","content":"Say hello to the world, then explain why the sky is blue in one sentence."}]}`)

func BenchmarkDecodeAnthropicRequest(b *testing.B) {
	c := NewAnthropicClient()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecodeRequest(benchMessagesRequest, ClientOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeAnthropicRequest(b *testing.B) {
	pivot, err := NewAnthropicClient().DecodeRequest(benchMessagesRequest, ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	be := NewAnthropicBackend()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.EncodeRequest(pivot, BackendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEventOpenAIToAnthropic is one content event of an
// OpenAI-compatible backend rendered for an Anthropic client.
func BenchmarkStreamEventOpenAIToAnthropic(b *testing.B) {
	ev := openai.Event{Data: []byte(`{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"tok "},"finish_reason":null}]}`)}
	pivot := &openai.ChatRequest{Model: "m"}
	dec := NewOpenAIStreamDecoder()
	enc := NewAnthropicClient().NewStreamEncoder(pivot)
	var chunks []*openai.ChatChunk
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		chunks, _ = dec.Decode(ev, chunks[:0])
		dst = dst[:0]
		for _, c := range chunks {
			dst = enc.Chunk(dst, c)
		}
	}
}

// BenchmarkStreamEventAnthropicToOpenAI is one text delta of an Anthropic
// backend rendered for an OpenAI client.
func BenchmarkStreamEventAnthropicToOpenAI(b *testing.B) {
	pivot := &openai.ChatRequest{Model: "m", Stream: true}
	dec := NewAnthropicBackend().NewStreamDecoder(pivot, BackendOptions{})
	enc := NewOpenAIStreamEncoder(pivot)
	start := openai.Event{Name: []byte("message_start"), Data: []byte(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}`)}
	block := openai.Event{Name: []byte("content_block_start"), Data: []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)}
	var chunks []*openai.ChatChunk
	chunks, _ = dec.Decode(start, chunks)
	chunks, _ = dec.Decode(block, chunks[:0])
	ev := openai.Event{Name: []byte("content_block_delta"), Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"tok "}}`)}
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		chunks, _ = dec.Decode(ev, chunks[:0])
		dst = dst[:0]
		for _, c := range chunks {
			dst = enc.Chunk(dst, c)
		}
	}
}
