package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/translate"
	"github.com/continuumhq/continuum/internal/upstream"
)

// Dialect is how the proxy talks to one backend beyond OpenAI's wire
// format: the settings translations to its API depend on.
type Dialect struct {
	// AnthropicNative marks an OpenAI-compatible backend that also serves
	// Anthropic's /v1/messages: Anthropic clients are passed through to it.
	AnthropicNative bool
	// GeminiOpenAI calls a type gemini backend through its OpenAI-compatible
	// endpoint instead of natively.
	GeminiOpenAI bool
	// AnthropicBeta lists anthropic-beta values sent to a type anthropic
	// backend, merged with the client's.
	AnthropicBeta []string
	// Reasoning passes reasoning through translations.
	Reasoning bool
	// Options are the translation settings of the backend's API.
	Options translate.BackendOptions
}

// The translators are stateless values; one of each serves every request.
var (
	anthropicClient  = translate.NewAnthropicClient()
	responsesClient  = translate.NewResponsesClient()
	anthropicBackend = translate.NewAnthropicBackend()
	geminiBackend    = translate.NewGeminiBackend()
)

// passthroughAnthropic reports whether t speaks Anthropic's Messages API
// natively.
func passthroughAnthropic(t *Target) bool {
	return t.Backend.Type == backend.Anthropic || t.Dialect.AnthropicNative
}

// supports reports whether a call of api can be served by t: natively or
// through a translation.
func supports(api exchange.API, t *Target) bool {
	switch api {
	case exchange.ChatCompletions, exchange.Responses, exchange.Messages:
		return true
	case exchange.CountTokens:
		return passthroughAnthropic(t)
	}
	// Completions and embeddings exist only in OpenAI's API.
	return t.Backend.Type.Protocol() == backend.ProtocolOpenAI
}

// plan is how one attempt reaches its backend: the request and the relay
// that carries the answer back.
type plan struct {
	path    string
	body    []byte
	header  []upstream.Field // besides the router's own
	forward bool             // pass the client's own header fields on
	rl      relay
}

// plan prepares the attempt of a's request on t for model. A request the
// backend's API cannot express fails with a final 400 failure.
func (a *attempt) plan(model string) (plan, *failure) {
	f, t := a.f, a.t
	call := f.req
	proto := t.Backend.Type.Protocol()
	switch {
	case proto == backend.ProtocolOpenAI && (call.API == exchange.ChatCompletions || call.API == exchange.Completions || call.API == exchange.Embeddings):
		body := f.body(model)
		if call.API == exchange.ChatCompletions && f.snap.opts.Prompts != nil {
			body = f.withPrompt(t, model, false)
		}
		if call.Fields.Stream && !call.Fields.IncludeUsage && call.API != exchange.Embeddings {
			// Token metrics, per-key usage and token limits need the
			// stream's usage: ask for it, and keep the usage chunk from
			// the client that did not.
			if b, ok := openai.WithIncludeUsage(body); ok {
				body, a.openai.stripUsage = b, true
			}
		}
		return plan{path: t.Sender.APIPath(openAIPath(call.API)), body: body, forward: true, rl: &a.openai}, nil
	case (call.API == exchange.Messages || call.API == exchange.CountTokens) && passthroughAnthropic(t):
		path := "/v1/messages"
		if call.API == exchange.CountTokens {
			path += "/count_tokens"
		}
		// The client's own header fields are not passed on (its SDK's
		// X-Stainless-* and browser-access fields are not the backend's
		// business); the Anthropic ones that matter are set here.
		p := plan{path: t.Sender.RootPath(path), body: f.withPrompt(t, model, true), rl: &passAnthropic{}}
		if v := clientHeader(call, "anthropic-version"); v != "" {
			p.header = append(p.header, upstream.Field{Name: "anthropic-version", Value: v})
		}
		if beta := mergeBeta(clientHeader(call, "anthropic-beta"), t.Dialect.AnthropicBeta); beta != "" {
			p.header = append(p.header, upstream.Field{Name: "anthropic-beta", Value: beta})
		}
		return p, nil
	}
	// A translation, through the pivot.
	tr := &translated{api: call.API}
	pivot, err := decodePivot(call, t, tr.dropped)
	if err != nil {
		return plan{}, a.badRequest(err)
	}
	pivot.Model = model
	tr.pivot = pivot
	// The backend gets the system prompt; the client side keeps pivot.
	out := f.pivotWithPrompt(t, model, pivot)
	opts := t.Dialect.Options
	opts.Dropped = tr.dropped
	var p plan
	switch {
	case proto == backend.ProtocolAnthropic:
		body, err := anthropicBackend.EncodeRequest(out, opts)
		if err != nil {
			return plan{}, a.badRequest(err)
		}
		tr.backend, tr.dec = anthropicBackend, anthropicBackend.NewStreamDecoder(pivot, opts)
		p = plan{path: t.Sender.RootPath(anthropicBackend.Path(pivot)), body: body}
		if beta := mergeBeta(clientHeader(call, "anthropic-beta"), t.Dialect.AnthropicBeta); beta != "" {
			p.header = append(p.header, upstream.Field{Name: "anthropic-beta", Value: beta})
		}
	case proto == backend.ProtocolGemini && !t.Dialect.GeminiOpenAI:
		body, err := geminiBackend.EncodeRequest(out, opts)
		if err != nil {
			return plan{}, a.badRequest(err)
		}
		tr.backend, tr.dec = geminiBackend, geminiBackend.NewStreamDecoder(pivot, opts)
		p = plan{path: t.Sender.RootPath(geminiBackend.Path(pivot)), body: body}
	default: // an OpenAI-compatible API: the backend's own, or Gemini's
		path := t.Sender.APIPath("/chat/completions")
		if proto == backend.ProtocolGemini {
			translate.GeminiCompat{}.Request(out)
			tr.compat = translate.GeminiCompat{}.NewStream()
			path = t.Sender.RootPath(translate.GeminiCompatPath)
		}
		body, err := json.Marshal(out)
		if err != nil {
			return plan{}, a.badRequest(err)
		}
		tr.dec = translate.NewOpenAIStreamDecoder()
		p = plan{path: path, body: body}
	}
	switch call.API {
	case exchange.Messages:
		tr.client = anthropicClient
	case exchange.Responses:
		tr.client = responsesClient
	}
	if tr.client != nil {
		tr.enc = tr.client.NewStreamEncoder(pivot)
	} else {
		tr.enc = translate.NewOpenAIStreamEncoder(pivot)
	}
	p.rl = tr
	return p, nil
}

// decodePivot decodes the call's body into the pivot for backend t;
// dropped is told of each client parameter the backend cannot take (nil:
// nobody).
func decodePivot(call *exchange.Call, t *Target, dropped func(string)) (*openai.ChatRequest, error) {
	opts := translate.ClientOptions{
		BackendType:      string(t.Backend.Type),
		Reasoning:        t.Dialect.Reasoning,
		AnthropicVersion: clientHeader(call, "anthropic-version"),
		Dropped:          dropped,
	}
	if beta := clientHeader(call, "anthropic-beta"); beta != "" {
		opts.AnthropicBeta = strings.Split(beta, ",")
	}
	switch call.API {
	case exchange.Messages:
		return anthropicClient.DecodeRequest(call.Body, opts)
	case exchange.CountTokens:
		opts.CountTokens = true
		return anthropicClient.DecodeRequest(call.Body, opts)
	case exchange.Responses:
		return responsesClient.DecodeRequest(call.Body, opts)
	case exchange.ChatCompletions:
		var req openai.ChatRequest
		if err := json.Unmarshal(call.Body, &req); err != nil {
			return nil, &translate.RequestError{Code: translate.CodeInvalidJSON, Message: "the request body is not a valid chat completions request: " + err.Error()}
		}
		return &req, nil
	}
	return nil, &translate.RequestError{Code: translate.CodeUnsupported, Message: call.API.String() + " cannot be translated"}
}

// badRequest is the final failure of a request the backend's API cannot
// express: 400, in the client's format, never retried.
func (a *attempt) badRequest(err error) *failure {
	var re *translate.RequestError
	if !errors.As(err, &re) {
		re = &translate.RequestError{Code: translate.CodeInvalidValue, Message: err.Error()}
	}
	e := re.OpenAI()
	status, body := renderError(a.f.req.API, 400, e)
	pass := &exchange.Response{Status: status, Body: body, Header: []exchange.Field{{Name: "Content-Type", Value: "application/json"}}}
	return &failure{kind: "untranslatable", detail: re.Message, status: 400, passOn: pass, final: true}
}

// renderError renders an error for the client API: Anthropic's envelope
// for Anthropic clients, OpenAI's for the others.
func renderError(api exchange.API, status int, e openai.Error) (int, []byte) {
	if api.Anthropic() {
		return anthropicClient.EncodeError(status, e)
	}
	return status, e.JSON()
}

// RenderError renders an error the router makes in the client API's own
// format, with the request id in an Anthropic body as Anthropic puts it;
// the listener uses it for refusals.
func RenderError(api exchange.API, status int, e openai.Error, requestID string) (int, []byte) {
	status, body := renderError(api, status, e)
	if api.Anthropic() && requestID != "" {
		body = withRequestID(body, requestID)
	}
	return status, body
}

// clientHeader returns one of the client's request header values.
func clientHeader(call *exchange.Call, name string) string {
	if call.Header == nil {
		return ""
	}
	return string(call.Header.Peek(name))
}

// mergeBeta merges the client's anthropic-beta list with the backend's.
func mergeBeta(client string, backendBeta []string) string {
	var out []string
	for _, v := range append(strings.Split(client, ","), backendBeta...) {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return strings.Join(out, ",")
}

// passAnthropic relays an Anthropic-speaking backend's answer to an
// Anthropic client unchanged.
type passAnthropic struct {
	done bool
}

func (p *passAnthropic) event(dst []byte, ev openai.Event, committed bool) ([]byte, signal) {
	info := anthropicClient.Classify(ev)
	sig := infoSignal(info)
	if sig.failed {
		// The backend's error event is not relayed as it is: before the
		// commit point the request fails over; after it the stream ends
		// with the router's one error event, which carries its type and
		// message.
		return dst, sig
	}
	dst = append(dst, ev.Raw...)
	if info.Done {
		p.done = true
	}
	return dst, sig
}

func (p *passAnthropic) end(dst []byte) ([]byte, bool) { return dst, p.done }

func (p *passAnthropic) fail(dst []byte, e openai.Error) []byte {
	enc := anthropicClient.NewStreamEncoder(&openai.ChatRequest{})
	return enc.Fail(dst, streamFailure(e))
}

// streamFailure is the upstream error that ends an interrupted stream, with
// the status its type stands for (so that encoders map it to their API's
// error types: an upstream_error is Anthropic's api_error).
func streamFailure(e openai.Error) *translate.UpstreamError {
	ue := &translate.UpstreamError{Type: e.Type, Message: e.Message, Status: 502}
	if e.Code != nil {
		ue.Code = *e.Code
	}
	switch e.Type {
	case openai.TypeTimeout:
		ue.Status = 504
	case openai.TypeServer:
		ue.Status = 500
	case "overloaded_error":
		ue.Status = 503
	case openai.TypeRateLimit:
		ue.Status = 429
	}
	return ue
}

func (p *passAnthropic) whole(body []byte) ([]byte, usage, error) {
	u := usage{}
	if c, err := anthropicBackend.DecodeResponse(body, &openai.ChatRequest{}); err == nil && c.Usage != nil {
		u = usage{c.Usage.PromptTokens, c.Usage.CompletionTokens, true}
	}
	return body, u, nil
}

func (p *passAnthropic) upstreamError(status int, body []byte) (int, []byte, *translate.UpstreamError) {
	return status, body, anthropicBackend.DecodeError(status, body)
}

// translated carries an answer from the backend's API to the client's
// through the pivot.
type translated struct {
	api     exchange.API
	pivot   *openai.ChatRequest
	client  translate.Client  // nil: an OpenAI chat client
	backend translate.Backend // nil: an OpenAI-compatible backend
	compat  *translate.GeminiCompatStream
	dec     translate.StreamDecoder
	enc     translate.StreamEncoder
	chunks  []*openai.ChatChunk
	drops   []string // request parameters the backend could not take
}

func (r *translated) dropped(param string) {
	if !slices.Contains(r.drops, param) {
		r.drops = append(r.drops, param)
	}
}

func (r *translated) event(dst []byte, ev openai.Event, committed bool) ([]byte, signal) {
	var info translate.Info
	r.chunks, info = r.dec.Decode(ev, r.chunks[:0])
	dst = r.encode(dst)
	sig := infoSignal(info)
	if info.Ping && committed {
		dst = r.enc.Ping(dst)
	}
	if info.Done {
		// Closing chunks (a usage chunk) may follow the finish.
		r.chunks, _ = r.dec.Finish(r.chunks[:0])
		dst = r.enc.End(r.encode(dst))
	}
	return dst, sig
}

func (r *translated) encode(dst []byte) []byte {
	for _, c := range r.chunks {
		if r.compat != nil {
			r.compat.Chunk(c)
		}
		dst = r.enc.Chunk(dst, c)
	}
	return dst
}

func (r *translated) end(dst []byte) ([]byte, bool) {
	var whole bool
	r.chunks, whole = r.dec.Finish(r.chunks[:0])
	dst = r.encode(dst)
	if whole {
		dst = r.enc.End(dst)
	}
	return dst, whole
}

func (r *translated) fail(dst []byte, e openai.Error) []byte {
	return r.enc.Fail(dst, streamFailure(e))
}

func (r *translated) whole(body []byte) ([]byte, usage, error) {
	var c *openai.ChatCompletion
	if r.backend != nil {
		var err error
		if c, err = r.backend.DecodeResponse(body, r.pivot); err != nil {
			return nil, usage{}, err
		}
	} else {
		c = new(openai.ChatCompletion)
		if err := json.Unmarshal(body, c); err != nil {
			return nil, usage{}, fmt.Errorf("decode chat completion: %w", err)
		}
		if r.compat != nil {
			translate.GeminiCompat{}.Completion(c)
		}
	}
	u := usage{}
	if c.Usage != nil {
		u = usage{c.Usage.PromptTokens, c.Usage.CompletionTokens, true}
	}
	var out []byte
	var err error
	if r.client != nil {
		out, err = r.client.EncodeResponse(c, r.pivot)
	} else {
		out, err = json.Marshal(c)
	}
	return out, u, err
}

func (r *translated) upstreamError(status int, body []byte) (int, []byte, *translate.UpstreamError) {
	var ue *translate.UpstreamError
	switch {
	case r.backend != nil:
		ue = r.backend.DecodeError(status, body)
	case r.compat != nil:
		ue = translate.GeminiCompat{}.Error(status, body)
	default:
		ue = translate.DecodeOpenAIError(status, body)
	}
	out, b := renderError(r.api, ue.Status, ue.OpenAI())
	if r.client != nil && r.api != exchange.Messages {
		out, b = r.client.EncodeError(ue.Status, ue.OpenAI())
	}
	return out, b, ue
}

// infoSignal turns a translator's classification into a relay signal.
func infoSignal(info translate.Info) signal {
	sig := signal{content: info.Content, done: info.Done}
	if info.Err != nil {
		sig.failed, sig.message, sig.capacity = true, info.Err.Message, info.Err.Capacity
		sig.upstream = info.Err
	}
	if info.Usage != nil {
		sig.usage = usage{info.Usage.PromptTokens, info.Usage.CompletionTokens, true}
	}
	return sig
}

// droppedHeader returns the X-Continuum-Dropped-Params field of a relay
// that left request parameters out, if any.
func droppedHeader(rl relay) (exchange.Field, bool) {
	if tr, ok := rl.(*translated); ok && len(tr.drops) > 0 {
		return exchange.Field{Name: "X-Continuum-Dropped-Params", Value: strings.Join(tr.drops, ",")}, true
	}
	return exchange.Field{}, false
}
