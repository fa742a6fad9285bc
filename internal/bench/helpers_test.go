package bench_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/continuumhq/continuum/internal/bench"
	"github.com/continuumhq/continuum/internal/clock"
	"github.com/continuumhq/continuum/internal/mock"
)

// TestMain fails the package if a run leaves a goroutine behind: every
// request, scheduler and progress loop must end with Run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// safetyTimeout bounds waits for events that are certain to happen; it only
// keeps a broken test from hanging, it is never a measurement.
const safetyTimeout = 30 * time.Second

// startMock serves a mock backend with opts and returns it and its URL.
func startMock(t *testing.T, opts mock.Options) (*mock.Server, string) {
	t.Helper()
	m := mock.New(opts)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

// startHandler serves h and returns the server's URL.
func startHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// deadAddress returns an http URL on which nothing listens.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return "http://" + addr
}

// run runs cfg and fails the test on error.
func run(t *testing.T, cfg bench.Config) *bench.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// runOnFakeClock runs cfg on fc, moving the fake time to each timer's
// deadline in turn until Run returns. Whatever the schedule, the requests
// themselves go to a real server; only time is fake.
func runOnFakeClock(t *testing.T, fc *clock.Fake, cfg bench.Config) *bench.Result {
	t.Helper()
	return runOnFakeClockWaiting(t, fc, cfg, func(time.Time) int { return 1 })
}

// runOnFakeClockWaiting is runOnFakeClock for runs in which more than one
// party sets timers (a mock on the same clock): before each move it waits
// until timers(now) timers are pending, so that the fake time does not jump
// past a timer that is about to be set.
func runOnFakeClockWaiting(t *testing.T, fc *clock.Fake, cfg bench.Config, timers func(now time.Time) int) *bench.Result {
	t.Helper()
	cfg.Clock = fc
	ctx, cancel := context.WithTimeout(context.Background(), safetyTimeout)
	defer cancel()
	var res *bench.Result
	var err error
	finished, stop := context.WithCancel(ctx)
	go func() {
		defer stop()
		res, err = bench.Run(ctx, cfg)
	}()
	for {
		if fc.WaitForTimers(finished, timers(fc.Now())) != nil {
			break
		}
		if d, ok := fc.NextDeadline(); ok {
			fc.Set(d)
		}
	}
	<-finished.Done()
	if ctx.Err() != nil {
		t.Fatalf("Run did not return within %v", safetyTimeout)
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// inFlightCounter wraps a handler and records the most requests it saw at
// once.
type inFlightCounter struct {
	next    http.Handler
	mu      sync.Mutex
	now     int
	peak    int
	seen    int
	changed chan struct{} // closed and replaced when seen grows
}

func (c *inFlightCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.now++
	c.seen++
	c.peak = max(c.peak, c.now)
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.now--
		c.mu.Unlock()
	}()
	c.next.ServeHTTP(w, r)
}

func (c *inFlightCounter) stats() (peak, seen int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak, c.seen
}

// awaitSeen blocks until the handler has seen at least n requests, or ctx ends.
func (c *inFlightCounter) awaitSeen(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if c.seen >= n {
			c.mu.Unlock()
			return nil
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lineWriter is a concurrency-safe writer that reports each write on a
// channel.
type lineWriter struct {
	mu     sync.Mutex
	writes []string
	notify chan struct{}
}

func newLineWriter() *lineWriter { return &lineWriter{notify: make(chan struct{}, 1024)} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(p))
	w.mu.Unlock()
	select {
	case w.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (w *lineWriter) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

// await waits for the next write.
func (w *lineWriter) await(t *testing.T) {
	t.Helper()
	select {
	case <-w.notify:
	case <-time.After(safetyTimeout):
		t.Fatalf("no progress written within %v", safetyTimeout)
	}
}
