package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/continuumhq/continuum/internal/anthropic"
	"github.com/continuumhq/continuum/internal/openai"
)

// NewAnthropicClient returns the Anthropic Messages client API: inbound
// POST /v1/messages (and count_tokens) served by an OpenAI-compatible
// backend (spec §1–§4, "A→O").
func NewAnthropicClient() Client { return anthropicClient{} }

type anthropicClient struct{}

var _ Client = anthropicClient{}

// ContentType returns "text/event-stream".
func (anthropicClient) ContentType() string { return "text/event-stream" }

// topKBackends are the backend types that take top_k.
var topKBackends = []string{"vllm", "llamacpp", "ollama"}

// DecodeRequest parses a Messages request into the pivot (spec §1, left column).
func (anthropicClient) DecodeRequest(body []byte, opts ClientOptions) (*openai.ChatRequest, error) {
	var ar anthropic.Request
	if err := json.Unmarshal(body, &ar); err != nil {
		return nil, jsonError(err)
	}
	if ar.Model == "" {
		return nil, badRequest("model", CodeMissing, "model: field required")
	}
	if !opts.CountTokens && ar.MaxTokens < 1 {
		return nil, badRequest("max_tokens", CodeMissing, "max_tokens: field required (at least 1)")
	}
	if ar.Messages == nil {
		return nil, badRequest("messages", CodeMissing, "messages: field required")
	}
	if opts.AnthropicVersion == anthropic.Version20261021 {
		for _, p := range []struct {
			name string
			set  bool
		}{{"temperature", ar.Temperature != nil}, {"top_p", ar.TopP != nil}, {"top_k", ar.TopK != nil}} {
			if p.set {
				return nil, badRequest(p.name, CodeUnsupported, "%s: not supported with anthropic-version %s", p.name, anthropic.Version20261021)
			}
		}
	}
	req := &openai.ChatRequest{Model: ar.Model, Stream: ar.Stream && !opts.CountTokens}

	if ar.System != nil {
		if s := ar.System.Joined("\n"); s != "" {
			req.Messages = append(req.Messages, openai.ChatMessage{Role: openai.RoleSystem, Content: openai.TextContent(s)})
		}
	}
	for i := range ar.Messages {
		msgs, err := decodeAnthropicMessage(&ar.Messages[i], i, &opts)
		if err != nil {
			return nil, err
		}
		req.Messages = append(req.Messages, msgs...)
	}
	if n := len(ar.Messages); n > 0 && ar.Messages[n-1].Role == "assistant" && opts.BackendType == "vllm" {
		// A prefill: vLLM continues the last assistant message.
		req.Extra = map[string]json.RawMessage{"continue_final_message": json.RawMessage("true"), "add_generation_prompt": json.RawMessage("false")}
	}

	for i, t := range ar.Tools {
		if t.IsServerTool() {
			if opts.DropUnsupportedTools {
				opts.dropped("tools[" + strconv.Itoa(i) + "]:" + t.Type)
				continue
			}
			return nil, badRequest(fmt.Sprintf("tools.%d.type", i), CodeUnsupported, "tools.%d: server tool %q is not supported by this model's backend", i, t.Type)
		}
		if t.Name == "" {
			return nil, badRequest(fmt.Sprintf("tools.%d.name", i), CodeMissing, "tools.%d.name: field required", i)
		}
		schema := t.InputSchema
		if len(schema) == 0 {
			schema = emptyObjectSchema
		}
		req.Tools = append(req.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{Name: t.Name, Description: t.Description, Parameters: schema, Strict: t.Strict}})
	}
	if tc := ar.ToolChoice; tc != nil && len(req.Tools) > 0 {
		switch tc.Type {
		case "auto":
			req.ToolChoice = &openai.ToolChoice{Mode: "auto"}
		case "any":
			req.ToolChoice = &openai.ToolChoice{Mode: "required"}
		case "none":
			req.ToolChoice = &openai.ToolChoice{Mode: "none"}
		case "tool":
			if tc.Name == "" {
				return nil, badRequest("tool_choice.name", CodeMissing, "tool_choice.name: field required")
			}
			req.ToolChoice = &openai.ToolChoice{Function: tc.Name}
		default:
			return nil, badRequest("tool_choice.type", CodeInvalidValue, "tool_choice.type: unknown value %q", tc.Type)
		}
		if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse {
			req.ParallelToolCalls = openai.Ptr(false)
		}
	}

	if ar.MaxTokens > 0 {
		n := ar.MaxTokens
		if opts.BackendType == "openai" {
			req.MaxCompletionTokens = &n
		} else {
			req.MaxTokens = &n
		}
	}
	req.Temperature, req.TopP = ar.Temperature, ar.TopP
	if ar.TopK != nil {
		if slices.Contains(topKBackends, opts.BackendType) {
			req.TopK = ar.TopK
		} else {
			opts.dropped("top_k")
		}
	}
	if len(ar.StopSequences) > 0 {
		req.Stop = openai.Stop(ar.StopSequences)
	}
	if req.Stream && !opts.NoStreamUsage {
		req.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if ar.Metadata != nil && ar.Metadata.UserID != "" {
		req.User = ar.Metadata.UserID
	}

	if opts.Reasoning {
		if th := ar.Thinking; th != nil && th.Type == "enabled" && th.BudgetTokens > 0 {
			req.ReasoningEffort = budgetEffort(th.BudgetTokens)
		}
		if oc := ar.OutputConfig; oc != nil && oc.Effort != "" {
			req.ReasoningEffort = openAIEffort(oc.Effort)
		}
	} else if ar.Thinking != nil && ar.Thinking.Type != "disabled" {
		opts.dropped("thinking")
	}
	if oc := ar.OutputConfig; oc != nil && oc.Format != nil {
		if oc.Format.Type != "json_schema" || len(oc.Format.Schema) == 0 {
			return nil, badRequest("output_config.format", CodeInvalidValue, "output_config.format: want {\"type\":\"json_schema\",\"schema\":…}")
		}
		req.ResponseFormat = &openai.ResponseFormat{Type: "json_schema", JSONSchema: &openai.JSONSchema{Name: "response", Schema: oc.Format.Schema, Strict: openai.Ptr(true)}}
	}
	for _, p := range []struct {
		name string
		set  bool
	}{
		{"cache_control", len(ar.CacheControl) > 0}, {"service_tier", ar.ServiceTier != ""},
		{"container", len(ar.Container) > 0}, {"mcp_servers", len(ar.MCPServers) > 0},
	} {
		if p.set {
			opts.dropped(p.name)
		}
	}
	keys := make([]string, 0, len(ar.Extra))
	for k := range ar.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		opts.dropped(k)
	}
	return req, nil
}

// jsonError maps a JSON decoding error to a RequestError.
func jsonError(err error) *RequestError {
	var te *json.UnmarshalTypeError
	if ok := asType(err, &te); ok && te.Field != "" {
		return badRequest(te.Field, CodeInvalidType, "%s: invalid type, got %s", te.Field, te.Value)
	}
	return badRequest("", CodeInvalidJSON, "invalid request body: %v", err)
}

// decodeAnthropicMessage maps one Anthropic message to pivot messages:
// a user turn's tool results come first, as tool messages, then its other
// content (with images from tool results) as one user message.
func decodeAnthropicMessage(m *anthropic.Message, i int, opts *ClientOptions) ([]openai.ChatMessage, error) {
	switch m.Role {
	case "system":
		return []openai.ChatMessage{{Role: openai.RoleSystem, Content: openai.TextContent(m.Content.Joined("\n"))}}, nil
	case "user":
		if m.Content.Blocks == nil {
			return []openai.ChatMessage{{Role: openai.RoleUser, Content: openai.TextContent(m.Content.String)}}, nil
		}
		var out []openai.ChatMessage
		var parts, images []openai.ContentPart
		for j := range m.Content.Blocks {
			b := &m.Content.Blocks[j]
			param := fmt.Sprintf("messages.%d.content.%d", i, j)
			if b.Type == anthropic.BlockToolResult {
				msg, imgs, err := decodeToolResult(b, param)
				if err != nil {
					return nil, err
				}
				out = append(out, msg)
				images = append(images, imgs...)
				continue
			}
			p, err := decodeUserBlock(b, param, opts)
			if err != nil {
				return nil, err
			}
			if p != nil {
				parts = append(parts, *p)
			}
		}
		parts = append(images, parts...)
		if len(parts) > 0 {
			out = append(out, openai.ChatMessage{Role: openai.RoleUser, Content: openai.PartsContent(parts...)})
		}
		return out, nil
	case "assistant":
		msg := openai.ChatMessage{Role: openai.RoleAssistant}
		if m.Content.Blocks == nil {
			msg.Content = openai.TextContent(m.Content.String)
			return []openai.ChatMessage{msg}, nil
		}
		var text, reasoning strings.Builder
		hasText := false
		for j := range m.Content.Blocks {
			b := &m.Content.Blocks[j]
			switch b.Type {
			case anthropic.BlockText:
				text.WriteString(b.TextValue())
				hasText = true
			case anthropic.BlockToolUse:
				input := b.Input
				if len(input) == 0 {
					input = json.RawMessage("{}")
				}
				msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: compactJSON(input)}})
			case anthropic.BlockThinking:
				if opts.Reasoning {
					reasoning.WriteString(b.ThinkingValue())
				}
			case anthropic.BlockRedactedThinking:
			case anthropic.BlockDocument:
				return nil, badRequest(fmt.Sprintf("messages.%d.content.%d", i, j), CodeUnsupported, "document blocks are not allowed in assistant messages")
			default:
				return nil, badRequest(fmt.Sprintf("messages.%d.content.%d.type", i, j), CodeUnsupported, "content block type %q is not supported in assistant messages", b.Type)
			}
		}
		if hasText || len(msg.ToolCalls) == 0 {
			msg.Content = openai.TextContent(text.String())
		}
		msg.ReasoningContent = reasoning.String()
		return []openai.ChatMessage{msg}, nil
	}
	return nil, badRequest(fmt.Sprintf("messages.%d.role", i), CodeInvalidValue, "messages.%d.role: unknown role %q", i, m.Role)
}

// decodeUserBlock maps a user content block to a content part (nil for a
// block that is dropped).
func decodeUserBlock(b *anthropic.Block, param string, opts *ClientOptions) (*openai.ContentPart, error) {
	switch b.Type {
	case anthropic.BlockText:
		if len(b.Citations) > 0 && opts.AnthropicVersion == anthropic.Version20261021 {
			return nil, badRequest(param+".citations", CodeUnsupported, "citations are not allowed in user messages with anthropic-version %s", anthropic.Version20261021)
		}
		return &openai.ContentPart{Type: openai.PartText, Text: b.TextValue()}, nil
	case anthropic.BlockImage:
		url, err := anthropicImageURL(b.Source, param)
		if err != nil {
			return nil, err
		}
		return &openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: url}}, nil
	case anthropic.BlockDocument:
		s := b.Source
		if s == nil {
			return nil, badRequest(param+".source", CodeMissing, "document source: field required")
		}
		if s.Type == anthropic.SourceText {
			return &openai.ContentPart{Type: openai.PartText, Text: s.Data}, nil
		}
		if s.Type == anthropic.SourceBase64 && s.MediaType == "application/pdf" && opts.BackendType == "openai" {
			name := b.Title
			if name == "" {
				name = "document.pdf"
			}
			return &openai.ContentPart{Type: openai.PartFile, File: &openai.File{FileData: makeDataURL(s.MediaType, s.Data), Filename: name}}, nil
		}
		return nil, badRequest(param, CodeUnsupported, "document blocks are not supported by this model's backend")
	case anthropic.BlockThinking, anthropic.BlockRedactedThinking:
		return nil, nil
	case anthropic.BlockToolUse:
		return nil, badRequest(param+".type", CodeUnsupported, "tool_use blocks are only allowed in assistant messages")
	}
	return nil, badRequest(param+".type", CodeUnsupported, "content block type %q is not supported", b.Type)
}

// anthropicImageURL maps an image source to an image URL.
func anthropicImageURL(s *anthropic.Source, param string) (string, error) {
	if s == nil {
		return "", badRequest(param+".source", CodeMissing, "image source: field required")
	}
	switch s.Type {
	case anthropic.SourceBase64:
		return makeDataURL(s.MediaType, s.Data), nil
	case anthropic.SourceURL:
		return s.URL, nil
	}
	return "", badRequest(param+".source.type", CodeUnsupported, "image source type %q is not supported", s.Type)
}

// decodeToolResult maps a tool_result block to a tool message and the
// images it carries (sent in a following user message).
func decodeToolResult(b *anthropic.Block, param string) (openai.ChatMessage, []openai.ContentPart, error) {
	var text string
	var images []openai.ContentPart
	if b.Content != nil {
		if b.Content.Blocks == nil {
			text = b.Content.String
		} else {
			var parts []string
			for j := range b.Content.Blocks {
				c := &b.Content.Blocks[j]
				switch c.Type {
				case anthropic.BlockText:
					parts = append(parts, c.TextValue())
				case anthropic.BlockImage:
					url, err := anthropicImageURL(c.Source, fmt.Sprintf("%s.content.%d", param, j))
					if err != nil {
						return openai.ChatMessage{}, nil, err
					}
					images = append(images, openai.ContentPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: url}})
				case anthropic.BlockDocument:
					if c.Source != nil && c.Source.Type == anthropic.SourceText {
						parts = append(parts, c.Source.Data)
					}
				}
			}
			text = strings.Join(parts, "\n")
		}
	}
	if b.IsError {
		text = "Error: " + text
	}
	return openai.ChatMessage{Role: openai.RoleTool, ToolCallID: b.ToolUseID, Content: openai.TextContent(text)}, images, nil
}

// EncodeResponse renders a chat completion as a Messages response (spec §2).
func (anthropicClient) EncodeResponse(c *openai.ChatCompletion, req *openai.ChatRequest) ([]byte, error) {
	r := anthropic.Response{ID: anthropicMessageID(c.ID), Type: "message", Role: "assistant", Model: c.Model, Content: []anthropic.Block{}}
	if r.Model == "" && req != nil {
		r.Model = req.Model
	}
	var ch openai.ChatChoice
	if len(c.Choices) > 0 {
		ch = c.Choices[0]
	}
	m := ch.Message
	if len(m.ThinkingBlocks) > 0 {
		for _, tb := range m.ThinkingBlocks {
			if tb.Type == anthropic.BlockRedactedThinking {
				r.Content = append(r.Content, anthropic.Block{Type: tb.Type, Data: tb.Data})
			} else {
				r.Content = append(r.Content, anthropic.Block{Type: anthropic.BlockThinking, Thinking: ptrStr(tb.Thinking), Signature: ptrStr(tb.Signature)})
			}
		}
	} else if m.ReasoningContent != "" {
		r.Content = append(r.Content, anthropic.Block{Type: anthropic.BlockThinking, Thinking: ptrStr(m.ReasoningContent), Signature: ptrStr("")})
	}
	text := m.Content.String()
	if text == "" && m.Refusal != nil {
		text = *m.Refusal
	}
	if text != "" {
		r.Content = append(r.Content, anthropic.TextBlock(text))
	}
	for _, tc := range m.ToolCalls {
		input := json.RawMessage(compactJSON([]byte(tc.Function.Arguments)))
		if !isJSONObject(input) {
			input = json.RawMessage("{}")
		}
		id := tc.ID
		if id == "" {
			id = randomID("toolu_")
		}
		r.Content = append(r.Content, anthropic.Block{Type: anthropic.BlockToolUse, ID: id, Name: tc.Function.Name, Input: input})
	}
	stop, seq := stopReasonFromFinish(ch.FinishReason, openai.StopString(ch.StopReason), len(m.ToolCalls) > 0)
	r.StopReason = &stop
	r.StopSequence = seq
	r.Usage = anthropicUsage(c.Usage)
	return json.Marshal(r)
}

// anthropicMessageID returns "msg_"+id, or id when it already starts with msg_.
func anthropicMessageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + id
}

// stopReasonFromFinish maps an OpenAI finish reason (spec §2 table); stop is
// vLLM's stop_reason string when there is one.
func stopReasonFromFinish(finish, stop string, toolCalls bool) (string, *string) {
	switch {
	case finish == openai.FinishToolCalls || finish == openai.FinishFunctionCall || toolCalls && (finish == openai.FinishStop || finish == ""):
		return anthropic.StopToolUse, nil
	case finish == openai.FinishLength:
		return anthropic.StopMaxTokens, nil
	case finish == openai.FinishContentFilter:
		return anthropic.StopRefusal, nil
	case finish == openai.FinishStop && stop != "":
		return anthropic.StopSequence, &stop
	}
	return anthropic.StopEndTurn, nil
}

// anthropicUsage maps OpenAI usage (spec §2): input excludes cached tokens.
func anthropicUsage(u *openai.ChatUsage) anthropic.Usage {
	if u == nil {
		return anthropic.Usage{CacheReadInputTokens: openai.Ptr(0), CacheCreationInputTokens: openai.Ptr(0)}
	}
	cached := u.Cached()
	return anthropic.Usage{
		InputTokens:              max(0, u.PromptTokens-cached),
		OutputTokens:             u.CompletionTokens,
		CacheReadInputTokens:     openai.Ptr(cached),
		CacheCreationInputTokens: openai.Ptr(0),
	}
}

// EncodeError renders an error as an Anthropic error body (spec §4, right
// column): 503 becomes 529 overloaded_error, 408 a 504 timeout_error, 422 a
// 400 invalid_request_error.
func (anthropicClient) EncodeError(status int, e openai.Error) (int, []byte) {
	switch status {
	case http.StatusServiceUnavailable:
		status = anthropic.StatusOverloaded
	case http.StatusRequestTimeout:
		status = http.StatusGatewayTimeout
	case http.StatusUnprocessableEntity:
		status = http.StatusBadRequest
	}
	if status < 400 {
		status = http.StatusInternalServerError
	}
	if status >= 500 && status != anthropic.StatusOverloaded && status != http.StatusGatewayTimeout {
		status = http.StatusInternalServerError
		if e.Type == openai.TypeUpstream {
			status = http.StatusBadGateway
		}
	}
	return status, anthropic.NewErrorBody(anthropic.ErrorTypeForStatus(status), e.Message, "")
}

// Classify classifies an Anthropic stream event relayed unchanged to an
// Anthropic client.
func (anthropicClient) Classify(ev openai.Event) Info {
	if ev.Data == nil {
		return Info{Ping: true}
	}
	var e anthropic.StreamEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		if bytes.Equal(ev.Name, []byte(anthropic.EventError)) {
			return Info{Err: anthropicError(0, anthropic.ErrorDetail{Type: anthropic.ErrAPI, Message: string(ev.Data)})}
		}
		return Info{Content: true} // relay what is not understood rather than fail over from it
	}
	typ := e.Type
	if typ == "" {
		typ = string(ev.Name)
	}
	switch typ {
	case anthropic.EventPing:
		return Info{Ping: true}
	case anthropic.EventError:
		d := anthropic.ErrorDetail{Type: anthropic.ErrAPI, Message: "stream error"}
		if e.Error != nil {
			d = *e.Error
		}
		return Info{Err: anthropicError(0, d)}
	case anthropic.EventMessageStart:
		if e.Message != nil {
			u := e.Message.Usage
			b := chatUsageFromAnthropic(u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, nil).Basic()
			return Info{Usage: &b}
		}
		return Info{}
	case anthropic.EventContentBlockStart:
		if e.ContentBlock == nil {
			return Info{}
		}
		b := e.ContentBlock
		return Info{Content: b.Type == anthropic.BlockToolUse || b.Type == anthropic.BlockRedactedThinking || b.TextValue() != "" || b.ThinkingValue() != ""}
	case anthropic.EventContentBlockDelta:
		var d anthropic.Delta
		if json.Unmarshal(e.Delta, &d) != nil {
			return Info{Content: true}
		}
		return Info{Content: d.Text != "" || deref(d.PartialJSON) != "" || d.Thinking != "" || d.Signature != "" || len(d.Citation) > 0}
	case anthropic.EventContentBlockStop:
		return Info{}
	case anthropic.EventMessageDelta:
		info := Info{Content: true}
		if u := e.Usage; u != nil {
			in := 0
			if u.InputTokens != nil {
				in = *u.InputTokens
			}
			b := chatUsageFromAnthropic(in, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens, nil).Basic()
			info.Usage = &b
		}
		return info
	case anthropic.EventMessageStop:
		return Info{Content: true, Done: true}
	}
	return Info{Unknown: true}
}

// NewStreamEncoder returns an encoder of Anthropic stream events (spec §3b).
func (anthropicClient) NewStreamEncoder(req *openai.ChatRequest) StreamEncoder {
	return &anthropicEncoder{model: req.Model, tools: map[int]*pendingTool{}, text: -1, thinking: -1}
}

// pendingTool is a tool call being streamed: buffered until its id and name
// are known, then a tool_use block.
type pendingTool struct {
	id, name string
	args     strings.Builder
	block    int // the block index, -1 until started
}

type anthropicEncoder struct {
	model     string
	id        string
	started   bool
	next      int   // next block index
	open      []int // open block indices, in the order opened
	text      int   // the open text block, or -1
	thinking  int   // the open thinking block, or -1
	tools     map[int]*pendingTool
	toolOrder []int // OpenAI tool indices in order of appearance
	finish    string
	stopSeq   string
	hasTools  bool
	usage     *openai.ChatUsage
	ended     bool
	buf       bytes.Buffer
}

// event appends one named event whose data is v.
func (e *anthropicEncoder) event(dst []byte, typ string, v any) []byte {
	e.buf.Reset()
	enc := json.NewEncoder(&e.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst
	}
	data := bytes.TrimRight(e.buf.Bytes(), "\n")
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}

// start appends message_start once.
func (e *anthropicEncoder) start(dst []byte, c *openai.ChatChunk) []byte {
	if e.started {
		return dst
	}
	e.started = true
	if c != nil {
		e.id = c.ID
		if c.Model != "" {
			e.model = c.Model
		}
	}
	if e.id == "" {
		e.id = randomID("")
	}
	u := anthropicUsage(nil)
	if c != nil && c.Usage != nil {
		u = anthropicUsage(c.Usage)
	}
	u.OutputTokens = 0
	msg := anthropic.Response{ID: anthropicMessageID(e.id), Type: "message", Role: "assistant", Model: e.model, Content: []anthropic.Block{}, Usage: u}
	return e.event(dst, anthropic.EventMessageStart, struct {
		Type    string             `json:"type"`
		Message anthropic.Response `json:"message"`
	}{anthropic.EventMessageStart, msg})
}

func (e *anthropicEncoder) blockStart(dst []byte, b anthropic.Block) ([]byte, int) {
	i := e.next
	e.next++
	e.open = append(e.open, i)
	return e.event(dst, anthropic.EventContentBlockStart, struct {
		Type         string          `json:"type"`
		Index        int             `json:"index"`
		ContentBlock anthropic.Block `json:"content_block"`
	}{anthropic.EventContentBlockStart, i, b}), i
}

func (e *anthropicEncoder) blockStop(dst []byte, i int) []byte {
	if i < 0 {
		return dst
	}
	k := slices.Index(e.open, i)
	if k < 0 {
		return dst
	}
	e.open = slices.Delete(e.open, k, k+1)
	if e.text == i {
		e.text = -1
	}
	if e.thinking == i {
		e.thinking = -1
	}
	return e.event(dst, anthropic.EventContentBlockStop, struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}{anthropic.EventContentBlockStop, i})
}

func (e *anthropicEncoder) delta(dst []byte, i int, d any) []byte {
	return e.event(dst, anthropic.EventContentBlockDelta, struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta any    `json:"delta"`
	}{anthropic.EventContentBlockDelta, i, d})
}

type textDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type thinkingDelta struct {
	Type     string `json:"type"`
	Thinking string `json:"thinking"`
}

type signatureDelta struct {
	Type      string `json:"type"`
	Signature string `json:"signature"`
}

type inputJSONDelta struct {
	Type        string `json:"type"`
	PartialJSON string `json:"partial_json"`
}

// Chunk appends the events of one pivot chunk.
func (e *anthropicEncoder) Chunk(dst []byte, c *openai.ChatChunk) []byte {
	if e.ended {
		return dst
	}
	dst = e.start(dst, c)
	if c.Usage != nil {
		e.usage = c.Usage
	}
	if len(c.Choices) == 0 {
		return dst
	}
	ch := &c.Choices[0]
	d := &ch.Delta
	if d.ReasoningContent != nil && *d.ReasoningContent != "" {
		dst = e.blockStop(dst, e.text)
		if e.thinking < 0 {
			dst, e.thinking = e.blockStart(dst, anthropic.Block{Type: anthropic.BlockThinking, Thinking: ptrStr(""), Signature: ptrStr("")})
		}
		dst = e.delta(dst, e.thinking, thinkingDelta{anthropic.DeltaThinking, *d.ReasoningContent})
	}
	for _, tb := range d.ThinkingBlocks {
		if tb.Type == anthropic.BlockThinking && tb.Signature != "" {
			if e.thinking < 0 {
				dst = e.blockStop(dst, e.text)
				dst, e.thinking = e.blockStart(dst, anthropic.Block{Type: anthropic.BlockThinking, Thinking: ptrStr(""), Signature: ptrStr("")})
			}
			dst = e.delta(dst, e.thinking, signatureDelta{anthropic.DeltaSignature, tb.Signature})
		}
	}
	text := ""
	if d.Content != nil {
		text = *d.Content
	}
	if d.Refusal != nil {
		text += *d.Refusal
	}
	if text != "" {
		dst = e.blockStop(dst, e.thinking)
		if e.text < 0 {
			dst, e.text = e.blockStart(dst, anthropic.Block{Type: anthropic.BlockText, Text: ptrStr("")})
		}
		dst = e.delta(dst, e.text, textDelta{anthropic.DeltaText, text})
	}
	for _, tc := range d.ToolCalls {
		j := 0
		if tc.Index != nil {
			j = *tc.Index
		}
		t, ok := e.tools[j]
		if !ok {
			dst = e.blockStop(dst, e.text)
			dst = e.blockStop(dst, e.thinking)
			t = &pendingTool{block: -1}
			e.tools[j] = t
			e.toolOrder = append(e.toolOrder, j)
			e.hasTools = true
		}
		if tc.ID != "" {
			t.id = tc.ID
		}
		if tc.Function.Name != "" {
			t.name = tc.Function.Name
		}
		if t.block < 0 {
			t.args.WriteString(tc.Function.Arguments)
			if t.id != "" && t.name != "" {
				dst = e.startTool(dst, t)
			}
			continue
		}
		if tc.Function.Arguments != "" {
			dst = e.delta(dst, t.block, inputJSONDelta{anthropic.DeltaInputJSON, tc.Function.Arguments})
		}
	}
	if ch.FinishReason != nil && *ch.FinishReason != "" {
		e.finish = *ch.FinishReason
		if s := openai.StopString(ch.StopReason); s != "" {
			e.stopSeq = s
		}
	}
	return dst
}

// startTool opens a tool_use block for a buffered tool call and sends its
// buffered arguments.
func (e *anthropicEncoder) startTool(dst []byte, t *pendingTool) []byte {
	if t.id == "" {
		t.id = randomID("toolu_")
	}
	dst, t.block = e.blockStart(dst, anthropic.Block{Type: anthropic.BlockToolUse, ID: t.id, Name: t.name, Input: json.RawMessage("{}")})
	if t.args.Len() > 0 {
		dst = e.delta(dst, t.block, inputJSONDelta{anthropic.DeltaInputJSON, t.args.String()})
		t.args.Reset()
	}
	return dst
}

// Ping appends a ping event.
func (e *anthropicEncoder) Ping(dst []byte) []byte {
	return append(dst, "event: ping\ndata: {\"type\":\"ping\"}\n\n"...)
}

// End closes every open block in index order, then sends message_delta and
// message_stop.
func (e *anthropicEncoder) End(dst []byte) []byte {
	if e.ended {
		return dst
	}
	dst = e.start(dst, nil)
	for _, j := range e.toolOrder {
		if t := e.tools[j]; t.block < 0 {
			dst = e.startTool(dst, t)
		}
	}
	open := slices.Clone(e.open)
	slices.Sort(open)
	for _, i := range open {
		dst = e.blockStop(dst, i)
	}
	e.ended = true
	stop, seq := stopReasonFromFinish(e.finish, e.stopSeq, e.hasTools)
	u := anthropicUsage(e.usage)
	type deltaUsage struct {
		InputTokens          int `json:"input_tokens"`
		OutputTokens         int `json:"output_tokens"`
		CacheReadInputTokens int `json:"cache_read_input_tokens"`
	}
	dst = e.event(dst, anthropic.EventMessageDelta, struct {
		Type  string                 `json:"type"`
		Delta anthropic.MessageDelta `json:"delta"`
		Usage deltaUsage             `json:"usage"`
	}{anthropic.EventMessageDelta, anthropic.MessageDelta{StopReason: &stop, StopSequence: seq}, deltaUsage{u.InputTokens, u.OutputTokens, *u.CacheReadInputTokens}})
	return append(dst, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
}

// Fail appends an error event and no message_stop.
func (e *anthropicEncoder) Fail(dst []byte, err *UpstreamError) []byte {
	if e.ended {
		return dst
	}
	e.ended = true
	typ := err.UpstreamType
	if !isAnthropicErrorType(typ) {
		typ = anthropic.ErrorTypeForStatus(err.Status)
	}
	return e.event(dst, anthropic.EventError, anthropic.ErrorBody{Type: "error", Error: anthropic.ErrorDetail{Type: typ, Message: err.Message}})
}

// isAnthropicErrorType reports whether typ is one of Anthropic's error types.
func isAnthropicErrorType(typ string) bool {
	switch typ {
	case anthropic.ErrInvalidRequest, anthropic.ErrAuthentication, anthropic.ErrBilling, anthropic.ErrPermission,
		anthropic.ErrNotFound, anthropic.ErrTooLarge, anthropic.ErrRateLimit, anthropic.ErrAPI, anthropic.ErrTimeout, anthropic.ErrOverloaded:
		return true
	}
	return false
}
