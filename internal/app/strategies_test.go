package app_test

// Integration tests of the selection strategies: each one configured by its
// canonical name, observed through X-Continuum-Backend over real HTTP.

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/mock"
)

// rtStrategy selects the named strategy.
func rtStrategy(name string) setupOption {
	return withConfig(func(c *config.Config) { c.SelectionStrategy = name })
}

// rtSequence sends n chat requests one after the other and returns the
// backend that served each.
func rtSequence(t *testing.T, e *env, n int, opts ...option.RequestOption) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		out[i] = rtServedBy(t, e, rtChatParams(mock.DefaultModel), opts...)
	}
	return out
}

// rtCount counts how often each backend appears in served.
func rtCount(served []string) map[string]int {
	n := map[string]int{}
	for _, b := range served {
		n[b]++
	}
	return n
}

// rtHold is a gate that holds every stream's second content chunk until
// released, keeping the stream (and its backend's in-flight count) open.
type rtHold struct {
	once    sync.Once
	release chan struct{}
}

// rtNewHold returns a closed gate that the test's cleanup releases.
func rtNewHold(t *testing.T) *rtHold {
	h := &rtHold{release: make(chan struct{})}
	t.Cleanup(h.Release)
	return h
}

// Release lets held streams go on. It may be called more than once.
func (h *rtHold) Release() { h.once.Do(func() { close(h.release) }) }

// Gate implements mock.Options.Gate.
func (h *rtHold) Gate(ctx context.Context, chunk int) error {
	if chunk != 1 {
		return nil
	}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// rtStartStream starts a streaming chat request and reads up to its first
// event, so that the stream is committed and stays open on its backend (as
// long as an rtHold holds it). It returns the backend's name and a function
// that reads the rest of the stream and reports whether it ended with [DONE].
func rtStartStream(t *testing.T, e *env) (backend string, finish func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), rtWithin)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL+"/v1/chat/completions", strings.NewReader(chatBody(mock.DefaultModel, true)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream: %v", err)
	}
	t.Cleanup(func() {
		resp.Body.Close()
		cancel()
	})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("open stream: got status %d, want 200", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	first := false
	for !first && sc.Scan() {
		first = strings.HasPrefix(sc.Text(), "data: ")
	}
	if !first {
		t.Fatalf("open stream: no first event (%v)", sc.Err())
	}
	return resp.Header.Get("X-Continuum-Backend"), func() bool {
		last := ""
		for sc.Scan() {
			if l := sc.Text(); l != "" {
				last = l
			}
		}
		return last == "data: [DONE]"
	}
}

// rtOther returns the name of the two backends a and b that is not name.
func rtOther(name string) string {
	if name == "a" {
		return "b"
	}
	return "a"
}

func TestStrategyRoundRobinAlternates(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}), withBackend("b", mock.Options{}), rtStrategy("RoundRobin"))
	served := rtSequence(t, e, 10)
	for i := 1; i < len(served); i++ {
		if served[i] == served[i-1] {
			t.Errorf("requests %d and %d both went to %q, want them to alternate (sequence %v)", i-1, i, served[i], served)
		}
	}
	if n := rtCount(served); n["a"] != 5 || n["b"] != 5 {
		t.Errorf("got counts %v, want a:5 b:5", n)
	}
	for _, name := range []string{"a", "b"} {
		if got := e.Backends[name].Mock.Stats().ByPath[mock.RouteChat]; got != 5 {
			t.Errorf("backend %s saw %d chat requests, want 5", name, got)
		}
	}
}

func TestStrategyWeightedRoundRobin(t *testing.T) {
	t.Parallel()
	weight := func(w int) func(*config.Backend) { return func(b *config.Backend) { b.Weight = w } }
	e := start(t,
		withBackend("a", mock.Options{}, weight(3)),
		withBackend("b", mock.Options{}, weight(1)),
		rtStrategy("WeightedRoundRobin"))
	served := rtSequence(t, e, 8)
	if n := rtCount(served); n["a"] != 6 || n["b"] != 2 {
		t.Errorf("got counts %v over 8 requests, want exactly a:6 b:2 (sequence %v)", n, served)
	}
	// Smooth weighting: every window of four holds exactly one b.
	for i := 0; i+4 <= len(served); i += 4 {
		if n := rtCount(served[i : i+4]); n["b"] != 1 {
			t.Errorf("requests %d..%d: got %v, want exactly one b per four (sequence %v)", i, i+3, n, served)
		}
	}
}

func TestStrategyLeastConnections(t *testing.T) {
	t.Parallel()
	hold := rtNewHold(t)
	e := start(t,
		withBackend("a", mock.Options{Gate: hold.Gate}),
		withBackend("b", mock.Options{Gate: hold.Gate}),
		rtStrategy("LeastConnections"))

	t.Run("idle backends take turns", func(t *testing.T) {
		if n := rtCount(rtSequence(t, e, 6)); n["a"] != 3 || n["b"] != 3 {
			t.Errorf("got counts %v, want a:3 b:3", n)
		}
	})
	t.Run("a busy backend is avoided", func(t *testing.T) {
		busy, finish := rtStartStream(t, e)
		idle := rtOther(busy)
		served := rtSequence(t, e, 5)
		if n := rtCount(served); n[idle] != 5 {
			t.Errorf("with a stream open on %s: got %v, want all 5 on %s", busy, served, idle)
		}
		hold.Release()
		if !finish() {
			t.Errorf("held stream did not end with [DONE]")
		}
	})
}

func TestStrategyPowerOfTwo(t *testing.T) {
	t.Parallel()
	hold := rtNewHold(t)
	e := start(t,
		withBackend("a", mock.Options{Gate: hold.Gate}),
		withBackend("b", mock.Options{Gate: hold.Gate}),
		rtStrategy("PowerOfTwo"), withSeed(7))

	t.Run("idle backends are both used", func(t *testing.T) {
		if n := rtCount(rtSequence(t, e, 40)); n["a"] == 0 || n["b"] == 0 {
			t.Errorf("got counts %v over 40 requests, want both backends used", n)
		}
	})
	t.Run("the less loaded of the two wins", func(t *testing.T) {
		busy, finish := rtStartStream(t, e)
		idle := rtOther(busy)
		served := rtSequence(t, e, 6)
		if n := rtCount(served); n[idle] != 6 {
			t.Errorf("with a stream open on %s: got %v, want all 6 on %s", busy, served, idle)
		}
		hold.Release()
		if !finish() {
			t.Errorf("held stream did not end with [DONE]")
		}
	})
}

func TestStrategyLeastLatency(t *testing.T) {
	t.Parallel()
	// Both backends answer at once; "slow" advances the router's fake clock
	// by one second before its first chunk, so the router measures one
	// second for it and nothing for "fast".
	var clk *clock.Fake
	slowGate := func(_ context.Context, chunk int) error {
		if chunk == 0 {
			clk.Advance(time.Second)
		}
		return nil
	}
	e := start(t,
		withBackend("fast", mock.Options{Tokens: 2}),
		withBackend("slow", mock.Options{Tokens: 2, Gate: slowGate}),
		rtStrategy("LeastLatency"), withFakeClock())
	clk = e.Clock

	var served []string
	for range 8 {
		b, finish := rtStartStream(t, e)
		if !finish() {
			t.Fatalf("stream from %s did not end with [DONE]", b)
		}
		served = append(served, b)
	}
	// Each backend is measured once (unmeasured ones go first, in turn);
	// from then on the faster one gets everything.
	if n := rtCount(served); n["slow"] != 1 || n["fast"] != 7 {
		t.Errorf("got counts %v (sequence %v), want slow:1 fast:7", n, served)
	}
	if got := served[len(served)-1]; got != "fast" {
		t.Errorf("last request went to %q, want fast", got)
	}
	if got := e.Backend("slow").Latency; got != time.Second {
		t.Errorf("got slow's latency %v, want 1s", got)
	}
}

func TestStrategyRandom(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}), withBackend("b", mock.Options{}),
		rtStrategy("Random"), withSeed(20250101))
	const total = 200
	// The draws do not depend on request order, so concurrency keeps the
	// counts reproducible for a given seed.
	served := make([]string, total)
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			c := e.SDK()
			for i := w; i < total; i += workers {
				var resp *http.Response
				if _, err := c.Chat.Completions.New(context.Background(), rtChatParams(mock.DefaultModel), option.WithResponseInto(&resp)); err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				served[i] = resp.Header.Get("X-Continuum-Backend")
			}
		})
	}
	wg.Wait()
	n := rtCount(served)
	if n["a"]+n["b"] != total {
		t.Fatalf("got counts %v, want %d requests over a and b", n, total)
	}
	for _, name := range []string{"a", "b"} {
		if n[name] < 70 || n[name] > 130 {
			t.Errorf("backend %s served %d of %d, want roughly half (70..130)", name, n[name], total)
		}
	}
	t.Logf("random split over %d requests: %v", total, n)
}

func TestStrategyConsistentHash(t *testing.T) {
	t.Parallel()
	e := start(t, withBackend("a", mock.Options{}), withBackend("b", mock.Options{}), rtStrategy("ConsistentHash"))
	byUser := func(user string) string {
		p := rtChatParams(mock.DefaultModel)
		p.User = openai.String(user)
		return rtServedBy(t, e, p)
	}
	bySession := func(session string) string {
		return rtServedBy(t, e, rtChatParams(mock.DefaultModel), option.WithHeader("X-Session-Id", session))
	}
	tests := []struct {
		name string
		send func(key string) string
	}{
		{name: "user field", send: byUser},
		{name: "X-Session-Id header", send: bySession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := tt.send("alice")
			for i := range 20 {
				if got := tt.send("alice"); got != first {
					t.Fatalf("request %d for the same key went to %q, want %q like the first", i, got, first)
				}
			}
			spread := map[string]bool{}
			for i := range 32 {
				spread[tt.send(fmt.Sprintf("user-%d", i))] = true
			}
			if !spread["a"] || !spread["b"] {
				t.Errorf("32 different keys went to %v, want both a and b", spread)
			}
		})
	}
	t.Run("user field wins over X-Session-Id", func(t *testing.T) {
		// Find a user and a session that hash to different backends.
		user := byUser("u-0")
		session := ""
		for i := range 64 {
			s := fmt.Sprintf("s-%d", i)
			if bySession(s) != user {
				session = s
				break
			}
		}
		if session == "" {
			t.Fatalf("no session key maps away from %q", user)
		}
		p := rtChatParams(mock.DefaultModel)
		p.User = openai.String("u-0")
		if got := rtServedBy(t, e, p, option.WithHeader("X-Session-Id", session)); got != user {
			t.Errorf("got %q, want the user's backend %q", got, user)
		}
	})
}
