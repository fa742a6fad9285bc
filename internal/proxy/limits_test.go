package proxy

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/upstream"
)

// fakeCharge records what the proxy does with a reservation.
type fakeCharge struct {
	mu         sync.Mutex
	reserved   int64
	grant      int // top-ups still granted
	topUps     int
	reconciled int64 // -1 until Reconcile
	refunded   bool
	settled    int
}

func newCharge(reserved int64, grant int) *fakeCharge {
	return &fakeCharge{reserved: reserved, grant: grant, reconciled: -1}
}

func (c *fakeCharge) Reserved() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.reserved }
func (c *fakeCharge) TopUp(n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.topUps++
	if c.grant == 0 {
		return false
	}
	c.grant--
	c.reserved += n
	return true
}
func (c *fakeCharge) Reconcile(used int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reconciled = used
	c.settled++
}
func (c *fakeCharge) Refund() { c.mu.Lock(); defer c.mu.Unlock(); c.refunded = true; c.settled++ }

// sseTokens is a stream of n content events, then a finish, optionally a
// usage chunk, and [DONE].
func sseTokens(n int, usage bool) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t%d \"}}]}\n\n", i)
	}
	b.WriteString("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
	if usage {
		fmt.Fprintf(&b, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n", n, n+7)
	}
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

func sseResponse(ctx context.Context, text string) *upstream.Response {
	rc, w := body(ctx)
	go func() { w.Write([]byte(text)); w.Close() }()
	return &upstream.Response{Status: 200, Header: upstream.Header{{Name: "Content-Type", Value: "text/event-stream"}}, Body: rc}
}

// recordingSender is a fakeSender that keeps the bodies it was sent.
type recordingSender struct {
	fakeSender
	bodies []string
}

func (r *recordingSender) Do(ctx context.Context, req *upstream.Request) (*upstream.Response, error) {
	r.mu.Lock()
	r.bodies = append(r.bodies, string(req.Body))
	r.mu.Unlock()
	return r.fakeSender.Do(ctx, req)
}

func TestStreamTopUpsAndSettlement(t *testing.T) {
	tests := []struct {
		name       string
		events     int
		usage      bool
		grant      int
		wantTopUps int
		wantUsed   int64
	}{
		// Estimate 10 prompt + 100 output reserved. 600 content events and
		// the finish event, without usage: 611 > 110, two blocks of 256
		// granted (622), no more needed.
		{"top-ups granted", 600, false, 5, 2, 611},
		// The first top-up refused: no further attempt; the overrun is
		// settled (as debt) by Reconcile.
		{"top-up refused", 600, false, 0, 1, 611},
		// Usage reported: settled to it, not to the events counted.
		{"usage wins", 50, true, 5, 0, 57},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, nil, nil, "a:m")
			rs := &recordingSender{}
			h.targets["a"].Sender = rs
			rs.do = func(ctx context.Context, _ int) (*upstream.Response, error) {
				return sseResponse(ctx, sseTokens(tt.events, true)), nil
			}
			ch := newCharge(110, tt.grant)
			req := request("m", true)
			req.Charge, req.Estimate = ch, exchange.Estimate{Prompt: 10, Output: 100}
			if !tt.usage {
				// a backend that does not send usage even when asked
				rs.do = func(ctx context.Context, _ int) (*upstream.Response, error) {
					return sseResponse(ctx, sseTokens(tt.events, false)), nil
				}
			}
			resp := h.proxy.Forward(context.Background(), req)
			if resp.Stream == nil {
				t.Fatalf("got %d %s, want a stream", resp.Status, resp.Body)
			}
			var out strings.Builder
			if _, err := writeStream(resp.Stream, &out); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(rs.bodies[0], `"stream_options":{"include_usage":true}`) {
				t.Errorf("the backend was not asked for usage: %s", rs.bodies[0])
			}
			if strings.Contains(out.String(), `"usage"`) {
				t.Errorf("the client, which did not ask, got the usage chunk")
			}
			if ch.topUps != tt.wantTopUps || ch.reconciled != tt.wantUsed || ch.settled != 1 || ch.refunded {
				t.Errorf("got %d top-ups, settled %d times to %d (refunded %v); want %d top-ups, once to %d",
					ch.topUps, ch.settled, ch.reconciled, ch.refunded, tt.wantTopUps, tt.wantUsed)
			}
		})
	}
}

func TestChargeRefundedBeforeCommitAndChargedOnDisconnect(t *testing.T) {
	t.Run("failure before the first token", func(t *testing.T) {
		h := newHarness(t, Options{MaxAttempts: 1}, nil, nil, "a:m")
		h.senders["a"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
			return jsonResponse(ctx, 500, `{"error":{"message":"boom"}}`), nil
		}
		ch := newCharge(110, 0)
		req := request("m", false)
		req.Charge = ch
		if resp := h.proxy.Forward(context.Background(), req); resp.Status != 500 {
			t.Fatalf("got %d, want 500", resp.Status)
		}
		if !ch.refunded || ch.settled != 1 {
			t.Errorf("refunded %v, settled %d times; want refunded once", ch.refunded, ch.settled)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		h := newHarness(t, Options{}, nil, nil, "a:m")
		ch := newCharge(110, 0)
		req := request("nope", false)
		req.Charge = ch
		if resp := h.proxy.Forward(context.Background(), req); resp.Status != 404 {
			t.Fatalf("got %d, want 404", resp.Status)
		}
		if !ch.refunded {
			t.Error("the reservation of a call no backend took was not refunded")
		}
	})
	t.Run("client disconnect", func(t *testing.T) {
		h := newHarness(t, Options{}, nil, nil, "a:m")
		var w *io.PipeWriter
		h.senders["a"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
			rc, pw := body(ctx)
			w = pw
			go pw.Write([]byte(strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n", 30)))
			return &upstream.Response{Status: 200, Header: upstream.Header{{Name: "Content-Type", Value: "text/event-stream"}}, Body: rc}, nil
		}
		ch := newCharge(110, 5)
		req := request("m", true)
		req.Charge, req.Estimate = ch, exchange.Estimate{Prompt: 10, Output: 100}
		ctx, cancel := context.WithCancel(context.Background())
		resp := h.proxy.Forward(ctx, req)
		if resp.Stream == nil {
			t.Fatalf("got %d, want a stream", resp.Status)
		}
		n := 0
		var buf []byte
		for n < 30 {
			var err error
			if buf, err = resp.Stream.Next(buf[:0]); err != nil {
				t.Fatal(err)
			}
			n += strings.Count(string(buf), "data:")
		}
		_ = w
		cancel()
		resp.Stream.Close()
		if ch.refunded || ch.reconciled != 10+30 {
			t.Errorf("settled to %d (refunded %v), want the prompt and the 30 events streamed, 40", ch.reconciled, ch.refunded)
		}
	})
}

// fakeLimit is a backend's own limit: it admits while it has calls left.
type fakeLimit struct {
	left   int
	wait   time.Duration
	charge *fakeCharge
}

func (l *fakeLimit) Take(context.Context, *exchange.Call) (exchange.Charge, time.Duration, bool) {
	if l.left == 0 {
		return nil, l.wait, false
	}
	l.left--
	if l.charge == nil {
		return nil, 0, true
	}
	return l.charge, 0, true
}

func TestBackendLimit(t *testing.T) {
	h := newHarness(t, Options{}, nil, nil, "a:m", "b:m")
	for _, name := range []string{"a", "b"} {
		h.senders[name].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
			return jsonResponse(ctx, 200, `{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`), nil
		}
	}
	ca := newCharge(50, 0)
	h.targets["a"].Limit = &fakeLimit{left: 1, wait: 3 * time.Second, charge: ca}
	h.targets["b"].Limit = &fakeLimit{left: 1, wait: 2 * time.Second}
	for i := range 2 {
		if resp := h.proxy.Forward(context.Background(), request("m", false)); resp.Status != 200 {
			t.Fatalf("call %d: got %d %s", i+1, resp.Status, resp.Body)
		}
	}
	if a, b := h.senders["a"].Calls(), h.senders["b"].Calls(); a != 1 || b != 1 {
		t.Errorf("calls: a %d, b %d; want one each (each limit admits one)", a, b)
	}
	if ca.reconciled != 7 {
		t.Errorf("backend reservation settled to %d, want the usage, 7", ca.reconciled)
	}
	req := request("m", false)
	resp := h.proxy.Forward(context.Background(), req)
	if resp.Status != 429 || req.Record.ErrorKind != "backends_rate_limited" {
		t.Fatalf("both over their limits: got %d %s (%s), want 429 backends_rate_limited", resp.Status, resp.Body, req.Record.ErrorKind)
	}
	for _, f := range resp.Header {
		if f.Name == "Retry-After" && f.Value != "2" {
			t.Errorf("Retry-After: got %s, want 2 (the sooner of the two limits)", f.Value)
		}
	}
}

// fakeCooldowns is a shared cooldown table.
type fakeCooldowns struct {
	mu    sync.Mutex
	until map[string]time.Time
	sets  int
}

func (c *fakeCooldowns) Until(b string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.until[b]
}
func (c *fakeCooldowns) Set(b string, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.until[b] = until
	c.sets++
}

func TestSharedCooldowns(t *testing.T) {
	cd := &fakeCooldowns{until: map[string]time.Time{}}
	h := newHarness(t, Options{Cooldowns: cd}, nil, nil, "a:m", "b:m")
	h.senders["a"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
		r := jsonResponse(ctx, 429, `{"error":{"message":"slow down"}}`)
		r.Header = append(r.Header, upstream.Field{Name: "Retry-After", Value: "30"})
		return r, nil
	}
	h.senders["b"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
		return jsonResponse(ctx, 200, `{"choices":[]}`), nil
	}
	if resp := h.proxy.Forward(context.Background(), request("m", false)); resp.Status != 200 {
		t.Fatalf("got %d, want b's 200 after a's 429", resp.Status)
	}
	if got := cd.Until("a"); !got.Equal(h.clk.Now().Add(30*time.Second)) || cd.sets != 1 {
		t.Errorf("shared cooldown of a: %v (%d sets), want now+30s once", got, cd.sets)
	}
	// b cools down on another replica: this one skips it too.
	cd.Set("b", h.clk.Now().Add(10*time.Second))
	req := request("m", false)
	resp := h.proxy.Forward(context.Background(), req)
	if resp.Status != 429 || req.Record.ErrorKind != "backends_rate_limited" {
		t.Fatalf("both cooling down: got %d %s, want 429", resp.Status, req.Record.ErrorKind)
	}
	if h.senders["b"].Calls() != 1 {
		t.Errorf("b was called %d times, want once (its shared cooldown kept it out)", h.senders["b"].Calls())
	}
}
