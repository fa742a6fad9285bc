package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// unreadableSecret is the credential the malformed requests carry.
const unreadableSecret = "sk-unreadable-secret-9f3e"

// malformedRequest is a request the listener cannot read, with credentials.
type malformedRequest struct {
	name     string
	raw      string
	want     int
	wantCode string
}

// malformedRequests are requests the listener cannot read or will not
// serve, each carrying unreadableSecret in a credential header.
func malformedRequests() []malformedRequest {
	auth := "Authorization: Bearer " + unreadableSecret + "\r\n"
	head := "POST /v1/chat/completions HTTP/1.1\r\nHost: router.test\r\n"
	return []malformedRequest{
		{"one 17 KB header line", head + auth + "X-Big: " + strings.Repeat("a", 17<<10) + "\r\nContent-Length: 2\r\n\r\n{}", 431, CodeHeadersTooLarge},
		{"header block over 16 KB", head + auth + strings.Repeat("X-Filler: "+strings.Repeat("b", 100)+"\r\n", 170) + "Content-Length: 2\r\n\r\n{}", 431, CodeHeadersTooLarge},
		{"control character in the credential", head + "Authorization: Bearer " + unreadableSecret + "\x01\r\nContent-Length: 2\r\n\r\n{}", 400, CodeMalformed},
		{"X-Api-Key beside a bad header name", head + "X-Api-Key: " + unreadableSecret + "\r\nBad Name: x\r\nContent-Length: 2\r\n\r\n{}", 400, CodeMalformed},
		{"Api-Key with Content-Length twice", head + "Api-Key: " + unreadableSecret + "\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, CodeAmbiguousFraming},
		{"unsupported transfer coding", head + auth + "Transfer-Encoding: br\r\n\r\n{}", 501, CodeTransferEncoding},
		{"broken chunked body", head + auth + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400, CodeMalformed},
		{"no Host", "POST /v1/chat/completions HTTP/1.1\r\n" + auth + "Content-Length: 2\r\n\r\n{}", 400, CodeMalformed},
		{"bad protocol", "POST /v1/chat/completions?key=" + unreadableSecret + " HTTP/1.1 x\r\nHost: a\r\n" + auth + "\r\n", 400, CodeMalformed},
		{"obsolete line folding", head + "Authorization: Bearer\r\n " + unreadableSecret + "\r\nContent-Length: 2\r\n\r\n{}", 400, CodeMalformed},
		{"NUL in the request line", "POST /v1/chat\x00/completions HTTP/1.1\r\nHost: a\r\n" + auth + "\r\n", 400, CodeMalformed},
	}
}

func TestUnreadableRequestsAreNotEchoed(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	for _, tt := range malformedRequests() {
		t.Run(tt.name, func(t *testing.T) {
			got := l.exchange(tt.raw)
			r := one(t, got)
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			if e := errorOf(t, r); str(e.Code) != tt.wantCode || e.Type != "invalid_request_error" {
				t.Errorf("got type %s code %s, want invalid_request_error %s", e.Type, str(e.Code), tt.wantCode)
			}
			if !r.Close {
				t.Error("answer without Connection: close")
			}
			for _, leak := range []string{unreadableSecret, "Bearer", "Authorization", "Api-Key", "aaaaaaaa", "bbbbbbbb", "X-Filler", "Bad Name"} {
				if bytes.Contains(got, []byte(leak)) {
					t.Errorf("the answer repeats request bytes %q:\n%s", leak, got)
				}
			}
			if id := r.Header.Get("X-Request-Id"); id == "" {
				t.Error("no X-Request-Id")
			} else if rec := l.obs.waitFor(t, id); rec.Status != tt.want {
				t.Errorf("record: got status %d, want %d", rec.Status, tt.want)
			}
		})
	}
	if n := l.fwd.calls.Load(); n != 0 {
		t.Errorf("the forwarder got %d requests, want none", n)
	}
	// Each answer was read to the end of its connection, which fasthttp
	// closes after logging: every log line is written by now.
	if logs := l.logs.String(); strings.Contains(logs, unreadableSecret) || strings.Contains(logs, "Bearer") {
		t.Errorf("the logs hold request bytes:\n%s", logs)
	}
	if !strings.Contains(l.logs.String(), "msg=listener") {
		t.Error("fasthttp logged nothing; the test no longer checks its lines")
	}
}

func TestReadErrorClasses(t *testing.T) {
	t.Parallel()
	s := New(Options{}, Settings{MaxBodySize: 100}, Deps{Forwarder: newTestForwarder(), Catalog: newTestForwarder()})
	secret := errors.New("contents: Authorization: Bearer " + unreadableSecret)
	tests := []struct {
		err       error
		want      int
		wantClass string
	}{
		{fmt.Errorf("read body: %w", fasthttp.ErrBodyTooLarge), 413, "body_too_large"},
		{&fasthttp.ErrSmallBuffer{}, 431, "headers_too_large"},
		{fmt.Errorf("error when reading request headers: %w: %w", fasthttp.ErrDuplicateContentLength, secret), 400, "bad_framing"},
		{fasthttp.ErrUnsupportedTransferEncoding, 501, "bad_framing"},
		{fasthttp.ErrBrokenChunk{}, 400, "other"},
		{secret, 400, "other"},
	}
	for _, tt := range tests {
		status, e, _ := s.readError(tt.err)
		if status != tt.want || strings.Contains(e.Message, unreadableSecret) {
			t.Errorf("readError(%T): got %d %q, want %d without the error's text", tt.err, status, e.Message, tt.want)
		}
		if got := errorClass(tt.err); got != tt.wantClass {
			t.Errorf("errorClass(%T): got %q, want %q", tt.err, got, tt.wantClass)
		}
	}
}

func TestFasthttpLogger(t *testing.T) {
	t.Parallel()
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		for _, format := range []string{"text", "json"} {
			var buf bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})
			if format == "json" {
				h = slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})
			}
			lg := fasthttpLogger{slog.New(h)}
			err := fmt.Errorf("error when reading request headers: %w: contents: Authorization: Bearer %s", fasthttp.ErrDuplicateContentLength, unreadableSecret)
			lg.Printf("error when serving connection %q<->%q: %v", "127.0.0.1:80", "127.0.0.1:5555", err)
			lg.Printf("%.3f %s - %s", 1.5, "#0000 - 127.0.0.1 - GET http://a/?api_key="+unreadableSecret, "cannot parse "+unreadableSecret)
			out := buf.String()
			if strings.Contains(out, unreadableSecret) || strings.Contains(out, "Bearer") {
				t.Errorf("%s at %v: the log holds request bytes: %s", format, level, out)
			}
			if level == slog.LevelDebug && (!strings.Contains(out, "error when serving connection") || !strings.Contains(out, "bad_framing")) {
				t.Errorf("%s: got %q, want the fixed text and the error class", format, out)
			}
			if level == slog.LevelInfo && out != "" {
				t.Errorf("%s at info: got %q, want nothing", format, out)
			}
		}
	}
}

func TestHeaderTimeoutIsNotEchoed(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{ReadTimeout: 50 * time.Millisecond}, Settings{})
	c := l.dial()
	if _, err := io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nX-Api-Key: "+unreadableSecret+"\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if r := one(t, got); r.StatusCode != 408 || bytes.Contains(got, []byte(unreadableSecret)) {
		t.Errorf("got %d %q, want 408 without the request's bytes", r.StatusCode, got)
	}
	if strings.Contains(l.logs.String(), unreadableSecret) {
		t.Errorf("the logs hold request bytes:\n%s", l.logs.String())
	}
}
