// Package exchange defines the values that travel along the request path
// between stages: the decoded client request, the response handed back to
// the listener, and the per-request record that feeds logs and metrics.
// It is a leaf package so that stages can share these types without
// importing each other.
package exchange

import (
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
)

// Request is one client request after decoding.
type Request struct {
	// Endpoint is the proxied endpoint.
	Endpoint openai.Endpoint
	// Body is the raw request body as received.
	Body []byte
	// Fields are the routing fields read from Body.
	Fields openai.Fields
	// RequestID is the X-Request-Id (propagated or generated).
	RequestID string
	// SessionKey is the X-Session-Id header, used with the "user" field as
	// the consistent-hash key.
	SessionKey string
	// ClientIP is the client's address, passed on as X-Forwarded-For.
	ClientIP string
	// Forward is the client's header block as received, passed on to
	// backends after filtering (see upstream.Request.Forward). It is only
	// valid until the response is committed.
	Forward []byte
	// ModelAllowed, if not nil, reports whether the caller may use a model
	// (its API key's allowed list). Fallback models it may not use are skipped.
	ModelAllowed func(model string) bool
	// Record collects what happened, for logs and metrics. Never nil.
	Record *Record
}

// HashKey returns the consistent-hash key: the "user" field, else the
// X-Session-Id header.
func (r *Request) HashKey() string {
	if r.Fields.User != "" {
		return r.Fields.User
	}
	return r.SessionKey
}

// Field is one response header field.
type Field struct{ Name, Value string }

// Response is what goes back to the client. Exactly one of Body and Stream
// is used: Stream is set for a committed event stream.
type Response struct {
	Status int
	Header []Field
	Body   []byte
	Stream Stream
	// Backend names the backend that produced the response, "" for answers
	// made by the router itself.
	Backend string
}

// Stream is the rest of a committed event stream.
type Stream interface {
	// WriteTo relays the held first events and then every further event to
	// w as it arrives, writing once per burst. It returns a non-nil error when
	// the stream did not end cleanly; it has then already written an SSE error
	// event, and the listener must close the connection without ending the
	// body properly, so no client mistakes half an answer for a whole one.
	WriteTo(w io.Writer) (int64, error)
	// Close releases the upstream connection if WriteTo was never called. It
	// is safe to call after WriteTo.
	Close()
}

// ErrShutdown is the cancellation cause of requests still running when a
// graceful shutdown's grace period ends: the client is told the router is
// shutting down (503 before the commit point, an SSE error event after it).
var ErrShutdown = errors.New("the router is shutting down")

// WriteAborter is implemented by the writer a listener passes to
// Stream.WriteTo when it can unblock a write in progress to a client that
// stopped reading: AbortWrite makes that write, and every later one, fail
// at once. It may be called from another goroutine while Write runs.
type WriteAborter interface {
	AbortWrite()
}

// Record describes one request for the access log and metrics. The stages
// fill it in as the request passes; the listener finishes it.
type Record struct {
	Start      time.Time
	RequestID  string
	KeyID      string
	Endpoint   string
	Model      string // requested model
	Routed     string // model actually served (after alias or fallback)
	Backend    string
	Status     int
	Attempts   int
	Retries    int
	Stream     bool
	TTFT       time.Duration // time to first content token (streams) or to the full answer
	Duration   time.Duration
	Waited     time.Duration // wall time spent waiting on backends and in retry backoffs before commit
	Overhead   time.Duration // time spent in the router itself: time to commit minus Waited
	Prompt     int           // usage.prompt_tokens
	Completion int           // usage.completion_tokens
	HasUsage   bool
	ErrorKind  string // why the request failed, "" when it did not
	// ErrorDetail is the cause of a failure for the operator's log (it may
	// name backend addresses); it is never sent to the client.
	ErrorDetail string
	Aborted     bool // a committed stream ended with an error

	// ClientIP is the client's address as rate limits see it (from a
	// trusted proxy's X-Forwarded-For, else the peer); invalid when unknown.
	ClientIP netip.Addr
	// Method, Path (without the query string) and UserAgent are the
	// client's bytes as received, empty when the request could not be read
	// that far. They are raw input: sanitise them before showing them. They
	// may point into buffers the listener reuses, so they are only valid
	// until the Observer's RequestDone returns.
	Method, Path, UserAgent []byte
}
