package mock

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/continuumhq/continuum/internal/gemini"
)

// mockThoughtSignature is the thought signature of the Gemini mode's
// function calls.
const mockThoughtSignature = "bW9jay1zaWduYXR1cmU="

// matchGemini maps a URL path of the Gemini mode to its route and model id.
func matchGemini(path string) (route, id string) {
	switch path {
	case RouteGeminiModels, RouteHealth:
		return path, ""
	}
	rest, ok := strings.CutPrefix(path, RouteGeminiModels+"/")
	if !ok || rest == "" {
		return RouteOther, ""
	}
	if m, ok := strings.CutSuffix(rest, ":generateContent"); ok && m != "" {
		return RouteGenerate, m
	}
	if m, ok := strings.CutSuffix(rest, ":streamGenerateContent"); ok && m != "" {
		return RouteStreamGenerate, m
	}
	if strings.Contains(rest, ":") {
		return RouteOther, ""
	}
	return RouteGeminiModel, rest
}

// serveGemini serves one request of the Gemini mode.
func (s *Server) serveGemini(w http.ResponseWriter, r *http.Request, st *state, x *exchange, route, id string) {
	o := &st.opts
	fail := func(status int, msg string) { writeGeminiError(w, x, status, msg) }
	if route == RouteGenerate || route == RouteStreamGenerate {
		if r.Method != http.MethodPost {
			x.model = id
			s.emit(o, x, EventRequest, 0)
			w.Header().Set("Allow", http.MethodPost)
			fail(http.StatusMethodNotAllowed, "method not allowed; use POST")
			return
		}
		s.geminiInference(r.Context(), w, r, st, x, route, id)
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
	case !geminiAuthorized(o, r):
		fail(http.StatusUnauthorized, "API key not valid. Please pass a valid API key.")
	case s.warmingUp(o):
		writeGeminiInjected(w, o, x, http.StatusServiceUnavailable, loadingMessage)
	case healthStatus(o) >= 400:
		writeGeminiInjected(w, o, x, healthStatus(o), fmt.Sprintf("mock health status %d", healthStatus(o)))
	case route == RouteGeminiModels:
		list := gemini.ModelList{Models: make([]gemini.Model, len(o.Models))}
		for i, m := range o.Models {
			list.Models[i] = geminiModel(m)
		}
		writeJSON(w, x, http.StatusOK, list)
	default:
		m := strings.TrimPrefix(id, "models/")
		if !o.serves(m) {
			fail(http.StatusNotFound, "models/"+m+" is not found for API version v1beta")
			return
		}
		writeJSON(w, x, http.StatusOK, geminiModel(m))
	}
}

func geminiModel(id string) gemini.Model {
	return gemini.Model{Name: "models/" + id, Version: "001", DisplayName: id, InputTokenLimit: 1048576, OutputTokenLimit: 65536,
		SupportedGenerationMethods: []string{"generateContent", "streamGenerateContent", "countTokens"}}
}

// geminiAuthorized reports whether r carries the key the options require,
// in x-goog-api-key or the key query parameter.
func geminiAuthorized(o *Options, r *http.Request) bool {
	if o.RequireAPIKey == "" {
		return true
	}
	k := r.Header.Get(gemini.HeaderAPIKey)
	if k == "" {
		k = r.URL.Query().Get("key")
	}
	return subtle.ConstantTimeCompare([]byte(k), []byte(o.RequireAPIKey)) == 1
}

// geminiInference answers generateContent and streamGenerateContent.
func (s *Server) geminiInference(ctx context.Context, w http.ResponseWriter, r *http.Request, st *state, x *exchange, route, model string) {
	o := &st.opts
	fail := func(status int, msg string) { writeGeminiError(w, x, status, msg) }
	x.model = model
	body, ok := s.readBody(ctx, w, r, o, x, fail)
	if !ok {
		return
	}
	var req gemini.Request
	decodeErr := json.Unmarshal(body, &req)
	s.emit(o, x, EventRequest, 0)
	if !geminiAuthorized(o, r) {
		fail(http.StatusUnauthorized, "API key not valid. Please pass a valid API key.")
		return
	}
	if s.warmingUp(o) {
		writeGeminiInjected(w, o, x, http.StatusServiceUnavailable, loadingMessage)
		return
	}
	if decodeErr != nil {
		fail(http.StatusBadRequest, "Invalid JSON payload received. "+decodeErr.Error())
		return
	}
	if !o.serves(model) {
		fail(http.StatusNotFound, "models/"+model+" is not found for API version v1beta")
		return
	}
	if len(req.Contents) == 0 {
		fail(http.StatusBadRequest, "* GenerateContentRequest.contents: contents is not specified")
		return
	}
	if route == RouteStreamGenerate && r.URL.Query().Get("alt") != "sse" {
		fail(http.StatusBadRequest, "the mock streams with alt=sse only")
		return
	}
	prompt, lastUser := 0, ""
	if req.SystemInstruction != nil {
		for _, p := range req.SystemInstruction.Parts {
			prompt += len(p.Text)
		}
	}
	for _, c := range req.Contents {
		text, result := "", false
		for _, p := range c.Parts {
			text += p.Text
			result = result || p.FunctionResponse != nil
		}
		prompt += len(text)
		if c.Role != gemini.RoleModel {
			lastUser = text
			if result {
				lastUser = ""
			}
		}
	}
	limit := 0
	if gc := req.GenerationConfig; gc != nil && gc.MaxOutputTokens != nil {
		if *gc.MaxOutputTokens < 1 {
			fail(http.StatusBadRequest, "generationConfig.maxOutputTokens must be at least 1")
			return
		}
		limit = *gc.MaxOutputTokens
	}
	if o.ErrorStatus != 0 && st.draw() < o.ErrorRate {
		writeGeminiInjected(w, o, x, o.ErrorStatus, fmt.Sprintf("mock injected error: %d %s", o.ErrorStatus, http.StatusText(o.ErrorStatus)))
		return
	}
	if o.Hang {
		<-ctx.Done()
		x.cancelled = true
		return
	}
	var tools []string
	for _, t := range req.Tools {
		for _, d := range t.FunctionDeclarations {
			tools = append(tools, d.Name)
		}
	}
	p := s.newPlan(o, "mock-", model, prompt, limit, tools, lastUser)
	if route == RouteStreamGenerate {
		s.geminiStream(ctx, w, o, x, p)
		return
	}
	if o.HangAfterHeaders {
		hangAfterHeaders(ctx, w, x, "application/json")
		return
	}
	if !waitAnswer(ctx, o, x, max(p.tokens, 1)) {
		return
	}
	var part gemini.Part
	if p.tool != "" {
		whole, _ := p.toolArgs()
		part = gemini.Part{FunctionCall: &gemini.FunctionCall{Name: p.tool, Args: json.RawMessage(whole)}, ThoughtSignature: mockThoughtSignature}
	} else {
		part = gemini.Part{Text: p.text()}
	}
	writeJSON(w, x, http.StatusOK, p.geminiChunk([]gemini.Part{part}, p.geminiFinish(), p.outputTokens()))
}

func (p *plan) geminiFinish() string {
	if p.limit {
		return gemini.FinishMaxTokens
	}
	return gemini.FinishStop
}

// geminiChunk returns an answer (or one stream event) with the usage so far.
func (p *plan) geminiChunk(parts []gemini.Part, finish string, out int) gemini.Response {
	return gemini.Response{
		Candidates:    []gemini.Candidate{{Content: &gemini.Content{Role: gemini.RoleModel, Parts: parts}, FinishReason: finish}},
		UsageMetadata: &gemini.UsageMetadata{PromptTokenCount: p.prompt, CandidatesTokenCount: out, TotalTokenCount: p.prompt + out},
		ModelVersion:  p.model, ResponseID: p.id,
	}
}

// geminiStream answers streamGenerateContent?alt=sse: one event per token
// (or one event with the whole function call), the last with finishReason.
func (s *Server) geminiStream(ctx context.Context, w http.ResponseWriter, o *Options, x *exchange, p *plan) {
	if o.HangAfterHeaders {
		hangAfterHeaders(ctx, w, x, "text/event-stream")
		return
	}
	out, ok := startStream(w, x)
	if !ok {
		return
	}
	if o.FirstEventError || o.EmptyStream {
		if err := wait(ctx, o.Clock, o.TTFT); err != nil {
			x.cancelled = true
			return
		}
		x.failed = true
		if o.FirstEventError {
			if err := out.data(gemini.NewErrorBody(http.StatusServiceUnavailable, "The model is overloaded. Please try again later.")); err != nil {
				x.cancelled = true
			}
		}
		return
	}
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		return out.data(b)
	}
	if p.tool != "" {
		whole, _ := p.toolArgs()
		part := gemini.Part{FunctionCall: &gemini.FunctionCall{Name: p.tool, Args: json.RawMessage(whole)}, ThoughtSignature: mockThoughtSignature}
		s.vendorStream(ctx, o, x, 1, func(int) error { return send(p.geminiChunk([]gemini.Part{part}, gemini.FinishStop, p.outputTokens())) })
		return
	}
	s.vendorStream(ctx, o, x, p.tokens, func(i int) error {
		finish := ""
		if i == p.tokens-1 {
			finish = p.geminiFinish()
		}
		return send(p.geminiChunk([]gemini.Part{{Text: token(i)}}, finish, i+1))
	})
}

// writeGeminiError writes a Gemini error body.
func writeGeminiError(w http.ResponseWriter, x *exchange, status int, message string) {
	writeRaw(w, x, status, gemini.NewErrorBody(status, message))
}

// writeGeminiInjected writes an error chosen by the options, with
// Retry-After when configured.
func writeGeminiInjected(w http.ResponseWriter, o *Options, x *exchange, status int, message string) {
	if o.RetryAfter != "" {
		w.Header().Set("Retry-After", o.RetryAfter)
	}
	writeGeminiError(w, x, status, message)
}
