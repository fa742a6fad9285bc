package proxy

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/resilience"
)

// ErrStreamAborted is returned by a Stream's WriteTo when the stream failed
// after the commit point. An SSE error event has been written; the listener
// must close the connection without ending the body.
var ErrStreamAborted = errors.New("stream aborted after commit")

// stream relays a committed event stream. It implements exchange.Stream.
type stream struct {
	a         *attempt
	body      io.ReadCloser
	r         *openai.Reader
	held      []byte
	sawFinish bool
	ended     bool
}

// WriteTo writes the held events, then relays every further event as it
// arrives, writing once per burst of events already received.
func (s *stream) WriteTo(w io.Writer) (int64, error) {
	a := s.a
	idle := a.t.IdleTimeout > 0
	if ab, ok := w.(exchange.WriteAborter); ok {
		a.mu.Lock()
		a.abortWrite = ab
		a.mu.Unlock()
	}

	var written int64
	out := s.held
	s.held = nil
	for {
		if len(out) > 0 && !s.r.Ready() {
			n, err := s.write(w, out)
			written += int64(n)
			if err != nil {
				return written, s.clientGone(err)
			}
			out = out[:0]
		}
		ev, err := s.r.Next()
		if err != nil {
			if len(out) > 0 {
				n, werr := s.write(w, out)
				written += int64(n)
				if werr != nil {
					return written, s.clientGone(werr)
				}
			}
			n, err := s.failed(w, err)
			return written + n, err
		}
		if idle {
			a.lastEvent.Store(a.f.p.clk.Now().UnixNano())
		}
		out = append(out, ev.Raw...)
		if ev.IsDone() {
			n, err := s.write(w, out)
			written += int64(n)
			if err != nil {
				return written, s.clientGone(err)
			}
			s.drain()
			s.end(resilience.Success, "")
			return written, nil
		}
		if !s.sawFinish && hasFinish(ev.Data) {
			s.sawFinish = true
		}
		if openai.MayHaveUsage(ev.Data) {
			if u, ok := openai.ParseUsage(ev.Data); ok {
				rec := a.f.rec
				rec.Prompt, rec.Completion, rec.HasUsage = u.PromptTokens, u.CompletionTokens, true
			}
		}
	}
}

// write sends out to the client. The time it blocks is the client's: the
// idle deadline does not run meanwhile and starts again when it returns,
// and the client write timeout bounds it.
func (s *stream) write(w io.Writer, out []byte) (int, error) {
	a := s.a
	clk := a.f.p.clk
	if !a.writing(clk.Now()) {
		return 0, errClientWrite
	}
	n, err := w.Write(out)
	now := clk.Now()
	ok := a.writing(time.Time{})
	if a.t.IdleTimeout > 0 {
		a.lastEvent.Store(now.UnixNano())
	}
	if err == nil && !ok {
		err = errClientWrite // a deadline passed while this write blocked
	}
	return n, err
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
func (s *stream) failed(w io.Writer, err error) (int64, error) {
	a := s.a
	if err == io.EOF && s.sawFinish {
		// The backend finished its answer but did not send [DONE]: the
		// answer is whole; end the stream as the backend did.
		s.end(resilience.Success, "")
		return 0, nil
	}
	if a.f.parent.Err() != nil {
		if !errors.Is(context.Cause(a.f.parent), exchange.ErrShutdown) {
			a.f.rec.ErrorKind = "client_cancel"
			s.end(resilience.Ignored, "client_cancel")
			return 0, errClientGone
		}
		// The grace period of a shutdown is over: the client is still
		// there and is told why its stream ends.
		e := openai.NewError(openai.TypeServer, "stream_interrupted", "", "the router is shutting down; the stream was interrupted")
		n, _ := w.Write(append(append([]byte("data: "), e.JSON()...), "\n\n"...))
		a.f.rec.Aborted, a.f.rec.ErrorKind = true, "shutdown"
		s.end(resilience.Ignored, "shutdown")
		return int64(n), ErrStreamAborted
	}
	cause := context.Cause(a.ctx) // nil unless one of the proxy's timers fired
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
	e := openai.NewError(typ, "stream_interrupted", "", msg)
	ev := append(append([]byte("data: "), e.JSON()...), "\n\n"...)
	n, _ := w.Write(ev)
	a.f.rec.Aborted = true
	a.f.rec.ErrorKind = kind
	a.f.p.log.Warn("stream aborted after commit", "request_id", a.f.req.RequestID, "backend", a.t.Backend.Name, "error", kind)
	s.end(outcome, kind) // returns the request state to the pool: nothing may use a after this
	return int64(n), ErrStreamAborted
}

// clientGone ends the stream after a failed write to the client: the
// client went away, or stopped reading until a deadline passed. Either way
// it is not the backend's failure.
func (s *stream) clientGone(err error) error {
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
	a.cancel(errClientGone)
	a.f.rec.ErrorKind = kind
	if slow != nil {
		a.f.p.log.Warn("stream ended: the client stopped reading", "request_id", a.f.req.RequestID, "backend", a.t.Backend.Name, "error", kind)
	}
	s.end(resilience.Ignored, kind)
	return err
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
	s.a.f.release()
}

// Close releases the stream if WriteTo was never called.
func (s *stream) Close() {
	if !s.ended {
		s.a.f.rec.ErrorKind = "client_cancel"
		s.end(resilience.Ignored, "client_cancel")
	}
}
