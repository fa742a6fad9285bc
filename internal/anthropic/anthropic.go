// Package anthropic holds the Anthropic Messages API wire format: requests,
// responses, content blocks, stream events and the error body, as Continuum
// translates them. Unknown members of requests are kept where a translation
// may need to pass them on; everything else follows the API reference and
// the official SDKs (anthropic-sdk-go 1.x).
package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/continuumhq/continuum/internal/jsonextra"
)

// API versions, sent as the anthropic-version header. Version20230601 is the
// one the Go SDK 1.x sends and the default; Version20261021 (Node SDK ≥ 1.0,
// Python and Go SDK 2.x) rejects temperature, top_p and top_k.
const (
	Version20230601 = "2023-06-01"
	Version20261021 = "2026-10-21"
	DefaultVersion  = Version20230601
)

// Header names of the API.
const (
	HeaderVersion   = "anthropic-version"
	HeaderBeta      = "anthropic-beta"
	HeaderAPIKey    = "x-api-key"
	HeaderRequestID = "request-id"
)

// Request is a Messages request (POST /v1/messages), and with MaxTokens
// zero a count_tokens request.
type Request struct {
	Model         string          `json:"model"`
	Messages      []Message       `json:"messages"`
	System        *Text           `json:"system,omitempty"`
	MaxTokens     int             `json:"max_tokens,omitempty"`
	StopSequences []string        `json:"stop_sequences,omitempty"`
	Stream        bool            `json:"stream,omitempty"`
	Temperature   *float64        `json:"temperature,omitempty"`
	TopP          *float64        `json:"top_p,omitempty"`
	TopK          *int            `json:"top_k,omitempty"`
	Metadata      *Metadata       `json:"metadata,omitempty"`
	Tools         []Tool          `json:"tools,omitempty"`
	ToolChoice    *ToolChoice     `json:"tool_choice,omitempty"`
	Thinking      *Thinking       `json:"thinking,omitempty"`
	OutputConfig  *OutputConfig   `json:"output_config,omitempty"`
	ServiceTier   string          `json:"service_tier,omitempty"`
	Container     json.RawMessage `json:"container,omitempty"`
	MCPServers    json.RawMessage `json:"mcp_servers,omitempty"`
	CacheControl  json.RawMessage `json:"cache_control,omitempty"`
	// Extra holds top-level members the type does not name.
	Extra map[string]json.RawMessage `json:"-"`
}

var requestKeys = []string{
	"model", "messages", "system", "max_tokens", "stop_sequences", "stream", "temperature",
	"top_p", "top_k", "metadata", "tools", "tool_choice", "thinking", "output_config",
	"service_tier", "container", "mcp_servers", "cache_control",
}

type requestFields Request

// UnmarshalJSON decodes a request, keeping unnamed members in Extra.
func (r *Request) UnmarshalJSON(b []byte) error {
	var f requestFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	all, err := jsonextra.Split(b, requestKeys)
	if err != nil {
		return err
	}
	*r = Request(f)
	r.Extra = all
	return nil
}

// MarshalJSON encodes a request with the members of Extra appended, sorted.
func (r Request) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(requestFields(r))
	if err != nil {
		return nil, err
	}
	return jsonextra.Append(b, r.Extra, requestKeys)
}

// Text is a string, or an array of text blocks (the system prompt, a tool
// result's content). Blocks is non-nil for the array form.
type Text struct {
	String string
	Blocks []Block
}

// Joined returns the text: the string, or the text blocks joined with sep.
func (t *Text) Joined(sep string) string {
	if t == nil {
		return ""
	}
	if t.Blocks == nil {
		return t.String
	}
	var b bytes.Buffer
	n := 0
	for _, blk := range t.Blocks {
		if blk.Type != BlockText {
			continue
		}
		if n > 0 {
			b.WriteString(sep)
		}
		b.WriteString(blk.TextValue())
		n++
	}
	return b.String()
}

// MarshalJSON encodes a string or an array.
func (t Text) MarshalJSON() ([]byte, error) {
	if t.Blocks != nil {
		return json.Marshal(t.Blocks)
	}
	return json.Marshal(t.String)
}

// UnmarshalJSON decodes a string or an array of blocks.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*t = Text{}
		return json.Unmarshal(b, &t.String)
	}
	if len(b) > 0 && b[0] == '[' {
		blocks := []Block{}
		if err := json.Unmarshal(b, &blocks); err != nil {
			return err
		}
		*t = Text{Blocks: blocks}
		return nil
	}
	return fmt.Errorf("want a string or an array of content blocks")
}

// Message is one message of a request: a role ("user", "assistant", or
// "system", which both API versions accept) and its content.
type Message struct {
	Role    string `json:"role"`
	Content Text   `json:"content"`
}

// Block types.
const (
	BlockText             = "text"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
)

// Block is a content block of any type; Type says which fields apply.
type Block struct {
	Type string `json:"type"`
	// text
	Text      *string         `json:"text,omitempty"`
	Citations json.RawMessage `json:"citations,omitempty"`
	// image, document
	Source  *Source `json:"source,omitempty"`
	Title   string  `json:"title,omitempty"`
	Context string  `json:"context,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string `json:"tool_use_id,omitempty"`
	Content   *Text  `json:"content,omitempty"`
	IsError   bool   `json:"is_error,omitempty"`
	// thinking, redacted_thinking
	Thinking  *string `json:"thinking,omitempty"`
	Signature *string `json:"signature,omitempty"`
	Data      string  `json:"data,omitempty"`

	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// TextBlock returns a text block.
func TextBlock(s string) Block { return Block{Type: BlockText, Text: &s} }

// TextValue returns the block's text, "" when absent.
func (b *Block) TextValue() string {
	if b.Text == nil {
		return ""
	}
	return *b.Text
}

// ThinkingValue returns the block's thinking, "" when absent.
func (b *Block) ThinkingValue() string {
	if b.Thinking == nil {
		return ""
	}
	return *b.Thinking
}

// SignatureValue returns the block's signature, "" when absent.
func (b *Block) SignatureValue() string {
	if b.Signature == nil {
		return ""
	}
	return *b.Signature
}

// Source types of image and document blocks.
const (
	SourceBase64 = "base64"
	SourceURL    = "url"
	SourceText   = "text"
	SourceFile   = "file"
)

// Source is the source of an image or document block.
type Source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
	FileID    string `json:"file_id,omitempty"`
}

// Metadata is a request's metadata.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Tool is a tool definition. Client tools have a name and an input schema
// (Type empty or "custom"); server tools (web_search_…, bash_…) have a
// versioned Type, and their other members are kept in Extra.
type Tool struct {
	Type         string                     `json:"type,omitempty"`
	Name         string                     `json:"name"`
	Description  string                     `json:"description,omitempty"`
	InputSchema  json.RawMessage            `json:"input_schema,omitempty"`
	Strict       *bool                      `json:"strict,omitempty"`
	CacheControl json.RawMessage            `json:"cache_control,omitempty"`
	Extra        map[string]json.RawMessage `json:"-"`
}

var toolKeys = []string{"type", "name", "description", "input_schema", "strict", "cache_control"}

type toolFields Tool

// UnmarshalJSON decodes a tool, keeping unnamed members in Extra.
func (t *Tool) UnmarshalJSON(b []byte) error {
	var f toolFields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	all, err := jsonextra.Split(b, toolKeys)
	if err != nil {
		return err
	}
	*t = Tool(f)
	t.Extra = all
	return nil
}

// MarshalJSON encodes a tool with the members of Extra appended.
func (t Tool) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(toolFields(t))
	if err != nil {
		return nil, err
	}
	return jsonextra.Append(b, t.Extra, toolKeys)
}

// IsServerTool reports whether the tool is one of Anthropic's server tools
// (any versioned type) rather than a client tool the caller runs.
func (t *Tool) IsServerTool() bool { return t.Type != "" && t.Type != "custom" }

// ToolChoice is tool_choice: Type "auto", "any", "tool" (with Name) or "none".
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// Thinking is the thinking configuration: Type "enabled" (with
// BudgetTokens), "adaptive" or "disabled".
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
	Display      string `json:"display,omitempty"`
}

// OutputConfig is output_config: the effort level and a structured output format.
type OutputConfig struct {
	Effort string        `json:"effort,omitempty"`
	Format *OutputFormat `json:"format,omitempty"`
}

// OutputFormat is output_config.format: {"type":"json_schema","schema":…}.
type OutputFormat struct {
	Type   string          `json:"type"`
	Schema json.RawMessage `json:"schema,omitempty"`
}

// Stop reasons of a response.
const (
	StopEndTurn       = "end_turn"
	StopMaxTokens     = "max_tokens"
	StopSequence      = "stop_sequence"
	StopToolUse       = "tool_use"
	StopPauseTurn     = "pause_turn"
	StopRefusal       = "refusal"
	StopContextWindow = "model_context_window_exceeded"
)

// Response is a Messages response (type "message").
type Response struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"` // "message"
	Role         string  `json:"role"` // "assistant"
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage is a response's token accounting. In message_delta events every
// member is optional and the counts are cumulative.
type Usage struct {
	InputTokens              int                  `json:"input_tokens"`
	OutputTokens             int                  `json:"output_tokens"`
	CacheCreationInputTokens *int                 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int                 `json:"cache_read_input_tokens,omitempty"`
	OutputTokensDetails      *OutputTokensDetails `json:"output_tokens_details,omitempty"`
}

// OutputTokensDetails breaks output tokens down (thinking tokens).
type OutputTokensDetails struct {
	ThinkingTokens int `json:"thinking_tokens"`
}

// DeltaUsage is the usage of a message_delta event: every count is
// optional, and those present are cumulative.
type DeltaUsage struct {
	InputTokens              *int                 `json:"input_tokens,omitempty"`
	OutputTokens             int                  `json:"output_tokens"`
	CacheCreationInputTokens *int                 `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int                 `json:"cache_read_input_tokens,omitempty"`
	OutputTokensDetails      *OutputTokensDetails `json:"output_tokens_details,omitempty"`
}

// CountTokensResponse is the body of a count_tokens answer.
type CountTokensResponse struct {
	InputTokens int `json:"input_tokens"`
}

// Stream event types; an event's SSE name equals its data's type.
const (
	EventMessageStart      = "message_start"
	EventContentBlockStart = "content_block_start"
	EventContentBlockDelta = "content_block_delta"
	EventContentBlockStop  = "content_block_stop"
	EventMessageDelta      = "message_delta"
	EventMessageStop       = "message_stop"
	EventPing              = "ping"
	EventError             = "error"
)

// Delta types of content_block_delta events.
const (
	DeltaText      = "text_delta"
	DeltaInputJSON = "input_json_delta"
	DeltaThinking  = "thinking_delta"
	DeltaSignature = "signature_delta"
	DeltaCitations = "citations_delta"
)

// StreamEvent is any stream event; Type says which fields apply.
type StreamEvent struct {
	Type string `json:"type"`
	// message_start
	Message *Response `json:"message,omitempty"`
	// content_block_start, content_block_delta, content_block_stop
	Index        *int   `json:"index,omitempty"`
	ContentBlock *Block `json:"content_block,omitempty"`
	// content_block_delta (a Delta), message_delta (a MessageDelta)
	Delta json.RawMessage `json:"delta,omitempty"`
	// message_delta
	Usage *DeltaUsage `json:"usage,omitempty"`
	// error
	Error *ErrorDetail `json:"error,omitempty"`
}

// Delta is the delta of a content_block_delta event.
type Delta struct {
	Type        string          `json:"type"`
	Text        string          `json:"text,omitempty"`
	PartialJSON *string         `json:"partial_json,omitempty"`
	Thinking    string          `json:"thinking,omitempty"`
	Signature   string          `json:"signature,omitempty"`
	Citation    json.RawMessage `json:"citation,omitempty"`
}

// MessageDelta is the delta of a message_delta event.
type MessageDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// Error types of the error body.
const (
	ErrInvalidRequest = "invalid_request_error"
	ErrAuthentication = "authentication_error"
	ErrBilling        = "billing_error"
	ErrPermission     = "permission_error"
	ErrNotFound       = "not_found_error"
	ErrTooLarge       = "request_too_large"
	ErrRateLimit      = "rate_limit_error"
	ErrAPI            = "api_error"
	ErrTimeout        = "timeout_error"
	ErrOverloaded     = "overloaded_error"
)

// StatusOverloaded is Anthropic's status for overloaded_error.
const StatusOverloaded = 529

// ErrorBody is the error body {"type":"error","error":{…},"request_id":…},
// also the data of a stream's error event (without request_id).
type ErrorBody struct {
	Type      string      `json:"type"` // "error"
	Error     ErrorDetail `json:"error"`
	RequestID string      `json:"request_id,omitempty"`
}

// ErrorDetail is the error member of an error body.
type ErrorDetail struct {
	Type    string          `json:"type"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details,omitempty"`
}

// ErrorTypeForStatus returns the error type Anthropic uses for an HTTP status.
func ErrorTypeForStatus(status int) string {
	switch status {
	case 401:
		return ErrAuthentication
	case 402:
		return ErrBilling
	case 403:
		return ErrPermission
	case 404:
		return ErrNotFound
	case 413:
		return ErrTooLarge
	case 429:
		return ErrRateLimit
	case 408, 504:
		return ErrTimeout
	case 503, StatusOverloaded:
		return ErrOverloaded
	}
	if status >= 500 {
		return ErrAPI
	}
	return ErrInvalidRequest
}

// NewErrorBody returns the JSON error body for an error type and message.
func NewErrorBody(typ, message, requestID string) []byte {
	b, err := json.Marshal(ErrorBody{Type: "error", Error: ErrorDetail{Type: typ, Message: message}, RequestID: requestID})
	if err != nil { // cannot happen for strings
		return []byte(`{"type":"error","error":{"type":"api_error","message":"internal error"}}`)
	}
	return b
}

// Model is one entry of GET /v1/models.
type Model struct {
	ID          string `json:"id"`
	Type        string `json:"type"` // "model"
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"` // RFC 3339
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	Data    []Model `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}
