package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
)

// fuzzForwarder answers every request at once: a stream when one is asked
// for, else JSON; both name the backend, so that they are told apart from
// the listener's own answers.
type fuzzForwarder struct{}

func (fuzzForwarder) Forward(_ context.Context, req *exchange.Call) *exchange.Response {
	if req.Fields.Stream {
		return &exchange.Response{Status: 200, Backend: "b1", Header: sseHeader(), Stream: &testStream{events: 2}}
	}
	return &exchange.Response{Status: 200, Backend: "b1", Body: []byte(`{"object":"chat.completion"}`)}
}

// panicCounter counts the records of recovered panics.
type panicCounter struct{ n atomic.Int32 }

func (p *panicCounter) RequestDone(rec *exchange.Record) {
	if rec.ErrorKind == ErrorPanic {
		p.n.Add(1)
	}
}

// FuzzListener sends arbitrary bytes as requests on a real connection, then
// half-closes it and reads every answer. The listener must not panic or
// hang, every answer must be well-formed HTTP (an OpenAI error envelope
// unless a backend answered), and no answer may contain the corpus's
// credential, SECRETTOKEN, when it was sent only in Authorization,
// X-Api-Key or Api-Key.
func FuzzListener(f *testing.F) {
	body := chat("m1")
	for _, seed := range []string{
		request("POST", "/v1/chat/completions", body, false, "Authorization", "Bearer SECRETTOKEN"),
		request("POST", "/v1/chat/completions", `{"model":"m1","stream":true}`, true, "X-Api-Key", "SECRETTOKEN") +
			request("GET", "/v1/models", "", false, "Api-Key", "SECRETTOKEN"),
		request("GET", "/v1/models/m9", "", false, "Authorization", "Bearer SECRETTOKEN", "X-Request-Id", "abc"),
		"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SECRETTOKEN\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
			request("POST", "/v1/embeddings", `{"model":"m1","input":"x"}`, false),
		"POST /v1/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SECRETTOKEN\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"mo\r\nzz\r\n",
		"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SECRETTOKEN\r\nX-Big: " + strings.Repeat("a", 17<<10) + "\r\n\r\n",
		"GET /health HTTP/1.0\r\nAuthorization: Bearer SECRETTOKEN\x01\r\n\r\n",
		"POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer SECRETTOKEN\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\nAuthorization: Basic SECRETTOKEN\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	fwd, panics := fuzzForwarder{}, &panicCounter{}
	s := New(Options{}, Settings{MaxBodySize: 4 << 10, ExposeBackend: true}, Deps{
		Forwarder: fwd, Catalog: newTestForwarder(), Observer: panics, Logger: slog.New(slog.DiscardHandler),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		s.Shutdown(ctx)
		<-served
	})
	addr := ln.Addr().String()

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 64<<10 {
			return
		}
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
			t.Fatal(err)
		}
		// The listener may refuse the request before reading all of it; a
		// failed write is then expected.
		_, _ = c.Write(in)
		_ = c.(*net.TCPConn).CloseWrite()
		out, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the listener did not finish answering %.300q within %v", in, ioTimeout)
		}
		if n := panics.n.Swap(0); n > 0 {
			t.Fatalf("the listener recovered %d panics serving %.300q", n, in)
		}
		if credentialOnly(in, fuzzSecret) && bytes.Contains(out, fuzzSecret) {
			t.Fatalf("the answer to %.300q contains the credential %q:\n%.2000s", in, fuzzSecret, out)
		}
		if !bytes.Contains(in, []byte("HEAD")) { // a HEAD answer cannot be parsed without its request
			checkAnswers(t, in, out)
		}
	})
}

// checkAnswers checks that out is a sequence of well-formed HTTP answers,
// each an OpenAI error envelope unless it is a success or a backend's.
func checkAnswers(t *testing.T, in, out []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(out))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer to %.300q is not well-formed HTTP: %v\n%.2000q", in, err, out)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			// Only a stream that broke after its commit ends without its last chunk.
			if resp.Header.Get("X-Continuum-Backend") == "" {
				t.Fatalf("answer to %.300q: body: %v\n%.2000q", in, err, out)
			}
			return
		}
		if resp.StatusCode < 400 || resp.Header.Get("X-Continuum-Backend") != "" {
			continue
		}
		var e struct {
			Error *struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" {
			t.Fatalf("answer %d to %.300q is not an OpenAI error envelope: %.2000q", resp.StatusCode, in, b)
		}
	}
}

// fuzzSecret is the credential of the seed corpus.
var fuzzSecret = []byte("SECRETTOKEN")

// credentialOnly reports whether secret appears in in, and only on header
// lines named Authorization, X-Api-Key or Api-Key (in any case): bytes the
// listener has no reason to send back. (Elsewhere, as an X-Request-Id or a
// model name, they may be echoed by design.)
func credentialOnly(in, secret []byte) bool {
	found := false
	for line := range bytes.Lines(in) {
		if !bytes.Contains(line, secret) {
			continue
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "authorization", "x-api-key", "api-key":
			if ok && !bytes.Contains(name, secret) {
				found = true
				continue
			}
		}
		return false
	}
	return found
}
