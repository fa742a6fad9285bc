package app

import (
	"github.com/valyala/fasthttp"

	"context"
	"fmt"
	"sync"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/cache"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/health"
	"github.com/continuumhq/continuum/internal/prompts"
	"github.com/continuumhq/continuum/internal/proxy"
	"github.com/continuumhq/continuum/internal/resilience"
	"github.com/continuumhq/continuum/internal/route"
	"github.com/continuumhq/continuum/internal/translate"
	"github.com/continuumhq/continuum/internal/upstream"
)

// live is what one configuration built: the configuration itself, its
// members, the retry budget and the handler of the listener's other pages.
// It is immutable once stored; a reload stores a new one.
type live struct {
	cfg     *config.Config
	members []*member
	budget  *resilience.Budget
	// extra serves the listener's non-API paths; adminMetrics is the
	// metrics path of the admin listener ("" for none).
	extra        func(ctx *fasthttp.RequestCtx) bool
	adminMetrics string
}

// newRuntime builds the runtime value of cfg.
func (a *App) newRuntime(cfg *config.Config, members []*member, budget *resilience.Budget) *live {
	rt := &live{cfg: cfg, members: members, budget: budget}
	rt.extra, rt.adminMetrics = a.buildExtra(cfg)
	return rt
}

// member is one backend with everything the app keeps for it across
// reloads: its live state, breaker, health tracker and connection pool.
type member struct {
	cfg     config.Backend
	backend *backend.Backend
	client  *upstream.Client
	breaker *resilience.Breaker
	tracker *health.Tracker
	target  *proxy.Target
	probe   string             // health probe path
	stop    context.CancelFunc // ends the member's prober and discovery loops
	// discovered is closed once the backend's models are known: after the
	// first discovery attempt, or at once for a static model list.
	discovered chan struct{}
	markFound  func()
}

// clientKey is what forces a new connection pool when it changes.
func clientKey(b config.Backend, poolSize int) string {
	return fmt.Sprintf("%s|%s|%s|%v|%d|%s|%s", b.APIKey, b.OrgID, b.URL, b.Request.ConnectTimeout, poolSize, b.AnthropicVersion, b.GeminiAPI)
}

// buildMember makes or updates the member for one configured backend,
// reusing prev's state when prev has the same identity.
func (a *App) buildMember(bc config.Backend, cfg *config.Config, prev *member) (*member, error) {
	// The backend is known, shown and identified by its URL without user
	// information; only the upstream client sees that, for basic auth.
	b := &backend.Backend{
		Name:   bc.Name,
		Type:   backend.Type(bc.Type),
		URL:    bc.BaseURL(),
		APIKey: bc.APIKey,
		Weight: max(bc.Weight, 1),
		Models: bc.Models,
	}
	m := &member{cfg: bc}
	if prev != nil {
		b.State = prev.backend.State
		m.breaker, m.tracker = prev.breaker, prev.tracker
		m.discovered, m.markFound = prev.discovered, prev.markFound
		if clientKey(prev.cfg, cfg.Server.ConnectionPoolSize) == clientKey(bc, cfg.Server.ConnectionPoolSize) {
			m.client = prev.client
		}
	} else {
		b.State = backend.NewState()
		m.discovered = make(chan struct{})
		m.markFound = sync.OnceFunc(func() { close(m.discovered) })
	}
	m.backend = b
	if m.client == nil {
		withCredentials := *b
		withCredentials.URL = bc.URL
		c, err := upstream.New(&withCredentials, bc.OrgID, upstreamOptions(bc, cfg))
		if err != nil {
			return nil, err
		}
		m.client = c
	}

	bcfg := breakerConfig(bc.CircuitBreaker)
	switch {
	case !bc.CircuitBreaker.Enabled:
		m.breaker = nil
	case m.breaker == nil:
		name := bc.Name
		m.breaker = resilience.NewBreaker(bcfg, a.clk, a.seed(name), a.breakerHooks(name))
	default:
		m.breaker.Reconfigure(bcfg)
	}

	hcfg := healthConfig(bc.HealthChecks)
	if m.tracker == nil {
		name := bc.Name
		m.tracker = health.NewTracker(b.State, hcfg, a.clk, func(from, to backend.Health) {
			a.healthChanged(name, from, to)
		})
	} else {
		m.tracker.Reconfigure(hcfg)
	}
	m.probe = bc.HealthChecks.Endpoint
	if m.probe == "" {
		m.probe = m.client.DefaultHealthPath()
	} else {
		m.probe = m.client.RootPath(m.probe)
	}

	m.target = &proxy.Target{
		Backend:           b,
		Sender:            m.client,
		Breaker:           m.breaker,
		Health:            m.tracker,
		FirstTokenTimeout: bc.Request.FirstTokenTimeout,
		IdleTimeout:       bc.Request.IdleTimeout,
		Retry: proxy.RetryPolicy{
			BaseDelay:   bc.Retry.BaseDelay,
			MaxDelay:    bc.Retry.MaxDelay,
			Exponential: bc.Retry.ExponentialBackoff,
			Jitter:      bc.Retry.Jitter,
			SameBackend: bc.Retry.SameBackend,
		},
		Dialect: dialect(bc),
	}
	if bc.Request.Timeout != cfg.Request.Timeout {
		m.target.Timeout = bc.Request.Timeout
	}
	if l := newBackendLimit(a.limitConfig(cfg), bc.Name, a.store, a.counter); l != nil {
		m.target.Limit = l
	}
	return m, nil
}

// upstreamOptions returns a backend's client options. Zero means the same
// in both: connect_timeout 0 is no limit beyond the operating system's, and
// connection_pool_size 0 is the client's own default.
func upstreamOptions(bc config.Backend, cfg *config.Config) upstream.Options {
	return upstream.Options{
		ConnectTimeout: bc.Request.ConnectTimeout, MaxIdle: cfg.Server.ConnectionPoolSize,
		AnthropicVersion: bc.AnthropicVersion, GeminiOpenAI: bc.GeminiAPI == config.GeminiOpenAI,
	}
}

// dialect returns the settings of translations to a backend's API. The
// configuration's zeros are the translators': default_max_tokens 0 is 4096,
// anthropic_version "" is 2023-06-01.
func dialect(bc config.Backend) proxy.Dialect {
	return proxy.Dialect{
		AnthropicNative: bc.AnthropicNative,
		GeminiOpenAI:    bc.GeminiAPI == config.GeminiOpenAI,
		AnthropicBeta:   bc.AnthropicBeta,
		Reasoning:       bc.Reasoning,
		Options: translate.BackendOptions{
			AnthropicVersion: bc.AnthropicVersion,
			AnthropicBeta:    bc.AnthropicBeta,
			DefaultMaxTokens: bc.DefaultMaxTokens,
			Reasoning:        bc.Reasoning,
			GeminiMode:       bc.GeminiAPI,
		},
	}
}

// breakerConfig maps a circuit_breaker block to the breaker's settings. The
// configuration's zeros keep their documented meaning: minimum_requests 0
// ("any number") is one call, the fewest a rate can be judged on; timeout 0
// ("probes at once") is the breaker's negative, no-open-time Timeout.
func breakerConfig(c config.BreakerConfig) resilience.BreakerConfig {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = -1
	}
	return resilience.BreakerConfig{
		FailureThreshold:         c.FailureThreshold,
		FailureRateThreshold:     c.FailureRateThreshold,
		MinimumRequests:          max(c.MinimumRequests, 1),
		Window:                   c.Window,
		Timeout:                  timeout,
		MaxTimeout:               c.MaxTimeout,
		Backoff:                  resilience.BackoffKind(c.Backoff),
		HalfOpenMaxRequests:      c.HalfOpenMaxRequests,
		HalfOpenSuccessThreshold: c.HalfOpenSuccessThreshold,
	}
}

// healthConfig maps a health_checks block to the tracker's settings.
// max_warmup_duration 0 ("no limit") is the tracker's negative MaxWarmup;
// the other durations are validated positive.
func healthConfig(c config.HealthConfig) health.Config {
	maxWarmup := c.MaxWarmupDuration
	if maxWarmup == 0 {
		maxWarmup = -1
	}
	return health.Config{
		Enabled:            c.Enabled,
		Interval:           c.Interval,
		Timeout:            c.Timeout,
		UnhealthyThreshold: c.UnhealthyThreshold,
		HealthyThreshold:   c.HealthyThreshold,
		WarmupInterval:     c.WarmupCheckInterval,
		MaxWarmup:          maxWarmup,
	}
}

// effectiveAttempts is the attempt limit: retry.max_attempts, capped by
// 1 + request.max_retries.
func effectiveAttempts(c *config.Config) int {
	n := c.Retry.MaxAttempts
	if r := c.Request.MaxRetries + 1; r < n || n <= 0 {
		n = r
	}
	return max(n, 1)
}

// snapshotFor builds the routing snapshot for the current members.
func (a *App) snapshotFor(cfg *config.Config, members []*member, budget *resilience.Budget) (*proxy.Snapshot, error) {
	backends := make([]*backend.Backend, len(members))
	targets := make([]*proxy.Target, len(members))
	for i, m := range members {
		backends[i] = m.backend
		targets[i] = m.target
	}
	table := route.Build(backends, cfg.ModelAliases, cfg.Fallbacks, a.started.Unix(), cfg.ModelMetadata)
	return proxy.NewSnapshot(table, targets, a.proxyOptions(cfg, budget))
}

// proxyOptions returns the routing snapshot's options. The configuration's
// zeros are the proxy's: request.timeout 0 is no limit, panic_threshold 0
// panics only when no backend is healthy, and retry.max_delay 0 never waits
// out a Retry-After; server.max_retry_after 0 is no cap and
// server.client_write_timeout 0 no limit.
func (a *App) proxyOptions(cfg *config.Config, budget *resilience.Budget) proxy.Options {
	return proxy.Options{
		Strategy:           cfg.SelectionStrategy,
		Timeout:            cfg.Request.Timeout,
		MaxAttempts:        effectiveAttempts(cfg),
		Budget:             budget,
		PanicThreshold:     cfg.HealthChecks.PanicThreshold,
		MaxRetryAfter:      cfg.Retry.MaxDelay,
		RetryAfterCap:      cfg.Server.MaxRetryAfter,
		ClientWriteTimeout: cfg.Server.ClientWriteTimeout,
		Seed:               a.opts.Seed,
		Prompts:            promptSet(cfg.GlobalPrompts),
		Reuse:              a.reuse(cfg.Cache),
		Cooldowns:          a.cooldownsFor(),
	}
}

// promptSet compiles global_prompts; nil when no prompt is configured, so
// that requests pay nothing for them.
func promptSet(g config.GlobalPromptsConfig) *prompts.Set {
	strategy, _ := prompts.ParseStrategy(g.MergeStrategy) // validated
	o := prompts.Options{Default: g.DefaultPrompt(), Strategy: strategy, Separator: g.Separator}
	texts := func(m map[string]config.PromptConfig) map[string]string {
		if len(m) == 0 {
			return nil
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			out[k] = v.Effective()
		}
		return out
	}
	o.Backends, o.Models = texts(g.Backends), texts(g.Models)
	return prompts.New(o)
}

// reuse returns how identical requests share answers; nil when neither
// deduplication nor the response cache is on. Kept answers live in the
// app's store, which outlives reloads.
func (a *App) reuse(c config.CacheConfig) *proxy.Reuse {
	if !c.EnableDeduplication && !c.ResponseCache.Enabled {
		return nil
	}
	r := &proxy.Reuse{Dedup: c.EnableDeduplication}
	if c.EnableDeduplication {
		r.DedupTTL = c.DeduplicationTTL
	}
	if c.ResponseCache.Enabled {
		r.CacheTTL = c.ResponseCache.TTL
	}
	if r.DedupTTL > 0 || r.CacheTTL > 0 {
		r.Store = a.answerStore(c)
	}
	return r
}

// answerStore returns where kept answers live under c: in Redis for
// storage redis, else in memory.
func (a *App) answerStore(c config.CacheConfig) cache.Store {
	if a.answersInRedis(c) {
		return a.shared.answers
	}
	return a.answers
}

// answersInRedis reports whether kept answers live in Redis under c:
// storage redis, in a process that shares state through Redis. (Without
// it, rate_limiting.storage changed on a reload, which warns that a restart
// is needed; answers stay in memory meanwhile.)
func (a *App) answersInRedis(c config.CacheConfig) bool {
	return c.ResponseCache.Storage == config.CacheInRedis && a.shared != nil
}

// sizeAnswers bounds the stores of kept answers under c: the memory store
// holds nothing while answers live in Redis, where the bound is on one
// answer.
func (a *App) sizeAnswers(c config.CacheConfig) {
	limit := storeLimit(c)
	if a.answersInRedis(c) {
		a.shared.answers.SetMaxEntry(limit)
		limit = 0
	}
	a.answers.SetLimit(limit)
}

// storeLimit returns the bound of kept answers under c: none is kept
// unless the response cache or deduplication_ttl keeps them.
func storeLimit(c config.CacheConfig) int64 {
	if c.ResponseCache.Enabled || (c.EnableDeduplication && c.DeduplicationTTL > 0) {
		return c.ResponseCache.MaxBytes
	}
	return 0
}

func budgetConfig(c config.RetryConfig) resilience.BudgetConfig {
	return resilience.BudgetConfig{Ratio: c.BudgetRatio, MinPerSecond: c.BudgetMinPerSecond, Window: c.BudgetWindow}
}

// probeFunc probes a member's health endpoint.
func (m *member) probeFunc() health.ProbeFunc {
	return func(ctx context.Context) (int, error) {
		resp, err := m.client.Do(ctx, &upstream.Request{Method: "GET", Path: m.probe})
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.Status, nil
	}
}

// usable reports whether the member could take a request now.
func (m *member) usable(now time.Time) bool {
	st := m.backend.State
	if st.Drained() || st.CoolingDown(now) || !st.Health().Routable() {
		return false
	}
	return m.breaker == nil || m.breaker.Available()
}
