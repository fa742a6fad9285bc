package server

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
)

func TestRouting(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	tests := []struct {
		name, method, path, body string
		want                     int
		wantCode                 string // error code; "" for a success
		wantAllow                string
		forwarded                bool
	}{
		{name: "chat", method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200, forwarded: true},
		{name: "completions", method: "POST", path: "/v1/completions", body: `{"model":"m1","prompt":"x"}`, want: 200, forwarded: true},
		{name: "embeddings", method: "POST", path: "/v1/embeddings", body: `{"model":"m1","input":"x"}`, want: 200, forwarded: true},
		{name: "query string ignored", method: "POST", path: "/v1/chat/completions?api-version=1", body: chat("m1"), want: 200, forwarded: true},
		{name: "stream on embeddings", method: "POST", path: "/v1/embeddings", body: `{"model":"m1","input":"x","stream":true}`, want: 400, wantCode: "unsupported_parameter"},
		{name: "bad JSON", method: "POST", path: "/v1/chat/completions", body: `{"model":`, want: 400, wantCode: "invalid_json"},
		{name: "no model", method: "POST", path: "/v1/chat/completions", body: `{"messages":[]}`, want: 400, wantCode: "missing_required_parameter"},
		{name: "model case variant", method: "POST", path: "/v1/chat/completions", body: `{"model":"m2","MODEL":"m1"}`, want: 400, wantCode: "duplicate_parameter"},
		{name: "GET on chat", method: "GET", path: "/v1/chat/completions", want: 405, wantCode: "method_not_allowed", wantAllow: "POST"},
		{name: "PUT on embeddings", method: "PUT", path: "/v1/embeddings", body: `{"model":"m1"}`, want: 405, wantCode: "method_not_allowed", wantAllow: "POST"},
		{name: "models", method: "GET", path: "/v1/models", want: 200},
		{name: "models HEAD", method: "HEAD", path: "/v1/models", want: 200},
		{name: "one model", method: "GET", path: "/v1/models/m1", want: 200},
		{name: "unknown model", method: "GET", path: "/v1/models/nope", want: 404, wantCode: "model_not_found"},
		{name: "POST on models", method: "POST", path: "/v1/models", body: `{}`, want: 405, wantCode: "method_not_allowed", wantAllow: "GET, HEAD"},
		{name: "health", method: "GET", path: "/health", want: 200},
		{name: "healthz", method: "GET", path: "/healthz", want: 200},
		{name: "ready", method: "GET", path: "/ready", want: 200},
		{name: "DELETE on health", method: "DELETE", path: "/health", want: 405, wantCode: "method_not_allowed", wantAllow: "GET, HEAD"},
		{name: "unknown path", method: "GET", path: "/v2/nothing", want: 404, wantCode: "not_found"},
		{name: "root", method: "POST", path: "/", body: `{}`, want: 404, wantCode: "not_found"},
		{name: "models prefix without id", method: "GET", path: "/v1/models/", want: 404, wantCode: "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.fwd.calls.Load()
			r := one(t, l.exchange(request(tt.method, tt.path, tt.body, false)))
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			if tt.wantCode != "" {
				if e := errorOf(t, r); str(e.Code) != tt.wantCode {
					t.Errorf("got code %s, want %s", str(e.Code), tt.wantCode)
				}
				if strings.Contains(string(r.body), tt.path) && tt.path != "/" {
					t.Errorf("error answer %s repeats the path", r.body)
				}
			}
			if got := r.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("got Allow %q, want %q", got, tt.wantAllow)
			}
			if forwarded := l.fwd.calls.Load() > before; forwarded != tt.forwarded {
				t.Errorf("forwarded: got %v, want %v", forwarded, tt.forwarded)
			}
			if r.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
}

// printableASCII is every printable ASCII character but the space, which
// cannot start or end a header value, followed by a space and a "~".
var printableASCII = func() string {
	var b []byte
	for c := byte('!'); c <= '~'; c++ {
		b = append(b, c)
	}
	return string(b) + " ~"
}()

func TestRequestID(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{MaxBodySize: 64})
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	long := strings.Repeat("r", 128)
	tests := []struct {
		name   string
		id     string // "" sends none
		keep   bool   // the id is propagated
		method string
		path   string
		body   string
		want   int
	}{
		{name: "propagated", id: "req-abc.123_XYZ", keep: true, method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		{name: "128 characters", id: long, keep: true, method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		{name: "129 characters", id: long + "r", method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		{name: "with a space", id: "a b", keep: true, method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		{name: "every printable character", id: printableASCII, keep: true, method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		{name: "with a tab", id: "a\tb", method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		// fasthttp refuses these header values itself; the answer's id is not the client's.
		{name: "with DEL", id: "a\x7fb", method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 400},
		{name: "with a control character", id: "a\x01b", method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 400},
		{name: "not ASCII", id: "r\u00e9q", method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		{name: "none", method: "POST", path: "/v1/chat/completions", body: chat("m1"), want: 200},
		{name: "on a 404", id: "req-404", keep: true, method: "GET", path: "/nowhere", want: 404},
		{name: "on a 405", id: "req-405", keep: true, method: "GET", path: "/v1/embeddings", want: 405},
		{name: "on a 400", id: "req-400", keep: true, method: "POST", path: "/v1/chat/completions", body: `{`, want: 400},
		{name: "on a 413", id: "req-413", keep: true, method: "POST", path: "/v1/chat/completions", body: chat(strings.Repeat("m", 64)), want: 413},
		{name: "generated on a 413", method: "POST", path: "/v1/chat/completions", body: chat(strings.Repeat("m", 64)), want: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.id != "" {
				header = []string{"X-Request-Id", tt.id}
			}
			r := one(t, l.exchange(request(tt.method, tt.path, tt.body, false, header...)))
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			got := r.Header.Get("X-Request-Id")
			if tt.keep && got != tt.id {
				t.Errorf("got X-Request-Id %q, want the client's %q", got, tt.id)
			}
			if !tt.keep && !generated.MatchString(got) {
				t.Errorf("got X-Request-Id %q, want a generated id of 32 hex digits", got)
			}
			rec := l.obs.waitFor(t, got)
			if rec.Status != tt.want {
				t.Errorf("record: got status %d, want %d", rec.Status, tt.want)
			}
			if tt.want == 200 {
				reqs := l.fwd.requests()
				if i := slices.IndexFunc(reqs, func(r exchange.Call) bool { return r.RequestID == got }); i < 0 {
					t.Errorf("the forwarder got no request with id %q", got)
				}
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	l := startListener(t, Options{}, Settings{MaxBodySize: limit})
	// A body of exactly n bytes.
	body := func(n int) string {
		b := chat("m1")
		return b[:len(b)-1] + `,"pad":"` + strings.Repeat("x", n-len(b)-9) + `"}`
	}
	chunked := func(b string) string {
		return "POST /v1/chat/completions HTTP/1.1\r\nHost: router.test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n" +
			"Connection: close\r\n\r\n" + strconv.FormatInt(int64(len(b)), 16) + "\r\n" + b + "\r\n0\r\n\r\n"
	}
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"at the limit", request("POST", "/v1/chat/completions", body(limit), false), 200},
		{"one byte over", request("POST", "/v1/chat/completions", body(limit+1), false, "User-Agent", "limit-test/1"), 413},
		{"far over", request("POST", "/v1/chat/completions", body(64*limit), false), 413},
		{"chunked at the limit", chunked(body(limit)), 200},
		{"chunked over", chunked(body(limit + 1)), 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.fwd.calls.Load()
			r := one(t, l.exchange(tt.raw))
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			if tt.want != 413 {
				return
			}
			e := errorOf(t, r)
			if str(e.Code) != "request_too_large" || !strings.Contains(e.Message, "1024") {
				t.Errorf("got %s, want code request_too_large and the limit in the message", r.body)
			}
			if !r.Close {
				t.Error("413 without Connection: close")
			}
			if l.fwd.calls.Load() != before {
				t.Error("an oversized body reached the forwarder")
			}
			rec := l.obs.waitFor(t, r.Header.Get("X-Request-Id"))
			if rec.Endpoint != "chat_completions" || string(rec.Method) != "POST" || string(rec.Path) != "/v1/chat/completions" {
				t.Errorf("record: got endpoint %q method %q path %q, want chat_completions POST /v1/chat/completions", rec.Endpoint, rec.Method, rec.Path)
			}
		})
	}
}

func TestReadTimeout(t *testing.T) {
	t.Parallel()
	// The server's own read deadline is what is tested; the client waits on
	// its answer, never on a timer of its own.
	l := startListener(t, Options{ReadTimeout: 50 * time.Millisecond}, Settings{})
	tests := []struct {
		name, raw string
	}{
		{"headers unfinished", "POST /v1/chat/completions HTTP/1.1\r\nHost: router.test\r\nAuthorization: Bearer sk-slow-secret\r\n"},
		{"body unfinished", "POST /v1/chat/completions HTTP/1.1\r\nHost: router.test\r\nX-Request-Id: slow-body\r\nContent-Length: 100\r\n\r\n{\"model\":"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := one(t, l.exchange(tt.raw))
			if r.StatusCode != 408 {
				t.Fatalf("got %d %s, want 408", r.StatusCode, r.body)
			}
			if e := errorOf(t, r); str(e.Code) != "request_timeout" {
				t.Errorf("got code %s, want request_timeout", str(e.Code))
			}
			if strings.Contains(string(r.body), "secret") {
				t.Errorf("answer %s repeats the request", r.body)
			}
		})
	}
	if l.fwd.calls.Load() != 0 {
		t.Error("an unfinished request reached the forwarder")
	}
}

func TestPipelinedRequests(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	raw := request("POST", "/v1/chat/completions", chat("m1"), true, "X-Request-Id", "pipe-1") +
		request("POST", "/v1/chat/completions", `{"model":"`+modelStream+`"}`, true, "X-Request-Id", "pipe-2") +
		request("GET", "/health", "", true, "X-Request-Id", "pipe-3") +
		request("POST", "/v1/completions", `{"model":"m2","prompt":"x"}`, false, "X-Request-Id", "pipe-4")
	rs := parseResponses(t, l.exchange(raw))
	if len(rs) != 4 {
		t.Fatalf("got %d answers, want 4", len(rs))
	}
	for i, r := range rs {
		if r.StatusCode != 200 || r.bodyErr != nil {
			t.Errorf("answer %d: got %d (%v) %s, want 200", i+1, r.StatusCode, r.bodyErr, r.body)
		}
		if want := "pipe-" + string(rune('1'+i)); r.Header.Get("X-Request-Id") != want {
			t.Errorf("answer %d: got X-Request-Id %q, want %q (in order)", i+1, r.Header.Get("X-Request-Id"), want)
		}
	}
	if !strings.HasSuffix(string(rs[1].body), "data: [DONE]\n\n") {
		t.Errorf("stream answer %q does not end with data: [DONE]", rs[1].body)
	}
	if !strings.Contains(string(rs[3].body), `"model":"m2"`) {
		t.Errorf("last answer %s is not for the last request", rs[3].body)
	}
}

func TestClientDisconnectCancels(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	for _, name := range []string{"close", "reset"} {
		t.Run(name, func(t *testing.T) {
			c := l.dial()
			id := "gone-" + name
			if _, err := io.WriteString(c, request("POST", "/v1/chat/completions", `{"model":"`+modelWait+`"}`, true, "X-Request-Id", id)); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-l.fwd.started:
				if got != id {
					t.Fatalf("started %q, want %q", got, id)
				}
			case <-time.After(ioTimeout):
				t.Fatal("the request did not reach the forwarder")
			}
			if name == "reset" {
				c.(interface{ SetLinger(int) error }).SetLinger(0)
			}
			c.Close()
			select {
			case cause := <-l.fwd.causes:
				if !errors.Is(cause, errClientGone) {
					t.Errorf("got cause %v, want %v", cause, errClientGone)
				}
			case <-time.After(ioTimeout):
				t.Fatal("the request was not cancelled when its client went away")
			}
		})
	}
}

// TestAdmissionRefusals: a refusal from an admission stage is answered
// with its status, envelope and header fields, and recorded with its kind,
// before the body is read (Admit) or after (Authorize).
func TestAdmissionRefusals(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{}, func(d *Deps) {
		d.Admit = func(_ context.Context, c *exchange.Call) error {
			switch string(c.Credential) {
			case "sk-read":
				c.Caller.KeyID = "reader"
				if c.API != exchange.Models {
					return &exchange.Refusal{Status: 403, Type: "permission_error", Code: "missing_scope", Message: "lacks write", Kind: "missing_scope"}
				}
				return nil
			case "sk-ok":
				c.Caller.KeyID = "ok"
				c.ResponseHeader = append(c.ResponseHeader, exchange.Field{Name: "x-ratelimit-limit-requests", Value: "10"})
				return nil
			}
			return &exchange.Refusal{Status: 401, Type: "authentication_error", Code: "invalid_api_key", Message: "invalid API key",
				Kind: "auth_invalid", Header: []exchange.Field{{Name: "WWW-Authenticate", Value: `Bearer realm="continuum"`}}}
		}
		d.Authorize = func(_ context.Context, c *exchange.Call) error {
			if c.Fields.Model != "m1" {
				return &exchange.Refusal{Status: 403, Type: "permission_error", Code: "model_not_allowed", Param: "model", Message: "no", Kind: "model_forbidden"}
			}
			return nil
		}
	})
	tests := []struct {
		name, key, method, path, body string
		want                          int
		wantKind, wantHeader          string
	}{
		{"read key on chat", "sk-read", "POST", "/v1/chat/completions", chat("m1"), 403, "missing_scope", ""},
		{"read key lists models", "sk-read", "GET", "/v1/models", "", 200, "", ""},
		{"unknown key", "sk-wrong", "POST", "/v1/chat/completions", chat("m1"), 401, "auth_invalid", "WWW-Authenticate"},
		{"model refused after decoding", "sk-ok", "POST", "/v1/chat/completions", chat("m2"), 403, "model_forbidden", "x-ratelimit-limit-requests"},
		{"admitted", "sk-ok", "POST", "/v1/chat/completions", chat("m1"), 200, "", "x-ratelimit-limit-requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := one(t, l.exchange(request(tt.method, tt.path, tt.body, false, "Authorization", "Bearer "+tt.key)))
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			if tt.want == 403 {
				if e := errorOf(t, r); str(e.Code) != tt.wantKind && str(e.Code) != "model_not_allowed" || e.Type != "permission_error" {
					t.Errorf("got %s, want a permission_error", r.body)
				}
			}
			if tt.wantHeader != "" && r.Header.Get(tt.wantHeader) == "" {
				t.Errorf("answer lacks %s", tt.wantHeader)
			}
			if rec := l.obs.waitFor(t, r.Header.Get("X-Request-Id")); rec.ErrorKind != tt.wantKind {
				t.Errorf("record: got error kind %q, want %q", rec.ErrorKind, tt.wantKind)
			}
		})
	}
}

func TestRecordDescribesRequest(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	tests := []struct {
		name, method, path, body, ua string
		wantEndpoint, wantPath       string
		want                         int
	}{
		{"proxied", "POST", "/v1/chat/completions?x=sk-query-secret", chat("m1"), "app/1.0", "chat_completions", "/v1/chat/completions", 200},
		{"stream", "POST", "/v1/completions", `{"model":"` + modelStream + `"}`, "streamer/2", "completions", "/v1/completions", 200},
		{"models", "GET", "/v1/models", "", "lister", "models", "/v1/models", 200},
		{"unknown path", "GET", "/v1/assistants?key=sk-query-secret", "", "curl/8", EndpointUnknown, "/v1/assistants", 404},
		{"unknown path, long", "GET", "/" + strings.Repeat("p", 2000), "", "curl/8", EndpointUnknown, "/" + strings.Repeat("p", maxRecorded-1), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := one(t, l.exchange(request(tt.method, tt.path, tt.body, false, "User-Agent", tt.ua)))
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			rec := l.obs.waitFor(t, r.Header.Get("X-Request-Id"))
			if rec.Endpoint != tt.wantEndpoint || rec.Status != tt.want {
				t.Errorf("got endpoint %q status %d, want %q %d", rec.Endpoint, rec.Status, tt.wantEndpoint, tt.want)
			}
			if string(rec.Method) != tt.method || string(rec.Path) != tt.wantPath || string(rec.UserAgent) != tt.ua {
				t.Errorf("got method %q path %q user agent %q, want %q %q %q", rec.Method, rec.Path, rec.UserAgent, tt.method, tt.wantPath, tt.ua)
			}
			if rec.ClientIP != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("got client IP %v, want 127.0.0.1", rec.ClientIP)
			}
		})
	}
}

func TestSilentConnectionIsNotReported(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{ReadTimeout: 20 * time.Millisecond}, Settings{})
	c := l.dial()
	got, err := io.ReadAll(c) // the listener's read deadline ends the wait
	if err != nil {
		t.Fatal(err)
	}
	if r := one(t, got); r.StatusCode != 408 {
		t.Errorf("got %d, want 408", r.StatusCode)
	}
	// A request on another connection, reported after the silent one.
	if r := one(t, l.exchange(request("GET", "/nowhere", "", false, "X-Request-Id", "after-silence"))); r.StatusCode != 404 {
		t.Fatalf("got %d, want 404", r.StatusCode)
	}
	l.obs.waitFor(t, "after-silence")
	for _, rec := range l.obs.all() {
		if rec.Status == 408 {
			t.Errorf("a connection that sent nothing was reported as a request: %+v", rec)
		}
	}
}

// TestSaneRequestID checks the rule for a client's X-Request-Id on values
// the HTTP parser would refuse before the rule is applied.
func TestSaneRequestID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"a", true},
		{"a b", true},
		{printableASCII, true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"", false},
		{"a\tb", false},
		{"a\x00b", false},
		{"a\x1fb", false},
		{"a\x7fb", false},
		{"a\rb", false},
		{"a\nb", false},
		{"r\u00e9q", false},
	}
	for _, tt := range tests {
		if got := saneRequestID([]byte(tt.id)); got != tt.want {
			t.Errorf("saneRequestID(%q) = %v, want %v", tt.id, got, tt.want)
		}
		if got := ValidRequestID(tt.id); got != tt.want {
			t.Errorf("ValidRequestID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
