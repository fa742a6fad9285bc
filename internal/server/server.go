// Package server is Continuum's public listener: it serves the OpenAI API
// paths, assigns request ids, enforces the body limit, decodes the routing
// fields, and writes responses and streams back. It is built on fasthttp;
// a watcher on each connection cancels a request the moment its client goes
// away, even while the router is still waiting for a first token.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
)

// Forwarder serves a decoded request. *proxy.Proxy implements it.
type Forwarder interface {
	Forward(ctx context.Context, req *exchange.Request) *exchange.Response
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
}

// Deps are the listener's collaborators. Forwarder and Catalog are required.
type Deps struct {
	Forwarder Forwarder
	Catalog   Catalog
	// Ready reports whether at least one backend is usable (GET /ready). Nil means always ready.
	Ready func() bool
	// Observer receives finished requests. Nil means none.
	Observer Observer
	// Extra serves paths the listener does not know (metrics, admin, docs).
	// It reports false when it does not serve the path either.
	Extra func(ctx *fasthttp.RequestCtx) bool
	// Logger receives listener errors. Nil discards them.
	Logger *slog.Logger
}

// Options fix the listener's connection behaviour.
type Options struct {
	// ReadTimeout bounds reading a request's headers and body. Zero means 10s.
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Zero means 120s.
	IdleTimeout time.Duration
}

// Server is the public listener.
type Server struct {
	deps     Deps
	settings atomic.Pointer[Settings]
	fs       *fasthttp.Server
	base     context.Context
	stop     context.CancelFunc
	log      *slog.Logger
}

// New returns a listener. Call Serve for each listener and Shutdown to stop.
func New(opts Options, settings Settings, deps Deps) *Server {
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{deps: deps, log: deps.Logger}
	s.base, s.stop = context.WithCancel(context.Background())
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
		Logger:                        printfLogger{deps.Logger},
		MaxRequestBodySize:            int(settings.MaxBodySize) + 1,
		ReadBufferSize:                16 << 10,
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

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.fs.Serve(ln) }

// Shutdown stops accepting connections and waits until in-flight requests
// and streams finish or ctx ends; then it cancels what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.fs.ShutdownWithContext(ctx)
	s.stop()
	return err
}

// Handler returns the request handler, for tests that serve it themselves.
func (s *Server) Handler() fasthttp.RequestHandler { return s.handle }

func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	return fasthttp.RequestConfig{MaxRequestBodySize: int(s.settings.Load().MaxBodySize)}
}

func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := 400, "could not read the request: "+err.Error()
	var tooLarge bool
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		tooLarge = true
	}
	var se interface{ Timeout() bool }
	switch {
	case tooLarge:
		status = 413
		msg = "request body exceeds the limit of " + strconv.FormatInt(s.settings.Load().MaxBodySize, 10) + " bytes"
	case errors.As(err, &se) && se.Timeout():
		status, msg = 408, "timed out reading the request"
	}
	ctx.Response.Reset()
	writeError(ctx, status, openai.ErrorForStatus(status, msg))
	ctx.SetConnectionClose()
	if s.deps.Observer != nil {
		s.deps.Observer.RequestDone(&exchange.Record{Start: time.Now(), Endpoint: string(ctx.Path()), Status: status, ErrorKind: "bad_request"})
	}
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) {
	case "/v1/chat/completions":
		s.proxy(ctx, openai.ChatCompletions)
		return
	case "/v1/completions":
		s.proxy(ctx, openai.Completions)
		return
	case "/v1/embeddings":
		s.proxy(ctx, openai.Embeddings)
		return
	case "/v1/models":
		s.models(ctx, "")
		return
	case "/health", "/healthz":
		if s.allowGet(ctx) {
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"status":"ok"}`)
		}
		return
	case "/ready":
		if s.allowGet(ctx) {
			ctx.SetContentType("application/json")
			if s.deps.Ready == nil || s.deps.Ready() {
				ctx.SetBodyString(`{"status":"ready"}`)
			} else {
				ctx.SetStatusCode(503)
				ctx.Response.Header.Set("Retry-After", "1")
				ctx.SetBodyString(`{"status":"not_ready"}`)
			}
		}
		return
	}
	if id, ok := strings.CutPrefix(string(path), "/v1/models/"); ok && id != "" {
		s.models(ctx, id)
		return
	}
	if s.deps.Extra != nil && s.deps.Extra(ctx) {
		return
	}
	writeError(ctx, 404, openai.NewError(openai.TypeInvalidRequest, openai.CodeNotFound, "",
		"Invalid URL ("+string(ctx.Method())+" "+string(path)+")"))
}

func (s *Server) allowGet(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	writeError(ctx, 405, openai.ErrorForStatus(405, "method "+string(ctx.Method())+" is not allowed here; use GET"))
	return false
}

func (s *Server) models(ctx *fasthttp.RequestCtx, id string) {
	if !s.allowGet(ctx) {
		return
	}
	all := s.deps.Catalog.Models()
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
			writeError(ctx, 404, openai.ModelNotFound(id))
			return
		}
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// proxy serves one of the proxied POST endpoints.
func (s *Server) proxy(ctx *fasthttp.RequestCtx, ep openai.Endpoint) {
	start := time.Now()
	st := s.settings.Load()
	rec := &exchange.Record{Start: start, Endpoint: ep.String()}
	reqID := requestID(ctx)
	rec.RequestID = reqID
	ctx.Response.Header.Set("X-Request-Id", reqID)
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		s.reject(ctx, rec, 405, openai.ErrorForStatus(405, "method "+string(ctx.Method())+" is not allowed here; use POST"))
		return
	}
	body := ctx.PostBody()
	fields, err := openai.ParseFields(body)
	if err != nil {
		var re *openai.RequestError
		errors.As(err, &re)
		s.reject(ctx, rec, 400, openai.NewError(openai.TypeInvalidRequest, re.Code, re.Param, re.Msg))
		return
	}
	rec.Model, rec.Stream = fields.Model, fields.Stream
	if fields.Stream && !ep.Streams() {
		s.reject(ctx, rec, 400, openai.NewError(openai.TypeInvalidRequest, "unsupported_parameter", "stream", "this endpoint does not stream"))
		return
	}
	req := &exchange.Request{
		Endpoint:   ep,
		Body:       body,
		Fields:     fields,
		RequestID:  reqID,
		SessionKey: string(ctx.Request.Header.Peek("X-Session-Id")),
		ClientIP:   forwardedFor(ctx),
		Forward:    forwardVisitor(&ctx.Request.Header),
		Record:     rec,
	}
	rctx, cancel := context.WithCancelCause(s.base)
	stopWatch := watchConn(ctx.Conn(), func() { cancel(errClientGone) })
	resp := s.deps.Forwarder.Forward(rctx, req)
	rec.Status = resp.Status
	ctx.SetStatusCode(resp.Status)
	for _, f := range resp.Header {
		ctx.Response.Header.Add(f.Name, f.Value)
	}
	if st.ExposeBackend && resp.Backend != "" {
		ctx.Response.Header.Set("X-Continuum-Backend", resp.Backend)
	}
	if resp.Stream == nil {
		ctx.SetBody(resp.Body)
		stopWatch()
		cancel(nil)
		s.done(rec)
		return
	}
	ctx.Response.SetBodyStream(&streamBody{s: s, stream: resp.Stream, stopWatch: stopWatch, cancel: cancel, rec: rec}, -1)
}

var errClientGone = errors.New("client closed the connection")

func (s *Server) reject(ctx *fasthttp.RequestCtx, rec *exchange.Record, status int, e openai.Error) {
	writeError(ctx, status, e)
	rec.Status = status
	rec.ErrorKind = e.Type
	s.done(rec)
}

func (s *Server) done(rec *exchange.Record) {
	rec.Duration = time.Since(rec.Start)
	if s.deps.Observer != nil {
		s.deps.Observer.RequestDone(rec)
	}
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
	s         *Server
	stream    exchange.Stream
	stopWatch func()
	cancel    context.CancelCauseFunc
	rec       *exchange.Record
	finished  bool
}

func (b *streamBody) SupportsBodyWriteTo() bool { return true }

func (b *streamBody) Read([]byte) (int, error) {
	return 0, errors.New("server: stream body is written with WriteTo")
}

func (b *streamBody) WriteTo(w io.Writer) (int64, error) {
	n, err := b.stream.WriteTo(w)
	b.finish()
	return n, err
}

func (b *streamBody) Close() error {
	b.stream.Close()
	b.finish()
	return nil
}

func (b *streamBody) finish() {
	if b.finished {
		return
	}
	b.finished = true
	b.stopWatch()
	b.cancel(nil)
	b.s.done(b.rec)
}

// requestID returns the client's X-Request-Id when it is sane, or a new one.
func requestID(ctx *fasthttp.RequestCtx) string {
	if v := ctx.Request.Header.Peek("X-Request-Id"); len(v) > 0 && len(v) <= 128 && printable(v) {
		return string(v)
	}
	var b [32]byte
	const hex = "0123456789abcdef"
	x, y := rand.Uint64(), rand.Uint64()
	for i := 0; i < 16; i++ {
		b[i] = hex[(x>>(4*i))&15]
		b[16+i] = hex[(y>>(4*i))&15]
	}
	return string(b[:])
}

func printable(v []byte) bool {
	for _, c := range v {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// forwardedFor returns the X-Forwarded-For value to send upstream: the
// client's own list, if any, followed by the client's address.
func forwardedFor(ctx *fasthttp.RequestCtx) string {
	ip := ctx.RemoteIP().String()
	if prior := ctx.Request.Header.Peek("X-Forwarded-For"); len(prior) > 0 {
		return string(prior) + ", " + ip
	}
	return ip
}

func forwardVisitor(h *fasthttp.RequestHeader) func(visit func(name, value []byte)) {
	return func(visit func(name, value []byte)) {
		for k, v := range h.All() {
			visit(k, v)
		}
	}
}

type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Printf(format string, args ...any) {
	p.l.Debug("listener", "detail", strings.TrimSpace(fmt.Sprintf(format, args...)))
}
