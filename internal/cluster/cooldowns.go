package cluster

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/redis/go-redis/v9"
)

// DefaultCooldownPoll is how often Cooldowns re-reads every cooldown when
// CooldownOptions.Poll is zero.
const DefaultCooldownPoll = time.Second

// setCooldownScript extends one backend's cooldown (never shortens it),
// prunes ended ones, makes the set expire with its last cooldown, and
// announces the change. KEYS: the set. ARGV: backend, until (Unix ms),
// channel.
var setCooldownScript = redis.NewScript(serverTimeMs + `
local untilMs = tonumber(ARGV[2])
local cur = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or 0) or 0
if untilMs > cur then redis.call('ZADD', KEYS[1], untilMs, ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[1] .. ' ' .. ARGV[2])
return 0
`)

// CooldownOptions configures Cooldowns. The zero value is usable.
type CooldownOptions struct {
	// Clock tells the time Until compares with, and drives the poll.
	// Default nil: clock.Real().
	Clock clock.Clock
	// Poll is how often Run re-reads every cooldown, in case a
	// notification was lost. Default 0: DefaultCooldownPoll (1s).
	Poll time.Duration
	// OnError is called with each failed read or subscription. Default
	// nil: ignored.
	OnError func(error)
}

// Cooldowns shares provider 429 cooldowns between replicas: a backend whose
// provider answered 429 (or 503 with Retry-After) cools down on every
// replica, since the limit is the shared upstream account's.
//
// In Redis, the sorted set KeyPrefix + "cooldowns" maps each backend to the
// end of its cooldown (Unix ms); it expires with the last cooldown. Set
// publishes each change on the channel of the same name. Until never reads
// Redis: it reads a local copy that Run keeps up to date from the
// notifications, re-reads whole on every (re)subscription, and polls every
// Poll. Staleness: a few milliseconds normally; at most Poll (default 1s)
// when a notification is lost, plus the Redis outage when Redis is down
// (the local copy is kept, and this replica's own Sets apply at once).
// Times are wall-clock times of the replicas, which are assumed to be in
// NTP sync. It is safe for concurrent use.
type Cooldowns struct {
	rdb     redis.UniversalClient
	key     string
	clock   clock.Clock
	poll    time.Duration
	onError func(error)

	mu    sync.Mutex                           // serializes writers of until
	until atomic.Pointer[map[string]time.Time] // immutable; swapped whole
}

// NewCooldowns returns Cooldowns on rdb. keyPrefix "" means
// DefaultKeyPrefix.
func NewCooldowns(rdb redis.UniversalClient, keyPrefix string, opts CooldownOptions) *Cooldowns {
	if keyPrefix == "" {
		keyPrefix = DefaultKeyPrefix
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultCooldownPoll
	}
	c := &Cooldowns{rdb: rdb, key: keyPrefix + "cooldowns", clock: opts.Clock, poll: opts.Poll, onError: opts.OnError}
	c.until.Store(&map[string]time.Time{})
	return c
}

// Until returns when backend's cooldown ends: a zero time when it has none
// or it has ended. It reads only the local copy, without locking.
func (c *Cooldowns) Until(backend string) time.Time {
	u := (*c.until.Load())[backend]
	if !u.After(c.clock.Now()) {
		return time.Time{}
	}
	return u
}

// Set cools backend down until the given time on every replica. A cooldown
// already longer is kept. The local copy changes at once, even when Redis
// fails (the error is returned).
func (c *Cooldowns) Set(ctx context.Context, backend string, until time.Time) error {
	c.merge(map[string]time.Time{backend: until})
	ms := until.UnixMilli()
	return setCooldownScript.Run(ctx, c.rdb, []string{c.key}, backend, ms, c.key).Err()
}

// merge updates the local copy with m, keeping the later time of each
// backend (cooldowns are only ever extended) and dropping ended ones.
func (c *Cooldowns) merge(m map[string]time.Time) {
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.until.Load()
	next := make(map[string]time.Time, len(old)+len(m))
	for b, u := range old {
		if u.After(now) {
			next[b] = u
		}
	}
	for b, u := range m {
		if u.After(now) && u.After(next[b]) {
			next[b] = u
		}
	}
	c.until.Store(&next)
}

// Refresh re-reads every cooldown from Redis into the local copy.
func (c *Cooldowns) Refresh(ctx context.Context) error {
	now := c.clock.Now().UnixMilli()
	zs, err := c.rdb.ZRangeByScoreWithScores(ctx, c.key, &redis.ZRangeBy{Min: strconv.FormatInt(now, 10), Max: "+inf"}).Result()
	if err != nil {
		return err
	}
	m := make(map[string]time.Time, len(zs))
	for _, z := range zs {
		if b, ok := z.Member.(string); ok {
			m[b] = time.UnixMilli(int64(z.Score))
		}
	}
	c.merge(m)
	return nil
}

// Run keeps the local copy up to date until ctx ends: it subscribes to the
// change notifications, re-reads every cooldown on each (re)subscription
// and every Poll.
func (c *Cooldowns) Run(ctx context.Context) {
	follow(ctx, c.rdb, c.key, c.clock, c.poll, c.onError, func(msg *redis.Message) {
		if msg == nil {
			if err := c.Refresh(ctx); err != nil && c.onError != nil && ctx.Err() == nil {
				c.onError(err)
			}
			return
		}
		backend, ms, ok := strings.Cut(msg.Payload, " ")
		if n, err := strconv.ParseInt(ms, 10, 64); ok && err == nil {
			c.merge(map[string]time.Time{backend: time.UnixMilli(n)})
		}
	})
}

// follow subscribes to channel and calls fn with each message, and with nil
// on each (re)subscription and every poll, until ctx ends.
func follow(ctx context.Context, rdb redis.UniversalClient, channel string, clk clock.Clock, poll time.Duration, onError func(error), fn func(*redis.Message)) {
	ps := rdb.Subscribe(ctx, channel)
	defer ps.Close()
	ch := ps.ChannelWithSubscriptions()
	fn(nil)
	t := clk.NewTimer(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			switch m := m.(type) {
			case *redis.Subscription:
				fn(nil)
			case *redis.Message:
				fn(m)
			case error:
				if onError != nil {
					onError(m)
				}
			}
		case <-t.C():
			fn(nil)
			t.Reset(poll)
		}
	}
}
