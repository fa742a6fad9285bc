package anthropic

import (
	"encoding/json"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	doc := `{"model":"claude-x","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"text","text":""},{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"ok"}],"is_error":true},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}],"system":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}},{"type":"text","text":"b"}],"max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":3},{"name":"f","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":1024},"context_management":{"edits":[]}}`
	var r Request
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.System.Joined("\n"); got != "a\nb" {
		t.Errorf("system: got %q", got)
	}
	if !r.Tools[0].IsServerTool() || r.Tools[1].IsServerTool() || string(r.Tools[0].Extra["max_uses"]) != "3" {
		t.Errorf("tools: got %+v", r.Tools)
	}
	if string(r.Extra["context_management"]) != `{"edits":[]}` {
		t.Errorf("extra: got %v", r.Extra)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	_ = json.Unmarshal([]byte(doc), &x)
	_ = json.Unmarshal(b, &y)
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	if string(xb) != string(yb) {
		t.Errorf("round trip: got\n%s\nwant\n%s", yb, xb)
	}
	if err := json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":1}]}`), &r); err == nil {
		t.Errorf("numeric content: got no error")
	}
}

func TestErrorTypeForStatus(t *testing.T) {
	for status, want := range map[int]string{400: ErrInvalidRequest, 401: ErrAuthentication, 402: ErrBilling, 403: ErrPermission, 404: ErrNotFound,
		413: ErrTooLarge, 422: ErrInvalidRequest, 429: ErrRateLimit, 500: ErrAPI, 502: ErrAPI, 503: ErrOverloaded, 504: ErrTimeout, 529: ErrOverloaded} {
		if got := ErrorTypeForStatus(status); got != want {
			t.Errorf("%d: got %q, want %q", status, got, want)
		}
	}
	if got := string(NewErrorBody(ErrOverloaded, "Overloaded", "req_1")); got != `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}` {
		t.Errorf("got %s", got)
	}
}
