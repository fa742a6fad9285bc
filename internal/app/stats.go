package app

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
)

// This file keeps the usage statistics of the admin API (GET /admin/stats)
// and the dashboard: counters per API key and per backend, the recent
// failed requests, and a short series of samples per backend for the
// sparklines. They are fed by RequestDone, not read back from Prometheus.

// Bounds of the statistics.
const (
	// maxStatKeys bounds the API key ids counted apart; the rest count as
	// "other", as in metrics.
	maxStatKeys = 1000
	// recentErrors is how many failed requests are kept.
	recentErrors = 50
	// sampleCount is how many samples per backend are kept (one a second).
	sampleCount = 60
	// sampleEvery is the shortest time between two samples, on the app's
	// clock.
	sampleEvery = time.Second
)

// Usage is what was counted for one API key or backend since start.
type Usage struct {
	// Requests counts finished requests; Errors those that failed (status
	// 400 or more, or a stream that broke after its first token).
	Requests, Errors uint64
	// TokensIn and TokensOut add up the usage the backends reported.
	TokensIn, TokensOut uint64
	// Latency is the mean duration of a request; TTFT the mean time to its
	// first token (over the requests that had one). Zero before any.
	Latency, TTFT time.Duration
}

// counter accumulates Usage without locks.
type counter struct {
	requests, errors, tokensIn, tokensOut atomic.Uint64
	duration, ttft, ttftCount             atomic.Uint64 // nanoseconds, and how many TTFTs
}

func (c *counter) add(rec *exchange.Record, failed bool) {
	c.requests.Add(1)
	if failed {
		c.errors.Add(1)
	}
	if rec.HasUsage {
		c.tokensIn.Add(uint64(max(rec.Prompt, 0)))
		c.tokensOut.Add(uint64(max(rec.Completion, 0)))
	}
	c.duration.Add(uint64(max(rec.Duration, 0)))
	if rec.TTFT > 0 {
		c.ttft.Add(uint64(rec.TTFT))
		c.ttftCount.Add(1)
	}
}

func (c *counter) usage() Usage {
	u := Usage{Requests: c.requests.Load(), Errors: c.errors.Load(), TokensIn: c.tokensIn.Load(), TokensOut: c.tokensOut.Load()}
	if u.Requests > 0 {
		u.Latency = time.Duration(c.duration.Load() / u.Requests)
	}
	if n := c.ttftCount.Load(); n > 0 {
		u.TTFT = time.Duration(c.ttft.Load() / n)
	}
	return u
}

// FailedRequest is one recent failed request, as its access line has it
// (no request bytes, no credential: the key's id only).
type FailedRequest struct {
	Time      time.Time
	RequestID string
	KeyID     string
	Endpoint  string
	Model     string
	Backend   string
	Status    int
	Error     string // the error kind, e.g. upstream_timeout
	Aborted   bool
}

// Sample is one point of a backend's sparklines.
type Sample struct {
	Time time.Time
	// Latency and TTFT are the means over the requests the backend finished
	// during the sampling period; zero when it finished none.
	Latency, TTFT time.Duration
	// InFlight is its requests in flight at sampling time.
	InFlight int64
}

// stats holds the counters, the recent failures and the samples.
type stats struct {
	keys     sync.Map // key id → *counter
	nkeys    atomic.Int64
	backends sync.Map // backend name → *counter

	mu      sync.Mutex
	failed  []FailedRequest // ring, oldest first once full
	next    int
	samples map[string][]Sample
	prev    map[string][3]uint64 // requests, duration, ttft sums at the last sample
	prevN   map[string]uint64    // ttft count at the last sample
	// lastSample is when samples were last taken.
	lastSample time.Time
}

func newStats() *stats {
	return &stats{samples: map[string][]Sample{}, prev: map[string][3]uint64{}, prevN: map[string]uint64{}}
}

// counterFor returns the counter of name in m, creating it.
func counterFor(m *sync.Map, name string) *counter {
	if c, ok := m.Load(name); ok {
		return c.(*counter)
	}
	c, _ := m.LoadOrStore(name, new(counter))
	return c.(*counter)
}

// record counts a finished request.
func (s *stats) record(rec *exchange.Record, now time.Time) {
	failed := rec.Status >= 400 || rec.Aborted
	key := rec.KeyID
	if key == "" {
		key = "none"
	}
	if _, ok := s.keys.Load(key); !ok && s.nkeys.Load() >= maxStatKeys {
		key = "other"
	} else if !ok {
		if _, loaded := s.keys.LoadOrStore(key, new(counter)); !loaded {
			s.nkeys.Add(1)
		}
	}
	counterFor(&s.keys, key).add(rec, failed)
	if rec.Backend != "" {
		counterFor(&s.backends, rec.Backend).add(rec, failed)
	}
	if !failed {
		return
	}
	f := FailedRequest{Time: now, RequestID: rec.RequestID, KeyID: rec.KeyID, Endpoint: rec.Endpoint,
		Model: rec.Model, Backend: rec.Backend, Status: rec.Status, Error: rec.ErrorKind, Aborted: rec.Aborted}
	s.mu.Lock()
	if len(s.failed) < recentErrors {
		s.failed = append(s.failed, f)
	} else {
		s.failed[s.next] = f
		s.next = (s.next + 1) % recentErrors
	}
	s.mu.Unlock()
}

// usage returns the counters of m by name, sorted by name.
func usageOf(m *sync.Map) map[string]Usage {
	out := map[string]Usage{}
	m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*counter).usage()
		return true
	})
	return out
}

// recent returns the recent failed requests, newest first.
func (s *stats) recent() []FailedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]FailedRequest, 0, len(s.failed))
	for i := range s.failed {
		out = append(out, s.failed[(s.next+len(s.failed)-1-i)%len(s.failed)])
	}
	return out
}

// sample appends one sample per backend: names and inFlight are the
// configured backends and their requests in flight.
func (s *stats) sample(now time.Time, names []string, inFlight []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, name := range names {
		c := counterFor(&s.backends, name)
		cur := [3]uint64{c.requests.Load(), c.duration.Load(), c.ttft.Load()}
		curN := c.ttftCount.Load()
		prev, prevN := s.prev[name], s.prevN[name]
		smp := Sample{Time: now, InFlight: inFlight[i]}
		if n := cur[0] - prev[0]; n > 0 {
			smp.Latency = time.Duration((cur[1] - prev[1]) / n)
		}
		if n := curN - prevN; n > 0 {
			smp.TTFT = time.Duration((cur[2] - prev[2]) / n)
		}
		s.prev[name], s.prevN[name] = cur, curN
		ring := append(s.samples[name], smp)
		if len(ring) > sampleCount {
			ring = ring[len(ring)-sampleCount:]
		}
		s.samples[name] = ring
	}
	for name := range s.samples {
		if !slices.Contains(names, name) {
			delete(s.samples, name)
			delete(s.prev, name)
			delete(s.prevN, name)
		}
	}
}

// series returns a copy of a backend's samples, oldest first.
func (s *stats) series(name string) []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.samples[name])
}

// sampleNow takes the backends' samples when the last ones are at least
// sampleEvery old on the app's clock. Samples are taken when they are read
// (the dashboard polls every two seconds), not by a loop of their own: the
// router keeps no timer running for a page nobody looks at.
func (a *App) sampleNow() {
	now := a.clk.Now()
	s := a.stats
	s.mu.Lock()
	due := s.lastSample.IsZero() || now.Sub(s.lastSample) >= sampleEvery
	if due {
		s.lastSample = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	members := a.rt.Load().members
	names := make([]string, len(members))
	inFlight := make([]int64, len(members))
	for i, m := range members {
		names[i], inFlight[i] = m.backend.Name, m.backend.State.InFlight()
	}
	s.sample(now, names, inFlight)
}

// KeyUsage returns the usage counted per API key id ("none" for requests
// without a key, "other" beyond 1000 ids).
func (a *App) KeyUsage() map[string]Usage { return usageOf(&a.stats.keys) }

// BackendUsage returns the usage counted per backend (the backend that
// served or last tried each request).
func (a *App) BackendUsage() map[string]Usage { return usageOf(&a.stats.backends) }

// RecentFailures returns the last failed requests, newest first.
func (a *App) RecentFailures() []FailedRequest { return a.stats.recent() }

// Samples returns a backend's recent samples, oldest first, taking new ones
// first when the last are a second old or more.
func (a *App) Samples(name string) []Sample {
	a.sampleNow()
	return a.stats.series(name)
}
