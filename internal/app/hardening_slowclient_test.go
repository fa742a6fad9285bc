package app_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// holdListener wraps the router's listener so that, on every accepted
// connection, the router's writes from the holdFrom-th on block until the
// test releases them: the router sees what a client that stopped reading
// makes it see. A write deadline in the past fails a held write, as the
// kernel fails a blocked one.
type holdListener struct {
	net.Listener
	holdFrom int32
	conns    chan *holdConn
}

func newHoldListener(holdFrom int32) (*holdListener, func(net.Listener) net.Listener) {
	hl := &holdListener{holdFrom: holdFrom, conns: make(chan *holdConn, 16)}
	return hl, func(ln net.Listener) net.Listener { hl.Listener = ln; return hl }
}

func (l *holdListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &holdConn{TCPConn: c.(*net.TCPConn), holdFrom: l.holdFrom,
		blocked: make(chan struct{}), release: make(chan struct{}), abort: make(chan struct{})}
	l.conns <- hc
	return hc, nil
}

type holdConn struct {
	*net.TCPConn
	holdFrom  int32
	writes    atomic.Int32
	blocked   chan struct{} // closed when the first held write starts
	release   chan struct{} // closed by the test to let writes through
	abort     chan struct{} // closed by a write deadline in the past
	blockOnce sync.Once
	abortOnce sync.Once
	relOnce   sync.Once
}

func (c *holdConn) Write(p []byte) (int, error) {
	if n := c.writes.Add(1); n >= c.holdFrom {
		c.blockOnce.Do(func() { close(c.blocked) })
		select {
		case <-c.release:
		case <-c.abort:
			return 0, os.ErrDeadlineExceeded
		}
	}
	return c.TCPConn.Write(p)
}

func (c *holdConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		c.abortOnce.Do(func() { close(c.abort) })
	}
	return c.TCPConn.SetWriteDeadline(t)
}

func (c *holdConn) Release() { c.relOnce.Do(func() { close(c.release) }) }

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

// Item 8: time the router spends blocked writing to a slow client is not
// the backend's: the idle timeout does not fire while a write blocks, so a
// slow reader neither aborts its stream nor marks a healthy backend failed.
func TestHardeningSlowClientNotChargedToBackend(t *testing.T) {
	hl, wrap := newHoldListener(2)
	e := faultEnv(t, withListener(wrap), withBackend("a", mock.Options{Models: []string{"m"}, Tokens: 8}),
		withConfig(func(c *config.Config) {
			c.Request.Timeout = 0
			c.Request.IdleTimeout = 60 * time.Second
			c.Server.ClientWriteTimeout = 0
			c.CircuitBreaker.FailureThreshold = 1
		}))
	type result struct {
		events []string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		s := openStream(t, context.Background(), e, chatBody("m", true))
		ev, err := s.rest()
		done <- result{ev, err}
	}()
	hc := <-hl.conns
	waitClosed(t, hc.blocked, "a write to the client blocking")
	// The client reads nothing for two idle timeouts.
	e.Clock.Advance(2 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Clock.WaitForDeadline(ctx, e.Clock.Now().Add(60*time.Second)); err != nil {
		t.Fatalf("the stream's timer was not re-armed while the write blocked (the idle timeout fired?): %v", err)
	}
	hc.Release()
	r := <-done
	if r.err != io.EOF || len(r.events) == 0 || r.events[len(r.events)-1] != "[DONE]" {
		t.Fatalf("slow client's stream: %d events, last error %v; want every event and [DONE]", len(r.events), r.err)
	}
	if content(r.events) != allTokens(8) {
		t.Fatalf("content %q, want %q", content(r.events), allTokens(8))
	}
	if b := e.Backend("a"); b.Failures != 0 || b.Breaker != "closed" || b.Health == "down" {
		t.Fatalf("backend after a slow client: %d failures, breaker %s, health %s; want it untouched", b.Failures, b.Breaker, b.Health)
	}
}

// Item 8: a client that stops reading for server.client_write_timeout is
// cut off: its stream ends, the upstream request is cancelled, its
// concurrency slot and the backend's in-flight count are freed, and the
// backend is not charged.
func TestHardeningClientWriteTimeout(t *testing.T) {
	hl, wrap := newHoldListener(2)
	e := faultEnv(t, withListener(wrap), withBackend("a", mock.Options{Models: []string{"m"}, Tokens: 8, StallAfter: 4}),
		withConfig(func(c *config.Config) {
			c.Server.ClientWriteTimeout = 10 * time.Second
			c.Server.MaxConcurrentRequests = 1
			c.CircuitBreaker.FailureThreshold = 1
		}))
	done := make(chan error, 1)
	go func() {
		s := openStream(t, context.Background(), e, chatBody("m", true))
		_, err := s.rest()
		done <- err
	}()
	hc := <-hl.conns
	waitClosed(t, hc.blocked, "a write to the client blocking")
	e.Clock.Advance(11 * time.Second)
	if err := <-done; !errors.Is(err, io.ErrUnexpectedEOF) && err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("cut-off client: got %v, want the connection closed mid-stream", err)
	}
	waitEvent(t, e.Backends["a"], mock.EventCancelled)
	e.Logs.WaitFor(t, "msg=request", "error=client_write_timeout")
	if b := e.Backend("a"); b.Failures != 0 || b.Breaker != "closed" || b.InFlight != 0 {
		t.Fatalf("backend: %d failures, breaker %s, in flight %d; want 0, closed, 0", b.Failures, b.Breaker, b.InFlight)
	}
	// The only concurrency slot is free again.
	if resp, body := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 200 {
		t.Fatalf("next request: got %d %s, want 200", resp.StatusCode, body)
	}
}

// Item 13: when the shutdown grace period ends, the requests still running
// are cancelled: a committed stream ends with an SSE error event (no
// [DONE]), a request still waiting for its answer gets 503, both backends
// see their requests cancelled, and Shutdown returns.
func TestHardeningShutdownCancelsAtGraceEnd(t *testing.T) {
	e := faultEnv(t, withBackend("a", mock.Options{Models: []string{"m"}, Tokens: 8, StallAfter: 2}),
		withBackend("b", mock.Options{Models: []string{"h"}, HangAfterHeaders: true}))
	s := openStream(t, context.Background(), e, chatBody("m", true))
	for i := 0; i < 2; i++ {
		if _, err := s.next(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	type answer struct {
		status     int
		retryAfter string
	}
	waiting := make(chan answer, 1)
	go func() {
		resp, _ := e.Post("/v1/chat/completions", chatBody("h", false))
		waiting <- answer{resp.StatusCode, resp.Header.Get("Retry-After")}
	}()
	waitEvent(t, e.Backends["b"], mock.EventRequest)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := e.App.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: got %v, want the grace period's deadline", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %v after its grace period", took)
	}
	d, err := s.next()
	if err != nil || !strings.Contains(d, "shutting down") {
		t.Fatalf("stream after the grace period: got %q %v, want an error event saying the router is shutting down", d, err)
	}
	if _, err := s.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after the error event: got %v, want the connection closed without [DONE]", err)
	}
	if a := <-waiting; a.status != 503 || a.retryAfter == "" {
		t.Fatalf("request waiting for its answer: got %d Retry-After %q, want 503 with Retry-After", a.status, a.retryAfter)
	}
	waitEvent(t, e.Backends["a"], mock.EventCancelled)
	waitEvent(t, e.Backends["b"], mock.EventCancelled)
}
