package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
)

// testRenderError stands in for the application's renderer of Anthropic
// errors: {"type":"error","error":{"type","message"}}.
func testRenderError(_ exchange.API, status int, e openai.Error, _ string) (int, []byte) {
	b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]string{"type": "status_" + strconv.Itoa(status), "message": e.Message}})
	return status, b
}

// TestAnthropicPathRefusals checks that every answer the listener makes on
// the Anthropic API's paths, the refusals of requests it could not read
// included (413, broken framing, a panic), is in Anthropic's envelope and
// carries request-id, the same id as X-Request-Id; other paths keep the
// OpenAI envelope.
func TestAnthropicPathRefusals(t *testing.T) {
	t.Parallel()
	const limit = 256
	l := startListener(t, Options{}, Settings{MaxBodySize: limit}, func(d *Deps) { d.RenderError = testRenderError })
	big := `{"model":"m1","pad":"` + strings.Repeat("x", 2*limit) + `"}`
	chunked := func(path, body string, header ...string) string {
		var b strings.Builder
		b.WriteString("POST " + path + " HTTP/1.1\r\nHost: router.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n")
		for i := 0; i+1 < len(header); i += 2 {
			b.WriteString(header[i] + ": " + header[i+1] + "\r\n")
		}
		b.WriteString("\r\n" + strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n")
		return b.String()
	}
	ambiguous := func(path string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: router.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	}
	for _, path := range []string{"/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions"} {
		anthropic := strings.HasPrefix(path, "/v1/messages")
		tests := []struct {
			name  string
			raw   string
			want  int
			id    string // the X-Request-Id sent, "" for none
			close bool
		}{
			{"413", request("POST", path, big, false, "X-Request-Id", "id-413"), 413, "id-413", true},
			{"413 generated id", request("POST", path, big, false), 413, "", true},
			{"413 chunked", chunked(path, big, "X-Request-Id", "id-413c"), 413, "id-413c", true},
			{"ambiguous framing", ambiguous(path), 400, "", true},
			{"405", request("GET", path, "", false, "X-Request-Id", "id-405"), 405, "id-405", false},
			{"400", request("POST", path, `{`, false), 400, "", false},
			{"500", request("POST", path, chat(modelPanic), false), 500, "", true},
		}
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				r := one(t, l.exchange(tt.raw))
				if r.StatusCode != tt.want {
					t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
				}
				id := r.Header.Get("X-Request-Id")
				if id == "" || (tt.id != "" && id != tt.id) {
					t.Errorf("got X-Request-Id %q, want %q (or a generated one)", id, tt.id)
				}
				if tt.close && !r.Close {
					t.Error("the connection is not closed")
				}
				if !anthropic {
					errorOf(t, r)
					if got := r.Header.Get("request-id"); got != "" {
						t.Errorf("got request-id %q on an OpenAI path, want none", got)
					}
					return
				}
				if got := r.Header.Get("request-id"); got != id {
					t.Errorf("got request-id %q, want the X-Request-Id %q", got, id)
				}
				var body struct {
					Type  string
					Error struct{ Type, Message string }
				}
				if err := json.Unmarshal(r.body, &body); err != nil || body.Type != "error" || body.Error.Type != "status_"+strconv.Itoa(tt.want) || body.Error.Message == "" {
					t.Errorf("body %s is not the Anthropic envelope (%v)", r.body, err)
				}
				if ct := r.Header.Get("Content-Type"); ct != "application/json" {
					t.Errorf("got Content-Type %q, want application/json", ct)
				}
			})
		}
	}
}
