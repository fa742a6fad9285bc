package openai

import "testing"

func TestWithIncludeUsage(t *testing.T) {
	tests := []struct {
		name, body, want string
		changed          bool
	}{
		{"absent", `{"model":"m","stream":true}`, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, true},
		{"absent, trailing space", "{\"model\":\"m\"}\n", "{\"model\":\"m\",\"stream_options\":{\"include_usage\":true}}\n", true},
		{"null", `{"model":"m","stream_options":null}`, `{"model":"m","stream_options":{"include_usage":true}}`, true},
		{"empty object", `{"stream_options":{ },"model":"m"}`, `{"stream_options":{"include_usage":true},"model":"m"}`, true},
		{"other member", `{"stream_options":{"x":1},"model":"m"}`, `{"stream_options":{"include_usage":true,"x":1},"model":"m"}`, true},
		{"false", `{"model":"m","stream_options":{"include_usage":false}}`, `{"model":"m","stream_options":{"include_usage":true}}`, true},
		{"already", `{"model":"m","stream_options":{"include_usage":true}}`, `{"model":"m","stream_options":{"include_usage":true}}`, false},
		{"not an object", `[1]`, `[1]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := WithIncludeUsage([]byte(tt.body))
			if string(got) != tt.want || changed != tt.changed {
				t.Errorf("got %s %v, want %s %v", got, changed, tt.want, tt.changed)
			}
			if changed {
				f, err := ParseFields(got)
				if err != nil || !f.IncludeUsage {
					t.Errorf("ParseFields of the result: %+v %v", f, err)
				}
			}
		})
	}
}

func TestUsageOnlyChunk(t *testing.T) {
	for _, tt := range []struct {
		data string
		want bool
	}{
		{`{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}`, true},
		{`{"id":"c","choices":[{"delta":{"content":"x"}}],"usage":null}`, false},
		{`{"id":"c","choices":[],"usage":null}`, false},
	} {
		if got := UsageOnlyChunk([]byte(tt.data)); got != tt.want {
			t.Errorf("UsageOnlyChunk(%s): got %v, want %v", tt.data, got, tt.want)
		}
	}
}
