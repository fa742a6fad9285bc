package mock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// APIs a Server can simulate (Options.API).
const (
	APIOpenAI    = "openai"    // OpenAI-compatible (the default)
	APIAnthropic = "anthropic" // the Anthropic Messages API
	APIGemini    = "gemini"    // Gemini's native generateContent API
)

// Routes of the Anthropic and Gemini modes, as counted in Stats.ByPath.
const (
	RouteMessages       = "/v1/messages"
	RouteCountTokens    = "/v1/messages/count_tokens"
	RouteGeminiModels   = "/v1beta/models"
	RouteGeminiModel    = "/v1beta/models/{id}"
	RouteGenerate       = "/v1beta/models/{id}:generateContent"
	RouteStreamGenerate = "/v1beta/models/{id}:streamGenerateContent"
)

// ToolTrigger is the word that makes every mode (chat completions in the
// OpenAI mode) answer with a tool call: when the request declares tools and the text of its last
// user message contains it (in any case), the answer calls the first
// declared tool with {"query": <that text>} instead of generating tokens.
const ToolTrigger = "tool"

// vendorRoutes are the routes the Anthropic and Gemini modes add.
var vendorRoutes = []string{RouteMessages, RouteCountTokens, RouteGeminiModels, RouteGeminiModel, RouteGenerate, RouteStreamGenerate}

// plan is what one simulated vendor answer holds.
type plan struct {
	id     string
	model  string
	prompt int    // prompt tokens
	tokens int    // generated tokens (0 for a tool call)
	limit  bool   // the request's token limit cut the answer
	tool   string // the tool to call, "" for text
	query  string // the tool call's query
}

// toolArgs returns the tool call's input, split in two fragments in the
// middle of a token (as real streams split arguments).
func (p *plan) toolArgs() (whole string, parts [2]string) {
	b, _ := json.Marshal(map[string]string{"query": p.query}) // strings always encode
	whole = string(b)
	cut := min(len(`{"qu`), len(whole))
	return whole, [2]string{whole[:cut], whole[cut:]}
}

// newPlan builds the plan of an answer: a tool call when the trigger fires,
// else Options.Tokens tokens capped by limit (0: no limit).
func (s *Server) newPlan(o *Options, prefix, model string, promptBytes, limit int, tools []string, lastUser string) *plan {
	p := &plan{id: fmt.Sprintf("%s%d", prefix, s.ids.Add(1)), model: model, prompt: promptTokens(promptBytes), tokens: o.Tokens}
	if len(tools) > 0 && strings.Contains(strings.ToLower(lastUser), ToolTrigger) {
		p.tool, p.query, p.tokens = tools[0], lastUser, 0
		return p
	}
	if limit > 0 && limit < p.tokens {
		p.tokens, p.limit = limit, true
	}
	return p
}

// text returns the whole generated text.
func (p *plan) text() string {
	var b strings.Builder
	for i := range p.tokens {
		b.WriteString(token(i))
	}
	return b.String()
}

// outputTokens returns the answer's output tokens.
func (p *plan) outputTokens() int {
	if p.tool != "" {
		return 1 + len(p.query)/4
	}
	return p.tokens
}

// readBody reads an inference body for the vendor modes, answering 413 or
// 400 (via fail) or noting a cancellation; it reports false when the
// request is over.
func (s *Server) readBody(ctx context.Context, w http.ResponseWriter, r *http.Request, o *Options, x *exchange, fail func(status int, msg string)) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		s.emit(o, x, EventRequest, 0)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit))
		case ctx.Err() != nil:
			x.cancelled = true
		default:
			fail(http.StatusBadRequest, "read request body: "+err.Error())
		}
		return nil, false
	}
	s.last.Store(&lastRequest{path: x.path, header: x.header, body: body})
	return body, true
}

// vendorStream runs the content events of a vendor stream: chunk i is sent
// by send after its delay (TTFT for the first, TokenDelay after), with
// CutAfter, StallAfter and Gate applied as in the OpenAI mode. It reports
// false when the stream must end (the client went away).
func (s *Server) vendorStream(ctx context.Context, o *Options, x *exchange, n int, send func(i int) error) bool {
	for i := range n {
		if interrupted(ctx, o, x, i) {
			return false
		}
		delay := o.TokenDelay
		if i == 0 {
			delay = o.TTFT
		}
		if err := wait(ctx, o.Clock, delay); err != nil {
			x.cancelled = true
			return false
		}
		if o.Gate != nil {
			if err := o.Gate(ctx, i); err != nil {
				if ctx.Err() != nil {
					x.cancelled = true
					return false
				}
				abort(x)
			}
		}
		if err := send(i); err != nil {
			x.cancelled = true
			return false
		}
		s.emit(o, x, EventChunk, i)
	}
	return !interrupted(ctx, o, x, n)
}

// startStream sends 200 text/event-stream headers and flushes them.
func startStream(w http.ResponseWriter, x *exchange) (*sseWriter, bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	out := &sseWriter{w: w, rc: http.NewResponseController(w)}
	if err := flush(out.rc); err != nil {
		x.cancelled = true
		return nil, false
	}
	return out, true
}

// named writes the event "event: <name>\ndata: <json of v>\n\n" and flushes it.
func (e *sseWriter) named(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	e.buf = append(e.buf[:0], "event: "...)
	e.buf = append(e.buf, name...)
	e.buf = append(e.buf, "\ndata: "...)
	e.buf = append(e.buf, b...)
	e.buf = append(e.buf, "\n\n"...)
	if _, err := e.w.Write(e.buf); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return flush(e.rc)
}

// waitAnswer waits for TTFT and the token delays of a non-streamed answer
// of n chunks; it reports false when the client went away.
func waitAnswer(ctx context.Context, o *Options, x *exchange, n int) bool {
	if err := wait(ctx, o.Clock, o.TTFT+time.Duration(max(n-1, 0))*o.TokenDelay); err != nil {
		x.cancelled = true
		return false
	}
	return true
}
