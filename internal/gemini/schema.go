package gemini

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Schema converts a JSON Schema (an OpenAI tool's parameters, a
// response_format's json_schema) to the subset of OpenAPI 3.0 that
// Gemini's functionDeclarations[].parameters and
// generationConfig.responseSchema accept. Gemini answers 400 to the JSON
// Schema keywords outside it ("Unknown name additionalProperties", "$schema",
// a list as "type"), which every strict OpenAI tool and most MCP tools
// carry. So:
//
//   - a type list becomes one type with nullable: true when it names
//     "null" (["string","null"]), or anyOf when it names several types;
//   - "$ref" to "#/$defs/…" or "#/definitions/…" is inlined (to a depth of
//     16; deeper or cyclic references become a bare object);
//   - oneOf becomes anyOf, a one-element allOf is merged, const becomes a
//     one-value enum;
//   - keywords Gemini does not know are dropped (additionalProperties,
//     $schema, $id, strict, patternProperties, …), as are empty
//     "properties" maps, which Gemini refuses for OBJECT.
//
// It returns nil for a schema that is empty once converted (an object
// with no properties: Gemini wants the parameters left out then), and the
// input unchanged when it is not a JSON object.
func Schema(raw json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var root map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&root) != nil || root == nil {
		return raw
	}
	c := converter{defs: map[string]any{}}
	for _, k := range []string{"$defs", "definitions"} {
		if m, ok := root[k].(map[string]any); ok {
			for name, def := range m {
				c.defs["#/"+k+"/"+name] = def
			}
		}
	}
	out := c.convert(root, 0)
	if len(out) == 0 || (len(out) == 1 && out["type"] == "object") {
		return nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return raw
	}
	return b
}

// maxRefDepth bounds the inlining of references.
const maxRefDepth = 16

type converter struct {
	defs map[string]any
}

// schemaKeys are the keywords Gemini's Schema takes, other than those
// converted one by one below.
var schemaKeys = map[string]bool{
	"format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "required": true, "minProperties": true,
	"maxProperties": true, "minLength": true, "maxLength": true, "pattern": true,
	"example": true, "propertyOrdering": true, "default": true, "minimum": true, "maximum": true,
}

func (c *converter) convert(s map[string]any, depth int) map[string]any {
	out := map[string]any{}
	if ref, ok := s["$ref"].(string); ok {
		if def, ok := c.defs[ref].(map[string]any); ok && depth < maxRefDepth {
			out = c.convert(def, depth+1)
		} else {
			out["type"] = "object"
		}
	}
	if all, ok := s["allOf"].([]any); ok && len(all) == 1 {
		if m, ok := all[0].(map[string]any); ok {
			for k, v := range c.convert(m, depth+1) {
				out[k] = v
			}
		}
	}
	for k, v := range s {
		switch {
		case k == "type":
			c.typ(out, v)
		case k == "properties":
			if props, ok := v.(map[string]any); ok && len(props) > 0 {
				conv := make(map[string]any, len(props))
				for name, p := range props {
					if m, ok := p.(map[string]any); ok {
						conv[name] = c.convert(m, depth+1)
					}
				}
				out["properties"] = conv
			}
		case k == "items":
			if m, ok := v.(map[string]any); ok {
				out["items"] = c.convert(m, depth+1)
			}
		case k == "anyOf" || k == "oneOf":
			if list, ok := v.([]any); ok {
				var conv []any
				for _, p := range list {
					if m, ok := p.(map[string]any); ok {
						if isNull(m) {
							out["nullable"] = true
							continue
						}
						conv = append(conv, c.convert(m, depth+1))
					}
				}
				switch len(conv) {
				case 0:
				case 1:
					for ck, cv := range conv[0].(map[string]any) {
						if _, set := out[ck]; !set {
							out[ck] = cv
						}
					}
				default:
					out["anyOf"] = conv
				}
			}
		case k == "const":
			out["enum"] = []any{v}
		case schemaKeys[k]:
			out[k] = v
		}
	}
	if req, ok := out["required"].([]any); ok {
		props, _ := out["properties"].(map[string]any)
		kept := req[:0:0]
		for _, r := range req {
			if name, ok := r.(string); ok && props[name] != nil {
				kept = append(kept, name)
			}
		}
		if len(kept) == 0 {
			delete(out, "required")
		} else {
			out["required"] = kept
		}
	}
	return out
}

// typ sets out's type from a JSON Schema type: a string, or a list.
func (c *converter) typ(out map[string]any, v any) {
	switch t := v.(type) {
	case string:
		if t == "null" {
			out["nullable"] = true
			return
		}
		out["type"] = t
	case []any:
		var types []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				if s == "null" {
					out["nullable"] = true
				} else {
					types = append(types, s)
				}
			}
		}
		switch len(types) {
		case 0:
		case 1:
			out["type"] = types[0]
		default:
			alts := make([]any, len(types))
			for i, s := range types {
				alts[i] = map[string]any{"type": s}
			}
			out["anyOf"] = alts
		}
	}
}

// isNull reports whether a schema only allows null: {"type":"null"}.
func isNull(m map[string]any) bool {
	t, ok := m["type"].(string)
	return ok && strings.EqualFold(t, "null") && len(m) == 1
}
