package bench_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/continuumhq/continuum/internal/bench"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/mock"
)

func TestRunCountsErrorsAsTheMockInjectsThem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stream bool
	}{{"plain", false}, {"stream", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, url := startMock(t, mock.Options{ErrorStatus: 500, ErrorRate: 0.1, Seed: 7})
			res := run(t, bench.Config{URL: url, Model: mock.DefaultModel, Requests: 1000, Concurrency: 8, Stream: tt.stream})

			st := m.Stats()
			tot := res.Totals
			if tot.Sent != 1000 || tot.Requests != 1000 {
				t.Errorf("sent %d of %d requests, want 1000 of 1000", tot.Sent, tot.Requests)
			}
			if tot.Failed != st.Errors {
				t.Errorf("failed: got %d, want the mock's error count %d", tot.Failed, st.Errors)
			}
			if tot.Succeeded != st.Completed {
				t.Errorf("succeeded: got %d, want the mock's completed count %d", tot.Succeeded, st.Completed)
			}
			if got := res.Errors[bench.HTTPKind(500)]; got != st.Errors || len(res.Errors) != 1 {
				t.Errorf("errors by kind: got %v, want only http_500: %d", res.Errors, st.Errors)
			}
			if got := res.Statuses[500]; got != st.Errors {
				t.Errorf("status 500: got %d, want %d", got, st.Errors)
			}
			if got := res.Statuses[200]; got != st.Completed {
				t.Errorf("status 200: got %d, want %d", got, st.Completed)
			}
			if rate := 1 - res.Totals.SuccessRate; rate < 0.07 || rate > 0.13 {
				t.Errorf("error rate: got %.3f, want about 0.10", rate)
			}
			if got, want := tot.OutputTokens, tot.Succeeded*mock.DefaultTokens; got != want {
				t.Errorf("output tokens: got %d, want %d (%d per completion)", got, want, mock.DefaultTokens)
			}
			if got := res.Latency.Count; got != tot.Succeeded {
				t.Errorf("latency samples: got %d, want one per success (%d)", got, tot.Succeeded)
			}
			if tt.stream {
				if res.TTFT == nil || res.TTFT.Count != tot.Succeeded {
					t.Errorf("ttft: got %+v, want %d samples", res.TTFT, tot.Succeeded)
				} else if got, want := res.ITL.Count, tot.Succeeded*(mock.DefaultTokens-1); got != want {
					t.Errorf("inter-token gaps: got %d, want %d", got, want)
				}
			} else if res.TTFT != nil || res.ITL != nil {
				t.Errorf("ttft and itl without streaming: got %v and %v, want nil", res.TTFT, res.ITL)
			}
		})
	}
}

// The tests that measure real time (time to first token, the rate achieved)
// do not call t.Parallel: the parallel tests run after them, so that they
// do not compete with them for the CPU.

func TestRunMeasuresTimeToFirstToken(t *testing.T) {
	// A measurement tool measured against real time: the mock waits 100ms
	// before its first token. Kept to 20 requests.
	const ttft = 100 * time.Millisecond
	_, url := startMock(t, mock.Options{TTFT: ttft})
	res := run(t, bench.Config{URL: url, Model: mock.DefaultModel, Requests: 20, Concurrency: 4, Stream: true})
	if res.Totals.Succeeded != 20 {
		t.Fatalf("succeeded: got %d, want 20 (errors %v)", res.Totals.Succeeded, res.Errors)
	}
	if got := res.TTFT.Quantile(0.5); got < ttft || got > ttft+50*time.Millisecond {
		t.Errorf("p50 ttft: got %v, want within [%v, %v]", got, ttft, ttft+50*time.Millisecond)
	}
	if got := res.Latency.Quantile(0.5); got < ttft {
		t.Errorf("p50 latency: got %v, want at least the ttft %v", got, ttft)
	}
}

func TestRunStopsAtExactlyTheRequestCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  bench.Config
	}{
		{"closed loop", bench.Config{Concurrency: 8, Requests: 137}},
		{"closed loop, one worker", bench.Config{Requests: 25}},
		{"open loop", bench.Config{Rate: 2000, Requests: 137}},
		{"open loop with warm-up", bench.Config{Rate: 2000, Requests: 50, Warmup: 10 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, url := startMock(t, mock.Options{})
			cfg := tt.cfg
			cfg.URL, cfg.Model = url, mock.DefaultModel
			res := run(t, cfg)
			want := int64(cfg.Requests)
			if res.Totals.Sent != want || res.Totals.Succeeded != want {
				t.Errorf("sent %d, succeeded %d, want %d and %d", res.Totals.Sent, res.Totals.Succeeded, want, want)
			}
			if got := m.Stats().ByPath[mock.RouteChat]; got != want+res.Totals.Warmup {
				t.Errorf("mock saw %d requests, want %d measured + %d warm-up", got, want, res.Totals.Warmup)
			}
		})
	}
}

func TestAPIKeyAndClient(t *testing.T) {
	t.Parallel()
	const key = "sk-bench-secret"
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	tests := []struct {
		name   string
		key    string
		client *http.Client
		want   string // the only error kind, or "" for success
	}{
		{"key sent", key, nil, ""},
		{"key sent by the caller's client", key, &http.Client{Transport: tr}, ""},
		{"no key", "", nil, bench.HTTPKind(http.StatusUnauthorized)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startMock(t, mock.Options{RequireAPIKey: key})
			res := run(t, bench.Config{URL: url, Model: mock.DefaultModel, APIKey: tt.key, Client: tt.client, Requests: 5, Concurrency: 2})
			if tt.want == "" {
				if res.Totals.Succeeded != 5 {
					t.Errorf("succeeded: got %d, want 5 (errors %v)", res.Totals.Succeeded, res.Errors)
				}
				return
			}
			if got := res.Errors[tt.want]; got != 5 {
				t.Errorf("errors: got %v, want %s: 5", res.Errors, tt.want)
			}
		})
	}
}

func TestClosedLoopNeverExceedsConcurrency(t *testing.T) {
	t.Parallel()
	counter := &inFlightCounter{next: mock.New(mock.Options{TTFT: 2 * time.Millisecond})}
	url := startHandler(t, counter)
	res := run(t, bench.Config{URL: url, Model: mock.DefaultModel, Concurrency: 4, Requests: 200})
	peak, seen := counter.stats()
	if peak > 4 || peak < 1 {
		t.Errorf("peak requests in flight: got %d, want 1..4", peak)
	}
	if seen != 200 || res.Totals.Succeeded != 200 {
		t.Errorf("server saw %d requests and %d succeeded, want 200 and 200", seen, res.Totals.Succeeded)
	}
}

func TestOpenLoopRealTimeRate(t *testing.T) {
	// Real time, as the rate achieved is what is measured; the count is
	// nonetheless exact, because overdue arrivals are sent at once rather
	// than skipped.
	m, url := startMock(t, mock.Options{})
	res := run(t, bench.Config{URL: url, Model: mock.DefaultModel, Rate: 200, Duration: time.Second})
	got := m.Stats().ByPath[mock.RouteChat]
	if got < 190 || got > 210 {
		t.Errorf("requests received: got %d, want 200±10", got)
	}
	if res.Totals.Sent != got {
		t.Errorf("sent: got %d, want the %d the server received", res.Totals.Sent, got)
	}
	if r := res.Totals.SendRate; r < 190 || r > 210 {
		t.Errorf("send rate: got %.1f/s, want 200±10", r)
	}
	if res.Mode != bench.ModeOpen {
		t.Errorf("mode: got %q, want %q", res.Mode, bench.ModeOpen)
	}
}

func TestOpenLoopOnFakeClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		poisson  bool
		seed     uint64
		min, max int64
	}{
		{"fixed rate", false, 0, 200, 200},
		{"poisson", true, 1, 160, 240},
		{"poisson, another seed", true, 99, 160, 240},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startMock(t, mock.Options{})
			cfg := bench.Config{URL: url, Model: mock.DefaultModel, Rate: 200, Poisson: tt.poisson, Seed: tt.seed, Duration: time.Second}
			res := runOnFakeClock(t, clock.NewFake(time.Time{}), cfg)
			if got := res.Totals.Sent; got < tt.min || got > tt.max {
				t.Errorf("sent in one second at 200/s: got %d, want %d..%d", got, tt.min, tt.max)
			}
			if res.Totals.Failed != 0 || res.Totals.Dropped != 0 {
				t.Errorf("failed %d, dropped %d, want none (errors %v)", res.Totals.Failed, res.Totals.Dropped, res.Errors)
			}
			if got := res.Elapsed; got != time.Second {
				t.Errorf("elapsed: got %v, want the 1s schedule", got)
			}
			if !tt.poisson {
				return
			}
			again := runOnFakeClock(t, clock.NewFake(time.Time{}), cfg)
			if again.Totals.Sent != res.Totals.Sent {
				t.Errorf("same seed, second run: sent %d, want %d as in the first", again.Totals.Sent, res.Totals.Sent)
			}
		})
	}
}

func TestOpenLoopDropsBeyondMaxInFlight(t *testing.T) {
	t.Parallel()
	// The mock's first token waits 2s of fake time, so the first request is
	// still running when the next arrivals of the second are due. Until the
	// last arrival (990ms) the fake time moves only once both the scheduler
	// and the mock have set their timers, so arrivals 2 to 99 find the first
	// request in flight. The 100th is due at 990ms, the last move before the
	// mock's 2s: the scheduler may handle it after the mock has answered, so
	// it may be sent.
	fc := clock.NewFake(time.Time{})
	lastArrival := fc.Now().Add(990 * time.Millisecond)
	_, url := startMock(t, mock.Options{TTFT: 2 * time.Second, Clock: fc})
	res := runOnFakeClockWaiting(t, fc, bench.Config{URL: url, Model: mock.DefaultModel, Rate: 100, Duration: time.Second, MaxInFlight: 1},
		func(now time.Time) int {
			if now.Before(lastArrival) {
				return 2
			}
			return 1
		})
	tot := res.Totals
	if tot.Requests != 100 || tot.Sent+tot.Dropped != 100 {
		t.Errorf("requests %d = sent %d + dropped %d, want 100", tot.Requests, tot.Sent, tot.Dropped)
	}
	if tot.Dropped < 98 {
		t.Errorf("dropped: got %d, want 98 or 99", tot.Dropped)
	}
	if tot.Succeeded != tot.Sent {
		t.Errorf("succeeded: got %d, want all %d sent (errors %v)", tot.Succeeded, tot.Sent, res.Errors)
	}
	if got := res.Latency.Max; got < 2*time.Second {
		t.Errorf("latency: got %v, want at least the mock's 2s", got)
	}
	var dropped int64
	for _, s := range res.Series {
		dropped += s.Dropped
	}
	if dropped != tot.Dropped {
		t.Errorf("dropped in the time series: got %d, want %d", dropped, tot.Dropped)
	}
}

func TestWarmupIsLeftOut(t *testing.T) {
	t.Parallel()
	fc := clock.NewFake(time.Time{})
	counter := &inFlightCounter{next: mock.New(mock.Options{})}
	url := startHandler(t, counter)
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	type outcome struct {
		res *bench.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := bench.Run(ctx, bench.Config{URL: url, Model: mock.DefaultModel, Warmup: time.Second, Duration: time.Second, Clock: fc})
		done <- outcome{res, err}
	}()
	// The worker spins while the fake time stands still: wait for requests
	// in each phase, then move the time on.
	awaitRequests := func(n int) {
		t.Helper()
		if err := counter.awaitSeen(ctx, n); err != nil {
			t.Fatalf("server saw fewer than %d requests within %v", n, safetyTimeout)
		}
	}
	awaitRequests(5)
	fc.Advance(time.Second)
	_, atWarmupEnd := counter.stats()
	// One request sent during the warm-up may reach the server only now
	// (the loop has one in flight): wait for one more than the five measured.
	awaitRequests(atWarmupEnd + 6)
	fc.Advance(time.Second)
	o := <-done
	if o.err != nil {
		t.Fatalf("Run: %v", o.err)
	}
	_, seen := counter.stats()
	tot := o.res.Totals
	if tot.Warmup < 5 || tot.Sent < 5 {
		t.Errorf("warm-up %d and measured %d requests, want at least 5 of each", tot.Warmup, tot.Sent)
	}
	if got := tot.Warmup + tot.Sent; got != int64(seen) {
		t.Errorf("warm-up + measured = %d, want the %d requests the server saw", got, seen)
	}
	if o.res.Latency.Count != tot.Succeeded {
		t.Errorf("latency samples: got %d, want %d (warm-up left out)", o.res.Latency.Count, tot.Succeeded)
	}
}

// sseHandler answers every request with the given events, each followed by
// a blank line, and nothing else.
func sseHandler(events ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			fmt.Fprintf(w, "%s\n\n", e)
			w.(http.Flusher).Flush()
		}
	})
}

func TestStreamTokenCounting(t *testing.T) {
	t.Parallel()
	role := `data: {"choices":[{"delta":{"role":"assistant","content":""},"finish_reason":null}]}`
	tok := func(s string) string {
		return `data: {"choices":[{"delta":{"content":"` + s + `"},"finish_reason":null}]}`
	}
	finish := `data: {"choices":[{"delta":{},"finish_reason":"stop"}]}`
	usage := `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":42,"total_tokens":45}}`
	tests := []struct {
		name       string
		events     []string
		wantTokens int64
		wantGaps   int64
	}{
		{"without usage: content events counted", []string{role, tok("a"), tok("b"), tok("c"), finish, "data: [DONE]"}, 3, 2},
		{"usage wins", []string{role, tok("a"), tok("b"), finish, usage, "data: [DONE]"}, 42, 1},
		{"keep-alive comments ignored", []string{": ping", tok("a"), ": ping", tok("b"), "data: [DONE]"}, 2, 1},
		{"finish in the last token event", []string{tok("a"), `data: {"choices":[{"delta":{"content":"b"},"finish_reason":"length"}]}`, "data: [DONE]"}, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startHandler(t, sseHandler(tt.events...))
			res := run(t, bench.Config{URL: url, Model: "m", Requests: 3, Stream: true})
			if res.Totals.Succeeded != 3 {
				t.Fatalf("succeeded: got %d, want 3 (errors %v)", res.Totals.Succeeded, res.Errors)
			}
			if got, want := res.Totals.OutputTokens, 3*tt.wantTokens; got != want {
				t.Errorf("output tokens: got %d, want %d", got, want)
			}
			if got, want := res.ITL.Count, 3*tt.wantGaps; got != want {
				t.Errorf("inter-token gaps: got %d, want %d", got, want)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		url     func(t *testing.T) string
		stream  bool
		timeout time.Duration
		want    string
	}{
		{"http status", func(t *testing.T) string { _, u := startMock(t, mock.Options{ErrorStatus: 503}); return u }, false, 0, "http_503"},
		{"connection refused", deadAddress, false, 0, bench.KindConnect},
		{"hang", func(t *testing.T) string { _, u := startMock(t, mock.Options{Hang: true}); return u }, false, 50 * time.Millisecond, bench.KindTimeout},
		{"stream stalls", func(t *testing.T) string { _, u := startMock(t, mock.Options{StallAfter: 2}); return u }, true, 50 * time.Millisecond, bench.KindTimeout},
		{"stream cut", func(t *testing.T) string { _, u := startMock(t, mock.Options{CutAfter: 3}); return u }, true, 0, bench.KindStreamError},
		{"stream error event", func(t *testing.T) string { _, u := startMock(t, mock.Options{FirstEventError: true}); return u }, true, 0, bench.KindStreamError},
		{"empty stream", func(t *testing.T) string { _, u := startMock(t, mock.Options{EmptyStream: true}); return u }, true, 0, bench.KindStreamError},
		{"stream without [DONE]", func(t *testing.T) string {
			return startHandler(t, sseHandler(`data: {"choices":[{"delta":{"content":"a"}}]}`))
		}, true, 0, bench.KindStreamError},
		{"connection closed before the response", func(t *testing.T) string {
			return startHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) }))
		}, false, 0, bench.KindReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := run(t, bench.Config{URL: tt.url(t), Model: mock.DefaultModel, Requests: 3, Stream: tt.stream, Timeout: tt.timeout})
			if res.Totals.Failed != 3 || res.Totals.Succeeded != 0 {
				t.Errorf("failed %d, succeeded %d, want 3 and 0", res.Totals.Failed, res.Totals.Succeeded)
			}
			if got := res.Errors[tt.want]; got != 3 || len(res.Errors) != 1 {
				t.Errorf("errors by kind: got %v, want only %s: 3", res.Errors, tt.want)
			}
		})
	}
}

func TestRunInterruptedByContext(t *testing.T) {
	t.Parallel()
	m, url := startMock(t, mock.Options{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for e := range m.Events() {
			if e.Kind == mock.EventRequest {
				cancel()
				return
			}
		}
	}()
	res, err := bench.Run(ctx, bench.Config{URL: url, Model: mock.DefaultModel, Concurrency: 2, Duration: time.Hour})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.Interrupted {
		t.Error("interrupted: got false, want true")
	}
	if res.Totals.Failed != 0 || res.Totals.Cancelled == 0 {
		t.Errorf("failed %d, cancelled %d, want 0 and at least 1", res.Totals.Failed, res.Totals.Cancelled)
	}
}

func TestProgressIsWrittenEveryInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tty    bool
		prefix string
		suffix string
	}{
		{"plain lines", false, "[", "\n"},
		{"terminal", true, "\r\x1b[2K[", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, url := startMock(t, mock.Options{})
			fc := clock.NewFake(time.Time{})
			out := newLineWriter()
			ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := bench.Run(ctx, bench.Config{URL: url, Model: mock.DefaultModel, Duration: 3 * time.Second,
					Progress: out, ProgressTTY: tt.tty, ProgressInterval: time.Second, Clock: fc})
				done <- err
			}()
			for i := 1; i <= 3; i++ {
				if err := fc.WaitForTimers(ctx, 1); err != nil {
					t.Fatalf("progress timer %d never set: %v", i, err)
				}
				fc.Advance(time.Second)
				out.await(t)
				writes := out.all()
				if got := len(writes); got != i {
					t.Fatalf("after %ds: got %d progress writes, want %d", i, got, i)
				}
				line := writes[i-1]
				if !strings.HasPrefix(line, tt.prefix) || !strings.HasSuffix(line, tt.suffix) || !strings.Contains(line, "requests ") {
					t.Errorf("progress write %d: got %q, want %q…requests…%q", i, line, tt.prefix, tt.suffix)
				}
				if want := fmt.Sprintf("%.1fs]", float64(i)); !strings.Contains(line, want) {
					t.Errorf("progress write %d: got %q, want the elapsed time %q", i, line, want)
				}
			}
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			writes := out.all()
			last := writes[len(writes)-1]
			if !strings.Contains(last, "done") || !strings.HasSuffix(last, "\n") {
				t.Errorf("final progress write: got %q, want a line marked done", last)
			}
		})
	}
}

func TestRunRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  bench.Config
		want string
	}{
		{"no url", bench.Config{Model: "m"}, "url is required"},
		{"no model", bench.Config{URL: "http://x"}, "model is required"},
		{"bad scheme", bench.Config{URL: "ftp://x", Model: "m"}, "want http://"},
		{"both loops", bench.Config{URL: "http://x", Model: "m", Concurrency: 2, Rate: 5}, "not both"},
		{"poisson without rate", bench.Config{URL: "http://x", Model: "m", Poisson: true}, "poisson arrivals need a rate"},
		{"streamed embeddings", bench.Config{URL: "http://x", Model: "m", Endpoint: "embeddings", Stream: true}, "does not stream"},
		{"unknown endpoint", bench.Config{URL: "http://x", Model: "m", Endpoint: "images"}, "endpoint \"images\""},
		{"negative duration", bench.Config{URL: "http://x", Model: "m", Duration: -time.Second}, "duration -1s is negative"},
		{"negative requests", bench.Config{URL: "http://x", Model: "m", Requests: -1}, "requests -1 is negative"},
		{"prompt without input", bench.Config{URL: "http://x", Model: "m", Prompts: [][]byte{[]byte(`{"temperature":1}`)}}, "neither \"messages\" nor \"prompt\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bench.Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
