package app_test

// The fault suite (issue 3): each case drives real HTTP between a client,
// the router and simulated backends, with the router's timers on a fake
// clock and seeded randomness, so every case is deterministic.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// faultDefaults: immediate failover (no retry delay) unless a case sets
// one, and a retry budget that never interferes unless a case sets one.
func faultDefaults(c *config.Config) {
	c.Retry.BaseDelay = 0
	c.Retry.Jitter = false
	c.Retry.BudgetRatio = 1
	c.Retry.BudgetMinPerSecond = 1000
	c.Request.FirstTokenTimeout = 30 * time.Second
	c.Request.IdleTimeout = 60 * time.Second
}

func faultEnv(t *testing.T, opts ...setupOption) *env {
	t.Helper()
	return start(t, append([]setupOption{withFakeClock(), withConfig(faultDefaults)}, opts...)...)
}

// waitEvent returns the next event of kind from a mock, skipping others.
func waitEvent(t *testing.T, b *testBackend, kind mock.EventKind) mock.Event {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-b.Mock.Events():
			if ev.Kind == kind && ev.Path != mock.RouteHealth && ev.Path != mock.RouteModels {
				return ev
			}
		case <-timeout.C:
			t.Fatalf("backend %s: no %s event within 10s", b.Name, kind)
		}
	}
}

// inference counts a mock's inference requests (not health probes).
func inference(b *testBackend) int64 {
	st := b.Mock.Stats()
	return st.ByPath[mock.RouteChat] + st.ByPath[mock.RouteCompletions] + st.ByPath[mock.RouteEmbeddings]
}

// sseStream is a raw streaming request read event by event.
type sseStream struct {
	resp *http.Response
	br   *bufio.Reader
}

func openStream(t *testing.T, ctx context.Context, e *env, body string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("stream request: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{resp: resp, br: bufio.NewReader(resp.Body)}
}

// next returns the next event's data, or an error (io.EOF at a clean end).
func (s *sseStream) next() (string, error) {
	var data []string
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			if line != "" || len(data) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(data) > 0 {
				return strings.Join(data, "\n"), nil
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, strings.TrimPrefix(v, " "))
		}
	}
}

// rest reads every remaining event and the error that ended the body.
func (s *sseStream) rest() ([]string, error) {
	var out []string
	for {
		d, err := s.next()
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
}

// content extracts the streamed text of chunk events, in order.
func content(events []string) string {
	var b strings.Builder
	for _, ev := range events {
		if i := strings.Index(ev, `"content":"`); i >= 0 {
			rest := ev[i+len(`"content":"`):]
			b.WriteString(rest[:strings.IndexByte(rest, '"')])
		}
	}
	return b.String()
}

func allTokens(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "tok%d ", i)
	}
	return b.String()
}

// Case 1: connection refused on one of two backends: every request still succeeds, on the other.
func TestFaultConnectionRefused(t *testing.T) {
	e := faultEnv(t, withDeadBackend("dead", "m"), withBackend("live", mock.Options{Models: []string{"m"}}))
	c := e.SDK()
	for i := 0; i < 20; i++ {
		var resp *http.Response
		_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		}, optResponse(&resp))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := resp.Header.Get("X-Continuum-Backend"); got != "live" {
			t.Fatalf("request %d served by %q, want live", i, got)
		}
	}
	if got := inference(e.Backends["live"]); got != 20 {
		t.Errorf("live backend requests: got %d, want 20", got)
	}
	dead := e.Backend("dead")
	if dead.Breaker != "open" {
		t.Errorf("dead backend breaker: got %s, want open after repeated refusals", dead.Breaker)
	}
	if dead.Failures != 5 {
		t.Errorf("dead backend failures: got %d, want 5 (then its breaker keeps it out)", dead.Failures)
	}
}

// Case 2: five consecutive 502s open the breaker at the fifth; the open time
// grows on each re-open and is capped.
func TestFaultBreakerOpensAndBacksOff(t *testing.T) {
	e := faultEnv(t, withConfig(func(c *config.Config) {
		c.Request.MaxRetries = 0
		c.CircuitBreaker.FailureThreshold = 5
		c.CircuitBreaker.FailureRateThreshold = 0
		c.CircuitBreaker.Timeout = 30 * time.Second
		c.CircuitBreaker.MaxTimeout = 120 * time.Second
		c.CircuitBreaker.Backoff = "exponential"
		c.Server.MaxRetryAfter = 0 // no cap: Retry-After shows the open time
	}), withBackend("bad", mock.Options{Models: []string{"m"}, ErrorStatus: 502}))
	bad := e.Backends["bad"]
	for i := 1; i <= 5; i++ {
		resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 502 {
			t.Fatalf("request %d: got %d, want the backend's 502", i, resp.StatusCode)
		}
		wantState := "closed"
		if i == 5 {
			wantState = "open"
		}
		if got := e.Backend("bad").Breaker; got != wantState {
			t.Fatalf("after failure %d: breaker %s, want %s", i, got, wantState)
		}
	}
	for _, open := range []time.Duration{30 * time.Second, 60 * time.Second, 120 * time.Second, 120 * time.Second} {
		calls := inference(bad)
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 503 || !strings.Contains(body, `"no_backend_available"`) {
			t.Fatalf("while open: got %d %s, want 503 no_backend_available", resp.StatusCode, body)
		}
		if got, want := resp.Header.Get("Retry-After"), fmt.Sprint(int(open.Seconds())); got != want {
			t.Fatalf("Retry-After while open: got %q, want %q", got, want)
		}
		if inference(bad) != calls {
			t.Fatal("an open breaker let a request through")
		}
		if until := e.Backend("bad").BreakerOpenUntil; until.Sub(e.Clock.Now()) != open {
			t.Fatalf("open for %v, want %v", until.Sub(e.Clock.Now()), open)
		}
		e.Clock.Advance(open)
		// The half-open probe fails and re-opens the breaker for longer.
		resp, _ = e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 502 || inference(bad) != calls+1 {
			t.Fatalf("half-open probe: got %d with %d calls, want one probe answered 502", resp.StatusCode, inference(bad)-calls)
		}
	}
}

// Case 3: a backend failing 30% of calls next to one failing 1% is ejected
// by the failure-rate policy, and only after the minimum number of calls.
func TestFaultFailureRateNeedsMinimumCalls(t *testing.T) {
	e := faultEnv(t, withConfig(func(c *config.Config) {
		c.Request.MaxRetries = 0
		c.CircuitBreaker.FailureThreshold = 0
		c.CircuitBreaker.FailureRateThreshold = 0.25
		c.CircuitBreaker.MinimumRequests = 20
		c.CircuitBreaker.Window = time.Minute
	}),
		withBackend("flaky", mock.Options{Models: []string{"m"}, ErrorStatus: 500, ErrorRate: 0.3, Seed: 7}),
		withBackend("solid", mock.Options{Models: []string{"m"}, ErrorStatus: 500, ErrorRate: 0.01, Seed: 7}))
	flaky, solid := e.Backends["flaky"], e.Backends["solid"]
	ejectedAt := -1
	for i := 0; i < 200; i++ {
		before := inference(flaky)
		e.Post("/v1/chat/completions", chatBody("m", false))
		if ejectedAt < 0 && e.Backend("flaky").Breaker == "open" {
			ejectedAt = int(inference(flaky))
		}
		if ejectedAt >= 0 && inference(flaky) != before && inference(flaky) > int64(ejectedAt) {
			t.Fatalf("flaky backend got traffic after it was ejected")
		}
	}
	if ejectedAt < 0 {
		t.Fatal("the 30% backend was never ejected")
	}
	if ejectedAt < 20 {
		t.Fatalf("ejected after %d calls, want at least the minimum of 20", ejectedAt)
	}
	t.Logf("30%% backend ejected after %d calls; 1%% backend served %d calls", ejectedAt, inference(solid))
	if got := e.Backend("solid").Breaker; got != "closed" {
		t.Fatalf("1%% backend breaker: got %s, want closed", got)
	}
}

// Case 4: 429 with Retry-After: 2 while another backend is free: immediate
// failover; the first backend rests for 2 s but is not marked unhealthy.
func TestFault429FailsOverAndCoolsDown(t *testing.T) {
	e := faultEnv(t, withConfig(func(c *config.Config) {
		c.HealthChecks.Enabled = true
		c.HealthChecks.Interval = time.Hour
		c.Retry.BaseDelay = time.Second // a 429 must not wait for it
	}),
		withBackend("busy", mock.Options{Models: []string{"m"}, ErrorStatus: 429, RetryAfter: "2"}),
		withBackend("free", mock.Options{Models: []string{"m"}}))
	busy := e.Backends["busy"]
	e.Logs.WaitFor(t, "backend health changed", "backend=busy", "to=ready")
	start := e.Clock.Now()
	resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
	if resp.StatusCode != 200 || resp.Header.Get("X-Continuum-Backend") != "free" {
		t.Fatalf("got %d from %q, want 200 from free", resp.StatusCode, resp.Header.Get("X-Continuum-Backend"))
	}
	if e.Clock.Now() != start {
		t.Fatal("the router waited on its clock before failing over")
	}
	b := e.Backend("busy")
	if b.CooldownUntil.Sub(start) != 2*time.Second {
		t.Fatalf("cooldown: got %v, want 2s", b.CooldownUntil.Sub(start))
	}
	if b.Health != "ready" || b.Breaker != "closed" || b.Failures != 0 {
		t.Fatalf("busy backend: health %s breaker %s failures %d; a 429 must not count against health", b.Health, b.Breaker, b.Failures)
	}
	for i := 0; i < 4; i++ {
		e.Post("/v1/chat/completions", chatBody("m", false))
	}
	if got := inference(busy); got != 1 {
		t.Fatalf("busy backend got %d requests during its cooldown, want 1", got)
	}
	e.Clock.Advance(2 * time.Second)
	for i := 0; i < 2; i++ {
		e.Post("/v1/chat/completions", chatBody("m", false))
	}
	if got := inference(busy); got != 2 {
		t.Fatalf("after the cooldown: busy backend requests %d, want 2", got)
	}
}

// Case 5: 429 with Retry-After: 120 and no alternative: the client gets 429
// with Retry-After, and the router does not wait. The first answer is the
// backend's own; the second is the router's during the cooldown, its
// Retry-After capped by server.max_retry_after (5s).
func TestFault429NoAlternative(t *testing.T) {
	e := faultEnv(t, withBackend("busy", mock.Options{Models: []string{"m"}, ErrorStatus: 429, RetryAfter: "120"}))
	for i, want := range []string{"120", "5"} {
		resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != want {
			t.Fatalf("request %d: got %d Retry-After %q, want 429 with %s", i, resp.StatusCode, resp.Header.Get("Retry-After"), want)
		}
		if !strings.Contains(body, `"error"`) {
			t.Fatalf("request %d: body %s is not an error envelope", i, body)
		}
	}
	if got := inference(e.Backends["busy"]); got != 1 {
		t.Fatalf("backend requests: got %d, want 1 (the second request is answered by the router during the cooldown)", got)
	}
}

// Case 5b: a short Retry-After and no alternative: the router waits it out
// (it is no longer than retry.max_delay) and asks the same backend again.
func TestFaultShortRetryAfterWaitedOut(t *testing.T) {
	e := faultEnv(t, withBackend("busy", mock.Options{Models: []string{"m"}, ErrorStatus: 429, RetryAfter: "2"}))
	busy := e.Backends["busy"]
	start := e.Clock.Now()
	done := make(chan *http.Response, 1)
	go func() {
		resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
		done <- resp
	}()
	waitEvent(t, busy, mock.EventRequest)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Clock.WaitForDeadline(ctx, start.Add(2*time.Second)); err != nil {
		t.Fatalf("the router does not wait for the Retry-After: %v", err)
	}
	busy.Mock.SetOptions(mock.Options{Name: "busy", Models: []string{"m"}, Clock: e.Clock}) // ready again
	e.Clock.Advance(2 * time.Second)
	resp := <-done
	if resp.StatusCode != 200 || inference(busy) != 2 {
		t.Fatalf("got %d after %d backend requests, want 200 after 2", resp.StatusCode, inference(busy))
	}
}

// Case 6: Retry-After as seconds, as an HTTP date, and malformed.
func TestFaultRetryAfterForms(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // the fake clock's start
	tests := []struct {
		name   string
		status int
		value  string
		want   time.Duration
	}{
		{"seconds", 429, "7", 7 * time.Second},
		{"http date", 429, start.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{"date in the past", 429, start.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"malformed", 429, "soon", time.Second}, // the default cooldown
		{"503 with seconds", 503, "5", 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// b answers once a rests: the request fails over at once.
			e := faultEnv(t, withBackend("a", mock.Options{Models: []string{"m"}, ErrorStatus: tt.status, RetryAfter: tt.value}),
				withBackend("b", mock.Options{Models: []string{"m"}}))
			resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
			if resp.StatusCode != 200 || resp.Header.Get("X-Continuum-Backend") != "b" {
				t.Fatalf("got %d from %q, want 200 from b", resp.StatusCode, resp.Header.Get("X-Continuum-Backend"))
			}
			b := e.Backend("a")
			var got time.Duration
			if !b.CooldownUntil.IsZero() {
				got = b.CooldownUntil.Sub(e.Clock.Now())
			}
			if got != tt.want {
				t.Fatalf("cooldown: got %v, want %v", got, tt.want)
			}
			if b.Failures != 0 || b.Breaker != "closed" {
				t.Fatalf("failures %d breaker %s: a capacity answer must not count as a failure", b.Failures, b.Breaker)
			}
		})
	}
}

// Case 7: headers sent, then no first token: the first-token timeout fires,
// the upstream request is cancelled, and the request is retried elsewhere
// with nothing sent to the client before.
func TestFaultFirstTokenTimeout(t *testing.T) {
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			opts := mock.Options{Models: []string{"m"}, HangAfterHeaders: true}
			if !stream {
				opts = mock.Options{Models: []string{"m"}, Hang: true}
			}
			e := faultEnv(t, withBackend("stuck", opts), withBackend("good", mock.Options{Models: []string{"m"}}))
			stuck := e.Backends["stuck"]
			type result struct {
				resp *http.Response
				body string
			}
			done := make(chan result, 1)
			go func() {
				resp, err := http.Post(e.URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody("m", stream)))
				if err != nil {
					done <- result{}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- result{resp, string(b)}
			}()
			waitEvent(t, stuck, mock.EventRequest)
			select {
			case <-done:
				t.Fatal("the client got an answer before the first-token timeout")
			default:
			}
			e.Clock.Advance(30 * time.Second)
			r := <-done
			if r.resp == nil || r.resp.StatusCode != 200 {
				t.Fatalf("got %v, want 200 after failover", r.resp)
			}
			if got := r.resp.Header.Get("X-Continuum-Backend"); got != "good" {
				t.Fatalf("served by %q, want good (headers must not be sent before the commit point)", got)
			}
			if !strings.Contains(r.body, "tok15") || (stream && !strings.HasSuffix(r.body, "data: [DONE]\n\n")) {
				t.Fatalf("incomplete answer: %s", r.body)
			}
			waitEvent(t, stuck, mock.EventCancelled)
			if got := e.Backend("stuck").Failures; got != 1 {
				t.Fatalf("stuck backend failures: got %d, want 1", got)
			}
		})
	}
}

// Case 8: the first SSE event is an error: fail over before commit.
func TestFaultFirstEventError(t *testing.T) {
	e := faultEnv(t, withBackend("erring", mock.Options{Models: []string{"m"}, FirstEventError: true}),
		withBackend("good", mock.Options{Models: []string{"m"}}))
	s := openStream(t, context.Background(), e, chatBody("m", true))
	if s.resp.StatusCode != 200 || s.resp.Header.Get("X-Continuum-Backend") != "good" {
		t.Fatalf("got %d from %q, want 200 from good", s.resp.StatusCode, s.resp.Header.Get("X-Continuum-Backend"))
	}
	events, err := s.rest()
	if err != io.EOF {
		t.Fatalf("stream ended with %v, want a clean end", err)
	}
	if got := content(events); got != allTokens(16) || events[len(events)-1] != "[DONE]" {
		t.Fatalf("got %q ending %q", got, events[len(events)-1])
	}
	for _, ev := range events {
		if strings.Contains(ev, `"error"`) {
			t.Fatalf("the backend's error event reached the client: %s", ev)
		}
	}
	if got := e.Backend("erring").Failures; got != 1 {
		t.Fatalf("erring backend failures: got %d, want 1", got)
	}
}

// assertAborted checks the end of a stream that failed after commit: the
// chunks before the failure, one SSE error event, no [DONE], and a
// connection closed without the final chunk.
func assertAborted(t *testing.T, s *sseStream, wantTokens int, wantType string) {
	t.Helper()
	events, err := s.rest()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("stream ended with %v, want the connection closed without the final chunk", err)
	}
	if len(events) == 0 {
		t.Fatal("no events")
	}
	last := events[len(events)-1]
	if !strings.Contains(last, `"error"`) || !strings.Contains(last, `"`+wantType+`"`) || !strings.Contains(last, `"stream_interrupted"`) {
		t.Fatalf("last event: got %s, want an error event of type %s", last, wantType)
	}
	for _, ev := range events {
		if ev == "[DONE]" {
			t.Fatal("a failed stream must not end with [DONE]")
		}
	}
	if got := content(events[:len(events)-1]); got != allTokens(wantTokens) {
		t.Fatalf("content before the error: got %q, want %q (no duplicates, no loss)", got, allTokens(wantTokens))
	}
}

// Case 9: the upstream connection is cut after N chunks: no retry, no
// duplicated tokens; the client gets the N chunks, an SSE error event and no [DONE].
func TestFaultStreamCut(t *testing.T) {
	e := faultEnv(t, withBackend("cut", mock.Options{Models: []string{"m"}, CutAfter: 3}),
		withBackend("spare", mock.Options{Models: []string{"m"}}))
	s := openStream(t, context.Background(), e, chatBody("m", true))
	if s.resp.StatusCode != 200 || s.resp.Header.Get("X-Continuum-Backend") != "cut" {
		t.Fatalf("got %d from %q", s.resp.StatusCode, s.resp.Header.Get("X-Continuum-Backend"))
	}
	assertAborted(t, s, 3, "upstream_error")
	if got := inference(e.Backends["spare"]); got != 0 {
		t.Fatalf("spare backend got %d requests; nothing may be retried after the commit point", got)
	}
	e.Logs.WaitFor(t, "msg=request", "aborted=true")
	if got := e.Backend("cut").Failures; got != 1 {
		t.Fatalf("cut backend failures: got %d, want 1", got)
	}

	// The official SDK reports the failure instead of a short answer.
	e = faultEnv(t, withBackend("cut", mock.Options{Models: []string{"m"}, CutAfter: 3}))
	sdk := e.SDK()
	stream := sdk.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if stream.Err() == nil {
		t.Fatal("SDK stream: got no error for a cut stream")
	}
}

// Case 10: the stream stalls midway: the idle timeout ends it as in case 9.
func TestFaultStreamStall(t *testing.T) {
	e := faultEnv(t, withConfig(func(c *config.Config) {
		// The router may still be finishing its write of the third event
		// when the fake clock jumps: without a write timeout the jump cannot
		// end the stream as a slow client's, and the idle deadline then
		// counts from the write's end (the next jump passes it).
		c.Server.ClientWriteTimeout = 0
	}), withBackend("stall", mock.Options{Models: []string{"m"}, StallAfter: 3}))
	stall := e.Backends["stall"]
	s := openStream(t, context.Background(), e, chatBody("m", true))
	var got []string
	for len(got) < 3 {
		d, err := s.next()
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		got = append(got, d)
	}
	if content(got) != allTokens(3) {
		t.Fatalf("got %q", content(got))
	}
	type event struct {
		data string
		err  error
	}
	next := make(chan event, 1)
	go func() { d, err := s.next(); next <- event{d, err} }()
	var ev event
	for jumps := 1; ; jumps++ {
		e.Clock.Advance(60 * time.Second)
		select {
		case ev = <-next:
		case <-time.After(100 * time.Millisecond):
			if jumps < 50 {
				continue
			}
			t.Fatal("no event after 50 idle timeouts")
		}
		break
	}
	if ev.err != nil || !strings.Contains(ev.data, `"upstream_timeout"`) {
		t.Fatalf("after the idle timeout: got %q %v, want an upstream_timeout error event", ev.data, ev.err)
	}
	if _, err := s.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after the error event: got %v, want the connection closed", err)
	}
	waitEvent(t, stall, mock.EventCancelled)
}

// Case 11: the client disconnects mid-stream: the backend sees its request
// cancelled within 100 ms; no retry; not counted as a backend failure.
func TestFaultClientDisconnectMidStream(t *testing.T) {
	gate := func(ctx context.Context, chunk int) error {
		if chunk >= 2 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	e := faultEnv(t, withBackend("a", mock.Options{Models: []string{"m"}, Gate: gate}),
		withBackend("b", mock.Options{Models: []string{"m"}, Gate: gate}))
	ctx, cancel := context.WithCancel(context.Background())
	s := openStream(t, ctx, e, chatBody("m", true))
	served := e.Backends[s.resp.Header.Get("X-Continuum-Backend")]
	other := e.Backends["a"]
	if served == other {
		other = e.Backends["b"]
	}
	for i := 0; i < 2; i++ {
		if _, err := s.next(); err != nil {
			t.Fatal(err)
		}
	}
	// Drop events seen so far, then hang up.
	for len(served.Mock.Events()) > 0 {
		<-served.Mock.Events()
	}
	hungUp := time.Now()
	cancel()
	waitEvent(t, served, mock.EventCancelled)
	took := time.Since(hungUp)
	t.Logf("backend saw the cancellation %v after the client hung up", took)
	if took > 100*time.Millisecond {
		t.Errorf("backend saw the cancellation after %v, want within 100ms", took)
	}
	e.Logs.WaitFor(t, "msg=request", "error=client_cancel")
	if got := inference(other); got != 0 {
		t.Fatalf("other backend got %d requests; a client disconnect must not be retried", got)
	}
	b := e.Backend(served.Name)
	if b.Failures != 0 || b.Breaker != "closed" || b.InFlight != 0 {
		t.Fatalf("served backend: failures %d breaker %s in flight %d; a disconnect must not count", b.Failures, b.Breaker, b.InFlight)
	}
}

// Case 12: the client disconnects while the router waits for a first token
// or in a backoff: the upstream request is cancelled and nothing more is tried.
func TestFaultClientDisconnectBeforeCommit(t *testing.T) {
	t.Run("waiting for the first token", func(t *testing.T) {
		e := faultEnv(t, withBackend("slow", mock.Options{Models: []string{"m"}, HangAfterHeaders: true}),
			withBackend("other", mock.Options{Models: []string{"m"}}))
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/chat/completions", strings.NewReader(chatBody("m", true)))
			_, err := http.DefaultClient.Do(req)
			errc <- err
		}()
		waitEvent(t, e.Backends["slow"], mock.EventRequest)
		cancel()
		if err := <-errc; err == nil {
			t.Fatal("the client got a response")
		}
		waitEvent(t, e.Backends["slow"], mock.EventCancelled)
		e.Logs.WaitFor(t, "msg=request", "error=client_cancel")
		if got := inference(e.Backends["other"]); got != 0 {
			t.Fatalf("other backend got %d requests after the client left", got)
		}
		if b := e.Backend("slow"); b.Failures != 0 {
			t.Fatalf("slow backend failures: got %d, want 0", b.Failures)
		}
	})
	t.Run("in a retry backoff", func(t *testing.T) {
		e := faultEnv(t, withConfig(func(c *config.Config) { c.Retry.BaseDelay = 5 * time.Second }),
			withBackend("failing", mock.Options{Models: []string{"m"}, ErrorStatus: 500}),
			withBackend("other", mock.Options{Models: []string{"m"}}))
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/chat/completions", strings.NewReader(chatBody("m", false)))
			_, err := http.DefaultClient.Do(req)
			errc <- err
		}()
		e.Logs.WaitFor(t, "failing over", "backend=failing")
		cancel()
		<-errc
		e.Logs.WaitFor(t, "msg=request", "error=client_cancel")
		if got := inference(e.Backends["other"]); got != 0 {
			t.Fatalf("other backend got %d requests after the client left during the backoff", got)
		}
	})
}

// Case 13: a half-open probe on a long stream is resolved at its first
// token; the breaker never stays stuck half-open.
func TestFaultHalfOpenProbeOnLongStream(t *testing.T) {
	release := make(chan struct{})
	e := faultEnv(t, withConfig(func(c *config.Config) {
		c.Request.MaxRetries = 0
		c.CircuitBreaker.FailureThreshold = 1
		c.CircuitBreaker.Timeout = 30 * time.Second
		c.CircuitBreaker.HalfOpenMaxRequests = 1
	}), withBackend("a", mock.Options{Models: []string{"m"}, ErrorStatus: 500}))
	a := e.Backends["a"]
	if resp, _ := e.Post("/v1/chat/completions", chatBody("m", false)); resp.StatusCode != 500 {
		t.Fatalf("got %d, want 500", resp.StatusCode)
	}
	if e.Backend("a").Breaker != "open" {
		t.Fatal("breaker did not open")
	}
	a.Mock.SetOptions(mock.Options{Name: "a", Models: []string{"m"}, Clock: e.Clock, Gate: func(ctx context.Context, chunk int) error {
		if chunk >= 1 {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}})
	e.Clock.Advance(30 * time.Second)
	probe := openStream(t, context.Background(), e, chatBody("m", true))
	if _, err := probe.next(); err != nil {
		t.Fatalf("probe stream: %v", err)
	}
	if got := e.Backend("a").Breaker; got != "closed" {
		t.Fatalf("breaker after the probe's first token: got %s, want closed", got)
	}
	// While the probe stream is still running, other requests get through.
	resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
	if resp.StatusCode != 200 {
		t.Fatalf("request during the probe stream: got %d, want 200", resp.StatusCode)
	}
	close(release)
	events, err := probe.rest()
	if err != io.EOF || events[len(events)-1] != "[DONE]" {
		t.Fatalf("probe stream ended with %v", err)
	}
}

// Case 14: every backend returns 503: requests to backends stay within the
// retry budget; clients get a fast 503 with Retry-After.
func TestFaultAllBackends503(t *testing.T) {
	budget := func(c *config.Config) {
		c.Retry.MaxAttempts = 3
		c.Request.MaxRetries = 2
		c.Retry.BudgetRatio = 0.2
		c.Retry.BudgetMinPerSecond = 0
		c.Retry.BudgetWindow = 10 * time.Second
	}
	backends := []setupOption{
		withBackend("a", mock.Options{Models: []string{"m"}, ErrorStatus: 503}),
		withBackend("b", mock.Options{Models: []string{"m"}, ErrorStatus: 503}),
		withBackend("c", mock.Options{Models: []string{"m"}, ErrorStatus: 503}),
	}
	total := func(e *env) int64 {
		return inference(e.Backends["a"]) + inference(e.Backends["b"]) + inference(e.Backends["c"])
	}
	t.Run("retry budget", func(t *testing.T) {
		e := faultEnv(t, append(backends, withConfig(budget), withConfig(func(c *config.Config) { c.CircuitBreaker.Enabled = false }))...)
		start := e.Clock.Now()
		for i := 0; i < 100; i++ {
			resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("request %d: got %d Retry-After %q, want 503 with Retry-After", i, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
		}
		calls := total(e)
		t.Logf("100 client requests made %d backend calls", calls)
		if calls > 120 {
			t.Fatalf("backend calls: got %d, want at most 120 (100 requests + a 20%% retry budget)", calls)
		}
		if calls <= 100 {
			t.Fatalf("backend calls: got %d, want some retries within the budget", calls)
		}
		if e.Clock.Now() != start {
			t.Fatal("the router waited on its clock")
		}
	})
	t.Run("breakers open", func(t *testing.T) {
		e := faultEnv(t, append(backends, withConfig(budget))...)
		for i := 0; i < 40; i++ {
			e.Post("/v1/chat/completions", chatBody("m", false))
		}
		calls := total(e)
		for i := 0; i < 20; i++ {
			resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
			if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "no_backend_available") {
				t.Fatalf("got %d %s, want the router's 503 with Retry-After", resp.StatusCode, body)
			}
		}
		if total(e) != calls {
			t.Fatalf("backend calls grew from %d to %d with every breaker open", calls, total(e))
		}
	})
}

// Case 15: 400 and 401 from a backend are passed through unchanged, never
// retried, and leave the backend's health alone.
func TestFaultClientErrorsPassThrough(t *testing.T) {
	for _, status := range []int{400, 401} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := faultEnv(t, withBackend("strict", mock.Options{Models: []string{"m"}, ErrorStatus: status}),
				withBackend("other", mock.Options{Models: []string{"m"}}))
			direct, err := http.Post(e.Backends["strict"].URL+"/v1/chat/completions", "application/json", strings.NewReader(chatBody("m", false)))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := io.ReadAll(direct.Body)
			direct.Body.Close()
			before := inference(e.Backends["strict"])

			resp, body := e.Post("/v1/chat/completions", chatBody("m", false))
			if resp.StatusCode != status || !bytes.Equal([]byte(body), want) {
				t.Fatalf("got %d %s, want %d %s unchanged", resp.StatusCode, body, status, want)
			}
			if got := inference(e.Backends["other"]); got != 0 {
				t.Fatalf("other backend got %d requests; a backend's %d must not be retried", got, status)
			}
			if inference(e.Backends["strict"]) != before+1 {
				t.Fatal("strict backend was not asked exactly once")
			}
			if b := e.Backend("strict"); b.Failures != 0 || b.Breaker != "closed" || b.ErrorRate != 0 {
				t.Fatalf("strict backend: failures %d breaker %s error rate %v; a 4xx must not count", b.Failures, b.Breaker, b.ErrorRate)
			}
			var apiErr *openai.Error
			e = faultEnv(t, withBackend("strict", mock.Options{Models: []string{"m"}, ErrorStatus: status}))
			sdk := e.SDK()
			_, err = sdk.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
				t.Fatalf("SDK error: got %v, want *openai.Error with status %d", err, status)
			}
		})
	}
}

// Case 16: a backend warming up (503 on its health endpoint) then ready:
// traffic resumes without a restart.
func TestFaultWarmingUpThenReady(t *testing.T) {
	e := faultEnv(t, withConfig(func(c *config.Config) {
		c.HealthChecks.Enabled = true
		c.HealthChecks.Interval = 30 * time.Second
		c.HealthChecks.WarmupCheckInterval = time.Second
		c.HealthChecks.HealthyThreshold = 1
	}),
		withBackend("loading", mock.Options{Models: []string{"m"}, WarmupFor: time.Minute}),
		withBackend("ready", mock.Options{Models: []string{"m"}}))
	e.Logs.WaitFor(t, "backend health changed", "backend=loading", "to=warming_up")
	e.Logs.WaitFor(t, "backend health changed", "backend=ready", "to=ready")
	for i := 0; i < 6; i++ {
		resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 200 || resp.Header.Get("X-Continuum-Backend") != "ready" {
			t.Fatalf("during warm-up: got %d from %q, want 200 from ready", resp.StatusCode, resp.Header.Get("X-Continuum-Backend"))
		}
	}
	if got := inference(e.Backends["loading"]); got != 0 {
		t.Fatalf("warming backend got %d requests", got)
	}
	e.Clock.Advance(time.Minute)
	e.Logs.WaitFor(t, "backend health changed", "backend=loading", "from=warming_up", "to=ready")
	var served atomic.Int32
	for i := 0; i < 6; i++ {
		resp, _ := e.Post("/v1/chat/completions", chatBody("m", false))
		if resp.StatusCode != 200 {
			t.Fatalf("after warm-up: got %d", resp.StatusCode)
		}
		if resp.Header.Get("X-Continuum-Backend") == "loading" {
			served.Add(1)
		}
	}
	if served.Load() != 3 {
		t.Fatalf("after warm-up the backend served %d of 6 requests, want 3 (round robin)", served.Load())
	}
}

// optResponse captures the raw HTTP response of an SDK call.
func optResponse(r **http.Response) option.RequestOption { return option.WithResponseInto(r) }
