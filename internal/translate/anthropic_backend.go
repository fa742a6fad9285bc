package translate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/continuumhq/continuum/internal/anthropic"
	"github.com/continuumhq/continuum/internal/openai"
)

// NewAnthropicBackend returns the Anthropic Messages backend: an OpenAI
// chat request sent to POST /v1/messages (spec §1–§4, "O→A").
func NewAnthropicBackend() Backend { return anthropicBackend{} }

type anthropicBackend struct{}

var _ Backend = anthropicBackend{}

// Path returns "/v1/messages".
func (anthropicBackend) Path(*openai.ChatRequest) string { return "/v1/messages" }

// EncodeRequest builds a Messages request (spec §1, right column).
func (anthropicBackend) EncodeRequest(req *openai.ChatRequest, opts BackendOptions) ([]byte, error) {
	ar, err := encodeAnthropicRequest(req, &opts)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(ar)
	if err != nil {
		return nil, fmt.Errorf("encode anthropic request: %w", err)
	}
	return b, nil
}

// checkOneChoiceNoLogprobs refuses what neither vendor API can answer: n > 1
// and logprobs.
func checkOneChoiceNoLogprobs(req *openai.ChatRequest) error {
	if req.N != nil && *req.N > 1 {
		return badRequest("n", CodeUnsupported, "n > 1 is not supported by this model's backend")
	}
	if req.Logprobs != nil && *req.Logprobs || req.TopLogprobs != nil {
		return badRequest("logprobs", CodeUnsupported, "logprobs are not supported by this model's backend")
	}
	return nil
}

func encodeAnthropicRequest(req *openai.ChatRequest, opts *BackendOptions) (*anthropic.Request, error) {
	if err := checkOneChoiceNoLogprobs(req); err != nil {
		return nil, err
	}
	if _, ok := req.Extra["audio"]; ok {
		return nil, badRequest("audio", CodeUnsupported, "audio output is not supported by this model's backend")
	}
	if m, ok := req.Extra["modalities"]; ok && strings.Contains(string(m), "audio") {
		return nil, badRequest("modalities", CodeUnsupported, "audio output is not supported by this model's backend")
	}
	ar := &anthropic.Request{Model: req.Model, Stream: req.Stream}

	if err := encodeAnthropicMessages(req, opts, ar); err != nil {
		return nil, err
	}

	// Tools, and stubs for tools used in the history but not declared.
	for i, t := range req.Tools {
		if t.Type != "function" || t.Function == nil {
			return nil, badRequest(fmt.Sprintf("tools[%d].type", i), CodeUnsupported, "tool type %q is not supported by this model's backend; only function tools are", t.Type)
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = emptyObjectSchema
		}
		ar.Tools = append(ar.Tools, anthropic.Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema, Strict: t.Function.Strict})
	}
	if len(req.Tools) == 0 {
		seen := map[string]bool{}
		for _, m := range ar.Messages {
			for _, b := range m.Content.Blocks {
				if b.Type == anthropic.BlockToolUse && !seen[b.Name] {
					seen[b.Name] = true
					ar.Tools = append(ar.Tools, anthropic.Tool{Name: b.Name, InputSchema: json.RawMessage(`{"type":"object"}`)})
				}
			}
		}
	}
	if len(req.Tools) > 0 {
		ar.ToolChoice = anthropicToolChoice(req.ToolChoice, req.ParallelToolCalls)
	}

	// Max tokens and reasoning (§1a).
	defMax := opts.DefaultMaxTokens
	if defMax <= 0 {
		defMax = DefaultMaxTokens
	}
	capN, capped := req.MaxOutputTokens()
	if capped && capN < 1 {
		return nil, badRequest("max_tokens", CodeInvalidValue, "max_tokens must be at least 1")
	}
	ar.MaxTokens = defMax
	if capped {
		ar.MaxTokens = capN
	}
	if raw, ok := req.Extra["thinking"]; ok {
		var th anthropic.Thinking
		if err := json.Unmarshal(raw, &th); err != nil {
			return nil, badRequest("thinking", CodeInvalidType, "thinking must be an object: %v", err)
		}
		if th.Type != "disabled" && lastToolTurnUnsigned(ar.Messages) {
			opts.warn("thinking dropped: the last assistant tool_use turn has no signed thinking block")
		} else {
			ar.Thinking = &th
		}
	} else if e := req.ReasoningEffort; e != "" && e != "none" {
		switch {
		case lastToolTurnUnsigned(ar.Messages):
			opts.warn("thinking dropped: the last assistant tool_use turn has no signed thinking block")
		case slices.Contains(opts.AdaptiveThinkingModels, req.Model):
			ar.Thinking = &anthropic.Thinking{Type: "adaptive"}
			ar.OutputConfig = &anthropic.OutputConfig{Effort: anthropicEffort(e)}
		default:
			budget := effortBudget(e)
			if capped {
				budget = min(budget, capN-1)
			}
			if budget >= 1024 {
				ar.Thinking = &anthropic.Thinking{Type: "enabled", BudgetTokens: budget}
				if !capped {
					ar.MaxTokens = defMax + budget
				}
			}
		}
	}
	thinking := ar.Thinking != nil && ar.Thinking.Type != "disabled"

	// JSON mode.
	if rf := req.ResponseFormat; rf != nil && (rf.Type == "json_schema" || rf.Type == "json_object") {
		schema := jsonObjectSchema
		if rf.Type == "json_schema" {
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				return nil, badRequest("response_format.json_schema", CodeMissing, "response_format json_schema needs a schema")
			}
			schema = rf.JSONSchema.Schema
		}
		if rf.Type == "json_schema" && slices.Contains(opts.JSONSchemaModels, req.Model) {
			if ar.OutputConfig == nil {
				ar.OutputConfig = &anthropic.OutputConfig{}
			}
			ar.OutputConfig.Format = &anthropic.OutputFormat{Type: "json_schema", Schema: schema}
		} else {
			ar.Tools = append(ar.Tools, anthropic.Tool{Name: jsonToolName, Description: "Respond with a JSON object that matches the schema.", InputSchema: schema})
			if thinking {
				ar.ToolChoice = &anthropic.ToolChoice{Type: "auto"}
			} else {
				ar.ToolChoice = &anthropic.ToolChoice{Type: "tool", Name: jsonToolName}
			}
		}
	}
	if ar.OutputConfig != nil && ar.OutputConfig.Effort == "" && ar.OutputConfig.Format == nil {
		ar.OutputConfig = nil
	}

	// Sampling, by API version.
	version := opts.AnthropicVersion
	if version == "" {
		version = anthropic.DefaultVersion
	}
	if version == anthropic.Version20230601 {
		if t := req.Temperature; t != nil {
			v := *t
			if v > 1 {
				if !opts.ClampTemperature {
					return nil, badRequest("temperature", CodeInvalidValue, "temperature %g is above 1, the largest this model's backend accepts", v)
				}
				v = 1
			}
			ar.Temperature = &v
		}
		ar.TopP, ar.TopK = req.TopP, req.TopK
	} else {
		for _, p := range []struct {
			name string
			set  bool
		}{{"temperature", req.Temperature != nil}, {"top_p", req.TopP != nil}, {"top_k", req.TopK != nil}} {
			if p.set {
				opts.dropped(p.name)
			}
		}
	}

	ar.StopSequences = req.Stop
	if req.User != "" && !strings.Contains(req.User, "@") {
		ar.Metadata = &anthropic.Metadata{UserID: req.User}
	}

	for _, p := range []struct {
		name string
		set  bool
	}{
		{"seed", req.Seed != nil}, {"presence_penalty", req.PresencePenalty != nil},
		{"frequency_penalty", req.FrequencyPenalty != nil}, {"logit_bias", req.LogitBias != nil},
		{"metadata", req.Metadata != nil},
	} {
		if p.set {
			opts.dropped(p.name)
		}
	}
	keys := make([]string, 0, len(req.Extra))
	for k := range req.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := req.Extra[k]
		switch k {
		case "thinking":
		case "service_tier":
			if json.Unmarshal(v, &ar.ServiceTier) != nil {
				return nil, badRequest(k, CodeInvalidType, "service_tier must be a string")
			}
		case "container":
			ar.Container = v
		case "mcp_servers":
			ar.MCPServers = v
		case "cache_control":
			ar.CacheControl = v
		case "context_management", "inference_geo":
			if ar.Extra == nil {
				ar.Extra = map[string]json.RawMessage{}
			}
			ar.Extra[k] = v
		default:
			opts.dropped(k)
		}
	}
	return ar, nil
}

// encodeAnthropicMessages maps the messages: system prompt, turns, and tool
// results grouped at the head of one user message.
func encodeAnthropicMessages(req *openai.ChatRequest, opts *BackendOptions, ar *anthropic.Request) error {
	var system []anthropic.Block
	var results []anthropic.Block // pending tool_result blocks
	flush := func() {
		if len(results) > 0 {
			ar.Messages = append(ar.Messages, anthropic.Message{Role: "user", Content: anthropic.Text{Blocks: results}})
			results = nil
		}
	}
	started := false
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			if started && opts.KeepSystemInPlace {
				flush()
				ar.Messages = append(ar.Messages, anthropic.Message{Role: "system", Content: anthropic.Text{String: m.Content.String()}})
				continue
			}
			if s := m.Content.String(); s != "" {
				system = append(system, anthropic.TextBlock(s))
			}
		case openai.RoleTool:
			started = true
			blk, err := toolResultBlock(m, i)
			if err != nil {
				return err
			}
			results = append(results, blk)
		case openai.RoleUser:
			started = true
			blocks, err := userBlocks(m.Content, i)
			if err != nil {
				return err
			}
			if len(results) > 0 {
				results = append(results, blocks...)
				flush()
				continue
			}
			content := anthropic.Text{Blocks: blocks}
			if m.Content.Parts == nil {
				content = anthropic.Text{String: m.Content.String()}
			}
			ar.Messages = append(ar.Messages, anthropic.Message{Role: "user", Content: content})
		case openai.RoleAssistant:
			started = true
			flush()
			blocks, err := assistantBlocks(m, i)
			if err != nil {
				return err
			}
			if len(blocks) > 0 {
				ar.Messages = append(ar.Messages, anthropic.Message{Role: "assistant", Content: anthropic.Text{Blocks: blocks}})
			}
		default:
			return badRequest(fmt.Sprintf("messages[%d].role", i), CodeInvalidValue, "unknown message role %q", m.Role)
		}
	}
	flush()
	if len(system) > 0 {
		ar.System = &anthropic.Text{Blocks: system}
	}
	if ar.Messages == nil {
		ar.Messages = []anthropic.Message{}
	}
	return nil
}

// toolResultBlock maps a tool message to a tool_result block. is_error is
// never guessed.
func toolResultBlock(m *openai.ChatMessage, i int) (anthropic.Block, error) {
	blk := anthropic.Block{Type: anthropic.BlockToolResult, ToolUseID: sanitizeToolID(m.ToolCallID)}
	if m.Content.Parts == nil {
		blk.Content = &anthropic.Text{String: m.Content.String()}
		return blk, nil
	}
	blocks, err := userBlocks(m.Content, i)
	if err != nil {
		return blk, err
	}
	blk.Content = &anthropic.Text{Blocks: blocks}
	return blk, nil
}

// userBlocks maps user content to Anthropic blocks.
func userBlocks(c openai.Content, i int) ([]anthropic.Block, error) {
	if c.Parts == nil {
		if c.Text == nil {
			return []anthropic.Block{}, nil
		}
		return []anthropic.Block{anthropic.TextBlock(*c.Text)}, nil
	}
	blocks := make([]anthropic.Block, 0, len(c.Parts))
	for j, p := range c.Parts {
		param := fmt.Sprintf("messages[%d].content[%d]", i, j)
		switch p.Type {
		case openai.PartText:
			blocks = append(blocks, anthropic.TextBlock(p.Text))
		case openai.PartRefusal:
			blocks = append(blocks, anthropic.TextBlock(p.Refusal))
		case openai.PartImageURL:
			if p.ImageURL == nil {
				return nil, badRequest(param+".image_url", CodeMissing, "image_url part without an image_url")
			}
			src, err := imageSource(p.ImageURL.URL, param)
			if err != nil {
				return nil, err
			}
			blocks = append(blocks, anthropic.Block{Type: anthropic.BlockImage, Source: src})
		case openai.PartFile:
			if p.File == nil {
				return nil, badRequest(param+".file", CodeMissing, "file part without a file")
			}
			d, ok := parseDataURL(p.File.FileData)
			if !ok && p.File.FileData != "" && strings.HasSuffix(strings.ToLower(p.File.Filename), ".pdf") {
				d, ok = dataURL{MediaType: "application/pdf", Data: p.File.FileData}, true
			}
			if !ok || d.MediaType != "application/pdf" {
				return nil, badRequest(param+".file", CodeUnsupported, "only inline PDF files are supported by this model's backend")
			}
			blk := anthropic.Block{Type: anthropic.BlockDocument, Source: &anthropic.Source{Type: anthropic.SourceBase64, MediaType: d.MediaType, Data: d.Data}}
			if p.File.Filename != "" {
				blk.Title = p.File.Filename
			}
			blocks = append(blocks, blk)
		case openai.PartInputAudio:
			return nil, badRequest(param, CodeUnsupported, "audio input is not supported by this model's backend")
		default:
			return nil, badRequest(param+".type", CodeUnsupported, "content part type %q is not supported by this model's backend", p.Type)
		}
	}
	return blocks, nil
}

// imageSource maps an image URL (a data URL or http(s)) to an image source.
func imageSource(url, param string) (*anthropic.Source, error) {
	if isHTTPURL(url) {
		return &anthropic.Source{Type: anthropic.SourceURL, URL: url}, nil
	}
	d, ok := parseDataURL(url)
	if !ok {
		return nil, badRequest(param+".image_url.url", CodeInvalidValue, "image URL must be an http(s) URL or a base64 data URL")
	}
	switch d.MediaType {
	case "image/jpeg", "image/png", "image/gif", "image/webp":
		return &anthropic.Source{Type: anthropic.SourceBase64, MediaType: d.MediaType, Data: d.Data}, nil
	case "image/jpg":
		return &anthropic.Source{Type: anthropic.SourceBase64, MediaType: "image/jpeg", Data: d.Data}, nil
	}
	return nil, badRequest(param+".image_url.url", CodeUnsupported, "image type %q is not supported; use jpeg, png, gif or webp", d.MediaType)
}

// assistantBlocks maps an assistant message: signed thinking first, then
// text, then tool calls.
func assistantBlocks(m *openai.ChatMessage, i int) ([]anthropic.Block, error) {
	var blocks []anthropic.Block
	for _, tb := range m.ThinkingBlocks {
		switch tb.Type {
		case anthropic.BlockThinking:
			if tb.Signature != "" {
				blocks = append(blocks, anthropic.Block{Type: anthropic.BlockThinking, Thinking: ptrStr(tb.Thinking), Signature: ptrStr(tb.Signature)})
			}
		case anthropic.BlockRedactedThinking:
			blocks = append(blocks, anthropic.Block{Type: anthropic.BlockRedactedThinking, Data: tb.Data})
		}
	}
	text := m.Content.String()
	if text == "" && m.Refusal != nil {
		text = *m.Refusal
	}
	if text != "" {
		blocks = append(blocks, anthropic.TextBlock(text))
	}
	for j, tc := range m.ToolCalls {
		args := strings.TrimSpace(tc.Function.Arguments)
		if args == "" {
			args = "{}"
		}
		if !isJSONObject([]byte(args)) {
			return nil, badRequest(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, j), CodeInvalidValue, "tool call arguments must be a JSON object")
		}
		blocks = append(blocks, anthropic.Block{Type: anthropic.BlockToolUse, ID: sanitizeToolID(tc.ID), Name: tc.Function.Name, Input: json.RawMessage(compactJSON([]byte(args)))})
	}
	return blocks, nil
}

// lastToolTurnUnsigned reports whether the last assistant message with a
// tool_use block lacks a signed thinking block.
func lastToolTurnUnsigned(msgs []anthropic.Message) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Role != "assistant" {
			continue
		}
		hasTool, signed := false, false
		for _, b := range m.Content.Blocks {
			switch b.Type {
			case anthropic.BlockToolUse:
				hasTool = true
			case anthropic.BlockThinking:
				signed = signed || b.SignatureValue() != ""
			case anthropic.BlockRedactedThinking:
				signed = true
			}
		}
		if hasTool {
			return !signed
		}
	}
	return false
}

// anthropicToolChoice maps tool_choice and parallel_tool_calls.
func anthropicToolChoice(c *openai.ToolChoice, parallel *bool) *anthropic.ToolChoice {
	var out *anthropic.ToolChoice
	if c != nil {
		switch {
		case c.Function != "":
			out = &anthropic.ToolChoice{Type: "tool", Name: c.Function}
		case c.Mode == "required":
			out = &anthropic.ToolChoice{Type: "any"}
		case c.Mode == "none":
			out = &anthropic.ToolChoice{Type: "none"}
		case c.Mode == "auto":
			out = &anthropic.ToolChoice{Type: "auto"}
		}
	}
	if parallel != nil && !*parallel {
		if out == nil {
			out = &anthropic.ToolChoice{Type: "auto"}
		}
		if out.Type != "none" {
			out.DisableParallelToolUse = openai.Ptr(true)
		}
	}
	return out
}

// DecodeResponse maps a Messages response to a chat completion (spec §2).
func (anthropicBackend) DecodeResponse(body []byte, req *openai.ChatRequest) (*openai.ChatCompletion, error) {
	var r anthropic.Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode anthropic response: %w", err)
	}
	if r.Type == "error" {
		return nil, fmt.Errorf("decode anthropic response: an error body with status 200")
	}
	msg := openai.ChatMessage{Role: openai.RoleAssistant}
	var text strings.Builder
	hasText := false
	var reasoning strings.Builder
	unwrap := jsonToolMode(req)
	for _, b := range r.Content {
		switch b.Type {
		case anthropic.BlockText:
			text.WriteString(b.TextValue())
			hasText = true
		case anthropic.BlockThinking:
			reasoning.WriteString(b.ThinkingValue())
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, openai.ThinkingBlock{Type: anthropic.BlockThinking, Thinking: b.ThinkingValue(), Signature: b.SignatureValue()})
		case anthropic.BlockRedactedThinking:
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, openai.ThinkingBlock{Type: anthropic.BlockRedactedThinking, Data: b.Data})
		case anthropic.BlockToolUse:
			input := b.Input
			if len(input) == 0 {
				input = json.RawMessage("{}")
			}
			if unwrap && b.Name == jsonToolName {
				text.WriteString(compactJSON(input))
				hasText = true
				continue
			}
			msg.ToolCalls = append(msg.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: compactJSON(input)}})
		}
	}
	if hasText || len(msg.ToolCalls) == 0 {
		msg.Content = openai.TextContent(text.String())
	}
	msg.ReasoningContent = reasoning.String()
	finish := finishFromStopReason(deref(r.StopReason))
	if unwrap && len(msg.ToolCalls) == 0 && finish == openai.FinishToolCalls {
		finish = openai.FinishStop
	}
	if len(msg.ToolCalls) > 0 {
		finish = openai.FinishToolCalls
	}
	choice := openai.ChatChoice{Message: msg, FinishReason: finish}
	if r.StopSequence != nil {
		choice.StopReason, _ = json.Marshal(*r.StopSequence)
	}
	model := r.Model
	if model == "" {
		model = req.Model
	}
	return &openai.ChatCompletion{
		ID: r.ID, Object: "chat.completion", Created: nowUnix(), Model: model,
		Choices: []openai.ChatChoice{choice},
		Usage:   chatUsageFromAnthropic(r.Usage.InputTokens, r.Usage.OutputTokens, r.Usage.CacheReadInputTokens, r.Usage.CacheCreationInputTokens, r.Usage.OutputTokensDetails),
	}, nil
}

// nowUnix returns the created time of a decoded answer: now. (DecodeResponse
// has no options; callers that need a fixed time overwrite Created.)
func nowUnix() int64 { return time.Now().Unix() }

// jsonToolMode reports whether the request's JSON output may come back as a
// json_tool_call tool use: it asks for JSON and declares no tool of that name.
func jsonToolMode(req *openai.ChatRequest) bool {
	if req == nil || req.ResponseFormat == nil || (req.ResponseFormat.Type != "json_schema" && req.ResponseFormat.Type != "json_object") {
		return false
	}
	for _, t := range req.Tools {
		if t.Function != nil && t.Function.Name == jsonToolName {
			return false
		}
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// finishFromStopReason maps an Anthropic stop_reason (spec §2 table).
func finishFromStopReason(r string) string {
	switch r {
	case anthropic.StopMaxTokens, anthropic.StopContextWindow:
		return openai.FinishLength
	case anthropic.StopToolUse:
		return openai.FinishToolCalls
	case anthropic.StopRefusal:
		return openai.FinishContentFilter
	}
	return openai.FinishStop // end_turn, stop_sequence, pause_turn, unknown
}

// chatUsageFromAnthropic maps Anthropic usage: prompt tokens include cache
// reads and writes (spec §2).
func chatUsageFromAnthropic(in, out int, cacheRead, cacheCreate *int, details *anthropic.OutputTokensDetails) *openai.ChatUsage {
	read, create := 0, 0
	if cacheRead != nil {
		read = *cacheRead
	}
	if cacheCreate != nil {
		create = *cacheCreate
	}
	u := &openai.ChatUsage{PromptTokens: in + read + create, CompletionTokens: out}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	u.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: read}
	if details != nil {
		u.CompletionTokensDetails = &openai.CompletionTokensDetails{ReasoningTokens: details.ThinkingTokens}
	}
	return u
}

// DecodeError maps an Anthropic error answer (spec §4, left column).
func (anthropicBackend) DecodeError(status int, body []byte) *UpstreamError {
	var eb anthropic.ErrorBody
	if json.Unmarshal(body, &eb) != nil || eb.Error.Type == "" {
		e := upstreamError(status, strings.TrimSpace(string(body)))
		if e.Message == "" || len(e.Message) > 1024 {
			e.Message = http.StatusText(status)
		}
		return e
	}
	return anthropicError(status, eb.Error)
}

// anthropicError maps an Anthropic error (an answer with status, or a
// stream error event with status 0) to an UpstreamError.
func anthropicError(status int, d anthropic.ErrorDetail) *UpstreamError {
	if status == 0 || status == http.StatusOK {
		status = anthropicTypeStatus(d.Type)
	}
	e := upstreamError(status, d.Message)
	e.UpstreamType = d.Type
	switch d.Type {
	case anthropic.ErrInvalidRequest, anthropic.ErrAuthentication, anthropic.ErrPermission, anthropic.ErrRateLimit:
		e.Type = d.Type
	case anthropic.ErrBilling:
		e.Type, e.Code = d.Type, "insufficient_quota"
	case anthropic.ErrNotFound:
		e.Type, e.Code = d.Type, openai.CodeModelNotFound
	case anthropic.ErrOverloaded:
		e.Status, e.Type, e.Code, e.Capacity, e.Final = http.StatusServiceUnavailable, d.Type, "overloaded", true, false
	}
	if status == http.StatusTooManyRequests && strings.Contains(string(d.Details), "enforced_spend_limit_reached") {
		e.Capacity, e.Final, e.SpendLimit, e.Code = false, true, true, "enforced_spend_limit_reached"
	}
	if e.Message == "" {
		e.Message = d.Type
	}
	return e
}

// anthropicTypeStatus returns the HTTP status of an Anthropic error type.
func anthropicTypeStatus(typ string) int {
	switch typ {
	case anthropic.ErrInvalidRequest:
		return http.StatusBadRequest
	case anthropic.ErrAuthentication:
		return http.StatusUnauthorized
	case anthropic.ErrBilling:
		return http.StatusPaymentRequired
	case anthropic.ErrPermission:
		return http.StatusForbidden
	case anthropic.ErrNotFound:
		return http.StatusNotFound
	case anthropic.ErrTooLarge:
		return http.StatusRequestEntityTooLarge
	case anthropic.ErrRateLimit:
		return http.StatusTooManyRequests
	case anthropic.ErrTimeout:
		return http.StatusGatewayTimeout
	case anthropic.ErrOverloaded:
		return anthropic.StatusOverloaded
	}
	return http.StatusInternalServerError
}

// NewStreamDecoder returns a decoder of an Anthropic stream (spec §3a).
func (anthropicBackend) NewStreamDecoder(req *openai.ChatRequest, opts BackendOptions) StreamDecoder {
	return &anthropicDecoder{
		opts:         opts,
		model:        req.Model,
		created:      opts.now().Unix(),
		includeUsage: req.IncludeUsage(),
		unwrapJSON:   jsonToolMode(req),
		tools:        map[int]int{},
		jsonBlock:    -1,
	}
}

type anthropicDecoder struct {
	opts         BackendOptions
	id, model    string
	created      int64
	includeUsage bool
	unwrapJSON   bool
	started      bool        // the role chunk was emitted
	tools        map[int]int // Anthropic block index → OpenAI tool call index
	nextTool     int
	jsonBlock    int // the block index of a json_tool_call being unwrapped, or -1
	sawJSON      bool
	stopReason   string
	stopSeq      *string
	in, out      int
	cacheRead    *int
	cacheCreate  *int
	details      *anthropic.OutputTokensDetails
	done         bool
}

// Decode consumes one Anthropic stream event.
func (d *anthropicDecoder) Decode(ev openai.Event, out []*openai.ChatChunk) ([]*openai.ChatChunk, Info) {
	if ev.Data == nil {
		return out, Info{Ping: true}
	}
	var e anthropic.StreamEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return out, Info{Err: &UpstreamError{Status: http.StatusBadGateway, Type: openai.TypeUpstream, Code: openai.TypeUpstream, Message: "malformed stream event from the backend: " + err.Error()}}
	}
	typ := e.Type
	if typ == "" {
		typ = string(ev.Name)
	}
	switch typ {
	case anthropic.EventPing:
		return out, Info{Ping: true}
	case anthropic.EventError:
		detail := anthropic.ErrorDetail{Type: anthropic.ErrAPI, Message: "stream error"}
		if e.Error != nil {
			detail = *e.Error
		}
		return out, Info{Err: anthropicError(0, detail)}
	case anthropic.EventMessageStart:
		if e.Message != nil {
			d.id = e.Message.ID
			if e.Message.Model != "" {
				d.model = e.Message.Model
			}
			u := e.Message.Usage
			d.in, d.out, d.cacheRead, d.cacheCreate = u.InputTokens, u.OutputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens
		}
		return out, Info{Usage: d.usageInfo()}
	case anthropic.EventContentBlockStart:
		if e.Index == nil || e.ContentBlock == nil {
			return out, Info{}
		}
		b := e.ContentBlock
		switch b.Type {
		case anthropic.BlockToolUse:
			if d.unwrapJSON && b.Name == jsonToolName {
				d.jsonBlock, d.sawJSON = *e.Index, true
				return out, Info{}
			}
			k := d.nextTool
			d.nextTool++
			d.tools[*e.Index] = k
			id := b.ID
			if id == "" {
				id = d.opts.newID("toolu_")
			}
			out = d.role(out)
			out = append(out, d.chunk(openai.ChatDelta{ToolCalls: []openai.ToolCall{{Index: openai.Ptr(k), ID: id, Type: "function", Function: openai.FunctionCall{Name: b.Name}}}}))
			return out, Info{Content: true}
		case anthropic.BlockText:
			if s := b.TextValue(); s != "" {
				out = d.role(out)
				out = append(out, d.chunk(openai.ChatDelta{Content: &s}))
				return out, Info{Content: true}
			}
		case anthropic.BlockThinking:
			if s := b.ThinkingValue(); s != "" && d.opts.Reasoning {
				out = d.role(out)
				out = append(out, d.chunk(openai.ChatDelta{ReasoningContent: &s}))
				return out, Info{Content: true}
			}
		case anthropic.BlockRedactedThinking:
			if d.opts.ThinkingBlocks {
				out = d.role(out)
				out = append(out, d.chunk(openai.ChatDelta{ThinkingBlocks: []openai.ThinkingBlock{{Type: anthropic.BlockRedactedThinking, Data: b.Data}}}))
				return out, Info{Content: true}
			}
		}
		return out, Info{}
	case anthropic.EventContentBlockDelta:
		var delta anthropic.Delta
		if e.Index == nil || json.Unmarshal(e.Delta, &delta) != nil {
			return out, Info{}
		}
		switch delta.Type {
		case anthropic.DeltaText:
			if delta.Text == "" {
				return out, Info{}
			}
			out = d.role(out)
			out = append(out, d.chunk(openai.ChatDelta{Content: &delta.Text}))
			return out, Info{Content: true}
		case anthropic.DeltaInputJSON:
			p := deref(delta.PartialJSON)
			if p == "" {
				return out, Info{}
			}
			if *e.Index == d.jsonBlock {
				out = d.role(out)
				out = append(out, d.chunk(openai.ChatDelta{Content: &p}))
				return out, Info{Content: true}
			}
			k, ok := d.tools[*e.Index]
			if !ok {
				return out, Info{}
			}
			out = append(out, d.chunk(openai.ChatDelta{ToolCalls: []openai.ToolCall{{Index: openai.Ptr(k), Function: openai.FunctionCall{Arguments: p}}}}))
			return out, Info{Content: true}
		case anthropic.DeltaThinking:
			if !d.opts.Reasoning || delta.Thinking == "" {
				return out, Info{}
			}
			out = d.role(out)
			out = append(out, d.chunk(openai.ChatDelta{ReasoningContent: &delta.Thinking}))
			return out, Info{Content: true}
		case anthropic.DeltaSignature:
			if !d.opts.ThinkingBlocks {
				return out, Info{}
			}
			out = d.role(out)
			out = append(out, d.chunk(openai.ChatDelta{ThinkingBlocks: []openai.ThinkingBlock{{Type: anthropic.BlockThinking, Signature: delta.Signature}}}))
			return out, Info{Content: true}
		}
		return out, Info{}
	case anthropic.EventContentBlockStop:
		return out, Info{}
	case anthropic.EventMessageDelta:
		var md anthropic.MessageDelta
		if json.Unmarshal(e.Delta, &md) == nil {
			if md.StopReason != nil {
				d.stopReason = *md.StopReason
			}
			if md.StopSequence != nil {
				d.stopSeq = md.StopSequence
			}
		}
		if u := e.Usage; u != nil {
			d.out = u.OutputTokens
			if u.InputTokens != nil {
				d.in = *u.InputTokens
			}
			if u.CacheReadInputTokens != nil {
				d.cacheRead = u.CacheReadInputTokens
			}
			if u.CacheCreationInputTokens != nil {
				d.cacheCreate = u.CacheCreationInputTokens
			}
			if u.OutputTokensDetails != nil {
				d.details = u.OutputTokensDetails
			}
		}
		return out, Info{Content: true, Usage: d.usageInfo()}
	case anthropic.EventMessageStop:
		out = d.finish(out)
		return out, Info{Content: true, Done: true, Usage: d.usageInfo()}
	}
	return out, Info{Unknown: true}
}

// finish appends the finish chunk and, when asked for, the usage chunk.
func (d *anthropicDecoder) finish(out []*openai.ChatChunk) []*openai.ChatChunk {
	if d.done {
		return out
	}
	d.done = true
	out = d.role(out)
	reason := finishFromStopReason(d.stopReason)
	if d.sawJSON && reason == openai.FinishToolCalls && d.nextTool == 0 {
		reason = openai.FinishStop
	}
	c := d.chunk(openai.ChatDelta{})
	c.Choices[0].FinishReason = &reason
	if d.stopSeq != nil {
		c.Choices[0].StopReason, _ = json.Marshal(*d.stopSeq)
	}
	out = append(out, c)
	if d.includeUsage {
		u := d.usage()
		out = append(out, &openai.ChatChunk{ID: d.id, Object: "chat.completion.chunk", Created: d.created, Model: d.model, Choices: []openai.ChatChunkChoice{}, Usage: u})
	}
	return out
}

// Finish reports whether message_stop was seen; an answer cut before it is
// incomplete and yields no closing chunks.
func (d *anthropicDecoder) Finish(out []*openai.ChatChunk) ([]*openai.ChatChunk, bool) {
	return out, d.done
}

func (d *anthropicDecoder) usage() *openai.ChatUsage {
	return chatUsageFromAnthropic(d.in, d.out, d.cacheRead, d.cacheCreate, d.details)
}

func (d *anthropicDecoder) usageInfo() *openai.Usage {
	u := d.usage().Basic()
	return &u
}

// role appends the single role chunk before the first content.
func (d *anthropicDecoder) role(out []*openai.ChatChunk) []*openai.ChatChunk {
	if d.started {
		return out
	}
	d.started = true
	return append(out, d.chunk(openai.ChatDelta{Role: openai.RoleAssistant, Content: ptrStr("")}))
}

func (d *anthropicDecoder) chunk(delta openai.ChatDelta) *openai.ChatChunk {
	return &openai.ChatChunk{
		ID: d.id, Object: "chat.completion.chunk", Created: d.created, Model: d.model,
		Choices: []openai.ChatChunkChoice{{Delta: delta}},
	}
}
