package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/continuumhq/continuum/internal/openai"
)

// OpenAIEventInfo classifies one event of an OpenAI chat completions stream
// (openai.InspectEvent), with its usage and a mapped error.
func OpenAIEventInfo(ev openai.Event) Info {
	if ev.Data == nil && ev.Name == nil {
		return Info{Ping: len(bytes.TrimSpace(ev.Raw)) > 0}
	}
	if ev.IsDone() {
		return Info{Done: true}
	}
	c := openai.InspectEvent(ev)
	info := Info{Content: c.Content}
	if c.Error {
		info.Content = false
		info.Err = openAIStreamError(ev.Data, c.Message)
		return info
	}
	if openai.MayHaveUsage(ev.Data) {
		if u, ok := openai.ParseUsage(ev.Data); ok {
			info.Usage = &u
		}
	}
	return info
}

// openAIStreamError maps the data of an OpenAI stream error event.
func openAIStreamError(data []byte, message string) *UpstreamError {
	var body struct {
		Error struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		} `json:"error"`
	}
	status := http.StatusBadGateway
	if json.Unmarshal(data, &body) == nil {
		switch body.Error.Type {
		case "rate_limit_exceeded", "rate_limit_error", "requests", "tokens":
			status = http.StatusTooManyRequests
		case "overloaded_error", "no_backend_available":
			status = http.StatusServiceUnavailable
		case "upstream_timeout", "timeout_error":
			status = http.StatusGatewayTimeout
		}
	}
	e := upstreamError(status, message)
	e.UpstreamType = body.Error.Type
	return e
}

// DecodeOpenAIChunk decodes one OpenAI chat completions stream event into a
// pivot chunk, for mixed pairs (an OpenAI-compatible backend behind an
// Anthropic or Responses client). It returns a nil chunk for events that
// carry none ([DONE], comments, errors); the Info says which.
func DecodeOpenAIChunk(ev openai.Event) (*openai.ChatChunk, Info, error) {
	info := OpenAIEventInfo(ev)
	if info.Err != nil || info.Done || ev.Data == nil {
		return nil, info, nil
	}
	var c openai.ChatChunk
	if err := json.Unmarshal(ev.Data, &c); err != nil {
		return nil, Info{}, fmt.Errorf("decode chat chunk: %w", err)
	}
	if c.Usage != nil {
		u := c.Usage.Basic()
		info.Usage = &u
	}
	return &c, info, nil
}

// NewOpenAIStreamDecoder returns a StreamDecoder of an OpenAI-compatible
// backend's chat stream (DecodeOpenAIChunk per event), for Anthropic and
// Responses clients of such a backend. The answer is complete when a
// finish reason or [DONE] was seen; Finish appends nothing.
func NewOpenAIStreamDecoder() StreamDecoder { return &openAIDecoder{} }

type openAIDecoder struct{ finished bool }

// Decode decodes one event; a malformed event is an upstream error.
func (d *openAIDecoder) Decode(ev openai.Event, out []*openai.ChatChunk) ([]*openai.ChatChunk, Info) {
	c, info, err := DecodeOpenAIChunk(ev)
	if err != nil {
		return out, Info{Err: &UpstreamError{Status: http.StatusBadGateway, Type: openai.TypeUpstream, Code: openai.TypeUpstream, Message: "malformed stream event from the backend: " + err.Error()}}
	}
	if info.Done {
		d.finished = true
	}
	if c != nil {
		for _, ch := range c.Choices {
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				d.finished = true
			}
		}
		out = append(out, c)
	}
	return out, info
}

// Finish reports whether a finish reason or [DONE] was seen.
func (d *openAIDecoder) Finish(out []*openai.ChatChunk) ([]*openai.ChatChunk, bool) {
	return out, d.finished
}

// EncodeOpenAIChunk appends one pivot chunk as an OpenAI SSE event
// ("data: {…}\n\n").
func EncodeOpenAIChunk(dst []byte, c *openai.ChatChunk) []byte {
	b, err := json.Marshal(c)
	if err != nil { // the pivot types always encode; Extra members were validated
		return dst
	}
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

// DecodeOpenAIError maps an OpenAI-compatible backend's error answer to an
// UpstreamError (for Anthropic and Responses clients of such a backend).
func DecodeOpenAIError(status int, body []byte) *UpstreamError {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	msg := http.StatusText(status)
	var typ string
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var e struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		}
		if json.Unmarshal(env.Error, &e) == nil {
			if e.Message != "" {
				msg = e.Message
			}
			typ = e.Type
		} else if s := ""; json.Unmarshal(env.Error, &s) == nil && s != "" {
			msg = s // {"error": "text"}, as some servers send
		}
	} else if t := bytes.TrimSpace(body); len(t) > 0 && len(t) < 1024 && !bytes.HasPrefix(t, []byte("<")) {
		msg = string(t)
	}
	e := upstreamError(status, msg)
	e.UpstreamType = typ
	return e
}

// NewOpenAIStreamEncoder returns a StreamEncoder that writes OpenAI chat
// completions events, for an OpenAI client of a translated backend
// (Anthropic, Gemini native). End writes "data: [DONE]"; Fail writes the
// error envelope as a data event; Ping writes the comment ": ping".
func NewOpenAIStreamEncoder(req *openai.ChatRequest) StreamEncoder { return openAIEncoder{} }

type openAIEncoder struct{}

func (openAIEncoder) Chunk(dst []byte, c *openai.ChatChunk) []byte { return EncodeOpenAIChunk(dst, c) }
func (openAIEncoder) Ping(dst []byte) []byte                       { return append(dst, ": ping\n\n"...) }
func (openAIEncoder) End(dst []byte) []byte                        { return append(dst, "data: [DONE]\n\n"...) }
func (openAIEncoder) Fail(dst []byte, e *UpstreamError) []byte {
	typ := e.Type
	if isAnthropicErrorType(e.UpstreamType) {
		typ = e.UpstreamType // spec §3a: the Anthropic type, with the §4 code
	}
	dst = append(dst, "data: "...)
	dst = append(dst, openai.NewError(typ, e.Code, "", e.Message).JSON()...)
	return append(dst, "\n\n"...)
}

// EncodeCountTokens returns the body of a count_tokens answer,
// {"input_tokens":n}.
func EncodeCountTokens(n int) []byte {
	return fmt.Appendf(nil, `{"input_tokens":%d}`, n)
}

// EstimateTokens estimates the input tokens of a request as its characters
// divided by 4 (at least 1): message text, tool calls and results, and tool
// definitions. It is the count_tokens answer for backends that cannot count.
func EstimateTokens(req *openai.ChatRequest) int {
	n := 0
	for i := range req.Messages {
		m := &req.Messages[i]
		n += len(m.Content.String()) + len(m.Name) + len(m.ReasoningContent)
		for _, p := range m.Content.Parts {
			if p.Type == openai.PartImageURL {
				n += 85 * 4 // a low-detail image, as OpenAI counts it
			}
		}
		for _, tc := range m.ToolCalls {
			n += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
	}
	for _, t := range req.Tools {
		if t.Function != nil {
			n += len(t.Function.Name) + len(t.Function.Description) + len(t.Function.Parameters)
		}
	}
	return max(1, n/4)
}
