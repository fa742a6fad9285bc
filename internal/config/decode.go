package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file maps every block of the format to its decoder. A block's keys
// are listed in one fields table; a key missing from the table is either a
// continuum-router key (see routerOnly) or unknown.

// config decodes the top level of the document onto c.
func (d *decoder) config(root *yaml.Node, c *Config) {
	// Backends are decoded last: their override blocks start as copies of
	// the global blocks, which may come later in the file.
	var backends *yaml.Node
	d.mapping(root, "", "", fields{
		"server":             func(n *yaml.Node, p string) { d.server(n, p, &c.Server) },
		"backends":           func(n *yaml.Node, p string) { backends = n },
		"selection_strategy": d.normalized(&c.SelectionStrategy, func(s string) string { v, _ := canonicalStrategy(s); return v }),
		"model_aliases":      d.stringMap(&c.ModelAliases),
		"fallbacks":          d.listMap(&c.Fallbacks),
		"fallback": func(n *yaml.Node, p string) {
			d.mapping(n, p, "fallback", fields{
				"enabled":         d.boolean(&c.Fallback.Enabled),
				"fallback_chains": d.listMap(&c.Fallback.Chains),
			})
		},
		"cache": func(n *yaml.Node, p string) {
			d.mapping(n, p, "cache", fields{
				"model_cache_ttl":      d.duration(&c.Cache.ModelCacheTTL),
				"enable_deduplication": d.boolean(&c.Cache.EnableDeduplication),
				"deduplication_ttl":    d.duration(&c.Cache.DeduplicationTTL),
				"response_cache": func(n *yaml.Node, p string) {
					r := &c.Cache.ResponseCache
					d.mapping(n, p, "cache.response_cache", fields{
						"enabled":   d.boolean(&r.Enabled),
						"ttl":       d.duration(&r.TTL),
						"max_bytes": d.size(&r.MaxBytes),
						"storage":   d.normalized(&r.Storage, lower),
					})
				},
			})
		},
		"request":         func(n *yaml.Node, p string) { d.request(n, p, &c.Request) },
		"retry":           func(n *yaml.Node, p string) { d.retry(n, p, &c.Retry) },
		"circuit_breaker": func(n *yaml.Node, p string) { d.breaker(n, p, &c.CircuitBreaker) },
		"health_checks":   func(n *yaml.Node, p string) { d.health(n, p, &c.HealthChecks) },
		"logging": func(n *yaml.Node, p string) {
			d.mapping(n, p, "logging", fields{
				"level":  d.normalized(&c.Logging.Level, canonicalLevel),
				"format": d.normalized(&c.Logging.Format, canonicalFormat),
			})
		},
		"api_keys":            func(n *yaml.Node, p string) { d.apiKeys(n, p, &c.APIKeys) },
		"admin":               func(n *yaml.Node, p string) { d.admin(n, p, &c.Admin) },
		"rate_limiting":       func(n *yaml.Node, p string) { d.rateLimiting(n, p, &c.RateLimiting) },
		"model_metadata_file": d.str(&c.ModelMetadataFile),
		"metrics": func(n *yaml.Node, p string) {
			d.mapping(n, p, "metrics", fields{
				"enabled":  d.boolean(&c.Metrics.Enabled),
				"endpoint": d.str(&c.Metrics.Endpoint),
				"listener": d.normalized(&c.Metrics.Listener, lower),
			})
		},
		"global_prompts": func(n *yaml.Node, p string) { d.globalPrompts(n, p, &c.GlobalPrompts) },
	})
	if backends != nil {
		d.backends(backends, "backends", c)
	}
}

func (d *decoder) server(n *yaml.Node, path string, s *ServerConfig) {
	d.mapping(n, path, "server", fields{
		"bind_address":            d.stringOrList(&s.BindAddress),
		"socket_mode":             d.fileMode(&s.SocketMode),
		"max_body_size":           d.size(&s.MaxBodySize),
		"shutdown_timeout":        d.duration(&s.ShutdownTimeout),
		"expose_backend_header":   d.boolean(&s.ExposeBackendHeader),
		"read_header_timeout":     d.duration(&s.ReadHeaderTimeout),
		"idle_timeout":            d.duration(&s.IdleTimeout),
		"max_concurrent_requests": d.integer(&s.MaxConcurrentRequests),
		"connection_pool_size":    d.integer(&s.ConnectionPoolSize),
		"max_retry_after":         d.duration(&s.MaxRetryAfter),
		"client_write_timeout":    d.duration(&s.ClientWriteTimeout),
		"workers":                 d.workers(&s.Workers),
		"cors": func(n *yaml.Node, p string) {
			d.mapping(n, p, "server.cors", fields{
				"enabled":           d.boolean(&s.CORS.Enabled),
				"allowed_origins":   d.strings(&s.CORS.AllowedOrigins),
				"allowed_methods":   d.strings(&s.CORS.AllowedMethods),
				"allowed_headers":   d.strings(&s.CORS.AllowedHeaders),
				"allow_credentials": d.boolean(&s.CORS.AllowCredentials),
				"max_age":           d.duration(&s.CORS.MaxAge),
			})
		},
	})
}

func (d *decoder) request(n *yaml.Node, path string, r *RequestConfig) {
	d.mapping(n, path, "request", fields{
		"timeout":             d.duration(&r.Timeout),
		"connect_timeout":     d.duration(&r.ConnectTimeout),
		"first_token_timeout": d.duration(&r.FirstTokenTimeout),
		"idle_timeout":        d.duration(&r.IdleTimeout),
		"max_retries":         d.integer(&r.MaxRetries),
	})
}

func (d *decoder) retry(n *yaml.Node, path string, r *RetryConfig) {
	d.mapping(n, path, "retry", fields{
		"max_attempts":          d.integer(&r.MaxAttempts),
		"base_delay":            d.duration(&r.BaseDelay),
		"max_delay":             d.duration(&r.MaxDelay),
		"exponential_backoff":   d.boolean(&r.ExponentialBackoff),
		"jitter":                d.boolean(&r.Jitter),
		"budget_ratio":          d.float(&r.BudgetRatio),
		"budget_min_per_second": d.float(&r.BudgetMinPerSecond),
		"budget_window":         d.duration(&r.BudgetWindow),
		"same_backend":          d.boolean(&r.SameBackend),
	})
}

func (d *decoder) breaker(n *yaml.Node, path string, b *BreakerConfig) {
	d.mapping(n, path, "circuit_breaker", fields{
		"enabled":                     d.boolean(&b.Enabled),
		"failure_threshold":           d.integer(&b.FailureThreshold),
		"failure_rate_threshold":      d.float(&b.FailureRateThreshold),
		"minimum_requests":            d.integer(&b.MinimumRequests),
		"window":                      d.duration(&b.Window),
		"timeout":                     d.duration(&b.Timeout),
		"max_timeout":                 d.duration(&b.MaxTimeout),
		"backoff":                     d.normalized(&b.Backoff, lower),
		"half_open_max_requests":      d.integer(&b.HalfOpenMaxRequests),
		"half_open_success_threshold": d.integer(&b.HalfOpenSuccessThreshold),
	})
}

func (d *decoder) health(n *yaml.Node, path string, h *HealthConfig) {
	d.mapping(n, path, "health_checks", fields{
		"enabled":               d.boolean(&h.Enabled),
		"interval":              d.duration(&h.Interval),
		"timeout":               d.duration(&h.Timeout),
		"unhealthy_threshold":   d.integer(&h.UnhealthyThreshold),
		"healthy_threshold":     d.integer(&h.HealthyThreshold),
		"endpoint":              d.str(&h.Endpoint),
		"warmup_check_interval": d.duration(&h.WarmupCheckInterval),
		"max_warmup_duration":   d.duration(&h.MaxWarmupDuration),
		"panic_threshold":       d.float(&h.PanicThreshold),
	})
}

// backends decodes the backends list. Each backend starts from
// c.NewBackend, so its override blocks begin as copies of the global ones.
func (d *decoder) backends(n *yaml.Node, path string, c *Config) {
	d.sequence(n, path, func(n *yaml.Node, p string) {
		// Appended even when malformed, so that indexes match the file.
		c.Backends = append(c.Backends, d.backend(n, p, c))
	})
}

func (d *decoder) backend(n *yaml.Node, path string, c *Config) Backend {
	b := c.NewBackend("", "")
	// written maps a setting with a synonym to the key that set it.
	written := map[string]string{}
	synonym := func(logical string, decode func(n *yaml.Node, path string)) decodeFunc {
		return func(n *yaml.Node, p string) {
			key := p[len(path)+1:]
			if prev, dup := written[logical]; dup {
				d.errorf(n, p, "%q and %q are the same setting; keep one", prev, key)
				return
			}
			written[logical] = key
			if key != logical {
				d.src.rename[pathKey(path, logical)] = p
			}
			decode(n, p)
		}
	}
	var writtenType string
	retry := synonym("retry", func(n *yaml.Node, p string) { d.retry(n, p, &b.Retry) })
	health := synonym("health_checks", func(n *yaml.Node, p string) { d.health(n, p, &b.HealthChecks) })
	d.mapping(n, path, "backend", fields{
		"name": d.str(&b.Name),
		"type": d.normalized(&b.Type, func(s string) string {
			writtenType = s
			t, _ := canonicalBackendType(s)
			return t
		}),
		"url":     d.normalized(&b.URL, trimURL),
		"api_key": d.str(&b.APIKey),
		"org_id":  d.str(&b.OrgID),
		"weight":  d.integer(&b.Weight),
		"models":  d.strings(&b.Models),
		"model_configs": func(n *yaml.Node, p string) {
			d.sequence(n, p, func(n *yaml.Node, p string) {
				var m ModelConfig
				d.mapping(n, p, "model_configs", fields{
					"id":       d.str(&m.ID),
					"aliases":  d.strings(&m.Aliases),
					"metadata": d.anyMap(&m.Metadata),
				})
				b.ModelConfigs = append(b.ModelConfigs, m)
			})
		},
		"request":            func(n *yaml.Node, p string) { d.request(n, p, &b.Request) },
		"retry":              retry,
		"retry_override":     retry,
		"circuit_breaker":    func(n *yaml.Node, p string) { d.breaker(n, p, &b.CircuitBreaker) },
		"health_checks":      health,
		"health_check":       health,
		"anthropic_version":  d.str(&b.AnthropicVersion),
		"anthropic_beta":     d.strings(&b.AnthropicBeta),
		"anthropic_native":   d.boolean(&b.AnthropicNative),
		"default_max_tokens": d.integer(&b.DefaultMaxTokens),
		"gemini_api":         d.normalized(&b.GeminiAPI, lower),
		"reasoning":          d.boolean(&b.Reasoning),
	})
	// Vendors' own backends need no url: continuum-router's native OpenAI
	// backend ("type: openai", not the generic default), Anthropic and Gemini.
	if b.URL == "" {
		switch {
		case fold(writtenType) == "openai":
			b.URL = openAIURL
		case b.Type == "anthropic":
			b.URL = anthropicURL
		case b.Type == "gemini":
			b.URL = geminiURL
		}
	}
	return b
}

// trimURL removes surrounding space and trailing slashes from a base URL,
// keeping the "//" of an empty authority so that the error names it.
func trimURL(s string) string {
	s = strings.TrimSpace(s)
	for strings.HasSuffix(s, "/") && !strings.HasSuffix(s, "://") {
		s = s[:len(s)-1]
	}
	return s
}

// The URLs of vendors' backends written without one.
const (
	openAIURL    = "https://api.openai.com"
	anthropicURL = "https://api.anthropic.com"
	geminiURL    = "https://generativelanguage.googleapis.com"
)

func (d *decoder) apiKeys(n *yaml.Node, path string, a *APIKeysConfig) {
	if n.Kind == yaml.SequenceNode {
		// The short form: the list of keys itself.
		d.src.rename[pathKey(path, "api_keys")] = path
		d.keyList(n, path, &a.Keys, 0)
		return
	}
	d.mapping(n, path, "api_keys", fields{
		"mode":          d.normalized(&a.Mode, lower),
		"api_keys":      func(n *yaml.Node, p string) { d.keyList(n, p, &a.Keys, 0) },
		"api_keys_file": d.str(&a.File),
	})
}

// keyList decodes a list of API keys and appends them to keys; their paths
// are numbered from first.
func (d *decoder) keyList(n *yaml.Node, path string, keys *[]APIKey, first int) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, got %s", kindName(n))
		return
	}
	for i, it := range n.Content {
		it = resolve(it)
		p := pathIndex(path, first+i)
		d.record(p, it)
		k := APIKey{Enabled: true}
		d.mapping(it, p, "api_key", fields{
			"key":             d.str(&k.Key),
			"id":              d.str(&k.ID),
			"name":            d.str(&k.Name),
			"user_id":         d.str(&k.UserID),
			"organization_id": d.str(&k.OrganizationID),
			"scopes":          d.strings(&k.Scopes),
			"rate_limit":      d.keyRate(&k.RateLimit),
			"enabled":         d.boolean(&k.Enabled),
			"expires_at":      d.timestamp(&k.ExpiresAt),
			"models":          d.strings(&k.Models),
		})
		*keys = append(*keys, k)
	}
}

// keyRate decodes an API key's rate_limit: a RateSpec mapping, or an
// integer N of requests per minute (rate N/60 per second, burst N).
func (d *decoder) keyRate(dst *RateSpec) decodeFunc {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.ScalarNode {
			d.rateSpec(n, path, dst)
			return
		}
		var perMinute int
		d.integer(&perMinute)(n, path)
		*dst = RateSpec{RequestsPerSecond: float64(perMinute) / 60, BurstCapacity: perMinute}
	}
}

// rateSpecKeys are the keys of a RateSpec.
var rateSpecKeys = []string{"requests_per_second", "burst_capacity", "tokens_per_minute", "token_burst"}

// isRateSpec reports whether a mapping's keys are all RateSpec keys (and
// there is one at least).
func isRateSpec(es []entry) bool {
	for _, e := range es {
		if !slices.Contains(rateSpecKeys, e.key) {
			return false
		}
	}
	return len(es) > 0
}

func (d *decoder) rateSpec(n *yaml.Node, path string, r *RateSpec) {
	d.mapping(n, path, "rate_spec", fields{
		"requests_per_second": d.float(&r.RequestsPerSecond),
		"burst_capacity":      d.integer(&r.BurstCapacity),
		"tokens_per_minute":   d.float(&r.TokensPerMinute),
		"token_burst":         d.integer(&r.TokenBurst),
	})
}

func (d *decoder) admin(n *yaml.Node, path string, a *AdminConfig) {
	d.mapping(n, path, "admin", fields{
		"bind_address": d.str(&a.BindAddress),
		"auth": func(n *yaml.Node, p string) {
			d.mapping(n, p, "admin.auth", fields{
				"method":   d.normalized(&a.Auth.Method, func(s string) string { m, _ := CanonicalAdminMethod(s); return m }),
				"token":    d.str(&a.Auth.Token),
				"username": d.str(&a.Auth.Username),
				"password": d.str(&a.Auth.Password),
			})
		},
	})
}

func (d *decoder) rateLimiting(n *yaml.Node, path string, r *RateLimitConfig) {
	spec := func(dst *RateSpec) decodeFunc {
		return func(n *yaml.Node, p string) { d.rateSpec(n, p, dst) }
	}
	// specs decodes per_model and per_backend: a mapping of names ("*" for
	// every other one) to specs, or a single spec, which applies to each.
	specs := func(dst *map[string]RateSpec) decodeFunc {
		return func(n *yaml.Node, p string) {
			if isNull(n) {
				return
			}
			if n.Kind != yaml.MappingNode {
				d.errorf(n, p, "expected a mapping, got %s", kindName(n))
				return
			}
			if isRateSpec(d.entries(n, p)) {
				var s RateSpec
				d.rateSpec(n, p, &s)
				d.src.rename[pathKey(p, "*")] = p
				*dst = map[string]RateSpec{"*": s}
				return
			}
			out := map[string]RateSpec{}
			for _, e := range d.entries(n, p) {
				ep := pathKey(p, e.key)
				d.record(ep, e.value)
				var s RateSpec
				d.rateSpec(e.value, ep, &s)
				out[e.key] = s
			}
			*dst = out
		}
	}
	// redis_url is the old spelling of redis.url.
	url := ""
	redis := func(n *yaml.Node, p string) {
		d.mapping(n, p, "rate_limiting.redis", fields{
			"url": func(n *yaml.Node, p string) {
				if url != "" {
					d.errorf(n, p, "%q and %q are the same setting; keep one", url, "redis.url")
					return
				}
				url = "redis.url"
				d.str(&r.Redis.URL)(n, p)
			},
			"key_prefix":    d.str(&r.Redis.KeyPrefix),
			"timeout":       d.duration(&r.Redis.Timeout),
			"pool_size":     d.integer(&r.Redis.PoolSize),
			"heartbeat_ttl": d.duration(&r.Redis.HeartbeatTTL),
		})
	}
	d.mapping(n, path, "rate_limiting", fields{
		"enabled": d.boolean(&r.Enabled),
		"storage": d.normalized(&r.Storage, lower),
		"redis":   redis,
		"redis_url": func(n *yaml.Node, p string) {
			if url != "" {
				d.errorf(n, p, "%q and %q are the same setting; keep one", url, "redis_url")
				return
			}
			url = "redis_url"
			d.src.rename[path+".redis.url"] = p
			d.str(&r.Redis.URL)(n, p)
		},
		"failure_policy":        d.normalized(&r.FailurePolicy, lower),
		"failure_policies":      d.stringMap(&r.FailurePolicies),
		"replica_id":            d.str(&r.ReplicaID),
		"default_output_tokens": d.integer(&r.DefaultOutputTokens),
		"limits": func(n *yaml.Node, p string) {
			d.mapping(n, p, "rate_limiting.limits", fields{
				"per_api_key": spec(&r.Limits.PerAPIKey),
				"per_client":  spec(&r.Limits.PerClient),
				"global":      spec(&r.Limits.Global),
				"per_model":   specs(&r.Limits.PerModel),
				"per_backend": specs(&r.Limits.PerBackend),
			})
		},
		"whitelist":         d.strings(&r.Whitelist),
		"bypass_keys":       d.strings(&r.BypassKeys),
		"trusted_proxies":   d.strings(&r.TrustedProxies),
		"use_rightmost_xff": d.boolean(&r.UseRightmostXFF),
	})
}

// mergeFallbacks adds fallback.fallback_chains to Fallbacks when
// fallback.enabled; an entry already in Fallbacks wins, with a warning when
// the two differ.
func (d *decoder) mergeFallbacks(c *Config) {
	if !c.Fallback.Enabled || len(c.Fallback.Chains) == 0 {
		return
	}
	if c.Fallbacks == nil {
		c.Fallbacks = map[string][]string{}
	}
	for _, model := range sortedKeys(c.Fallback.Chains) {
		chain := c.Fallback.Chains[model]
		from := pathKey("fallback.fallback_chains", model)
		if have, ok := c.Fallbacks[model]; ok {
			if !slices.Equal(have, chain) {
				d.warns = append(d.warns, d.diagAt(from, fmt.Sprintf(
					"%s: conflicts with %s, which wins; this chain is ignored", from, pathKey("fallbacks", model))))
			}
			continue
		}
		c.Fallbacks[model] = slices.Clone(chain)
		d.src.rename[pathKey("fallbacks", model)] = from
	}
}

// mergeAliases adds the aliases of every backend's model_configs to
// ModelAliases. An alias already mapped to another model is an error.
func (d *decoder) mergeAliases(c *Config) {
	for i, b := range c.Backends {
		for j, m := range b.ModelConfigs {
			for k, alias := range m.Aliases {
				if alias == "" || m.ID == "" || alias == m.ID {
					continue // reported by Validate
				}
				from := pathIndex(pathKey(pathIndex(pathKey(pathIndex("backends", i), "model_configs"), j), "aliases"), k)
				if have, ok := c.ModelAliases[alias]; ok {
					if have != m.ID {
						d.errs = append(d.errs, d.diagAt(from, fmt.Sprintf(
							"%s: alias %s already refers to model %s, not %s", from, quote(alias), quote(have), quote(m.ID))))
					}
					continue
				}
				if c.ModelAliases == nil {
					c.ModelAliases = map[string]string{}
				}
				c.ModelAliases[alias] = m.ID
				d.src.rename[pathKey("model_aliases", alias)] = from
			}
		}
	}
}

func (d *decoder) globalPrompts(n *yaml.Node, path string, g *GlobalPromptsConfig) {
	d.mapping(n, path, "global_prompts", fields{
		"default":        d.str(&g.Default),
		"default_file":   d.str(&g.DefaultFile),
		"prompts_dir":    d.str(&g.PromptsDir),
		"backends":       d.promptMap(&g.Backends),
		"models":         d.promptMap(&g.Models),
		"merge_strategy": d.normalized(&g.MergeStrategy, lower),
		"separator":      d.str(&g.Separator),
	})
}

// promptMap decodes a mapping of names to prompts: each a {prompt,
// prompt_file} mapping, or a plain string meaning prompt.
func (d *decoder) promptMap(dst *map[string]PromptConfig) decodeFunc {
	return func(n *yaml.Node, path string) {
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected a mapping, got %s", kindName(n))
			return
		}
		out := map[string]PromptConfig{}
		for _, e := range d.entries(n, path) {
			p := pathKey(path, e.key)
			d.record(p, e.value)
			var pc PromptConfig
			if e.value.Kind == yaml.ScalarNode && !isNull(e.value) {
				d.str(&pc.Prompt)(e.value, p)
			} else {
				d.mapping(e.value, p, "global_prompts.prompt", fields{
					"prompt":      d.str(&pc.Prompt),
					"prompt_file": d.str(&pc.PromptFile),
				})
			}
			out[e.key] = pc
		}
		*dst = out
	}
}

// promptBackendWarnings warns about global_prompts.backends entries that
// name no configured backend: their prompt applies to no request. A file
// without backends (a fragment) gets its own warning instead.
func (d *decoder) promptBackendWarnings(c *Config) {
	if len(c.Backends) == 0 {
		return
	}
	names := make([]string, len(c.Backends))
	for i, b := range c.Backends {
		names[i] = b.Name
	}
	for _, name := range sortedKeys(c.GlobalPrompts.Backends) {
		if slices.Contains(names, name) {
			continue
		}
		p := pathKey("global_prompts.backends", name)
		d.warns = append(d.warns, d.diagAt(p, fmt.Sprintf("%s: no backend is named %s; this prompt applies to no request%s",
			p, quote(name), didYouMean(name, names))))
	}
}
