package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
)

// readBufferSize is the largest request line and header block the listener
// reads; a larger one gets 431.
const readBufferSize = 16 << 10

// Codes of the answers to requests the listener cannot read.
const (
	CodeMalformed        = "malformed_request"
	CodeHeadersTooLarge  = "request_header_fields_too_large"
	CodeReadTimeout      = "request_timeout"
	CodeTransferEncoding = "unsupported_transfer_encoding"
	CodeAmbiguousFraming = "ambiguous_framing"
	// CodeHTTPVersion: a request line naming a version other than HTTP/1.1
	// or HTTP/1.0 (505).
	CodeHTTPVersion = "http_version_not_supported"
)

// Error kinds (access log) of requests the listener cannot read.
const (
	errorKindBadRequest   = "bad_request"
	errorKindHeadersLarge = "headers_too_large"
	errorKindBodyLarge    = "body_too_large"
	errorKindTimeout      = "read_timeout"
	errorKindFraming      = "bad_framing"
	errorKindVersion      = "http_version"
)

// handleError answers a request fasthttp could not read. The error's text is
// never used: fasthttp quotes the request's bytes in it, credentials
// included. fasthttp closes the connection afterwards.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	defer s.recoverHandler(ctx)
	status, e, kind := s.readError(err)
	ctx.Response.Reset()
	s.stamp(ctx)
	rec := &exchange.Record{Start: time.Now(), Endpoint: EndpointOther, Status: status, ErrorKind: kind}
	var api exchange.API // the format of the answer: OpenAI's unless the path is known
	early := s.early.take(&ctx.Request.Header)
	var broken fasthttp.ErrBrokenChunk
	switch {
	case len(ctx.Request.Header.RawHeaders()) > 0:
		// The header was read, the body was not (413, timeout).
		rec.RequestID = requestID(ctx)
		rec.Endpoint = s.endpointLabel(ctx.Path())
		api = s.apiOf(ctx.Path())
		s.describe(ctx, rec, nil)
	case early != nil && (errors.Is(err, fasthttp.ErrBodyTooLarge) || errors.As(err, &broken)):
		// A chunked body could not be read, and fasthttp has reset the
		// header. (These errors come from reading this request's body
		// only, so what was kept is this request's.)
		rec.RequestID = early.requestID
		if rec.RequestID == "" {
			rec.RequestID = newRequestID()
		}
		rec.Endpoint, api = early.endpoint, early.api
		rec.Method, rec.Path, rec.UserAgent = early.method, early.path, early.ua
		rec.ClientIP = s.clientIP(ctx)
	default:
		rec.RequestID = newRequestID()
		rec.ClientIP = s.clientIP(ctx)
	}
	s.refuse(ctx, rec, api, e)
}

// readError maps an error met while reading a request to the answer's
// status and error, and the error kind of the access log, each from a fixed
// set.
func (s *Server) readError(err error) (int, openai.Error, string) {
	var small *fasthttp.ErrSmallBuffer
	var timeout interface{ Timeout() bool }
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return 413, openai.NewError(openai.TypeInvalidRequest, openai.CodeTooLarge, "",
			"request body exceeds the limit of "+strconv.FormatInt(s.settings.Load().MaxBodySize, 10)+" bytes"), errorKindBodyLarge
	case errors.As(err, &small):
		return 431, openai.NewError(openai.TypeInvalidRequest, CodeHeadersTooLarge, "",
			"the request line and header fields exceed the limit of "+strconv.Itoa(readBufferSize)+" bytes"), errorKindHeadersLarge
	case errors.As(err, &timeout) && timeout.Timeout():
		return 408, openai.NewError(openai.TypeInvalidRequest, CodeReadTimeout, "", "timed out reading the request"), errorKindTimeout
	case errors.Is(err, fasthttp.ErrDuplicateContentLength):
		return 400, openai.NewError(openai.TypeInvalidRequest, CodeAmbiguousFraming, "",
			"the request has more than one Content-Length header field"), errorKindFraming
	case errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		return 501, unsupportedTransferEncoding(), errorKindFraming
	}
	return 400, openai.NewError(openai.TypeInvalidRequest, CodeMalformed, "", "the request is not valid HTTP/1.1"), errorKindBadRequest
}

func unsupportedTransferEncoding() openai.Error {
	return openai.NewError(openai.TypeInvalidRequest, CodeTransferEncoding, "",
		"the only transfer coding supported in requests is chunked, given once")
}

// refuse answers a request the listener will not serve because it could
// not read it, or could not tell where it ends, in the format of the
// path's client API (api), and closes the connection: whatever follows on
// it cannot be trusted to be a request.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, rec *exchange.Record, api exchange.API, e openai.Error) {
	ctx.Response.Header.Set("X-Request-Id", rec.RequestID)
	s.writeError(ctx, api, rec.RequestID, rec.Status, e)
	ctx.SetConnectionClose()
	if tc, ok := ctx.Conn().(*trackedConn); ok && !tc.used.Load() {
		// Not a request: the connection sent nothing before it timed out
		// or was closed at shutdown. It is answered, not reported.
		return
	}
	s.done(rec)
}

// earlyHeaders keeps, for each chunked request whose body is being read,
// what an answer to a failure while reading it needs: fasthttp resets the
// header when reading a chunked body fails (413 over the limit, a broken
// chunk). A Content-Length body needs none of this (its header survives a
// failure) and is not kept, so the common path costs one atomic load. An
// entry is keyed by the connection's header, dropped when the request is
// handled or fails, and replaced or dropped when the next request's header
// arrives on the connection.
type earlyHeaders struct {
	n atomic.Int64
	m sync.Map // *fasthttp.RequestHeader → *early
}

// early is what is kept of a chunked request's header.
type early struct {
	requestID        string // the client's, "" when it sent none usable
	endpoint         string
	api              exchange.API
	method, path, ua []byte
}

// keep remembers h's request until forget or take.
func (e *earlyHeaders) keep(h *fasthttp.RequestHeader, label func(path []byte) string, api func(path []byte) exchange.API) {
	path, _, _ := bytes.Cut(h.RequestURI(), []byte("?"))
	ea := &early{
		endpoint: label(path),
		api:      api(path),
		method:   bytes.Clone(h.Method()),
		path:     bytes.Clone(path[:min(len(path), maxRecorded)]),
		ua:       bytes.Clone(h.UserAgent()[:min(len(h.UserAgent()), maxRecorded)]),
	}
	if v := h.Peek("X-Request-Id"); saneRequestID(v) {
		ea.requestID = string(v)
	}
	if _, replaced := e.m.Swap(h, ea); !replaced {
		e.n.Add(1)
	}
}

// forget drops what was kept for h, if anything.
func (e *earlyHeaders) forget(h *fasthttp.RequestHeader) {
	if e.n.Load() > 0 {
		e.take(h)
	}
}

// take returns and drops what was kept for h; nil when nothing was.
func (e *earlyHeaders) take(h *fasthttp.RequestHeader) *early {
	v, ok := e.m.LoadAndDelete(h)
	if !ok {
		return nil
	}
	e.n.Add(-1)
	return v.(*early)
}

// fasthttpLogger receives fasthttp's own log lines, at debug level. Their
// arguments carry the client's bytes (a parse error quotes the header
// block, credentials included), so only the fixed text of the format and
// the class of each error argument are logged.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	ctx := context.Background()
	if !f.l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	detail, _, _ := strings.Cut(format, "%")
	attrs := []slog.Attr{slog.String("detail", strings.TrimRight(detail, " :(\"'"))}
	for _, a := range args {
		if err, ok := a.(error); ok {
			attrs = append(attrs, slog.String("error_class", errorClass(err)))
		}
	}
	f.l.LogAttrs(ctx, slog.LevelDebug, "listener", attrs...)
}

// errorClass names the kind of a connection error, from a fixed set.
func errorClass(err error) string {
	var small *fasthttp.ErrSmallBuffer
	var op *net.OpError
	var timeout interface{ Timeout() bool }
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return errorKindBodyLarge
	case errors.As(err, &small):
		return errorKindHeadersLarge
	case errors.As(err, &timeout) && timeout.Timeout():
		return "timeout"
	case errors.Is(err, fasthttp.ErrDuplicateContentLength), errors.Is(err, fasthttp.ErrUnsupportedTransferEncoding):
		return errorKindFraming
	case errors.Is(err, errPanicked):
		return "panic"
	case errors.As(err, &op):
		switch op.Op {
		case "accept", "read", "write", "close":
			return "net_" + op.Op
		}
		return "net"
	}
	return "other"
}
