package cluster

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/redis/go-redis/v9"
)

// DefaultHeartbeatTTL is how long a replica counts as alive after its last
// heartbeat when HeartbeatOptions.TTL is zero.
const DefaultHeartbeatTTL = 15 * time.Second

// ReplicasTag is the Redis Cluster hash tag of the replica keys.
const ReplicasTag = "{replicas}"

// beatScript records one heartbeat: the replica's own key with a TTL, and its
// expiry in the index sorted set, from which expired replicas are pruned. It
// returns the number of live replicas. KEYS: replica key, index. ARGV: id,
// TTL in ms.
var beatScript = redis.NewScript(serverTimeMs + `
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('ZCARD', KEYS[2])
`)

// HeartbeatOptions configures a Heartbeat. The zero value is usable.
type HeartbeatOptions struct {
	// Clock drives the refresh ticker. Default nil: clock.Real().
	Clock clock.Clock
	// TTL is how long the replica counts as alive after a heartbeat; Run
	// refreshes every TTL/3, so a replica survives two lost heartbeats, and
	// a crashed replica stops counting within TTL. Default 0:
	// DefaultHeartbeatTTL (15s).
	TTL time.Duration
}

// Heartbeat announces one replica in Redis and counts the live ones: the N by
// which the local failure policy divides each limit. The replica's key is
// KeyPrefix + "{replicas}:replica:" + id (its value the id, with a TTL), and
// the sorted set KeyPrefix + "{replicas}:index" holds every replica's expiry
// so that counting needs no key scan; both share a hash tag for Redis
// Cluster. Expiry is on the Redis clock. It is safe for concurrent use.
type Heartbeat struct {
	rdb   redis.Scripter
	key   string
	index string
	id    string
	ttl   time.Duration
	clock clock.Clock
	count atomic.Int64
}

// NewHeartbeat returns a Heartbeat for the replica id (the pod name, for
// example: it must be unique among the replicas and must not be "").
// keyPrefix "" means DefaultKeyPrefix.
func NewHeartbeat(rdb redis.Scripter, keyPrefix, id string, opts HeartbeatOptions) (*Heartbeat, error) {
	if id == "" || strings.ContainsAny(id, "{}") {
		return nil, errors.New("cluster: heartbeat: replica id is empty or contains braces")
	}
	if keyPrefix == "" {
		keyPrefix = DefaultKeyPrefix
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultHeartbeatTTL
	}
	h := &Heartbeat{
		rdb:   rdb,
		key:   keyPrefix + ReplicasTag + ":replica:" + id,
		index: keyPrefix + ReplicasTag + ":index",
		id:    id,
		ttl:   opts.TTL,
		clock: opts.Clock,
	}
	h.count.Store(1)
	return h, nil
}

// Count returns the number of live replicas at the last successful
// heartbeat, this one included: at least 1 (also before the first
// heartbeat, and the last known value while Redis is unreachable).
func (h *Heartbeat) Count() int { return int(max(1, h.count.Load())) }

// Beat records one heartbeat and updates Count.
func (h *Heartbeat) Beat(ctx context.Context) error {
	n, err := beatScript.Run(ctx, h.rdb, []string{h.key, h.index}, h.id, h.ttl.Milliseconds()).Int64()
	if err != nil {
		return err
	}
	h.count.Store(n)
	return nil
}

// Run beats at once and then every TTL/3 on the clock until ctx ends; then
// it removes the replica (a clean shutdown stops counting at once) and
// returns. Failed heartbeats are passed to onError (nil: ignored) and
// retried at the next tick.
func (h *Heartbeat) Run(ctx context.Context, onError func(error)) {
	every := h.ttl / 3
	t := h.clock.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			leave, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			h.Leave(leave)
			cancel()
			return
		case <-t.C():
			if err := h.Beat(ctx); err != nil && onError != nil && ctx.Err() == nil {
				onError(err)
			}
			t.Reset(every)
		}
	}
}

// Leave removes the replica from the live set.
func (h *Heartbeat) Leave(ctx context.Context) error {
	return leaveScript.Run(ctx, h.rdb, []string{h.key, h.index}, h.id).Err()
}

var leaveScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 0
`)
