package server

import (
	"strconv"
	"strings"
	"testing"
)

// TestSmuggling sends requests whose body end is ambiguous, each followed
// on the same connection by a second, smuggled request. The listener must
// answer once, refuse, close the connection, and never forward either.
func TestSmuggling(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	smuggled := request("POST", "/v1/chat/completions", chat("smuggled"), true)
	body := chat("m1")
	chunked := strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
	head := "POST /v1/chat/completions HTTP/1.1\r\nHost: router.test\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name     string
		raw      string
		want     int
		wantCode string
	}{
		{"Content-Length then Transfer-Encoding", head + "Content-Length: " + strconv.Itoa(len(chunked)) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + smuggled,
			400, CodeAmbiguousFraming},
		{"Transfer-Encoding then Content-Length", head + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunked + smuggled,
			400, CodeAmbiguousFraming},
		// The Content-Length covers the chunked body and the smuggled request.
		{"Content-Length covering a smuggled request", head + "Transfer-Encoding: chunked\r\nContent-Length: " + strconv.Itoa(len(chunked)+len(smuggled)) + "\r\n\r\n" + chunked + smuggled,
			400, CodeAmbiguousFraming},
		{"Content-Length twice, different", head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\nContent-Length: 3\r\n\r\n" + body + smuggled,
			400, CodeAmbiguousFraming},
		{"Content-Length twice, same", head + "Content-Length: " + strconv.Itoa(len(body)) + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + smuggled,
			400, CodeAmbiguousFraming},
		{"Content-Length list", head + "Content-Length: " + strconv.Itoa(len(body)) + ", 3\r\n\r\n" + body + smuggled,
			400, CodeMalformed},
		{"Transfer-Encoding identity", head + "Transfer-Encoding: identity\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + smuggled,
			400, CodeAmbiguousFraming},
		{"Transfer-Encoding identity alone", head + "Transfer-Encoding: identity\r\n\r\n" + body + smuggled,
			501, CodeTransferEncoding},
		{"Transfer-Encoding gzip", head + "Transfer-Encoding: gzip\r\n\r\n" + chunked + smuggled,
			501, CodeTransferEncoding},
		{"Transfer-Encoding gzip, chunked", head + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked + smuggled,
			501, CodeTransferEncoding},
		{"Transfer-Encoding twice", head + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked + smuggled,
			501, CodeTransferEncoding},
		{"Transfer-Encoding in HTTP/1.0", strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1) + "Transfer-Encoding: chunked\r\n\r\n" + chunked + smuggled,
			501, CodeTransferEncoding},
		{"Transfer-Encoding with a space before the colon", head + "Transfer-Encoding : chunked\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + smuggled,
			400, CodeMalformed},
		// One hop reads "X-Foo: a\nContent-Length: N" as one field (no
		// body: the smuggled request is the next one), another as two.
		{"HTTP/2.0 request line", "GET /health HTTP/2.0\r\nHost: router.test\r\n\r\n" + smuggled,
			505, CodeHTTPVersion},
		{"a bare LF hiding Content-Length", head + "X-Foo: a\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body + smuggled,
			400, CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := l.fwd.calls.Load()
			got := l.exchange(tt.raw)
			r := one(t, got)
			if r.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", r.StatusCode, r.body, tt.want)
			}
			if e := errorOf(t, r); str(e.Code) != tt.wantCode {
				t.Errorf("got code %s, want %s", str(e.Code), tt.wantCode)
			}
			if !r.Close {
				t.Error("answer without Connection: close")
			}
			if n := l.fwd.calls.Load() - before; n != 0 {
				t.Errorf("the forwarder got %d requests, want none", n)
			}
			if strings.Contains(string(got), "smuggled") {
				t.Errorf("the answer repeats request bytes: %q", got)
			}
		})
	}
}

func TestFraming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw string
		want      int
	}{
		{"none", "Host: a\r\nAccept: */*\r\n\r\n", 0},
		{"length", "Host: a\r\nContent-Length: 5\r\n\r\n", 0},
		{"chunked", "Host: a\r\ntransfer-encoding: Chunked\r\n\r\n", 0},
		{"both", "Host: a\r\nCONTENT-LENGTH: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"length twice", "Content-Length: 5\r\ncontent-length: 5\r\n", 400},
		{"identity", "Transfer-Encoding: identity\r\n", 501},
		{"chunked twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 501},
		{"bare LF", "Host: a\r\nX-Foo: a\nContent-Length: 5\r\n\r\n", 400},
		{"bare LF at the end", "Host: a\r\n\n", 400},
		{"only LF", "Host: a\nAccept: */*\n\n", 400},
		{"similar names", "Content-Lengthy: 5\r\nTransfer-Encodings: x\r\nContent-Type: a\r\n", 0},
		{"no final newline", "Content-Length: 5\r\nTransfer-Encoding: chunked", 400},
		{"space in a name", "Transfer Encoding: chunked\r\n", 400},
		{"tab before the colon", "Content-Length\t: 5\r\n", 400},
		{"folded line", "X-A: 1\r\n\tcontinued\r\n", 400},
		{"space in a value", "User-Agent: a b c\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := framing([]byte(tt.raw)); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// BenchmarkFraming measures the framing check on the header block of a
// typical SDK request, which every request pays.
func BenchmarkFraming(b *testing.B) {
	raw := []byte("Host: router.example\r\nUser-Agent: OpenAI/Python 1.99.0\r\nAccept: application/json\r\n" +
		"Authorization: Bearer sk-0123456789abcdef\r\nContent-Type: application/json\r\nContent-Length: 187\r\n" +
		"X-Stainless-Lang: python\r\nX-Stainless-Retry-Count: 0\r\nX-Request-Id: 5f0c2a\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if status, _ := framing(raw); status != 0 {
			b.Fatal(status)
		}
	}
}
