package limit

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Policy is what Resilient does with an item while its store (Redis) cannot
// decide: an error, a missed deadline, or an open breaker.
type Policy string

// Policies, by their configuration value.
const (
	// PolicyLocal limits in this process at the item's rate and burst
	// divided by the number of live replicas: together the replicas stay
	// near the limit. The default.
	PolicyLocal Policy = "local"
	// PolicyDeny refuses: Result.Source is SourceDeny, RetryAfter one
	// second. For hard budgets that must never overshoot.
	PolicyDeny Policy = "deny"
	// PolicyAllow lets the request through unlimited.
	PolicyAllow Policy = "allow"
)

// DenyRetryAfter is the RetryAfter of a request refused by PolicyDeny.
const DenyRetryAfter = time.Second

// Defaults of ResilientOptions.
const (
	DefaultOpenFor    = 500 * time.Millisecond
	DefaultMaxJournal = 10_000
)

// writeBackBatch is how many journal entries one write-back Take carries.
const writeBackBatch = 128

// BreakerState is the state of Resilient's breaker.
type BreakerState int

// Breaker states.
const (
	BreakerClosed   BreakerState = iota // checks go to the store
	BreakerOpen                         // checks use the failure policy, without trying the store
	BreakerHalfOpen                     // one probe check is trying the store; the others use the policy
)

// String returns closed, open or half-open.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// Hooks are callbacks that Resilient calls, for metrics and logs. A nil hook
// is not called. Hooks run on the request path and must be quick; they must
// not call back into the Resilient.
type Hooks struct {
	// Decision is called once per Take that returns a Result, with that
	// Result (Source and Allowed are the labels of a decision counter).
	Decision func(r Result)
	// Error is called for each failed check of the store, deadline
	// included; not for a caller's cancelled context.
	Error func(err error)
	// Breaker is called on each breaker transition.
	Breaker func(from, to BreakerState)
	// Latency is called after each check of the store with its duration on
	// the injected clock and its error (nil on success).
	Latency func(d time.Duration, err error)
}

// ResilientOptions configures a Resilient. The zero value is usable.
type ResilientOptions struct {
	// Clock tells the time of the breaker and of the local buckets.
	// Default nil: clock.Real().
	Clock clock.Clock
	// Policies maps an Item's Scope to its failure policy. Default: none,
	// every scope uses DefaultPolicy.
	Policies map[string]Policy
	// DefaultPolicy applies to scopes not in Policies. Default "":
	// PolicyLocal.
	DefaultPolicy Policy
	// Replicas returns the number of live replicas, N, by which PolicyLocal
	// divides each rate and burst (see cluster.Heartbeat.Count). Default
	// nil: 1. Values below 1 count as 1.
	Replicas func() int
	// FailureThreshold is how many consecutive failed checks open the
	// breaker. Default 0: 1, the first failure opens it (under load, the
	// checks already in flight fail too, each within the store's deadline).
	FailureThreshold int
	// OpenFor is how long the open breaker skips the store before it lets
	// one probe check through. Default 0: DefaultOpenFor (500ms).
	OpenFor time.Duration
	// MaxTracked bounds the local buckets (see MemoryOptions). Default 0:
	// DefaultMaxTracked.
	MaxTracked int
	// MaxJournal bounds the buckets whose local admissions are kept for
	// write-back; admissions on further buckets are not written back.
	// Default 0: DefaultMaxJournal; negative: no write-back.
	MaxJournal int
	// Hooks are called on decisions, errors, transitions and checks.
	Hooks Hooks
}

// Resilient is a Store that wraps another (a RedisStore) with a breaker and
// a failure policy per item scope. It never returns an error except the
// caller's own context error: when the inner store fails, misses its
// deadline or its breaker is open, each item follows its scope's Policy.
// Precedence within one batch: if any item that could refuse has
// PolicyDeny, the request is refused (SourceDeny); otherwise the PolicyLocal
// items are checked in local buckets (SourceLocal); with none, it is allowed
// (SourceAllow). There are no hidden retries: a failed check is not retried
// on the store.
//
// The breaker opens after FailureThreshold consecutive failures. While open
// no check goes to the store; after OpenFor exactly one probe check does
// (half-open), the others use the policy. The probe's success closes the
// breaker; its failure opens it for another OpenFor.
//
// Write-back: what the failure policy admitted (local and allow items alike,
// refunds and debt included) is journaled per bucket, as the bucket's
// theoretical arrival time had each admission been charged to the shared
// bucket at its own time (GCRA at the item's full rate). After the next
// successful check, the check that finds the journal non-empty writes back,
// as Debt items in batches of 128 buckets before returning, what is still
// outstanding of it: (TAT − now) · rate units, the admissions the shared
// bucket would not have refilled yet. So a Redis restarted empty gets back
// the recent usage it lost (no burst on top of the outage's admissions),
// while admissions the rate has long since paid for are not charged again: a
// key that kept within its limit through a long outage is not locked out
// for as long afterwards. A failed write-back keeps the rest of the journal
// and opens the breaker.
type Resilient struct {
	inner   Store
	local   *MemoryStore
	clock   clock.Clock
	opts    ResilientOptions
	journal int // MaxJournal, normalized

	mu        sync.Mutex
	state     BreakerState
	failures  int
	openUntil time.Time
	pending   map[string]*journaled
}

// journaled is what the failure policy admitted on one bucket.
type journaled struct {
	item Item      // Key, Scope, Rate, Burst of the bucket (Cost unset)
	tat  time.Time // the bucket's theoretical arrival time from the admissions alone
}

// outstanding returns the units of j's admissions the bucket has not
// refilled by now.
func (j *journaled) outstanding(now time.Time) int64 {
	if !j.tat.After(now) {
		return 0
	}
	return int64(math.Ceil(j.tat.Sub(now).Seconds()*j.item.Rate - 1e-9))
}

var _ Store = (*Resilient)(nil)

// NewResilient returns a Resilient around inner.
func NewResilient(inner Store, opts ResilientOptions) *Resilient {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.DefaultPolicy == "" {
		opts.DefaultPolicy = PolicyLocal
	}
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = 1
	}
	if opts.OpenFor <= 0 {
		opts.OpenFor = DefaultOpenFor
	}
	journal := opts.MaxJournal
	if journal == 0 {
		journal = DefaultMaxJournal
	}
	return &Resilient{
		inner:   inner,
		local:   NewMemoryStore(MemoryOptions{Clock: opts.Clock, MaxTracked: opts.MaxTracked}),
		clock:   opts.Clock,
		opts:    opts,
		journal: journal,
		pending: make(map[string]*journaled),
	}
}

// State returns the breaker's state.
func (r *Resilient) State() BreakerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// Close implements Store: it closes the inner store.
func (r *Resilient) Close() error {
	r.local.Close()
	return r.inner.Close()
}

// Take implements Store.
func (r *Resilient) Take(ctx context.Context, items []Item) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	probe, try := r.acquire()
	if !try {
		return r.decided(r.fallback(ctx, items)), nil
	}
	start := r.clock.Now()
	res, err := r.inner.Take(ctx, items)
	if h := r.opts.Hooks.Latency; h != nil {
		h(r.clock.Now().Sub(start), err)
	}
	if err == nil {
		if batch := r.succeeded(probe); batch != nil {
			r.writeBack(ctx, batch)
		}
		return r.decided(res), nil
	}
	if cerr := ctx.Err(); cerr != nil { // the caller gave up: not the store's fault
		r.abandoned(probe)
		return Result{}, cerr
	}
	if h := r.opts.Hooks.Error; h != nil {
		h(err)
	}
	r.failed(probe)
	return r.decided(r.fallback(ctx, items)), nil
}

func (r *Resilient) decided(res Result) Result {
	if h := r.opts.Hooks.Decision; h != nil {
		h(res)
	}
	return res
}

// transition moves the breaker to state; the caller holds r.mu and calls the
// returned func (the hook) after unlocking.
func (r *Resilient) transition(to BreakerState) func() {
	from := r.state
	r.state = to
	if h := r.opts.Hooks.Breaker; h != nil && from != to {
		return func() { h(from, to) }
	}
	return func() {}
}

// acquire reports whether this check may try the store, and whether it is
// the half-open probe.
func (r *Resilient) acquire() (probe, try bool) {
	r.mu.Lock()
	switch r.state {
	case BreakerClosed:
		r.mu.Unlock()
		return false, true
	case BreakerOpen:
		if !r.clock.Now().Before(r.openUntil) {
			hook := r.transition(BreakerHalfOpen)
			r.mu.Unlock()
			hook()
			return true, true
		}
	}
	r.mu.Unlock()
	return false, false
}

// succeeded records a successful check. It returns the journal to write
// back, taking it from r, when there is one.
func (r *Resilient) succeeded(probe bool) map[string]*journaled {
	r.mu.Lock()
	hook := func() {}
	switch {
	case probe:
		hook = r.transition(BreakerClosed)
		r.failures = 0
	case r.state == BreakerClosed:
		r.failures = 0
	}
	var batch map[string]*journaled
	if r.state == BreakerClosed && len(r.pending) > 0 {
		batch, r.pending = r.pending, make(map[string]*journaled)
	}
	r.mu.Unlock()
	hook()
	return batch
}

// failed records a failed check.
func (r *Resilient) failed(probe bool) {
	r.mu.Lock()
	hook := func() {}
	r.failures++
	if probe || (r.state == BreakerClosed && r.failures >= r.opts.FailureThreshold) {
		r.openUntil = r.clock.Now().Add(r.opts.OpenFor)
		hook = r.transition(BreakerOpen)
	}
	r.mu.Unlock()
	hook()
}

// abandoned releases the probe of a check whose caller gave up: the next
// check probes at once.
func (r *Resilient) abandoned(probe bool) {
	if !probe {
		return
	}
	r.mu.Lock()
	r.openUntil = r.clock.Now()
	hook := r.transition(BreakerOpen)
	r.mu.Unlock()
	hook()
}

// writeBack charges what is outstanding of batch to the inner store. What
// it cannot write goes back to the journal, and the breaker opens.
func (r *Resilient) writeBack(ctx context.Context, batch map[string]*journaled) {
	ctx = context.WithoutCancel(ctx)
	now := r.clock.Now()
	items := make([]Item, 0, min(len(batch), writeBackBatch))
	ok := true
	for k, j := range batch {
		it := j.item
		if it.Cost = j.outstanding(now); it.Cost <= 0 {
			delete(batch, k) // paid for by the time that passed
			continue
		}
		items = append(items, it)
		if len(items) == writeBackBatch {
			if ok = r.charge(ctx, items, batch); !ok {
				break
			}
			items = items[:0]
		}
	}
	if ok && len(items) > 0 {
		ok = r.charge(ctx, items, batch)
	}
	if ok {
		return
	}
	r.mu.Lock()
	for k, j := range batch {
		it := j.item
		it.Cost = j.outstanding(now)
		r.record(k, it, now)
	}
	r.failures++
	r.openUntil = r.clock.Now().Add(r.opts.OpenFor)
	hook := r.transition(BreakerOpen)
	r.mu.Unlock()
	hook()
}

// charge writes items back and removes them from batch.
func (r *Resilient) charge(ctx context.Context, items []Item, batch map[string]*journaled) bool {
	if _, err := r.inner.Take(ctx, items); err != nil {
		if h := r.opts.Hooks.Error; h != nil {
			h(err)
		}
		return false
	}
	for _, it := range items {
		delete(batch, it.Key)
	}
	return true
}

// fallback decides items by their policies.
func (r *Resilient) fallback(ctx context.Context, items []Item) Result {
	for i := range items {
		it := &items[i]
		if it.limited() && it.refuses() && r.policy(it.Scope) == PolicyDeny {
			return Result{Denied: i, Index: i, Limit: it.burst(), RetryAfter: DenyRetryAfter, Source: SourceDeny}
		}
	}
	n := 1
	if r.opts.Replicas != nil {
		n = max(1, r.opts.Replicas())
	}
	var (
		stack  [8]Item
		istack [8]int
	)
	local, index := stack[:0], istack[:0]
	for i := range items {
		it := items[i]
		if !it.limited() || r.policy(it.Scope) != PolicyLocal {
			continue
		}
		it.Burst = max(1, int64(math.Ceil(float64(it.burst())/float64(n))))
		it.Rate /= float64(n)
		local = append(local, it)
		index = append(index, i)
	}
	res := unlimited(SourceAllow)
	if len(local) > 0 {
		res, _ = r.local.Take(ctx, local)
		if res.Index >= 0 {
			res.Index = index[res.Index]
		}
		if res.Denied >= 0 {
			res.Denied = index[res.Denied]
		}
	}
	if res.Allowed && r.journal > 0 {
		now := r.clock.Now()
		r.mu.Lock()
		for i := range items {
			if it := &items[i]; it.limited() && it.Cost != 0 {
				r.record(it.Key, *it, now)
			}
		}
		r.mu.Unlock()
	}
	return res
}

// record adds an admission of it.Cost units at now to the journal, moving
// its bucket's arrival time as GCRA does (a refund moves it back, never
// before now); the caller holds r.mu.
func (r *Resilient) record(key string, it Item, now time.Time) {
	j := r.pending[key]
	if j == nil {
		if len(r.pending) >= r.journal {
			return
		}
		j = &journaled{item: Item{Key: it.Key, Scope: it.Scope, Debt: true}, tat: now}
		r.pending[key] = j
	}
	j.item.Rate, j.item.Burst = it.Rate, it.Burst
	if j.tat.Before(now) {
		j.tat = now
	}
	j.tat = j.tat.Add(time.Duration(float64(it.Cost) / it.Rate * float64(time.Second)))
	if j.tat.Before(now) {
		j.tat = now
	}
}

func (r *Resilient) policy(scope string) Policy {
	if p, ok := r.opts.Policies[scope]; ok {
		return p
	}
	return r.opts.DefaultPolicy
}
