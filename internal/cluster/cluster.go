// Package cluster shares state between the replicas of Continuum through
// Redis: the connection itself (Open), which replicas are alive (Heartbeat,
// whose count divides the local failure limits), provider 429 cooldowns
// (Cooldowns) and the configuration version (ConfigBus). The rate-limit
// buckets are in package limit (RedisStore), on the same client.
//
// What stays local, by design (SCALEOUT §3): circuit breakers and health
// probes.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/continuumhq/continuum/internal/mask"
)

// Defaults of Options.
const (
	DefaultKeyPrefix = "continuum:"
	DefaultTimeout   = 50 * time.Millisecond
)

// Options configures the connection to Redis: the rate_limiting.redis block.
type Options struct {
	// URL is the Redis deployment. Accepted forms:
	//
	//	redis://[user:password@]host[:port][/db][?option=value…]      one server
	//	rediss://…                                                     the same over TLS
	//	unix://[user:password@]/path/to/redis.sock[?db=N]              a Unix socket
	//	redis+sentinel://[user:password@]host:26379[?addr=host2:26379…]&master_name=NAME
	//	rediss+sentinel://…                                            Sentinel, TLS to the servers
	//	redis+cluster://[user:password@]host:6379[?addr=host2:6379…]  Redis Cluster (seed nodes)
	//	rediss+cluster://…                                             Redis Cluster over TLS
	//
	// The port defaults to 6379. Query options are go-redis's, in snake
	// case (dial_timeout=1s, pool_size=20, …; see redis.ParseURL,
	// redis.ParseClusterURL, redis.ParseFailoverURL); for Sentinel the
	// userinfo authenticates to the sentinels and the query keys password
	// and username to the servers. max_retries and dialer_retries are
	// overridden: see Open. Required.
	URL string
	// KeyPrefix starts every key Continuum writes. Default "":
	// DefaultKeyPrefix ("continuum:").
	KeyPrefix string
	// Timeout is the deadline of one rate-limit check (limit.RedisStore).
	// Default 0: DefaultTimeout (50ms). Open does not use it; it is carried
	// here for the wiring.
	Timeout time.Duration
	// PoolSize is the most connections per Redis node. Default 0: go-redis's
	// default, 10 per CPU.
	PoolSize int
}

// WithDefaults returns o with its defaults filled in.
func (o Options) WithDefaults() Options {
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Open returns a client for o.URL: a *redis.Client for one server or a
// Sentinel-managed master, a *redis.ClusterClient for Redis Cluster. It does
// not connect: the first command does. The client is set up as SCALEOUT §4
// measured: no retries (MaxRetries -1: a failed check goes to the failure
// policy at once, never retried behind its back), one dial attempt
// (DialerRetries 1: go-redis v9.23 otherwise retries a refused dial 5 times
// with 100ms pauses, so checks hang to their deadline for half a second after
// Redis dies) and context deadlines honoured (ContextTimeoutEnabled).
//
// go-redis logs failed dials through its package logger (standard error by
// default); route it with redis.SetLogger once at start-up (see Logger).
func Open(o Options) (redis.UniversalClient, error) {
	if o.URL == "" {
		return nil, errors.New("cluster: redis url is empty")
	}
	scheme, rest, ok := strings.Cut(o.URL, "://")
	if !ok {
		return nil, fmt.Errorf("cluster: redis url %q has no scheme", mask.URL(o.URL))
	}
	base, mode, _ := strings.Cut(scheme, "+")
	switch {
	case base == "redis" || base == "rediss":
	case base == "unix" && mode == "":
	default:
		mode = "unknown"
	}
	switch mode {
	case "":
		opt, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("cluster: redis url %q: %w", mask.URL(o.URL), err)
		}
		opt.MaxRetries, opt.DialerRetries, opt.ContextTimeoutEnabled = -1, 1, true
		if o.PoolSize > 0 {
			opt.PoolSize = o.PoolSize
		}
		return redis.NewClient(opt), nil
	case "sentinel":
		opt, err := redis.ParseFailoverURL(base + "://" + rest)
		if err != nil {
			return nil, fmt.Errorf("cluster: redis sentinel url %q: %w", mask.URL(o.URL), err)
		}
		if opt.MasterName == "" {
			return nil, fmt.Errorf("cluster: redis sentinel url %q: master_name is missing", mask.URL(o.URL))
		}
		opt.MaxRetries, opt.DialerRetries, opt.ContextTimeoutEnabled = -1, 1, true
		if o.PoolSize > 0 {
			opt.PoolSize = o.PoolSize
		}
		return redis.NewFailoverClient(opt), nil
	case "cluster":
		opt, err := redis.ParseClusterURL(base + "://" + rest)
		if err != nil {
			return nil, fmt.Errorf("cluster: redis cluster url %q: %w", mask.URL(o.URL), err)
		}
		opt.MaxRetries, opt.DialerRetries, opt.ContextTimeoutEnabled = -1, 1, true
		if o.PoolSize > 0 {
			opt.PoolSize = o.PoolSize
		}
		return redis.NewClusterClient(opt), nil
	}
	return nil, fmt.Errorf("cluster: redis url %q: unknown scheme %q (want redis, rediss, unix, redis+sentinel, redis+cluster)", mask.URL(o.URL), scheme)
}

// Logger adapts a printf-style function (such as a *slog.Logger's Debug
// wrapped in fmt.Sprintf) to go-redis's logger interface, for
// redis.SetLogger.
type Logger func(ctx context.Context, msg string)

// Printf implements go-redis's internal.Logging.
func (l Logger) Printf(ctx context.Context, format string, v ...any) {
	l(ctx, fmt.Sprintf(format, v...))
}

// serverTimeMs is the Lua snippet that reads Redis TIME in milliseconds.
const serverTimeMs = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`
