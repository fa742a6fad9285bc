package app_test

// Scale-out wiring (issue 10), with the in-memory store: per-model and
// per-backend limits, token limits reserved at admission and settled to the
// usage the backend reports, and the usage chunk the router asks for on
// behalf of a token limit. The fake clock keeps the buckets still.

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// header returns an integer response header, failing the test without one.
func intHeader(t *testing.T, resp *http.Response, name string) int {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get(name))
	if err != nil {
		t.Fatalf("%s: got %q, want an integer", name, resp.Header.Get(name))
	}
	return n
}

func TestLimitsPerModel(t *testing.T) {
	t.Parallel()
	e := start(t, withFakeClock(), withConfig(func(c *config.Config) {
		c.RateLimiting.Enabled = true
		c.ModelAliases = map[string]string{"alias": "m"}
		c.RateLimiting.Limits.PerModel = map[string]config.RateSpec{
			"m": {RequestsPerSecond: 1, BurstCapacity: 2},
			"*": {RequestsPerSecond: 1, BurstCapacity: 1},
		}
	}), withBackend("a", mock.Options{Models: []string{"m", "n", "o"}}))

	post := func(model string, want int) *http.Response {
		t.Helper()
		resp, body := e.Post("/v1/chat/completions", chatBody(model, false))
		if resp.StatusCode != want {
			t.Fatalf("model %s: got %d %s, want %d", model, resp.StatusCode, body, want)
		}
		return resp
	}
	post("m", 200)
	post("alias", 200) // an alias counts against the model it names
	resp := post("m", 429)
	if resp.Header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After: got %q, want 1", resp.Header.Get("Retry-After"))
	}
	// "*": every other model has a bucket of its own.
	post("n", 200)
	post("n", 429)
	post("o", 200)
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_rate_limited_total", "scope", "model"); got != 2 {
		t.Errorf(`continuum_rate_limited_total{scope="model"}: got %v, want 2`, got)
	}
	e.Clock.Advance(time.Second)
	post("m", 200)
}

func TestLimitsPerBackend(t *testing.T) {
	t.Parallel()
	e := start(t, withFakeClock(), withConfig(func(c *config.Config) {
		c.RateLimiting.Enabled = true
		c.RateLimiting.Limits.PerBackend = map[string]config.RateSpec{
			"a": {RequestsPerSecond: 1, BurstCapacity: 1},
			"*": {RequestsPerSecond: 1, BurstCapacity: 2},
		}
	}), withBackend("a", mock.Options{Models: []string{"m"}}), withBackend("b", mock.Options{Models: []string{"m"}}))

	// Round robin asks a, b, a, b…: a over its limit is skipped like a
	// backend resting after a 429, and b takes the call.
	for i := range 3 {
		if resp, body := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
			t.Fatalf("call %d: got %d %s, want 200", i+1, resp.StatusCode, body)
		}
	}
	if a, b := inference(e.Backends["a"]), inference(e.Backends["b"]); a != 1 || b != 2 {
		t.Errorf("backend requests: a %d, b %d; want 1 and 2 (a's limit is one, b's two)", a, b)
	}
	resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("every backend over its limit: got %d %s (Retry-After %q), want 429 with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	if got := opsErrorType(t, body); got != "rate_limit_exceeded" {
		t.Errorf("error type: got %q, want rate_limit_exceeded", got)
	}
	e.Clock.Advance(time.Second)
	if resp, body := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
		t.Fatalf("after a second: got %d %s, want 200", resp.StatusCode, body)
	}
}

// TestTokenLimitSettledToUsage: a token limit reserves the estimate at
// admission and is settled to the usage the backend reports; the stream
// asks the backend for usage on the client's behalf and the client, which
// did not ask, does not see the usage chunk. A failure before the first
// token gives the tokens back.
func TestTokenLimitSettledToUsage(t *testing.T) {
	t.Parallel()
	const tokens = 20
	e := start(t, withFakeClock(), withConfig(func(c *config.Config) {
		c.RateLimiting.Enabled = true
		c.RateLimiting.Limits.Global = config.RateSpec{TokensPerMinute: 6000, TokenBurst: 3000}
	}), withBackend("a", mock.Options{Models: []string{"m"}, Tokens: tokens}))

	body := `{"model":"m","stream":true,"max_tokens":50,"messages":[{"role":"user","content":"Hello there, router"}]}`
	resp, out := e.Post("/v1/chat/completions", body)
	if resp.StatusCode != 200 {
		t.Fatalf("stream: got %d %s", resp.StatusCode, out)
	}
	if strings.Contains(out, `"usage":{`) || !strings.HasSuffix(out, "data: [DONE]\n\n") {
		t.Errorf("the client did not ask for usage, yet got:\n%s", out)
	}
	if _, _, sent := e.Backends["a"].Mock.LastRequest(); !strings.Contains(string(sent), `"stream_options":{"include_usage":true}`) {
		t.Errorf("the backend was not asked for usage: %s", sent)
	}
	first := intHeader(t, resp, "x-ratelimit-remaining-tokens") // 3000 - estimate
	estimate := 3000 - first
	if estimate < 50 || estimate > 70 {
		t.Errorf("estimate: got %d tokens, want the prompt (a few tokens) plus max_tokens 50", estimate)
	}
	used := len("Hello there, router")/4 + tokens // the mock's usage

	resp, out = e.Post("/v1/chat/completions", body)
	if resp.StatusCode != 200 {
		t.Fatalf("second stream: got %d %s", resp.StatusCode, out)
	}
	if got := first - intHeader(t, resp, "x-ratelimit-remaining-tokens"); got != used {
		t.Errorf("the first stream was settled to %d tokens, want its usage, %d", got, used)
	}
	afterTwo := 3000 - 2*used

	// A failure before the first token refunds the reservation.
	e.Backends["a"].Mock.SetOptions(mock.Options{Models: []string{"m"}, ErrorStatus: 500})
	resp, _ = e.Post("/v1/chat/completions", body)
	if resp.StatusCode != 500 {
		t.Fatalf("failing backend: got %d, want its 500", resp.StatusCode)
	}
	e.Backends["a"].Mock.SetOptions(mock.Options{Models: []string{"m"}, Tokens: tokens})
	resp, _ = e.Post("/v1/chat/completions", body)
	if got := intHeader(t, resp, "x-ratelimit-remaining-tokens"); got != afterTwo-estimate {
		t.Errorf("after a failed call: %d tokens left, want %d (its reservation refunded)", got, afterTwo-estimate)
	}

	// A client that asked for usage gets it.
	withUsage := strings.Replace(body, `"stream":true`, `"stream":true,"stream_options":{"include_usage":true}`, 1)
	if _, out = e.Post("/v1/chat/completions", withUsage); !strings.Contains(out, `"usage":{`) {
		t.Errorf("the client asked for usage and got none:\n%s", out)
	}
}

// TestTokenLimitRefuses: a call whose reservation does not fit is refused
// with 429, the x-ratelimit-*-tokens headers and the scope in the metric.
func TestTokenLimitRefuses(t *testing.T) {
	t.Parallel()
	const key = "sk-tokens-test"
	e := start(t, withFakeClock(), withConfig(func(c *config.Config) {
		c.APIKeys.Keys = []config.APIKey{{Key: key, ID: "tk", Enabled: true,
			RateLimit: config.RateSpec{TokensPerMinute: 600, TokenBurst: 200}}}
	}), withBackend("a", mock.Options{Models: []string{"m"}, Tokens: 5}))
	body := `{"model":"m","max_tokens":120,"messages":[{"role":"user","content":"hi"}]}`
	auth := []string{"Authorization", "Bearer " + key}
	resp, out := e.Post("/v1/chat/completions", body, auth...)
	if resp.StatusCode != 200 {
		t.Fatalf("first call: got %d %s", resp.StatusCode, out)
	}
	// The first call was settled to its usage (5 + a prompt of 1): 194
	// tokens are left. A call reserving 9 + 190 does not fit; one reserving
	// 9 + 120 does.
	big := strings.Replace(body, `"max_tokens":120`, `"max_tokens":190`, 1)
	resp, out = e.Post("/v1/chat/completions", big, auth...)
	if resp.StatusCode != 429 {
		t.Fatalf("over the token limit: got %d %s, want 429", resp.StatusCode, out)
	}
	if resp, out := e.Post("/v1/chat/completions", body, auth...); resp.StatusCode != 200 {
		t.Fatalf("a call that fits: got %d %s, want 200", resp.StatusCode, out)
	}
	if resp.Header.Get("x-ratelimit-limit-tokens") != "200" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("429 headers: %v", resp.Header)
	}
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_rate_limited_total", "scope", "api_key_tokens"); got != 1 {
		t.Errorf(`continuum_rate_limited_total{scope="api_key_tokens"}: got %v, want 1`, got)
	}
}
