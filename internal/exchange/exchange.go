// Package exchange defines the values that travel along the request path
// between stages, whatever API the client speaks: the call (one client
// request after decoding), the refusal an admission stage answers with, the
// response handed back to the listener with its event stream, and the
// per-request record that feeds logs and metrics. It is a leaf package so
// that stages can share these types without importing each other.
package exchange

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
)

// API is one of the client-facing APIs the router serves.
type API uint8

// The APIs. The zero API is not one.
const (
	// ChatCompletions is OpenAI's POST /v1/chat/completions.
	ChatCompletions API = iota + 1
	// Completions is OpenAI's legacy POST /v1/completions.
	Completions
	// Embeddings is OpenAI's POST /v1/embeddings.
	Embeddings
	// Responses is OpenAI's POST /v1/responses.
	Responses
	// Messages is Anthropic's POST /v1/messages.
	Messages
	// CountTokens is Anthropic's POST /v1/messages/count_tokens.
	CountTokens
	// Models is GET /v1/models and /v1/models/{id}: not proxied, but
	// admitted like the others (it needs the read scope).
	Models
)

// String returns the API's metric label, e.g. "chat_completions".
func (a API) String() string {
	switch a {
	case ChatCompletions:
		return "chat_completions"
	case Completions:
		return "completions"
	case Embeddings:
		return "embeddings"
	case Responses:
		return "responses"
	case Messages:
		return "messages"
	case CountTokens:
		return "count_tokens"
	case Models:
		return "models"
	}
	return "unknown"
}

// Streams reports whether the API can answer with server-sent events.
func (a API) Streams() bool {
	return a == ChatCompletions || a == Completions || a == Responses || a == Messages
}

// Anthropic reports whether the API is Anthropic's: its clients expect
// Anthropic's error envelope and headers.
func (a API) Anthropic() bool { return a == Messages || a == CountTokens }

// Inference reports whether the API runs a model (it needs the write scope).
func (a API) Inference() bool { return a != Models && a != 0 }

// Call is one client request after decoding, whatever its API. The listener
// fills it in; the admission stages identify the caller and may refuse it;
// the proxy routes it.
type Call struct {
	// API is the client-facing API called.
	API API
	// Body is the raw request body as received.
	Body []byte
	// Fields are the routing fields read from Body (every API names them
	// alike at the top level: model, stream, user).
	Fields openai.Fields
	// RequestID is the X-Request-Id (propagated or generated).
	RequestID string
	// SessionKey is the X-Session-Id header, used with the "user" field as
	// the consistent-hash key.
	SessionKey string
	// ClientIP is the client's address as limits see it (from a trusted
	// proxy's X-Forwarded-For, else the peer); invalid when unknown.
	ClientIP netip.Addr
	// ForwardedFor is the X-Forwarded-For value to send upstream.
	ForwardedFor string
	// Forward is the client's header block as received, passed on to
	// backends after filtering (see upstream.Request.Forward). It is only
	// valid until the response is committed.
	Forward []byte
	// Header reads the client's request header fields, such as
	// anthropic-version. Nil means none; valid until the response is
	// committed.
	Header HeaderReader
	// Credential is the API key the client sent (nil when none), taken
	// from the headers its API uses.
	Credential []byte
	// Caller is who sent the call; the authentication stage sets it.
	Caller Caller
	// ResponseHeader collects fields the stages add to the answer, whatever
	// it is (the rate-limit headers, for example).
	ResponseHeader []Field
	// Charge is what the call's token limits reserved at admission; nil
	// when no token limit applies. The proxy settles it when the call ends:
	// reconciled to the usage the backend reported, refunded when no
	// backend answered.
	Charge Charge
	// Estimate is admission's estimate of the call's tokens; zero when no
	// token limit needed one.
	Estimate Estimate
	// Record collects what happened, for logs and metrics. Never nil.
	Record *Record
}

// Charge is a reservation of tokens against the call's token limits,
// settled once when the call ends. The application implements it over its
// rate-limit store, so that the proxy needs no limit package. Its methods
// may make one round trip to the store (bounded by the store's deadline)
// and are safe for concurrent use.
type Charge interface {
	// Reserved returns the tokens reserved so far: the estimate plus the
	// granted top-ups.
	Reserved() int64
	// TopUp reserves n more tokens for a stream that outgrew its
	// reservation, and reports whether they were granted. A refused top-up
	// changes nothing: the stream goes on and Reconcile charges the
	// overrun as debt.
	TopUp(n int64) bool
	// Reconcile settles the reservation to the tokens used: it refunds the
	// rest, or charges the overrun as debt. Only the first Reconcile or
	// Refund acts.
	Reconcile(used int64)
	// Refund returns every reserved token: the call failed before any
	// token was produced. Request limits still count the call.
	Refund()
}

// Estimate is an estimate of a call's tokens before it is sent.
type Estimate struct {
	// Prompt is the estimated prompt (input) tokens.
	Prompt int64
	// Output is the most output tokens the call may produce (its max_tokens,
	// or a default when it sets none).
	Output int64
}

// Total returns Prompt + Output.
func (e Estimate) Total() int64 { return e.Prompt + e.Output }

// HeaderReader reads request header fields: Peek returns a field's value,
// nil when absent. *fasthttp.RequestHeader implements it.
type HeaderReader interface {
	Peek(name string) []byte
}

// HashKey returns the consistent-hash key: the "user" field, else the
// X-Session-Id header.
func (c *Call) HashKey() string {
	if c.Fields.User != "" {
		return c.Fields.User
	}
	return c.SessionKey
}

// ModelAllowed reports whether the caller may use model.
func (c *Call) ModelAllowed(model string) bool {
	return c.Caller.Models == nil || c.Caller.Models.Allows(model)
}

// Caller is who sent a call, as authentication saw it. The zero Caller is
// anonymous and may do everything.
type Caller struct {
	// KeyID identifies the API key; "" for anonymous callers.
	KeyID string
	// Models restricts the models and scopes of the caller; nil means none.
	Models Permissions
	// RatePerSecond and Burst are the key's own rate limit; zero means none.
	RatePerSecond float64
	Burst         int
}

// Permissions says which models and scopes a caller may use.
// *auth.Principal implements it.
type Permissions interface {
	Allows(model string) bool
	// HasScope reports whether the caller holds a scope: "write" is needed
	// for inference, "read" (or "write") to list models.
	HasScope(scope string) bool
}

// Refusal is an answer the router makes instead of serving a call: an
// admission stage's (401, 403, 429, 503) or a malformed request's (400).
// The listener renders it in the client API's error format.
type Refusal struct {
	Status  int
	Type    string // OpenAI error type, e.g. authentication_error
	Code    string
	Param   string
	Message string
	// Kind is the error kind for the access log and metrics, e.g.
	// "auth_invalid", "missing_scope", "rate_limited_api_key"; "" means Type.
	Kind string
	// Header holds fields to send with the answer (Retry-After,
	// WWW-Authenticate, x-ratelimit-*).
	Header []Field
}

func (r *Refusal) Error() string { return r.Message }

// Err returns the refusal as the body of the OpenAI error envelope.
func (r *Refusal) Err() openai.Error { return openai.NewError(r.Type, r.Code, r.Param, r.Message) }

// RetryAfter returns a Retry-After field for d: whole seconds, at least 1.
func RetryAfter(d time.Duration) Field {
	secs := int64((d + time.Second - 1) / time.Second)
	return Field{Name: "Retry-After", Value: strconv.FormatInt(max(secs, 1), 10)}
}

// Field is one response header field.
type Field struct{ Name, Value string }

// Response is what goes back to the client, in the client API's format.
// Exactly one of Body and Stream is used: Stream is set for a committed
// event stream.
type Response struct {
	Status int
	Header []Field
	Body   []byte
	Stream Stream
	// Backend names the backend that produced the response, "" for answers
	// made by the router itself.
	Backend string
}

// Stream is the rest of a committed event stream, as events already
// rendered for the client. The listener pulls them: the time between two
// calls of Next is the client's (writing to it), never the backend's.
type Stream interface {
	// Attach gives the stream a way to unblock a write to the client that
	// blocks too long (client_write_timeout); called once before Next.
	Attach(a WriteAborter)
	// Next appends the next burst of events to dst: the events already
	// received, or the next one to arrive. With a nil error more follow;
	// with io.EOF the stream ended cleanly and dst holds its last events;
	// with ErrStreamAborted dst holds an error event and the listener must
	// close the connection without ending the body, so no client mistakes
	// half an answer for a whole one; any other error means the client is
	// gone or stopped reading, and the connection is closed.
	Next(dst []byte) ([]byte, error)
	// Close releases the stream if Next never returned an error. It is safe
	// to call at any time, more than once.
	Close()
}

// ErrStreamAborted is returned by Stream.Next when the stream failed after
// the commit point, with an error event for the client.
var ErrStreamAborted = errors.New("stream aborted after commit")

// ErrShutdown is the cancellation cause of requests still running when a
// graceful shutdown's grace period ends: the client is told the router is
// shutting down (503 before the commit point, an SSE error event after it).
var ErrShutdown = errors.New("the router is shutting down")

// WriteAborter is what a listener gives a Stream (Attach) when it can
// unblock a write in progress to a client that stopped reading: AbortWrite
// makes that write, and every later one, fail at once. It may be called
// from another goroutine while the listener writes.
type WriteAborter interface {
	AbortWrite()
}

// Record describes one request for the access log and metrics. The stages
// fill it in as the request passes; the listener finishes it.
type Record struct {
	Start      time.Time
	RequestID  string
	KeyID      string
	Endpoint   string // the API's label (exchange.API.String), or models, health, unknown, other
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
	// Cache says whether the answer was reused (cache.Hit, cache.Shared),
	// or made upstream for a request that could have reused one
	// (cache.Miss); "" when neither deduplication nor the response cache
	// applied to the request.
	Cache string

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
