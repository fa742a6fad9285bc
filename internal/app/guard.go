package app

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/continuumhq/continuum/internal/auth"
	"github.com/continuumhq/continuum/internal/config"
	"github.com/continuumhq/continuum/internal/limit"
	"github.com/continuumhq/continuum/internal/server"
)

// guard holds the request guards that a reload replaces: API keys, rate
// limits, trusted proxies and the concurrency gate.
type guard struct {
	auth      atomic.Pointer[auth.Authenticator]
	limiter   atomic.Pointer[limit.Limiter]
	proxies   atomic.Pointer[proxySettings]
	gate      *limit.Concurrency
	authCount atomic.Int32 // configured keys, for a startup note
	// retryAfterCap is server.max_retry_after, as a time.Duration.
	retryAfterCap atomic.Int64
}

type proxySettings struct {
	trusted   []netip.Prefix
	rightmost bool
}

// buildGuards validates and builds the guards of cfg without installing them.
func (a *App) buildGuards(cfg *config.Config, prevLimiter *limit.Limiter) (*auth.Authenticator, *limit.Limiter, *proxySettings, error) {
	mode, err := auth.ParseMode(cfg.APIKeys.Mode)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api_keys.mode: %w", err)
	}
	// In-memory limits are split between the workers of a multi-process
	// router: each keeps its own buckets (storage: redis is not wired in
	// yet, so it is memory too).
	n := a.workers()
	keys := make([]auth.Key, 0, len(cfg.APIKeys.Keys))
	keyLimits := false
	for _, k := range cfg.APIKeys.Keys {
		own := splitSpec(limit.Spec{RatePerSecond: k.RateLimit.RequestsPerSecond, Burst: k.RateLimit.BurstCapacity}, n)
		keys = append(keys, auth.Key{
			Secret: k.Key, ID: k.ID, Name: k.Name, Scopes: k.Scopes, Models: k.Models,
			Enabled: k.Enabled, ExpiresAt: k.ExpiresAt,
			RatePerSecond: own.RatePerSecond, Burst: own.Burst,
		})
		if k.RateLimit.RequestsPerSecond > 0 {
			keyLimits = true
		}
	}
	authn, err := auth.New(mode, keys, a.clk)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api_keys: %w", err)
	}

	rl := cfg.RateLimiting
	if rl.Enabled && rl.Storage == "redis" {
		a.log.Warn("rate_limiting.storage: redis is not supported yet; limits are kept in this process's memory")
	}
	proxies := &proxySettings{rightmost: rl.UseRightmostXFF}
	for _, p := range rl.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("rate_limiting.trusted_proxies: %w", err)
		}
		proxies.trusted = append(proxies.trusted, pfx)
	}
	if !rl.Enabled && !keyLimits {
		return authn, nil, proxies, nil
	}
	lc := limit.Config{}
	if rl.Enabled {
		lc.Global = splitSpec(limit.Spec{RatePerSecond: rl.Limits.Global.RequestsPerSecond, Burst: rl.Limits.Global.BurstCapacity}, n)
		lc.PerKey = splitSpec(limit.Spec{RatePerSecond: rl.Limits.PerAPIKey.RequestsPerSecond, Burst: rl.Limits.PerAPIKey.BurstCapacity}, n)
		lc.PerClient = splitSpec(limit.Spec{RatePerSecond: rl.Limits.PerClient.RequestsPerSecond, Burst: rl.Limits.PerClient.BurstCapacity}, n)
		for _, w := range rl.Whitelist {
			pfx, err := parsePrefix(w)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("rate_limiting.whitelist: %w", err)
			}
			lc.Whitelist = append(lc.Whitelist, pfx)
		}
		// bypass_keys may name a key by its value or by its id.
		for _, b := range rl.BypassKeys {
			id := b
			for _, k := range cfg.APIKeys.Keys {
				if k.Key == b {
					id = k.ID
				}
			}
			lc.BypassKeys = append(lc.BypassKeys, id)
		}
	}
	if prevLimiter != nil {
		prevLimiter.Reconfigure(lc)
		return authn, prevLimiter, proxies, nil
	}
	return authn, limit.New(lc, a.clk), proxies, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()), nil
}

// installGuards makes built guards current.
func (a *App) installGuards(cfg *config.Config, authn *auth.Authenticator, lim *limit.Limiter, proxies *proxySettings) {
	a.guard.auth.Store(authn)
	a.guard.limiter.Store(lim)
	a.guard.proxies.Store(proxies)
	a.guard.gate.SetMax(splitCount(cfg.Server.MaxConcurrentRequests, a.workers()))
	a.guard.authCount.Store(int32(len(cfg.APIKeys.Keys)))
	a.guard.retryAfterCap.Store(int64(cfg.Server.MaxRetryAfter))
}

// clientIP implements server.Deps.ClientIP.
func (a *App) clientIP(peer netip.Addr, xff []byte) netip.Addr {
	p := a.guard.proxies.Load()
	if len(p.trusted) == 0 {
		return peer
	}
	return limit.ClientIP(peer, xff, p.trusted, p.rightmost)
}

func corsSettings(c config.CORSConfig) server.CORS {
	return server.CORS{
		Enabled: c.Enabled, AllowedOrigins: c.AllowedOrigins, AllowedMethods: c.AllowedMethods,
		AllowedHeaders: c.AllowedHeaders, AllowCredentials: c.AllowCredentials, MaxAge: c.MaxAge,
	}
}
