package resilience

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// State is the state of a Breaker.
type State int

// Breaker states.
const (
	// Closed admits every request and counts outcomes.
	Closed State = iota
	// Open rejects every request until its open time has elapsed.
	Open
	// HalfOpen admits a bounded number of probes whose outcomes decide
	// between Closed and Open.
	HalfOpen
)

// String returns "closed", "open" or "half_open", the values used in metrics
// labels, log lines and the admin API.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	default:
		return "State(" + strconv.Itoa(int(s)) + ")"
	}
}

// Reasons passed to Hooks.OnOpen.
const (
	// ReasonConsecutiveFailures: FailureThreshold failures in a row.
	ReasonConsecutiveFailures = "consecutive_failures"
	// ReasonFailureRate: the failure rate over Window reached
	// FailureRateThreshold once MinimumRequests calls were seen.
	ReasonFailureRate = "failure_rate"
	// ReasonProbeFailure: a half-open probe failed.
	ReasonProbeFailure = "probe_failure"
)

// Defaults applied by NewBreaker and Reconfigure to zero fields.
const (
	defaultMinimumRequests = 20
	defaultWindow          = 30 * time.Second
	defaultWindowBuckets   = 10
	defaultTimeout         = 30 * time.Second
	defaultMaxTimeout      = 300 * time.Second
)

// BreakerConfig sets a breaker's failure policies and open durations. The
// two failure policies combine as failsafe-rs's consecutive_failures
// or-else success_rate_over_time_window.
type BreakerConfig struct {
	// FailureThreshold is how many consecutive failures open the breaker.
	// Zero (or negative) disables this policy. DefaultBreakerConfig uses 5.
	FailureThreshold int
	// FailureRateThreshold is the failure rate in [0, 1] over Window that
	// opens the breaker once MinimumRequests calls were seen. Zero (or
	// negative) disables this policy. DefaultBreakerConfig uses 0.5.
	FailureRateThreshold float64
	// MinimumRequests is how many calls Window must hold before the failure
	// rate is judged. Zero (or negative) means 20.
	MinimumRequests int
	// Window is how far back the failure rate looks, counted in
	// WindowBuckets buckets. Zero (or negative) means 30s.
	Window time.Duration
	// WindowBuckets is how many buckets Window is divided into. Zero (or
	// negative) means 10.
	WindowBuckets int
	// Timeout is how long the breaker stays open the first time. Zero means
	// 30s. A negative Timeout means no open time at all: a breaker that
	// opens turns half-open at once and lets its probes through, whatever
	// MaxTimeout and Backoff say.
	Timeout time.Duration
	// MaxTimeout caps the open duration as it grows with re-opens. Zero (or
	// negative) means 300s; a value below Timeout is raised to Timeout.
	MaxTimeout time.Duration
	// Backoff is how the open duration grows with each consecutive re-open,
	// from Timeout up to MaxTimeout. The zero value (and any invalid kind)
	// means Exponential.
	Backoff BackoffKind
	// HalfOpenMaxRequests is how many probes may be in flight at once while
	// half-open. Zero (or negative) means 1.
	HalfOpenMaxRequests int
	// HalfOpenSuccessThreshold is how many probes must succeed before the
	// breaker closes. Zero (or negative) means 1.
	HalfOpenSuccessThreshold int
}

// DefaultBreakerConfig returns the circuit_breaker defaults of the
// configuration file: 5 consecutive failures, or a failure rate of 0.5 over
// 30s once 20 calls were seen; open for 30s growing exponentially to 300s;
// one probe, one success to close.
func DefaultBreakerConfig() BreakerConfig {
	return BreakerConfig{
		FailureThreshold:         5,
		FailureRateThreshold:     0.5,
		MinimumRequests:          defaultMinimumRequests,
		Window:                   defaultWindow,
		WindowBuckets:            defaultWindowBuckets,
		Timeout:                  defaultTimeout,
		MaxTimeout:               defaultMaxTimeout,
		Backoff:                  Exponential,
		HalfOpenMaxRequests:      1,
		HalfOpenSuccessThreshold: 1,
	}
}

// withDefaults returns c with every zero (or out-of-range) field replaced by
// its default. A negative Timeout is kept: it means no open time.
func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.MinimumRequests <= 0 {
		c.MinimumRequests = defaultMinimumRequests
	}
	if c.Window <= 0 {
		c.Window = defaultWindow
	}
	if c.WindowBuckets <= 0 {
		c.WindowBuckets = defaultWindowBuckets
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = defaultMaxTimeout
	}
	if c.MaxTimeout < c.Timeout {
		c.MaxTimeout = c.Timeout
	}
	if !c.Backoff.Valid() {
		c.Backoff = Exponential
	}
	if c.HalfOpenMaxRequests <= 0 {
		c.HalfOpenMaxRequests = 1
	}
	if c.HalfOpenSuccessThreshold <= 0 {
		c.HalfOpenSuccessThreshold = 1
	}
	return c
}

// backoff returns the growth of the open duration.
func (c BreakerConfig) backoff() Backoff {
	return Backoff{Kind: c.Backoff, Base: c.Timeout, Max: c.MaxTimeout}
}

// maxLevel returns the first level whose open duration reaches MaxTimeout:
// growing the level beyond it would not lengthen the open time, only slow
// the decay back to short open times.
func (c BreakerConfig) maxLevel() int {
	bo := c.backoff()
	if bo.Kind == Constant || bo.Base <= 0 {
		return 0 // every open duration is the same (or none)
	}
	n := 0
	for n < 63 && bo.ceiling(n) < bo.Max {
		n++
	}
	return n
}

// Hooks are the breaker's instrument hooks (failsafe-rs's on_open,
// on_half_open, on_close, on_rejected), wired to metrics and log lines. A nil
// func is skipped.
//
// Hooks are called synchronously by the goroutine whose call caused the
// transition, after the breaker's lock is released (so a hook may call the
// breaker), at most once per transition. Transitions caused by different
// goroutines may reach their hooks in a different order than they happened;
// State tells the truth at any moment.
type Hooks struct {
	// OnOpen is called when the breaker opens, with how long it stays open
	// and why: ReasonConsecutiveFailures, ReasonFailureRate or
	// ReasonProbeFailure.
	OnOpen func(openFor time.Duration, reason string)
	// OnHalfOpen is called when the open time has elapsed and the breaker
	// starts admitting probes.
	OnHalfOpen func()
	// OnClose is called when enough probes succeeded, or Reset closed a
	// breaker that was not closed.
	OnClose func()
	// OnReject is called for every Allow that is refused, and by Reject.
	OnReject func()
}

// events collects what a call must report through Hooks once unlocked.
type events struct {
	halfOpen bool
	open     bool
	openFor  time.Duration
	reason   string
	close    bool
	reject   bool
}

func (h *Hooks) fire(ev *events) {
	if ev.halfOpen && h.OnHalfOpen != nil {
		h.OnHalfOpen()
	}
	if ev.open && h.OnOpen != nil {
		h.OnOpen(ev.openFor, ev.reason)
	}
	if ev.close && h.OnClose != nil {
		h.OnClose()
	}
	if ev.reject && h.OnReject != nil {
		h.OnReject()
	}
}

// Breaker is a circuit breaker for one backend. It is safe for concurrent
// use. While closed, Allow costs one atomic load; every other operation runs
// under a mutex.
//
// Every transition increments the breaker's generation, and each Permit
// carries the generation it was issued in: the outcome of an attempt admitted
// before a transition does not count after it, so a slow request admitted
// while closed that fails once the breaker has opened neither extends nor
// re-trips it.
//
// The open duration comes from a Backoff over Timeout and MaxTimeout at the
// breaker's level: the first open lasts Timeout (before jitter), and each
// open raises the level so that the next one lasts longer, up to MaxTimeout.
// While the breaker stays closed, each full period as long as the last
// un-jittered open duration lowers the level by one, so a backend that stays
// healthy returns to short open times while a flapping one keeps long ones.
//
// A nil *Breaker is always closed: it admits everything and counts nothing.
type Breaker struct {
	// word is gen<<2 | state. It is written under mu and read alone by the
	// closed fast path of Allow, Available and State.
	word atomic.Uint64

	clk   clock.Clock
	hooks Hooks

	mu          sync.Mutex
	cfg         BreakerConfig // defaults applied
	maxLevel    int           // cfg.maxLevel()
	rng         *rand.Rand
	state       State
	gen         uint64
	consecutive int  // consecutive failures while closed
	window      ring // calls and failures while closed
	level       int
	openUntil   time.Time // end of the current open period
	decayPeriod time.Duration
	decayFrom   time.Time // start of the closed time not yet spent on decay
	probes      []probe   // probes of the current (or, once closed, the last) half-open period
	probeSeq    uint64    // id of the last probe admitted; ids start at 1
	successes   int       // successful probes in the current half-open period
}

// probe is one half-open probe in flight.
type probe struct {
	id        uint64
	committed bool
}

// NewBreaker returns a closed breaker at level 0. clk tells the time (nil
// means clock.Real()); seed seeds the random source of the jitter backoff
// kinds; hooks may be the zero Hooks.
func NewBreaker(cfg BreakerConfig, clk clock.Clock, seed uint64, hooks Hooks) *Breaker {
	if clk == nil {
		clk = clock.Real()
	}
	cfg = cfg.withDefaults()
	now := clk.Now()
	b := &Breaker{
		clk:       clk,
		hooks:     hooks,
		cfg:       cfg,
		maxLevel:  cfg.maxLevel(),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		window:    newRing(cfg.Window, cfg.WindowBuckets, now),
		decayFrom: now,
		probes:    make([]probe, 0, cfg.HalfOpenMaxRequests),
	}
	b.publishLocked()
	return b
}

// Permit is what Allow hands out for one admitted attempt. It is a value;
// the zero Permit is inert (Commit and Done do nothing), as is every Permit
// of a nil Breaker.
type Permit struct {
	b     *Breaker
	gen   uint64
	probe uint64 // probe id; 0 when not a probe
}

// Probe reports whether this permit is a half-open probe.
func (p Permit) Probe() bool { return p.probe != 0 }

// Commit reports that the attempt produced its first content token. For a
// half-open probe this counts as a success at once, and the breaker closes
// when HalfOpenSuccessThreshold probes have succeeded; a later Done(Success)
// does not count it again. Commit is idempotent and does nothing for a
// permit that is not a probe.
func (p Permit) Commit() {
	if p.b == nil || p.probe == 0 {
		return
	}
	p.b.commit(p)
}

// Done reports the final outcome of the attempt. Call it exactly once per
// permit: twice would count a closed-state outcome twice.
//
// While closed, Success resets the consecutive failures and Failure adds
// one; both are counted in the window and may open the breaker. A probe's
// Success counts towards closing, its Failure re-opens the breaker, and its
// Capacity or Ignored outcome frees its slot without a verdict. A probe that
// committed, closed the breaker and then fails (a mid-stream abort) counts
// as an ordinary closed-state failure. Outcomes of permits issued before the
// last transition are otherwise ignored.
func (p Permit) Done(o Outcome) {
	if p.b == nil {
		return
	}
	if p.probe == 0 && (o == Capacity || o == Ignored) {
		return // changes nothing; skip the lock
	}
	p.b.done(p, o)
}

// Allow asks to send one attempt. It returns ok=false, and calls OnReject,
// when the breaker is open, or half-open with HalfOpenMaxRequests probes
// already in flight. An open breaker whose open time has elapsed turns
// half-open first (calling OnHalfOpen) and admits the request as a probe.
// Every admitted attempt must end with Permit.Done.
func (b *Breaker) Allow() (Permit, bool) {
	if b == nil {
		return Permit{}, true
	}
	if w := b.word.Load(); State(w&3) == Closed {
		return Permit{b: b, gen: w >> 2}, true
	}
	return b.allowSlow()
}

func (b *Breaker) allowSlow() (Permit, bool) {
	var ev events
	var p Permit
	ok := false
	b.mu.Lock()
	b.refreshLocked(b.clk.Now(), &ev)
	switch b.state {
	case Closed:
		p, ok = Permit{b: b, gen: b.gen}, true
	case HalfOpen:
		if len(b.probes) < b.cfg.HalfOpenMaxRequests {
			b.probeSeq++
			b.probes = append(b.probes, probe{id: b.probeSeq})
			p, ok = Permit{b: b, gen: b.gen, probe: b.probeSeq}, true
		}
	}
	ev.reject = !ok
	b.mu.Unlock()
	b.hooks.fire(&ev)
	return p, ok
}

// Available reports what Allow would answer now, without taking a probe slot
// or calling OnReject; the balancer uses it to filter candidates. Like State,
// it turns an open breaker whose time is up half-open (calling OnHalfOpen).
func (b *Breaker) Available() bool {
	if b == nil {
		return true
	}
	if State(b.word.Load()&3) == Closed {
		return true
	}
	var ev events
	b.mu.Lock()
	b.refreshLocked(b.clk.Now(), &ev)
	ok := b.state == Closed || (b.state == HalfOpen && len(b.probes) < b.cfg.HalfOpenMaxRequests)
	b.mu.Unlock()
	b.hooks.fire(&ev)
	return ok
}

// Reject reports that a request passed this backend over because Available
// answered false: it calls OnReject. Available itself never does, since a
// balancer may ask it several times per request; the caller reports each
// refused request once.
func (b *Breaker) Reject() {
	if b != nil && b.hooks.OnReject != nil {
		b.hooks.OnReject()
	}
}

// State returns the current state. An open breaker whose open time has
// elapsed reports HalfOpen (and turns half-open, calling OnHalfOpen) even
// before the next Allow.
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	if s := State(b.word.Load() & 3); s != Open {
		return s
	}
	var ev events
	b.mu.Lock()
	b.refreshLocked(b.clk.Now(), &ev)
	s := b.state
	b.mu.Unlock()
	b.hooks.fire(&ev)
	return s
}

// OpenUntil returns the end of the current open period, or the zero time
// when the breaker is not open.
func (b *Breaker) OpenUntil() time.Time {
	if b == nil {
		return time.Time{}
	}
	var ev events
	b.mu.Lock()
	b.refreshLocked(b.clk.Now(), &ev)
	var t time.Time
	if b.state == Open {
		t = b.openUntil
	}
	b.mu.Unlock()
	b.hooks.fire(&ev)
	return t
}

// Level returns how many consecutive re-opens the backoff is at: 0 means the
// next open lasts Timeout. It stops growing once the open duration reaches
// MaxTimeout (it is always 0 for Constant), and decays while closed.
func (b *Breaker) Level() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.decayLocked(b.clk.Now())
	return b.level
}

// Reconfigure applies new thresholds after a config reload. It keeps the
// state, the level, the open period and the window's counts; when Window or
// WindowBuckets change, the counts move into the current bucket of the new
// window. Outcomes are judged against the new thresholds from the next Done
// on.
func (b *Breaker) Reconfigure(cfg BreakerConfig) {
	if b == nil {
		return
	}
	cfg = cfg.withDefaults()
	b.mu.Lock()
	defer b.mu.Unlock()
	if cfg.Window != b.cfg.Window || cfg.WindowBuckets != b.cfg.WindowBuckets {
		now := b.clk.Now()
		calls, failures := b.window.sums(now)
		b.window = newRing(cfg.Window, cfg.WindowBuckets, b.window.origin)
		b.window.add(now, calls, failures)
	}
	b.cfg = cfg
	b.maxLevel = cfg.maxLevel()
}

// Reset forces the breaker closed at level 0 with nothing counted (an admin
// action). It calls OnClose when the breaker was not closed. Outcomes of
// permits issued before Reset are ignored.
func (b *Breaker) Reset() {
	if b == nil {
		return
	}
	var ev events
	b.mu.Lock()
	now := b.clk.Now()
	ev.close = b.state != Closed
	b.level = 0
	b.decayPeriod = 0
	b.probes = b.probes[:0]
	b.closeLocked(now)
	b.mu.Unlock()
	b.hooks.fire(&ev)
}

func (b *Breaker) commit(p Permit) {
	var ev events
	b.mu.Lock()
	if p.gen == b.gen && b.state == HalfOpen {
		if i := b.probeIndex(p.probe); i >= 0 && !b.probes[i].committed {
			b.probes[i].committed = true
			b.probeSucceededLocked(b.clk.Now(), &ev)
		}
	}
	b.mu.Unlock()
	b.hooks.fire(&ev)
}

func (b *Breaker) done(p Permit, o Outcome) {
	var ev events
	b.mu.Lock()
	if p.probe == 0 {
		if p.gen == b.gen { // hence still closed
			b.recordLocked(b.clk.Now(), o, &ev)
		}
	} else {
		b.probeDoneLocked(p, o, &ev)
	}
	b.mu.Unlock()
	b.hooks.fire(&ev)
}

func (b *Breaker) probeDoneLocked(p Permit, o Outcome, ev *events) {
	i := b.probeIndex(p.probe)
	if i < 0 {
		return // a probe of an earlier half-open period, or a second Done
	}
	committed := b.probes[i].committed
	b.probes = append(b.probes[:i], b.probes[i+1:]...)
	switch {
	case p.gen == b.gen && b.state == HalfOpen:
		switch o {
		case Success:
			if !committed {
				b.probeSucceededLocked(b.clk.Now(), ev)
			}
		case Failure:
			b.tripLocked(b.clk.Now(), ReasonProbeFailure, ev)
		}
	case committed && o == Failure && b.state == Closed && b.gen == p.gen+1:
		// This probe's commit closed the breaker and the stream then broke.
		b.recordLocked(b.clk.Now(), Failure, ev)
	}
}

func (b *Breaker) probeIndex(id uint64) int {
	for i := range b.probes {
		if b.probes[i].id == id {
			return i
		}
	}
	return -1
}

// recordLocked counts a closed-state outcome and opens the breaker when a
// failure policy says so.
func (b *Breaker) recordLocked(now time.Time, o Outcome, ev *events) {
	switch o {
	case Success:
		b.consecutive = 0
		b.window.add(now, 1, 0)
	case Failure:
		b.consecutive++
		b.window.add(now, 1, 1)
	default:
		return
	}
	if t := b.cfg.FailureThreshold; t > 0 && b.consecutive >= t {
		b.tripLocked(now, ReasonConsecutiveFailures, ev)
		return
	}
	if r := b.cfg.FailureRateThreshold; r > 0 {
		calls, failures := b.window.sums(now)
		if calls >= b.cfg.MinimumRequests && float64(failures)/float64(calls) >= r {
			b.tripLocked(now, ReasonFailureRate, ev)
		}
	}
}

func (b *Breaker) probeSucceededLocked(now time.Time, ev *events) {
	b.successes++
	if b.successes >= b.cfg.HalfOpenSuccessThreshold {
		b.closeLocked(now)
		ev.close = true
	}
}

// tripLocked opens the breaker for the backoff at the current level and
// raises the level.
func (b *Breaker) tripLocked(now time.Time, reason string, ev *events) {
	b.decayLocked(now)
	bo := b.cfg.backoff()
	d := bo.Delay(b.level, b.rng)
	b.decayPeriod = bo.ceiling(b.level)
	b.level = min(b.level+1, b.maxLevel)
	b.openUntil = now.Add(d)
	b.consecutive = 0
	b.window.reset()
	b.successes = 0
	b.setStateLocked(Open)
	ev.open, ev.openFor, ev.reason = true, d, reason
}

// refreshLocked turns an open breaker whose time is up half-open.
func (b *Breaker) refreshLocked(now time.Time, ev *events) {
	if b.state != Open || now.Before(b.openUntil) {
		return
	}
	b.openUntil = time.Time{}
	b.probes = b.probes[:0]
	b.successes = 0
	b.setStateLocked(HalfOpen)
	ev.halfOpen = true
}

// closeLocked closes the breaker with nothing counted; the probes of the
// half-open period that closed it are kept until the next half-open period.
func (b *Breaker) closeLocked(now time.Time) {
	b.openUntil = time.Time{}
	b.consecutive = 0
	b.window.reset()
	b.successes = 0
	b.decayFrom = now
	b.setStateLocked(Closed)
}

// decayLocked lowers the level by one for each full decay period the breaker
// has spent closed since decayFrom.
func (b *Breaker) decayLocked(now time.Time) {
	if b.state != Closed || b.level == 0 || b.decayPeriod <= 0 {
		return
	}
	n := now.Sub(b.decayFrom) / b.decayPeriod
	if n <= 0 {
		return
	}
	if n >= time.Duration(b.level) {
		b.level = 0
		return
	}
	b.level -= int(n)
	b.decayFrom = b.decayFrom.Add(n * b.decayPeriod)
}

func (b *Breaker) setStateLocked(s State) {
	b.state = s
	b.gen++
	b.publishLocked()
}

func (b *Breaker) publishLocked() {
	b.word.Store(b.gen<<2 | uint64(b.state))
}
