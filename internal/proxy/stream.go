package proxy

import (
	"errors"
	"io"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/resilience"
	"github.com/continuumhq/continuum/internal/scope"
)

// stream relays a committed event stream. It implements exchange.Stream:
// the listener pulls bursts of events with Next and writes them; the time
// between two calls of Next is the client's, not the backend's.
type stream struct {
	a       *attempt
	rl      relay
	body    io.ReadCloser
	r       *openai.Reader
	held    []byte
	pending error // an upstream error met after a burst, handled on the next call
	handed  bool  // a burst is with the client (being written)
	ended   bool
	// streamed counts the output events relayed, the commit point's
	// included: the stream's output tokens when the backend reports no
	// usage (most servers send one token per event).
	streamed int64
	// reserved is what the call's token reservation holds (the estimate
	// plus granted top-ups); refused is set once a top-up was refused.
	reserved int64
	refused  bool
}

// Attach implements exchange.Stream.
func (s *stream) Attach(w exchange.WriteAborter) {
	s.a.mu.Lock()
	s.a.abortWrite = w
	s.a.mu.Unlock()
}

// Next implements exchange.Stream: it returns the held first events, then
// every burst of events already received, or the next one to arrive.
func (s *stream) Next(dst []byte) ([]byte, error) {
	if s.ended {
		return dst, io.EOF
	}
	a := s.a
	if s.handed {
		// The client took the last burst: its time is over.
		s.handed = false
		ok := a.writing(time.Time{})
		if a.t.IdleTimeout > 0 {
			a.lastEvent.Store(a.f.p.clk.Now().UnixNano())
		}
		if !ok {
			return dst, s.clientGone() // a deadline passed while the client blocked
		}
	}
	if s.pending != nil {
		err := s.pending
		s.pending = nil
		return s.failed(dst, err)
	}
	dst = append(dst, s.held...)
	s.held = nil
	for len(dst) == 0 || s.r.Ready() {
		ev, err := s.r.Next()
		if err != nil {
			if len(dst) > 0 {
				s.pending = err // deliver what came before the error first
				return s.hand(dst)
			}
			return s.failed(dst, err)
		}
		if a.t.IdleTimeout > 0 {
			a.lastEvent.Store(a.f.p.clk.Now().UnixNano())
		}
		var sig signal
		dst, sig = s.rl.event(dst, ev, true)
		if sig.failed {
			// The backend's own error event after the commit point
			// (translated streams): the client gets it in its format.
			return s.upstreamFailed(dst, sig)
		}
		if sig.usage.ok {
			rec := a.f.rec
			rec.Prompt, rec.Completion, rec.HasUsage = sig.usage.prompt, sig.usage.completion, true
		}
		if sig.done {
			s.drain()
			s.end(resilience.Success, "")
			return dst, io.EOF
		}
		s.streamed++
		if c := a.f.req.Charge; c != nil && !s.refused {
			s.grow(c, sig.usage)
		}
	}
	return s.hand(dst)
}

// grow reserves more tokens, a block at a time, while the stream's output
// (its usage so far, else its events) passes its reservation. Once a
// top-up is refused the stream goes on; its overrun is charged as debt when
// it is settled.
func (s *stream) grow(c exchange.Charge, u usage) {
	used := s.a.f.req.Estimate.Prompt + max(s.streamed, int64(u.completion))
	if u.ok {
		used = max(used, int64(u.prompt+u.completion))
	}
	for used > s.reserved {
		if !c.TopUp(topUpBlock) {
			s.refused = true
			return
		}
		s.reserved += topUpBlock
	}
}

// hand gives a burst to the client: from now until the next call of Next
// the idle deadline does not run, and the client write timeout does.
func (s *stream) hand(dst []byte) ([]byte, error) {
	if !s.a.writing(s.a.f.p.clk.Now()) {
		return dst[:0], s.clientGone()
	}
	s.handed = true
	return dst, nil
}

// drain reads what follows [DONE] up to the end of the body, so the
// connection can be reused; it is bounded by the idle timeout.
func (s *stream) drain() {
	for {
		if _, err := s.r.Next(); err != nil {
			return
		}
	}
}

// failed handles the end of the upstream stream by error or EOF.
func (s *stream) failed(dst []byte, err error) ([]byte, error) {
	a := s.a
	if err == io.EOF {
		var whole bool
		if dst, whole = s.rl.end(dst); whole {
			// The backend finished its answer without a completion marker:
			// the answer is whole; end the stream as the backend did.
			s.end(resilience.Success, "")
			return dst, io.EOF
		}
	}
	if a.f.parent.Err() != nil {
		if !errors.Is(scope.Cause(a.f.parent), exchange.ErrShutdown) {
			a.f.rec.ErrorKind = "client_cancel"
			s.end(resilience.Ignored, "client_cancel")
			return dst, errClientGone
		}
		// The grace period of a shutdown is over: the client is still
		// there and is told why its stream ends.
		dst = s.rl.fail(dst, openai.NewError(openai.TypeServer, "stream_interrupted", "", "the router is shutting down; the stream was interrupted"))
		a.f.rec.Aborted, a.f.rec.ErrorKind = true, "shutdown"
		s.end(resilience.Ignored, "shutdown")
		return dst, exchange.ErrStreamAborted
	}
	cause := a.ctx.Cause() // nil unless one of the proxy's timers fired
	kind, typ, msg, outcome := "read", openai.TypeUpstream, "the backend's stream was interrupted", resilience.Failure
	switch {
	case err == io.EOF:
		kind, msg = "truncated", "the backend ended the stream before the answer was complete"
	case errors.Is(cause, errIdle):
		kind, typ, msg = "timeout_idle", openai.TypeTimeout, "the backend sent nothing within idle_timeout"
	case errors.Is(cause, errTotal):
		kind, typ, msg, outcome = "timeout_total", openai.TypeTimeout, "the request exceeded its total timeout", resilience.Ignored
	case errors.Is(cause, errAttempt):
		kind, typ, msg = "timeout_attempt", openai.TypeTimeout, "the backend exceeded its request timeout"
	case errors.Is(err, openai.ErrEventTooLarge):
		kind, msg = "protocol", "the backend sent an oversized stream event"
	}
	dst = s.rl.fail(dst, openai.NewError(typ, "stream_interrupted", "", msg))
	a.f.rec.Aborted = true
	a.f.rec.ErrorKind = kind
	a.f.p.log.Warn("stream aborted after commit", "request_id", a.f.req.RequestID, "backend", a.t.Backend.Name, "error", kind)
	s.end(outcome, kind) // returns the request state to the pool: nothing may use a after this
	return dst, exchange.ErrStreamAborted
}

// upstreamFailed ends the stream after the backend sent an error event
// past the commit point: the client gets the error in its own format and
// no completion marker.
func (s *stream) upstreamFailed(dst []byte, sig signal) ([]byte, error) {
	a := s.a
	e := openai.NewError(openai.TypeUpstream, "stream_interrupted", "", sig.message)
	if u := sig.upstream; u != nil {
		e = u.OpenAI()
	}
	dst = s.rl.fail(dst, e)
	a.f.rec.Aborted, a.f.rec.ErrorKind = true, "stream_error"
	a.f.p.log.Warn("stream aborted after commit", "request_id", a.f.req.RequestID, "backend", a.t.Backend.Name, "error", "stream_error", "detail", sig.message)
	s.end(resilience.Failure, "stream_error")
	return dst, exchange.ErrStreamAborted
}

// clientGone ends the stream when the client went away, or stopped
// reading until a deadline passed. Either way it is not the backend's
// failure.
func (s *stream) clientGone() error {
	a := s.a
	a.mu.Lock()
	slow := a.slowClient
	a.mu.Unlock()
	kind := "client_cancel"
	switch slow {
	case errClientWrite:
		kind = "client_write_timeout"
	case errTotal:
		kind = "timeout_total"
	case errAttempt:
		kind = "timeout_attempt"
	}
	a.ctx.Cancel(errClientGone)
	a.f.rec.ErrorKind = kind
	if slow != nil {
		a.f.p.log.Warn("stream ended: the client stopped reading", "request_id", a.f.req.RequestID, "backend", a.t.Backend.Name, "error", kind)
	}
	s.end(resilience.Ignored, kind)
	return errClientGone
}

// end finishes the stream once: the upstream body is closed first, so a
// fully read connection returns to the pool, then the attempt and the request.
func (s *stream) end(outcome resilience.Outcome, kind string) {
	if s.ended {
		return
	}
	s.ended = true
	s.body.Close()
	s.a.end(outcome, kind)
	f := s.a.f
	settle(f.req, f.charge, true, s.streamed)
	f.release()
}

// Close implements exchange.Stream: a stream the listener stops reading
// (the client went away, or a write to it failed) ends here.
func (s *stream) Close() {
	if !s.ended {
		s.clientGone()
	}
}
