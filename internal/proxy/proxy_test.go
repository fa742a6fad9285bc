package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
	"github.com/continuumhq/continuum/internal/resilience"
	"github.com/continuumhq/continuum/internal/route"
	"github.com/continuumhq/continuum/internal/scope"
	"github.com/continuumhq/continuum/internal/upstream"
)

// fakeSender answers with a function; its bodies end when the attempt's
// context is cancelled, as the real client's do.
type fakeSender struct {
	mu    sync.Mutex
	calls int
	do    func(ctx context.Context, n int) (*upstream.Response, error)
}

func (f *fakeSender) Do(ctx context.Context, _ *upstream.Request) (*upstream.Response, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	return f.do(ctx, n)
}

func (f *fakeSender) APIPath(ep string) string { return "/v1" + ep }
func (f *fakeSender) RootPath(p string) string { return p }

func (f *fakeSender) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// body returns a response body fed by the returned writer, closed with the
// context's cause when ctx ends.
func body(ctx context.Context) (io.ReadCloser, *io.PipeWriter) {
	r, w := io.Pipe()
	context.AfterFunc(ctx, func() { w.CloseWithError(scope.Cause(ctx)) })
	return r, w
}

func jsonResponse(ctx context.Context, status int, text string) *upstream.Response {
	return &upstream.Response{Status: status, Header: upstream.Header{{Name: "Content-Type", Value: "application/json"}}, Body: io.NopCloser(strings.NewReader(text))}
}

type harness struct {
	clk     *clock.Fake
	proxy   *Proxy
	senders map[string]*fakeSender
	targets map[string]*Target
}

// newHarness builds a proxy over backends "name:model" with the given senders.
func newHarness(t *testing.T, opts Options, aliases map[string]string, fallbacks map[string][]string, specs ...string) *harness {
	t.Helper()
	h := &harness{clk: clock.NewFake(time.Time{}), senders: map[string]*fakeSender{}, targets: map[string]*Target{}}
	var backends []*backend.Backend
	var targets []*Target
	for _, spec := range specs {
		name, model, _ := strings.Cut(spec, ":")
		b := &backend.Backend{Name: name, Models: []string{model}, Weight: 1, State: backend.NewState()}
		s := &fakeSender{}
		tg := &Target{Backend: b, Sender: s, FirstTokenTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
		h.senders[name], h.targets[name] = s, tg
		backends = append(backends, b)
		targets = append(targets, tg)
	}
	snap, err := NewSnapshot(route.Build(backends, aliases, fallbacks, 0, nil), targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.proxy = New(snap, Config{Clock: h.clk})
	return h
}

// writeStream relays a stream to w as the listener does: burst by burst.
func writeStream(st exchange.Stream, w io.Writer) (int64, error) {
	var n int64
	var buf []byte
	for {
		var err error
		buf, err = st.Next(buf[:0])
		if len(buf) > 0 {
			m, werr := w.Write(buf)
			n += int64(m)
			if werr != nil {
				st.Close()
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// allowOnly is a caller's permissions: every scope, and the models allow reports.
type allowOnly func(string) bool

func (a allowOnly) Allows(m string) bool   { return a(m) }
func (a allowOnly) HasScope(s string) bool { return true }

func request(model string, stream bool) *exchange.Call {
	b := fmt.Sprintf(`{"model":%q,"stream":%v}`, model, stream)
	f, err := openai.ParseFields([]byte(b))
	if err != nil {
		panic(err)
	}
	return &exchange.Call{API: exchange.ChatCompletions, Body: []byte(b), Fields: f, RequestID: "r", Record: &exchange.Record{}}
}

func errorType(t *testing.T, resp *exchange.Response) string {
	t.Helper()
	var e openai.ErrorBody
	if err := json.Unmarshal(resp.Body, &e); err != nil {
		t.Fatalf("not an error envelope: %s", resp.Body)
	}
	return e.Error.Type
}

func TestTotalTimeoutDuringBackoff(t *testing.T) {
	h := newHarness(t, Options{Timeout: 10 * time.Second, MaxAttempts: 3}, nil, nil, "a:m", "b:m")
	for _, name := range []string{"a", "b"} {
		h.senders[name].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
			return jsonResponse(ctx, 500, `{"error":{"message":"boom"}}`), nil
		}
		h.targets[name].Retry = RetryPolicy{BaseDelay: time.Minute}
	}
	done := make(chan *exchange.Response, 1)
	req := request("m", false)
	go func() { done <- h.proxy.Forward(context.Background(), req) }()
	// The router waits for the retry delay (capped by what is left of the
	// request's 10 s): advancing past the total ends the request.
	if err := h.clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(10 * time.Second)
	resp := <-done
	if resp.Status != 504 || errorType(t, resp) != openai.TypeTimeout || req.Record.ErrorKind != "timeout_total" {
		t.Fatalf("got %d %s (%s), want 504 upstream_timeout timeout_total", resp.Status, resp.Body, req.Record.ErrorKind)
	}
	if calls := h.senders["a"].Calls() + h.senders["b"].Calls(); calls != 1 {
		t.Fatalf("backend calls: got %d, want 1 (no retry after the deadline)", calls)
	}
}

func TestTotalTimeoutDuringStream(t *testing.T) {
	h := newHarness(t, Options{Timeout: 10 * time.Second}, nil, nil, "a:m")
	br := resilience.NewBreaker(resilience.BreakerConfig{FailureThreshold: 1}, h.clk, 1, resilience.Hooks{})
	h.targets["a"].Breaker = br
	var w *io.PipeWriter
	reads := make(chan struct{}, 8)
	h.senders["a"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
		rc, pw := body(ctx)
		w = pw
		go pw.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"))
		return &upstream.Response{Status: 200, Header: upstream.Header{{Name: "Content-Type", Value: "text/event-stream"}}, Body: notifyReader{rc, reads}}, nil
	}
	req := request("m", true)
	resp := h.proxy.Forward(context.Background(), req)
	if resp.Stream == nil {
		t.Fatalf("got %d %s, want a committed stream", resp.Status, resp.Body)
	}
	out := &strings.Builder{}
	errc := make(chan error, 1)
	go func() { _, err := writeStream(resp.Stream, out); errc <- err }()
	// The first read brought the event; the second means the stream has
	// handed it to the writer and waits for the backend again: the
	// deadline then ends the stream, not a write in progress.
	for range 2 {
		select {
		case <-reads:
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not read the backend")
		}
	}
	h.clk.Advance(10 * time.Second)
	if err := <-errc; !errors.Is(err, exchange.ErrStreamAborted) {
		t.Fatalf("stream: got %v, want ErrStreamAborted", err)
	}
	_ = w
	if !strings.Contains(out.String(), `"content":"hi"`) || !strings.Contains(out.String(), `"upstream_timeout"`) || strings.Contains(out.String(), "[DONE]") {
		t.Fatalf("stream: %q", out.String())
	}
	if req.Record.ErrorKind != "timeout_total" || !req.Record.Aborted {
		t.Fatalf("record: %+v", req.Record)
	}
	if br.State() != resilience.Closed {
		t.Fatal("the request's own deadline must not count against the backend")
	}
}

func TestResponseTooLarge(t *testing.T) {
	h := newHarness(t, Options{MaxResponseBytes: 10}, nil, nil, "a:m", "b:m")
	for _, name := range []string{"a", "b"} {
		h.senders[name].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
			return jsonResponse(ctx, 200, `{"choices":[{"message":{"content":"far too long"}}]}`), nil
		}
	}
	resp := h.proxy.Forward(context.Background(), request("m", false))
	if resp.Status != 502 || h.senders["b"].Calls() != 0 {
		t.Fatalf("got %d after %d calls to b, want 502 without a retry", resp.Status, h.senders["b"].Calls())
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("broken pipe")
	}
	w.after--
	return len(p), nil
}

func TestClientWriteFailureCancelsUpstream(t *testing.T) {
	h := newHarness(t, Options{}, nil, nil, "a:m")
	cancelled := make(chan error, 1)
	h.senders["a"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
		rc, pw := body(ctx)
		context.AfterFunc(ctx, func() { cancelled <- scope.Cause(ctx) })
		go func() {
			for i := 0; ; i++ {
				if _, err := fmt.Fprintf(pw, "data: {\"choices\":[{\"delta\":{\"content\":\"t%d\"}}]}\n\n", i); err != nil {
					return
				}
			}
		}()
		return &upstream.Response{Status: 200, Header: upstream.Header{{Name: "Content-Type", Value: "text/event-stream"}}, Body: rc}, nil
	}
	req := request("m", true)
	resp := h.proxy.Forward(context.Background(), req)
	if _, err := writeStream(resp.Stream, &failingWriter{after: 2}); err == nil {
		t.Fatal("stream: got nil error after the client write failed")
	}
	if cause := <-cancelled; !errors.Is(cause, errClientGone) {
		t.Fatalf("upstream cancelled with %v, want errClientGone", cause)
	}
	if req.Record.ErrorKind != "client_cancel" {
		t.Fatalf("error kind: got %q", req.Record.ErrorKind)
	}
	if st := h.targets["a"].Backend.State; st.InFlight() != 0 {
		t.Fatalf("in flight: got %d, want 0", st.InFlight())
	}
}

func TestFallbackRespectsAllowedModels(t *testing.T) {
	h := newHarness(t, Options{}, nil, map[string][]string{"big": {"small", "other"}}, "a:big", "b:small", "c:other")
	h.targets["a"].Backend.State.SetDrained(true)
	for _, name := range []string{"b", "c"} {
		h.senders[name].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
			return jsonResponse(ctx, 200, `{"choices":[]}`), nil
		}
	}
	req := request("big", false)
	req.Caller.Models = allowOnly(func(m string) bool { return m != "small" })
	resp := h.proxy.Forward(context.Background(), req)
	if resp.Status != 200 || resp.Backend != "c" || req.Record.Routed != "other" {
		t.Fatalf("got %d from %q routed %q, want 200 from c (the allowed fallback)", resp.Status, resp.Backend, req.Record.Routed)
	}
}

func TestPanicMode(t *testing.T) {
	tests := []struct {
		name      string
		threshold float64
		down      []string
		drained   []string
		mayServe  []string // backends allowed to serve; every one of them must serve at least once
	}{
		{"healthy share at the threshold: only healthy backends", 0.5, []string{"a"}, []string{"c"}, []string{"b"}},
		{"healthy share below the threshold: every backend", 0.5, []string{"a", "b"}, nil, []string{"a", "b", "c"}},
		{"none healthy with threshold 0: every backend", 0, []string{"a", "b"}, []string{"c"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{PanicThreshold: tt.threshold}, nil, nil, "a:m", "b:m", "c:m")
			for _, s := range h.senders {
				s.do = func(ctx context.Context, _ int) (*upstream.Response, error) {
					return jsonResponse(ctx, 200, `{"choices":[]}`), nil
				}
			}
			for _, d := range tt.down {
				h.targets[d].Backend.State.SetHealth(backend.Down)
			}
			for _, d := range tt.drained {
				h.targets[d].Backend.State.SetDrained(true)
			}
			served := map[string]int{}
			for i := 0; i < 9; i++ {
				resp := h.proxy.Forward(context.Background(), request("m", false))
				if resp.Status != 200 {
					t.Fatalf("got %d %s, want 200", resp.Status, resp.Body)
				}
				served[resp.Backend]++
			}
			for _, name := range []string{"a", "b", "c"} {
				allowed := false
				for _, m := range tt.mayServe {
					allowed = allowed || m == name
				}
				if allowed != (served[name] > 0) {
					t.Fatalf("served %v, want exactly %v to serve", served, tt.mayServe)
				}
			}
		})
	}
}

func TestAttemptTimeoutFailsOver(t *testing.T) {
	h := newHarness(t, Options{}, nil, nil, "a:m", "b:m")
	h.targets["a"].Timeout = 5 * time.Second
	h.targets["a"].FirstTokenTimeout = 0
	h.senders["a"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
		<-ctx.Done()
		return nil, scope.Cause(ctx)
	}
	h.senders["b"].do = func(ctx context.Context, _ int) (*upstream.Response, error) {
		return jsonResponse(ctx, 200, `{"choices":[]}`), nil
	}
	done := make(chan *exchange.Response, 1)
	go func() { done <- h.proxy.Forward(context.Background(), request("m", false)) }()
	if err := h.clk.WaitForTimers(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(5 * time.Second)
	if resp := <-done; resp.Status != 200 || resp.Backend != "b" {
		t.Fatalf("got %d from %q, want 200 from b after a's request timeout", resp.Status, resp.Backend)
	}
}

func TestNoHealthyBackendTriesFallbackBeforePanic(t *testing.T) {
	h := newHarness(t, Options{PanicThreshold: 0.5}, nil, map[string][]string{"big": {"small"}}, "a:big", "b:small")
	for _, s := range h.senders {
		s.do = func(ctx context.Context, _ int) (*upstream.Response, error) {
			return jsonResponse(ctx, 200, `{"choices":[]}`), nil
		}
	}
	h.targets["a"].Backend.State.SetHealth(backend.Down)
	if resp := h.proxy.Forward(context.Background(), request("big", false)); resp.Backend != "b" {
		t.Fatalf("served by %q, want the healthy fallback b", resp.Backend)
	}
	h.targets["b"].Backend.State.SetHealth(backend.Down)
	if resp := h.proxy.Forward(context.Background(), request("big", false)); resp.Status != 200 || resp.Backend != "a" {
		t.Fatalf("got %d from %q, want panic mode to use a", resp.Status, resp.Backend)
	}
}

func TestShortRetryAfterIsWaitedOut(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		wantStatus int
		wantCalls  int
		wantWait   time.Duration
	}{
		{"short: wait and ask again", "2", 200, 2, 2 * time.Second},
		{"long: pass the 429 on at once", "120", 429, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{MaxRetryAfter: 5 * time.Second, MaxAttempts: 3}, nil, nil, "a:m")
			h.senders["a"].do = func(ctx context.Context, n int) (*upstream.Response, error) {
				if n == 1 {
					return &upstream.Response{Status: 429, Header: upstream.Header{{Name: "Retry-After", Value: tt.retryAfter}}, Body: io.NopCloser(strings.NewReader(`{"error":{"message":"slow down"}}`))}, nil
				}
				return jsonResponse(ctx, 200, `{"choices":[]}`), nil
			}
			start := h.clk.Now()
			done := make(chan *exchange.Response, 1)
			go func() { done <- h.proxy.Forward(context.Background(), request("m", false)) }()
			if tt.wantWait > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := h.clk.WaitForDeadline(ctx, start.Add(tt.wantWait)); err != nil {
					t.Fatalf("the router did not wait %v: %v", tt.wantWait, err)
				}
				h.clk.Advance(tt.wantWait)
			}
			resp := <-done
			if resp.Status != tt.wantStatus || h.senders["a"].Calls() != tt.wantCalls {
				t.Fatalf("got %d after %d calls, want %d after %d", resp.Status, h.senders["a"].Calls(), tt.wantStatus, tt.wantCalls)
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	cases := []struct {
		name    string
		cl      string // Content-Length header, "" for none
		body    string
		max     int64
		want    string
		wantErr error
	}{
		{"length exact", "5", "hello", 100, "hello", nil},
		{"length zero", "0", "", 100, "", nil},
		{"no length", "", "hello", 100, "hello", nil},
		{"no length larger than the first buffer", "", big, 1 << 20, big, nil},
		{"length larger than the first buffer", fmt.Sprint(len(big)), big, 1 << 20, big, nil},
		{"announced over the limit", "101", "", 100, "", errTooLarge},
		{"sent over the limit", "", strings.Repeat("y", 101), 100, "", errTooLarge},
		{"exactly the limit", "", strings.Repeat("y", 100), 100, strings.Repeat("y", 100), nil},
		{"cut short", "10", "hello", 100, "", io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := &upstream.Response{Status: 200, Body: io.NopCloser(strings.NewReader(c.body))}
			if c.cl != "" {
				resp.Header = upstream.Header{{Name: "Content-Length", Value: c.cl}}
			}
			got, err := readBody(resp, c.max)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("error: got %v, want %v", err, c.wantErr)
			}
			if err == nil && string(got) != c.want {
				t.Fatalf("body: got %d bytes, want %d", len(got), len(c.want))
			}
		})
	}
}

// notifyReader signals each Read on reads (dropping signals nobody waits
// for) before reading.
type notifyReader struct {
	io.ReadCloser
	reads chan<- struct{}
}

func (r notifyReader) Read(p []byte) (int, error) {
	select {
	case r.reads <- struct{}{}:
	default:
	}
	return r.ReadCloser.Read(p)
}
