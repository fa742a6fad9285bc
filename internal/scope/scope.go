// Package scope provides Scope, a cancellable context.Context for the
// request path that costs one allocation to create and none to cancel or to
// watch.
//
// context.WithCancelCause and context.AfterFunc allocate a context, a done
// channel, a children map in the parent and a closure on every request and
// every attempt: about a dozen allocations before a byte is proxied. A Scope
// makes its done channel only when Done is called (the request path never
// does; a Redis call or a retry back-off may), keeps its children and
// watchers in a small inline array, and runs Hooks (interfaces implemented
// by objects that already exist, such as a pooled connection) instead of
// closures.
//
// A Scope's cause is read with Cause, not context.Cause: the standard
// library cannot see the cause of a context type it does not own, and
// context.Cause(s) returns s.Err().
package scope

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A Hook is told, once, that the Scope it is registered with ended.
type Hook interface {
	// Cancel runs on the goroutine that cancelled the Scope, with the
	// Scope's cause; it must not block.
	Cancel(cause error)
}

// inlineHooks is how many hooks a Scope holds without allocating: the
// request path registers one child attempt, and the attempt one upstream
// connection.
const inlineHooks = 2

// Scope is a context.Context ended by Cancel, by its parent ending, or
// never. The zero Scope is not usable; make one with New.
type Scope struct {
	parent context.Context
	stop   func() bool // undoes the watch of a parent that is not a *Scope; nil otherwise

	ended atomic.Bool
	mu    sync.Mutex
	cause error
	done  chan struct{} // made by the first Done, closed by Cancel
	hooks [inlineHooks]Hook
	more  []Hook
}

// closedDone is the Done channel of a Scope that ended before anyone asked.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// New returns a Scope that ends when parent does, or when cancelled. A
// *Scope parent is watched through a Hook (no allocation); any other parent
// that can end is watched with context.AfterFunc.
func New(parent context.Context) *Scope {
	s := &Scope{parent: parent}
	switch p := parent.(type) {
	case *Scope:
		if !p.Watch(s) {
			s.Cancel(p.Cause())
		}
	default:
		if parent.Done() != nil {
			s.stop = context.AfterFunc(parent, func() { s.Cancel(context.Cause(parent)) })
		}
	}
	return s
}

// Cancel ends s with cause (context.Canceled when nil) and runs its hooks,
// including the Scopes made from it. Only the first call has an effect.
func (s *Scope) Cancel(cause error) {
	if cause == nil {
		cause = context.Canceled
	}
	s.mu.Lock()
	if s.cause != nil {
		s.mu.Unlock()
		return
	}
	s.cause = cause
	s.ended.Store(true)
	if s.done != nil {
		close(s.done)
	} else {
		s.done = closedDone
	}
	hooks := s.hooks
	more := s.more
	s.hooks, s.more = [inlineHooks]Hook{}, nil
	s.mu.Unlock()
	for _, h := range hooks {
		if h != nil {
			h.Cancel(cause)
		}
	}
	for _, h := range more {
		if h != nil {
			h.Cancel(cause)
		}
	}
}

// Release detaches s from its parent once s is no longer used, so that a
// long-lived parent does not keep it. It does not end s.
func (s *Scope) Release() {
	switch p := s.parent.(type) {
	case *Scope:
		p.Unwatch(s)
	default:
		if s.stop != nil {
			s.stop()
		}
	}
}

// Watch registers h to be told when s ends. It reports false, without
// registering h, when s has already ended.
func (s *Scope) Watch(h Hook) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cause != nil {
		return false
	}
	for i, x := range s.hooks {
		if x == nil {
			s.hooks[i] = h
			return true
		}
	}
	for i, x := range s.more {
		if x == nil {
			s.more[i] = h
			return true
		}
	}
	s.more = append(s.more, h)
	return true
}

// Unwatch removes h. It reports false when h was not registered, which
// after a successful Watch means that s ended and h was (or is being) told.
func (s *Scope) Unwatch(h Hook) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.hooks {
		if x == h {
			s.hooks[i] = nil
			return true
		}
	}
	for i, x := range s.more {
		if x == h {
			s.more[i] = nil
			return true
		}
	}
	return false
}

// Cause returns why s ended, or nil while it has not.
func (s *Scope) Cause() error {
	if !s.ended.Load() {
		return nil
	}
	return s.cause // written once, before ended was set
}

// Deadline returns the parent's deadline: a Scope adds none of its own.
func (s *Scope) Deadline() (time.Time, bool) { return s.parent.Deadline() }

// Done returns a channel closed when s ends. It is made on the first call.
func (s *Scope) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// Err returns nil while s has not ended; after, context.DeadlineExceeded
// when that is its cause (its parent's deadline passed), and
// context.Canceled for any other cause, as context.WithCancelCause does.
func (s *Scope) Err() error {
	if !s.ended.Load() {
		return nil
	}
	if s.cause == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// AfterFunc arranges for f to run in its own goroutine when s ends, as
// context.AfterFunc does; context.WithCancel and context.AfterFunc use it
// to watch a Scope without a goroutine. stop reports whether it kept f
// from running.
func (s *Scope) AfterFunc(f func()) (stop func() bool) {
	h := &funcHook{f: f}
	if !s.Watch(h) {
		go f()
		return func() bool { return false }
	}
	return func() bool { return s.Unwatch(h) }
}

type funcHook struct{ f func() }

func (h *funcHook) Cancel(error) { go h.f() }

// Value returns the parent's value for key.
func (s *Scope) Value(key any) any { return s.parent.Value(key) }

// Cancel makes a *Scope a Hook of its parent.
var _ Hook = (*Scope)(nil)

// Cause returns why ctx ended: a Scope's cause, or context.Cause for any
// other context.
func Cause(ctx context.Context) error {
	if s, ok := ctx.(*Scope); ok {
		return s.Cause()
	}
	return context.Cause(ctx)
}
