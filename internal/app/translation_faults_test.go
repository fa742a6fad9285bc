package app_test

// The fault suite over an Anthropic backend (issue 9): the commit point,
// failover, cooldowns and breakers hold for translated pairs, and a stream
// that breaks after its first content ends in the client's own protocol.

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

func streamChat(t *testing.T, e *env, model string) (openai.ChatCompletionAccumulator, []string, error) {
	t.Helper()
	var resp *http.Response
	client := e.SDK()
	stream := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
	}, optResponse(&resp))
	var acc openai.ChatCompletionAccumulator
	var finishes []string
	for stream.Next() {
		c := stream.Current()
		acc.AddChunk(c)
		for _, ch := range c.Choices {
			if ch.FinishReason != "" {
				finishes = append(finishes, ch.FinishReason)
			}
		}
	}
	return acc, finishes, stream.Err()
}

// An overloaded_error right after message_start (before any content) fails
// over to the next backend; the busy one rests, and is not held broken.
func TestTranslationFaultOverloadedBeforeCommit(t *testing.T) {
	e := faultEnv(t,
		withBackend("busy", mock.Options{API: mock.APIAnthropic, Models: []string{"c"}, FirstEventError: true}, anthropicBackend),
		withBackend("ok", mock.Options{API: mock.APIAnthropic, Models: []string{"c"}, Tokens: 3}, anthropicBackend),
		withConfig(func(c *config.Config) { c.SelectionStrategy = "RoundRobin" }))
	for i := 0; i < 2; i++ {
		acc, _, err := streamChat(t, e, "c")
		if err != nil || acc.Choices[0].Message.Content != "tok0 tok1 tok2 " {
			t.Fatalf("request %d: got %q, %v; want the healthy backend's whole answer", i, acc.Choices[0].Message.Content, err)
		}
	}
	b := e.Backend("busy")
	if b.Failures != 0 || b.Breaker != "closed" || b.CooldownUntil.IsZero() {
		t.Fatalf("busy backend: failures %d, breaker %s, cooldown %v; want a rest, not a failure", b.Failures, b.Breaker, b.CooldownUntil)
	}
}

// A stream cut after its first content is not retried: an OpenAI client
// gets an error and no finish; an Anthropic client (passed through) gets
// an error and no message_stop.
func TestTranslationFaultCutAfterCommit(t *testing.T) {
	e := faultEnv(t,
		withBackend("cut", mock.Options{API: mock.APIAnthropic, Models: []string{"c", "c2"}, Tokens: 8, CutAfter: 2}, anthropicBackend),
		withBackend("other", mock.Options{API: mock.APIAnthropic, Models: []string{"c"}, Tokens: 8}, anthropicBackend),
		withConfig(func(c *config.Config) { c.SelectionStrategy = "RoundRobin" }))
	acc, finishes, err := streamChat(t, e, "c")
	if err == nil || len(finishes) != 0 {
		t.Fatalf("OpenAI client of a cut Anthropic stream: err %v, finishes %v (content %q); want an error and no finish", err, finishes, acc.Choices[0].Message.Content)
	}
	ac := e.anthropicSDK("k")
	stream := ac.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{
		Model: "c2", MaxTokens: 100, Messages: userMessage("hello"),
	})
	defer stream.Close() // the SDK leaves the body open after an error event
	for stream.Next() {
		if stream.Current().Type == "message_stop" {
			t.Fatal("an Anthropic client got message_stop from a cut stream")
		}
	}
	var apiErr *anthropicsdk.Error
	if err := stream.Err(); !errors.As(err, &apiErr) || !strings.Contains(apiErr.RawJSON(), `"api_error"`) {
		t.Fatalf("Anthropic client of a cut stream: got %v, want an api_error event", err)
	}
	if got := inference(e.Backends["other"]); got != 0 {
		t.Fatalf("the other backend got %d requests; a committed stream must not be retried", got)
	}
	if b := e.Backend("cut"); b.Failures == 0 {
		t.Fatalf("the cut backend has no failure recorded")
	}
}

// A 429 from an Anthropic backend fails over; with nowhere to go, the
// client gets it in its own format with Retry-After. A 529 overloaded
// reaches an OpenAI client as 503 overloaded_error with Retry-After.
func TestTranslationFaultRateLimitedAndOverloaded(t *testing.T) {
	e := faultEnv(t,
		withBackend("limited", mock.Options{API: mock.APIAnthropic, Models: []string{"c", "solo"}, ErrorStatus: 429, RetryAfter: "3"}, anthropicBackend),
		withBackend("ok", mock.Options{API: mock.APIAnthropic, Models: []string{"c"}, Tokens: 3}, anthropicBackend),
		withBackend("overloaded", mock.Options{API: mock.APIAnthropic, Models: []string{"busy"}, ErrorStatus: 529, RetryAfter: "3"}, anthropicBackend),
		withConfig(func(c *config.Config) {
			c.SelectionStrategy = "RoundRobin"
			c.Retry.MaxDelay = time.Second // a 3 s Retry-After is passed on, not waited out
		}))
	for i := 0; i < 2; i++ {
		resp, body := e.Post("/v1/chat/completions", chatBody("c", false))
		if resp.StatusCode != 200 || !strings.Contains(body, "tok0") {
			t.Fatalf("request %d: got %d %s, want 200 from the other backend", i, resp.StatusCode, body)
		}
	}
	resp, body := e.Post("/v1/chat/completions", chatBody("solo", false))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || opsErrorType(t, body) != "rate_limit_exceeded" {
		t.Fatalf("429 with no alternative: got %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	resp, body = e.Post("/v1/chat/completions", chatBody("busy", false))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" || opsErrorType(t, body) != "overloaded_error" {
		t.Fatalf("529 overloaded: got %d Retry-After %q %s, want 503 overloaded_error with Retry-After 3", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if b := e.Backend("overloaded"); b.Failures != 0 || b.Breaker != "closed" {
		t.Fatalf("an overloaded backend is busy, not broken: failures %d breaker %s", b.Failures, b.Breaker)
	}
}
