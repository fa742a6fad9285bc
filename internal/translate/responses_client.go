package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/continuumhq/continuum/internal/openai"
)

// NewResponsesClient returns the OpenAI Responses client API: inbound
// POST /v1/responses served by a chat completions backend. Nothing is
// stored: every answer has "store": false, and previous_response_id,
// conversation and background answer 400.
func NewResponsesClient() Client { return responsesClient{} }

type responsesClient struct{}

var _ Client = responsesClient{}

// ContentType returns "text/event-stream".
func (responsesClient) ContentType() string { return "text/event-stream" }

// respRequest is a Responses API request.
type respRequest struct {
	Model              string            `json:"model"`
	Input              json.RawMessage   `json:"input"`
	Instructions       json.RawMessage   `json:"instructions"`
	Tools              []respTool        `json:"tools"`
	ToolChoice         json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls  *bool             `json:"parallel_tool_calls"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	TopLogprobs        *int              `json:"top_logprobs"`
	Text               *respText         `json:"text"`
	Reasoning          *respReasoning    `json:"reasoning"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Conversation       json.RawMessage   `json:"conversation"`
	Background         *bool             `json:"background"`
	Prompt             json.RawMessage   `json:"prompt"`
	Store              *bool             `json:"store"`
	Stream             bool              `json:"stream"`
	StreamOptions      json.RawMessage   `json:"stream_options"`
	User               string            `json:"user"`
	SafetyIdentifier   string            `json:"safety_identifier"`
	Metadata           map[string]string `json:"metadata"`
	Include            []string          `json:"include"`
	Truncation         string            `json:"truncation"`
	MaxToolCalls       *int              `json:"max_tool_calls"`
	ServiceTier        string            `json:"service_tier"`
	PromptCacheKey     string            `json:"prompt_cache_key"`
}

var respRequestKeys = []string{
	"model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "max_output_tokens",
	"temperature", "top_p", "top_logprobs", "text", "reasoning", "previous_response_id", "conversation",
	"background", "prompt", "store", "stream", "stream_options", "user", "safety_identifier", "metadata",
	"include", "truncation", "max_tool_calls", "service_tier", "prompt_cache_key",
}

type respTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type respText struct {
	Format    *respFormat `json:"format,omitempty"`
	Verbosity string      `json:"verbosity,omitempty"`
}

type respFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type respReasoning struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary,omitempty"`
}

// respItem is an input item of any type.
type respItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ID        string          `json:"id"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	Summary   []respPart      `json:"summary"`
}

// respPart is a content part of an input or output item.
type respPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Refusal  string `json:"refusal,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	Detail   string `json:"detail,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	FileData string `json:"file_data,omitempty"`
	FileURL  string `json:"file_url,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// DecodeRequest parses a Responses request into the pivot.
func (responsesClient) DecodeRequest(body []byte, opts ClientOptions) (*openai.ChatRequest, error) {
	var rr respRequest
	if err := json.Unmarshal(body, &rr); err != nil {
		return nil, jsonError(err)
	}
	if rr.Model == "" {
		return nil, badRequest("model", CodeMissing, "Missing required parameter: 'model'.")
	}
	if rr.PreviousResponseID != nil && *rr.PreviousResponseID != "" {
		return nil, badRequest("previous_response_id", CodeUnsupported, "previous_response_id is not supported: responses are not stored; send the whole conversation as input")
	}
	if len(rr.Conversation) > 0 && string(rr.Conversation) != "null" {
		return nil, badRequest("conversation", CodeUnsupported, "conversation is not supported: responses are not stored")
	}
	if rr.Background != nil && *rr.Background {
		return nil, badRequest("background", CodeUnsupported, "background responses are not supported")
	}
	if len(rr.Prompt) > 0 && string(rr.Prompt) != "null" {
		return nil, badRequest("prompt", CodeUnsupported, "prompt templates are not supported")
	}
	req := &openai.ChatRequest{Model: rr.Model, Stream: rr.Stream}
	if len(rr.Instructions) > 0 && string(rr.Instructions) != "null" {
		var s string
		if err := json.Unmarshal(rr.Instructions, &s); err != nil {
			return nil, badRequest("instructions", CodeInvalidType, "instructions must be a string")
		}
		if s != "" {
			req.Messages = append(req.Messages, openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(s)})
		}
	}
	msgs, err := decodeRespInput(rr.Input, &opts)
	if err != nil {
		return nil, err
	}
	req.Messages = append(req.Messages, msgs...)
	if len(req.Messages) == 0 {
		return nil, badRequest("input", CodeMissing, "Missing required parameter: 'input'.")
	}

	for i, t := range rr.Tools {
		if t.Type != "function" {
			return nil, badRequest(fmt.Sprintf("tools[%d].type", i), CodeUnsupported, "tool type %q is not supported; only function tools are", t.Type)
		}
		if t.Name == "" {
			return nil, badRequest(fmt.Sprintf("tools[%d].name", i), CodeMissing, "Missing required parameter: 'tools[%d].name'.", i)
		}
		params := t.Parameters
		if len(params) == 0 || string(params) == "null" {
			params = emptyObjectSchema
		}
		req.Tools = append(req.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{Name: t.Name, Description: t.Description, Parameters: params, Strict: t.Strict}})
	}
	if len(rr.ToolChoice) > 0 && string(rr.ToolChoice) != "null" {
		tc, err := decodeRespToolChoice(rr.ToolChoice)
		if err != nil {
			return nil, err
		}
		if len(req.Tools) > 0 || tc.Mode == "none" {
			req.ToolChoice = tc
		}
	}
	if len(req.Tools) > 0 {
		req.ParallelToolCalls = rr.ParallelToolCalls
	}

	if n := rr.MaxOutputTokens; n != nil {
		if *n < 1 {
			return nil, badRequest("max_output_tokens", CodeInvalidValue, "max_output_tokens must be at least 1")
		}
		if opts.BackendType == "openai" {
			req.MaxCompletionTokens = n
		} else {
			req.MaxTokens = n
		}
	}
	req.Temperature, req.TopP = rr.Temperature, rr.TopP
	if rr.TopLogprobs != nil && *rr.TopLogprobs > 0 {
		req.Logprobs, req.TopLogprobs = openai.Ptr(true), rr.TopLogprobs
	}
	if f := rr.Text; f != nil && f.Format != nil {
		switch f.Format.Type {
		case "", "text":
		case "json_object":
			req.ResponseFormat = &openai.ResponseFormat{Type: "json_object"}
		case "json_schema":
			if len(f.Format.Schema) == 0 {
				return nil, badRequest("text.format.schema", CodeMissing, "Missing required parameter: 'text.format.schema'.")
			}
			name := f.Format.Name
			if name == "" {
				name = "response"
			}
			req.ResponseFormat = &openai.ResponseFormat{Type: "json_schema", JSONSchema: &openai.JSONSchema{Name: name, Description: f.Format.Description, Schema: f.Format.Schema, Strict: f.Format.Strict}}
		default:
			return nil, badRequest("text.format.type", CodeInvalidValue, "text.format.type %q is not supported", f.Format.Type)
		}
	}
	if r := rr.Reasoning; r != nil && r.Effort != nil {
		req.ReasoningEffort = *r.Effort
	}
	if req.Stream && !opts.NoStreamUsage {
		req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	req.User = rr.User
	if req.User == "" {
		req.User = rr.SafetyIdentifier
	}
	for _, p := range []struct {
		name string
		set  bool
	}{
		{"metadata", rr.Metadata != nil}, {"include", len(rr.Include) > 0}, {"max_tool_calls", rr.MaxToolCalls != nil},
		{"service_tier", rr.ServiceTier != ""}, {"prompt_cache_key", rr.PromptCacheKey != ""}, {"truncation", rr.Truncation != "" && rr.Truncation != "disabled"},
	} {
		if p.set {
			opts.dropped(p.name)
		}
	}
	var all map[string]json.RawMessage
	if json.Unmarshal(body, &all) == nil {
		keys := make([]string, 0, len(all))
		for k := range all {
			if !slices.Contains(respRequestKeys, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			opts.dropped(k)
		}
	}
	return req, nil
}

// decodeRespToolChoice maps a Responses tool_choice.
func decodeRespToolChoice(raw json.RawMessage) (*openai.ToolChoice, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto", "none", "required":
			return &openai.ToolChoice{Mode: s}, nil
		}
		return nil, badRequest("tool_choice", CodeInvalidValue, "tool_choice %q is not supported", s)
	}
	var o struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, badRequest("tool_choice", CodeInvalidType, "tool_choice must be a string or an object")
	}
	if o.Type != "function" || o.Name == "" {
		return nil, badRequest("tool_choice.type", CodeUnsupported, "tool_choice type %q is not supported; only function tools are", o.Type)
	}
	return &openai.ToolChoice{Function: o.Name}, nil
}

// decodeRespInput maps input (a string or a list of items) to messages.
func decodeRespInput(raw json.RawMessage, opts *ClientOptions) ([]openai.ChatMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("input", CodeInvalidType, "input must be a string or an array of items")
		}
		return []openai.ChatMessage{{Role: openai.RoleUser, Content: openai.TextContent(s)}}, nil
	}
	var items []respItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("input", CodeInvalidType, "input must be a string or an array of items: %v", err)
	}
	var msgs []openai.ChatMessage
	reasoning := ""
	// lastAssistant returns the assistant message function calls join: the
	// last message when it is an assistant's.
	lastAssistant := func() *openai.ChatMessage {
		if n := len(msgs); n > 0 && msgs[n-1].Role == openai.RoleAssistant {
			return &msgs[n-1]
		}
		msgs = append(msgs, openai.ChatMessage{Role: openai.RoleAssistant, ReasoningContent: reasoning})
		reasoning = ""
		return &msgs[len(msgs)-1]
	}
	for i := range items {
		it := &items[i]
		param := fmt.Sprintf("input[%d]", i)
		switch it.Type {
		case "", "message":
			m, err := decodeRespMessage(it, param)
			if err != nil {
				return nil, err
			}
			if m.Role == openai.RoleAssistant {
				m.ReasoningContent, reasoning = reasoning, ""
			}
			msgs = append(msgs, m)
		case "function_call":
			if it.CallID == "" || it.Name == "" {
				return nil, badRequest(param, CodeMissing, "function_call items need call_id and name")
			}
			a := lastAssistant()
			a.ToolCalls = append(a.ToolCalls, openai.ToolCall{ID: it.CallID, Type: "function", Function: openai.FunctionCall{Name: it.Name, Arguments: it.Arguments}})
		case "function_call_output":
			if it.CallID == "" {
				return nil, badRequest(param+".call_id", CodeMissing, "function_call_output items need call_id")
			}
			out, err := respOutputString(it.Output, param+".output")
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, openai.ChatMessage{Role: openai.RoleTool, ToolCallID: it.CallID, Content: openai.TextContent(out)})
		case "reasoning":
			var b strings.Builder
			for _, p := range it.Summary {
				b.WriteString(p.Text)
			}
			if parts, err := respParts(it.Content, param); err == nil {
				for _, p := range parts {
					b.WriteString(p.Text)
				}
			}
			if opts.Reasoning {
				reasoning += b.String()
			}
		default:
			return nil, badRequest(param+".type", CodeUnsupported, "input item type %q is not supported", it.Type)
		}
	}
	return msgs, nil
}

// decodeRespMessage maps a message item.
func decodeRespMessage(it *respItem, param string) (openai.ChatMessage, error) {
	role := it.Role
	switch role {
	case "user", "system", "developer", "assistant":
	default:
		return openai.ChatMessage{}, badRequest(param+".role", CodeInvalidValue, "unknown role %q", role)
	}
	c := bytes.TrimSpace(it.Content)
	if len(c) > 0 && c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return openai.ChatMessage{}, badRequest(param+".content", CodeInvalidType, "content must be a string or an array of parts")
		}
		if role == openai.RoleDeveloper {
			role = openai.RoleSystem
		}
		return openai.ChatMessage{Role: role, Content: openai.TextContent(s)}, nil
	}
	parts, err := respParts(c, param+".content")
	if err != nil {
		return openai.ChatMessage{}, err
	}
	if role == openai.RoleDeveloper {
		role = openai.RoleSystem // OpenAI-compatible servers do not all know "developer"
	}
	if role != "user" {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
			b.WriteString(p.Refusal)
		}
		return openai.ChatMessage{Role: role, Content: openai.TextContent(b.String())}, nil
	}
	out := make([]openai.ContentPart, 0, len(parts))
	for j, p := range parts {
		pp := fmt.Sprintf("%s.content[%d]", param, j)
		switch p.Type {
		case "input_text", "output_text", "text":
			out = append(out, openai.ContentPart{Type: openai.PartText, Text: p.Text})
		case "input_image":
			if p.ImageURL == "" {
				return openai.ChatMessage{}, badRequest(pp+".image_url", CodeUnsupported, "input_image needs an image_url (file ids are not supported)")
			}
			out = append(out, openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: p.ImageURL, Detail: p.Detail}})
		case "input_file":
			if p.FileData == "" {
				return openai.ChatMessage{}, badRequest(pp+".file_data", CodeUnsupported, "input_file needs file_data (file ids and URLs are not supported)")
			}
			out = append(out, openai.ContentPart{Type: openai.PartFile, File: &openai.File{FileData: p.FileData, Filename: p.Filename}})
		default:
			return openai.ChatMessage{}, badRequest(pp+".type", CodeUnsupported, "content part type %q is not supported", p.Type)
		}
	}
	return openai.ChatMessage{Role: role, Content: openai.PartsContent(out...)}, nil
}

// respParts decodes an array of content parts (null gives none).
func respParts(raw json.RawMessage, param string) ([]respPart, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var parts []respPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, badRequest(param, CodeInvalidType, "content must be a string or an array of parts")
	}
	return parts, nil
}

// respOutputString returns a function_call_output's output as text.
func respOutputString(raw json.RawMessage, param string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", badRequest(param, CodeInvalidType, "output must be a string or an array of parts")
		}
		return s, nil
	}
	parts, err := respParts(raw, param)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// The Responses API object and its items, as this client writes them.

type respObject struct {
	ID                 string           `json:"id"`
	Object             string           `json:"object"` // "response"
	CreatedAt          int64            `json:"created_at"`
	Status             string           `json:"status"`
	Error              *respError       `json:"error"`
	IncompleteDetails  *respIncomplete  `json:"incomplete_details"`
	Instructions       *string          `json:"instructions"`
	MaxOutputTokens    *int             `json:"max_output_tokens"`
	Model              string           `json:"model"`
	Output             []any            `json:"output"`
	ParallelToolCalls  bool             `json:"parallel_tool_calls"`
	PreviousResponseID *string          `json:"previous_response_id"`
	Reasoning          respReasoningOut `json:"reasoning"`
	Store              bool             `json:"store"`
	Temperature        *float64         `json:"temperature"`
	Text               respText         `json:"text"`
	ToolChoice         any              `json:"tool_choice"`
	Tools              []respTool       `json:"tools"`
	TopP               *float64         `json:"top_p"`
	Truncation         string           `json:"truncation"`
	Usage              *respUsage       `json:"usage"`
	User               *string          `json:"user"`
	Metadata           map[string]any   `json:"metadata"`
}

type respReasoningOut struct {
	Effort  *string `json:"effort"`
	Summary *string `json:"summary"`
}

type respError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type respIncomplete struct {
	Reason string `json:"reason"`
}

type respUsage struct {
	InputTokens         int               `json:"input_tokens"`
	InputTokensDetails  respInputDetails  `json:"input_tokens_details"`
	OutputTokens        int               `json:"output_tokens"`
	OutputTokensDetails respOutputDetails `json:"output_tokens_details"`
	TotalTokens         int               `json:"total_tokens"`
}

type respInputDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

type respOutputDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

type respOutputText struct {
	Type        string `json:"type"` // "output_text"
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

type respMessageItem struct {
	ID      string           `json:"id"`
	Type    string           `json:"type"` // "message"
	Status  string           `json:"status"`
	Role    string           `json:"role"`
	Content []respOutputText `json:"content"`
}

type respReasoningText struct {
	Type string `json:"type"` // "reasoning_text"
	Text string `json:"text"`
}

type respReasoningItem struct {
	ID      string              `json:"id"`
	Type    string              `json:"type"` // "reasoning"
	Summary []any               `json:"summary"`
	Content []respReasoningText `json:"content,omitempty"`
}

type respFunctionCallItem struct {
	ID        string `json:"id"`
	Type      string `json:"type"` // "function_call"
	Status    string `json:"status"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// responseID returns the response id for a completion id.
func responseID(id string) string {
	if strings.HasPrefix(id, "resp_") {
		return id
	}
	return "resp_" + sanitizeToolID(strings.TrimPrefix(id, "chatcmpl-"))
}

// itemID returns the id of output item n of a response.
func itemID(prefix, resp string, n int) string {
	return fmt.Sprintf("%s_%s_%d", prefix, strings.TrimPrefix(resp, "resp_"), n)
}

// newRespObject returns the response object echoing the request.
func newRespObject(id string, created int64, model string, req *openai.ChatRequest) respObject {
	o := respObject{
		ID: id, Object: "response", CreatedAt: created, Status: "in_progress", Model: model,
		Output: []any{}, ParallelToolCalls: true, Truncation: "disabled", Tools: []respTool{},
		Text: respText{Format: &respFormat{Type: "text"}}, ToolChoice: "auto", Metadata: map[string]any{},
	}
	if req == nil {
		return o
	}
	if o.Model == "" {
		o.Model = req.Model
	}
	if len(req.Messages) > 0 && req.Messages[0].Role == openai.RoleSystem {
		s := req.Messages[0].Content.String()
		o.Instructions = &s
	}
	if n, ok := req.MaxOutputTokens(); ok {
		o.MaxOutputTokens = &n
	}
	if req.ParallelToolCalls != nil {
		o.ParallelToolCalls = *req.ParallelToolCalls
	}
	if req.ReasoningEffort != "" {
		o.Reasoning.Effort = ptrStr(req.ReasoningEffort)
	}
	o.Temperature, o.TopP = req.Temperature, req.TopP
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			o.Text.Format = &respFormat{Type: "json_object"}
		case "json_schema":
			if rf.JSONSchema != nil {
				o.Text.Format = &respFormat{Type: "json_schema", Name: rf.JSONSchema.Name, Description: rf.JSONSchema.Description, Schema: rf.JSONSchema.Schema, Strict: rf.JSONSchema.Strict}
			}
		}
	}
	if c := req.ToolChoice; c != nil {
		if c.Function != "" {
			o.ToolChoice = map[string]string{"type": "function", "name": c.Function}
		} else {
			o.ToolChoice = c.Mode
		}
	}
	for _, t := range req.Tools {
		if t.Function != nil {
			o.Tools = append(o.Tools, respTool{Type: "function", Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters, Strict: t.Function.Strict})
		}
	}
	if req.User != "" {
		o.User = ptrStr(req.User)
	}
	return o
}

// respUsageFrom maps chat usage.
func respUsageFrom(u *openai.ChatUsage) *respUsage {
	if u == nil {
		return nil
	}
	return &respUsage{
		InputTokens: u.PromptTokens, InputTokensDetails: respInputDetails{CachedTokens: u.Cached()},
		OutputTokens: u.CompletionTokens, OutputTokensDetails: respOutputDetails{ReasoningTokens: u.Reasoning()},
		TotalTokens: u.PromptTokens + u.CompletionTokens,
	}
}

// respStatus returns the status and incomplete details for a finish reason.
func respStatus(finish string) (string, *respIncomplete) {
	switch finish {
	case openai.FinishLength:
		return "incomplete", &respIncomplete{Reason: "max_output_tokens"}
	case openai.FinishContentFilter:
		return "incomplete", &respIncomplete{Reason: "content_filter"}
	}
	return "completed", nil
}

// EncodeResponse renders a chat completion as a response object.
func (responsesClient) EncodeResponse(c *openai.ChatCompletion, req *openai.ChatRequest) ([]byte, error) {
	id := responseID(c.ID)
	o := newRespObject(id, c.Created, c.Model, req)
	var ch openai.ChatChoice
	if len(c.Choices) > 0 {
		ch = c.Choices[0]
	}
	m := ch.Message
	n := 0
	if m.ReasoningContent != "" {
		o.Output = append(o.Output, respReasoningItem{ID: itemID("rs", id, n), Type: "reasoning", Summary: []any{}, Content: []respReasoningText{{Type: "reasoning_text", Text: m.ReasoningContent}}})
		n++
	}
	text := m.Content.String()
	if text == "" && m.Refusal != nil {
		text = *m.Refusal
	}
	if text != "" || len(m.ToolCalls) == 0 {
		// A message cut short (length, content filter) is incomplete, as
		// the response is.
		status, _ := respStatus(ch.FinishReason)
		o.Output = append(o.Output, respMessageItem{ID: itemID("msg", id, n), Type: "message", Status: status, Role: "assistant",
			Content: []respOutputText{{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}}})
		n++
	}
	for _, tc := range m.ToolCalls {
		o.Output = append(o.Output, respFunctionCallItem{ID: itemID("fc", id, n), Type: "function_call", Status: "completed", CallID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		n++
	}
	o.Status, o.IncompleteDetails = respStatus(ch.FinishReason)
	o.Usage = respUsageFrom(c.Usage)
	return json.Marshal(o)
}

// EncodeError renders the OpenAI error envelope with the status unchanged.
func (responsesClient) EncodeError(status int, e openai.Error) (int, []byte) {
	if status < 400 {
		status = http.StatusInternalServerError
	}
	return status, e.JSON()
}

// Classify classifies a Responses stream event relayed unchanged to a
// Responses client.
func (responsesClient) Classify(ev openai.Event) Info {
	if ev.Data == nil {
		return Info{Ping: true}
	}
	var e struct {
		Type     string          `json:"type"`
		Delta    string          `json:"delta"`
		Message  string          `json:"message"`
		Code     string          `json:"code"`
		Item     *respItem       `json:"item"`
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return Info{Content: true}
	}
	typ := e.Type
	if typ == "" {
		typ = string(ev.Name)
	}
	switch {
	case typ == "error":
		msg := e.Message
		if msg == "" {
			msg = "stream error"
		}
		return Info{Err: upstreamError(http.StatusBadGateway, msg)}
	case typ == "response.failed":
		var r struct {
			Error *respError `json:"error"`
		}
		msg := "response failed"
		if json.Unmarshal(e.Response, &r) == nil && r.Error != nil && r.Error.Message != "" {
			msg = r.Error.Message
		}
		return Info{Err: upstreamError(http.StatusBadGateway, msg)}
	case typ == "response.completed" || typ == "response.incomplete":
		var r struct {
			Usage *respUsage `json:"usage"`
		}
		info := Info{Content: true, Done: true}
		if json.Unmarshal(e.Response, &r) == nil && r.Usage != nil {
			info.Usage = &openai.Usage{PromptTokens: r.Usage.InputTokens, CompletionTokens: r.Usage.OutputTokens, TotalTokens: r.Usage.TotalTokens}
		}
		return info
	case strings.HasSuffix(typ, ".delta"):
		return Info{Content: e.Delta != ""}
	case typ == "response.output_item.added":
		return Info{Content: e.Item != nil && e.Item.Type != "message" && e.Item.Type != "reasoning"}
	case strings.HasPrefix(typ, "response."):
		return Info{}
	}
	return Info{Unknown: true}
}
