package app_test

// Hardening tests for the proxy path (issue 8): each drives real HTTP
// through the router and fails without the fix it names.

import (
	"net"
	"net/http"
	"runtime"
	"strings"
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
