package app_test

// Hardening tests for the proxy path (issue 8): each drives real HTTP
// through the router and fails without the fix it names.

import (
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/config"
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
