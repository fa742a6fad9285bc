package cache

import (
	"context"
	"sync"

	"github.com/continuumhq/continuum/internal/scope"
)

// Group makes concurrent identical requests share one call. The zero value
// is ready to use; a Group must not be copied after first use.
type Group struct {
	mu    sync.Mutex
	calls map[Key]*call
}

// call is one call in flight and the callers waiting for it.
type call struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	waiters int
	done    chan struct{}
	entry   *Entry
}

// Do returns the answer for key. When no call for key is in flight, the
// caller (the leader) runs fn and gets its answer with shared false. When
// one is, the caller waits for it and gets the same entry with shared true;
// a waiter whose ctx ends first gets nil.
//
// fn runs on the leader's goroutine with a context of its own, which keeps
// the values of the leader's ctx and is cancelled only once every caller
// waiting for the call (the leader included) has gone, with the cause of
// the last one's ctx: a leader whose client leaves keeps the call going for
// the others. Once every caller has gone, the call is no longer joined:
// an identical request arriving then starts a new one.
//
// joined, when not nil, is called by a caller that is about to wait for a
// call in flight.
func (g *Group) Do(ctx context.Context, key Key, fn func(ctx context.Context) *Entry, joined func()) (e *Entry, shared bool) {
	g.mu.Lock()
	if c, ok := g.calls[key]; ok {
		c.waiters++
		g.mu.Unlock()
		if joined != nil {
			joined()
		}
		stop := context.AfterFunc(ctx, func() { g.leave(ctx, key, c) })
		select {
		case <-c.done:
			stop()
			return c.entry, true
		case <-ctx.Done():
			return nil, true
		}
	}
	if g.calls == nil {
		g.calls = map[Key]*call{}
	}
	c := &call{waiters: 1, done: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	g.calls[key] = c
	g.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { g.leave(ctx, key, c) })
	e = fn(c.ctx)
	stop()
	g.mu.Lock()
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	c.entry = e
	g.mu.Unlock()
	close(c.done)
	c.cancel(nil)
	return e, false
}

// leave records that a caller of c went away (its ctx ended); the last one
// cancels the call.
func (g *Group) leave(ctx context.Context, key Key, c *call) {
	g.mu.Lock()
	c.waiters--
	last := c.waiters == 0
	if last && g.calls[key] == c {
		delete(g.calls, key)
	}
	g.mu.Unlock()
	if last {
		c.cancel(scope.Cause(ctx))
	}
}

// InFlight returns the number of calls in flight and the callers waiting
// for them, the leaders included.
func (g *Group) InFlight() (calls, waiters int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.calls {
		calls++
		waiters += c.waiters
	}
	return calls, waiters
}
