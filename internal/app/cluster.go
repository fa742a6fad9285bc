package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/continuumhq/continuum/internal/cache"
	"github.com/continuumhq/continuum/internal/cluster"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/limit"
	"github.com/continuumhq/continuum/internal/metrics"
	"github.com/continuumhq/continuum/internal/proxy"
)

// This file wires the scale-out pieces (docs/scaleout.md): the rate-limit
// store (memory, or Redis behind a breaker and the failure policies), and
// with Redis the replica heartbeat, the shared provider cooldowns, the
// configuration bus and the store of kept answers. What it builds lives as long as the app: changing
// rate_limiting.storage or rate_limiting.redis needs a restart.

// shared is what the replicas share through Redis; nil with storage memory.
type shared struct {
	rdb       redis.UniversalClient
	settings  config.RedisConfig // as opened, to warn when a reload changes them
	id        string             // this replica
	since     time.Time          // when the bus started: older publications are not applied
	store     *limit.Resilient
	heartbeat *cluster.Heartbeat
	cooldowns *cluster.Cooldowns
	bus       *cluster.ConfigBus
	// answers keeps answers for cache.response_cache.storage: redis.
	answers *cache.Redis
}

// openStore builds the app's rate-limit store for cfg: a MemoryStore, or
// for storage redis a RedisStore wrapped in Resilient, with the heartbeat,
// cooldowns and configuration bus on the same client. Nothing connects
// until Start.
func (a *App) openStore(cfg *config.Config) error {
	rl := cfg.RateLimiting
	if rl.Storage != "redis" {
		a.store = countedStore{limit.NewMemoryStore(limit.MemoryOptions{Clock: a.clk}), a.metrics}
		return nil
	}
	rdb, err := cluster.Open(cluster.Options{URL: rl.Redis.URL, KeyPrefix: rl.Redis.KeyPrefix, Timeout: rl.Redis.Timeout, PoolSize: rl.Redis.PoolSize})
	if err != nil {
		return fmt.Errorf("rate_limiting.redis: %w", err)
	}
	id := replicaID(rl.ReplicaID)
	hb, err := cluster.NewHeartbeat(rdb, rl.Redis.KeyPrefix, id, cluster.HeartbeatOptions{Clock: a.clk, TTL: rl.Redis.HeartbeatTTL})
	if err != nil {
		rdb.Close()
		return fmt.Errorf("rate_limiting.replica_id: %w", err)
	}
	s := &shared{rdb: rdb, settings: rl.Redis, id: id, heartbeat: hb}
	s.store = limit.NewResilient(
		limit.NewRedisStore(rdb, limit.RedisOptions{KeyPrefix: rl.Redis.KeyPrefix, Timeout: rl.Redis.Timeout}),
		limit.ResilientOptions{
			Clock:         a.clk,
			Policies:      policies(rl.FailurePolicies),
			DefaultPolicy: limit.Policy(rl.FailurePolicy),
			Replicas:      hb.Count,
			Hooks:         a.storeHooks(),
		})
	s.cooldowns = cluster.NewCooldowns(rdb, rl.Redis.KeyPrefix, cluster.CooldownOptions{
		OnError: func(err error) { a.log.Debug("shared cooldowns: redis unavailable", "error", err) },
	})
	s.bus = cluster.NewConfigBus(rdb, rl.Redis.KeyPrefix, cluster.ConfigBusOptions{
		OnError: func(err error) { a.log.Debug("configuration bus: redis unavailable", "error", err) },
	})
	s.answers = cache.NewRedis(rdb, cache.RedisOptions{
		KeyPrefix: rl.Redis.KeyPrefix, Timeout: rl.Redis.Timeout, Clock: a.clk,
		OnError: func(op string, err error) {
			a.metrics.ObserveCacheStoreError()
			a.log.Debug("kept answers: redis call failed", "op", op, "error", err)
		},
	})
	a.shared, a.store = s, s.store
	return nil
}

// policies maps rate_limiting.failure_policies to the store's.
func policies(m map[string]string) map[string]limit.Policy {
	out := make(map[string]limit.Policy, len(m))
	for scope, p := range m {
		out[scope] = limit.Policy(p)
	}
	return out
}

// replicaID returns the configured replica id, else $POD_NAME, else the
// host name and the process id.
func replicaID(configured string) string {
	if configured != "" {
		return configured
	}
	if pod := os.Getenv("POD_NAME"); pod != "" {
		return pod
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "continuum"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// storeHooks reports the shared store's decisions, errors, breaker and
// latency to the metrics and the log.
func (a *App) storeHooks() limit.Hooks {
	return limit.Hooks{
		Decision: func(r limit.Result) { a.metrics.ObserveLimitDecision(r.Source, r.Allowed) },
		Error:    func(error) { a.metrics.ObserveLimitStoreError() },
		Breaker: func(from, to limit.BreakerState) {
			a.metrics.SetLimitStoreBreaker(to.String())
			switch to {
			case limit.BreakerOpen:
				if from == limit.BreakerClosed {
					a.log.Warn("rate-limit store unavailable; the failure policies decide", "store", "redis")
				}
			case limit.BreakerClosed:
				a.log.Info("rate-limit store available again", "store", "redis")
			}
		},
		Latency: func(d time.Duration, _ error) { a.metrics.ObserveLimitCheck(d.Seconds()) },
	}
}

// countedStore counts a MemoryStore's decisions, as Resilient's hooks do
// for Redis.
type countedStore struct {
	*limit.MemoryStore
	m *metrics.Metrics
}

// Take implements limit.Store.
func (s countedStore) Take(ctx context.Context, items []limit.Item) (limit.Result, error) {
	res, err := s.MemoryStore.Take(ctx, items)
	if err == nil {
		s.m.ObserveLimitDecision(res.Source, res.Allowed)
	}
	return res, err
}

// startShared starts the loops of the shared state for the app's lifetime:
// the heartbeat, the cooldowns' local copy and the configuration bus.
func (a *App) startShared() {
	s := a.shared
	if s == nil {
		return
	}
	a.metrics.SetReplicaSource(s.heartbeat.Count)
	s.since = time.Now()
	loops := []func(ctx context.Context){
		func(ctx context.Context) {
			s.heartbeat.Run(ctx, func(err error) { a.log.Debug("replica heartbeat failed", "error", err) })
		},
		s.cooldowns.Run,
		func(ctx context.Context) { s.bus.Run(ctx, a.applyPublished) },
	}
	for _, loop := range loops {
		a.loopWG.Add(1)
		go func() {
			defer a.loopWG.Done()
			loop(a.ctx)
		}()
	}
	a.log.Info("sharing rate limits, cooldowns and configuration through redis", "replica", s.id)
}

// closeShared closes the Redis client once the loops and the writes of
// kept answers have stopped.
func (a *App) closeShared() {
	if a.shared != nil {
		a.shared.answers.Wait()
		_ = a.shared.rdb.Close()
	}
}

// sharedCooldowns gives the proxy the cooldowns of every replica. Set
// updates the local copy at once and writes to Redis in the background, so
// that a 429 never waits on Redis.
type sharedCooldowns struct{ a *App }

var _ proxy.SharedCooldowns = sharedCooldowns{}

// Until implements proxy.SharedCooldowns.
func (c sharedCooldowns) Until(backend string) time.Time {
	return c.a.shared.cooldowns.Until(backend)
}

// Set implements proxy.SharedCooldowns.
func (c sharedCooldowns) Set(backend string, until time.Time) {
	a := c.a
	a.cooldownWG.Add(1)
	go func() {
		defer a.cooldownWG.Done()
		ctx, cancel := context.WithTimeout(a.ctx, time.Second)
		defer cancel()
		if err := a.shared.cooldowns.Set(ctx, backend, until); err != nil && ctx.Err() == nil {
			a.log.Debug("shared cooldown not written; it applies on this replica", "backend", backend, "error", err)
		}
	}()
}

// cooldownsFor returns the proxy's shared cooldowns: nil with storage memory.
func (a *App) cooldownsFor() proxy.SharedCooldowns {
	if a.shared == nil {
		return nil
	}
	return sharedCooldowns{a}
}

// configVersion returns the version of configuration data: its SHA-256 in
// hex.
func configVersion(sum [32]byte) string { return hex.EncodeToString(sum[:]) }

// setVersion records the version of the configuration now applied, for
// /ready and continuum_config_version_info. a.reload is held.
func (a *App) setVersion(sum [32]byte) {
	a.cfgSum = sum
	v := ""
	if sum != ([32]byte{}) {
		v = configVersion(sum)
	}
	a.version.Store(&v)
	if v != "" {
		a.metrics.SetConfigVersion(v)
	}
}

// ConfigVersion returns the version (SHA-256, in hex) of the configuration file
// this replica applied, "" when it was not loaded from a file.
func (a *App) ConfigVersion() string { return *a.version.Load() }

// The configuration bus carries versions "<sha256 hex>@<unix ms>": the
// content's version and when it was published (wall clock; replicas are
// assumed in NTP sync). A replica that starts runs its own file: it does not
// apply what was published before it started (an older pod's reload must not
// undo a rollout's new ConfigMap, nor a restarted replica's stale file be
// pushed to the others). Every reload published after that reaches it.

// publish announces a configuration this replica applied to the others
// (storage redis). A failure is logged: the others keep their
// configuration until the next change reaches them.
func (a *App) publish(sum [32]byte, data []byte) {
	if a.shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(a.ctx, time.Second)
	defer cancel()
	v := configVersion(sum)
	if err := a.shared.bus.Publish(ctx, v+"@"+strconv.FormatInt(time.Now().UnixMilli(), 10), data); err != nil {
		a.log.Error("configuration not published to the other replicas; they keep theirs", "version", v, "error", err)
		return
	}
	a.log.Info("configuration published to the other replicas", "version", v)
}

// applyPublished applies a configuration another replica published: the
// same validation and installation as a reload from the file, without
// writing the file. A configuration that does not validate here (a
// ${VAR} missing on this replica, say) changes nothing and is logged.
func (a *App) applyPublished(published string, data []byte) {
	version, at, _ := strings.Cut(published, "@")
	if ms, err := strconv.ParseInt(at, 10, 64); err != nil || ms < a.shared.since.UnixMilli() {
		return // published before this replica started: it runs its own file
	}
	a.reload.Lock()
	defer a.reload.Unlock()
	sum := sha256.Sum256(data)
	if configVersion(sum) == a.ConfigVersion() {
		return // already running it (this replica published it)
	}
	if configVersion(sum) != version {
		a.log.Error("published configuration ignored: its content does not match its version", "version", version)
		return
	}
	path := a.opts.ConfigPath
	if path == "" {
		path = "published.yaml"
	}
	cfg, warns, err := config.LoadData(path, data)
	for _, w := range warns {
		a.log.Warn("configuration warning", "detail", w.String(), "version", version)
	}
	if err == nil {
		err = a.Apply(cfg)
	}
	if err != nil {
		a.reloaded(false)
		var list config.ErrorList
		if errors.As(err, &list) {
			a.log.Error("invalid configuration from another replica", "trigger", "cluster", "version", version,
				"detail", err.Error(), "result", "the previous configuration stays in effect")
		} else {
			a.log.Error("configuration from another replica not applied; the previous configuration stays in effect",
				"trigger", "cluster", "version", version, "error", err.Error())
		}
		return
	}
	a.setVersion(sum)
	a.reloaded(true)
	a.log.Info("configuration reloaded", "trigger", "cluster", "version", version, "backends", len(cfg.Backends))
}

// sharedSettingsChanged warns when a reload changes what openStore built.
func (a *App) sharedSettingsChanged(old, cfg *config.Config) {
	o, n := old.RateLimiting, cfg.RateLimiting
	if o.Storage != n.Storage || o.Redis != n.Redis || o.ReplicaID != n.ReplicaID ||
		o.FailurePolicy != n.FailurePolicy || !equalMaps(o.FailurePolicies, n.FailurePolicies) {
		a.log.Warn("rate_limiting.storage, redis, replica_id or the failure policies changed; restart to apply")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
