package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/continuumhq/continuum/internal/jsonextra"
)

// This file holds the typed chat-completions wire format: the pivot through
// which every translation between client and backend APIs goes. The hot
// relay path (OpenAI client to OpenAI backend) never decodes into these
// types; translations do.

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Finish reasons of a chat choice.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishFunctionCall  = "function_call"
)

// ChatRequest is a chat completions request. Fields the type does not name
// are kept in Extra, so that a translated request can carry vendor fields
// (vLLM's continue_final_message, Gemini's extra_body) through.
type ChatRequest struct {
	Model               string                     `json:"model"`
	Messages            []ChatMessage              `json:"messages"`
	Tools               []Tool                     `json:"tools,omitempty"`
	ToolChoice          *ToolChoice                `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool                      `json:"parallel_tool_calls,omitempty"`
	MaxTokens           *int                       `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int                       `json:"max_completion_tokens,omitempty"`
	Temperature         *float64                   `json:"temperature,omitempty"`
	TopP                *float64                   `json:"top_p,omitempty"`
	TopK                *int                       `json:"top_k,omitempty"` // a vLLM extension
	Stop                Stop                       `json:"stop,omitempty"`
	Stream              bool                       `json:"stream,omitempty"`
	StreamOptions       *StreamOptions             `json:"stream_options,omitempty"`
	User                string                     `json:"user,omitempty"`
	ReasoningEffort     string                     `json:"reasoning_effort,omitempty"`
	ResponseFormat      *ResponseFormat            `json:"response_format,omitempty"`
	N                   *int                       `json:"n,omitempty"`
	Logprobs            *bool                      `json:"logprobs,omitempty"`
	TopLogprobs         *int                       `json:"top_logprobs,omitempty"`
	Seed                *int64                     `json:"seed,omitempty"`
	PresencePenalty     *float64                   `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64                   `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]float64         `json:"logit_bias,omitempty"`
	Metadata            map[string]string          `json:"metadata,omitempty"`
	Extra               map[string]json.RawMessage `json:"-"`
}

// chatRequestKeys are the top-level keys ChatRequest names; the others go to Extra.
var chatRequestKeys = []string{
	"model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
	"max_completion_tokens", "temperature", "top_p", "top_k", "stop", "stream", "stream_options",
	"user", "reasoning_effort", "response_format", "n", "logprobs", "top_logprobs", "seed",
	"presence_penalty", "frequency_penalty", "logit_bias", "metadata",
}

type chatRequestFields ChatRequest

// UnmarshalJSON decodes a request, keeping unnamed top-level fields in Extra.
func (r *ChatRequest) UnmarshalJSON(b []byte) error {
	var f chatRequestFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	all, err := jsonextra.Split(b, chatRequestKeys)
	if err != nil {
		return err
	}
	*r = ChatRequest(f)
	r.Extra = all
	return nil
}

// MarshalJSON encodes a request with the members of Extra appended, sorted
// by key. An Extra key that names a typed field is ignored.
func (r ChatRequest) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(chatRequestFields(r))
	if err != nil {
		return nil, err
	}
	return jsonextra.Append(b, r.Extra, chatRequestKeys)
}

// MaxOutputTokens returns max_completion_tokens, else max_tokens, and false
// when neither is set.
func (r *ChatRequest) MaxOutputTokens() (int, bool) {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens, true
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens, true
	}
	return 0, false
}

// IncludeUsage reports whether stream_options.include_usage is set.
func (r *ChatRequest) IncludeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// StreamOptions is stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Stop is the stop parameter: a string or an array of strings, decoded into
// a list. It encodes as an array.
type Stop []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *Stop) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = nil
		return nil
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("stop must be a string or an array of strings: %w", err)
	}
	*s = list
	return nil
}

// ChatMessage is one message of a chat request, or the message of a
// completion choice.
type ChatMessage struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Refusal    *string    `json:"refusal,omitempty"`
	// ReasoningContent is the model's reasoning (vLLM, DeepSeek); decoding
	// also accepts "reasoning".
	ReasoningContent string `json:"reasoning_content,omitempty"`
	// ThinkingBlocks are Anthropic thinking blocks with their signatures, in
	// LiteLLM's format, so that a multi-turn conversation can send them back.
	ThinkingBlocks []ThinkingBlock `json:"thinking_blocks,omitempty"`
}

type chatMessageFields ChatMessage

// UnmarshalJSON decodes a message, taking "reasoning" when
// "reasoning_content" is absent.
func (m *ChatMessage) UnmarshalJSON(b []byte) error {
	var f struct {
		chatMessageFields
		Reasoning string `json:"reasoning"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*m = ChatMessage(f.chatMessageFields)
	if m.ReasoningContent == "" {
		m.ReasoningContent = f.Reasoning
	}
	return nil
}

// ThinkingBlock is an Anthropic thinking or redacted_thinking block carried
// in an OpenAI message (LiteLLM's "thinking_blocks").
type ThinkingBlock struct {
	Type      string `json:"type"` // "thinking" or "redacted_thinking"
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"` // redacted_thinking only
}

// Content is a message's content: a string, an array of parts, or null.
// Parts is non-nil when the content is an array; otherwise Text is the
// string, and a nil Text is null.
type Content struct {
	Text  *string
	Parts []ContentPart
}

// TextContent returns string content.
func TextContent(s string) Content { return Content{Text: &s} }

// PartsContent returns array content.
func PartsContent(parts ...ContentPart) Content {
	if parts == nil {
		parts = []ContentPart{}
	}
	return Content{Parts: parts}
}

// IsNull reports whether the content is null (or absent).
func (c Content) IsNull() bool { return c.Text == nil && c.Parts == nil }

// String returns the text of the content: the string, or the text (and
// refusal) parts joined without separator.
func (c Content) String() string {
	if c.Parts == nil {
		if c.Text == nil {
			return ""
		}
		return *c.Text
	}
	var b strings.Builder
	for _, p := range c.Parts {
		switch p.Type {
		case PartText:
			b.WriteString(p.Text)
		case PartRefusal:
			b.WriteString(p.Refusal)
		}
	}
	return b.String()
}

// MarshalJSON encodes the content as a string, an array or null.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	if c.Text == nil {
		return []byte("null"), nil
	}
	return json.Marshal(*c.Text)
}

// UnmarshalJSON decodes a string, an array of parts or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*c = Content{}
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Content{Text: &s}
		return nil
	case len(b) > 0 && b[0] == '[':
		parts := []ContentPart{}
		if err := json.Unmarshal(b, &parts); err != nil {
			return err
		}
		*c = Content{Parts: parts}
		return nil
	}
	return fmt.Errorf("content must be a string, an array of parts or null")
}

// Content part types.
const (
	PartText       = "text"
	PartImageURL   = "image_url"
	PartInputAudio = "input_audio"
	PartFile       = "file"
	PartRefusal    = "refusal"
)

// ContentPart is one part of array content.
type ContentPart struct {
	Type       string      `json:"type"`
	Text       string      `json:"text,omitempty"`
	ImageURL   *ImageURL   `json:"image_url,omitempty"`
	InputAudio *InputAudio `json:"input_audio,omitempty"`
	File       *File       `json:"file,omitempty"`
	Refusal    string      `json:"refusal,omitempty"`
}

type contentPartFields ContentPart

// MarshalJSON encodes the part; a text part always has its "text".
func (p ContentPart) MarshalJSON() ([]byte, error) {
	if p.Type == PartText && p.Text == "" {
		return json.Marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{p.Type, ""})
	}
	return json.Marshal(contentPartFields(p))
}

// ImageURL is an image_url part's image: a URL or a data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// InputAudio is an input_audio part's audio.
type InputAudio struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// File is a file part's file: inline data (a data URL) or a file id.
type File struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// ToolCall is a tool call of an assistant message or, with Index set, a
// fragment of one in a stream delta. Members the type does not name (such as
// Gemini's "extra_content" with its thought signature) are kept in Extra.
type ToolCall struct {
	Index    *int                       `json:"index,omitempty"`
	ID       string                     `json:"id,omitempty"`
	Type     string                     `json:"type,omitempty"`
	Function FunctionCall               `json:"function"`
	Extra    map[string]json.RawMessage `json:"-"`
}

var toolCallKeys = []string{"index", "id", "type", "function"}

type toolCallFields ToolCall

// UnmarshalJSON decodes a tool call, keeping unnamed members in Extra.
func (t *ToolCall) UnmarshalJSON(b []byte) error {
	var f toolCallFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	all, err := jsonextra.Split(b, toolCallKeys)
	if err != nil {
		return err
	}
	*t = ToolCall(f)
	t.Extra = all
	return nil
}

// MarshalJSON encodes a tool call with the members of Extra appended.
func (t ToolCall) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(toolCallFields(t))
	if err != nil {
		return nil, err
	}
	return jsonextra.Append(b, t.Extra, toolCallKeys)
}

// FunctionCall is the function of a tool call; Arguments is JSON text (a
// fragment of it in stream deltas).
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Tool is a tool definition of a request. Only "function" tools have a
// Function; other types are kept by name only.
type Tool struct {
	Type     string       `json:"type"`
	Function *FunctionDef `json:"function,omitempty"`
}

// FunctionDef is a function tool's definition; Parameters is a JSON Schema.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolChoice is tool_choice: a mode ("auto", "none", "required") or a named
// function (Function set, Mode empty).
type ToolChoice struct {
	Mode     string
	Function string
}

// MarshalJSON encodes a mode as a string and a named function as
// {"type":"function","function":{"name":…}}.
func (c ToolChoice) MarshalJSON() ([]byte, error) {
	if c.Function != "" {
		return json.Marshal(map[string]any{"type": "function", "function": map[string]string{"name": c.Function}})
	}
	return json.Marshal(c.Mode)
}

// UnmarshalJSON decodes a mode string or a named function object.
func (c *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*c = ToolChoice{}
		return json.Unmarshal(b, &c.Mode)
	}
	var o struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return fmt.Errorf("tool_choice must be a string or an object: %w", err)
	}
	if o.Type != "function" || o.Function.Name == "" {
		return fmt.Errorf("tool_choice object must name a function")
	}
	*c = ToolChoice{Function: o.Function.Name}
	return nil
}

// ResponseFormat is response_format: "text", "json_object" or
// "json_schema" with its schema.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema member of a json_schema response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ChatCompletion is a non-streamed chat completion.
type ChatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *ChatUsage   `json:"usage,omitempty"`
}

// ChatChoice is one choice of a completion.
type ChatChoice struct {
	Index        int             `json:"index"`
	Message      ChatMessage     `json:"message"`
	FinishReason string          `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	// StopReason is vLLM's stop_reason: the matched stop string, a stop
	// token id, or null.
	StopReason json.RawMessage `json:"stop_reason,omitempty"`
}

// StopString returns a vLLM stop_reason that is a string, or "".
func StopString(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// ChatUsage is the full token accounting of a chat completion, with the
// cached-prompt and reasoning details that Usage leaves out.
type ChatUsage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails is usage.prompt_tokens_details.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// CompletionTokensDetails is usage.completion_tokens_details.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// Cached returns prompt_tokens_details.cached_tokens, 0 when absent.
func (u *ChatUsage) Cached() int {
	if u == nil || u.PromptTokensDetails == nil {
		return 0
	}
	return u.PromptTokensDetails.CachedTokens
}

// Reasoning returns completion_tokens_details.reasoning_tokens, 0 when absent.
func (u *ChatUsage) Reasoning() int {
	if u == nil || u.CompletionTokensDetails == nil {
		return 0
	}
	return u.CompletionTokensDetails.ReasoningTokens
}

// Basic returns the three counts as a Usage.
func (u *ChatUsage) Basic() Usage {
	return Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens}
}

// ChatChunk is one event of a streamed chat completion.
type ChatChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"` // "chat.completion.chunk"
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	SystemFingerprint string            `json:"system_fingerprint,omitempty"`
	Choices           []ChatChunkChoice `json:"choices"`
	Usage             *ChatUsage        `json:"usage,omitempty"`
}

// ChatChunkChoice is one choice of a chunk.
type ChatChunkChoice struct {
	Index        int             `json:"index"`
	Delta        ChatDelta       `json:"delta"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
	StopReason   json.RawMessage `json:"stop_reason,omitempty"` // vLLM, as in ChatChoice
}

// ChatDelta is the delta of a chunk choice.
type ChatDelta struct {
	Role             string          `json:"role,omitempty"`
	Content          *string         `json:"content,omitempty"`
	ReasoningContent *string         `json:"reasoning_content,omitempty"`
	Refusal          *string         `json:"refusal,omitempty"`
	ToolCalls        []ToolCall      `json:"tool_calls,omitempty"`
	ThinkingBlocks   []ThinkingBlock `json:"thinking_blocks,omitempty"`
}

type chatDeltaFields ChatDelta

// UnmarshalJSON decodes a delta, taking "reasoning" when
// "reasoning_content" is absent.
func (d *ChatDelta) UnmarshalJSON(b []byte) error {
	var f struct {
		chatDeltaFields
		Reasoning *string `json:"reasoning"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*d = ChatDelta(f.chatDeltaFields)
	if d.ReasoningContent == nil {
		d.ReasoningContent = f.Reasoning
	}
	return nil
}

// MarshalJSON encodes a chunk; choices are [] rather than null.
func (c ChatChunk) MarshalJSON() ([]byte, error) {
	type fields ChatChunk
	if c.Choices == nil {
		c.Choices = []ChatChunkChoice{}
	}
	return json.Marshal(fields(c))
}

// Ptr returns a pointer to v, for the optional fields of these types.
func Ptr[T any](v T) *T { return &v }
