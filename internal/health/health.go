// Package health keeps each backend's health state (ready, warming_up, down,
// unknown) from active probes and from the outcomes of real traffic.
package health

import (
	"context"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/clock"
)

// Config is one backend's health-check settings (continuum-router's
// health_checks block).
type Config struct {
	// Enabled turns active probing on. When off, the state stays Unknown
	// (routable) and passive outcomes are ignored: the circuit breaker alone
	// guards the backend.
	Enabled bool
	// Interval between probes. Zero means 30s.
	Interval time.Duration
	// Timeout of one probe. Zero means 10s.
	Timeout time.Duration
	// UnhealthyThreshold consecutive failures mark a ready backend down. Zero means 3.
	UnhealthyThreshold int
	// HealthyThreshold consecutive successes make a down or warming backend ready. Zero means 2.
	HealthyThreshold int
	// WarmupInterval is the probe interval while warming up. Zero means 1s.
	WarmupInterval time.Duration
	// MaxWarmup is how long a backend may stay warming up before it counts
	// as down. Zero means 300s; a negative MaxWarmup means no limit: a
	// backend warms up for as long as it answers 503.
	MaxWarmup time.Duration
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.UnhealthyThreshold <= 0 {
		c.UnhealthyThreshold = 3
	}
	if c.HealthyThreshold <= 0 {
		c.HealthyThreshold = 2
	}
	if c.WarmupInterval <= 0 {
		c.WarmupInterval = time.Second
	}
	if c.MaxWarmup == 0 {
		c.MaxWarmup = 300 * time.Second
	}
	return c
}

// Result is what one probe (or one real request) says about a backend.
type Result int

// Results.
const (
	OK      Result = iota // answered normally
	Warming               // answered 503: loading, as llama.cpp does while it loads a model
	Fail                  // could not connect, timed out, or answered another error
)

// ClassifyProbe turns a probe's status and error into a Result.
func ClassifyProbe(status int, err error) Result {
	switch {
	case err != nil:
		return Fail
	case status >= 200 && status < 300:
		return OK
	case status == 503:
		return Warming
	}
	return Fail
}

// Tracker holds one backend's health state machine and writes the state
// into the backend's State. It is safe for concurrent use.
type Tracker struct {
	state    *backend.State
	clk      clock.Clock
	onChange func(from, to backend.Health)

	mu           sync.Mutex
	cfg          Config
	okRun        int
	failRun      int
	warmingSince time.Time
}

// NewTracker returns a tracker writing into st. onChange, if not nil, is
// called (without locks held) on every state change.
func NewTracker(st *backend.State, cfg Config, clk clock.Clock, onChange func(from, to backend.Health)) *Tracker {
	return &Tracker{state: st, cfg: cfg.withDefaults(), clk: clk, onChange: onChange}
}

// Reconfigure applies new settings, keeping the current state.
func (t *Tracker) Reconfigure(cfg Config) {
	t.mu.Lock()
	t.cfg = cfg.withDefaults()
	t.mu.Unlock()
}

// Config returns the current settings with defaults applied.
func (t *Tracker) Config() Config {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cfg
}

// Observe feeds one active probe result into the state machine:
//   - the first result after start decides at once (unknown → ready, warming_up or down);
//   - a ready backend becomes down (or warming_up, if the last answer was 503)
//     after UnhealthyThreshold consecutive non-OK results;
//   - a down or warming backend becomes ready after HealthyThreshold
//     consecutive OK results; a 503 moves a down backend to warming_up;
//   - a backend warming up for longer than MaxWarmup (unless negative) becomes down.
func (t *Tracker) Observe(r Result) { t.observe(r, false) }

// Passive feeds the outcome of a real request: ok for an answer, !ok for a
// failure that counts against health (see resilience.Failure). It counts
// towards the same thresholds, but never decides the first state alone. It
// is ignored when health checks are disabled.
func (t *Tracker) Passive(ok bool) {
	r := Fail
	if ok {
		r = OK
	}
	t.observe(r, true)
}

func (t *Tracker) observe(r Result, passive bool) {
	t.mu.Lock()
	if passive && !t.cfg.Enabled {
		t.mu.Unlock()
		return
	}
	from := t.state.Health()
	to := from
	now := t.clk.Now()
	switch r {
	case OK:
		t.failRun = 0
		t.okRun++
		if from == backend.Unknown || t.okRun >= t.cfg.HealthyThreshold {
			to = backend.Ready
		}
	case Warming:
		t.okRun = 0
		t.failRun++
		switch from {
		case backend.Unknown, backend.Down:
			to = backend.WarmingUp
		case backend.Ready:
			if t.failRun >= t.cfg.UnhealthyThreshold {
				to = backend.WarmingUp
			}
		}
	case Fail:
		t.okRun = 0
		t.failRun++
		if (from == backend.Unknown && !passive) || t.failRun >= t.cfg.UnhealthyThreshold {
			to = backend.Down
		}
	}
	if to == backend.WarmingUp {
		if from != backend.WarmingUp {
			t.warmingSince = now
		} else if t.cfg.MaxWarmup >= 0 && now.Sub(t.warmingSince) > t.cfg.MaxWarmup {
			to = backend.Down
		}
	}
	if to != from {
		t.state.SetHealth(to)
	}
	t.mu.Unlock()
	if to != from && t.onChange != nil {
		t.onChange(from, to)
	}
}

// NextInterval returns how long to wait before the next probe: the warm-up
// interval while warming up, the normal interval otherwise.
func (t *Tracker) NextInterval() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state.Health() == backend.WarmingUp {
		return t.cfg.WarmupInterval
	}
	return t.cfg.Interval
}

// ProbeFunc performs one probe and returns the HTTP status or an error.
type ProbeFunc func(ctx context.Context) (status int, err error)

// Run probes at once and then after every NextInterval until ctx ends. Each
// probe is bounded by the configured Timeout, measured on the tracker's clock.
func (t *Tracker) Run(ctx context.Context, probe ProbeFunc) {
	for {
		r := t.probeOnce(ctx, probe)
		if ctx.Err() != nil {
			return
		}
		t.Observe(r)
		timer := t.clk.NewTimer(t.NextInterval())
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		}
	}
}

func (t *Tracker) probeOnce(ctx context.Context, probe ProbeFunc) Result {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	timer := t.clk.AfterFunc(t.Config().Timeout, cancel)
	defer timer.Stop()
	status, err := probe(pctx)
	return ClassifyProbe(status, err)
}
