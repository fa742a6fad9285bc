package mock

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/continuumhq/continuum/internal/anthropic"
)

// matchAnthropic maps a URL path of the Anthropic mode to its route and,
// for RouteModel, the model id.
func matchAnthropic(path string) (route, id string) {
	switch path {
	case RouteMessages, RouteCountTokens, RouteModels, RouteHealth:
		return path, ""
	}
	if id, ok := strings.CutPrefix(path, RouteModels+"/"); ok && id != "" {
		return RouteModel, id
	}
	return RouteOther, ""
}

// serveAnthropic serves one request of the Anthropic mode.
func (s *Server) serveAnthropic(w http.ResponseWriter, r *http.Request, st *state, x *exchange, route, id string) {
	o := &st.opts
	w.Header().Set(anthropic.HeaderRequestID, fmt.Sprintf("req_mock_%d", s.ids.Add(1)))
	fail := func(status int, msg string) { writeAnthropicError(w, x, status, msg) }
	switch {
	case route == RouteMessages || route == RouteCountTokens:
		if r.Method != http.MethodPost {
			s.emit(o, x, EventRequest, 0)
			w.Header().Set("Allow", http.MethodPost)
			fail(http.StatusMethodNotAllowed, "method not allowed; use POST")
			return
		}
		s.anthropicInference(r.Context(), w, r, st, x, route)
		return
	}
	x.model = id
	s.emit(o, x, EventRequest, 0)
	switch {
	case route == RouteOther:
		fail(http.StatusNotFound, "unknown path "+r.URL.Path)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		fail(http.StatusMethodNotAllowed, "method not allowed; use GET")
	case route == RouteHealth:
		s.serveHealth(w, o, x)
	case !anthropicAuthorized(o, r):
		fail(http.StatusUnauthorized, "invalid x-api-key")
	case s.warmingUp(o):
		writeAnthropicInjected(w, o, x, http.StatusServiceUnavailable, loadingMessage)
	case healthStatus(o) >= 400:
		writeAnthropicInjected(w, o, x, healthStatus(o), fmt.Sprintf("mock health status %d", healthStatus(o)))
	case route == RouteModels:
		list := anthropic.ModelList{Data: make([]anthropic.Model, len(o.Models))}
		for i, m := range o.Models {
			list.Data[i] = s.anthropicModel(m)
		}
		if len(o.Models) > 0 {
			list.FirstID, list.LastID = &o.Models[0], &o.Models[len(o.Models)-1]
		}
		writeJSON(w, x, http.StatusOK, list)
	default:
		if !o.serves(id) {
			fail(http.StatusNotFound, "model: "+id)
			return
		}
		writeJSON(w, x, http.StatusOK, s.anthropicModel(id))
	}
}

func (s *Server) anthropicModel(id string) anthropic.Model {
	return anthropic.Model{ID: id, Type: "model", DisplayName: id, CreatedAt: s.start.UTC().Format("2006-01-02T15:04:05Z")}
}

// anthropicAuthorized reports whether r carries the key the options
// require, in x-api-key or as a bearer token.
func anthropicAuthorized(o *Options, r *http.Request) bool {
	if o.RequireAPIKey == "" {
		return true
	}
	if k := r.Header.Get(anthropic.HeaderAPIKey); k != "" {
		return subtle.ConstantTimeCompare([]byte(k), []byte(o.RequireAPIKey)) == 1
	}
	return authorized(o, r)
}

// anthropicInference answers POST /v1/messages and /v1/messages/count_tokens.
func (s *Server) anthropicInference(ctx context.Context, w http.ResponseWriter, r *http.Request, st *state, x *exchange, route string) {
	o := &st.opts
	fail := func(status int, msg string) { writeAnthropicError(w, x, status, msg) }
	body, ok := s.readBody(ctx, w, r, o, x, fail)
	if !ok {
		return
	}
	var req anthropic.Request
	decodeErr := json.Unmarshal(body, &req)
	x.model = req.Model
	s.emit(o, x, EventRequest, 0)
	if !anthropicAuthorized(o, r) {
		fail(http.StatusUnauthorized, "invalid x-api-key")
		return
	}
	if s.warmingUp(o) {
		writeAnthropicInjected(w, o, x, http.StatusServiceUnavailable, loadingMessage)
		return
	}
	if decodeErr != nil {
		fail(http.StatusBadRequest, "invalid request body: "+decodeErr.Error())
		return
	}
	if v := r.Header.Get(anthropic.HeaderVersion); v == "" {
		fail(http.StatusBadRequest, "anthropic-version: header is required")
		return
	}
	if req.Model == "" {
		fail(http.StatusBadRequest, "model: field required")
		return
	}
	if !o.serves(req.Model) {
		fail(http.StatusNotFound, "model: "+req.Model)
		return
	}
	prompt := len(req.System.Joined("\n"))
	lastUser := ""
	for _, m := range req.Messages {
		text := m.Content.Joined("")
		prompt += len(text)
		if m.Role == "user" {
			lastUser = text
			for _, b := range m.Content.Blocks {
				if b.Type == anthropic.BlockToolResult {
					lastUser = "" // a tool result turn never triggers a new call
				}
			}
		}
	}
	if route == RouteCountTokens {
		writeJSON(w, x, http.StatusOK, anthropic.CountTokensResponse{InputTokens: promptTokens(prompt)})
		return
	}
	if req.MaxTokens < 1 {
		fail(http.StatusBadRequest, "max_tokens: field required")
		return
	}
	if o.ErrorStatus != 0 && st.draw() < o.ErrorRate {
		writeAnthropicInjected(w, o, x, o.ErrorStatus, fmt.Sprintf("mock injected error: %d %s", o.ErrorStatus, http.StatusText(o.ErrorStatus)))
		return
	}
	if o.Hang {
		<-ctx.Done()
		x.cancelled = true
		return
	}
	var tools []string
	for _, t := range req.Tools {
		if !t.IsServerTool() {
			tools = append(tools, t.Name)
		}
	}
	p := s.newPlan(o, "msg_mock_", req.Model, prompt, req.MaxTokens, tools, lastUser)
	if req.Stream {
		s.anthropicStream(ctx, w, o, x, p)
		return
	}
	if o.HangAfterHeaders {
		hangAfterHeaders(ctx, w, x, "application/json")
		return
	}
	if !waitAnswer(ctx, o, x, max(p.tokens, 1)) {
		return
	}
	resp := anthropic.Response{ID: p.id, Type: "message", Role: "assistant", Model: p.model}
	stop := anthropic.StopEndTurn
	if p.tool != "" {
		whole, _ := p.toolArgs()
		resp.Content = []anthropic.Block{{Type: anthropic.BlockToolUse, ID: "toolu_" + strings.TrimPrefix(p.id, "msg_"), Name: p.tool, Input: json.RawMessage(whole)}}
		stop = anthropic.StopToolUse
	} else {
		resp.Content = []anthropic.Block{anthropic.TextBlock(p.text())}
		if p.limit {
			stop = anthropic.StopMaxTokens
		}
	}
	resp.StopReason = &stop
	resp.Usage = anthropic.Usage{InputTokens: p.prompt, OutputTokens: p.outputTokens(), CacheCreationInputTokens: new(int), CacheReadInputTokens: new(int)}
	writeJSON(w, x, http.StatusOK, resp)
}

// anthropicStream answers a streamed request with the events of the real
// API, named as their types: message_start, ping, one content block with
// its deltas, message_delta with cumulative usage, message_stop.
func (s *Server) anthropicStream(ctx context.Context, w http.ResponseWriter, o *Options, x *exchange, p *plan) {
	if o.HangAfterHeaders {
		hangAfterHeaders(ctx, w, x, "text/event-stream")
		return
	}
	out, ok := startStream(w, x)
	if !ok {
		return
	}
	send := func(name string, v any) bool {
		if err := out.named(name, v); err != nil {
			x.cancelled = true
			return false
		}
		return true
	}
	start := map[string]any{"type": anthropic.EventMessageStart, "message": map[string]any{
		"id": p.id, "type": "message", "role": "assistant", "model": p.model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": p.prompt, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1},
	}}
	if !send(anthropic.EventMessageStart, start) {
		return
	}
	if o.FirstEventError || o.EmptyStream {
		if err := wait(ctx, o.Clock, o.TTFT); err != nil {
			x.cancelled = true
			return
		}
		x.failed = true
		if o.FirstEventError {
			send(anthropic.EventError, anthropic.ErrorBody{Type: "error", Error: anthropic.ErrorDetail{Type: anthropic.ErrOverloaded, Message: "Overloaded"}})
			return
		}
		if send(anthropic.EventMessageDelta, messageDelta(anthropic.StopEndTurn, p.prompt, 0)) {
			send(anthropic.EventMessageStop, map[string]string{"type": anthropic.EventMessageStop})
		}
		return
	}
	if !send(anthropic.EventPing, map[string]string{"type": anthropic.EventPing}) {
		return
	}
	stop := anthropic.StopEndTurn
	var n int
	var chunk func(i int) error
	var block map[string]any
	if p.tool != "" {
		stop = anthropic.StopToolUse
		_, parts := p.toolArgs()
		n = len(parts) + 1
		block = map[string]any{"type": anthropic.BlockToolUse, "id": "toolu_" + strings.TrimPrefix(p.id, "msg_"), "name": p.tool, "input": map[string]any{}}
		chunk = func(i int) error {
			partial := ""
			if i > 0 {
				partial = parts[i-1]
			}
			return out.named(anthropic.EventContentBlockDelta, map[string]any{"type": anthropic.EventContentBlockDelta, "index": 0,
				"delta": map[string]string{"type": anthropic.DeltaInputJSON, "partial_json": partial}})
		}
	} else {
		if p.limit {
			stop = anthropic.StopMaxTokens
		}
		n = p.tokens
		block = map[string]any{"type": anthropic.BlockText, "text": ""}
		chunk = func(i int) error {
			return out.named(anthropic.EventContentBlockDelta, map[string]any{"type": anthropic.EventContentBlockDelta, "index": 0,
				"delta": map[string]string{"type": anthropic.DeltaText, "text": token(i)}})
		}
	}
	if !send(anthropic.EventContentBlockStart, map[string]any{"type": anthropic.EventContentBlockStart, "index": 0, "content_block": block}) {
		return
	}
	if !s.vendorStream(ctx, o, x, n, chunk) {
		return
	}
	if !send(anthropic.EventContentBlockStop, map[string]any{"type": anthropic.EventContentBlockStop, "index": 0}) {
		return
	}
	if !send(anthropic.EventMessageDelta, messageDelta(stop, p.prompt, p.outputTokens())) {
		return
	}
	send(anthropic.EventMessageStop, map[string]string{"type": anthropic.EventMessageStop})
}

func messageDelta(stop string, in, out int) map[string]any {
	return map[string]any{"type": anthropic.EventMessageDelta,
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]int{"input_tokens": in, "output_tokens": out}}
}

// writeAnthropicError writes an Anthropic error body.
func writeAnthropicError(w http.ResponseWriter, x *exchange, status int, message string) {
	writeRaw(w, x, status, anthropic.NewErrorBody(anthropic.ErrorTypeForStatus(status), message, ""))
}

// writeAnthropicInjected writes an error chosen by the options, with
// Retry-After when configured; 503 and 529 are overloaded_error.
func writeAnthropicInjected(w http.ResponseWriter, o *Options, x *exchange, status int, message string) {
	if o.RetryAfter != "" {
		w.Header().Set("Retry-After", o.RetryAfter)
	}
	writeAnthropicError(w, x, status, message)
}

// writeRaw writes a JSON body with the given status.
func writeRaw(w http.ResponseWriter, x *exchange, status int, b []byte) {
	x.status = status
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client went away
}
