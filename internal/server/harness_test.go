package server

// The harness of the listener tests: a Server on a loopback listener in
// front of a scripted Forwarder, driven with raw bytes over TCP so that
// malformed, pipelined and smuggled requests can be sent as they are.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/scope"
)

// ioTimeout bounds every network wait of a test: a safety net against
// hangs, never a timing assertion.
const ioTimeout = 10 * time.Second

// Models the test forwarder knows; any other model gets a 200 JSON answer.
const (
	modelStream      = "stream"       // a stream of three events and [DONE]
	modelHeldStream  = "held-stream"  // one event, then waits for release, then the rest
	modelPanic       = "panic"        // Forward panics
	modelStreamPanic = "stream-panic" // a stream that panics after its first event
	modelWait        = "wait"         // blocks until the request's context ends
)

// panicSecret is in the value of every injected panic: it must never reach
// a log line or an answer.
const panicSecret = "sk-panic-secret-4d1c"

// testForwarder answers by the model asked for (see the model constants).
type testForwarder struct {
	calls   atomic.Int32
	started chan string   // request ids of "wait" and held-stream requests, as they start
	causes  chan error    // why each "wait" request's context ended
	release chan struct{} // closed to let held streams finish
	mu      sync.Mutex
	seen    []exchange.Call // copies of what Forward received
}

func newTestForwarder() *testForwarder {
	return &testForwarder{started: make(chan string, 16), causes: make(chan error, 16), release: make(chan struct{})}
}

func (f *testForwarder) Forward(ctx context.Context, req *exchange.Call) *exchange.Response {
	f.calls.Add(1)
	f.mu.Lock()
	c := *req
	c.Body, c.Forward, c.Record, c.Header = bytes.Clone(req.Body), nil, nil, nil
	f.seen = append(f.seen, c)
	f.mu.Unlock()
	switch req.Fields.Model {
	case modelPanic:
		panic("injected panic " + panicSecret)
	case modelWait:
		f.started <- req.RequestID
		<-ctx.Done()
		f.causes <- scope.Cause(ctx)
		return &exchange.Response{Status: 499}
	case modelStream:
		return &exchange.Response{Status: 200, Header: sseHeader(), Stream: &testStream{events: 3}}
	case modelHeldStream:
		f.started <- req.RequestID
		return &exchange.Response{Status: 200, Header: sseHeader(), Stream: &testStream{events: 3, hold: f.release}}
	case modelStreamPanic:
		return &exchange.Response{Status: 200, Header: sseHeader(), Stream: &testStream{events: 3, panicAfter: 1}}
	}
	return &exchange.Response{Status: 200, Backend: "b1", Header: []exchange.Field{{Name: "Content-Type", Value: "application/json"}},
		Body: []byte(`{"id":"chatcmpl-1","object":"chat.completion","model":"` + req.Fields.Model + `"}`)}
}

func (f *testForwarder) Models() []openai.Model {
	return []openai.Model{{ID: "m1", Object: "model"}, {ID: "m2", Object: "model"}}
}

// requests returns copies of the requests Forward received.
func (f *testForwarder) requests() []exchange.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]exchange.Call(nil), f.seen...)
}

func sseHeader() []exchange.Field {
	return []exchange.Field{{Name: "Content-Type", Value: "text/event-stream"}}
}

// testStream writes events "data: {"n":i}" and then data: [DONE]. With
// hold, it waits after the first event until hold is closed; with
// panicAfter > 0, it panics after that many events.
type testStream struct {
	next       int
	events     int
	hold       <-chan struct{}
	panicAfter int
}

func (s *testStream) Attach(exchange.WriteAborter) {}

// Next returns one event per call, then [DONE] with io.EOF.
func (s *testStream) Next(dst []byte) ([]byte, error) {
	i := s.next
	if i >= s.events {
		return append(dst, "data: [DONE]\n\n"...), io.EOF
	}
	if s.panicAfter > 0 && i == s.panicAfter {
		panic("injected stream panic " + panicSecret)
	}
	if i == 1 && s.hold != nil {
		<-s.hold // after the first event was written
	}
	s.next++
	return append(dst, `data: {"n":`+strconv.Itoa(i)+"}\n\n"...), nil
}

func (s *testStream) Close() {}

// testObserver keeps a copy of every finished request's record.
type testObserver struct {
	mu      sync.Mutex
	records []exchange.Record
	changed chan struct{}
}

func (o *testObserver) RequestDone(rec *exchange.Record) {
	c := *rec
	// The record's bytes are only valid during the call.
	c.Method, c.Path, c.UserAgent = bytes.Clone(rec.Method), bytes.Clone(rec.Path), bytes.Clone(rec.UserAgent)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.records = append(o.records, c)
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
}

// all returns the records so far.
func (o *testObserver) all() []exchange.Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]exchange.Record(nil), o.records...)
}

// waitFor returns the first record with the request id, waiting for it.
func (o *testObserver) waitFor(t *testing.T, reqID string) exchange.Record {
	t.Helper()
	deadline := time.NewTimer(ioTimeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		for _, r := range o.records {
			if r.RequestID == reqID {
				o.mu.Unlock()
				return r
			}
		}
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		ch := o.changed
		o.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("no record of request %q", reqID)
		}
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// listener is a Server under test on a loopback address.
type listener struct {
	t    *testing.T
	srv  *Server
	addr string
	fwd  *testForwarder
	obs  *testObserver
	logs *syncBuffer
}

// startListener serves a Server with the test forwarder and observer on
// 127.0.0.1:0 until the test ends. edit may change its dependencies.
func startListener(t *testing.T, opts Options, settings Settings, edit ...func(*Deps)) *listener {
	t.Helper()
	l := &listener{t: t, fwd: newTestForwarder(), obs: &testObserver{}, logs: &syncBuffer{}}
	deps := Deps{
		Forwarder: l.fwd,
		Catalog:   l.fwd,
		Observer:  l.obs,
		Logger:    slog.New(slog.NewTextHandler(l.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, e := range edit {
		e(&deps)
	}
	l.srv = New(opts, settings, deps)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- l.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := l.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("listener logs:\n%s", l.logs.String())
		}
	})
	return l
}

// dial opens a connection to the listener, closed when the test ends.
func (l *listener) dial() net.Conn {
	l.t.Helper()
	c, err := net.DialTimeout("tcp", l.addr, ioTimeout)
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		l.t.Fatal(err)
	}
	return c
}

// exchange writes raw on a new connection and returns everything the
// listener sends until it closes the connection.
func (l *listener) exchange(raw string) []byte {
	l.t.Helper()
	c := l.dial()
	if _, err := io.WriteString(c, raw); err != nil {
		l.t.Fatalf("write: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		l.t.Fatalf("read until the listener closes the connection: %v (got %q)", err, got)
	}
	return got
}

// response is one parsed answer.
type response struct {
	*http.Response
	body    []byte
	bodyErr error // an incomplete body (a broken stream) ends with io.ErrUnexpectedEOF
}

// parseResponses parses every answer in data; it fails the test on bytes
// that are not a well-formed HTTP/1.1 response.
func parseResponses(t *testing.T, data []byte) []response {
	t.Helper()
	var out []response
	br := bufio.NewReader(bytes.NewReader(data))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d is not well-formed HTTP: %v\n%q", len(out)+1, err, data)
		}
		body, err := io.ReadAll(resp.Body)
		out = append(out, response{Response: resp, body: body, bodyErr: err})
		if err != nil {
			return out
		}
	}
}

// one parses data as exactly one answer.
func one(t *testing.T, data []byte) response {
	t.Helper()
	rs := parseResponses(t, data)
	if len(rs) != 1 {
		t.Fatalf("got %d answers, want exactly one:\n%s", len(rs), data)
	}
	return rs[0]
}

// request builds a raw HTTP/1.1 request with a Content-Length body (none
// when body is "") and header pairs; "Connection: close" is added unless
// keepAlive.
func request(method, path, body string, keepAlive bool, header ...string) string {
	var b strings.Builder
	b.WriteString(method + " " + path + " HTTP/1.1\r\nHost: router.test\r\n")
	for i := 0; i+1 < len(header); i += 2 {
		b.WriteString(header[i] + ": " + header[i+1] + "\r\n")
	}
	if !keepAlive {
		b.WriteString("Connection: close\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// chat is a chat request body for model.
func chat(model string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
}

// envelope is the OpenAI error envelope with each field's presence kept.
type envelope struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// errorOf checks that r is an error answer in the OpenAI envelope, with
// every field present and a JSON content type, and returns it.
func errorOf(t *testing.T, r response) envelope {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("status %d: got Content-Type %q, want application/json", r.StatusCode, ct)
	}
	var raw struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil || raw.Error == nil {
		t.Fatalf("status %d: body %q is not an OpenAI error envelope: %v", r.StatusCode, r.body, err)
	}
	for _, f := range []string{"message", "type", "param", "code"} {
		if _, ok := raw.Error[f]; !ok {
			t.Errorf("status %d: envelope %s lacks %q", r.StatusCode, r.body, f)
		}
	}
	var body struct{ Error envelope }
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Message == "" || body.Error.Type == "" {
		t.Errorf("status %d: envelope %s has an empty message or type", r.StatusCode, r.body)
	}
	return body.Error
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}
