package openai

import (
	"bytes"
	"encoding/json"
)

// Usage is the token accounting OpenAI returns in "usage".
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ParseUsage finds the top-level "usage" object of a JSON document (a whole
// response body or one stream chunk) and decodes it. It reports false when
// there is none, it is null, or the document is not a JSON object.
func ParseUsage(doc []byte) (Usage, bool) {
	var u Usage
	found := false
	_ = Members(doc, func(m Member) bool {
		if !m.KeyIs("usage") {
			return true
		}
		v := doc[m.Start:m.End]
		if len(v) > 0 && v[0] == '{' && json.Unmarshal(v, &u) == nil {
			found = true
		}
		return false
	})
	return u, found
}

var usageKey = []byte(`"usage"`)

// MayHaveUsage is a cheap pre-check for ParseUsage on stream chunks.
func MayHaveUsage(data []byte) bool { return bytes.Contains(data, usageKey) }

// Chunk summarises what a stream event carries, as far as the router cares
// before the commit point.
type Chunk struct {
	// Content is true when the event carries model output: text, a tool or
	// function call, a refusal, reasoning, a finish reason or usage. Events
	// that only announce the role, and keep-alive comments, carry none.
	Content bool
	// Error is true when the event reports an error (an "error" member or an
	// "event: error" field).
	Error bool
	// Message is the error message when Error is set and one was given.
	Message string
}

type chunkProbe struct {
	Error   json.RawMessage `json:"error"`
	Choices []struct {
		Delta *struct {
			Content          *string         `json:"content"`
			Refusal          *string         `json:"refusal"`
			ReasoningContent *string         `json:"reasoning_content"`
			Reasoning        *string         `json:"reasoning"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
			FunctionCall     json.RawMessage `json:"function_call"`
		} `json:"delta"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
}

// InspectEvent classifies one stream event. Events whose data is not a JSON
// object the router understands count as content: the router relays what it
// does not understand rather than failing over from it.
func InspectEvent(ev Event) Chunk {
	if bytes.Equal(ev.Name, []byte("error")) {
		return Chunk{Error: true, Message: string(ev.Data)}
	}
	if ev.Data == nil || ev.IsDone() {
		return Chunk{}
	}
	var p chunkProbe
	if err := json.Unmarshal(ev.Data, &p); err != nil {
		return Chunk{Content: true}
	}
	if notNull(p.Error) {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(p.Error, &e) != nil || e.Message == "" {
			e.Message = string(p.Error)
		}
		return Chunk{Error: true, Message: e.Message}
	}
	if notNull(p.Usage) {
		return Chunk{Content: true}
	}
	for _, c := range p.Choices {
		if nonEmpty(c.Text) || (c.FinishReason != nil && *c.FinishReason != "") {
			return Chunk{Content: true}
		}
		if d := c.Delta; d != nil {
			if nonEmpty(d.Content) || nonEmpty(d.Refusal) || nonEmpty(d.ReasoningContent) ||
				nonEmpty(d.Reasoning) || notNull(d.ToolCalls) || notNull(d.FunctionCall) {
				return Chunk{Content: true}
			}
		}
	}
	return Chunk{}
}

func nonEmpty(s *string) bool { return s != nil && *s != "" }

func notNull(m json.RawMessage) bool {
	return len(m) > 0 && !bytes.Equal(m, []byte("null"))
}
