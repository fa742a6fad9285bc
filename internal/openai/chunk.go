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

// ParseUsage finds the "usage" object of a JSON document (a whole response
// body or one stream chunk) and reads its token counts. OpenAI-compatible
// servers put usage last, at the top level, so the last "usage" key of the
// document is taken; the rest of the document is not decoded or validated.
// It reports false when there is no usage object (or it is null or malformed).
// It does not allocate.
func ParseUsage(doc []byte) (Usage, bool) {
	end := len(doc)
	for {
		i := bytes.LastIndex(doc[:end], usageKey)
		if i < 0 {
			return Usage{}, false
		}
		end = i
		if escaped(doc, i) {
			continue
		}
		s := scanner{b: doc, i: i + len(usageKey)}
		s.ws()
		if s.i >= len(doc) || doc[s.i] != ':' {
			continue
		}
		s.i++
		s.ws()
		if s.i >= len(doc) || doc[s.i] != '{' {
			return Usage{}, false
		}
		return s.usage()
	}
}

// escaped reports whether the quote at doc[i] is escaped (preceded by an odd
// number of backslashes), that is, inside a string.
func escaped(doc []byte, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && doc[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// usage reads an object of token counts starting at s.i ('{').
func (s *scanner) usage() (Usage, bool) {
	var u Usage
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		return u, true
	}
	for {
		s.ws()
		ks, ke, _, err := s.str()
		if err != nil {
			return Usage{}, false
		}
		key := s.b[ks+1 : ke-1]
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return Usage{}, false
		}
		s.i++
		s.ws()
		vs := s.i
		if err := s.value(1); err != nil {
			return Usage{}, false
		}
		var dst *int
		switch string(key) {
		case "prompt_tokens":
			dst = &u.PromptTokens
		case "completion_tokens":
			dst = &u.CompletionTokens
		case "total_tokens":
			dst = &u.TotalTokens
		}
		if dst != nil {
			n, ok := atoi(s.b[vs:s.i])
			if !ok {
				return Usage{}, false
			}
			*dst = n
		}
		s.ws()
		if s.i >= len(s.b) {
			return Usage{}, false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			return u, true
		default:
			return Usage{}, false
		}
	}
}

// atoi parses a non-negative JSON integer.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
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
