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
	limits    atomic.Pointer[rateLimits] // nil: no admission limit
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

// buildGuards validates and builds the guards of cfg without installing
// them. The limits are compiled over the app's store, whose buckets outlive
// reloads.
func (a *App) buildGuards(cfg *config.Config) (*auth.Authenticator, *rateLimits, *proxySettings, error) {
	mode, err := auth.ParseMode(cfg.APIKeys.Mode)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api_keys.mode: %w", err)
	}
	keys := make([]auth.Key, 0, len(cfg.APIKeys.Keys))
	for _, k := range cfg.APIKeys.Keys {
		keys = append(keys, auth.Key{
			Secret: k.Key, ID: k.ID, Name: k.Name, Scopes: k.Scopes, Models: k.Models,
			Enabled: k.Enabled, ExpiresAt: k.ExpiresAt,
			RatePerSecond: k.RateLimit.RequestsPerSecond, Burst: k.RateLimit.BurstCapacity,
		})
	}
	authn, err := auth.New(mode, keys, a.clk)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("api_keys: %w", err)
	}

	rl := cfg.RateLimiting
	proxies := &proxySettings{rightmost: rl.UseRightmostXFF}
	for _, p := range rl.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("rate_limiting.trusted_proxies: %w", err)
		}
		proxies.trusted = append(proxies.trusted, pfx)
	}
	lim, err := compileLimits(a.limitConfig(cfg), a.store, a.counter)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rate_limiting.whitelist: %w", err)
	}
	return authn, lim, proxies, nil
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
func (a *App) installGuards(cfg *config.Config, authn *auth.Authenticator, lim *rateLimits, proxies *proxySettings) {
	a.guard.auth.Store(authn)
	a.guard.limits.Store(lim)
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
