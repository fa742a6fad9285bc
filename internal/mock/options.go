package mock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Defaults used when the corresponding Options field is zero.
const (
	DefaultModel        = "mock-model" // the only model served when Options.Models is empty
	DefaultTokens       = 16           // tokens per completion when Options.Tokens is 0
	DefaultEmbeddingDim = 8            // embedding length when Options.EmbeddingDim is 0
	DefaultSeed         = 1            // random seed when Options.Seed is 0
)

// Limits enforced by Options.Validate, so that a typo on the command line
// cannot make the mock allocate without bound.
const (
	MaxTokens       = 1 << 20 // largest Options.Tokens
	MaxEmbeddingDim = 1 << 16 // largest Options.EmbeddingDim
)

// Options configures a Server. The zero value is a healthy, instant backend
// serving DefaultModel. Every field may be changed at run time with
// Server.SetOptions; a request reads the options once, when it arrives.
type Options struct {
	// API is the API simulated: APIOpenAI, APIAnthropic or APIGemini. The
	// faults below apply to each; in the Anthropic mode an ErrorStatus of
	// 529 (or 503) is an overloaded_error, and FirstEventError sends an
	// overloaded_error event right after message_start. Default "" means
	// APIOpenAI.
	API string
	// Models lists the model IDs served. Default (nil or empty): [DefaultModel].
	Models []string
	// AcceptAnyModel serves any requested model instead of answering 404
	// model_not_found for a model not in Models, and makes
	// GET /v1/models/{id} find every id. Default false.
	AcceptAnyModel bool
	// Name identifies this backend: it is sent as the X-Mock-Backend header on
	// every response and as the system_fingerprint of completions. Default "":
	// no header and no system_fingerprint.
	Name string

	// TTFT is the time to first token. A stream sends its headers at once and
	// its first event after TTFT; any other inference response (headers
	// included) is sent after TTFT plus the token delays. Default 0: no wait.
	TTFT time.Duration
	// TokenDelay is the wait between two consecutive tokens. Default 0: none.
	TokenDelay time.Duration
	// Tokens is the number of tokens in a completion, capped by the request's
	// max_tokens or max_completion_tokens when smaller. Token i reads
	// "tok<i> " (fmt.Sprintf("tok%d ", i)). Default 0 means DefaultTokens;
	// at most MaxTokens.
	Tokens int
	// EmbeddingDim is the length of every embedding vector. Default 0 means
	// DefaultEmbeddingDim; at most MaxEmbeddingDim.
	EmbeddingDim int

	// ErrorStatus, when not 0, is an HTTP status in 400..599 answered, with an
	// OpenAI error envelope, to the inference requests picked by ErrorRate.
	// Default 0: no injected errors.
	ErrorStatus int
	// ErrorRate is the fraction (0..1) of inference requests answered with
	// ErrorStatus, drawn per request (among those that pass authentication,
	// warm-up and validation) from the random source seeded by Seed.
	// Default 0 means 1 (every request) when ErrorStatus is set.
	ErrorRate float64
	// RetryAfter, when not empty, is sent verbatim as the Retry-After header of
	// injected error responses (ErrorStatus, warm-up, and HealthStatus of 400
	// or more). It is not validated, so tests can send malformed values.
	// Default "": no header.
	RetryAfter string
	// Hang accepts inference requests and never answers them; the handler
	// returns when the client cancels. Default false.
	Hang bool
	// HangAfterHeaders answers inference requests with 200 and flushed
	// headers (text/event-stream for streams, application/json otherwise) and
	// then sends nothing until the client cancels. Default false.
	HangAfterHeaders bool
	// CutAfter, when above 0, makes a stream abort its connection after this
	// many content chunks, so the client sees an incomplete body and no
	// [DONE]. A value equal to the number of tokens cuts just before the
	// final chunk; a larger one has no effect. The abort is a
	// panic(http.ErrAbortHandler), which http.Server turns into a closed
	// connection. Default 0: off.
	CutAfter int
	// StallAfter, when above 0, makes a stream stop sending after this many
	// content chunks while keeping the connection open, until the client
	// cancels. Counted as CutAfter is. Default 0: off.
	StallAfter int
	// FirstEventError makes a stream's first event (after TTFT) the error
	// event {"error":{"message":"mock stream error","type":"server_error"}},
	// after which the stream ends without [DONE]. Default false.
	FirstEventError bool
	// EmptyStream makes a stream send only "data: [DONE]" (after TTFT), with
	// no content chunk. Default false.
	EmptyStream bool
	// HealthStatus is the HTTP status of /health and of the model lists
	// (/v1/models, /v1/models/{id}, /api/tags); from 400 on they answer an
	// error envelope. Inference endpoints are not affected. Default 0 means
	// 200.
	HealthStatus int
	// WarmupFor simulates a backend loading its model: for this long after New,
	// measured on Clock, the health and model endpoints answer 503 and
	// inference endpoints answer 503 "loading model". SetOptions does not
	// restart the period. Default 0: no warm-up.
	WarmupFor time.Duration
	// RequireAPIKey, when not empty, makes every endpoint except /health answer
	// 401 authentication_error to requests without
	// "Authorization: Bearer <RequireAPIKey>". Default "": no authentication.
	RequireAPIKey string

	// Seed seeds the random source behind ErrorRate; SetOptions reseeds it.
	// Default 0 means DefaultSeed.
	Seed uint64
	// Clock times TTFT, TokenDelay, WarmupFor and the "created" fields.
	// Default nil means clock.Real(); tests inject clock.NewFake.
	Clock clock.Clock
	// Gate, when not nil, is called with the request's context before each
	// content chunk of a stream is sent (chunk is 0-based; the final, usage
	// and [DONE] events are not gated). Tests use it to step a stream. If it
	// returns an error the stream is aborted as with CutAfter, or counted as
	// cancelled when the context is done. Default nil: no gate.
	Gate func(ctx context.Context, chunk int) error
}

// Validate reports every invalid field of o, joined, or nil.
func (o Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch o.API {
	case "", APIOpenAI, APIAnthropic, APIGemini:
	default:
		add("api %q is not one of openai, anthropic, gemini", o.API)
	}
	for i, m := range o.Models {
		if m == "" {
			add("model %d is empty", i+1)
		}
	}
	if o.TTFT < 0 {
		add("ttft %v is negative", o.TTFT)
	}
	if o.TokenDelay < 0 {
		add("token delay %v is negative", o.TokenDelay)
	}
	if o.Tokens < 0 || o.Tokens > MaxTokens {
		add("tokens %d is outside 0..%d", o.Tokens, MaxTokens)
	}
	if o.EmbeddingDim < 0 || o.EmbeddingDim > MaxEmbeddingDim {
		add("embedding dimension %d is outside 0..%d", o.EmbeddingDim, MaxEmbeddingDim)
	}
	if o.ErrorStatus != 0 && (o.ErrorStatus < 400 || o.ErrorStatus > 599) {
		add("error status %d is outside 400..599", o.ErrorStatus)
	}
	if math.IsNaN(o.ErrorRate) || o.ErrorRate < 0 || o.ErrorRate > 1 {
		add("error rate %v is outside 0..1", o.ErrorRate)
	} else if o.ErrorRate > 0 && o.ErrorStatus == 0 {
		add("error rate %v needs an error status", o.ErrorRate)
	}
	if o.CutAfter < 0 {
		add("cut-after %d is negative", o.CutAfter)
	}
	if o.StallAfter < 0 {
		add("stall-after %d is negative", o.StallAfter)
	}
	if o.HealthStatus != 0 && (o.HealthStatus < 200 || o.HealthStatus > 599) {
		add("health status %d is outside 200..599", o.HealthStatus)
	}
	if o.WarmupFor < 0 {
		add("warm-up %v is negative", o.WarmupFor)
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of o with every zero field that has a default
// set to it. The copy owns its Models slice.
func (o Options) withDefaults() Options {
	if len(o.Models) == 0 {
		o.Models = []string{DefaultModel}
	} else {
		o.Models = slices.Clone(o.Models)
	}
	if o.Tokens == 0 {
		o.Tokens = DefaultTokens
	}
	if o.EmbeddingDim == 0 {
		o.EmbeddingDim = DefaultEmbeddingDim
	}
	if o.ErrorStatus != 0 && o.ErrorRate == 0 {
		o.ErrorRate = 1
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	return o
}

// serves reports whether model is served under o.
func (o *Options) serves(model string) bool {
	return o.AcceptAnyModel || slices.Contains(o.Models, model)
}
