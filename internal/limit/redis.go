package limit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix is the prefix of every Redis key when none is configured.
const DefaultKeyPrefix = "continuum:"

// DefaultRedisTimeout is the deadline of one Redis check when none is
// configured.
const DefaultRedisTimeout = 50 * time.Millisecond

// BucketTag is the Redis Cluster hash tag shared by every bucket key, so that
// one script can check all of a request's buckets in one slot.
const BucketTag = "{rl}"

// gcraScript checks and charges a batch of buckets in one round trip.
//
//go:embed gcra.lua
var gcraScript string

// RedisOptions configures a RedisStore. The zero value is usable.
type RedisOptions struct {
	// KeyPrefix starts every bucket key: a bucket Key k is stored at
	// KeyPrefix + BucketTag + ":" + k. Default "": DefaultKeyPrefix.
	KeyPrefix string
	// Timeout is the deadline of one Take, on top of the caller's context.
	// Default 0: DefaultRedisTimeout; negative: no deadline of its own.
	Timeout time.Duration
}

// RedisStore is a Store whose buckets live in Redis, shared by every replica.
// Each Take is one EVALSHA (EVAL when the server answers NOSCRIPT, after a
// restart or SCRIPT FLUSH) of a GCRA script that checks every item and
// charges all or none, with Redis TIME as the clock. A bucket's key holds its
// theoretical arrival time and expires when the bucket is full again, so idle
// buckets cost no memory. It is safe for concurrent use. Buckets live under
// one hash tag, so in Redis Cluster they all share one slot (one shard).
type RedisStore struct {
	rdb     redis.Scripter
	prefix  string
	timeout time.Duration
	sha     string
}

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a RedisStore on rdb: a *redis.Client (single server or
// Sentinel failover) or *redis.ClusterClient, built with the settings of
// cluster.Open (no retries, one dial attempt, context deadlines honoured).
// The store does not own rdb: Close leaves it open.
func NewRedisStore(rdb redis.Scripter, opts RedisOptions) *RedisStore {
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultRedisTimeout
	}
	return &RedisStore{
		rdb:     rdb,
		prefix:  opts.KeyPrefix + BucketTag + ":",
		timeout: opts.Timeout,
		sha:     redis.NewScript(gcraScript).Hash(),
	}
}

// Key returns the Redis key of the bucket named key.
func (s *RedisStore) Key(key string) string { return s.prefix + key }

// Take implements Store. Its Source is SourceRedis. Errors are Redis
// errors, including the deadline, wrapped with "limit: redis take".
func (s *RedisStore) Take(ctx context.Context, items []Item) (Result, error) {
	keys := make([]string, 0, len(items))
	args := make([]any, 0, 4*len(items))
	var stack [8]int
	index := stack[:0] // index[j] is the item of KEYS[j+1]
	for i := range items {
		it := &items[i]
		if !it.limited() {
			continue
		}
		debt := "0"
		if it.Debt {
			debt = "1"
		}
		keys = append(keys, s.prefix+it.Key)
		args = append(args,
			strconv.FormatFloat(1e6/it.Rate, 'g', -1, 64),
			strconv.FormatInt(it.burst(), 10),
			strconv.FormatInt(it.Cost, 10),
			debt)
		index = append(index, i)
	}
	if len(keys) == 0 {
		return unlimited(SourceRedis), nil
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	v, err := s.rdb.EvalSha(ctx, s.sha, keys, args...).Int64Slice()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		v, err = s.rdb.Eval(ctx, gcraScript, keys, args...).Int64Slice()
	}
	if err != nil {
		return Result{}, fmt.Errorf("limit: redis take: %w", err)
	}
	if len(v) != 6 || v[1] < 1 || int(v[1]) > len(index) {
		return Result{}, errors.New("limit: redis take: unexpected script reply")
	}
	i := index[v[1]-1]
	r := Result{
		Allowed:   v[0] == 1,
		Denied:    -1,
		Index:     i,
		Limit:     v[2],
		Remaining: v[3],
		Reset:     time.Duration(v[4]) * time.Microsecond,
		Source:    SourceRedis,
	}
	if !r.Allowed {
		r.Denied = i
		r.RetryAfter = max(time.Millisecond, time.Duration(v[5])*time.Microsecond)
	}
	return r, nil
}

// Close implements Store. It does not close the Redis client.
func (s *RedisStore) Close() error { return nil }
