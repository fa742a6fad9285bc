// Package server is Continuum's public listener: it serves the routes of the
// registry (internal/endpoint) for every client API (OpenAI chat,
// completions, embeddings and responses; Anthropic messages), assigns
// request ids, enforces the body limit, turns each request into an
// exchange.Call, runs the admission stages the application gives it, and
// writes responses and streams back, errors in the client API's own format.
// It is built on fasthttp; a watcher on each connection cancels a request
// the moment its client goes away, even while the router is still waiting
// for a first token.
package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/continuumhq/continuum/internal/endpoint"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/scope"
)

// Forwarder serves an admitted call. *proxy.Proxy implements it. ctx is a
// *scope.Scope ended when the client goes away (errClientGone), the
// handler panics or a shutdown's grace period ends (exchange.ErrShutdown):
// read why with scope.Cause, as context.Cause cannot see a Scope's cause.
type Forwarder interface {
	Forward(ctx context.Context, c *exchange.Call) *exchange.Response
}

// Catalog lists the models clients may ask for.
type Catalog interface {
	Models() []openai.Model
}

// Observer is told about every finished request (access log, metrics).
type Observer interface {
	RequestDone(rec *exchange.Record)
}

// Settings are the listener's reloadable settings.
type Settings struct {
	// MaxBodySize bounds request bodies; larger ones get 413. Zero means 32 MiB.
	MaxBodySize int64
	// ExposeBackend adds X-Continuum-Backend to proxied responses.
	ExposeBackend bool
	// CORS, when Enabled, answers preflight requests and adds CORS headers.
	CORS CORS
	// ClientWriteTimeout bounds writing a whole answer that is not a stream
	// to a client (a stream's writes are bounded one by one by the proxy).
	// Zero means no limit.
	ClientWriteTimeout time.Duration
}

// CORS is the cross-origin policy.
type CORS struct {
	Enabled bool
	// AllowedOrigins lists allowed origins; "*" allows any.
	AllowedOrigins []string
	AllowedMethods []string
	// AllowedHeaders lists the request headers a preflight may ask for, in
	// any case: names, prefixes ending in "*" ("X-Stainless-*" allows every
	// header whose name starts with X-Stainless-), or "*" for any. Empty
	// allows any.
	AllowedHeaders   []string
	AllowCredentials bool
	MaxAge           time.Duration
}

// Gate admits requests up to a concurrency limit. *limit.Concurrency implements it.
type Gate interface {
	TryAcquire() bool
	Release()
}

// Deps are the listener's collaborators. Forwarder and Catalog are required.
type Deps struct {
	Forwarder Forwarder
	Catalog   Catalog
	// Ready reports whether at least one backend is usable (GET /ready). Nil means always ready.
	Ready func() bool
	// ReadyDetail appends members to the /ready JSON object after "status"
	// (each written ,"name":value). Nil means none.
	ReadyDetail func(dst []byte) []byte
	// Observer receives finished requests. Nil means none.
	Observer Observer
	// Extra serves paths the listener does not know (metrics, admin, docs).
	// It reports false when it does not serve the path either.
	Extra func(ctx *fasthttp.RequestCtx) bool
	// Logger receives listener errors. Nil discards them.
	Logger *slog.Logger
	// Admit runs the admission stages that need no body (authentication,
	// scopes, rate limits): it sets the call's Caller, may add response
	// header fields, and refuses with an *exchange.Refusal. Nil admits every
	// call anonymously.
	Admit func(ctx context.Context, c *exchange.Call) error
	// Authorize runs the stages that need the decoded routing fields (the
	// key's models). Nil authorizes every call.
	Authorize func(ctx context.Context, c *exchange.Call) error
	// RenderError renders an error for a client API other than OpenAI's
	// (Anthropic's envelope): the status to send and the body. Nil renders
	// the OpenAI envelope for every API.
	RenderError func(api exchange.API, status int, e openai.Error, requestID string) (int, []byte)
	// ClientIP derives the client's address from the peer address and its
	// X-Forwarded-For header. Nil means the peer address.
	ClientIP func(peer netip.Addr, xff []byte) netip.Addr
	// Gate sheds load above a number of requests in flight. Nil means no limit.
	Gate Gate
}

// Options fix the listener's connection behaviour.
type Options struct {
	// ReadTimeout bounds reading a request's headers and body. Zero means no limit.
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Zero means no limit.
	IdleTimeout time.Duration
	// Worker identifies this process among the workers of a multi-process
	// router: every response carries X-Continuum-Worker (its index) and GET
	// /health answers {"status":"ok","worker":INDEX,"pid":PID}. Nil (the
	// single-process mode) adds neither.
	Worker *Worker
}

// Worker identifies one worker process of a multi-process router.
type Worker struct {
	Index, PID int
}

// HeaderWorker names the worker that answered, in a multi-process router.
const HeaderWorker = "X-Continuum-Worker"

// Server is the public listener.
type Server struct {
	deps     Deps
	routes   *endpoint.Table
	settings atomic.Pointer[Settings]
	fs       *fasthttp.Server
	watches  watchPool
	conns    tracker
	running  inflight
	// draining is set once Shutdown started: every answer then closes its
	// connection.
	draining atomic.Bool
	early    earlyHeaders
	states   sync.Pool // *reqState
	log      *slog.Logger

	// worker is the X-Continuum-Worker value, "" in the single-process mode.
	worker     string
	healthBody string
	// handover is set once Handover started: every response then closes
	// its connection.
	handover atomic.Bool
	lnMu     sync.Mutex
	lns      []*trackingListener
}

// reqState is the per-request state of a proxied request, pooled: the
// record and the decoded request live together and are returned to the pool
// once the response has been written. (The stream adapter is not part of it:
// fasthttp keeps it, and calls its Close, until the connection's context is
// reset, which can be after the state was reused.)
type reqState struct {
	rec  exchange.Record
	call exchange.Call
	// scope is the request's context; prev and next link the requests
	// in flight (see inflight), linked tells whether this one is.
	scope      *scope.Scope
	prev, next *reqState
	linked     bool
	// method, path and ua hold copies of the client's bytes that the record
	// points to: a stream's record is reported after the handler returned.
	method, path, ua []byte
}

// inflight is the set of proxied requests being served, so that the end of
// a graceful shutdown's grace period can cancel them. It is an intrusive
// list: joining and leaving it allocate nothing.
type inflight struct {
	mu    sync.Mutex
	head  *reqState
	n     int
	empty []chan struct{} // closed once n is 0
}

func (l *inflight) add(st *reqState) {
	l.mu.Lock()
	st.next, st.prev, st.linked = l.head, nil, true
	if l.head != nil {
		l.head.prev = st
	}
	l.head = st
	l.n++
	l.mu.Unlock()
}

func (l *inflight) remove(st *reqState) {
	l.mu.Lock()
	if st.linked {
		if st.prev != nil {
			st.prev.next = st.next
		} else {
			l.head = st.next
		}
		if st.next != nil {
			st.next.prev = st.prev
		}
		st.prev, st.next, st.linked = nil, nil, false
		l.n--
		if l.n == 0 {
			for _, ch := range l.empty {
				close(ch)
			}
			l.empty = nil
		}
	}
	l.mu.Unlock()
}

func (l *inflight) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// cancelAll cancels every request in flight with cause and returns a
// channel closed once none is left.
func (l *inflight) cancelAll(cause error) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	for st := l.head; st != nil; st = st.next {
		st.scope.Cancel(cause)
	}
	return l.idleLocked()
}

// idle returns a channel closed once no request is in flight.
func (l *inflight) idle() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idleLocked()
}

func (l *inflight) idleLocked() <-chan struct{} {
	done := make(chan struct{})
	if l.n == 0 {
		close(done)
	} else {
		l.empty = append(l.empty, done)
	}
	return done
}

func (s *Server) state() *reqState {
	if st, ok := s.states.Get().(*reqState); ok {
		return st
	}
	return &reqState{}
}

func (s *Server) release(st *reqState) {
	s.running.remove(st)
	*st = reqState{method: st.method[:0], path: st.path[:0], ua: st.ua[:0]}
	s.states.Put(st)
}

// maxRecorded bounds the bytes of a path or user agent kept for the access
// log; the log shortens them further.
const maxRecorded = 512

// describe fills in who asked what, for the access log: client address,
// method, path and user agent. With st, the bytes are copied into its
// buffers; without, the record points into the request, which is valid as
// long as the handler runs.
func (s *Server) describe(ctx *fasthttp.RequestCtx, rec *exchange.Record, st *reqState) {
	rec.ClientIP = s.clientIP(ctx)
	method, path, ua := ctx.Method(), ctx.Path(), ctx.Request.Header.UserAgent()
	path, ua = path[:min(len(path), maxRecorded)], ua[:min(len(ua), maxRecorded)]
	if st != nil {
		st.method = append(st.method[:0], method[:min(len(method), maxRecorded)]...)
		st.path = append(st.path[:0], path...)
		st.ua = append(st.ua[:0], ua...)
		method, path, ua = st.method, st.path, st.ua
	}
	rec.Method, rec.Path, rec.UserAgent = method, path, ua
}

// New returns a listener. Call Serve for each listener and Shutdown to stop.
func New(opts Options, settings Settings, deps Deps) *Server {
	if opts.IdleTimeout <= 0 {
		// fasthttp falls back to ReadTimeout for a zero IdleTimeout.
		opts.IdleTimeout = 1<<63 - 1
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{deps: deps, log: deps.Logger, routes: endpoint.Default(), healthBody: `{"status":"ok"}`}
	if w := opts.Worker; w != nil {
		s.worker = strconv.Itoa(w.Index)
		s.healthBody = fmt.Sprintf(`{"status":"ok","worker":%d,"pid":%d}`, w.Index, w.PID)
	}
	s.SetSettings(settings)
	s.fs = &fasthttp.Server{
		Handler:                       s.handle,
		ErrorHandler:                  s.handleError,
		HeaderReceived:                s.headerReceived,
		Name:                          "continuum",
		ReadTimeout:                   opts.ReadTimeout,
		IdleTimeout:                   opts.IdleTimeout,
		CloseOnShutdown:               true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		DisableHeaderNamesNormalizing: false,
		Logger:                        fasthttpLogger{deps.Logger},
		SecureErrorLogMessage:         true,
		MaxRequestBodySize:            int(settings.MaxBodySize) + 1,
		ReadBufferSize:                readBufferSize,
	}
	return s
}

// SetSettings replaces the reloadable settings.
func (s *Server) SetSettings(st Settings) {
	if st.MaxBodySize <= 0 {
		st.MaxBodySize = 32 << 20
	}
	s.settings.Store(&st)
}

// Serve accepts connections on ln until Shutdown (or Handover).
func (s *Server) Serve(ln net.Listener) error {
	tl := &trackingListener{Listener: ln, t: &s.conns}
	s.lnMu.Lock()
	s.lns = append(s.lns, tl)
	s.lnMu.Unlock()
	return s.fs.Serve(tl)
}

// Handover hands the listener's clients over to other processes serving
// the same sockets (the other workers, or a new binary's, in a
// multi-process router) before a Shutdown: it stops accepting connections,
// and every response from then on closes its connection
// (Connection: close), so a keep-alive client's next request opens a new
// connection, which another process accepts. It returns once no
// connection is left open or ctx ends; Shutdown then closes the idle ones.
//
// Without it, a graceful shutdown closes idle keep-alive connections at
// once, and a client that sends its next request on one at that moment
// sees the connection fail.
func (s *Server) Handover(ctx context.Context) {
	s.handover.Store(true)
	s.lnMu.Lock()
	for _, l := range s.lns {
		_ = l.Close()
	}
	s.lnMu.Unlock()
	// Connections accepted but unused, and idle keep-alive ones, are
	// answered Connection: close if they send a request.
	select {
	case <-s.conns.empty():
	case <-ctx.Done():
	}
}

// stamp adds the worker header to the response.
func (s *Server) stamp(ctx *fasthttp.RequestCtx) {
	if s.worker != "" {
		ctx.Response.Header.Set(HeaderWorker, s.worker)
	}
	if s.handover.Load() {
		ctx.SetConnectionClose()
	}
}

// abortGrace is how long requests cancelled at the end of a shutdown's
// grace period have to send their clients the error that ends them.
const abortGrace = time.Second

// Shutdown stops accepting connections and waits until in-flight requests
// and streams finish or ctx ends. Idle keep-alive connections, and
// connections that never sent a request, are closed. When ctx ends first,
// the requests still running are cancelled with exchange.ErrShutdown (their
// clients get a 503, or an SSE error event ending the stream), given up to
// a second to say so, and their connections are closed; ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	// Every answer from now on closes its connection: clients move to
	// another process at once, and no keep-alive connection outlives the
	// requests in flight.
	s.draining.Store(true)
	done := make(chan error, 1)
	go func() { done <- s.fs.ShutdownWithContext(ctx) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.conns.closeUnused()
		select {
		case err := <-done:
			if err == nil {
				// fasthttp does not count the connections of streams
				// sent unframed (HTTP/1.0 clients): wait for them too.
				select {
				case <-s.running.idle():
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			if err != nil {
				s.abortRunning()
			}
			return err
		case <-tick.C:
		}
	}
}

// abortRunning ends the requests still running after the grace period:
// they are cancelled, answer their clients (each answer closes its
// connection), and whatever is still open after abortGrace is closed.
func (s *Server) abortRunning() {
	n := s.running.count()
	empty := s.running.cancelAll(exchange.ErrShutdown)
	s.log.Warn("grace period over: cancelling the requests still running", "requests", n)
	t := time.NewTimer(abortGrace)
	defer t.Stop()
	select {
	case <-empty:
		// The handlers returned; their answers may still be being
		// written: wait for the connections to close after them.
		select {
		case <-s.conns.empty():
		case <-t.C:
		}
	case <-t.C:
	}
	s.conns.closeAll()
}

func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if h.ContentLength() == -1 {
		s.early.keep(h, s.endpointLabel, s.apiOf)
	} else {
		s.early.forget(h)
	}
	st := s.settings.Load()
	return fasthttp.RequestConfig{MaxRequestBodySize: int(st.MaxBodySize), WriteTimeout: st.ClientWriteTimeout}
}

// The protocol versions the listener speaks.
var (
	protoHTTP11 = []byte("HTTP/1.1")
	protoHTTP10 = []byte("HTTP/1.0")
)

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	defer s.recoverHandler(ctx)
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
	s.early.forget(&ctx.Request.Header)
	s.stamp(ctx)
	reqID := requestID(ctx)
	ctx.Response.Header.Set("X-Request-Id", reqID)
	ctx.SetUserValue(requestIDKey, reqID)
	status, e := framing(ctx.Request.Header.RawHeaders())
	if proto := ctx.Request.Header.Protocol(); status == 0 && !bytes.Equal(proto, protoHTTP11) && !bytes.Equal(proto, protoHTTP10) {
		// fasthttp serves any version it is given; an HTTP/2.0 or 3.0
		// request line over this connection is not one it can speak.
		status, e = 505, openai.NewError(openai.TypeInvalidRequest, CodeHTTPVersion, "", "the router speaks HTTP/1.1 and HTTP/1.0 on this listener")
	}
	if status != 0 {
		// The body's end is ambiguous, so is the start of the next request.
		kind := errorKindFraming
		if status == 505 {
			kind = errorKindVersion
		}
		rec := &exchange.Record{Start: ctx.Time(), RequestID: reqID, Endpoint: s.endpointLabel(ctx.Path()), Status: status, ErrorKind: kind}
		s.describe(ctx, rec, nil)
		s.refuse(ctx, rec, s.apiOf(ctx.Path()), e)
		return
	}
	if st := s.settings.Load(); st.CORS.Enabled && s.cors(ctx, &st.CORS) {
		return
	}
	route, ok := s.routes.Lookup(ctx.Path())
	switch {
	case !ok || route.Kind == endpoint.Service:
		// The application's own pages (metrics, docs, admin), or nothing.
	case route.Kind == endpoint.Proxy:
		s.serveCall(ctx, route)
		return
	case route.Kind == endpoint.ModelList:
		s.models(ctx, route, "")
		return
	case route.Kind == endpoint.ModelByID:
		s.models(ctx, route, string(ctx.Path()[len(route.Path):]))
		return
	case route.Kind == endpoint.Health:
		if s.allowGet(ctx) {
			ctx.SetContentType("application/json")
			ctx.SetBodyString(s.healthBody)
		}
		return
	case route.Kind == endpoint.Ready:
		if s.allowGet(ctx) {
			ctx.SetContentType("application/json")
			body := append(make([]byte, 0, 160), `{"status":"ready"`...)
			if s.deps.Ready != nil && !s.deps.Ready() {
				ctx.SetStatusCode(503)
				ctx.Response.Header.Set("Retry-After", "1")
				body = append(body[:0], `{"status":"not_ready"`...)
			}
			if s.deps.ReadyDetail != nil {
				body = s.deps.ReadyDetail(body)
			}
			ctx.SetBody(append(body, '}'))
		}
		return
	}
	if s.deps.Extra != nil && s.deps.Extra(ctx) {
		return
	}
	// The path is not repeated in the answer: it is the client's bytes.
	rec := &exchange.Record{Start: ctx.Time(), Endpoint: EndpointUnknown, RequestID: reqID, ErrorKind: openai.CodeNotFound}
	s.describe(ctx, rec, nil)
	s.reject(ctx, rec, 0, 404, openai.NewError(openai.TypeInvalidRequest, openai.CodeNotFound, "",
		"Invalid URL: the router serves no such path (see GET /openapi.json)"))
}

// Endpoint labels of requests that are not for one of the API paths.
const (
	// EndpointUnknown labels requests for a path the router does not serve (404).
	EndpointUnknown = "unknown"
	// EndpointOther labels requests the listener answered before routing
	// them (unreadable, too large) whose path is not an API path, or unknown.
	EndpointOther = "other"
)

// endpointLabel returns the metric label of a path: its route's, or
// EndpointOther. It never returns the client's bytes.
func (s *Server) endpointLabel(path []byte) string { return s.routes.Label(path) }

func (s *Server) allowGet(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	writeError(ctx, 405, openai.ErrorForStatus(405, "this method is not allowed here; use GET"))
	return false
}

// admit runs the body-free admission stages for call; on a refusal it
// answers and returns false.
func (s *Server) admit(ctx *fasthttp.RequestCtx, call *exchange.Call) bool {
	if s.deps.Admit == nil {
		return true
	}
	return s.check(ctx, call, s.deps.Admit(context.Background(), call))
}

// check answers the refusal err, if any, and reports whether the call may go on.
func (s *Server) check(ctx *fasthttp.RequestCtx, call *exchange.Call, err error) bool {
	call.Record.KeyID = call.Caller.KeyID
	if err == nil {
		return true
	}
	var r *exchange.Refusal
	if !errors.As(err, &r) {
		r = &exchange.Refusal{Status: 500, Type: openai.TypeServer, Message: "the request could not be admitted", Kind: "admission_error"}
		s.log.Error("admission stage failed", "request_id", call.RequestID, "error", err)
	}
	s.refusal(ctx, call, r)
	return false
}

// refusal answers a refusal in the call's API format and records it.
func (s *Server) refusal(ctx *fasthttp.RequestCtx, call *exchange.Call, r *exchange.Refusal) {
	for _, f := range call.ResponseHeader {
		ctx.Response.Header.Set(f.Name, f.Value)
	}
	for _, f := range r.Header {
		ctx.Response.Header.Set(f.Name, f.Value)
	}
	call.Record.ErrorKind = r.Kind
	s.reject(ctx, call.Record, call.API, r.Status, r.Err())
}

// newCall starts the call of a request on route: record and identity.
func (s *Server) newCall(ctx *fasthttp.RequestCtx, call *exchange.Call, rec *exchange.Record, route endpoint.Route, st *reqState) {
	rec.Start, rec.Endpoint = time.Now(), route.Label
	rec.RequestID, _ = ctx.UserValue(requestIDKey).(string)
	s.describe(ctx, rec, st)
	h := &ctx.Request.Header
	*call = exchange.Call{
		API:        route.API,
		RequestID:  rec.RequestID,
		ClientIP:   rec.ClientIP,
		Credential: credential(h, route.API),
		Header:     h,
		Record:     rec,
	}
}

func (s *Server) models(ctx *fasthttp.RequestCtx, route endpoint.Route, id string) {
	if !s.allowGet(ctx) {
		return
	}
	var call exchange.Call
	s.newCall(ctx, &call, &exchange.Record{}, route, nil)
	if !s.admit(ctx, &call) {
		return
	}
	all := s.deps.Catalog.Models()
	if call.Caller.Models != nil {
		allowed := make([]openai.Model, 0, len(all))
		for _, m := range all {
			if call.ModelAllowed(m.ID) {
				allowed = append(allowed, m)
			}
		}
		all = allowed
	}
	var body []byte
	if id == "" {
		list := openai.ModelList{Object: "list", Data: all}
		if list.Data == nil {
			list.Data = []openai.Model{}
		}
		body, _ = json.Marshal(list)
	} else {
		for _, m := range all {
			if m.ID == id {
				body, _ = json.Marshal(m)
				break
			}
		}
		if body == nil {
			call.Record.ErrorKind = "model_not_found"
			s.reject(ctx, call.Record, 0, 404, openai.ModelNotFound(id))
			return
		}
	}
	for _, f := range call.ResponseHeader {
		ctx.Response.Header.Set(f.Name, f.Value)
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
	call.Record.Status = 200
	s.done(call.Record)
}

// serveCall serves a call of a client API: admission, decoding, the
// forwarder, and the answer or stream.
func (s *Server) serveCall(ctx *fasthttp.RequestCtx, route endpoint.Route) {
	st := s.settings.Load()
	state := s.state()
	rec, call := &state.rec, &state.call
	s.newCall(ctx, call, rec, route, state)
	start := rec.Start
	// A stream holds its slot and its state until it has been written, not
	// only until the handler returns.
	streaming, admitted := false, false
	gate := s.deps.Gate
	defer func() {
		if !streaming {
			if admitted && gate != nil {
				gate.Release()
			}
			s.release(state)
		}
	}()
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		s.reject(ctx, rec, call.API, 405, openai.ErrorForStatus(405, "this method is not allowed here; use POST"))
		return
	}
	if gate != nil && !gate.TryAcquire() {
		s.refusal(ctx, call, &exchange.Refusal{Status: 503, Type: openai.TypeNoBackend, Code: "server_overloaded",
			Message: "the router is at its limit of concurrent requests; retry shortly", Kind: "load_shed",
			Header: []exchange.Field{{Name: "Retry-After", Value: "1"}}})
		return
	}
	admitted = true
	if !s.admit(ctx, call) {
		return
	}
	body := ctx.PostBody()
	fields, err := openai.ParseFields(body)
	if err != nil {
		var re *openai.RequestError
		errors.As(err, &re)
		s.refusal(ctx, call, &exchange.Refusal{Status: 400, Type: openai.TypeInvalidRequest, Code: re.Code, Param: re.Param, Message: re.Msg})
		return
	}
	call.Body, call.Fields = body, fields
	rec.Model, rec.Stream = fields.Model, fields.Stream
	if fields.Stream && !call.API.Streams() {
		s.refusal(ctx, call, &exchange.Refusal{Status: 400, Type: openai.TypeInvalidRequest, Code: "unsupported_parameter", Param: "stream", Message: "this endpoint does not stream"})
		return
	}
	if s.deps.Authorize != nil && !s.check(ctx, call, s.deps.Authorize(context.Background(), call)) {
		return
	}
	call.ForwardedFor = forwardedFor(ctx)
	call.Forward = ctx.Request.Header.RawHeaders()
	if v := ctx.Request.Header.Peek("X-Session-Id"); len(v) > 0 {
		call.SessionKey = string(v)
	}
	rctx := scope.New(context.Background())
	state.scope = rctx
	s.running.add(state)
	w := s.watches.watch(ctx.Conn(), rctx)
	resp := s.forward(rctx, call, w)
	if s.draining.Load() {
		ctx.SetConnectionClose() // the router is shutting down
	}
	rec.Overhead = max(time.Since(start)-rec.Waited, 0)
	rec.Status = resp.Status
	ctx.SetStatusCode(resp.Status)
	for _, f := range call.ResponseHeader {
		ctx.Response.Header.Set(f.Name, f.Value)
	}
	for _, f := range resp.Header {
		ctx.Response.Header.Add(f.Name, f.Value)
	}
	if st.ExposeBackend && resp.Backend != "" {
		ctx.Response.Header.Set("X-Continuum-Backend", resp.Backend)
	}
	var timing [64]byte
	ctx.Response.Header.SetBytesV("Server-Timing", appendServerTiming(timing[:0], rec.Overhead, rec.Waited))
	if resp.Stream == nil {
		ctx.SetBody(resp.Body)
		s.watches.stop(w)
		rctx.Cancel(nil)
		s.done(rec)
		return
	}
	streaming = true
	sb := &streamBody{s: s, stream: resp.Stream, conn: ctx.Conn(), watch: w, scope: rctx, rec: rec, gate: gate, state: state}
	if !ctx.Request.Header.IsHTTP11() {
		s.streamUnframed(ctx, sb, st.ClientWriteTimeout)
		return
	}
	ctx.Response.SetBodyStream(sb, -1)
}

// streamUnframed sends a stream to an HTTP/1.0 client, which cannot read
// the chunked coding (RFC 9112 §6.1): without Transfer-Encoding or
// Content-Length, the end of the connection ending the body. fasthttp
// frames every body stream it writes as chunked, so the listener takes the
// connection over once the handler returns (fasthttp then counts it no
// more: Shutdown waits for the requests in flight as well), writes the
// header and the stream on it, and fasthttp closes it afterwards. A
// broken stream ends with its error event and the connection's close, as
// over HTTP/1.1. writeTimeout bounds writing the header, as fasthttp's
// write timeout does over HTTP/1.1 (zero: no limit).
func (s *Server) streamUnframed(ctx *fasthttp.RequestCtx, b *streamBody, writeTimeout time.Duration) {
	ctx.Response.Header.SetContentLength(-2) // no framing; Connection: close
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) {
		defer b.Close() // when the stream was not written
		if writeTimeout > 0 {
			_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		}
		if _, err := c.Write(ctx.Response.Header.Header()); err != nil {
			return
		}
		_, _ = b.WriteTo(c)
	})
}

// forward calls the Forwarder. If it panics, the watch is stopped and the
// request's context cancelled before the panic goes on to the handler's
// recovery.
func (s *Server) forward(ctx *scope.Scope, call *exchange.Call, w *watcher) *exchange.Response {
	returned := false
	defer func() {
		if !returned {
			s.watches.stop(w)
			ctx.Cancel(errPanicked)
		}
	}()
	resp := s.deps.Forwarder.Forward(ctx, call)
	if resp == nil {
		panic("server: the Forwarder returned no response")
	}
	returned = true
	return resp
}

// ErrorMissingScope is the error kind and code of a request whose API key
// lacks the scope the endpoint needs.
const ErrorMissingScope = "missing_scope"

var errClientGone = errors.New("client closed the connection")

// requestIDKey is the user-value key of the request id on a RequestCtx.
const requestIDKey = "continuum.request_id"

// reject answers an error the router made, in the client API's format
// (api 0 is OpenAI's), and records it.
func (s *Server) reject(ctx *fasthttp.RequestCtx, rec *exchange.Record, api exchange.API, status int, e openai.Error) {
	s.writeError(ctx, api, rec.RequestID, status, e)
	rec.Status = status
	if rec.ErrorKind == "" {
		rec.ErrorKind = e.Type
	}
	s.done(rec)
}

func (s *Server) done(rec *exchange.Record) {
	rec.Duration = time.Since(rec.Start)
	if s.deps.Observer != nil {
		s.deps.Observer.RequestDone(rec)
	}
}

// writeError writes an error the router made in the client API's format
// (api 0 is OpenAI's): an Anthropic client gets Anthropic's envelope
// (Deps.RenderError) and the request id as request-id too, as on every
// answer to it.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, api exchange.API, reqID string, status int, e openai.Error) {
	if !api.Anthropic() || s.deps.RenderError == nil {
		writeError(ctx, status, e)
		return
	}
	code, body := s.deps.RenderError(api, status, e, reqID)
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	if (status == 429 || status == 503) && len(ctx.Response.Header.Peek("Retry-After")) == 0 {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	if reqID != "" {
		ctx.Response.Header.Set(headerAnthropicRequestID, reqID)
	}
	ctx.SetBody(body)
}

// headerAnthropicRequestID is the response header in which Anthropic's API
// returns the request id.
const headerAnthropicRequestID = "request-id"

// apiOf returns the client API of the API route at path, 0 (OpenAI's) for
// any other path: the format of the errors the listener makes for it.
func (s *Server) apiOf(path []byte) exchange.API {
	if r, ok := s.routes.Lookup(path); ok && r.Kind == endpoint.Proxy {
		return r.API
	}
	return 0
}

func writeError(ctx *fasthttp.RequestCtx, status int, e openai.Error) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	if status == 429 || status == 503 {
		if len(ctx.Response.Header.Peek("Retry-After")) == 0 {
			ctx.Response.Header.Set("Retry-After", "1")
		}
	}
	ctx.SetBody(e.JSON())
}

// streamBody adapts an exchange.Stream to fasthttp's body stream. fasthttp
// calls WriteTo once the handler has returned, with a writer that sends each
// Write as one flushed chunk; an error from WriteTo makes fasthttp close the
// connection without the final chunk.
type streamBody struct {
	s        *Server
	stream   exchange.Stream
	conn     net.Conn
	cw       clientWriter
	watch    *watcher
	scope    *scope.Scope
	rec      *exchange.Record
	gate     Gate
	state    *reqState
	finished bool
}

func (b *streamBody) SupportsBodyWriteTo() bool { return true }

func (b *streamBody) Read([]byte) (int, error) {
	return 0, errors.New("server: stream body is written with WriteTo")
}

func (b *streamBody) WriteTo(w io.Writer) (n int64, err error) {
	defer func() {
		if v := recover(); v != nil {
			n, err = b.recoverStream(v, w, n)
		}
	}()
	// The stream's writes are bounded one by one (client_write_timeout,
	// enforced by the stream through AbortWrite), not as a whole.
	_ = b.conn.SetWriteDeadline(time.Time{})
	b.cw = clientWriter{w: w, conn: b.conn}
	b.stream.Attach(&b.cw)
	n, err = b.relay()
	b.finish()
	return n, err
}

// relay writes the stream's events as they come, one write per burst. An
// error makes fasthttp close the connection without ending the body.
func (b *streamBody) relay() (int64, error) {
	var n int64
	var buf []byte
	for {
		var err error
		buf, err = b.stream.Next(buf[:0])
		if len(buf) > 0 {
			m, werr := b.cw.Write(buf)
			n += int64(m)
			if werr != nil {
				b.stream.Close()
				return n, werr
			}
		}
		switch {
		case err == nil:
		case err == io.EOF:
			return n, nil
		default:
			b.stream.Close()
			return n, err
		}
	}
}

// clientWriter is what a stream writes to: fasthttp's chunk writer, with a
// way to unblock a write to a client that stopped reading.
type clientWriter struct {
	w    io.Writer
	conn net.Conn
}

func (c *clientWriter) Write(p []byte) (int, error) { return c.w.Write(p) }

// AbortWrite implements exchange.WriteAborter: a write deadline in the past
// makes the blocked write, and every later one, fail at once (the listener
// then closes the connection).
func (c *clientWriter) AbortWrite() { _ = c.conn.SetWriteDeadline(time.Unix(1, 0)) }

func (b *streamBody) Close() error {
	defer func() {
		if v := recover(); v != nil {
			b.recoverStream(v, nil, 0)
		}
	}()
	if !b.finished {
		b.stream.Close()
		b.finish()
	}
	return nil
}

func (b *streamBody) finish() {
	if b.finished {
		return
	}
	b.finished = true
	b.s.watches.stop(b.watch)
	b.scope.Cancel(nil)
	if b.gate != nil {
		b.gate.Release()
	}
	b.s.done(b.rec)
	b.s.release(b.state)
	b.stream, b.rec, b.state = nil, nil, nil
}

// appendServerTiming appends the Server-Timing header value: the router's
// own time and the time spent waiting on backends, in milliseconds.
func appendServerTiming(b []byte, router, upstream time.Duration) []byte {
	b = append(b, "router;dur="...)
	b = strconv.AppendFloat(b, float64(router)/float64(time.Millisecond), 'f', 3, 64)
	b = append(b, ", upstream;dur="...)
	b = strconv.AppendFloat(b, float64(upstream)/float64(time.Millisecond), 'f', 3, 64)
	return b
}

// requestID returns the client's X-Request-Id when it is sane, or a new one.
func requestID(ctx *fasthttp.RequestCtx) string {
	if v := ctx.Request.Header.Peek("X-Request-Id"); saneRequestID(v) {
		return string(v)
	}
	return newRequestID()
}

// saneRequestID reports whether a client's X-Request-Id may be used: 1 to
// 128 printable ASCII characters (0x20 to 0x7E, the space included; no
// control characters, no other bytes). Such a value is safe to send back
// in a header field and to log (slog quotes a value with a space).
func saneRequestID(v []byte) bool {
	return len(v) > 0 && len(v) <= 128 && printable(v)
}

// ValidRequestID reports whether a client's X-Request-Id value may be used
// as the request's id (see saneRequestID); other listeners (the admin API's)
// apply the same rule.
func ValidRequestID(v string) bool {
	return len(v) > 0 && len(v) <= 128 && printable([]byte(v))
}

// NewRequestID returns a new request id: 32 random hex digits.
func NewRequestID() string { return newRequestID() }

// newRequestID returns a random id of 32 hex digits.
func newRequestID() string {
	var b [32]byte
	const hex = "0123456789abcdef"
	x, y := rand.Uint64(), rand.Uint64()
	for i := 0; i < 16; i++ {
		b[i] = hex[(x>>(4*i))&15]
		b[16+i] = hex[(y>>(4*i))&15]
	}
	return string(b[:])
}

// printable reports whether v holds only printable ASCII, 0x20 to 0x7E.
func printable(v []byte) bool {
	for _, c := range v {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// forwardedFor returns the X-Forwarded-For value to send upstream: the
// list the request arrived with, if any, followed by the peer's address.
func forwardedFor(ctx *fasthttp.RequestCtx) string {
	var buf [128]byte
	b := buf[:0]
	if prior := ctx.Request.Header.Peek("X-Forwarded-For"); len(prior) > 0 {
		b = append(append(b, prior...), ", "...)
	}
	if tcp, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(tcp.IP); ok {
			b = ip.Unmap().AppendTo(b)
		}
	}
	return string(b)
}

// clientIP is the client's address as rate limits see it.
func (s *Server) clientIP(ctx *fasthttp.RequestCtx) netip.Addr {
	var peer netip.Addr
	if tcp, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		peer, _ = netip.AddrFromSlice(tcp.IP)
		peer = peer.Unmap()
	}
	if s.deps.ClientIP == nil {
		return peer
	}
	return s.deps.ClientIP(peer, ctx.Request.Header.Peek("X-Forwarded-For"))
}

// credential returns the API key a request carries, nil when none. OpenAI
// APIs: "Authorization: Bearer <key>", else "X-Api-Key", else "Api-Key"
// (Azure style). Anthropic APIs: "x-api-key" first, as Anthropic reads it,
// then "Authorization: Bearer".
func credential(h *fasthttp.RequestHeader, api exchange.API) []byte {
	bearer := func() []byte {
		if v := h.Peek("Authorization"); len(v) > 7 && strings.EqualFold(string(v[:7]), "bearer ") {
			return bytes.TrimSpace(v[7:])
		}
		return nil
	}
	if !api.Anthropic() {
		if v := bearer(); v != nil {
			return v
		}
	}
	if v := h.Peek("X-Api-Key"); len(v) > 0 {
		return bytes.TrimSpace(v)
	}
	if api.Anthropic() {
		return bearer()
	}
	if v := h.Peek("Api-Key"); len(v) > 0 {
		return bytes.TrimSpace(v)
	}
	return nil
}
