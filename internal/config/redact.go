package config

import (
	"maps"
	"slices"

	"github.com/continuumhq/continuum/internal/mask"
)

// RedactedValue replaces every secret in the result of Redacted.
const RedactedValue = mask.Value

// Redacted returns a deep copy of c with every secret replaced by
// RedactedValue: backend API keys, client API keys, rate-limit bypass
// keys, the admin token and password, and the credentials in backend URLs
// and the Redis URL: the user information (http://****@host) and the value
// of credential query parameters (?password=****; see mask.URL). Empty
// secrets stay empty, so that "not set" remains visible. c is not modified.
func (c *Config) Redacted() *Config {
	r := c.clone()
	for i := range r.Backends {
		r.Backends[i].APIKey = redact(r.Backends[i].APIKey)
		r.Backends[i].URL = mask.URL(r.Backends[i].URL)
	}
	for i := range r.APIKeys.Keys {
		r.APIKeys.Keys[i].Key = redact(r.APIKeys.Keys[i].Key)
	}
	for i := range r.RateLimiting.BypassKeys {
		r.RateLimiting.BypassKeys[i] = redact(r.RateLimiting.BypassKeys[i])
	}
	r.Admin.Auth.Token = redact(r.Admin.Auth.Token)
	r.Admin.Auth.Password = redact(r.Admin.Auth.Password)
	r.RateLimiting.Redis.URL = mask.URL(r.RateLimiting.Redis.URL)
	return r
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return RedactedValue
}

// clone returns a deep copy of c. The source positions are shared: they
// are never modified after Parse.
func (c *Config) clone() *Config {
	r := *c
	r.Server.BindAddress = slices.Clone(c.Server.BindAddress)
	r.Server.CORS.AllowedOrigins = slices.Clone(c.Server.CORS.AllowedOrigins)
	r.Server.CORS.AllowedMethods = slices.Clone(c.Server.CORS.AllowedMethods)
	r.Server.CORS.AllowedHeaders = slices.Clone(c.Server.CORS.AllowedHeaders)
	r.Backends = slices.Clone(c.Backends)
	for i := range r.Backends {
		b := &r.Backends[i]
		b.Models = slices.Clone(b.Models)
		b.ModelConfigs = slices.Clone(b.ModelConfigs)
		for j := range b.ModelConfigs {
			m := &b.ModelConfigs[j]
			m.Aliases = slices.Clone(m.Aliases)
			m.Metadata = cloneAny(m.Metadata).(map[string]any)
		}
	}
	r.ModelAliases = maps.Clone(c.ModelAliases)
	if c.ModelMetadata != nil {
		r.ModelMetadata = make(map[string]map[string]any, len(c.ModelMetadata))
		for id, m := range c.ModelMetadata {
			r.ModelMetadata[id] = cloneAny(m).(map[string]any)
		}
	}
	r.Fallbacks = cloneLists(c.Fallbacks)
	r.Fallback.Chains = cloneLists(c.Fallback.Chains)
	r.APIKeys.Keys = slices.Clone(c.APIKeys.Keys)
	for i := range r.APIKeys.Keys {
		k := &r.APIKeys.Keys[i]
		k.Scopes = slices.Clone(k.Scopes)
		k.Models = slices.Clone(k.Models)
	}
	r.RateLimiting.Whitelist = slices.Clone(c.RateLimiting.Whitelist)
	r.RateLimiting.BypassKeys = slices.Clone(c.RateLimiting.BypassKeys)
	r.RateLimiting.TrustedProxies = slices.Clone(c.RateLimiting.TrustedProxies)
	r.GlobalPrompts.Backends = maps.Clone(c.GlobalPrompts.Backends)
	r.GlobalPrompts.Models = maps.Clone(c.GlobalPrompts.Models)
	r.GlobalPrompts.Files = slices.Clone(c.GlobalPrompts.Files)
	r.RateLimiting.FailurePolicies = maps.Clone(c.RateLimiting.FailurePolicies)
	r.RateLimiting.Limits.PerModel = maps.Clone(c.RateLimiting.Limits.PerModel)
	r.RateLimiting.Limits.PerBackend = maps.Clone(c.RateLimiting.Limits.PerBackend)
	return &r
}

func cloneLists(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	r := make(map[string][]string, len(m))
	for k, v := range m {
		r[k] = slices.Clone(v)
	}
	return r
}

// cloneAny deep-copies decoded YAML data (maps, lists and scalars).
func cloneAny(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return v
		}
		r := make(map[string]any, len(v))
		for k, e := range v {
			r[k] = cloneAny(e)
		}
		return r
	case []any:
		if v == nil {
			return v
		}
		r := make([]any, len(v))
		for i, e := range v {
			r[i] = cloneAny(e)
		}
		return r
	default:
		return v
	}
}
