package gemini

import "testing"

func TestParseError(t *testing.T) {
	tests := []struct {
		body   string
		ok     bool
		status string
	}{
		{`{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}`, true, StatusInvalidArgument},
		{`[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]`, true, StatusResourceExhausted},
		{`[]`, false, ""},
		{`not json`, false, ""},
		{`{"error":{}}`, false, ""},
	}
	for _, tt := range tests {
		d, ok := ParseError([]byte(tt.body))
		if ok != tt.ok || d.Status != tt.status {
			t.Errorf("%s: got %+v %v, want %v %q", tt.body, d, ok, tt.ok, tt.status)
		}
	}
}

func TestStatusNames(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 429, 503, 504} {
		if got := HTTPStatus(StatusName(code)); got != code {
			t.Errorf("%d: round trip gives %d", code, got)
		}
	}
	if StatusName(500) != StatusInternal || HTTPStatus("NOPE") != 0 {
		t.Errorf("500 or unknown names mapped wrongly")
	}
	if got := string(NewErrorBody(503, "busy")); got != `{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}` {
		t.Errorf("got %s", got)
	}
}
