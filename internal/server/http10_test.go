package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// http10 builds a raw HTTP/1.0 POST with a Content-Length body and header pairs.
func http10(path, body string, header ...string) string {
	var b strings.Builder
	b.WriteString("POST " + path + " HTTP/1.0\r\nHost: router.test\r\nContent-Type: application/json\r\n")
	for i := 0; i+1 < len(header); i += 2 {
		b.WriteString(header[i] + ": " + header[i+1] + "\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	return b.String()
}

// streamed is what the test forwarder's three-event stream sends.
const streamed = "data: {\"n\":0}\n\ndata: {\"n\":1}\n\ndata: {\"n\":2}\n\ndata: [DONE]\n\n"

// TestHTTP10Stream checks that a stream to an HTTP/1.0 client is sent
// without the chunked coding it cannot read (RFC 9112 §6.1): no
// Transfer-Encoding, no Content-Length, the events as they are, and the
// connection closed at the end; an HTTP/1.1 client still gets chunks.
func TestHTTP10Stream(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	for _, keepAlive := range []bool{false, true} {
		t.Run("keep-alive="+strconv.FormatBool(keepAlive), func(t *testing.T) {
			var header []string
			if keepAlive {
				header = []string{"Connection", "keep-alive"}
			}
			header = append(header, "X-Request-Id", "h10-"+strconv.FormatBool(keepAlive))
			raw := l.exchange(http10("/v1/chat/completions", `{"model":"stream","stream":true}`, header...))
			head, body, ok := strings.Cut(string(raw), "\r\n\r\n")
			if !ok {
				t.Fatalf("no header block in %q", raw)
			}
			lower := strings.ToLower(head)
			if !strings.HasPrefix(head, "HTTP/1.1 200 ") {
				t.Fatalf("got status line %q, want 200", strings.SplitN(head, "\r\n", 2)[0])
			}
			for _, bad := range []string{"transfer-encoding:", "content-length:"} {
				if strings.Contains(lower, "\r\n"+bad) {
					t.Errorf("header has %s:\n%s", bad, head)
				}
			}
			if !strings.Contains(lower, "\r\nconnection: close") {
				t.Errorf("header lacks Connection: close:\n%s", head)
			}
			if !strings.Contains(lower, "\r\ncontent-type: text/event-stream") {
				t.Errorf("header lacks the stream's Content-Type:\n%s", head)
			}
			if body != streamed {
				t.Errorf("got body %q, want the events unframed %q", body, streamed)
			}
			rec := l.obs.waitFor(t, "h10-"+strconv.FormatBool(keepAlive))
			if rec.Status != 200 || rec.Aborted || !rec.Stream {
				t.Errorf("record: got status %d, aborted %v, stream %v; want 200, false, true", rec.Status, rec.Aborted, rec.Stream)
			}
		})
	}
	t.Run("HTTP/1.1 is chunked", func(t *testing.T) {
		r := one(t, l.exchange(request("POST", "/v1/chat/completions", `{"model":"stream","stream":true}`, false)))
		if len(r.TransferEncoding) != 1 || r.TransferEncoding[0] != "chunked" || string(r.body) != streamed {
			t.Errorf("got Transfer-Encoding %v, body %q; want chunked and %q", r.TransferEncoding, r.body, streamed)
		}
	})
}

// TestHTTP10StreamShutdown checks that a graceful shutdown waits for a
// stream to an HTTP/1.0 client, which fasthttp no longer counts, and that
// the client gets all of it.
func TestHTTP10StreamShutdown(t *testing.T) {
	t.Parallel()
	l := startListener(t, Options{}, Settings{})
	c := l.dial()
	if _, err := io.WriteString(c, http10("/v1/chat/completions", `{"model":"held-stream","stream":true}`)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, len("data: {\"n\":0}\n\n"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("first event: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.srv.Shutdown(ctx) }()
	// Shutdown must wait for the stream: it returns only once the stream
	// is released, and not before it waits on the requests in flight.
	deadline := time.Now().Add(ioTimeout)
	for waiting := false; !waiting; {
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned %v while an HTTP/1.0 stream was running", err)
		default:
		}
		l.srv.running.mu.Lock()
		waiting = len(l.srv.running.empty) > 0
		l.srv.running.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("Shutdown never waited for the stream")
		}
		runtime.Gosched()
	}
	close(l.fwd.release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(first)+string(rest) != streamed {
		t.Errorf("got %q (%v), want %q", string(first)+string(rest), err, streamed)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}
