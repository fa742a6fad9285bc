package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"

	"github.com/valyala/fasthttp"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
)

// ErrorPanic is the error kind of a request whose handling panicked. The
// Observer sees one record with it for every panic the listener recovers.
const ErrorPanic = "panic"

// errPanicked cancels the request whose handler panicked, and ends a
// stream whose writer panicked.
var errPanicked = errors.New("server: panic while serving the request")

// panicEvent ends a committed stream whose writer panicked; as for any
// broken stream, data: [DONE] does not follow.
const panicEvent = `data: {"error":{"message":"the router failed while relaying the stream; the answer is incomplete","type":"server_error","param":null,"code":"stream_interrupted"}}` + "\n\n"

// recoverHandler, deferred by the handlers, turns a panic into a 500 answer
// in the OpenAI envelope on a connection that is then closed. It logs the
// stack and reports the request with error kind "panic"; other requests
// and streams go on.
func (s *Server) recoverHandler(ctx *fasthttp.RequestCtx) {
	v := recover()
	if v == nil {
		return
	}
	reqID, _ := ctx.UserValue(requestIDKey).(string)
	if reqID == "" {
		reqID = requestID(ctx)
	}
	s.logPanic(v, "handler", reqID)
	ctx.Response.Reset()
	s.stamp(ctx)
	ctx.Response.Header.Set("X-Request-Id", reqID)
	s.writeError(ctx, s.apiOf(ctx.Path()), reqID, 500, openai.NewError(openai.TypeServer, "internal_error", "",
		"the router failed while handling the request (logged with its request id)"))
	ctx.SetConnectionClose()
	rec := &exchange.Record{Start: ctx.Time(), RequestID: reqID, Endpoint: s.endpointLabel(ctx.Path()), Status: 500, ErrorKind: ErrorPanic}
	s.describe(ctx, rec, nil)
	s.reportPanicked(rec)
}

// recoverStream handles a panic while a committed stream was written to w
// (nil when the stream was being closed unwritten): the client gets an SSE
// error event, and the returned error makes fasthttp close the connection
// without ending the body.
func (b *streamBody) recoverStream(v any, w io.Writer, n int64) (int64, error) {
	rec := b.rec
	reqID := ""
	if rec != nil {
		reqID = rec.RequestID
	}
	b.s.logPanic(v, "stream", reqID)
	if w != nil {
		m, _ := io.WriteString(w, panicEvent)
		n += int64(m)
	}
	if b.finished {
		// The panic came from finishing the request, its report perhaps:
		// report the panic alone.
		if rec != nil {
			b.s.reportPanicked(&exchange.Record{Start: rec.Start, RequestID: reqID, Endpoint: rec.Endpoint, Status: rec.Status, ErrorKind: ErrorPanic})
		}
		return n, errPanicked
	}
	rec.ErrorKind, rec.Aborted = ErrorPanic, true
	func() {
		// Release the upstream side (its attempt, in-flight count and
		// connection) unless the stream already did.
		defer func() { _ = recover() }()
		if b.stream != nil {
			b.stream.Close()
		}
	}()
	func() {
		defer func() { _ = recover() }() // the Observer may be what panicked
		b.finish()
	}()
	return n, errPanicked
}

// reportPanicked reports a request whose handling panicked. The Observer
// may be what panicked: a second panic is dropped, not raised again.
func (s *Server) reportPanicked(rec *exchange.Record) {
	defer func() { _ = recover() }()
	s.done(rec)
}

// logPanic logs a recovered panic with its stack. The panic's value may
// quote request bytes, so only its type is logged, and the message of the
// runtime's own errors (index out of range, nil map, …).
func (s *Server) logPanic(v any, where, reqID string) {
	attrs := []slog.Attr{
		slog.String("request_id", reqID),
		slog.String("where", where),
		slog.String("panic_type", fmt.Sprintf("%T", v)),
	}
	if re, ok := v.(runtime.Error); ok {
		attrs = append(attrs, slog.String("panic", re.Error()))
	}
	attrs = append(attrs, slog.String("stack", string(debug.Stack())))
	s.log.LogAttrs(context.Background(), slog.LevelError, "panic while serving a request; the listener goes on", attrs...)
}
