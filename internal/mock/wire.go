package mock

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The OpenAI wire format, as far as the mock produces it. Fields that OpenAI
// sends as null (logprobs, refusal) are pointers that stay nil.

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []chatChoice `json:"choices"`
	Usage             usage        `json:"usage"`
}

type chatChoice struct {
	Index        int         `json:"index"`
	Message      chatMessage `json:"message"`
	Logprobs     *struct{}   `json:"logprobs"`
	FinishReason string      `json:"finish_reason"`
}

type chatMessage struct {
	Role      string     `json:"role"`
	Content   *string    `json:"content"` // null for a tool call
	Refusal   *string    `json:"refusal"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
}

// toolCall is a function call of an assistant message.
type toolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function functionCall `json:"function"`
}

type functionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// toolCallDelta is a fragment of a tool call in a stream chunk: the first
// names it, the others carry pieces of its arguments.
type toolCallDelta struct {
	Index    int          `json:"index"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function functionCall `json:"function"`
}

type chatChunk struct {
	ID                string            `json:"id"`
	Object            string            `json:"object"` // "chat.completion.chunk"
	Created           int64             `json:"created"`
	Model             string            `json:"model"`
	SystemFingerprint string            `json:"system_fingerprint,omitempty"`
	Choices           []chatChunkChoice `json:"choices"`
	// Usage is absent (nil) unless stream_options.include_usage; then it is
	// null on every chunk but the last, which carries a usage.
	Usage any `json:"usage,omitempty"`
}

type chatChunkChoice struct {
	Index        int       `json:"index"`
	Delta        chatDelta `json:"delta"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type chatDelta struct {
	Role      string          `json:"role,omitempty"`
	Content   string          `json:"content,omitempty"`
	ToolCalls []toolCallDelta `json:"tool_calls,omitempty"`
}

// textCompletion is both a /v1/completions response and one of its stream chunks.
type textCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "text_completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	Choices           []textChoice `json:"choices"`
	Usage             any          `json:"usage,omitempty"` // as in chatChunk; a usage when not streaming
}

type textChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type embeddingList struct {
	Object string          `json:"object"` // "list"
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

type embeddingItem struct {
	Object    string `json:"object"` // "embedding"
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string of little-endian float32s
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type modelList struct {
	Object string        `json:"object"` // "list"
	Data   []modelObject `json:"data"`
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// tagList is Ollama's GET /api/tags answer.
type tagList struct {
	Models []tag `json:"models"`
}

type tag struct {
	Name       string `json:"name"`
	Model      string `json:"model"`
	ModifiedAt string `json:"modified_at"`
	Size       int64  `json:"size"`
	Digest     string `json:"digest"`
}

type errorEnvelope struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// streamErrorEvent is the event Options.FirstEventError sends.
const streamErrorEvent = `{"error":{"message":"mock stream error","type":"server_error"}}`

// errorType returns the OpenAI error type for an HTTP status.
func errorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

// injectedCode returns the error code of an injected error status, or "".
func injectedCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "invalid_api_key"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	}
	return ""
}

// nullable returns nil for "" so that the field encodes as null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeJSON writes v as the whole response with the given status.
func writeJSON(w http.ResponseWriter, x *exchange, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the wire types always encode; keep the response well-formed anyway
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"encode response","type":"server_error","param":null,"code":null}}`)
	}
	x.status = status
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status) // these statuses carry no body
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client went away; the status is already counted
}

// writeError writes an OpenAI error envelope; an empty param or code is sent as null.
func writeError(w http.ResponseWriter, x *exchange, status int, message, param, code string) {
	writeJSON(w, x, status, errorEnvelope{Error: errorDetail{
		Message: message,
		Type:    errorType(status),
		Param:   nullable(param),
		Code:    nullable(code),
	}})
}

// writeInjectedError writes an error chosen by the options (not caused by the
// request), with Retry-After when configured.
func writeInjectedError(w http.ResponseWriter, o *Options, x *exchange, status int, message, code string) {
	if o.RetryAfter != "" {
		w.Header().Set("Retry-After", o.RetryAfter)
	}
	writeError(w, x, status, message, "", code)
}

func methodNotAllowed(w http.ResponseWriter, x *exchange, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, x, http.StatusMethodNotAllowed, "method not allowed; use "+allow, "", "method_not_allowed")
}

func unauthorized(w http.ResponseWriter, x *exchange) {
	writeError(w, x, http.StatusUnauthorized, "invalid or missing API key", "", "invalid_api_key")
}
