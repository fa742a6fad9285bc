package cluster

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/clock"
	"github.com/redis/go-redis/v9"
)

// DefaultConfigPoll is how often ConfigBus re-reads the version when
// ConfigBusOptions.Poll is zero.
const DefaultConfigPoll = 5 * time.Second

// ConfigBusOptions configures a ConfigBus. The zero value is usable.
type ConfigBusOptions struct {
	// Clock drives the poll. Default nil: clock.Real().
	Clock clock.Clock
	// Poll is how often Run re-reads the published version, in case a
	// notification was lost (pub/sub delivers at most once). Default 0:
	// DefaultConfigPoll (5s).
	Poll time.Duration
	// OnError is called with each failed read or subscription. Default
	// nil: ignored.
	OnError func(error)
}

// ConfigBus spreads configuration changes to every replica. Publish stores
// the version and its data at KeyPrefix + "config" (the value is the
// version, a newline, then the data) and then announces the version on the
// channel of the same name. Run applies each version it has not applied
// yet: on the announcement (measured: within milliseconds), and, because
// pub/sub delivers at most once, on every (re)subscription and every Poll;
// so a replica that missed the announcement converges within one Poll.
type ConfigBus struct {
	rdb     redis.UniversalClient
	key     string
	clock   clock.Clock
	poll    time.Duration
	onError func(error)

	mu      sync.Mutex
	applied string
}

// NewConfigBus returns a ConfigBus on rdb. keyPrefix "" means
// DefaultKeyPrefix.
func NewConfigBus(rdb redis.UniversalClient, keyPrefix string, opts ConfigBusOptions) *ConfigBus {
	if keyPrefix == "" {
		keyPrefix = DefaultKeyPrefix
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultConfigPoll
	}
	return &ConfigBus{rdb: rdb, key: keyPrefix + "config", clock: opts.Clock, poll: opts.Poll, onError: opts.OnError}
}

// Publish makes version, with its data, the configuration of every replica.
// The version must not be empty nor contain a newline.
func (b *ConfigBus) Publish(ctx context.Context, version string, data []byte) error {
	if version == "" || strings.ContainsAny(version, "\r\n") {
		return errors.New("cluster: config version is empty or contains a newline")
	}
	value := make([]byte, 0, len(version)+1+len(data))
	value = append(append(append(value, version...), '\n'), data...)
	if err := b.rdb.Set(ctx, b.key, value, 0).Err(); err != nil {
		return err
	}
	return b.rdb.Publish(ctx, b.key, version).Err()
}

// Applied returns the version last passed to apply ("" before the first),
// for /ready and metrics.
func (b *ConfigBus) Applied() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.applied
}

// Run calls apply with the published configuration whenever its version
// differs from the one last applied, until ctx ends: at start, on each
// announcement, on each (re)subscription and every Poll. Calls to apply are
// sequential. Going back to an earlier version string applies it again.
func (b *ConfigBus) Run(ctx context.Context, apply func(version string, data []byte)) {
	follow(ctx, b.rdb, b.key, b.clock, b.poll, b.onError, func(m *redis.Message) {
		if m != nil && m.Payload == b.Applied() {
			return
		}
		if err := b.check(ctx, apply); err != nil && b.onError != nil && ctx.Err() == nil {
			b.onError(err)
		}
	})
}

// check reads the published configuration and applies it if it is new.
func (b *ConfigBus) check(ctx context.Context, apply func(string, []byte)) error {
	raw, err := b.rdb.Get(ctx, b.key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	version, data, ok := bytes.Cut(raw, []byte{'\n'})
	if !ok {
		return errors.New("cluster: malformed config value")
	}
	b.mu.Lock()
	same := b.applied == string(version)
	b.mu.Unlock()
	if same {
		return nil
	}
	apply(string(version), data)
	b.mu.Lock()
	b.applied = string(version)
	b.mu.Unlock()
	return nil
}
