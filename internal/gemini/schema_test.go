package gemini

import (
	"encoding/json"
	"testing"
)

func TestSchema(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"strict OpenAI tool",
			`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"a":{"type":["string","null"],"description":"A"}},"required":["a"],"additionalProperties":false}`,
			`{"properties":{"a":{"description":"A","nullable":true,"type":"string"}},"required":["a"],"type":"object"}`},
		{"refs to $defs are inlined",
			`{"type":"object","properties":{"p":{"$ref":"#/$defs/P"}},"$defs":{"P":{"type":"object","properties":{"x":{"type":"integer"}},"additionalProperties":false}}}`,
			`{"properties":{"p":{"properties":{"x":{"type":"integer"}},"type":"object"}},"type":"object"}`},
		{"a cyclic ref stops",
			`{"type":"object","properties":{"n":{"$ref":"#/definitions/N"}},"definitions":{"N":{"type":"object","properties":{"next":{"$ref":"#/definitions/N"}}}}}`,
			""}, // checked below: it terminates and is valid JSON
		{"anyOf with null, oneOf, const, several types",
			`{"type":"object","properties":{"u":{"anyOf":[{"type":"string"},{"type":"null"}]},"o":{"oneOf":[{"type":"string"},{"type":"integer"}]},"c":{"const":"x"},"m":{"type":["string","integer"]}}}`,
			`{"properties":{"c":{"enum":["x"]},"m":{"anyOf":[{"type":"string"},{"type":"integer"}]},"o":{"anyOf":[{"type":"string"},{"type":"integer"}]},"u":{"nullable":true,"type":"string"}},"type":"object"}`},
		{"required names without a property are dropped",
			`{"type":"object","properties":{"a":{"type":"string"}},"required":["a","ghost"]}`,
			`{"properties":{"a":{"type":"string"}},"required":["a"],"type":"object"}`},
		{"items and numbers kept exactly",
			`{"type":"object","properties":{"l":{"type":"array","items":{"type":"number","minimum":0.1,"maximum":12345678901234567890},"maxItems":3}}}`,
			`{"properties":{"l":{"items":{"maximum":12345678901234567890,"minimum":0.1,"type":"number"},"maxItems":3,"type":"array"}},"type":"object"}`},
		{"no parameters", `{"type":"object","properties":{},"additionalProperties":false}`, "null"},
		{"empty", ``, "null"},
		{"not an object", `"x"`, `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Schema(json.RawMessage(tt.in))
			if tt.want == "" {
				if !json.Valid(got) {
					t.Fatalf("invalid JSON %s", got)
				}
				return
			}
			if tt.want == "null" {
				if got != nil {
					t.Fatalf("got %s, want nil (parameters left out)", got)
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
