package openai

import "testing"

func TestLooksLikeObjectAndErrorEnvelope(t *testing.T) {
	tests := []struct {
		body           string
		object, envelo bool
	}{
		{`{"id":"x"}`, true, false},
		{" \n{\"error\":{\"message\":\"m\"}}\r\n", true, true},
		{`{"error":"plain string"}`, true, false},
		{`{"detail":"x","error":{"message":"m"}}`, true, true},
		{`<html>login</html>`, false, false},
		{`this is not json`, false, false},
		{``, false, false},
		{`{`, false, false},
		{`[{"error":{}}]`, false, false},
		{`{"id":"cut`, false, false},
	}
	for _, tt := range tests {
		if got := LooksLikeObject([]byte(tt.body)); got != tt.object {
			t.Errorf("LooksLikeObject(%q) = %v, want %v", tt.body, got, tt.object)
		}
		if got := IsErrorEnvelope([]byte(tt.body)); got != tt.envelo {
			t.Errorf("IsErrorEnvelope(%q) = %v, want %v", tt.body, got, tt.envelo)
		}
	}
}
