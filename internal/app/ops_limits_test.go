package app_test

// Operations suite (issue 4), the listener's limits: rate limits, the body
// size limit, load shedding, CORS and the header read timeout.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// opsCheckRateHeaders checks the x-ratelimit headers of a response.
func opsCheckRateHeaders(t *testing.T, resp *http.Response, limit, remaining string) {
	t.Helper()
	if got := resp.Header.Get("x-ratelimit-limit-requests"); got != limit {
		t.Errorf("x-ratelimit-limit-requests: got %q, want %q", got, limit)
	}
	if got := resp.Header.Get("x-ratelimit-remaining-requests"); got != remaining {
		t.Errorf("x-ratelimit-remaining-requests: got %q, want %q", got, remaining)
	}
	reset := resp.Header.Get("x-ratelimit-reset-requests")
	if d, err := time.ParseDuration(reset); err != nil || d <= 0 {
		t.Errorf("x-ratelimit-reset-requests: got %q, want a positive duration", reset)
	}
}

func TestOpsRateLimitGlobal(t *testing.T) {
	t.Parallel()
	e := start(t, withFakeClock(), withConfig(func(c *config.Config) {
		c.RateLimiting.Enabled = true
		c.RateLimiting.Limits.Global = config.RateSpec{RequestsPerSecond: 1, BurstCapacity: 2}
	}), withBackend("a", mock.Options{Models: []string{"m"}}))

	for i, remaining := range []string{"1", "0"} {
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: got %d %s, want 200", i+1, resp.StatusCode, body)
		}
		opsCheckRateHeaders(t, resp, "2", remaining)
	}
	resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
	if resp.StatusCode != 429 {
		t.Fatalf("third request: got %d %s, want 429", resp.StatusCode, body)
	}
	if got := opsErrorType(t, body); got != "rate_limit_exceeded" {
		t.Errorf("429 error type: got %q, want rate_limit_exceeded", got)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After: got %q, want 1", got)
	}
	opsCheckRateHeaders(t, resp, "2", "0")
	if got := inference(e.Backends["a"]); got != 2 {
		t.Errorf("backend requests: got %d, want 2 (the 429 is the router's)", got)
	}

	e.Clock.Advance(time.Second)
	if resp, body := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
		t.Fatalf("after one second: got %d %s, want 200", resp.StatusCode, body)
	}
	if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 429 {
		t.Fatalf("second request after one second: got %d, want 429", resp.StatusCode)
	}
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_rate_limited_total", "scope", "global"); got != 2 {
		t.Errorf(`continuum_rate_limited_total{scope="global"}: got %v, want 2`, got)
	}
}

func TestOpsRateLimitPerKey(t *testing.T) {
	t.Parallel()
	const one, two, free = "sk-ops-rate-one", "sk-ops-rate-two", "sk-ops-rate-free"
	e := start(t, withFakeClock(), withConfig(func(c *config.Config) {
		c.APIKeys.Keys = []config.APIKey{
			{Key: one, ID: "one", Enabled: true, RateLimit: config.RateSpec{RequestsPerSecond: 1, BurstCapacity: 1}},
			{Key: two, ID: "two", Enabled: true, RateLimit: config.RateSpec{RequestsPerSecond: 1, BurstCapacity: 1}},
			{Key: free, ID: "free", Enabled: true},
		}
	}), withBackend("a", mock.Options{Models: []string{"m"}}))

	send := func(key string, want int) *http.Response {
		t.Helper()
		var h []string
		if key != "" {
			h = []string{"Authorization", "Bearer " + key}
		}
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false), h...)
		if resp.StatusCode != want {
			t.Fatalf("key %q: got %d %s, want %d", key, resp.StatusCode, body, want)
		}
		return resp
	}
	opsCheckRateHeaders(t, send(one, 200), "1", "0")
	resp := send(one, 429)
	opsCheckRateHeaders(t, resp, "1", "0")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Each key has its own bucket; keys without a limit and anonymous
	// callers are not limited.
	send(two, 200)
	send(two, 429)
	for i := 0; i < 3; i++ {
		send(free, 200)
		send("", 200)
	}
	e.Clock.Advance(time.Second)
	send(one, 200)
	send(two, 200)
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_rate_limited_total", "scope", "api_key"); got != 2 {
		t.Errorf(`continuum_rate_limited_total{scope="api_key"}: got %v, want 2`, got)
	}
}

func TestOpsBodyTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 1024
	e := start(t, withConfig(func(c *config.Config) { c.Server.MaxBodySize = limit }),
		withBackend("a", mock.Options{Models: []string{"m"}}))
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 8*limit) + `"}]}`
	fits := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", limit-100) + `"}]}`

	tests := []struct {
		name    string
		body    string
		chunked bool
		want    int
	}{
		{"fits", fits, false, 200},
		{"too large", big, false, 413},
		{"fits, chunked", fits, true, 200},
		{"too large, chunked", big, true, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, e.URL+"/v1/chat/completions", io.MultiReader(strings.NewReader(tt.body)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.chunked {
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			} else {
				req.ContentLength = int64(len(tt.body))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			if tt.want == 413 {
				opsErrorType(t, string(body))
				if !strings.Contains(string(body), fmt.Sprint(limit)) {
					t.Errorf("413 message %s does not state the limit of %d bytes", body, limit)
				}
			}
		})
	}
	if got := inference(e.Backends["a"]); got != 2 {
		t.Errorf("backend requests: got %d, want 2 (oversized bodies never reach it)", got)
	}
}

func TestOpsLoadShedding(t *testing.T) {
	t.Parallel()
	hold := opsNewHold(t)
	e := faultEnv(t, withConfig(func(c *config.Config) { c.Server.MaxConcurrentRequests = 2 }),
		withBackend("a", mock.Options{Models: []string{"m"}, Gate: hold.Gate}))

	var held []*opsStream
	for i := 1; i <= 2; i++ {
		s := opsOpenStream(t, context.Background(), e.URL, "m", "X-Request-Id", fmt.Sprintf("ops-shed-%d", i))
		if s.resp.StatusCode != 200 {
			t.Fatalf("stream %d: got %d, want 200", i, s.resp.StatusCode)
		}
		held = append(held, s)
	}
	for i := 0; i < 3; i++ {
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 503 {
			t.Fatalf("request over the limit: got %d %s, want 503", resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		opsErrorType(t, body)
	}
	if got := inference(e.Backends["a"]); got != 2 {
		t.Fatalf("backend requests: got %d, want 2 (shed requests never reach it)", got)
	}
	// Requests that are not proxied are not counted against the limit.
	if resp, _ := e.Get("/health"); resp.StatusCode != 200 {
		t.Errorf("GET /health while at the limit: got %d, want 200", resp.StatusCode)
	}

	hold.Release()
	for i, s := range held {
		if _, err := s.rest(); err != io.EOF {
			t.Fatalf("stream %d ended with %v, want a clean end", i+1, err)
		}
		// The slot is freed once the router has finished the stream.
		e.Logs.WaitFor(t, "msg=request", fmt.Sprintf("request_id=ops-shed-%d", i+1))
	}
	for i := 0; i < 3; i++ {
		if resp, body := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
			t.Fatalf("after the streams ended: got %d %s, want 200", resp.StatusCode, body)
		}
	}
	if got := opsScrape(t, e.URL+"/metrics").Sum("continuum_load_shed_total"); got != 3 {
		t.Errorf("continuum_load_shed_total: got %v, want 3", got)
	}
}

func TestOpsCORS(t *testing.T) {
	t.Parallel()
	const origin, stranger = "https://app.example", "https://evil.example"
	e := start(t, withConfig(func(c *config.Config) {
		c.Server.CORS.Enabled = true
		c.Server.CORS.AllowedOrigins = []string{origin}
	}), withBackend("a", mock.Options{Models: []string{"m"}}))

	preflight := func(from string) (*http.Response, string) {
		return send(t, http.MethodOptions, e.URL+"/v1/chat/completions", "",
			"Origin", from, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization, content-type")
	}
	resp, body := preflight(origin)
	if resp.StatusCode != 204 {
		t.Fatalf("preflight: got %d %s, want 204", resp.StatusCode, body)
	}
	h := resp.Header
	if got := h.Get("Access-Control-Allow-Origin"); got != origin {
		t.Errorf("preflight Access-Control-Allow-Origin: got %q, want %q", got, origin)
	}
	if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
		t.Errorf("preflight Access-Control-Allow-Methods: got %q, want POST among them", got)
	}
	if got := strings.ToLower(h.Get("Access-Control-Allow-Headers")); !strings.Contains(got, "authorization") || !strings.Contains(got, "content-type") {
		t.Errorf("preflight Access-Control-Allow-Headers: got %q, want Authorization and Content-Type", got)
	}
	if got := h.Get("Access-Control-Max-Age"); got != "600" {
		t.Errorf("preflight Access-Control-Max-Age: got %q, want 600 (the 10m default)", got)
	}
	if got := inference(e.Backends["a"]); got != 0 {
		t.Errorf("a preflight reached the backend (%d requests)", got)
	}

	resp, _ = e.Post("/v1/chat/completions", chatBody("m", false), "Origin", origin)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("simple request from %s: got %d with Allow-Origin %q, want 200 with %q",
			origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), origin)
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Errorf("Access-Control-Expose-Headers: got %q, want X-Request-Id among them", resp.Header.Get("Access-Control-Expose-Headers"))
	}

	resp, _ = e.Post("/v1/chat/completions", chatBody("m", false), "Origin", stranger)
	if resp.StatusCode != 200 {
		t.Errorf("simple request from %s: got %d, want 200 (CORS is enforced by browsers)", stranger, resp.StatusCode)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("simple request from %s: Access-Control-Allow-Origin %q, want none", stranger, got)
	}
	resp, _ = preflight(stranger)
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" || resp.StatusCode == 204 {
		t.Errorf("preflight from %s: got %d with Allow-Origin %q, want no CORS approval", stranger, resp.StatusCode, got)
	}
}

// TestOpsHeaderReadTimeout: a client that sends half a request line and
// then nothing is disconnected after server.read_header_timeout. The
// timeout is enforced by socket deadlines, so this test uses the wall clock;
// the 10 s bound only keeps a regression from hanging the suite.
func TestOpsHeaderReadTimeout(t *testing.T) {
	t.Parallel()
	e := start(t, withConfig(func(c *config.Config) { c.Server.ReadHeaderTimeout = time.Second }),
		withBackend("a", mock.Options{}))
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	began := time.Now()
	if _, err := conn.Write([]byte("GET /hea")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	took := time.Since(began)
	t.Logf("the router closed a stalled connection after %v (read %q, then %v)", took.Round(time.Millisecond), got, err)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection was still open after %v", took)
	}
	if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 408") && !strings.HasPrefix(string(got), "HTTP/1.1 400") {
		t.Errorf("answer to a stalled request: got %q, want nothing, 408 or 400", got)
	}
}

// TestOpsShutdownWithUnusedConnection: a client that opened a connection
// and never sent a request on it (HTTP clients dial ahead and keep spare
// connections) must not hold a graceful shutdown until the listener's read
// timeout. The read timeout here is an hour; Shutdown gets two seconds.
func TestOpsShutdownWithUnusedConnection(t *testing.T) {
	t.Parallel()
	e := start(t, withConfig(func(c *config.Config) { c.Server.ReadHeaderTimeout = time.Hour }),
		withBackend("a", mock.Options{}))
	addr := strings.TrimPrefix(e.URL, "http://")
	unused, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer unused.Close()
	// A request on a second connection, accepted after the first: once it
	// is answered, the unused connection has been accepted too.
	used, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	if _, err := used.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	used.SetReadDeadline(time.Now().Add(10 * time.Second))
	if answer, err := io.ReadAll(used); err != nil || !strings.HasPrefix(string(answer), "HTTP/1.1 200") {
		t.Fatalf("GET /health: got %q, %v", answer, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began := time.Now()
	err = e.App.Shutdown(ctx)
	t.Logf("Shutdown returned %v after %v", err, time.Since(began).Round(time.Millisecond))
	if err != nil {
		t.Errorf("Shutdown with a connection that never sent a request: got %v, want nil (the connection is idle and can be closed)", err)
	}
}
