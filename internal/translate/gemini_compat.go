package translate

import (
	"bytes"
	"encoding/json"

	"github.com/continuumhq/continuum/internal/gemini"
	"github.com/continuumhq/continuum/internal/openai"
)

// GeminiCompatPath is the chat completions path of Gemini's OpenAI-compatible
// endpoint, below https://generativelanguage.googleapis.com (Bearer auth).
const GeminiCompatPath = "/v1beta/openai/chat/completions"

// GeminiCompat normalises the quirks of Gemini's OpenAI-compatible endpoint
// (spec §6): error bodies that are JSON arrays, finish_reason "stop" on
// answers with tool calls. Tool-call members it adds (extra_content with
// thought signatures) are kept by the pivot types as they are. The zero
// value is ready to use; it holds no state.
type GeminiCompat struct{}

// Error maps an error answer of the compatible endpoint, in the OpenAI
// envelope or Gemini's own form (an object with a status name, or that
// object in a one-element array).
func (GeminiCompat) Error(status int, body []byte) *UpstreamError {
	if d, ok := gemini.ParseError(body); ok && (d.Status != "" || bytes.HasPrefix(bytes.TrimSpace(body), []byte("["))) {
		return geminiError(status, body)
	}
	return DecodeOpenAIError(status, body)
}

// Request prepares a request for the compatible endpoint in place: in each
// assistant turn whose tool calls carry no thought signature (a history
// from another backend), the first call gets Google's documented
// skip_thought_signature_validator, which Gemini 3 requires.
func (GeminiCompat) Request(req *openai.ChatRequest) {
	for i := range req.Messages {
		m := &req.Messages[i]
		if m.Role != openai.RoleAssistant || len(m.ToolCalls) == 0 {
			continue
		}
		signed := false
		for _, tc := range m.ToolCalls {
			signed = signed || thoughtSignature(tc) != ""
		}
		if signed {
			continue
		}
		tc := &m.ToolCalls[0]
		if tc.Extra == nil {
			tc.Extra = map[string]json.RawMessage{}
		}
		tc.Extra["extra_content"] = signatureExtra(skipSignature)["extra_content"]
	}
}

// Completion fixes a non-streamed answer in place: a "stop" finish with tool
// calls becomes "tool_calls".
func (GeminiCompat) Completion(c *openai.ChatCompletion) {
	for i := range c.Choices {
		ch := &c.Choices[i]
		if len(ch.Message.ToolCalls) > 0 && (ch.FinishReason == openai.FinishStop || ch.FinishReason == "") {
			ch.FinishReason = openai.FinishToolCalls
		}
	}
}

// NewStream returns the fixer of one streamed answer.
func (GeminiCompat) NewStream() *GeminiCompatStream { return &GeminiCompatStream{} }

// GeminiCompatStream fixes the chunks of one streamed answer of the
// compatible endpoint: once a tool call was seen, a "stop" finish becomes
// "tool_calls".
type GeminiCompatStream struct {
	tools bool
}

// Chunk fixes c in place and reports whether it changed it.
func (s *GeminiCompatStream) Chunk(c *openai.ChatChunk) bool {
	changed := false
	for i := range c.Choices {
		ch := &c.Choices[i]
		if len(ch.Delta.ToolCalls) > 0 {
			s.tools = true
		}
		if s.tools && ch.FinishReason != nil && *ch.FinishReason == openai.FinishStop {
			ch.FinishReason = ptrStr(openai.FinishToolCalls)
			changed = true
		}
	}
	return changed
}
