package translate

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// dataURL is a parsed data: URL.
type dataURL struct {
	MediaType string
	Data      string // base64
}

// parseDataURL parses "data:<media type>[;params];base64,<data>". It reports
// false for anything else, including data URLs that are not base64.
func parseDataURL(s string) (dataURL, bool) {
	rest, ok := strings.CutPrefix(s, "data:")
	if !ok {
		return dataURL{}, false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return dataURL{}, false
	}
	params := strings.Split(meta, ";")
	if len(params) < 2 || params[len(params)-1] != "base64" {
		return dataURL{}, false
	}
	return dataURL{MediaType: strings.ToLower(strings.TrimSpace(params[0])), Data: data}, true
}

// makeDataURL returns "data:<media type>;base64,<data>".
func makeDataURL(mediaType, data string) string {
	return "data:" + mediaType + ";base64," + data
}

// isHTTPURL reports whether s is an http or https URL.
func isHTTPURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// compactJSON returns raw compacted, or raw itself when it is not valid JSON.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// isJSONObject reports whether raw is a JSON object.
func isJSONObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return false
	}
	return json.Valid(raw)
}

// sanitizeToolID maps a tool call id to Anthropic's pattern [A-Za-z0-9_-]+,
// replacing every other byte with '_'.
func sanitizeToolID(id string) string {
	ok := true
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			ok = false
			break
		}
	}
	if ok {
		return id
	}
	b := []byte(id)
	for i, c := range b {
		if !idByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// emptyObjectSchema is the input schema of a tool that declares none.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// jsonObjectSchema is the schema json_object mode is translated with.
var jsonObjectSchema = json.RawMessage(`{"type":"object","additionalProperties":true}`)

// jsonToolName is the tool that carries json_schema output for models
// without structured outputs.
const jsonToolName = "json_tool_call"

// effortBudget returns the Anthropic thinking budget of a reasoning effort
// (spec §1a: Gemini's documented buckets).
func effortBudget(effort string) int {
	switch effort {
	case "minimal", "low":
		return 1024
	case "medium":
		return 8192
	}
	return 24576
}

// budgetEffort returns the reasoning effort of an Anthropic thinking budget.
func budgetEffort(budget int) string {
	switch {
	case budget <= 1024:
		return "low"
	case budget <= 8192:
		return "medium"
	}
	return "high"
}

// anthropicEffort maps an OpenAI reasoning effort to output_config.effort.
func anthropicEffort(effort string) string {
	switch effort {
	case "minimal", "low":
		return "low"
	case "medium":
		return "medium"
	case "xhigh", "max":
		return "max"
	}
	return "high"
}

// openAIEffort maps output_config.effort to an OpenAI reasoning effort.
func openAIEffort(effort string) string {
	switch effort {
	case "max", "xhigh":
		return "high"
	}
	return effort
}

// ptrStr returns a pointer to s.
func ptrStr(s string) *string { return &s }

// asType is errors.As with a pointer target.
func asType[T error](err error, target *T) bool { return errors.As(err, target) }
