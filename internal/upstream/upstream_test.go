package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
)

func newClient(t *testing.T, url string, opts Options) *Client {
	t.Helper()
	c, err := New(&backend.Backend{Name: "b", Type: backend.VLLM, URL: url, APIKey: "sk-backend"}, "org-1", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdle)
	return c
}

func readBody(t *testing.T, r *Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func TestPaths(t *testing.T) {
	tests := []struct {
		url, typ          string
		api, root, health string
	}{
		{"http://h:8000", "vllm", "/v1/chat/completions", "/health", "/v1/models"},
		{"http://h:8000/", "vllm", "/v1/chat/completions", "/health", "/v1/models"},
		{"http://h:8000/v1", "openai", "/v1/chat/completions", "/health", "/v1/models"},
		{"http://gw/openai/v1/", "openai", "/openai/v1/chat/completions", "/openai/health", "/openai/v1/models"},
		{"http://h:11434", "ollama", "/v1/chat/completions", "/health", "/api/tags"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := New(&backend.Backend{Name: "x", Type: backend.Type(tt.typ), URL: tt.url}, "", Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.APIPath("/chat/completions"); got != tt.api {
				t.Errorf("APIPath: got %q, want %q", got, tt.api)
			}
			if got := c.RootPath("health"); got != tt.root {
				t.Errorf("RootPath: got %q, want %q", got, tt.root)
			}
			if got := c.DefaultHealthPath(); got != tt.health {
				t.Errorf("DefaultHealthPath: got %q, want %q", got, tt.health)
			}
		})
	}
}

func TestRequestHeadersAndBody(t *testing.T) {
	var got http.Header
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", "yes")
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, Options{})
	client := map[string]string{
		"Authorization":   "Bearer client-key",
		"X-Api-Key":       "client-key",
		"Accept-Encoding": "gzip",
		"Connection":      "keep-alive, X-Hop",
		"X-Hop":           "drop me",
		"Keep-Alive":      "timeout=5",
		"User-Agent":      "openai-go/1",
		"X-Session-Id":    "s1",
		"X-Request-Id":    "client-id",
	}
	resp, err := c.Do(context.Background(), &Request{
		Path:   c.APIPath("/chat/completions"),
		Header: Header{{"Content-Type", "application/json"}, {"X-Request-Id", "router-id"}},
		Forward: func() []byte {
			var b []byte
			for k, v := range client {
				b = append(b, k+": "+v+"\r\n"...)
			}
			return b
		}(),
		Body: []byte(`{"model":"m"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if body := readBody(t, resp); body != `{"ok":true}` || resp.Status != 200 || resp.Header.Get("x-upstream") != "yes" {
		t.Fatalf("got %d %q %v, want 200 {\"ok\":true} with X-Upstream", resp.Status, body, resp.Header)
	}
	if gotBody != `{"model":"m"}` {
		t.Errorf("body: got %q", gotBody)
	}
	want := map[string]string{
		"Authorization":       "Bearer sk-backend",
		"Openai-Organization": "org-1",
		"User-Agent":          "openai-go/1",
		"X-Session-Id":        "s1",
		"X-Request-Id":        "router-id",
		"Content-Type":        "application/json",
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("header %s: got %q, want %q", k, got.Get(k), v)
		}
	}
	for _, k := range []string{"X-Api-Key", "X-Hop", "Keep-Alive"} {
		if v := got.Get(k); v != "" {
			t.Errorf("header %s: got %q, want it stripped", k, v)
		}
	}
	if ae := got.Get("Accept-Encoding"); ae != "" && ae != "identity" {
		t.Errorf("Accept-Encoding: got %q, want none", ae)
	}
}

func TestConnectionReuse(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/chunked" {
			w.Write([]byte("part1"))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
			return
		}
		fmt.Fprint(w, "fixed")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, Options{})
	for i := 0; i < 10; i++ {
		path := "/fixed"
		want := "fixed"
		if i%2 == 1 {
			path, want = "/chunked", "part1part2"
		}
		resp, err := c.Do(context.Background(), &Request{Method: "GET", Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if got := readBody(t, resp); got != want {
			t.Fatalf("request %d: got %q, want %q", i, got, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("connections: got %d, want 1 (reused)", n)
	}
}

// rawServer runs handle for each accepted connection.
func rawServer(t *testing.T, handle func(n int, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); handle(n, c) }()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readRequest consumes one request head and its Content-Length body.
func readRequest(br *bufio.Reader) error {
	req, err := http.ReadRequest(br)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, req.Body)
	return err
}

// A request written whole on a reused connection that then fails before any
// byte of the answer is not sent again by the client (the backend may have
// acted on it): the error says the connection was stale, and the caller
// decides (the proxy retries it as a counted attempt).
func TestStaleConnectionIsNotResent(t *testing.T) {
	var mu sync.Mutex
	received := 0
	url := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for readRequest(br) == nil {
			mu.Lock()
			received++
			first := received == 1
			mu.Unlock()
			if !first {
				return // read the second request, close without answering
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	c := newClient(t, url, Options{})
	resp, err := c.Do(context.Background(), &Request{Path: "/x", Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	_, err = c.Do(context.Background(), &Request{Path: "/x", Body: []byte("{}")})
	if err == nil || !IsStale(err) || KindOf(err) != KindRead {
		t.Fatalf("second request: got %v, want a stale read error", err)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if received != 2 {
		t.Fatalf("backend received %d requests, want 2: a written request must not be sent again", received)
	}
}

// A reused connection that the backend reset before the request could be
// written is replaced by a new one, once: nothing reached the backend.
func TestResetIdleConnectionIsReplaced(t *testing.T) {
	closed := make(chan struct{})
	url := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		if n == 0 {
			if readRequest(br) != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
			// Reset the idle connection (SO_LINGER 0), as a backend that
			// restarts does.
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			close(closed)
			return
		}
		for readRequest(br) == nil {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")
		}
	})
	c := newClient(t, url, Options{})
	for i, want := range []string{"first", "fresh"} {
		if i == 1 {
			<-closed
		}
		resp, err := c.Do(context.Background(), &Request{Path: "/x", Body: []byte("{}")})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readBody(t, resp); got != want {
			t.Fatalf("request %d: got %q, want %q", i, got, want)
		}
	}
}

func TestCancelWhileWaitingForHead(t *testing.T) {
	closed := make(chan struct{})
	received := make(chan struct{})
	url := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		readRequest(br)
		close(received)
		// Never answer; report when the router closes the connection.
		br.ReadByte()
		close(closed)
	})
	c := newClient(t, url, Options{})
	ctx, cancel := context.WithCancelCause(context.Background())
	errDone := make(chan error, 1)
	go func() {
		_, err := c.Do(ctx, &Request{Path: "/x", Body: []byte("{}")})
		errDone <- err
	}()
	cause := errors.New("first token timeout")
	<-received
	cancel(cause)
	if err := <-errDone; !errors.Is(err, cause) {
		t.Fatalf("got %v, want the cancellation cause", err)
	}
	<-closed
}

func TestCancelWhileReadingBody(t *testing.T) {
	closed := make(chan struct{})
	url := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		br.ReadByte()
		close(closed)
	})
	c := newClient(t, url, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := c.Do(ctx, &Request{Path: "/x", Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("got %q %v, want hello", buf, err)
	}
	go cancel()
	_, err = resp.Body.Read(buf)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: got %v, want context.Canceled", err)
	}
	resp.Body.Close()
	<-closed
}

func TestTransportErrors(t *testing.T) {
	truncated := rawServer(t, func(n int, c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
	})
	garbage := rawServer(t, func(n int, c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "SMTP ready\r\n\r\n")
	})
	short := rawServer(t, func(n int, c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name     string
		url      string
		wantKind ErrorKind
		inBody   bool
	}{
		{"connection refused", refused, KindConnect, false},
		{"not http", garbage, KindProtocol, false},
		{"truncated chunked body", truncated, KindRead, true},
		{"short fixed body", short, KindRead, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.url, Options{})
			resp, err := c.Do(context.Background(), &Request{Path: "/x", Body: []byte("{}")})
			if tt.inBody {
				if err != nil {
					t.Fatalf("Do: %v", err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("got %v, want io.ErrUnexpectedEOF", err)
				}
			}
			if got := KindOf(err); got != tt.wantKind {
				t.Fatalf("kind: got %q (%v), want %q", got, err, tt.wantKind)
			}
		})
	}
}

func TestInformationalAndEmptyResponses(t *testing.T) {
	url := rawServer(t, func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n")
		readRequest(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	c := newClient(t, url, Options{})
	resp, err := c.Do(context.Background(), &Request{Path: "/x", Body: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 204 || readBody(t, resp) != "" || resp.Header.Get("X-A") != "1" {
		t.Fatalf("got %d %v, want 204 with X-A", resp.Status, resp.Header)
	}
	resp, err = c.Do(context.Background(), &Request{Path: "/x", Body: []byte("{}")})
	if err != nil || readBody(t, resp) != "ok" {
		t.Fatalf("second request on the same connection: %v", err)
	}
}

func TestLargeBodyAndHTTPS(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %s", len(b), r.Header.Get("Authorization"))
	})
	plain := httptest.NewServer(h)
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(h)
	t.Cleanup(secure.Close)
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	for _, srv := range []*httptest.Server{plain, secure} {
		c := newClient(t, srv.URL, Options{TLSConfig: &tls.Config{RootCAs: roots}})
		resp, err := c.Do(context.Background(), &Request{Path: "/x", Body: []byte(big)})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := readBody(t, resp), fmt.Sprintf("%d Bearer sk-backend", len(big)); got != want {
			t.Fatalf("%s: got %q, want %q", srv.URL, got, want)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	c := newClient(t, srv.URL, Options{IdleTimeout: time.Minute, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	do := func() {
		resp, err := c.Do(context.Background(), &Request{Method: "GET", Path: "/"})
		if err != nil {
			t.Fatal(err)
		}
		readBody(t, resp)
	}
	do()
	do()
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	do()
	if n := conns.Load(); n != 2 {
		t.Fatalf("connections: got %d, want 2 (one expired while idle)", n)
	}
}

func TestCloseRetiresConnectionsInUse(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, Options{})
	resp, err := c.Do(context.Background(), &Request{Method: "GET", Path: "/fast"})
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp) // its connection is now idle in the pool
	done := make(chan string, 1)
	go func() {
		resp, err := c.Do(context.Background(), &Request{Method: "GET", Path: "/slow"})
		if err != nil {
			done <- err.Error()
			return
		}
		done <- readBody(t, resp)
	}()
	<-started
	c.Close()
	close(release)
	if got := <-done; got != "ok" {
		t.Fatalf("request in flight during Close: got %q, want ok", got)
	}
	if n := len(c.tr.(*http1).idle); n != 0 {
		t.Fatalf("idle connections after Close and a finished request: got %d, want 0", n)
	}
}
