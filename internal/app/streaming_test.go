package app_test

// Integration tests of streaming: every chunk arrives in order and ends in
// [DONE], and the router relays each chunk as it arrives (no buffering),
// shown deterministically with the mock's Gate and causally with real
// 200 ms token delays.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/continuumhq/continuum/internal/mock"
)

// rtWithin bounds waits on the router in these tests. It is a safety net
// against hangs (a buffering router would deadlock the gate test), not a
// timing assertion.
const rtWithin = 10 * time.Second

// rtEvent is one SSE data event as the client received it.
type rtEvent struct {
	data string
	at   time.Time // when the client read it
}

// rtStreamRaw posts a streaming request with net/http and returns the
// response and every data event, each stamped with its arrival time.
func rtStreamRaw(t *testing.T, e *env, path, body string) (*http.Response, []rtEvent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rtWithin)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: got status %d, want 200", path, resp.StatusCode)
	}
	var events []rtEvent
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "data: "); ok {
			events = append(events, rtEvent{data: data, at: time.Now()})
		}
		if err != nil {
			return resp, events
		}
	}
}

// rtChunkText returns the content of a chat or text completion chunk, or ""
// for a chunk without content.
func rtChunkText(t *testing.T, data string) string {
	t.Helper()
	var c struct {
		Choices []struct {
			Text  string `json:"text"`
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("event %q is not a JSON chunk: %v", data, err)
	}
	if len(c.Choices) == 0 {
		return ""
	}
	return c.Choices[0].Delta.Content + c.Choices[0].Text
}

func TestStreamingChatSDK(t *testing.T) {
	t.Parallel()
	const tokens = 6
	e := start(t, withBackend("a", mock.Options{Tokens: tokens}))
	c := e.SDK()

	params := rtChatParams(mock.DefaultModel)
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := c.Chat.Completions.NewStreaming(context.Background(), params)
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	var got []string
	finish := ""
	for s.Next() {
		chunk := s.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) == 0 {
			continue
		}
		if d := chunk.Choices[0].Delta.Content; d != "" {
			got = append(got, d)
		}
		if r := chunk.Choices[0].FinishReason; r != "" {
			finish = r
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(got) != tokens {
		t.Fatalf("got %d content chunks %q, want %d", len(got), got, tokens)
	}
	for i, d := range got {
		if d != rtToken(i) {
			t.Errorf("chunk %d: got %q, want %q", i, d, rtToken(i))
		}
	}
	if finish != "stop" {
		t.Errorf("got finish reason %q, want stop", finish)
	}
	if acc.Usage.CompletionTokens != tokens {
		t.Errorf("got usage of %d completion tokens, want %d", acc.Usage.CompletionTokens, tokens)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != rtTokens(tokens) {
		t.Errorf("got accumulated choices %+v, want one with %q", acc.Choices, rtTokens(tokens))
	}
}

func TestStreamingCompletionSDK(t *testing.T) {
	t.Parallel()
	const tokens = 4
	e := start(t, withBackend("a", mock.Options{Tokens: tokens}))
	c := e.SDK()

	s := c.Completions.NewStreaming(context.Background(), openai.CompletionNewParams{
		Model:  openai.CompletionNewParamsModel(mock.DefaultModel),
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once")},
	})
	defer s.Close()
	var text strings.Builder
	for s.Next() {
		for _, ch := range s.Current().Choices {
			text.WriteString(ch.Text)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if text.String() != rtTokens(tokens) {
		t.Errorf("got text %q, want %q", text.String(), rtTokens(tokens))
	}
}

func TestStreamingFraming(t *testing.T) {
	t.Parallel()
	const tokens = 5
	e := start(t, withBackend("a", mock.Options{Tokens: tokens}))
	tests := []struct {
		name string
		path string
		body string
	}{
		{name: "chat", path: "/v1/chat/completions", body: chatBody(mock.DefaultModel, true)},
		{name: "completions", path: "/v1/completions", body: `{"model":"` + mock.DefaultModel + `","prompt":"Once","stream":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, events := rtStreamRaw(t, e, tt.path, tt.body)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Errorf("got Content-Type %q, want text/event-stream", ct)
			}
			if b := resp.Header.Get("X-Continuum-Backend"); b != "a" {
				t.Errorf("got X-Continuum-Backend %q, want a", b)
			}
			if id := resp.Header.Get("X-Request-Id"); !rtHexID.MatchString(id) {
				t.Errorf("got X-Request-Id %q, want 32 hex characters", id)
			}
			// tokens content chunks, a final chunk, then [DONE] and nothing after it.
			if len(events) != tokens+2 {
				t.Fatalf("got %d events, want %d: %+v", len(events), tokens+2, events)
			}
			if last := events[len(events)-1].data; last != "[DONE]" {
				t.Errorf("got last event %q, want [DONE]", last)
			}
			for i, ev := range events[:tokens] {
				if got := rtChunkText(t, ev.data); got != rtToken(i) {
					t.Errorf("event %d: got content %q, want %q", i, got, rtToken(i))
				}
			}
		})
	}
}

// TestStreamingNoBufferingGated proves deterministically that the router
// forwards each chunk on its own: the backend holds chunk i+1 until the
// client has received chunk i through the router, which can only happen if
// the router flushed chunk i by itself. A buffering router deadlocks here
// and the test fails on its safety-net timeout.
func TestStreamingNoBufferingGated(t *testing.T) {
	t.Parallel()
	const tokens = 6
	received := make([]chan struct{}, tokens)
	for i := range received {
		received[i] = make(chan struct{})
	}
	var passed atomic.Int32 // content chunks the gate let through
	gate := func(ctx context.Context, chunk int) error {
		if chunk > 0 {
			select {
			case <-received[chunk-1]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		passed.Add(1)
		return nil
	}
	e := start(t, withBackend("a", mock.Options{Tokens: tokens, Gate: gate}))
	c := e.SDK()

	ctx, cancel := context.WithTimeout(context.Background(), rtWithin)
	defer cancel()
	s := c.Chat.Completions.NewStreaming(ctx, rtChatParams(mock.DefaultModel))
	defer s.Close()
	next := 0
	for s.Next() {
		chunk := s.Current()
		if len(chunk.Choices) == 0 || chunk.Choices[0].Delta.Content == "" {
			continue
		}
		if got := chunk.Choices[0].Delta.Content; got != rtToken(next) {
			t.Fatalf("chunk %d: got %q, want %q", next, got, rtToken(next))
		}
		// Chunk next is here while chunk next+1 is still held at the backend.
		if p := int(passed.Load()); p != next+1 {
			t.Fatalf("received chunk %d with %d chunks let through by the backend, want %d", next, p, next+1)
		}
		close(received[next])
		next++
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream ended after %d chunks with %v; a router that buffers never delivers chunk %d while chunk %d is held",
			next, err, next, next+1)
	}
	if next != tokens {
		t.Errorf("got %d content chunks, want %d", next, tokens)
	}
}

// TestStreamingNoBufferingTimed streams from a backend that sends a chunk
// every 200 ms and checks the causal order: the client receives chunk i
// before the backend sends chunk i+1. It asserts ordering only, never a
// duration; the measured relay delay is logged.
func TestStreamingNoBufferingTimed(t *testing.T) {
	t.Parallel()
	const tokens = 5
	e := start(t, withBackend("a", mock.Options{Tokens: tokens, TokenDelay: 200 * time.Millisecond}))

	_, events := rtStreamRaw(t, e, "/v1/chat/completions", chatBody(mock.DefaultModel, true))
	var recv []time.Time
	for _, ev := range events {
		if ev.data != "[DONE]" && rtChunkText(t, ev.data) != "" {
			recv = append(recv, ev.at)
		}
	}
	if len(recv) != tokens {
		t.Fatalf("got %d content chunks, want %d", len(recv), tokens)
	}

	sent := make([]time.Time, tokens)
	seen := 0
	timeout := time.NewTimer(rtWithin)
	defer timeout.Stop()
	for seen < tokens {
		select {
		case ev := <-e.Backends["a"].Mock.Events():
			if ev.Kind == mock.EventChunk {
				sent[ev.Chunk] = ev.Time
				seen++
			}
		case <-timeout.C:
			t.Fatalf("got %d chunk events from the backend, want %d", seen, tokens)
		}
	}

	var delays []string
	for i := range tokens {
		delays = append(delays, fmt.Sprintf("chunk %d: %v", i, recv[i].Sub(sent[i])))
		if i+1 < tokens && !recv[i].Before(sent[i+1]) {
			t.Errorf("chunk %d reached the client at %v, not before the backend sent chunk %d at %v: the router held it back",
				i, recv[i].Format(time.StampMicro), i+1, sent[i+1].Format(time.StampMicro))
		}
	}
	t.Logf("relay delay per chunk (client receive - backend send): %s", strings.Join(delays, ", "))
}
