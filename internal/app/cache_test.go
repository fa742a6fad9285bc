package app_test

// Request deduplication and the response cache (issue 11, part 6) over real
// HTTP with the official OpenAI SDK.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// waitCount blocks until at least n log lines contain part, or the timeout
// (a safety net against hangs, not a timing assertion) expires.
func (s *syncBuffer) waitCount(t *testing.T, n int, part string) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		count := strings.Count(s.b.String(), part)
		if count >= n {
			s.mu.Unlock()
			return
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%d log lines with %q within 10s, want %d", count, part, n)
		}
	}
}

// gatedBackend answers chat completions with status and a fixed body, each
// request only once release is closed; it counts requests, reports each
// arrival and each cancellation.
type gatedBackend struct {
	status    int
	calls     atomic.Int64
	arrived   chan struct{}
	cancelled chan struct{}
	release   chan struct{}
}

func newGatedBackend(status int) *gatedBackend {
	return &gatedBackend{status: status, arrived: make(chan struct{}, 100), cancelled: make(chan struct{}, 100), release: make(chan struct{})}
}

const gatedAnswer = `{"id":"chatcmpl-shared","object":"chat.completion","created":1,"model":"m",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"the one answer"},"finish_reason":"stop"}],` +
	`"usage":{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}`

func (g *gatedBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	io.Copy(io.Discard, r.Body)
	g.calls.Add(1)
	g.arrived <- struct{}{}
	select {
	case <-g.release:
	case <-r.Context().Done():
		g.cancelled <- struct{}{}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(g.status)
	if g.status == 200 {
		io.WriteString(w, gatedAnswer)
		return
	}
	io.WriteString(w, `{"error":{"message":"the backend failed","type":"server_error","param":null,"code":null}}`)
}

// recv waits for a signal of the backend.
func recv(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
	}
}

func withDedup(ttl time.Duration) setupOption {
	return withConfig(func(c *config.Config) {
		c.Cache.EnableDeduplication, c.Cache.DeduplicationTTL = true, ttl
	})
}

const sharedWaiting = "waiting for an identical request's answer"

// 50 identical concurrent requests make one upstream call; each client gets
// the answer, with its own X-Request-Id.
func TestDeduplicationFiftyRequestsOneCall(t *testing.T) {
	const n = 50
	for _, status := range []int{200, 500} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			g := newGatedBackend(status)
			e := start(t, withHandlerBackend("a", g, "m"), withDedup(0))
			client := e.SDK()
			type result struct {
				content string
				err     error
				header  http.Header
			}
			results := make([]result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					var resp *http.Response
					c, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
						Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("the same question")},
					}, option.WithResponseInto(&resp))
					results[i].err = err
					if err == nil {
						results[i].content = c.Choices[0].Message.Content
					}
					if resp != nil {
						results[i].header = resp.Header
					}
				})
			}
			// One request reached the backend; the 49 others wait for it.
			recv(t, g.arrived, "request at the backend")
			e.Logs.waitCount(t, n-1, sharedWaiting)
			close(g.release)
			wg.Wait()

			if got := g.calls.Load(); got != 1 {
				t.Errorf("upstream calls: got %d, want 1", got)
			}
			ids := map[string]bool{}
			marks := map[string]int{}
			for i, r := range results {
				if status == 200 && (r.err != nil || r.content != "the one answer") {
					t.Errorf("client %d: got %q, %v; want the answer", i, r.content, r.err)
				}
				var apiErr *openai.Error
				if status != 200 && (!errors.As(r.err, &apiErr) || apiErr.StatusCode != status || apiErr.Message != "the backend failed") {
					t.Errorf("client %d: got %v, want the shared %d", i, r.err, status)
				}
				ids[r.header.Get("X-Request-Id")] = true
				marks[r.header.Get("X-Continuum-Cache")]++
			}
			if len(ids) != n {
				t.Errorf("distinct X-Request-Id values: got %d, want %d", len(ids), n)
			}
			if marks["miss"] != 1 || marks["shared"] != n-1 {
				t.Errorf("X-Continuum-Cache: got %v, want 1 miss and %d shared", marks, n-1)
			}
			m := opsScrape(t, e.URL+"/metrics")
			if got := m.Sum("continuum_cache_requests_total", "result", "shared"); got != n-1 {
				t.Errorf(`continuum_cache_requests_total{result="shared"}: got %v, want %d`, got, n-1)
			}
			if got := m.Sum("continuum_cache_requests_total", "result", "miss"); got != 1 {
				t.Errorf(`continuum_cache_requests_total{result="miss"}: got %v, want 1`, got)
			}
			if got := m.Sum("continuum_upstream_attempts_total", "backend", "a"); got != 1 {
				t.Errorf("upstream attempts on a: got %v, want 1", got)
			}
			e.Logs.WaitFor(t, "msg=request", "cache=shared", "status="+strconv.Itoa(status))
		})
	}
}

// The shared call goes on while one of its clients waits, and is cancelled
// once every client has gone.
func TestDeduplicationCancellation(t *testing.T) {
	g := newGatedBackend(200)
	e := start(t, withHandlerBackend("a", g, "m"), withDedup(0))
	body := chatBody("m", false)
	post := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	followerCtx, cancelFollower := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- post(leaderCtx) }()
	recv(t, g.arrived, "request at the backend")
	go func() { done <- post(followerCtx) }()
	e.Logs.waitCount(t, 1, sharedWaiting)

	cancelFollower()
	<-done
	e.Logs.WaitFor(t, "msg=request", "status=499", "cache=shared")
	select {
	case <-g.cancelled:
		t.Fatal("the shared call was cancelled while its first client still waited")
	default:
	}

	cancelLeader()
	recv(t, g.cancelled, "cancellation at the backend once every client had gone")
	<-done
	if got := g.calls.Load(); got != 1 {
		t.Errorf("upstream calls: got %d, want 1", got)
	}
}

// chatAt sends a chat request with the given temperature (nil: none) and
// returns the answer's X-Continuum-Cache and content.
func chatAt(t *testing.T, e *env, temperature *float64, stream bool) (mark, content string) {
	t.Helper()
	client := e.SDK()
	params := openai.ChatCompletionNewParams{Model: mock.DefaultModel, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}
	if temperature != nil {
		params.Temperature = openai.Float(*temperature)
	}
	var resp *http.Response
	if stream {
		s := client.Chat.Completions.NewStreaming(context.Background(), params, option.WithResponseInto(&resp))
		for s.Next() {
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("X-Continuum-Cache"), ""
	}
	c, err := client.Chat.Completions.New(context.Background(), params, option.WithResponseInto(&resp))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("X-Continuum-Cache"), c.ID
}

func TestResponseCache(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{}), withFakeClock(), withConfig(func(c *config.Config) {
		c.Cache.ResponseCache.Enabled, c.Cache.ResponseCache.TTL = true, time.Minute
	}))
	upstream := func() int64 { return e.Backends["a"].Mock.Stats().ByPath[mock.RouteChat] }
	zero, warm := 0.0, 0.7

	mark, first := chatAt(t, e, &zero, false)
	if mark != "miss" || upstream() != 1 {
		t.Fatalf("first deterministic request: got %q and %d upstream calls, want miss and 1", mark, upstream())
	}
	mark, second := chatAt(t, e, &zero, false)
	if mark != "hit" || second != first || upstream() != 1 {
		t.Fatalf("identical deterministic request: got %q, answer %q (first %q), %d upstream calls; want a hit with the same answer and no call",
			mark, second, first, upstream())
	}

	for _, tt := range []struct {
		name        string
		temperature *float64
		stream      bool
	}{
		{"temperature 0.7", &warm, false},
		{"no temperature", nil, false},
		{"streamed", &zero, true},
	} {
		before := upstream()
		for range 2 {
			if mark, _ := chatAt(t, e, tt.temperature, tt.stream); mark != "" {
				t.Errorf("%s: X-Continuum-Cache %q, want none (not cacheable)", tt.name, mark)
			}
		}
		if got := upstream() - before; got != 2 {
			t.Errorf("%s: two requests made %d upstream calls, want 2", tt.name, got)
		}
	}

	e.Clock.Advance(time.Minute - time.Nanosecond)
	if mark, _ := chatAt(t, e, &zero, false); mark != "hit" {
		t.Errorf("just before the TTL: got %q, want hit", mark)
	}
	e.Clock.Advance(time.Nanosecond)
	before := upstream()
	if mark, _ := chatAt(t, e, &zero, false); mark != "miss" || upstream() != before+1 {
		t.Errorf("at the TTL: got %q and %d new upstream calls, want miss and 1", mark, upstream()-before)
	}

	m := opsScrape(t, e.URL+"/metrics")
	if hit, miss := m.Sum("continuum_cache_requests_total", "result", "hit"), m.Sum("continuum_cache_requests_total", "result", "miss"); hit != 2 || miss != 2 {
		t.Errorf("continuum_cache_requests_total: got hit %v miss %v, want 2 and 2", hit, miss)
	}
	e.Logs.WaitFor(t, "msg=request", "backend=\"\"", "cache=hit")
}

// With deduplication_ttl, a finished answer keeps answering identical
// requests (deterministic or not) for that long.
func TestDeduplicationTTL(t *testing.T) {
	e := start(t, withBackend("a", mock.Options{}), withFakeClock(), withDedup(30*time.Second))
	upstream := func() int64 { return e.Backends["a"].Mock.Stats().ByPath[mock.RouteChat] }
	warm := 0.7
	mark, first := chatAt(t, e, &warm, false)
	if mark != "miss" {
		t.Fatalf("first request: got %q, want miss", mark)
	}
	e.Clock.Advance(30*time.Second - time.Nanosecond)
	if mark, again := chatAt(t, e, &warm, false); mark != "shared" || again != first || upstream() != 1 {
		t.Fatalf("within deduplication_ttl: got %q, %q, %d upstream calls; want the shared answer and no call", mark, again, upstream())
	}
	e.Clock.Advance(time.Nanosecond)
	if mark, _ := chatAt(t, e, &warm, false); mark != "miss" || upstream() != 2 {
		t.Errorf("after deduplication_ttl: got %q, %d upstream calls; want miss and 2", mark, upstream())
	}
}
