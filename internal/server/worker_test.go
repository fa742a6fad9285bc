package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const chatBody = `{"model":"m1","messages":[]}`

// TestWorkerIdentity: a worker stamps every answer and names itself on
// /health; the single-process listener adds nothing.
func TestWorkerIdentity(t *testing.T) {
	for _, tt := range []struct {
		name       string
		worker     *Worker
		wantHeader string
		wantHealth string
	}{
		{"single process", nil, "", `{"status":"ok"}`},
		{"worker", &Worker{Index: 3, PID: 4242}, "3", `{"status":"ok","worker":3,"pid":4242}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := startListener(t, Options{Worker: tt.worker}, Settings{})
			for _, raw := range []string{
				request("GET", "/health", "", false),
				request("POST", "/v1/chat/completions", chatBody, false),
				request("GET", "/no/such/path", "", false),
				"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", // refused: ambiguous framing
				"NOT HTTP\r\n\r\n", // unreadable: answered by the error handler
			} {
				r := one(t, l.exchange(raw))
				if got := r.Header.Get(HeaderWorker); got != tt.wantHeader {
					t.Errorf("%q → %d: %s = %q, want %q", strings.SplitN(raw, "\r\n", 2)[0], r.StatusCode, HeaderWorker, got, tt.wantHeader)
				}
				if strings.HasPrefix(raw, "GET /health") && string(r.body) != tt.wantHealth {
					t.Errorf("/health: got %s, want %s", r.body, tt.wantHealth)
				}
			}
		})
	}
}

// TestHandover: once Handover starts, the listener accepts nothing new,
// keep-alive connections are served one more request and closed
// (Connection: close), and Handover returns when none is left.
func TestHandover(t *testing.T) {
	l := startListener(t, Options{Worker: &Worker{Index: 0, PID: 1}}, Settings{})
	// Two keep-alive clients: one sends a request during the handover, the
	// other is idle until then.
	busy, idle := l.dial(), l.dial()
	busyR, idleR := bufio.NewReader(busy), bufio.NewReader(idle)
	roundTrip := func(c net.Conn, br *bufio.Reader) *http.Response {
		t.Helper()
		if _, err := io.WriteString(c, request("POST", "/v1/chat/completions", chatBody, true)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read answer: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := roundTrip(busy, busyR); r.Close {
		t.Fatal("connection closed before the handover")
	}
	roundTrip(idle, idleR)

	done := make(chan struct{})
	go func() {
		l.srv.Handover(context.Background())
		close(done)
	}()
	// New connections are no longer accepted (the socket is closed here; in
	// a multi-process router another process accepts them).
	deadline := time.Now().Add(ioTimeout)
	for {
		c, err := net.DialTimeout("tcp", l.addr, ioTimeout)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts connections during the handover")
		}
	}
	if r := roundTrip(busy, busyR); !r.Close {
		t.Error("answer during the handover: want Connection: close")
	}
	if _, err := busyR.ReadByte(); err != io.EOF {
		t.Errorf("busy connection after its last answer: got %v, want EOF", err)
	}
	select {
	case <-done:
		t.Fatal("Handover returned with an idle connection still open")
	default:
	}
	if r := roundTrip(idle, idleR); !r.Close {
		t.Error("idle connection's answer during the handover: want Connection: close")
	}
	select {
	case <-done:
	case <-time.After(ioTimeout):
		t.Fatal("Handover did not return once every connection was closed")
	}
}
