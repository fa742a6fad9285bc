package openai

import (
	"encoding/json"
	"net/http"
)

// Error types and codes the router itself answers with. OpenAI's own types
// are used where OpenAI has one (invalid_request_error, authentication_error,
// permission_error); router-specific conditions use the same identifier as
// both type and code so clients can match on either.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeRateLimit      = "rate_limit_exceeded"
	TypeUpstream       = "upstream_error"
	TypeNoBackend      = "no_backend_available"
	TypeTimeout        = "upstream_timeout"
	TypeServer         = "server_error"

	CodeModelNotFound   = "model_not_found"
	CodeInvalidAPIKey   = "invalid_api_key"
	CodeModelNotAllowed = "model_not_allowed"
	CodeTooLarge        = "request_too_large"
	CodeRateLimit       = "rate_limit_exceeded"
	CodeNotFound        = "not_found"
	CodeMethod          = "method_not_allowed"
)

// Error is the body of the OpenAI error envelope {"error": {...}}.
type Error struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// ErrorBody is the OpenAI error envelope.
type ErrorBody struct {
	Error Error `json:"error"`
}

// NewError builds an error with the given type, code (may be "") and param (may be "").
func NewError(typ, code, param, msg string) Error {
	e := Error{Message: msg, Type: typ}
	if code != "" {
		e.Code = &code
	}
	if param != "" {
		e.Param = &param
	}
	return e
}

// JSON encodes the envelope {"error": e}.
func (e Error) JSON() []byte {
	b, err := json.Marshal(ErrorBody{Error: e})
	if err != nil { // cannot happen for these field types
		return []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	return b
}

// ErrorForStatus returns the router's standard error for an HTTP status it
// produces itself, with msg as the message.
func ErrorForStatus(status int, msg string) Error {
	switch status {
	case http.StatusBadRequest:
		return NewError(TypeInvalidRequest, "", "", msg)
	case http.StatusUnauthorized:
		return NewError(TypeAuthentication, CodeInvalidAPIKey, "", msg)
	case http.StatusForbidden:
		return NewError(TypePermission, CodeModelNotAllowed, "model", msg)
	case http.StatusNotFound:
		return NewError(TypeInvalidRequest, CodeNotFound, "", msg)
	case http.StatusMethodNotAllowed:
		return NewError(TypeInvalidRequest, CodeMethod, "", msg)
	case http.StatusRequestEntityTooLarge:
		return NewError(TypeInvalidRequest, CodeTooLarge, "", msg)
	case http.StatusTooManyRequests:
		return NewError(TypeRateLimit, CodeRateLimit, "", msg)
	case http.StatusBadGateway:
		return NewError(TypeUpstream, TypeUpstream, "", msg)
	case http.StatusServiceUnavailable:
		return NewError(TypeNoBackend, TypeNoBackend, "", msg)
	case http.StatusGatewayTimeout:
		return NewError(TypeTimeout, TypeTimeout, "", msg)
	}
	return NewError(TypeServer, "", "", msg)
}

// ModelNotFound is the 404 answer for a model no backend serves, worded as OpenAI words it.
func ModelNotFound(model string) Error {
	return NewError(TypeInvalidRequest, CodeModelNotFound, "model",
		"The model `"+model+"` does not exist or you do not have access to it.")
}

// LooksLikeObject reports whether b has the outline of a JSON object: its
// first and last bytes other than white space are '{' and '}'. It reads
// two bytes, not the document: a cheap check that a backend's answer is
// JSON at all (not an HTML page or plain text), where a full validation
// would cost more than the rest of the request.
func LooksLikeObject(b []byte) bool {
	i, j := 0, len(b)-1
	for i <= j && isSpace(b[i]) {
		i++
	}
	for j >= i && isSpace(b[j]) {
		j--
	}
	return i < j && b[i] == '{' && b[j] == '}'
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// IsErrorEnvelope reports whether b is a JSON object with an "error" member
// that is an object: the OpenAI error envelope as OpenAI-compatible servers
// send it.
func IsErrorEnvelope(b []byte) bool {
	found := false
	err := Members(b, func(m Member) bool {
		if m.KeyIs("error") {
			found = m.End > m.Start && b[m.Start] == '{'
			return false
		}
		return true
	})
	return err == nil && found
}
