package proxy

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/translate"
)

// relay carries one attempt's answer from the backend's API to the
// client's: unchanged when both speak the same API, translated otherwise.
// It is the only place that knows either wire format; the attempt and the
// stream only see the signals.
type relay interface {
	// event handles one upstream stream event, before the commit point
	// (committed false: it must classify the event fully) or after it (it
	// may look only at what it needs). It appends the client's bytes to dst.
	event(dst []byte, ev openai.Event, committed bool) ([]byte, signal)
	// end handles the end of the upstream body without a completion
	// marker: it appends the client's closing events, if any, and reports
	// whether the answer was whole (a finish reason was seen).
	end(dst []byte) ([]byte, bool)
	// fail appends the client's error event ending a stream interrupted
	// after the commit point; no completion marker follows it.
	fail(dst []byte, e openai.Error) []byte
	// whole converts a complete answer that is not a stream.
	whole(body []byte) ([]byte, usage, error)
	// upstreamError converts a backend's error answer for the client: the
	// status and body to pass on, and how the backend's API classifies it
	// (nil when both speak the same API: the status alone decides).
	upstreamError(status int, body []byte) (int, []byte, *translate.UpstreamError)
}

// signal says what one upstream event was.
type signal struct {
	content  bool   // model output: the first one is the commit point
	done     bool   // the completion marker: the answer is whole
	failed   bool   // an error event
	capacity bool   // the error says the backend is busy, not broken
	message  string // the error event's message, for logs
	usage    usage  // usage reported by the event, if any
	// upstream is the error event's content, when the relay understood it.
	upstream *translate.UpstreamError
}

// usage is token usage as the backend reported it.
type usage struct {
	prompt, completion int
	ok                 bool
}

// passOpenAI relays an OpenAI-compatible backend's answer to an OpenAI
// client unchanged: the fast path.
type passOpenAI struct {
	sawFinish bool
	// stripUsage keeps the usage chunk from the client: the router asked
	// for it (stream_options.include_usage) and the client did not.
	stripUsage bool
}

var _ relay = (*passOpenAI)(nil)

func (p *passOpenAI) event(dst []byte, ev openai.Event, committed bool) ([]byte, signal) {
	if p.stripUsage && committed && openai.UsageOnlyChunk(ev.Data) {
		u, _ := openai.ParseUsage(ev.Data)
		return dst, signal{usage: usage{u.PromptTokens, u.CompletionTokens, true}}
	}
	if committed && (bytes.Contains(ev.Data, errorKey) || string(ev.Name) == "error") {
		// The backend's own error event after the commit point: not
		// relayed, the stream ends with the router's one error event.
		if c := openai.InspectEvent(ev); c.Error {
			return dst, signal{failed: true, message: c.Message}
		}
	}
	dst = append(dst, ev.Raw...)
	if ev.IsDone() {
		return dst, signal{done: true}
	}
	var sig signal
	if !committed {
		c := openai.InspectEvent(ev)
		if c.Error {
			return dst, signal{failed: true, message: c.Message}
		}
		sig.content = c.Content
	}
	if !p.sawFinish && bytes.Contains(ev.Data, finishKey) {
		p.sawFinish = true
	}
	if openai.MayHaveUsage(ev.Data) {
		if u, ok := openai.ParseUsage(ev.Data); ok {
			sig.usage = usage{u.PromptTokens, u.CompletionTokens, true}
		}
	}
	return dst, sig
}

func (p *passOpenAI) end(dst []byte) ([]byte, bool) { return dst, p.sawFinish }

func (p *passOpenAI) fail(dst []byte, e openai.Error) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, e.JSON()...)
	return append(dst, "\n\n"...)
}

// upstreamError passes a backend's 4xx on unchanged, and its 5xx when it
// is in the OpenAI envelope (vLLM's and llama.cpp's are); any other 5xx
// body (a load balancer's HTML page, an empty 502) becomes the router's
// envelope: 503 and 504 keep their status, other 5xx are 502
// upstream_error.
func (p *passOpenAI) upstreamError(status int, body []byte) (int, []byte, *translate.UpstreamError) {
	if status < 500 || openai.IsErrorEnvelope(body) {
		return status, body, nil
	}
	switch status {
	case 503:
		return status, openai.ErrorForStatus(status, "the backend is unavailable").JSON(), nil
	case 504:
		return status, openai.ErrorForStatus(status, "the backend timed out").JSON(), nil
	}
	return 502, openai.ErrorForStatus(502, "the backend failed (status "+strconv.Itoa(status)+")").JSON(), nil
}

// whole checks that a complete answer is a JSON object (anything else, such
// as an HTML page from a proxy in front of the backend, is a malformed
// answer that fails over) and reads its usage. Only its outline is checked:
// validating all of it would cost more than the rest of the request.
func (p *passOpenAI) whole(body []byte) ([]byte, usage, error) {
	if !openai.LooksLikeObject(body) {
		return nil, usage{}, errNotJSONObject
	}
	u, ok := openai.ParseUsage(body)
	return body, usage{u.PromptTokens, u.CompletionTokens, ok}, nil
}

// errNotJSONObject is a 2xx answer whose body is not a JSON object.
var errNotJSONObject = errors.New("the body is not a JSON object")

var (
	finishKey = []byte(`"finish_reason":"`)
	// errorKey is in every OpenAI-style error event; content never holds
	// it unescaped.
	errorKey = []byte(`"error"`)
)

// openAIPath is the path below an OpenAI-compatible backend's /v1 of an
// API it serves natively.
func openAIPath(api exchange.API) string {
	switch api {
	case exchange.Completions:
		return "/completions"
	case exchange.Embeddings:
		return "/embeddings"
	case exchange.Responses:
		return "/responses"
	}
	return "/chat/completions"
}
