package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// runner is one benchmark run.
type runner struct {
	cfg    *Config
	clk    clock.Clock
	do     func(*http.Request) (*http.Response, error)
	target string
	// request is the template of every request: method, URL and headers.
	// Requests are shallow copies; the URL and headers are shared and never
	// modified (neither the Transport nor the Client writes to them).
	request *http.Request
	bodies  [][]byte

	start        time.Time // when the run began
	measureStart time.Time // when the warm-up ended
	deadline     time.Time // when no more requests are started; zero without Duration

	shards  []*shard
	live    liveCounters
	scratch sync.Pool // *scratch, for the open loop's per-request goroutines
}

// liveCounters feed the progress line; warm-up requests included.
type liveCounters struct {
	sent, succeeded, failed, dropped, inFlight atomic.Int64
}

func newRunner(cfg *Config, do func(*http.Request) (*http.Response, error), target string, bodies [][]byte) (*runner, error) {
	tmpl, err := http.NewRequest(http.MethodPost, target, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	h := tmpl.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "continuum-bench")
	if cfg.Stream {
		h.Set("Accept", "text/event-stream")
	}
	if cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	// Closed-loop workers share shards when there are more of them than
	// shards; open-loop requests pick one by sequence number.
	n := 4 * runtime.GOMAXPROCS(0)
	if cfg.Rate == 0 {
		n = min(n, cfg.Concurrency)
	}
	shards := make([]*shard, n)
	for i := range shards {
		shards[i] = &shard{statuses: make(map[int]int64)}
	}
	r := &runner{cfg: cfg, clk: cfg.Clock, do: do, target: target, request: tmpl, bodies: bodies, shards: shards}
	r.scratch.New = func() any { return newScratch() }
	return r, nil
}

// run runs the benchmark to its end and builds the result.
func (r *runner) run(ctx context.Context) *Result {
	r.start = r.clk.Now()
	r.measureStart = r.start.Add(r.cfg.Warmup)
	if r.cfg.Duration > 0 {
		r.deadline = r.measureStart.Add(r.cfg.Duration)
	}
	stopProgress := r.startProgress()
	var scheduleEnd time.Time
	if r.cfg.Rate > 0 {
		scheduleEnd = r.openLoop(ctx)
	} else {
		r.closedLoop(ctx)
	}
	end := r.clk.Now()
	stopProgress()
	return r.result(ctx.Err() != nil, end, scheduleEnd)
}

// closedLoop runs Concurrency workers, each sending its next request as soon
// as the previous one ends, until the deadline, the request count or ctx.
func (r *runner) closedLoop(ctx context.Context) {
	var wg sync.WaitGroup
	var tickets atomic.Int64
	var seq atomic.Uint64
	for w := range r.cfg.Concurrency {
		sh := r.shards[w%len(r.shards)]
		wg.Go(func() {
			sc := newScratch()
			for ctx.Err() == nil {
				now := r.clk.Now()
				if !r.deadline.IsZero() && !now.Before(r.deadline) {
					return
				}
				warm := now.Before(r.measureStart)
				if !warm && r.cfg.Requests > 0 && tickets.Add(1) > int64(r.cfg.Requests) {
					return
				}
				r.live.inFlight.Add(1)
				r.exchange(ctx, sc, sh, seq.Add(1)-1, now, warm)
			}
		})
	}
	wg.Wait()
}

// openLoop starts requests at the configured rate, each in its own
// goroutine, until the deadline, the request count or ctx, and waits for
// them. It returns the end of the schedule: when the next request would
// have been due.
func (r *runner) openLoop(ctx context.Context) time.Time {
	var wg sync.WaitGroup
	defer wg.Wait()
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0x6172726976616c73)) // "arrivals"
	perSecond := float64(time.Second) / r.cfg.Rate
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var offset float64 // nanoseconds from start of the next arrival
	measured := 0
	for k := uint64(0); ; k++ {
		if r.cfg.Poisson {
			offset += rng.ExpFloat64() * perSecond
		} else {
			offset = float64(k) * perSecond
		}
		due := r.start.Add(time.Duration(offset))
		if !r.deadline.IsZero() && !due.Before(r.deadline) {
			return r.deadline
		}
		warm := due.Before(r.measureStart)
		if !warm && r.cfg.Requests > 0 && measured >= r.cfg.Requests {
			return due
		}
		if !r.waitUntil(ctx, &timer, due) {
			return r.clk.Now()
		}
		if !warm {
			measured++
		}
		sh := r.shards[k%uint64(len(r.shards))]
		if r.live.inFlight.Load() >= int64(r.cfg.MaxInFlight) {
			r.live.dropped.Add(1)
			if !warm {
				sh.drop(r.secondOf(due))
			}
			continue
		}
		r.live.inFlight.Add(1)
		wg.Go(func() {
			sc := r.scratch.Get().(*scratch)
			r.exchange(ctx, sc, sh, k, due, warm)
			r.scratch.Put(sc)
		})
	}
}

// waitUntil waits on the clock until t, reusing *timer. It reports false if
// ctx ended first.
func (r *runner) waitUntil(ctx context.Context, timer *clock.Timer, t time.Time) bool {
	d := t.Sub(r.clk.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	if *timer == nil {
		*timer = r.clk.NewTimer(d)
	} else {
		(*timer).Reset(d)
	}
	select {
	case <-(*timer).C():
		return true
	case <-ctx.Done():
		return false
	}
}

// exchange sends request number seq, due at intended, and records its
// outcome (or only counts it, during the warm-up). The caller has counted it
// in flight.
func (r *runner) exchange(ctx context.Context, sc *scratch, sh *shard, seq uint64, intended time.Time, warm bool) {
	o := outcome{intended: intended}
	r.live.sent.Add(1)
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	r.send(rctx, sc, r.bodies[seq%uint64(len(r.bodies))], &o)
	cancel()
	r.live.inFlight.Add(-1)
	switch {
	case o.kind != kindNone && ctx.Err() != nil:
		o.cancelled = true
	case o.kind != kindNone:
		r.live.failed.Add(1)
	default:
		r.live.succeeded.Add(1)
	}
	if warm {
		sh.mu.Lock()
		sh.warmup++
		sh.mu.Unlock()
		return
	}
	sh.record(r, &o, sc.gaps)
}

// secondOf returns the index in the time series of t: whole seconds since
// the end of the warm-up.
func (r *runner) secondOf(t time.Time) int {
	return max(0, int(t.Sub(r.measureStart)/time.Second))
}

// shard accumulates the outcomes of some of the requests; shards are merged
// into the Result at the end.
type shard struct {
	mu                                                  sync.Mutex
	latency, service, ttft, itl                         Histogram
	sent, succeeded, failed, cancelled, dropped, warmup int64
	tokens                                              int64
	kinds                                               [numKinds]int64
	statuses                                            map[int]int64
	lastSent                                            time.Time
	series                                              []second
}

// second is one entry of a shard's time series.
type second struct {
	sent, succeeded, failed, dropped int64
	latency                          float64 // sum over succeeded, in ns
}

// at returns the time-series entry of second i, growing the series.
func (s *shard) at(i int) *second {
	for len(s.series) <= i {
		s.series = append(s.series, second{})
	}
	return &s.series[i]
}

func (s *shard) drop(sec int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropped++
	s.at(sec).dropped++
}

func (s *shard) record(r *runner, o *outcome, gaps []time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent++
	if o.sent.After(s.lastSent) {
		s.lastSent = o.sent
	}
	s.at(r.secondOf(o.sent)).sent++
	if o.cancelled {
		s.cancelled++
		return
	}
	if o.status != 0 {
		s.statuses[o.status]++
	}
	sec := s.at(r.secondOf(o.done))
	if o.kind != kindNone {
		s.failed++
		sec.failed++
		s.kinds[o.kind]++
		return
	}
	latency := o.done.Sub(o.intended)
	s.succeeded++
	sec.succeeded++
	sec.latency += float64(latency)
	s.latency.Record(latency)
	s.service.Record(o.done.Sub(o.sent))
	s.tokens += o.tokens
	if r.cfg.Stream {
		s.ttft.Record(o.ttft)
		for _, g := range gaps {
			s.itl.Record(g)
		}
	}
}
