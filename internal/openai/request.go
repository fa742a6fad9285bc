// Package openai holds the OpenAI wire format as Continuum needs it: the
// routing fields of a request (found without decoding the whole body), the
// error envelope, SSE event reading, and the few response fields the router
// inspects (content presence, usage).
package openai

import (
	"bytes"
	"fmt"
)

// Endpoint is one of the proxied OpenAI endpoints.
type Endpoint int

// Proxied endpoints.
const (
	ChatCompletions Endpoint = iota
	Completions
	Embeddings
	numEndpoints
)

// Endpoints lists every proxied endpoint.
var Endpoints = []Endpoint{ChatCompletions, Completions, Embeddings}

// Path returns the endpoint's path below /v1, e.g. "/chat/completions".
func (e Endpoint) Path() string {
	switch e {
	case ChatCompletions:
		return "/chat/completions"
	case Completions:
		return "/completions"
	case Embeddings:
		return "/embeddings"
	}
	return ""
}

// String returns the endpoint's metric label, e.g. "chat_completions".
func (e Endpoint) String() string {
	switch e {
	case ChatCompletions:
		return "chat_completions"
	case Completions:
		return "completions"
	case Embeddings:
		return "embeddings"
	}
	return "unknown"
}

// Streams reports whether the endpoint can answer with server-sent events.
func (e Endpoint) Streams() bool { return e == ChatCompletions || e == Completions }

// Fields are the request fields the router routes on. They are read from the
// raw body without decoding the rest of it.
type Fields struct {
	// Model is the requested model (unescaped).
	Model string
	// Stream is the "stream" flag.
	Stream bool
	// IncludeUsage is stream_options.include_usage.
	IncludeUsage bool
	// User is the "user" field, used as the consistent-hash key.
	User string
	// modelStart and modelEnd delimit the model value token (with its quotes)
	// in the body, for RewriteModel.
	modelStart, modelEnd int
}

// RequestError is a client error found while reading a request: it maps to a
// 400 invalid_request_error, naming the offending parameter when known.
type RequestError struct {
	Param string // offending parameter, "" when the body itself is malformed
	Code  string // machine-readable code, e.g. "invalid_json"
	Msg   string
}

func (e *RequestError) Error() string { return e.Msg }

// routingKeys are the top-level members the router reads, in the order of
// the key* indexes below.
var routingKeys = [...]string{"model", "stream", "user", "stream_options"}

const (
	keyModel = iota
	keyStream
	keyUser
	keyStreamOptions
)

// usageKeys is the member of stream_options the router reads.
var usageKeys = [...]string{"include_usage"}

// ParseFields validates body as a JSON object and extracts the routing fields.
// It returns a *RequestError for malformed JSON, a missing or non-string
// model, wrongly typed stream fields, or an ambiguous routing field.
//
// A routing field is ambiguous when the object holds it twice, or holds a
// key that differs from it only in letter case ("MODEL", "Stream", "ſtream"):
// backends disagree on which one counts (Go's encoding/json matches keys
// case-insensitively and keeps the last; others match exactly), so the
// router could check and log one model while the backend serves another.
// Such bodies get code duplicate_parameter. The same holds for
// stream_options.include_usage within stream_options.
func ParseFields(body []byte) (Fields, error) {
	var f Fields
	var ferr error
	var seen [len(routingKeys)]bool
	err := Members(body, func(m Member) bool {
		i, exact := m.MatchKey(routingKeys[:])
		if i < 0 {
			return true
		}
		if !exact || seen[i] {
			ferr = duplicate(routingKeys[i])
			return false
		}
		seen[i] = true
		v := body[m.Start:m.End]
		switch i {
		case keyModel:
			if len(v) == 0 || v[0] != '"' {
				ferr = &RequestError{Param: "model", Code: "invalid_type", Msg: "'model' must be a string"}
				return false
			}
			s, err := unquote(v, bytes.IndexByte(v, '\\') >= 0)
			if err != nil {
				ferr = &RequestError{Param: "model", Code: "invalid_type", Msg: "'model' must be a valid string"}
				return false
			}
			f.Model, f.modelStart, f.modelEnd = s, m.Start, m.End
		case keyStream:
			b, err := parseBool(v)
			if err != nil {
				ferr = &RequestError{Param: "stream", Code: "invalid_type", Msg: "'stream' must be a boolean"}
				return false
			}
			f.Stream = b
		case keyUser:
			if len(v) > 0 && v[0] == '"' {
				if s, err := unquote(v, bytes.IndexByte(v, '\\') >= 0); err == nil {
					f.User = s
				}
			}
		case keyStreamOptions:
			if len(v) > 0 && v[0] == '{' {
				seenUsage := false
				_ = Members(v, func(o Member) bool {
					j, exact := o.MatchKey(usageKeys[:])
					if j < 0 {
						return true
					}
					if !exact || seenUsage {
						ferr = duplicate("stream_options.include_usage")
						return false
					}
					seenUsage = true
					f.IncludeUsage, _ = parseBool(v[o.Start:o.End])
					return true
				})
				if ferr != nil {
					return false
				}
			}
		}
		return true
	})
	if ferr != nil {
		return Fields{}, ferr
	}
	if err != nil {
		return Fields{}, &RequestError{Code: "invalid_json", Msg: fmt.Sprintf("We could not parse the JSON body of your request: %v", err)}
	}
	if !seen[keyModel] || f.Model == "" {
		return Fields{}, &RequestError{Param: "model", Code: "missing_required_parameter", Msg: "you must provide a model parameter"}
	}
	return f, nil
}

// CodeDuplicateParameter is the error code of a body that holds a routing
// field twice, or also under a name differing only in letter case.
const CodeDuplicateParameter = "duplicate_parameter"

func duplicate(param string) *RequestError {
	return &RequestError{Param: param, Code: CodeDuplicateParameter,
		Msg: "'" + param + "' is given more than once (parameter names that differ only in letter case count as the same parameter)"}
}

// RewriteModel returns body with the model value replaced by model. The
// result is a new slice; body is not modified. If the model already equals
// model, body itself is returned.
func (f Fields) RewriteModel(body []byte, model string) []byte {
	if model == f.Model || f.modelEnd == 0 {
		return body
	}
	q := quote(model)
	out := make([]byte, 0, len(body)-(f.modelEnd-f.modelStart)+len(q))
	out = append(out, body[:f.modelStart]...)
	out = append(out, q...)
	return append(out, body[f.modelEnd:]...)
}

// includeUsage is the stream_options member that asks for usage.
var includeUsage = []string{"include_usage"}

// WithIncludeUsage returns a copy of a streaming request body that asks for
// the usage chunk (stream_options.include_usage: true), for a router that
// must count a stream's tokens when its client did not ask for them. The
// other members are kept as they are. It returns body itself and false when
// body already asks for usage or is not a valid JSON object.
func WithIncludeUsage(body []byte) ([]byte, bool) {
	optStart, optEnd := -1, -1
	if err := Members(body, func(m Member) bool {
		if i, _ := m.MatchKey(routingKeys[keyStreamOptions : keyStreamOptions+1]); i == 0 {
			optStart, optEnd = m.Start, m.End
		}
		return true
	}); err != nil {
		return body, false
	}
	splice := func(start, end int, insert string) []byte {
		out := make([]byte, 0, len(body)-(end-start)+len(insert))
		out = append(append(out, body[:start]...), insert...)
		return append(out, body[end:]...)
	}
	if optStart < 0 {
		end := bytes.LastIndexByte(body, '}')
		sep := ","
		if len(bytes.TrimSpace(body[:end])) == 1 { // "{"
			sep = ""
		}
		return splice(end, end, sep+`"stream_options":{"include_usage":true}`), true
	}
	opts := body[optStart:optEnd]
	if len(opts) == 0 || opts[0] != '{' {
		return splice(optStart, optEnd, `{"include_usage":true}`), true
	}
	valStart, valEnd, empty := -1, -1, true
	_ = Members(opts, func(m Member) bool {
		empty = false
		if i, _ := m.MatchKey(includeUsage); i == 0 {
			valStart, valEnd = optStart+m.Start, optStart+m.End
		}
		return true
	})
	switch {
	case valStart >= 0 && string(body[valStart:valEnd]) == "true":
		return body, false
	case valStart >= 0:
		return splice(valStart, valEnd, "true"), true
	case empty:
		return splice(optStart, optEnd, `{"include_usage":true}`), true
	}
	return splice(optStart+1, optStart+1, `"include_usage":true,`), true
}

// usageOnly marks the chunk that include_usage adds after the last choice:
// its choices are empty and its usage is set.
var usageOnly = []byte(`"choices":[]`)

// UsageOnlyChunk reports whether a stream chunk is the usage chunk that
// stream_options.include_usage adds: no choices, a usage object.
func UsageOnlyChunk(data []byte) bool {
	if !bytes.Contains(data, usageOnly) {
		return false
	}
	_, ok := ParseUsage(data)
	return ok
}
