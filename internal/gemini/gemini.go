// Package gemini holds the native Gemini API wire format
// (generateContent and streamGenerateContent): requests, responses, usage
// metadata and error bodies, as Continuum translates them.
package gemini

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// HeaderAPIKey is the header that carries the API key.
const HeaderAPIKey = "x-goog-api-key"

// Roles of contents.
const (
	RoleUser  = "user"
	RoleModel = "model"
)

// Request is a generateContent / streamGenerateContent request body.
type Request struct {
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
	SafetySettings    json.RawMessage   `json:"safetySettings,omitempty"`
	CachedContent     string            `json:"cachedContent,omitempty"`
}

// Content is one turn: a role and its parts.
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one part of a content; exactly one of its data members is set
// (Thought marks a text part as the model's reasoning).
type Part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *Blob             `json:"inlineData,omitempty"`
	FileData         *FileData         `json:"fileData,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`
}

// Blob is inline data: a MIME type and base64 data.
type Blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData refers to a file by URI.
type FileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is a call the model makes; Args is a JSON object.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse is a function's result sent back to the model; Response
// is a JSON object.
type FunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// Tool is a tool entry; Continuum sends function declarations only.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
}

// FunctionDeclaration declares a function; Parameters is a schema.
type FunctionDeclaration struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// ToolConfig is a request's toolConfig.
type ToolConfig struct {
	FunctionCallingConfig *FunctionCallingConfig `json:"functionCallingConfig,omitempty"`
}

// Function calling modes.
const (
	ModeAuto = "AUTO"
	ModeAny  = "ANY"
	ModeNone = "NONE"
)

// FunctionCallingConfig is the function calling mode and, for ANY, the
// functions allowed.
type FunctionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// GenerationConfig holds the sampling and output settings.
type GenerationConfig struct {
	MaxOutputTokens  *int            `json:"maxOutputTokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"topP,omitempty"`
	TopK             *int            `json:"topK,omitempty"`
	StopSequences    []string        `json:"stopSequences,omitempty"`
	CandidateCount   *int            `json:"candidateCount,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	PresencePenalty  *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMimeType string          `json:"responseMimeType,omitempty"`
	ResponseSchema   json.RawMessage `json:"responseSchema,omitempty"`
	ThinkingConfig   *ThinkingConfig `json:"thinkingConfig,omitempty"`
}

// ThinkingConfig is generationConfig.thinkingConfig. A ThinkingBudget of 0
// turns thinking off; nil leaves the model's default.
type ThinkingConfig struct {
	ThinkingBudget  *int   `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
}

// Response is a generateContent answer, and one event of a stream.
type Response struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
}

// Candidate is one generated answer.
type Candidate struct {
	Content       *Content        `json:"content,omitempty"`
	FinishReason  string          `json:"finishReason,omitempty"`
	Index         int             `json:"index,omitempty"`
	SafetyRatings json.RawMessage `json:"safetyRatings,omitempty"`
}

// Finish reasons of a candidate.
const (
	FinishStop              = "STOP"
	FinishMaxTokens         = "MAX_TOKENS"
	FinishSafety            = "SAFETY"
	FinishRecitation        = "RECITATION"
	FinishBlocklist         = "BLOCKLIST"
	FinishProhibitedContent = "PROHIBITED_CONTENT"
	FinishSPII              = "SPII"
	FinishMalformedCall     = "MALFORMED_FUNCTION_CALL"
	FinishOther             = "OTHER"
)

// PromptFeedback reports a prompt blocked before any candidate.
type PromptFeedback struct {
	BlockReason   string          `json:"blockReason,omitempty"`
	SafetyRatings json.RawMessage `json:"safetyRatings,omitempty"`
}

// UsageMetadata is a response's token accounting. In a stream each event
// carries the counts so far.
type UsageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int `json:"totalTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
}

// ErrorBody is the error answer {"error":{code,message,status}}; some
// endpoints send it wrapped in a one-element array.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the error member of an error body.
type ErrorDetail struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Status  string          `json:"status"`
	Details json.RawMessage `json:"details,omitempty"`
}

// ParseError decodes an error body in either form. It reports false when
// body is neither.
func ParseError(body []byte) (ErrorDetail, bool) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var list []ErrorBody
		if json.Unmarshal(body, &list) != nil || len(list) == 0 {
			return ErrorDetail{}, false
		}
		return list[0].Error, list[0].Error.Message != "" || list[0].Error.Status != ""
	}
	var e ErrorBody
	if json.Unmarshal(body, &e) != nil {
		return ErrorDetail{}, false
	}
	return e.Error, e.Error.Message != "" || e.Error.Status != ""
}

// Status codes of the error body (google.rpc.Code names).
const (
	StatusInvalidArgument    = "INVALID_ARGUMENT"
	StatusFailedPrecondition = "FAILED_PRECONDITION"
	StatusUnauthenticated    = "UNAUTHENTICATED"
	StatusPermissionDenied   = "PERMISSION_DENIED"
	StatusNotFound           = "NOT_FOUND"
	StatusResourceExhausted  = "RESOURCE_EXHAUSTED"
	StatusInternal           = "INTERNAL"
	StatusUnavailable        = "UNAVAILABLE"
	StatusDeadlineExceeded   = "DEADLINE_EXCEEDED"
)

// HTTPStatus returns the HTTP status of an error status name, or 0 for an
// unknown name.
func HTTPStatus(status string) int {
	switch status {
	case StatusInvalidArgument, StatusFailedPrecondition:
		return http.StatusBadRequest
	case StatusUnauthenticated:
		return http.StatusUnauthorized
	case StatusPermissionDenied:
		return http.StatusForbidden
	case StatusNotFound:
		return http.StatusNotFound
	case StatusResourceExhausted:
		return http.StatusTooManyRequests
	case StatusInternal:
		return http.StatusInternalServerError
	case StatusUnavailable:
		return http.StatusServiceUnavailable
	case StatusDeadlineExceeded:
		return http.StatusGatewayTimeout
	}
	return 0
}

// StatusName returns the error status name Gemini uses for an HTTP status.
func StatusName(code int) string {
	switch code {
	case http.StatusBadRequest:
		return StatusInvalidArgument
	case http.StatusUnauthorized:
		return StatusUnauthenticated
	case http.StatusForbidden:
		return StatusPermissionDenied
	case http.StatusNotFound:
		return StatusNotFound
	case http.StatusTooManyRequests:
		return StatusResourceExhausted
	case http.StatusServiceUnavailable:
		return StatusUnavailable
	case http.StatusGatewayTimeout:
		return StatusDeadlineExceeded
	}
	if code >= 500 {
		return StatusInternal
	}
	return StatusInvalidArgument
}

// NewErrorBody returns the JSON error body for an HTTP status and message.
func NewErrorBody(code int, message string) []byte {
	b, err := json.Marshal(ErrorBody{Error: ErrorDetail{Code: code, Message: message, Status: StatusName(code)}})
	if err != nil { // cannot happen for these types
		return []byte(`{"error":{"code":500,"message":"internal error","status":"INTERNAL"}}`)
	}
	return b
}

// Model is one entry of GET /v1beta/models.
type Model struct {
	Name                       string   `json:"name"` // "models/<id>"
	Version                    string   `json:"version,omitempty"`
	DisplayName                string   `json:"displayName"`
	InputTokenLimit            int      `json:"inputTokenLimit,omitempty"`
	OutputTokenLimit           int      `json:"outputTokenLimit,omitempty"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

// ModelList is the body of GET /v1beta/models.
type ModelList struct {
	Models        []Model `json:"models"`
	NextPageToken string  `json:"nextPageToken,omitempty"`
}
