package proxy

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/resilience"
	"github.com/continuumhq/continuum/internal/scope"
	"github.com/continuumhq/continuum/internal/upstream"
)

// maxErrorBody bounds how much of a backend's error answer is kept to pass on.
const maxErrorBody = 1 << 20

// failure is why one attempt did not commit.
type failure struct {
	kind      string             // metric label: connect, read, status_503, timeout_first_token…
	detail    string             // cause for logs; may name backend addresses, never sent to clients
	message   string             // cause for the client; "" means detail (which then holds nothing private)
	status    int                // status to answer if this is the last failure
	passOn    *exchange.Response // the backend's own answer to pass on, if any
	immediate bool               // fail over without waiting for the retry delay
	final     bool               // never retry (a backend's 4xx, a gone client)
	capacity  bool               // the backend asked for a pause (429, 503 with Retry-After)
	stale     bool               // a pooled connection the backend had closed; not its failure
	outcome   resilience.Outcome // what the attempt counts as for breaker and health
}

// response turns the last failure into the client's answer.
func (fl *failure) response(rec *exchange.Record) *exchange.Response {
	rec.ErrorKind, rec.ErrorDetail = fl.kind, fl.detail
	if fl.passOn != nil {
		return fl.passOn
	}
	msg := fl.message
	if msg == "" {
		msg = fl.detail
	}
	return errorResponse(fl.status, openai.ErrorForStatus(fl.status, msg), 0)
}

// transportMessage is what a client is told about a transport failure of
// kind: never the error itself, which names backend addresses.
func transportMessage(kind upstream.ErrorKind) string {
	switch kind {
	case upstream.KindConnect:
		return "the backend could not be reached"
	case upstream.KindWrite:
		return "the connection to the backend failed while sending the request"
	case upstream.KindProtocol:
		return "the backend sent a malformed answer"
	}
	return "the connection to the backend failed before a complete answer"
}

// attempt is one try on one backend.
type attempt struct {
	f      *forwarding
	t      *Target
	permit resilience.Permit
	start  time.Time
	ctx    *scope.Scope // ended with the cause when a deadline passes
	done   bool

	// One timer serves every deadline of the attempt: it fires at the
	// earliest, and fire works out which one passed. The idle deadline moves
	// with every stream event (lastEvent) without resetting the timer: a
	// timer that fires early just re-arms itself.
	mu    sync.Mutex
	timer clock.Timer
	due   time.Time // when the timer fires; zero when it is not set
	// loose is set once the timer fired, or may yet fire, for this
	// attempt: its request state is then not reused (see end).
	loose      bool
	firstToken time.Time // until commit; zero = none
	attemptEnd time.Time // the backend's request.timeout; zero = none
	committed  bool
	lastEvent  atomic.Int64 // unix nanoseconds on the proxy's clock
	// writeStart is when the write to the client in progress began (zero
	// when none is). While a write blocks, the idle deadline does not run:
	// a client that reads slowly is not the backend's fault.
	writeStart time.Time
	// abortWrite unblocks the write in progress (nil when the listener
	// cannot); slowClient records why it was called.
	abortWrite exchange.WriteAborter
	slowClient error

	// rl carries the answer to the client; openai is the relay of the
	// common case, kept here to save an allocation.
	rl     relay
	openai passOpenAI
	// charge is the token reservation on this attempt's backend (nil when
	// it has no token limit): refunded when the attempt fails.
	charge exchange.Charge
}

func (f *forwarding) attempt(t *Target, permit resilience.Permit, model string) (*exchange.Response, *failure) {
	// Wall time, not the injected clock: this measures where real time goes.
	waitStart := time.Now()
	defer func() { f.rec.Waited += time.Since(waitStart) }()
	var a *attempt
	if f.attempts == 0 {
		a = &f.first
	} else {
		a = new(attempt)
	}
	f.attempts++
	a.f, a.t, a.permit, a.start = f, t, permit, f.p.clk.Now()
	a.charge, f.charge = f.charge, nil
	a.rl = &a.openai // until the plan says otherwise
	a.ctx = scope.New(f.parent)
	t.Backend.State.Acquire()
	if t.FirstTokenTimeout > 0 {
		a.firstToken = a.start.Add(t.FirstTokenTimeout)
	}
	if t.Timeout > 0 {
		a.attemptEnd = a.start.Add(t.Timeout)
	}
	a.arm()

	p, fl := a.plan(model)
	if fl != nil {
		return nil, a.fail(fl)
	}
	a.rl = p.rl
	f.hdr[0] = upstream.Field{Name: "Content-Type", Value: "application/json"}
	f.hdr[1] = upstream.Field{Name: "X-Request-Id", Value: f.req.RequestID}
	header := f.hdr[:2]
	if f.req.ForwardedFor != "" {
		f.hdr[2] = upstream.Field{Name: "X-Forwarded-For", Value: f.req.ForwardedFor}
		header = f.hdr[:3]
	}
	if len(p.header) > 0 {
		header = append(header[:len(header):len(header)], p.header...)
	}
	req := &f.ureq
	*req = upstream.Request{Path: p.path, Header: header, Body: p.body}
	if p.forward {
		req.Forward = f.req.Forward
	}
	resp, err := t.Sender.Do(a.ctx, req)
	if err != nil {
		return nil, a.fail(a.transportFailure(err))
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, a.fail(a.statusFailure(resp))
	}
	if f.req.Fields.Stream && isEventStream(resp.Header) {
		return a.openStream(resp)
	}
	return a.readWhole(resp)
}

// next returns the earliest pending deadline (zero when none). a.mu is held.
func (a *attempt) next(now time.Time) time.Time {
	var at time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	earlier(a.f.deadline)
	earlier(a.attemptEnd)
	switch idle := a.t.IdleTimeout; {
	case !a.committed:
		earlier(a.firstToken)
	case !a.writeStart.IsZero():
		// Blocked on the client: its write timeout applies, and the idle
		// deadline is looked at again later.
		if cwt := a.f.snap.opts.ClientWriteTimeout; cwt > 0 {
			earlier(a.writeStart.Add(cwt))
		}
		if idle > 0 {
			earlier(now.Add(idle))
		}
	case idle > 0:
		earlier(time.Unix(0, a.lastEvent.Load()).Add(idle))
	}
	return at
}

// arm sets the timer for the earliest pending deadline.
func (a *attempt) arm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return
	}
	now := a.f.p.clk.Now()
	a.setTimerLocked(now, a.next(now))
}

// setTimerLocked makes the timer fire at at (never, when at is zero).
// a.mu is held.
func (a *attempt) setTimerLocked(now, at time.Time) {
	if at.IsZero() {
		if !a.due.IsZero() && !a.timer.Stop() {
			a.loose = true
		}
		a.due = at
		return
	}
	a.due = at
	d := at.Sub(now)
	if a.timer == nil {
		a.timer = a.f.p.clk.AfterFunc(d, a.fire)
		return
	}
	a.timer.Reset(d)
}

// fire runs when the timer expires: it cancels the attempt with the cause
// of the deadline that passed, or re-arms when the idle deadline moved. A
// deadline that passes while a write to the client blocks also unblocks
// that write, and is the client's doing, not the backend's.
func (a *attempt) fire() {
	a.mu.Lock()
	a.loose = true
	now := a.f.p.clk.Now()
	writing := !a.writeStart.IsZero()
	var cause error
	switch {
	case !a.f.deadline.IsZero() && !now.Before(a.f.deadline):
		cause = errTotal
	case !a.attemptEnd.IsZero() && !now.Before(a.attemptEnd):
		cause = errAttempt
	case !a.committed && !a.firstToken.IsZero() && !now.Before(a.firstToken):
		cause = errFirstToken
	case writing:
		if cwt := a.f.snap.opts.ClientWriteTimeout; cwt > 0 && now.Sub(a.writeStart) >= cwt {
			cause = errClientWrite
		}
	case a.committed && a.t.IdleTimeout > 0 && now.Sub(time.Unix(0, a.lastEvent.Load())) >= a.t.IdleTimeout:
		cause = errIdle
	}
	if cause != nil && writing {
		a.slowClient = cause
		if a.abortWrite != nil {
			a.abortWrite.AbortWrite()
		}
	}
	a.mu.Unlock()
	if cause != nil {
		a.ctx.Cancel(cause)
		return
	}
	a.arm()
}

// writing marks the start (at a non-zero time) or the end (at zero) of a
// write to the client; it reports false when the write must not go on
// because a deadline passed while the previous one blocked.
func (a *attempt) writing(at time.Time) bool {
	a.mu.Lock()
	a.writeStart = at
	stop := a.slowClient != nil
	// The timer usually fires later than the write timeout would (at the
	// idle deadline); only when it would not is it moved earlier.
	if cwt := a.f.snap.opts.ClientWriteTimeout; cwt > 0 && !at.IsZero() && !a.done && !stop {
		if end := at.Add(cwt); a.due.IsZero() || end.Before(a.due) {
			a.setTimerLocked(at, end)
		}
	}
	a.mu.Unlock()
	return !stop
}

// commit marks the commit point: the first-token deadline no longer
// applies, and for streams the idle deadline starts.
func (a *attempt) commit(now time.Time) {
	a.mu.Lock()
	a.committed = true
	a.lastEvent.Store(now.UnixNano())
	a.mu.Unlock()
	a.arm()
}

func isEventStream(h upstream.Header) bool {
	return strings.HasPrefix(strings.ToLower(h.Get("Content-Type")), "text/event-stream")
}

// readWhole reads a non-streaming answer completely before committing it,
// so that a failure while reading can still fail over.
func (a *attempt) readWhole(resp *upstream.Response) (*exchange.Response, *failure) {
	max := a.f.snap.opts.MaxResponseBytes
	body, err := readBody(resp, max)
	resp.Body.Close()
	if err != nil {
		if err == errTooLarge {
			return nil, a.fail(&failure{kind: "response_too_large", detail: fmt.Sprintf("response larger than %d bytes", max), status: 502, final: true})
		}
		return nil, a.fail(a.transportFailure(err))
	}
	body, u, err := a.rl.whole(body)
	if err != nil {
		return nil, a.fail(&failure{kind: "protocol", detail: "backend answer not understood: " + err.Error(),
			message: "the backend sent a malformed answer", status: 502})
	}
	rec := a.f.rec
	rec.TTFT = a.f.p.clk.Now().Sub(a.f.start)
	if u.ok {
		rec.Prompt, rec.Completion, rec.HasUsage = u.prompt, u.completion, true
	}
	a.t.Backend.State.ObserveLatency(a.f.p.clk.Now().Sub(a.start))
	a.permit.Commit()
	a.f.committed, a.f.charge = true, a.charge
	a.end(resilience.Success, "")
	return &exchange.Response{Status: resp.Status, Header: a.answerHeaders(resp.Header, false), Body: body, Backend: a.t.Backend.Name}, nil
}

// openStream reads events until the first one with content (the commit
// point). Events before it (a role announcement, keep-alive comments) are
// held and sent with it.
func (a *attempt) openStream(resp *upstream.Response) (*exchange.Response, *failure) {
	r := openai.NewReader(resp.Body, 0)
	var held []byte
	for {
		ev, err := r.Next()
		if err != nil {
			resp.Body.Close()
			if err == io.EOF {
				return nil, a.fail(&failure{kind: "empty_stream", detail: "stream ended before any content", status: 502})
			}
			return nil, a.fail(a.transportFailure(err))
		}
		var sig signal
		held, sig = a.rl.event(held, ev, false)
		switch {
		case sig.failed && sig.capacity:
			// A busy backend (Anthropic's overloaded_error): rest it and
			// fail over at once, as after a 429.
			resp.Body.Close()
			a.coolDown(a.f.p.clk.Now().Add(a.f.snap.opts.DefaultCooldown), true)
			return nil, a.fail(&failure{kind: "stream_overloaded", detail: "backend sent an error event: " + sig.message,
				message: "the backend is overloaded", status: 503, immediate: true, capacity: true, outcome: resilience.Capacity,
				passOn: a.streamErrorAnswer(sig)})
		case sig.failed:
			resp.Body.Close()
			return nil, a.fail(&failure{kind: "stream_error", detail: "backend sent an error event: " + sig.message,
				message: "the backend sent an error event before any content", status: 502})
		case sig.done:
			resp.Body.Close()
			return nil, a.fail(&failure{kind: "empty_stream", detail: "stream ended before any content", status: 502})
		case !sig.content:
			continue
		}
		// Commit point.
		now := a.f.p.clk.Now()
		a.commit(now)
		a.f.rec.TTFT = now.Sub(a.f.start)
		a.t.Backend.State.ObserveLatency(now.Sub(a.start))
		a.permit.Commit()
		a.f.committed, a.f.charge = true, a.charge
		if sig.usage.ok {
			a.f.rec.Prompt, a.f.rec.Completion, a.f.rec.HasUsage = sig.usage.prompt, sig.usage.completion, true
		}
		s := &stream{a: a, rl: a.rl, body: resp.Body, r: r, held: held, streamed: 1}
		if c := a.f.req.Charge; c != nil {
			s.reserved = c.Reserved()
		}
		return &exchange.Response{Status: resp.Status, Header: a.answerHeaders(resp.Header, true), Stream: s, Backend: a.t.Backend.Name}, nil
	}
}

// transportFailure classifies an error from sending or reading.
func (a *attempt) transportFailure(err error) *failure {
	cause := a.ctx.Cause()
	switch {
	case a.f.parent.Err() != nil:
		return cancelled(a.f.parent)
	case errors.Is(cause, errTotal):
		return &failure{kind: "timeout_total", detail: errTotal.Error(), status: 504, final: true}
	case errors.Is(cause, errFirstToken):
		return &failure{kind: "timeout_first_token", detail: errFirstToken.Error(), status: 504}
	case errors.Is(cause, errAttempt):
		return &failure{kind: "timeout_attempt", detail: errAttempt.Error(), status: 504}
	}
	if upstream.IsStale(err) {
		// The request went out on a pooled connection the backend had
		// closed while idle: retried at once (a counted attempt, within the
		// budget), on this backend too, and not held against it.
		return &failure{kind: "stale_connection", detail: err.Error(), message: transportMessage(upstream.KindRead),
			status: 502, immediate: true, stale: true, outcome: resilience.Ignored}
	}
	kind := upstream.KindOf(err)
	if kind == "" {
		kind = upstream.KindRead
	}
	return &failure{kind: string(kind), detail: err.Error(), message: transportMessage(kind), status: 502, immediate: kind == upstream.KindConnect}
}

// statusFailure classifies a non-2xx answer and keeps it to pass on.
func (a *attempt) statusFailure(resp *upstream.Response) *failure {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	now := a.f.p.clk.Now()
	ra, raOK := resilience.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	outcome := resilience.ClassifyStatus(resp.Status, raOK)
	status, passBody, ue := a.rl.upstreamError(resp.Status, body)
	if ue != nil {
		// The backend's API says what its error is (Anthropic's 529
		// overloaded is capacity; a spend limit is final).
		switch {
		case ue.Capacity:
			outcome = resilience.Capacity
		case ue.Final && !ue.SpendLimit:
			outcome = resilience.Ignored
		case ue.SpendLimit:
			outcome = resilience.Failure
		}
	}
	pass := &exchange.Response{Status: status, Header: passHeaders(resp.Header), Body: passBody, Backend: a.t.Backend.Name}
	if ue != nil || resp.Status >= 500 { // a 5xx is passed on in an envelope, possibly the router's
		pass.Header = withContentType(pass.Header)
	}
	pass.Header = a.rateHeaders(pass.Header, resp.Header)
	fl := &failure{kind: "status_" + strconv.Itoa(resp.Status), detail: fmt.Sprintf("backend answered %d", resp.Status), status: status, passOn: pass}
	if ue != nil && ue.SpendLimit {
		fl.final = true
	}
	switch outcome {
	case resilience.Capacity:
		if !raOK {
			ra = a.f.snap.opts.DefaultCooldown
		}
		a.coolDown(now.Add(ra), resp.Status != 429)
		fl.immediate, fl.capacity = true, true
	case resilience.Ignored:
		fl.final = true
	}
	if (resp.Status == 503 || resp.Status == 529) && !raOK {
		pass.Header = append(pass.Header, exchange.Field{Name: "Retry-After", Value: "1"})
	}
	fl.outcome = outcome
	return fl
}

// coolDown rests the attempt's backend until the given time, on every
// replica when cooldowns are shared; overloaded says why (see
// backend.State.CoolDown).
func (a *attempt) coolDown(until time.Time, overloaded bool) {
	a.t.Backend.State.CoolDown(until, overloaded)
	if c := a.f.snap.opts.Cooldowns; c != nil {
		c.Set(a.t.Backend.Name, until)
	}
}

// fail ends the attempt with a failure and returns it.
func (a *attempt) fail(fl *failure) *failure {
	if a.charge != nil { // nothing reached the client: the backend's tokens go back
		a.charge.Refund()
		a.charge = nil
	}
	if fl.passOn == nil && !fl.stale { // a transport or stream failure
		fl.outcome = resilience.Failure
		if fl.final { // the client left or the request's own time ran out
			fl.outcome = resilience.Ignored
		}
	}
	a.end(fl.outcome, fl.kind)
	return fl
}

// end finishes the attempt exactly once: in-flight count, breaker, passive
// health, error rate and the observer.
func (a *attempt) end(outcome resilience.Outcome, kind string) {
	a.mu.Lock()
	if a.done {
		a.mu.Unlock()
		return
	}
	a.done = true
	if a.loose || !a.due.IsZero() && !a.timer.Stop() {
		a.f.reusable = false // the timer fired or is firing: it refers to a
	}
	a.mu.Unlock()
	a.ctx.Cancel(nil)
	a.ctx.Release()
	st := a.t.Backend.State
	st.Release()
	a.permit.Done(outcome)
	switch outcome {
	case resilience.Success, resilience.Failure:
		ok := outcome == resilience.Success
		st.ObserveResult(!ok)
		if a.t.Health != nil {
			a.t.Health.Passive(ok)
		}
	}
	a.f.p.observer.AttemptDone(a.t.Backend.Name, outcome, kind)
}

var errTooLarge = errors.New("response too large")

// readBody reads a whole response body of at most max bytes. The buffer
// grows as bytes arrive: a Content-Length only bounds it and sizes the first
// allocation (at most initialBody), so a backend that announces a huge body
// and sends little costs little.
func readBody(resp *upstream.Response, max int64) ([]byte, error) {
	limit, want := max, int64(-1)
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			if n > max {
				return nil, errTooLarge
			}
			limit, want = n, n
		}
	}
	buf := make([]byte, 0, min(limit+1, initialBody))
	for want < 0 || int64(len(buf)) < want {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(int64(cap(buf)), limit+1-int64(len(buf)))))
		}
		n, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			if want >= 0 && int64(len(buf)) < want {
				return nil, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// initialBody is the largest first allocation for a response body.
const initialBody = 64 << 10

// passHeaders keeps the backend's end-to-end response headers. A backend's
// own request id (Anthropic's request-id) goes on as X-Upstream-Request-Id,
// whatever the client's API: the client's request id is the router's.
func passHeaders(h upstream.Header) []exchange.Field {
	out := make([]exchange.Field, 0, len(h))
	for _, f := range h {
		if upstream.ReturnableHeader(f.Name) {
			name := f.Name
			if len(name) == len("request-id") && strings.EqualFold(name, "request-id") {
				name = "X-Upstream-Request-Id"
			}
			out = append(out, exchange.Field{Name: name, Value: f.Value})
		}
	}
	return out
}

// errorResponse is a router-made answer in the OpenAI envelope. A positive
// retryAfter (or any 429/503) adds Retry-After in whole seconds, at least 1.
func errorResponse(status int, e openai.Error, retryAfter time.Duration) *exchange.Response {
	r := &exchange.Response{Status: status, Body: e.JSON(), Header: []exchange.Field{{Name: "Content-Type", Value: "application/json"}}}
	if retryAfter > 0 || status == 429 || status == 503 {
		secs := int64((retryAfter + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		r.Header = append(r.Header, exchange.Field{Name: "Retry-After", Value: strconv.FormatInt(secs, 10)})
	}
	return r
}

func routerError(status int, msg string) *exchange.Response {
	return errorResponse(status, openai.ErrorForStatus(status, msg), 0)
}

func noBackend(model string, wait time.Duration) *exchange.Response {
	return errorResponse(503, openai.ErrorForStatus(503, "no backend is available for model `"+model+"`; try again later"), wait)
}

// withContentType makes a translated error answer's Content-Type JSON,
// whatever the backend's was.
func withContentType(h []exchange.Field) []exchange.Field {
	out := h[:0]
	for _, f := range h {
		if !strings.EqualFold(f.Name, "Content-Type") && !strings.EqualFold(f.Name, "Content-Length") {
			out = append(out, f)
		}
	}
	return append(out, exchange.Field{Name: "Content-Type", Value: "application/json"})
}

// answerHeaders are the response header fields of a committed answer: the
// backend's own, and, for a translated answer, the client API's content
// type and the parameters the backend could not take.
func (a *attempt) answerHeaders(h upstream.Header, stream bool) []exchange.Field {
	out := passHeaders(h)
	if _, ok := a.rl.(*translated); !ok {
		return out
	}
	ct := "application/json"
	if stream {
		ct = "text/event-stream"
	}
	out = withContentType(out)
	out[len(out)-1].Value = ct
	if f, ok := droppedHeader(a.rl); ok {
		out = append(out, f)
	}
	return a.rateHeaders(out, h)
}

// rateHeaders adds the client API's rate-limit fields derived from a
// translated answer's (ratelimit.go): OpenAI's for an OpenAI client of an
// Anthropic backend, Anthropic's for an Anthropic client of an
// OpenAI-compatible one.
func (a *attempt) rateHeaders(out []exchange.Field, h upstream.Header) []exchange.Field {
	if _, ok := a.rl.(*translated); !ok {
		return out
	}
	client, backendAPI := a.f.req.API.Anthropic(), a.t.Backend.Type.Protocol()
	switch {
	case !client && backendAPI == backend.ProtocolAnthropic:
		return withDerivedRateHeaders(out, h, false, a.f.p.clk.Now())
	case client && backendAPI == backend.ProtocolOpenAI:
		return withDerivedRateHeaders(out, h, true, a.f.p.clk.Now())
	}
	return out
}

// The error type and code of a 503 because backends are overloaded, as
// Anthropic's overloaded_error reaches OpenAI clients.
const (
	typeOverloaded = "overloaded_error"
	codeOverloaded = "overloaded"
)

// streamErrorAnswer is the answer to pass on when a busy backend's stream
// error is the request's last failure: 503 in the client's format.
func (a *attempt) streamErrorAnswer(sig signal) *exchange.Response {
	e := openai.NewError(typeOverloaded, codeOverloaded, "", sig.message)
	status, body := renderError(a.f.req.API, 503, e)
	return &exchange.Response{Status: status, Body: body, Backend: a.t.Backend.Name,
		Header: []exchange.Field{{Name: "Content-Type", Value: "application/json"}, {Name: "Retry-After", Value: "1"}}}
}
