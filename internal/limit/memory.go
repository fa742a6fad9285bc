package limit

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// MemoryOptions configures a MemoryStore. The zero value is usable.
type MemoryOptions struct {
	// Clock tells the time. Default nil: clock.Real().
	Clock clock.Clock
	// MaxTracked bounds the buckets kept; beyond it the least recently used
	// are forgotten (and start again full if they return). Default 0:
	// DefaultMaxTracked; negative values also mean DefaultMaxTracked.
	MaxTracked int
}

// MemoryStore is a Store whose buckets live in this process: the semantics of
// RedisStore for one replica. Buckets are token buckets refilled lazily on
// the injected clock, equivalent to GCRA (tokens = burst − (TAT − now)·rate),
// so over a run of length T a bucket admits exactly Burst + Rate·T. It is
// safe for concurrent use; one mutex guards all buckets. The zero value is
// not usable; call NewMemoryStore.
type MemoryStore struct {
	clock clock.Clock
	max   int

	mu      sync.Mutex
	buckets map[string]*memEntry
	lru     memEntry // sentinel: lru.next is the most recently used
}

// memEntry is one tracked bucket and its place in the recency list.
type memEntry struct {
	prev, next *memEntry
	key        string
	bucket
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(opts MemoryOptions) *MemoryStore {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.MaxTracked <= 0 {
		opts.MaxTracked = DefaultMaxTracked
	}
	m := &MemoryStore{clock: opts.Clock, max: opts.MaxTracked, buckets: make(map[string]*memEntry)}
	m.lru.next, m.lru.prev = &m.lru, &m.lru
	return m
}

// slot is one item's bucket during a Take and its tokens before and after
// the item's charge.
type slot struct {
	e             *memEntry
	before, after float64
}

// Take implements Store. Its Source is SourceLocal; it never fails.
func (m *MemoryStore) Take(_ context.Context, items []Item) (Result, error) {
	now := m.clock.Now()
	var stack [8]slot
	slots := stack[:0]
	if len(items) > len(stack) {
		slots = make([]slot, 0, len(items))
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	deny, wait, some := -1, time.Duration(-1), false
	for i := range items {
		it := &items[i]
		if !it.limited() {
			slots = append(slots, slot{})
			continue
		}
		some = true
		e := m.entry(it.Key, it.spec(), now)
		tokens := e.tokens
		for j := i - 1; j >= 0; j-- { // an earlier item of this batch on the same bucket
			if slots[j].e == e {
				tokens = slots[j].after
				break
			}
		}
		cost := float64(it.Cost)
		slots = append(slots, slot{e: e, before: tokens, after: e.charged(tokens, cost)})
		if it.refuses() && !e.fits(tokens, cost) {
			if w := e.waitFor(tokens, e.need(cost)); w > wait {
				deny, wait = i, w
			}
		}
	}
	if !some {
		return unlimited(SourceLocal), nil
	}
	if deny >= 0 {
		s := slots[deny]
		return Result{
			Denied:     deny,
			Index:      deny,
			Limit:      int64(s.e.spec.Burst),
			Remaining:  wholeTokens(s.before),
			Reset:      s.e.waitFor(s.before, float64(s.e.spec.Burst)),
			RetryAfter: max(time.Millisecond, wait),
			Source:     SourceLocal,
		}, nil
	}
	tight := -1
	for i, s := range slots {
		if s.e == nil {
			continue
		}
		s.e.tokens = s.after
		if tight < 0 || s.after/float64(s.e.spec.Burst) < slots[tight].after/float64(slots[tight].e.spec.Burst) {
			tight = i
		}
	}
	s := slots[tight]
	m.trim()
	return Result{
		Allowed:   true,
		Denied:    -1,
		Index:     tight,
		Limit:     int64(s.e.spec.Burst),
		Remaining: wholeTokens(s.after),
		Reset:     s.e.waitFor(s.after, float64(s.e.spec.Burst)),
		Source:    SourceLocal,
	}, nil
}

// Close implements Store; it forgets every bucket.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.buckets)
	m.lru.next, m.lru.prev = &m.lru, &m.lru
	return nil
}

// Tracked returns how many buckets are kept.
func (m *MemoryStore) Tracked() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// wholeTokens returns the whole tokens in a count, 0 when in debt.
func wholeTokens(tokens float64) int64 {
	return max(0, int64(math.Floor(tokens+epsilon)))
}

// entry returns the up-to-date bucket of key, creating it full, and marks it
// most recently used. A changed spec keeps the tokens up to the new burst.
func (m *MemoryStore) entry(key string, spec Spec, now time.Time) *memEntry {
	e := m.buckets[key]
	if e == nil {
		e = &memEntry{key: key}
		e.reset(spec, now)
		m.buckets[key] = e
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
		e.respec(spec, now)
		e.refill(now)
	}
	e.prev, e.next = &m.lru, m.lru.next
	m.lru.next.prev = e
	m.lru.next = e
	return e
}

// trim forgets the least recently used buckets beyond the bound.
func (m *MemoryStore) trim() {
	for len(m.buckets) > m.max {
		e := m.lru.prev
		e.prev.next, e.next.prev = e.next, e.prev
		delete(m.buckets, e.key)
	}
}
