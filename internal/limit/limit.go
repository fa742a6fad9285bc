// Package limit applies request rate limits (token buckets per API key, per
// client address and for all traffic together), bounds the requests in flight
// for load shedding, and finds the client address behind trusted proxies.
//
// Limiter keeps its buckets in memory and refills them lazily when a request
// touches them, using the injected clock; nothing runs in the background. The
// number of tracked keys and client addresses is bounded, the least recently
// used being forgotten first, so a flood of distinct addresses cannot exhaust
// memory.
//
// Store generalizes it for several replicas: a batch of Items (any buckets,
// any costs, refunds and debt) taken all or nothing, with the same GCRA
// semantics in memory (MemoryStore) and in Redis (RedisStore, one script per
// request, shared by every replica). Resilient adds a breaker and a failure
// policy per scope for Redis outages, and Reserve/Reservation account token
// limits by reserving an estimate and reconciling it to the usage. See
// docs/scaleout.md. The router takes every limit from a Store (MemoryStore,
// or Resilient around RedisStore); Limiter is the fixed-level in-memory
// limiter it used before, kept for callers that need no more.
package limit

import (
	"net/netip"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
)

// Scopes name the limit that decided a request. They are used as the scope
// label of rate-limit metrics.
const (
	ScopeGlobal = "global"  // all requests together
	ScopeAPIKey = "api_key" // one API key
	ScopeClient = "client"  // one client address
)

// DefaultMaxTracked is the bound on tracked keys and clients when
// Config.MaxTracked is zero.
const DefaultMaxTracked = 100_000

// Config configures a Limiter. The zero value limits nothing.
type Config struct {
	// Global limits all requests together. Default zero: unlimited.
	Global Spec
	// PerKey limits each API key that has no spec of its own. Default zero:
	// unlimited.
	PerKey Spec
	// PerClient limits each client address. It applies to every request with
	// a valid client address, with or without an API key (a keyed request
	// passes both its key's bucket and its address's bucket). Default zero:
	// unlimited.
	PerClient Spec
	// Whitelist lists client addresses that bypass every limit. Default:
	// none.
	Whitelist []netip.Prefix
	// BypassKeys lists key IDs that bypass every limit. Default: none.
	BypassKeys []string
	// MaxTracked bounds the number of tracked keys and clients together;
	// beyond it the least recently used are forgotten (and start again with
	// a full bucket if they return). Default 0: DefaultMaxTracked. Negative
	// values also mean DefaultMaxTracked.
	MaxTracked int
}

// Decision is the outcome of Allow, with the data of the rate-limit response
// headers (x-ratelimit-limit-requests, x-ratelimit-remaining-requests,
// x-ratelimit-reset-requests, and Retry-After when denied).
type Decision struct {
	// Allowed reports whether the request may proceed.
	Allowed bool
	// Scope names the bucket the other fields describe: ScopeGlobal,
	// ScopeAPIKey or ScopeClient; "" when the request was allowed without
	// any limit applying (the other fields are then zero).
	Scope string
	// Limit is that bucket's burst capacity.
	Limit int
	// Remaining is the whole tokens left in it after this request.
	Remaining int
	// Reset is the time until it is full again.
	Reset time.Duration
	// RetryAfter, when not Allowed, is the time until one token is
	// available; at least one millisecond. Zero when Allowed.
	RetryAfter time.Duration
}

// Limiter applies rate limits. It is safe for concurrent use; one mutex
// guards all buckets, and Allow does not allocate once a key's and a
// client's buckets exist. The zero value is not usable; call New.
type Limiter struct {
	clock clock.Clock

	mu      sync.Mutex
	cfg     settings
	global  bucket // used when cfg.global is limited
	keys    map[string]*entry
	clients map[netip.Addr]*entry
	lru     entry  // sentinel of the recency list: lru.next is the most recent
	free    *entry // evicted entries kept for reuse, linked through next
	nfree   int
}

// settings is a Config compiled for lookups.
type settings struct {
	global, perKey, perClient Spec // normalized when limited
	whitelist                 []netip.Prefix
	bypass                    map[string]struct{}
	maxTracked                int
}

// maxFree bounds the list of entries kept for reuse: one Allow inserts at
// most two entries.
const maxFree = 2

// entry is one tracked key or client and its place in the recency list.
type entry struct {
	prev, next *entry
	keyID      string     // set for key entries
	addr       netip.Addr // set for client entries
	bucket
}

// New returns a Limiter for cfg. A nil clk means clock.Real().
func New(cfg Config, clk clock.Clock) *Limiter {
	if clk == nil {
		clk = clock.Real()
	}
	l := &Limiter{
		clock:   clk,
		keys:    make(map[string]*entry),
		clients: make(map[netip.Addr]*entry),
	}
	l.lru.next, l.lru.prev = &l.lru, &l.lru
	l.cfg = compile(cfg)
	if l.cfg.global.Limited() {
		l.global.reset(l.cfg.global, clk.Now())
	}
	return l
}

func compile(cfg Config) settings {
	s := settings{
		global:     normalize(cfg.Global),
		perKey:     normalize(cfg.PerKey),
		perClient:  normalize(cfg.PerClient),
		maxTracked: cfg.MaxTracked,
	}
	if s.maxTracked <= 0 {
		s.maxTracked = DefaultMaxTracked
	}
	for _, p := range cfg.Whitelist {
		if p.IsValid() {
			s.whitelist = append(s.whitelist, p.Masked())
		}
	}
	if len(cfg.BypassKeys) > 0 {
		s.bypass = make(map[string]struct{}, len(cfg.BypassKeys))
		for _, id := range cfg.BypassKeys {
			s.bypass[id] = struct{}{}
		}
	}
	return s
}

// normalize returns the normalized spec, or the zero Spec when s is unlimited.
func normalize(s Spec) Spec {
	if !s.Limited() {
		return Spec{}
	}
	return s.normalized()
}

// Reconfigure applies cfg. Buckets whose spec is unchanged keep their tokens;
// a bucket whose spec changed keeps its tokens up to the new burst and
// refills at the new rate from now on (key and client buckets are switched
// when they are next used). Lowering MaxTracked forgets the least recently
// used entries at once; turning PerClient off forgets every client.
func (l *Limiter) Reconfigure(cfg Config) {
	now := l.clock.Now()
	next := compile(cfg)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !next.global.Limited():
	case l.cfg.global.Limited():
		l.global.respec(next.global, now)
	default:
		l.global.reset(next.global, now)
	}
	l.cfg = next
	if !next.perClient.Limited() {
		for _, e := range l.clients {
			l.evict(e)
		}
	}
	l.trim()
}

// Allow takes one token from each applicable bucket: the global bucket, then
// the key's bucket (when keyID is not ""; keySpec overrides Config.PerKey
// when its rate is set), then the client's bucket (when clientIP is valid).
// A denied request takes no token from any bucket. Whitelisted addresses and
// bypass keys are always allowed and take no token.
//
// The Decision describes the bucket that denied the request or, when it is
// allowed, the most restrictive applicable bucket: the one with the fewest
// tokens left (the first in the order above on a tie).
func (l *Limiter) Allow(keyID string, keySpec Spec, clientIP netip.Addr) Decision {
	now := l.clock.Now()
	clientIP = clientIP.Unmap().WithZone("")

	l.mu.Lock()
	defer l.mu.Unlock()
	cfg := &l.cfg
	if cfg.bypassed(keyID, clientIP) {
		return Decision{Allowed: true}
	}

	var (
		buckets [3]*bucket
		scopes  [3]string
		n       int
	)
	if cfg.global.Limited() {
		l.global.refill(now)
		buckets[n], scopes[n] = &l.global, ScopeGlobal
		n++
	}
	if keyID != "" {
		spec := normalize(keySpec)
		if !spec.Limited() {
			spec = cfg.perKey
		}
		if spec.Limited() {
			buckets[n], scopes[n] = l.keyBucket(keyID, spec, now), ScopeAPIKey
			n++
		}
	}
	if cfg.perClient.Limited() && clientIP.IsValid() {
		buckets[n], scopes[n] = l.clientBucket(clientIP, cfg.perClient, now), ScopeClient
		n++
	}
	defer l.trim()

	for i, b := range buckets[:n] {
		if !b.available() {
			return Decision{
				Scope:      scopes[i],
				Limit:      b.spec.Burst,
				Remaining:  b.remaining(),
				Reset:      b.untilFull(),
				RetryAfter: max(time.Millisecond, b.untilAvailable()),
			}
		}
	}
	if n == 0 {
		return Decision{Allowed: true}
	}
	tightest := 0
	for i, b := range buckets[:n] {
		b.take()
		if b.tokens < buckets[tightest].tokens {
			tightest = i
		}
	}
	b := buckets[tightest]
	return Decision{
		Allowed:   true,
		Scope:     scopes[tightest],
		Limit:     b.spec.Burst,
		Remaining: b.remaining(),
		Reset:     b.untilFull(),
	}
}

// Tracked returns how many keys and clients have a bucket.
func (l *Limiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys) + len(l.clients)
}

func (s *settings) bypassed(keyID string, addr netip.Addr) bool {
	if keyID != "" && s.bypass != nil {
		if _, ok := s.bypass[keyID]; ok {
			return true
		}
	}
	if addr.IsValid() {
		for _, p := range s.whitelist {
			if p.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// keyBucket returns the up-to-date bucket of keyID, creating it full if it
// is not tracked, and marks it most recently used.
func (l *Limiter) keyBucket(keyID string, spec Spec, now time.Time) *bucket {
	e := l.keys[keyID]
	if e == nil {
		e = l.insert(spec, now)
		e.keyID = keyID
		l.keys[keyID] = e
		return &e.bucket
	}
	l.touch(e, spec, now)
	return &e.bucket
}

// clientBucket is keyBucket for a client address.
func (l *Limiter) clientBucket(addr netip.Addr, spec Spec, now time.Time) *bucket {
	e := l.clients[addr]
	if e == nil {
		e = l.insert(spec, now)
		e.addr = addr
		l.clients[addr] = e
		return &e.bucket
	}
	l.touch(e, spec, now)
	return &e.bucket
}

func (l *Limiter) touch(e *entry, spec Spec, now time.Time) {
	l.unlink(e)
	l.pushFront(e)
	e.respec(spec, now)
	e.refill(now)
}

// insert returns a new entry, most recently used, with a full bucket. It
// reuses an evicted entry when one is kept.
func (l *Limiter) insert(spec Spec, now time.Time) *entry {
	e := l.free
	if e != nil {
		l.free, l.nfree = e.next, l.nfree-1
		*e = entry{}
	} else {
		e = new(entry)
	}
	e.reset(spec, now)
	l.pushFront(e)
	return e
}

// trim forgets least recently used entries beyond the bound.
func (l *Limiter) trim() {
	for len(l.keys)+len(l.clients) > l.cfg.maxTracked {
		l.evict(l.lru.prev)
	}
}

func (l *Limiter) evict(e *entry) {
	if e.keyID != "" {
		delete(l.keys, e.keyID)
	} else {
		delete(l.clients, e.addr)
	}
	l.unlink(e)
	if l.nfree < maxFree {
		e.next = l.free
		l.free, l.nfree = e, l.nfree+1
	}
}

func (l *Limiter) pushFront(e *entry) {
	e.prev, e.next = &l.lru, l.lru.next
	l.lru.next.prev = e
	l.lru.next = e
}

func (l *Limiter) unlink(e *entry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}
