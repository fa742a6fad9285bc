// Package translate converts between the client and backend APIs Continuum
// speaks: OpenAI chat completions, the Anthropic Messages API, the OpenAI
// Responses API and Gemini's native generateContent. Every translation goes
// through a pivot, the OpenAI chat completions format (openai.ChatRequest,
// openai.ChatCompletion, openai.ChatChunk): client API → pivot → backend
// API, and back. Same-API pairs are relayed unchanged by the core and only
// need their events classified (Client.Classify, OpenAIEventInfo).
//
// The package is pure: no I/O, no clocks or random sources of its own unless
// the options leave them unset, no package-level mutable state.
package translate

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/continuumhq/continuum/internal/openai"
)

// Info classifies one upstream stream event for the proxy: the commit
// point is the first event with Content; an event with Err before commit
// fails over; Done is a clean end; Usage is cumulative (latest wins).
type Info struct {
	Content bool
	Done    bool
	Ping    bool
	Err     *UpstreamError
	Usage   *openai.Usage
	// Unknown is set for an event of a type the decoder does not know; it
	// yields nothing and may be counted in a metric.
	Unknown bool
}

// UpstreamError is a backend's error (an HTTP error answer or a stream error
// event), mapped per the spec §4 into OpenAI terms.
type UpstreamError struct {
	Status   int    // status to answer an OpenAI client with (e.g. Anthropic 529 -> 503)
	Type     string // OpenAI-style error type (upstream_error, rate_limit_exceeded, overloaded_error, ...)
	Code     string
	Message  string // the upstream message, kept
	Capacity bool   // 429 / overloaded: the backend is busy, not broken (cooldown + failover)
	Final    bool   // never retry (e.g. Anthropic spend limit), a 4xx the client caused
	// SpendLimit marks Anthropic's enforced spend limit (a 429 that is
	// Final, not Capacity): the backend's breaker should open.
	SpendLimit bool
	// UpstreamType is the backend's own error type or status name
	// (overloaded_error, RESOURCE_EXHAUSTED), "" when it gave none.
	UpstreamType string
}

// Error returns the upstream message with its type.
func (e *UpstreamError) Error() string {
	return fmt.Sprintf("upstream %s (%d): %s", e.Type, e.Status, e.Message)
}

// OpenAI returns the error as an OpenAI envelope body.
func (e *UpstreamError) OpenAI() openai.Error {
	return openai.NewError(e.Type, e.Code, "", e.Message)
}

// Backend is one backend API (anthropic, gemini). The OpenAI API needs none.
type Backend interface {
	// Path is the request path below the backend's base URL for a pivot request
	// (e.g. "/v1/messages"; Gemini: "/v1beta/models/{model}:generateContent" or
	// ":streamGenerateContent?alt=sse").
	Path(req *openai.ChatRequest) string
	// EncodeRequest builds the backend's request body from a pivot request.
	// Errors are *RequestError (a 400 for the client: e.g. bmp image, n>1).
	EncodeRequest(req *openai.ChatRequest, opts BackendOptions) ([]byte, error)
	// DecodeResponse maps a whole successful backend answer to the pivot.
	DecodeResponse(body []byte, req *openai.ChatRequest) (*openai.ChatCompletion, error)
	// DecodeError maps a non-2xx backend answer (status, body) to an UpstreamError.
	DecodeError(status int, body []byte) *UpstreamError
	// NewStreamDecoder returns a decoder for one streamed answer.
	NewStreamDecoder(req *openai.ChatRequest, opts BackendOptions) StreamDecoder
}

// StreamDecoder turns a backend's SSE events into pivot chunks.
type StreamDecoder interface {
	// Decode consumes one upstream event, appends the pivot chunks it yields
	// to out, and classifies it.
	Decode(ev openai.Event, out []*openai.ChatChunk) ([]*openai.ChatChunk, Info)
	// Finish is called when the upstream body ends (EOF). It appends closing
	// chunks (finish reason, usage chunk when include_usage was asked) and
	// reports whether the answer was complete (a finish/message_stop seen).
	Finish(out []*openai.ChatChunk) ([]*openai.ChatChunk, bool)
}

// Client is one inbound API (Anthropic Messages, OpenAI Responses). OpenAI
// chat completions needs none.
type Client interface {
	// DecodeRequest parses and validates an inbound body into a pivot request.
	// Errors are *RequestError (400 in the client's own error format).
	DecodeRequest(body []byte, opts ClientOptions) (*openai.ChatRequest, error)
	// EncodeResponse renders a pivot completion as the client's answer body.
	EncodeResponse(c *openai.ChatCompletion, req *openai.ChatRequest) ([]byte, error)
	// EncodeError renders an error in the client's format: its HTTP status
	// (e.g. 503 -> 529 for Anthropic overloaded) and body.
	EncodeError(status int, e openai.Error) (int, []byte)
	// NewStreamEncoder returns an encoder for one streamed answer.
	NewStreamEncoder(req *openai.ChatRequest) StreamEncoder
	// Classify classifies one event of the client's own API coming from a
	// backend of the same API (passthrough, e.g. Anthropic→Anthropic): commit point, errors, usage.
	Classify(ev openai.Event) Info
	// ContentType of a streamed answer ("text/event-stream").
	ContentType() string
}

// StreamEncoder renders pivot chunks as the client's SSE events.
type StreamEncoder interface {
	Chunk(dst []byte, c *openai.ChatChunk) []byte // append the client's events for one pivot chunk
	Ping(dst []byte) []byte                       // keep-alive after commit (may append nothing)
	End(dst []byte) []byte                        // clean end: closing events (message_stop / response.completed)
	Fail(dst []byte, e *UpstreamError) []byte     // error event, NO completion marker
}

// RequestError is a request the client must fix (400), with the param.
type RequestError struct{ Param, Code, Message string }

// Error returns the message.
func (e *RequestError) Error() string { return e.Message }

// OpenAI returns the error as an OpenAI invalid_request_error envelope body.
func (e *RequestError) OpenAI() openai.Error {
	return openai.NewError(openai.TypeInvalidRequest, e.Code, e.Param, e.Message)
}

// Codes of RequestError.
const (
	CodeInvalidJSON  = "invalid_json"
	CodeMissing      = "missing_required_parameter"
	CodeInvalidType  = "invalid_type"
	CodeInvalidValue = "invalid_value"
	CodeUnsupported  = "unsupported_parameter"
)

func badRequest(param, code, format string, args ...any) *RequestError {
	return &RequestError{Param: param, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Defaults of the options.
const (
	// DefaultMaxTokens is the max_tokens sent to Anthropic when the client
	// set none (LiteLLM's and GoModel's choice).
	DefaultMaxTokens = 4096
)

// Gemini modes of BackendOptions.GeminiMode.
const (
	GeminiNative = "native" // generateContent / streamGenerateContent
	GeminiOpenAI = "openai" // the OpenAI-compatible endpoint (/v1beta/openai/)
)

// BackendOptions are the settings of one backend that a translation to its
// API depends on. The zero value is usable: every field states its default.
type BackendOptions struct {
	// AnthropicVersion is the anthropic-version the backend is called with.
	// Sampling parameters (temperature, top_p, top_k) are sent only with
	// 2023-06-01. Default "" means anthropic.DefaultVersion (2023-06-01).
	AnthropicVersion string
	// AnthropicBeta lists the backend's anthropic-beta values; the core
	// merges them with the client's. The translators do not read it.
	AnthropicBeta []string
	// DefaultMaxTokens is the max_tokens sent to Anthropic when the request
	// has none. Default 0 means DefaultMaxTokens (4096).
	DefaultMaxTokens int
	// ClampTemperature clamps a temperature above 1 to 1 for Anthropic
	// instead of answering 400. Default false.
	ClampTemperature bool
	// KeepSystemInPlace sends system messages that follow a non-system
	// message as role "system" messages where they are, instead of hoisting
	// them into the system prompt. Default false (hoist).
	KeepSystemInPlace bool
	// Reasoning makes decoded streams and answers carry the backend's
	// reasoning as reasoning_content. Default false: thinking is dropped
	// from OpenAI output.
	Reasoning bool
	// ThinkingBlocks adds Anthropic thinking signatures to streamed OpenAI
	// output as delta.thinking_blocks (non-streamed answers always carry
	// them). Default false.
	ThinkingBlocks bool
	// AdaptiveThinkingModels lists the Anthropic models that take
	// thinking {type:"adaptive"} and output_config.effort instead of a
	// budget (Opus 4.7+). Default nil: budgets for every model.
	AdaptiveThinkingModels []string
	// JSONSchemaModels lists the Anthropic models that support
	// output_config.format; other models get json_schema through a forced
	// json_tool_call tool. Default nil.
	JSONSchemaModels []string
	// GeminiMode is GeminiNative or GeminiOpenAI: the core uses
	// NewGeminiBackend for the first and the OpenAI path with GeminiCompat
	// (at GeminiCompatPath) for the second; the translators do not read it.
	// Default "" means native.
	GeminiMode string
	// GeminiSafetySettings, when set, is sent as the safetySettings of native
	// Gemini requests (a JSON array). Default nil: none.
	GeminiSafetySettings []byte
	// Dropped is called with the name of each request parameter the backend
	// cannot take and that was left out, for X-Continuum-Dropped-Params.
	// If nil, nothing is reported.
	Dropped func(param string)
	// Warn is called with a note about a lossy translation (thinking dropped
	// for a tool turn, a tool_use without a parsable input). If nil, nothing
	// is reported.
	Warn func(msg string)
	// Now gives the created time of decoded answers. If nil, time.Now is used.
	Now func() time.Time
	// NewID returns a fresh random id with the given prefix ("toolu_",
	// "call_"). If nil, 24 random hex digits follow the prefix.
	NewID func(prefix string) string
}

// ClientOptions are the settings a decoded client request depends on: the
// client's own headers and the flags of the backend type the pivot is made
// for (an OpenAI-compatible backend: openai, vllm, llamacpp, ollama, …).
// The zero value is usable.
type ClientOptions struct {
	// BackendType is the target backend's type. "openai" gets
	// max_completion_tokens (o-series reject max_tokens) and PDF file
	// parts; "vllm", "llamacpp" and "ollama" get top_k; "vllm" gets
	// continue_final_message for an assistant prefill. Default "": a generic
	// OpenAI-compatible server (max_tokens, no top_k, PDFs answer 400).
	BackendType string
	// Reasoning passes thinking and reasoning settings on to the backend
	// (reasoning_content of assistant turns, reasoning_effort from a
	// thinking budget). Default false: they are dropped.
	Reasoning bool
	// NoStreamUsage leaves stream_options.include_usage out of streamed
	// requests. Default false: usage is asked for, since Anthropic and
	// Responses clients need it.
	NoStreamUsage bool
	// DropUnsupportedTools drops Anthropic server tools (web_search, bash, …)
	// instead of answering 400. Default false.
	DropUnsupportedTools bool
	// AnthropicVersion is the client's anthropic-version header. With
	// 2026-10-21, temperature, top_p and top_k answer 400. Default "" means
	// 2023-06-01.
	AnthropicVersion string
	// AnthropicBeta is the client's anthropic-beta list; kept for the core.
	AnthropicBeta []string
	// CountTokens decodes a count_tokens body, in which max_tokens is not
	// required. Default false.
	CountTokens bool
	// Dropped is called with each parameter left out of the pivot. If nil,
	// nothing is reported.
	Dropped func(param string)
}

// now returns the options' clock reading.
func (o *BackendOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// newID returns a fresh id with prefix.
func (o *BackendOptions) newID(prefix string) string {
	if o.NewID != nil {
		return o.NewID(prefix)
	}
	return randomID(prefix)
}

func (o *BackendOptions) dropped(param string) {
	if o.Dropped != nil {
		o.Dropped(param)
	}
}

func (o *BackendOptions) warn(format string, args ...any) {
	if o.Warn != nil {
		o.Warn(fmt.Sprintf(format, args...))
	}
}

func (o *ClientOptions) dropped(param string) {
	if o.Dropped != nil {
		o.Dropped(param)
	}
}

// randomID returns prefix followed by 24 random hex digits.
func randomID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// statusType returns the OpenAI error type and code the router uses for an
// upstream error status (spec §4, left column).
func statusType(status int) (typ, code string) {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return openai.TypeInvalidRequest, ""
	case http.StatusUnauthorized:
		return openai.TypeAuthentication, ""
	case http.StatusPaymentRequired:
		return "billing_error", "insufficient_quota"
	case http.StatusForbidden:
		return openai.TypePermission, ""
	case http.StatusNotFound:
		return "not_found_error", openai.CodeModelNotFound
	case http.StatusRequestEntityTooLarge:
		return openai.TypeInvalidRequest, openai.CodeTooLarge
	case http.StatusTooManyRequests:
		return openai.TypeRateLimit, openai.CodeRateLimit
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return openai.TypeTimeout, openai.TypeTimeout
	case http.StatusServiceUnavailable:
		return "overloaded_error", "overloaded"
	}
	if status >= 500 {
		return openai.TypeUpstream, openai.TypeUpstream
	}
	return openai.TypeInvalidRequest, ""
}

// upstreamError builds an UpstreamError for a backend status, classifying
// capacity and finality the same way for every backend API.
func upstreamError(status int, message string) *UpstreamError {
	out := status
	switch {
	case status == http.StatusTooManyRequests:
	case status == http.StatusServiceUnavailable || status == 529:
		out = http.StatusServiceUnavailable
	case status == http.StatusGatewayTimeout || status == http.StatusRequestTimeout:
		out = http.StatusGatewayTimeout
	case status >= 500:
		out = http.StatusBadGateway
	case status < 400:
		out = http.StatusBadGateway
	}
	typ, code := statusType(out)
	e := &UpstreamError{Status: out, Type: typ, Code: code, Message: message}
	switch {
	case out == http.StatusTooManyRequests || out == http.StatusServiceUnavailable:
		e.Capacity = true
	case out >= 400 && out < 500 && out != http.StatusRequestTimeout:
		e.Final = true
	}
	return e
}
