package app_test

// Hardening tests for the proxy path (issue 8): each drives real HTTP
// through the router and fails without the fix it names.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// Item 6: a 502 for an unreachable backend tells the client what failed,
// not where: the backend's address stays in the operator's log.
func TestHardeningUpstreamErrorHidesAddress(t *testing.T) {
	e := start(t, withDeadBackend("dead", "m"), withConfig(func(c *config.Config) {
		c.Retry.BaseDelay = 0
	}))
	addr := strings.TrimPrefix(e.Config.Backends[0].URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, body)
	}
	for _, leak := range []string{addr, port, "dial", "tcp", "connection refused"} {
		if strings.Contains(body, leak) {
			t.Errorf("502 body reveals %q: %s", leak, body)
		}
	}
	if !strings.Contains(body, `"type":"upstream_error"`) || !strings.Contains(body, "could not be reached") {
		t.Errorf("502 body: got %s, want an upstream_error saying the backend could not be reached", body)
	}
	// The operator still gets the cause.
	e.Logs.WaitFor(t, "msg=request", "status=502", "error_detail=", addr)
}

// Item 9: a non-streaming answer's buffer grows with the bytes that arrive;
// an announced Content-Length is not allocated up front.
func TestHardeningAnnouncedLengthNotPreallocated(t *testing.T) {
	const announced = 200 << 20
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 209715200\r\n\r\n{\"id\":")
		rw.Flush()
		// Then the connection closes: the answer is cut short.
	})
	e := start(t, withHandlerBackend("big", h, "m"), withConfig(func(c *config.Config) {
		c.Request.MaxRetries = 0
	}))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
	runtime.ReadMemStats(&after)
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502 for a cut answer: %s", resp.StatusCode, body)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > announced/10 {
		t.Fatalf("the request allocated %d MiB for a %d-byte answer announcing %d MiB; want the buffer to grow with what arrives",
			grew>>20, 6, announced>>20)
	}
}

// Item 15: the router's own 503 (open breaker) and 429 (rate limit) carry a
// Retry-After capped by server.max_retry_after (default 5s), so SDKs that
// sleep for it do not stall for the breaker's whole open time.
func TestHardeningRetryAfterCapped(t *testing.T) {
	e := faultEnv(t, withConfig(func(c *config.Config) {
		c.Request.MaxRetries = 0
		c.CircuitBreaker.FailureThreshold = 1
		c.CircuitBreaker.Timeout = 30 * time.Second
		c.APIKeys.Keys = []config.APIKey{{Key: "sk-slow", ID: "slow", Enabled: true,
			RateLimit: config.RateSpec{RequestsPerSecond: 1.0 / 60, BurstCapacity: 1}}}
	}), withBackend("bad", mock.Options{Models: []string{"m"}, ErrorStatus: 502}),
		withBackend("good", mock.Options{Models: []string{"ok"}}))
	if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 502 {
		t.Fatalf("first request: got %d, want the backend's 502", resp.StatusCode)
	}
	resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("breaker open for 30s: got %d Retry-After %q (%s), want 503 with Retry-After 5", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// A key allowed one request a minute: its refusal says 5, not 60.
	if resp, _ := e.Post("/v1/chat/completions", chatBody("ok", false), "Authorization", "Bearer sk-slow"); resp.StatusCode != 200 {
		t.Fatalf("first keyed request: got %d, want 200", resp.StatusCode)
	}
	resp, _ = e.Post("/v1/chat/completions", chatBody("ok", false), "Authorization", "Bearer sk-slow")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("rate limited for 60s: got %d Retry-After %q, want 429 with Retry-After 5", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// Item 16: every request that an open breaker keeps from its backend is
// counted in continuum_circuit_breaker_rejections_total, once per request,
// whether the request then fails (503) or is served by another backend.
func TestHardeningBreakerRejectionsCounted(t *testing.T) {
	e := faultEnv(t, withConfig(func(c *config.Config) {
		c.Request.MaxRetries = 0
		c.CircuitBreaker.FailureThreshold = 1
		c.CircuitBreaker.Timeout = 30 * time.Second
	}), withBackend("bad", mock.Options{Models: []string{"m", "both"}, ErrorStatus: 502}),
		withBackend("good", mock.Options{Models: []string{"both"}}))
	if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 502 {
		t.Fatalf("first request: got %d, want the backend's 502", resp.StatusCode)
	}
	if got := e.Backend("bad").Breaker; got != "open" {
		t.Fatalf("breaker %s, want open", got)
	}
	for i := 0; i < 3; i++ {
		if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 503 {
			t.Fatalf("request %d: got %d, want 503", i, resp.StatusCode)
		}
	}
	for i := 0; i < 2; i++ {
		if resp, _ := e.Post("/v1/chat/completions", chatBody("both", false)); resp.StatusCode != 200 {
			t.Fatalf("request %d for a model with a healthy backend: got %d, want 200", i, resp.StatusCode)
		}
	}
	m := opsScrape(t, e.URL+"/metrics")
	if got := m.Sum("continuum_circuit_breaker_rejections_total", "backend", "bad"); got != 5 {
		t.Fatalf("continuum_circuit_breaker_rejections_total{backend=bad} = %v, want 5 (3 refused, 2 served elsewhere)", got)
	}
}

// flaky answers its first n inference requests with status, then serves
// chat completions; it counts the inference requests it received.
type flaky struct {
	n, status int
	calls     atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	if c := f.calls.Add(1); c <= int64(f.n) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		io.WriteString(w, `{"error":{"message":"transient","type":"server_error"}}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
}

// Item 14: with retry.same_backend a model's only backend is asked again
// after a transient 5xx (before the first token, within max_attempts and
// the retry budget); without it the 5xx reaches the client.
func TestHardeningRetrySameBackend(t *testing.T) {
	for _, same := range []bool{false, true} {
		t.Run(fmt.Sprintf("same_backend=%v", same), func(t *testing.T) {
			f := &flaky{n: 1, status: 503}
			e := faultEnv(t, withHandlerBackend("only", f, "m"), withConfig(func(c *config.Config) {
				c.Retry.SameBackend = same
			}))
			resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
			want, calls := 503, int64(1)
			if same {
				want, calls = 200, 2
			}
			if resp.StatusCode != want || f.calls.Load() != calls {
				t.Fatalf("got %d after %d backend calls (%s), want %d after %d", resp.StatusCode, f.calls.Load(), body, want, calls)
			}
		})
	}
	t.Run("other backends first, attempts capped", func(t *testing.T) {
		bad := &flaky{n: 100, status: 502}
		alsoBad := &flaky{n: 100, status: 502}
		e := faultEnv(t, withHandlerBackend("a", bad, "m"), withHandlerBackend("b", alsoBad, "m"), withConfig(func(c *config.Config) {
			c.Retry.SameBackend = true
			c.Retry.MaxAttempts = 3
			c.Request.MaxRetries = 5
			c.CircuitBreaker.FailureThreshold = 0
			c.CircuitBreaker.FailureRateThreshold = 0
		}))
		resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 502 {
			t.Fatalf("got %d, want the last 502", resp.StatusCode)
		}
		// a, then b (another backend before asking a again), then one of them again.
		if got := bad.calls.Load() + alsoBad.calls.Load(); got != 3 || bad.calls.Load() == 0 || alsoBad.calls.Load() == 0 {
			t.Fatalf("calls a=%d b=%d, want 3 attempts over both backends", bad.calls.Load(), alsoBad.calls.Load())
		}
	})
	t.Run("within the retry budget", func(t *testing.T) {
		f := &flaky{n: 100, status: 503}
		e := faultEnv(t, withHandlerBackend("only", f, "m"), withConfig(func(c *config.Config) {
			c.Retry.SameBackend = true
			c.Retry.BudgetRatio = 0
			c.Retry.BudgetMinPerSecond = 0
		}))
		if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 503 || f.calls.Load() != 1 {
			t.Fatalf("got %d after %d calls, want 503 after 1: the budget allows no retry", resp.StatusCode, f.calls.Load())
		}
	})
}

// Item 13: a request written whole on a pooled connection that the backend
// then closed without answering is not re-sent behind the router's back:
// it is retried as a counted attempt (continuum_retries_total), on the same
// backend, without counting against it.
func TestHardeningStaleConnectionRetriedInTheOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var requests atomic.Int64
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(first bool, c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if first && i == 1 {
						return // the second request on the first connection: close unanswered
					}
					body := `{"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
				}
			}(n == 0, c)
		}
	}()
	e := faultEnv(t, withConfig(func(c *config.Config) {
		b := c.NewBackend("raw", "http://"+ln.Addr().String())
		b.Models = []string{"m"}
		c.Backends = append(c.Backends, b)
		c.CircuitBreaker.FailureThreshold = 1
	}))
	for i := 0; i < 2; i++ {
		if resp, body := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
			t.Fatalf("request %d: got %d %s, want 200", i, resp.StatusCode, body)
		}
	}
	if got := requests.Load(); got != 3 {
		t.Fatalf("backend received %d requests, want 3 (the second one twice: once unanswered, once retried)", got)
	}
	m := opsScrape(t, e.URL+"/metrics")
	if got := m.Sum("continuum_retries_total", "backend", "raw", "reason", "stale_connection"); got != 1 {
		t.Fatalf("continuum_retries_total{reason=stale_connection} = %v, want 1", got)
	}
	if b := e.Backend("raw"); b.Failures != 0 || b.Breaker != "closed" {
		t.Fatalf("backend: %d failures, breaker %s; a stale pooled connection must not count against it", b.Failures, b.Breaker)
	}
}

// Item 20: usage per API key: requests by key id and status class, and the
// tokens its requests used, by key id (never by key value).
func TestHardeningUsagePerKey(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{Models: []string{"m"}, Tokens: 5}), withConfig(func(c *config.Config) {
		c.APIKeys.Keys = []config.APIKey{
			{Key: "sk-team-a-secret", ID: "team-a", Enabled: true},
			{Key: "sk-team-b-secret", ID: "team-b", Enabled: true, Models: []string{"other"}},
		}
	}))
	for i := 0; i < 2; i++ {
		if resp, body := e.Post("/v1/chat/completions", chatBody("m", false), "Authorization", "Bearer sk-team-a-secret"); resp.StatusCode != 200 {
			t.Fatalf("team-a: got %d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false), "Authorization", "Bearer sk-team-b-secret"); resp.StatusCode != 403 {
		t.Fatalf("team-b: got %d, want 403", resp.StatusCode)
	}
	m := opsScrape(t, e.URL+"/metrics")
	if got := m.Sum("continuum_api_key_requests_total", "key_id", "team-a", "status_class", "2xx"); got != 2 {
		t.Errorf("team-a 2xx requests = %v, want 2", got)
	}
	if got := m.Sum("continuum_api_key_requests_total", "key_id", "team-b", "status_class", "4xx"); got != 1 {
		t.Errorf("team-b 4xx requests = %v, want 1", got)
	}
	prompt := m.Sum("continuum_api_key_tokens_total", "key_id", "team-a", "type", "prompt")
	completion := m.Sum("continuum_api_key_tokens_total", "key_id", "team-a", "type", "completion")
	if completion != 10 || prompt <= 0 {
		t.Errorf("team-a tokens: prompt %v, completion %v; want completion 10 (2×5) and some prompt tokens", prompt, completion)
	}
	for _, s := range m {
		for _, v := range s.Labels {
			if strings.Contains(v, "secret") {
				t.Fatalf("a key value is a label value: %s %v", s.Name, s.Labels)
			}
		}
	}
}

// The router's own pages answer a wrong method in the OpenAI envelope too.
func TestHardeningDocsWrongMethodEnvelope(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{Models: []string{"m"}}))
	for _, path := range []string{"/openapi.json", "/docs"} {
		resp, body := e.Post(path, "{}")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(body, `"type":"invalid_request_error"`) {
			t.Errorf("POST %s: got %d Allow %q %s, want 405 with Allow and an error envelope", path, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
}
