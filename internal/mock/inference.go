package mock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds an inference request body; larger ones get 413.
const maxBodyBytes = 64 << 20

// inferenceRequest holds the request fields the mock acts on; the rest of
// the body is ignored. Messages and prompt are not validated.
type inferenceRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int `json:"max_tokens"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	Messages            []struct {
		Role    string `json:"role"`
		Content any    `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
	Prompt         any    `json:"prompt"`
	Input          any    `json:"input"`
	EncodingFormat string `json:"encoding_format"`
}

// serveInference answers POST /v1/chat/completions, /v1/completions and
// /v1/embeddings. Checks run in this order: authentication, warm-up, body,
// model, parameters; then the injected error, Hang, and the answer.
func (s *Server) serveInference(ctx context.Context, w http.ResponseWriter, r *http.Request, st *state, x *exchange) {
	o := &st.opts
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var req inferenceRequest
	var decodeErr error
	if readErr == nil {
		s.last.Store(&lastRequest{path: x.path, header: x.header, body: body})
		decodeErr = json.Unmarshal(body, &req)
		x.model = req.Model
	}
	s.emit(o, x, EventRequest, 0)

	if readErr != nil {
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(readErr, &tooLarge):
			writeError(w, x, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit), "", "request_too_large")
		case ctx.Err() != nil:
			x.cancelled = true
		default:
			writeError(w, x, http.StatusBadRequest, "read request body: "+readErr.Error(), "", "")
		}
		return
	}
	if !authorized(o, r) {
		unauthorized(w, x)
		return
	}
	if s.warmingUp(o) {
		writeInjectedError(w, o, x, http.StatusServiceUnavailable, loadingMessage, "model_loading")
		return
	}
	if decodeErr != nil {
		message, param := describeDecodeError(decodeErr)
		writeError(w, x, http.StatusBadRequest, message, param, "")
		return
	}
	if req.Model == "" {
		writeError(w, x, http.StatusBadRequest, "missing required parameter: 'model'", "model", "")
		return
	}
	if !o.serves(req.Model) {
		writeError(w, x, http.StatusNotFound, modelNotFound(req.Model), "", "model_not_found")
		return
	}

	var inputs []string
	limit := 0
	if x.route == RouteEmbeddings {
		var err error
		if inputs, err = embeddingInputs(req.Input); err != nil {
			writeError(w, x, http.StatusBadRequest, err.Error(), "input", "")
			return
		}
		if f := req.EncodingFormat; f != "" && f != "float" && f != "base64" {
			writeError(w, x, http.StatusBadRequest, fmt.Sprintf("invalid 'encoding_format' %q: want \"float\" or \"base64\"", f), "encoding_format", "")
			return
		}
	} else {
		var param string
		if limit, param = req.tokenLimit(); param != "" {
			writeError(w, x, http.StatusBadRequest, fmt.Sprintf("invalid '%s': must be at least 1", param), param, "")
			return
		}
	}

	if o.ErrorStatus != 0 && st.draw() < o.ErrorRate {
		status := o.ErrorStatus
		writeInjectedError(w, o, x, status, fmt.Sprintf("mock injected error: %d %s", status, http.StatusText(status)), injectedCode(status))
		return
	}
	if o.Hang {
		<-ctx.Done()
		x.cancelled = true
		return
	}
	if x.route == RouteEmbeddings {
		s.embed(ctx, w, o, x, &req, inputs)
		return
	}
	g := s.generation(o, x, &req, limit)
	if req.Stream {
		s.stream(ctx, w, o, x, g)
		return
	}
	s.complete(ctx, w, o, x, g)
}

// describeDecodeError turns a JSON decoding error into an error message and
// the offending parameter, if known.
func describeDecodeError(err error) (message, param string) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fmt.Sprintf("invalid type for '%s': got %s", typeErr.Field, typeErr.Value), typeErr.Field
	}
	return "request body is not valid JSON: " + err.Error(), ""
}

// tokenLimit returns the smaller of max_tokens and max_completion_tokens
// (0 when neither is set), or the name of the first one below 1.
func (req *inferenceRequest) tokenLimit() (limit int, invalid string) {
	for _, p := range []struct {
		name  string
		value *int
	}{{"max_tokens", req.MaxTokens}, {"max_completion_tokens", req.MaxCompletionTokens}} {
		if p.value == nil {
			continue
		}
		if *p.value < 1 {
			return 0, p.name
		}
		if limit == 0 || *p.value < limit {
			limit = *p.value
		}
	}
	return limit, ""
}

// promptBytes sizes a decoded JSON value as prompt text: a string counts its
// bytes, a number (a token ID) 4, an array the sum of its elements and an
// object its "text" field (a content part such as {"type":"text","text":"…"}).
func promptBytes(v any) int {
	switch v := v.(type) {
	case string:
		return len(v)
	case float64:
		return 4
	case []any:
		n := 0
		for _, e := range v {
			n += promptBytes(e)
		}
		return n
	case map[string]any:
		return promptBytes(v["text"])
	}
	return 0
}

// promptTokens estimates the tokens of a prompt of n bytes: n/4, at least 1.
func promptTokens(n int) int { return max(1, n/4) }

// generation is one completion being produced.
type generation struct {
	chat        bool
	id          string
	created     int64
	model       string
	fingerprint string
	tokens      int    // generated tokens; for a tool call, its chunks
	finish      string // "stop", "length" when max_tokens cut it, or "tool_calls"
	tool        string // the function to call, "" for text (ToolTrigger)
	toolID      string
	args        [2]string // the call's arguments, in two stream fragments
	usage       usage
	streamUsage any // nil, or the JSON null sent on every chunk when include_usage is set
}

func (s *Server) generation(o *Options, x *exchange, req *inferenceRequest, limit int) *generation {
	g := &generation{
		chat:        x.route == RouteChat,
		created:     o.Clock.Now().Unix(),
		model:       req.Model,
		fingerprint: o.Name,
		tokens:      o.Tokens,
		finish:      "stop",
	}
	n := s.ids.Add(1)
	var prompt int
	if g.chat {
		g.id = "chatcmpl-mock-" + strconv.FormatInt(n, 10)
		for _, m := range req.Messages {
			prompt += promptBytes(m.Content)
		}
		if tool, lastUser := req.toolCall(); tool != "" {
			_, parts := (&plan{query: lastUser}).toolArgs()
			g.tool, g.toolID, g.args = tool, "call_mock_"+strconv.FormatInt(n, 10), parts
			g.tokens, g.finish = len(parts)+1, "tool_calls"
			g.usage = usage{PromptTokens: promptTokens(prompt), CompletionTokens: (&plan{tool: tool, query: lastUser}).outputTokens()}
			g.usage.TotalTokens = g.usage.PromptTokens + g.usage.CompletionTokens
			if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
				g.streamUsage = json.RawMessage("null")
			}
			return g
		}
	} else {
		g.id = "cmpl-mock-" + strconv.FormatInt(n, 10)
		prompt = promptBytes(req.Prompt)
	}
	if limit > 0 && limit < g.tokens {
		g.tokens, g.finish = limit, "length"
	}
	g.usage = usage{PromptTokens: promptTokens(prompt), CompletionTokens: g.tokens}
	g.usage.TotalTokens = g.usage.PromptTokens + g.usage.CompletionTokens
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		g.streamUsage = json.RawMessage("null")
	}
	return g
}

// toolCall returns the function a chat request is answered with a call of,
// and the text of its last message: a request that declares functions and
// whose last message is the user's, with ToolTrigger in its text (in any
// case), calls its first function. Otherwise it returns "".
func (req *inferenceRequest) toolCall() (tool, lastUser string) {
	for _, t := range req.Tools {
		if (t.Type == "" || t.Type == "function") && t.Function.Name != "" {
			tool = t.Function.Name
			break
		}
	}
	if tool == "" || len(req.Messages) == 0 {
		return "", ""
	}
	last := req.Messages[len(req.Messages)-1]
	if last.Role != "user" {
		return "", "" // a tool result turn never triggers a new call
	}
	lastUser = messageText(last.Content)
	if !strings.Contains(strings.ToLower(lastUser), ToolTrigger) {
		return "", ""
	}
	return tool, lastUser
}

// messageText returns the text of a chat message's content: a string, or
// the text parts of an array.
func messageText(content any) string {
	switch c := content.(type) {
	case string:
		return c
	case []any:
		var b strings.Builder
		for _, part := range c {
			if m, ok := part.(map[string]any); ok {
				if t, ok := m["text"].(string); ok {
					b.WriteString(t)
				}
			}
		}
		return b.String()
	}
	return ""
}

// token returns the text of token i, "tok<i> " (as fmt.Sprintf("tok%d ", i)).
func token(i int) string { return "tok" + strconv.Itoa(i) + " " }

// complete answers a non-streaming completion after TTFT and the token delays.
func (s *Server) complete(ctx context.Context, w http.ResponseWriter, o *Options, x *exchange, g *generation) {
	if o.HangAfterHeaders {
		hangAfterHeaders(ctx, w, x, "application/json")
		return
	}
	if err := wait(ctx, o.Clock, o.TTFT+time.Duration(g.tokens-1)*o.TokenDelay); err != nil {
		x.cancelled = true
		return
	}
	if g.tool != "" {
		writeJSON(w, x, http.StatusOK, chatCompletion{
			ID: g.id, Object: "chat.completion", Created: g.created, Model: g.model, SystemFingerprint: g.fingerprint,
			Choices: []chatChoice{{Message: chatMessage{Role: "assistant", ToolCalls: []toolCall{{
				ID: g.toolID, Type: "function", Function: functionCall{Name: g.tool, Arguments: g.args[0] + g.args[1]},
			}}}, FinishReason: g.finish}},
			Usage: g.usage,
		})
		return
	}
	var text strings.Builder
	for i := range g.tokens {
		text.WriteString(token(i))
	}
	if g.chat {
		content := text.String()
		writeJSON(w, x, http.StatusOK, chatCompletion{
			ID: g.id, Object: "chat.completion", Created: g.created, Model: g.model, SystemFingerprint: g.fingerprint,
			Choices: []chatChoice{{Message: chatMessage{Role: "assistant", Content: &content}, FinishReason: g.finish}},
			Usage:   g.usage,
		})
		return
	}
	writeJSON(w, x, http.StatusOK, textCompletion{
		ID: g.id, Object: "text_completion", Created: g.created, Model: g.model, SystemFingerprint: g.fingerprint,
		Choices: []textChoice{{Text: text.String(), FinishReason: &g.finish}},
		Usage:   g.usage,
	})
}

// hangAfterHeaders sends 200 with the given content type, flushes, and waits
// for the client to go away.
func hangAfterHeaders(ctx context.Context, w http.ResponseWriter, x *exchange, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	_ = flush(http.NewResponseController(w)) // a failed flush means the client is gone: ctx is done too
	<-ctx.Done()
	x.cancelled = true
}

// stream answers a streaming completion: headers at once, the first event
// after TTFT, then one chunk per token every TokenDelay, a final chunk, an
// optional usage chunk and [DONE]. The stream faults of the options apply.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, o *Options, x *exchange, g *generation) {
	if o.HangAfterHeaders {
		hangAfterHeaders(ctx, w, x, "text/event-stream")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	out := &sseWriter{w: w, rc: http.NewResponseController(w)}
	if err := flush(out.rc); err != nil {
		x.cancelled = true
		return
	}

	if o.FirstEventError || o.EmptyStream {
		if err := wait(ctx, o.Clock, o.TTFT); err != nil {
			x.cancelled = true
			return
		}
		x.failed = true
		event := "[DONE]"
		if o.FirstEventError {
			event = streamErrorEvent
		}
		if err := out.data([]byte(event)); err != nil {
			x.cancelled = true
		}
		return
	}

	for i := range g.tokens {
		if interrupted(ctx, o, x, i) {
			return
		}
		delay := o.TokenDelay
		if i == 0 {
			delay = o.TTFT
		}
		if err := wait(ctx, o.Clock, delay); err != nil {
			x.cancelled = true
			return
		}
		if o.Gate != nil {
			if err := o.Gate(ctx, i); err != nil {
				if ctx.Err() != nil {
					x.cancelled = true
					return
				}
				abort(x)
			}
		}
		if err := out.json(g.chunk(i)); err != nil {
			x.cancelled = true
			return
		}
		s.emit(o, x, EventChunk, i)
	}
	if interrupted(ctx, o, x, g.tokens) {
		return
	}
	if err := out.json(g.finalChunk()); err != nil {
		x.cancelled = true
		return
	}
	if g.streamUsage != nil {
		if err := out.json(g.usageChunk()); err != nil {
			x.cancelled = true
			return
		}
	}
	if err := out.data([]byte("[DONE]")); err != nil {
		x.cancelled = true
	}
}

// interrupted applies CutAfter and StallAfter once sent content chunks went
// out. It aborts the connection (never returning) or stalls until the client
// cancels and reports true; it reports false when the stream goes on.
func interrupted(ctx context.Context, o *Options, x *exchange, sent int) bool {
	switch {
	case o.CutAfter > 0 && sent == o.CutAfter:
		abort(x)
	case o.StallAfter > 0 && sent == o.StallAfter:
		<-ctx.Done()
		x.cancelled = true
		return true
	}
	return false
}

// abort ends the response abruptly: net/http closes the connection without
// terminating the chunked body, so the client sees an incomplete stream.
func abort(x *exchange) {
	x.failed = true
	panic(http.ErrAbortHandler)
}

func (g *generation) chunk(i int) any {
	if g.tool != "" {
		// The call's id and name first, then its arguments in fragments.
		call := toolCallDelta{Function: functionCall{}}
		delta := chatDelta{ToolCalls: []toolCallDelta{call}}
		if i == 0 {
			delta.Role = "assistant"
			delta.ToolCalls[0].ID, delta.ToolCalls[0].Type, delta.ToolCalls[0].Function.Name = g.toolID, "function", g.tool
		} else {
			delta.ToolCalls[0].Function.Arguments = g.args[i-1]
		}
		return g.chatChunk([]chatChunkChoice{{Delta: delta}}, g.streamUsage)
	}
	if g.chat {
		delta := chatDelta{Content: token(i)}
		if i == 0 {
			delta.Role = "assistant"
		}
		return g.chatChunk([]chatChunkChoice{{Delta: delta}}, g.streamUsage)
	}
	return g.textChunk([]textChoice{{Text: token(i)}}, g.streamUsage)
}

func (g *generation) finalChunk() any {
	if g.chat {
		return g.chatChunk([]chatChunkChoice{{FinishReason: &g.finish}}, g.streamUsage)
	}
	return g.textChunk([]textChoice{{FinishReason: &g.finish}}, g.streamUsage)
}

func (g *generation) usageChunk() any {
	if g.chat {
		return g.chatChunk([]chatChunkChoice{}, g.usage)
	}
	return g.textChunk([]textChoice{}, g.usage)
}

func (g *generation) chatChunk(choices []chatChunkChoice, usage any) chatChunk {
	return chatChunk{
		ID: g.id, Object: "chat.completion.chunk", Created: g.created, Model: g.model, SystemFingerprint: g.fingerprint,
		Choices: choices, Usage: usage,
	}
}

func (g *generation) textChunk(choices []textChoice, usage any) textCompletion {
	return textCompletion{
		ID: g.id, Object: "text_completion", Created: g.created, Model: g.model, SystemFingerprint: g.fingerprint,
		Choices: choices, Usage: usage,
	}
}

// sseWriter writes server-sent events, flushing each one.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf []byte
}

// data writes the event "data: <payload>\n\n" and flushes it.
func (e *sseWriter) data(payload []byte) error {
	e.buf = append(e.buf[:0], "data: "...)
	e.buf = append(e.buf, payload...)
	e.buf = append(e.buf, "\n\n"...)
	if _, err := e.w.Write(e.buf); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return flush(e.rc)
}

// json writes v as one data event.
func (e *sseWriter) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	return e.data(b)
}

// flush flushes rc; a ResponseWriter that cannot flush is not an error.
func flush(rc *http.ResponseController) error {
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// embed answers an embeddings request after TTFT: one vector per input.
func (s *Server) embed(ctx context.Context, w http.ResponseWriter, o *Options, x *exchange, req *inferenceRequest, inputs []string) {
	if o.HangAfterHeaders {
		hangAfterHeaders(ctx, w, x, "application/json")
		return
	}
	if err := wait(ctx, o.Clock, o.TTFT); err != nil {
		x.cancelled = true
		return
	}
	list := embeddingList{Object: "list", Data: make([]embeddingItem, len(inputs)), Model: req.Model}
	for i, in := range inputs {
		v := embedding(in, o.EmbeddingDim)
		item := embeddingItem{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			item.Embedding = encodeBase64(v)
		}
		list.Data[i] = item
	}
	tokens := promptTokens(promptBytes(req.Input))
	list.Usage = embeddingUsage{PromptTokens: tokens, TotalTokens: tokens}
	writeJSON(w, x, http.StatusOK, list)
}

// errBadInput describes the accepted shapes of an embeddings input.
const errBadInput = "invalid 'input': want a string, an array of strings, an array of token IDs or an array of token ID arrays"

// embeddingInputs splits an embeddings "input" into one key per input: the
// text itself, or for a token array its IDs.
func embeddingInputs(input any) ([]string, error) {
	switch v := input.(type) {
	case nil:
		return nil, errors.New("missing required parameter: 'input'")
	case string:
		return []string{v}, nil
	case []any:
		if len(v) == 0 {
			return nil, errors.New("invalid 'input': empty array")
		}
		if key, ok := tokensKey(v); ok {
			return []string{key}, nil
		}
		keys := make([]string, len(v))
		for i, e := range v {
			switch e := e.(type) {
			case string:
				keys[i] = e
			case []any:
				key, ok := tokensKey(e)
				if !ok {
					return nil, errors.New(errBadInput)
				}
				keys[i] = key
			default:
				return nil, errors.New(errBadInput)
			}
		}
		return keys, nil
	}
	return nil, errors.New(errBadInput)
}

// tokensKey returns the key of a token array, and false if v holds anything
// but numbers. The key starts with a NUL byte so that it never equals a text.
func tokensKey(v []any) (string, bool) {
	var b strings.Builder
	b.WriteString("\x00tokens")
	for _, e := range v {
		f, ok := e.(float64)
		if !ok {
			return "", false
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	}
	return b.String(), true
}

// embedding returns a deterministic unit vector of length dim for key: a
// random source seeded with the FNV-1a hash of key draws each component.
func embedding(key string, dim int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key)) // hash writes never fail
	seed := h.Sum64()
	r := rand.New(rand.NewPCG(seed, seed))
	raw := make([]float64, dim)
	var norm float64
	for i := range raw {
		raw[i] = r.Float64()*2 - 1
		norm += raw[i] * raw[i]
	}
	norm = math.Sqrt(norm)
	v := make([]float32, dim)
	for i, f := range raw {
		if norm > 0 {
			f /= norm
		}
		v[i] = float32(f)
	}
	return v
}

// encodeBase64 encodes v as OpenAI's encoding_format "base64" does: the
// little-endian float32 bytes, in standard base64.
func encodeBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}
