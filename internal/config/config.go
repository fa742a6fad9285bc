// Package config loads, checks and describes Continuum's YAML configuration.
//
// The format is continuum-router's, so an existing continuum-router file
// works unchanged: keys that continuum-router defines but Continuum does not
// support yet are reported as warnings and ignored, and any other unknown key
// is an error with a "did you mean" suggestion. Every problem carries its
// position as "file:line:col: message".
//
// Scalar values may refer to environment variables: ${VAR} expands to the
// variable's value (or "" with a warning when it is unset), ${VAR:-default}
// to the default when the variable is unset or empty, and $$ to a literal $.
//
// Durations are Go duration strings ("500ms", "30s", "5m", "1h30m") or a
// bare integer meaning seconds. Sizes are a byte count ("1024") or a number
// with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB
// (powers of 1024), case-insensitive ("32MiB", "10MB").
//
// A Config returned by Parse or Load holds the effective values: defaults
// applied, synonyms resolved, enumerations in canonical form, and each
// backend's request, retry, circuit_breaker and health_checks blocks merged
// over the global ones. It must be treated as immutable once shared.
package config

import "time"

// Config is a complete Continuum configuration.
type Config struct {
	// Server configures the public listener.
	Server ServerConfig `yaml:"server"`
	// Backends lists the inference servers. Default: none.
	Backends []Backend `yaml:"backends"`
	// SelectionStrategy names the load-balancing policy: RoundRobin,
	// WeightedRoundRobin, LeastConnections, LeastLatency, Random, PowerOfTwo
	// or ConsistentHash. The snake_case spellings (round_robin, …) are
	// accepted; Parse stores the PascalCase form. Default "RoundRobin".
	SelectionStrategy string `yaml:"selection_strategy"`
	// ModelAliases maps a model name clients may ask for to the model that
	// serves it (alias -> model). The aliases listed in a backend's
	// model_configs are merged in by Parse. Default: none.
	ModelAliases map[string]string `yaml:"model_aliases"`
	// Fallbacks maps a model to the models tried, in order, when none of its
	// own backends can serve a request. Parse merges in fallback.fallback_chains
	// when fallback.enabled is true; on a conflict this map wins. Default: none.
	Fallbacks map[string][]string `yaml:"fallbacks"`
	// Fallback is continuum-router's form of Fallbacks.
	Fallback FallbackConfig `yaml:"fallback"`
	// Cache configures the model-list cache, request deduplication and the
	// response cache.
	Cache CacheConfig `yaml:"cache"`
	// Request holds the request timeouts and retry count. Each backend has
	// its own effective copy in Backend.Request.
	Request RequestConfig `yaml:"request"`
	// Retry is the retry policy. Each backend has its own effective copy in
	// Backend.Retry.
	Retry RetryConfig `yaml:"retry"`
	// CircuitBreaker configures the per-backend circuit breakers. Each
	// backend has its own effective copy in Backend.CircuitBreaker.
	CircuitBreaker BreakerConfig `yaml:"circuit_breaker"`
	// HealthChecks configures active health probes. Each backend has its own
	// effective copy in Backend.HealthChecks.
	HealthChecks HealthConfig `yaml:"health_checks"`
	// Logging configures the log output.
	Logging LoggingConfig `yaml:"logging"`
	// APIKeys configures client authentication.
	APIKeys APIKeysConfig `yaml:"api_keys"`
	// Admin configures the admin API.
	Admin AdminConfig `yaml:"admin"`
	// RateLimiting configures request rate limits.
	RateLimiting RateLimitConfig `yaml:"rate_limiting"`
	// Metrics configures the Prometheus endpoint.
	Metrics MetricsConfig `yaml:"metrics"`
	// GlobalPrompts configures the system prompts the router adds to
	// requests (continuum-router's global_prompts).
	GlobalPrompts GlobalPromptsConfig `yaml:"global_prompts"`
	// ModelMetadataFile is a YAML or JSON file describing models (display
	// name, capabilities, context length, pricing, …): a mapping of model id
	// to metadata, or a mapping with a "models" list of {id, metadata}
	// entries. A relative path is relative to the configuration file; Load
	// stores the resolved path and reads it, Parse leaves it as written and
	// does not. Default "": none.
	ModelMetadataFile string `yaml:"model_metadata_file,omitempty"`
	// ModelMetadata is the effective metadata per model id: the entries of
	// ModelMetadataFile with each backend's model_configs[].metadata merged
	// over them key by key (model_configs wins). Served in /v1/models. It is
	// computed by Parse and Load, not a YAML key.
	ModelMetadata map[string]map[string]any `yaml:"-"`

	// File is the path the configuration was read from ("" when it was not
	// read from a file). It is not a YAML key.
	File string `yaml:"-"`

	// src records where each setting was written; nil for a Config built in
	// code. It is never modified after Parse, so copies may share it.
	src *sourceInfo
}

// ServerConfig configures the public listener.
type ServerConfig struct {
	// BindAddress lists the addresses to listen on: "host:port" (an empty
	// host means every interface) or "unix:/path/to/socket". YAML accepts a
	// single string or a list. Default ["127.0.0.1:8080"].
	BindAddress []string `yaml:"bind_address"`
	// SocketMode is the file mode given to Unix sockets, written in octal
	// (0o660 or 0660). Default 0: the mode they are created with is kept.
	SocketMode uint32 `yaml:"socket_mode"`
	// MaxBodySize is the largest request body accepted, in bytes; larger
	// requests get 413. It must be positive. Default 32MiB.
	MaxBodySize int64 `yaml:"max_body_size"`
	// ShutdownTimeout is how long in-flight requests and streams may finish
	// after SIGTERM. Default 30s; 0 stops at once.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// ExposeBackendHeader adds X-Continuum-Backend, naming the backend that
	// served the response. Default true.
	ExposeBackendHeader bool `yaml:"expose_backend_header"`
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers and body. Default 10s; 0 means no limit.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout is how long an idle keep-alive connection is kept open.
	// Default 120s; 0 means no limit.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConcurrentRequests caps the requests handled at once; above it new
	// requests are shed with 503. Default 0: unlimited.
	MaxConcurrentRequests int `yaml:"max_concurrent_requests"`
	// ConnectionPoolSize is the most idle upstream connections kept per
	// backend. Default 100; 0 means the upstream client's own default.
	ConnectionPoolSize int `yaml:"connection_pool_size"`
	// MaxRetryAfter caps the Retry-After the router sends with its own 429
	// and 503 answers (open breakers, resting backends, rate limits): the
	// official SDKs sleep that long before retrying. Default 5s; 0 means no
	// cap.
	MaxRetryAfter time.Duration `yaml:"max_retry_after"`
	// ClientWriteTimeout is how long one write to a client may block (a
	// client that stopped reading): the request then ends and frees its
	// slot, its upstream connection and its backend's in-flight count.
	// Time blocked writing to a client never counts against a backend.
	// Default 60s; 0 means no limit.
	ClientWriteTimeout time.Duration `yaml:"client_write_timeout"`
	// CORS configures cross-origin requests.
	CORS CORSConfig `yaml:"cors"`
	// Workers is the number of worker processes (continuum-router's key).
	// 0 and 1 run the router in this one process; N > 1 makes `serve` a
	// master that starts N workers sharing the listening sockets
	// (SO_REUSEPORT, Linux only), restarts them when they die and upgrades
	// the binary on SIGUSR2. The YAML value "auto" means one worker per CPU
	// (runtime.NumCPU, resolved when the file is read). Default 1.
	Workers int `yaml:"workers"`
}

// WorkerCount returns the number of worker processes to run: Workers, with
// 0 meaning 1 (the single-process mode).
func (s ServerConfig) WorkerCount() int { return max(1, s.Workers) }

// CORSConfig configures Cross-Origin Resource Sharing on the public listener.
type CORSConfig struct {
	// Enabled turns CORS handling on. Default false: no CORS headers are sent.
	Enabled bool `yaml:"enabled"`
	// AllowedOrigins lists the origins allowed ("https://app.example.com",
	// or a desktop shell's web view: "tauri://localhost", "app://name"),
	// each compared whole with the request's Origin, or "*" for any. Default ["*"].
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedMethods lists the methods allowed. Default [GET, POST, OPTIONS].
	AllowedMethods []string `yaml:"allowed_methods"`
	// AllowedHeaders lists the request headers allowed, in any case; an
	// entry ending in "*" allows every header starting with what precedes
	// it, and "*" alone allows any. Default: what the official OpenAI SDKs
	// send from a browser, and the router's own headers: [Authorization,
	// Content-Type, Accept, X-Api-Key, Api-Key, X-Request-Id, X-Session-Id,
	// OpenAI-Organization, OpenAI-Project, OpenAI-Beta, X-Stainless-*].
	AllowedHeaders []string `yaml:"allowed_headers"`
	// AllowCredentials lets browsers send cookies and credentials. Default false.
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long browsers may cache a preflight answer, sent as
	// Access-Control-Max-Age in whole seconds. Default 10m; 0 sends no
	// Access-Control-Max-Age, so browsers use their own default (5 seconds
	// in the Fetch standard).
	MaxAge time.Duration `yaml:"max_age"`
}

// Backend is one entry of backends: an inference server.
type Backend struct {
	// Name identifies the backend in logs, metrics, the admin API and the
	// X-Continuum-Backend header. Required and unique.
	Name string `yaml:"name"`
	// Type is the API dialect: openai, vllm, llamacpp, lmstudio, localai,
	// ollama, anthropic or gemini. "generic" and "openai_compatible" mean
	// openai, "claude" anthropic and "google" gemini. Default "openai"; ""
	// also means openai.
	Type string `yaml:"type"`
	// URL is the base URL (http or https), stored without a trailing "/".
	// Required, except that a backend written with "type: openai" and no url
	// gets https://api.openai.com, as in continuum-router, "type: anthropic"
	// https://api.anthropic.com and "type: gemini"
	// https://generativelanguage.googleapis.com. User information
	// in it (http://user:password@host) is sent as HTTP basic
	// authentication, unless APIKey is set (then only the bearer token is
	// sent, with a warning); it is not part of the URL requests go to (see
	// BaseURL), and is masked wherever the configuration is shown.
	URL string `yaml:"url"`
	// APIKey is sent upstream as a bearer token; it wins over user
	// information in URL. Default "": none is sent.
	APIKey string `yaml:"api_key"`
	// OrgID is sent upstream as OpenAI-Organization. Default "": not sent.
	OrgID string `yaml:"org_id"`
	// Weight is the backend's share for weighted policies; at least 1.
	// Default 1.
	Weight int `yaml:"weight"`
	// Models lists the models the backend serves. Default empty: they are
	// discovered from the backend.
	Models []string `yaml:"models"`
	// ModelConfigs describes models in more detail. The aliases listed here
	// are merged into Config.ModelAliases. Default: none.
	ModelConfigs []ModelConfig `yaml:"model_configs"`
	// Request is the effective request configuration for this backend: the
	// global block with the keys written in the backend's entry applied on top.
	Request RequestConfig `yaml:"request"`
	// Retry is the effective retry policy for this backend (YAML key retry,
	// or continuum-router's retry_override), merged like Request.
	Retry RetryConfig `yaml:"retry"`
	// CircuitBreaker is the effective breaker configuration for this backend,
	// merged like Request.
	CircuitBreaker BreakerConfig `yaml:"circuit_breaker"`
	// HealthChecks is the effective health-check configuration for this
	// backend (YAML key health_checks or health_check), merged like Request.
	HealthChecks HealthConfig `yaml:"health_checks"`

	// AnthropicVersion is the anthropic-version a type anthropic backend is
	// called with when the client did not send one (Anthropic clients'
	// own version is passed on). Default "" means 2023-06-01.
	AnthropicVersion string `yaml:"anthropic_version,omitempty"`
	// AnthropicBeta lists anthropic-beta values sent to a type anthropic
	// backend, merged with the client's. Default: none.
	AnthropicBeta []string `yaml:"anthropic_beta,omitempty"`
	// AnthropicNative marks an OpenAI-compatible backend that also serves
	// Anthropic's /v1/messages (vLLM, SGLang, llama.cpp): Anthropic clients'
	// calls are passed to it unchanged instead of translated. Default false.
	AnthropicNative bool `yaml:"anthropic_native,omitempty"`
	// DefaultMaxTokens is the max_tokens sent to a type anthropic backend
	// when the client set none (Anthropic requires one). Default 0 means 4096.
	DefaultMaxTokens int `yaml:"default_max_tokens,omitempty"`
	// GeminiAPI selects how a type gemini backend is called: native
	// (generateContent) or openai (its OpenAI-compatible endpoint under
	// /v1beta/openai). Default "" means native.
	GeminiAPI string `yaml:"gemini_api,omitempty"`
	// Reasoning passes reasoning (thinking) through translations to and
	// from this backend. Default false: it is dropped.
	Reasoning bool `yaml:"reasoning,omitempty"`
}

// Values of Backend.GeminiAPI.
const (
	GeminiNative = "native"
	GeminiOpenAI = "openai"
)

// ModelConfig is one entry of a backend's model_configs.
type ModelConfig struct {
	// ID is the model's name as the backend knows it. Required.
	ID string `yaml:"id"`
	// Aliases are other names clients may use for the model; each becomes an
	// entry alias -> ID of Config.ModelAliases. Default: none.
	Aliases []string `yaml:"aliases"`
	// Metadata is free-form information about the model (display_name,
	// pricing, limits, …), kept as written and not validated. Default nil.
	Metadata map[string]any `yaml:"metadata"`
}

// RequestConfig holds request timeouts and the retry count.
type RequestConfig struct {
	// Timeout bounds a whole request, retries included. Default 180s; 0 means
	// no limit. In a backend's block it bounds each attempt on that backend
	// instead; 0 there means no limit of its own (the global timeout still
	// bounds the whole request).
	Timeout time.Duration `yaml:"timeout"`
	// ConnectTimeout bounds connecting to a backend. Default 5s; 0 means no
	// limit beyond the operating system's.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// FirstTokenTimeout bounds one attempt until its first content event (or
	// its whole body when not streaming). Default 30s; 0 means no limit.
	FirstTokenTimeout time.Duration `yaml:"first_token_timeout"`
	// IdleTimeout bounds the gap between two stream events. Default 60s; 0
	// means no limit.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxRetries is the most retries after the first attempt. Default 2; 0
	// disables retries. See RetryConfig.MaxAttempts. Only the global value
	// applies: in a backend's block, another value is a warning.
	MaxRetries int `yaml:"max_retries"`
}

// RetryConfig is the retry policy. Retries happen only before the first
// byte of the response is sent to the client.
type RetryConfig struct {
	// MaxAttempts is the most attempts per request, the first included; at
	// least 1. Together with RequestConfig.MaxRetries the effective number of
	// attempts is min(MaxAttempts, 1+MaxRetries). Default 3. Only the global
	// value applies, as for the Budget settings: in a backend's block,
	// another value is a warning.
	MaxAttempts int `yaml:"max_attempts"`
	// BaseDelay is the delay before the first retry. Default 50ms; 0 retries
	// at once.
	BaseDelay time.Duration `yaml:"base_delay"`
	// MaxDelay caps the delay between attempts; at least BaseDelay. It is
	// also the longest Retry-After the router waits out itself when every
	// backend asked for a pause (the global value). Default 5s; 0, possible
	// only with a BaseDelay of 0, retries at once and never waits out a
	// Retry-After.
	MaxDelay time.Duration `yaml:"max_delay"`
	// ExponentialBackoff doubles the delay after each retry. Default true;
	// false keeps BaseDelay.
	ExponentialBackoff bool `yaml:"exponential_backoff"`
	// Jitter randomises each delay between 0 and its computed value.
	// Default true.
	Jitter bool `yaml:"jitter"`
	// BudgetRatio bounds retries to this fraction of the requests seen over
	// BudgetWindow, in [0, 1]. Default 0.2; 0 leaves only BudgetMinPerSecond.
	BudgetRatio float64 `yaml:"budget_ratio"`
	// BudgetMinPerSecond is a retry rate always allowed, so that low traffic
	// can still retry. Default 1; 0 allows none beyond BudgetRatio.
	BudgetMinPerSecond float64 `yaml:"budget_min_per_second"`
	// BudgetWindow is the period over which BudgetRatio is measured; it must
	// be positive. Default 10s.
	BudgetWindow time.Duration `yaml:"budget_window"`
	// SameBackend lets a retry go to the backend that just failed (a 5xx, a
	// connection error, a first-token timeout) when no other backend of the
	// model can take it, within MaxAttempts and the retry budget, before
	// the first token only. Default false: a failed backend is not asked
	// again by the same request.
	SameBackend bool `yaml:"same_backend"`
}

// BreakerConfig configures a circuit breaker.
type BreakerConfig struct {
	// Enabled turns the breaker on. Default true.
	Enabled bool `yaml:"enabled"`
	// FailureThreshold opens the breaker after this many consecutive
	// failures. Default 5; 0 disables this policy.
	FailureThreshold int `yaml:"failure_threshold"`
	// FailureRateThreshold opens the breaker when the failure rate within
	// Window reaches it, in [0, 1]. Default 0.5; 0 disables this policy.
	FailureRateThreshold float64 `yaml:"failure_rate_threshold"`
	// MinimumRequests is how many calls Window must hold before
	// FailureRateThreshold applies. Default 20; 0 means any number: the rate
	// is judged from the first call.
	MinimumRequests int `yaml:"minimum_requests"`
	// Window is the period FailureRateThreshold is measured over; it must be
	// positive when FailureRateThreshold is set (0 is allowed only when it
	// is not, and has no effect then). Default 30s.
	Window time.Duration `yaml:"window"`
	// Timeout is how long the breaker first stays open before letting probes
	// through. Default 30s; 0 lets probes through at once.
	Timeout time.Duration `yaml:"timeout"`
	// MaxTimeout caps the open duration as it grows with each re-open; at
	// least Timeout, so 0 only with a Timeout of 0. Default 300s.
	MaxTimeout time.Duration `yaml:"max_timeout"`
	// Backoff is how the open duration grows: constant, exponential,
	// equal_jitter or full_jitter. Default "exponential".
	Backoff string `yaml:"backoff"`
	// HalfOpenMaxRequests is the most probes in flight while half-open; at
	// least 1. Default 1.
	HalfOpenMaxRequests int `yaml:"half_open_max_requests"`
	// HalfOpenSuccessThreshold is how many probes must succeed to close the
	// breaker; at least 1. Default 1.
	HalfOpenSuccessThreshold int `yaml:"half_open_success_threshold"`
}

// HealthConfig configures active health checks.
type HealthConfig struct {
	// Enabled turns active probes on. Default true.
	Enabled bool `yaml:"enabled"`
	// Interval is the time between probes; it must be positive when health
	// checks are enabled. Default 30s.
	Interval time.Duration `yaml:"interval"`
	// Timeout bounds one probe, and one model discovery (which runs even when
	// health checks are disabled); it must be positive. Default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// UnhealthyThreshold is how many consecutive failed probes mark a
	// backend down; at least 1. Default 3.
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
	// HealthyThreshold is how many consecutive good probes mark a backend
	// ready again; at least 1. Default 2.
	HealthyThreshold int `yaml:"healthy_threshold"`
	// Endpoint is the path probed. Default "": chosen by backend type
	// (/v1/models; /api/tags for ollama).
	Endpoint string `yaml:"endpoint"`
	// WarmupCheckInterval is the faster probe interval used while a backend
	// answers 503 (warming up); it must be positive when health checks are
	// enabled. Default 1s.
	WarmupCheckInterval time.Duration `yaml:"warmup_check_interval"`
	// MaxWarmupDuration is the longest a backend may stay warming up before
	// it is marked down. Default 300s; 0 means no limit: it warms up for as
	// long as it answers 503.
	MaxWarmupDuration time.Duration `yaml:"max_warmup_duration"`
	// PanicThreshold: when fewer than this fraction of a model's backends are
	// healthy, health is ignored for that model and all of them get traffic;
	// with none healthy, fallback models are tried first. In [0, 1]. Default
	// 0.5; 0 means only when none is healthy, 1 whenever one is not.
	// Only the global value applies: in a backend's block, another value is
	// a warning.
	PanicThreshold float64 `yaml:"panic_threshold"`
}

// CacheConfig configures caches.
type CacheConfig struct {
	// ModelCacheTTL is how long a backend's discovered model list is kept
	// before it is asked again; it must be positive. Default 60s.
	ModelCacheTTL time.Duration `yaml:"model_cache_ttl"`
	// EnableDeduplication makes identical non-streaming requests (same API,
	// model, API key and body) that arrive while one of them is being
	// answered share that one upstream call and its answer, failures
	// included. Default false.
	EnableDeduplication bool `yaml:"enable_deduplication"`
	// DeduplicationTTL is how long a finished successful (2xx) answer of a
	// deduplicated request keeps answering identical requests. It applies
	// with EnableDeduplication only. Default 60s; 0 shares answers only
	// while they are in flight.
	DeduplicationTTL time.Duration `yaml:"deduplication_ttl"`
	// ResponseCache caches the answers of deterministic requests.
	ResponseCache ResponseCacheConfig `yaml:"response_cache"`
}

// ResponseCacheConfig configures the exact-match cache of answers to
// deterministic requests (temperature 0, one choice, not streamed; and
// embeddings), and where kept answers live (this cache's and
// deduplication_ttl's): in memory, or in Redis shared by every replica.
type ResponseCacheConfig struct {
	// Enabled turns the response cache on. Default false.
	Enabled bool `yaml:"enabled"`
	// TTL is how long a cached answer is served; it must be positive when
	// the cache is enabled. Default 5m.
	TTL time.Duration `yaml:"ttl"`
	// MaxBytes bounds the memory of every answer kept, by the response
	// cache and by deduplication_ttl alike; the least recently used answers
	// are dropped first. With Storage redis it bounds one answer (larger
	// ones are not kept), and Redis's maxmemory policy bounds them all. It
	// must be positive when either keeps answers. Default 64MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// Storage is where kept answers live: "memory" (this process) or
	// "redis" (the server of rate_limiting.redis, shared by every replica;
	// it needs rate_limiting.storage: redis). Default "memory".
	Storage string `yaml:"storage"`
}

// Storages of kept answers (cache.response_cache.storage).
const (
	CacheInMemory = "memory"
	CacheInRedis  = "redis"
)

// GlobalPromptsConfig is continuum-router's global_prompts: system prompts
// the router merges into requests. The prompt of a request is the first of:
// its model's (Models), its backend's (Backends), the default. A prompt at
// one level is written inline or in a file; the file wins when both are
// given. Files are read by Load (Parse does not read them): relative paths
// are relative to PromptsDir, itself relative to the configuration file's
// directory. A file that cannot be read is an error at its line.
type GlobalPromptsConfig struct {
	// Default is the prompt of requests no model or backend prompt covers.
	// Default "": none.
	Default string `yaml:"default"`
	// DefaultFile is a file holding the default prompt; it wins over
	// Default. Default "": none.
	DefaultFile string `yaml:"default_file"`
	// PromptsDir is the directory relative prompt files are read from,
	// relative to the configuration file's directory. Default "": that
	// directory itself.
	PromptsDir string `yaml:"prompts_dir"`
	// Backends maps a backend name to its prompt. Default: none.
	Backends map[string]PromptConfig `yaml:"backends"`
	// Models maps a model name to its prompt (the model a backend is asked
	// for, after aliases and fallbacks, or else the name the client used).
	// Default: none.
	Models map[string]PromptConfig `yaml:"models"`
	// MergeStrategy merges a prompt with the client's own system prompt:
	// prepend (before it), append (after it) or replace (instead of it).
	// Default "prepend"; "" also means prepend.
	MergeStrategy string `yaml:"merge_strategy"`
	// Separator goes between the prompt and the client's system prompt for
	// prepend and append. Default "\n\n"; "" also means "\n\n".
	Separator string `yaml:"separator"`

	// DefaultText is the content of DefaultFile, read by Load.
	DefaultText string `yaml:"-"`
	// Files lists the prompt files Load read, resolved, for reloads to
	// watch. Not a YAML key.
	Files []string `yaml:"-"`
}

// DefaultPrompt returns the default prompt's text: DefaultFile's content
// (as read by Load) when it is set, else Default.
func (g *GlobalPromptsConfig) DefaultPrompt() string {
	if g.DefaultFile != "" {
		return g.DefaultText
	}
	return g.Default
}

// PromptConfig is one backend's or model's prompt in global_prompts. YAML
// also accepts a plain string, meaning prompt.
type PromptConfig struct {
	// Prompt is the prompt, inline. Default "".
	Prompt string `yaml:"prompt"`
	// PromptFile is a file holding the prompt; it wins over Prompt.
	// Default "".
	PromptFile string `yaml:"prompt_file"`

	// Text is the content of PromptFile, read by Load.
	Text string `yaml:"-"`
}

// Effective returns the prompt's text: PromptFile's content (as read by
// Load) when it is set, else Prompt.
func (p PromptConfig) Effective() string {
	if p.PromptFile != "" {
		return p.Text
	}
	return p.Prompt
}

// Values of GlobalPromptsConfig.MergeStrategy.
const (
	MergePrepend = "prepend"
	MergeAppend  = "append"
	MergeReplace = "replace"
)

// FallbackConfig is continuum-router's fallback block.
type FallbackConfig struct {
	// Enabled merges Chains into Config.Fallbacks. Default true.
	Enabled bool `yaml:"enabled"`
	// Chains maps a model to its ordered fallback models. Default: none.
	Chains map[string][]string `yaml:"fallback_chains"`
}

// LoggingConfig configures logging.
type LoggingConfig struct {
	// Level is debug, info, warn or error; "warning" means warn and "trace"
	// means debug. Default "info".
	Level string `yaml:"level"`
	// Format is text or json; "pretty" means text. Default "text".
	Format string `yaml:"format"`
}

// APIKeysConfig configures client API keys. In YAML it is either this
// mapping or directly the list of keys.
type APIKeysConfig struct {
	// Mode is permissive (a valid key gets its models and rate limit; any
	// other request, with no key or an unknown, disabled or expired one, is
	// served anonymously) or blocking (every /v1 request needs a valid key).
	// Default "permissive".
	Mode string `yaml:"mode"`
	// Keys lists the keys. Load appends the keys of File. Default: none.
	Keys []APIKey `yaml:"api_keys"`
	// File is a YAML file of more keys: a list, or a mapping with an
	// api_keys list. A relative path is relative to the configuration file;
	// Load stores the resolved path and reads it, Parse leaves it as written
	// and does not. Default "": none.
	File string `yaml:"api_keys_file"`
}

// APIKey is one client key.
type APIKey struct {
	// Key is the secret the client sends. Required unless Enabled is false.
	Key string `yaml:"key"`
	// ID identifies the key in logs and metrics. Default "key-N", N being the
	// key's 0-based position in APIKeysConfig.Keys.
	ID string `yaml:"id"`
	// Name is a human-readable label. Default "".
	Name string `yaml:"name"`
	// UserID is the owner's user id. Default "".
	UserID string `yaml:"user_id"`
	// OrganizationID is the owner's organization id. Default "".
	OrganizationID string `yaml:"organization_id"`
	// Scopes lists what the key may do: read, write, files, admin. Default:
	// none.
	Scopes []string `yaml:"scopes"`
	// RateLimit limits this key's requests (and tokens). YAML accepts a
	// mapping {requests_per_second, burst_capacity, tokens_per_minute,
	// token_burst} or an integer N of requests per minute, stored as N/60
	// per second with a burst of N (a minute's worth may come at once). It
	// replaces rate_limiting.limits.per_api_key for this key, each of its
	// two limits (requests, tokens) on its own. Default zero: no per-key
	// limit of its own.
	RateLimit RateSpec `yaml:"rate_limit"`
	// Enabled: a disabled key is refused. Default true.
	Enabled bool `yaml:"enabled"`
	// ExpiresAt is when the key stops working (RFC 3339). Default zero: never;
	// a zero ExpiresAt is left out when the configuration is rendered (as by
	// GET /admin/config), rather than shown as 0001-01-01.
	ExpiresAt time.Time `yaml:"expires_at,omitempty"`
	// Models lists the models the key may use. Default empty: all.
	Models []string `yaml:"models"`
}

// RateSpec is a token-bucket rate of requests, and one of tokens.
type RateSpec struct {
	// RequestsPerSecond is the sustained rate. Default 0: no limit.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// BurstCapacity is the bucket size. Default 0: ceil(RequestsPerSecond),
	// at least 1.
	BurstCapacity int `yaml:"burst_capacity"`
	// TokensPerMinute limits the tokens (prompt plus completion, as the
	// backends report them) per minute. Default 0: no token limit.
	TokensPerMinute float64 `yaml:"tokens_per_minute"`
	// TokenBurst is the token bucket's size. Default 0: TokensPerMinute (a
	// minute's worth may come at once).
	TokenBurst int `yaml:"token_burst"`
}

// AdminConfig configures the admin API.
type AdminConfig struct {
	// BindAddress serves the admin API on its own listener ("host:port" or
	// "unix:/path"). Default "": it is served on the main listener.
	BindAddress string `yaml:"bind_address"`
	// Auth configures admin authentication.
	Auth AdminAuth `yaml:"auth"`
}

// AdminAuth configures admin authentication.
//
// When Method needs credentials that are empty (for example because an
// unset ${VAR} expanded to ""), the configuration is valid but the admin API
// refuses every call. Writing method in the file without writing its
// credential keys at all is an error.
type AdminAuth struct {
	// Method is none, bearer_token (Authorization: Bearer <Token>; "bearer",
	// continuum-router's spelling, means the same and Parse stores
	// bearer_token), basic
	// (Username and Password) or api_key (X-API-Key: <Token>). Default
	// "bearer_token".
	Method string `yaml:"method"`
	// Token is the bearer token or API key. Default "".
	Token string `yaml:"token"`
	// Username is the basic-auth user. Default "".
	Username string `yaml:"username"`
	// Password is the basic-auth password. Default "".
	Password string `yaml:"password"`
}

// RateLimitConfig configures request rate limiting.
type RateLimitConfig struct {
	// Enabled turns rate limiting on. Default false. An API key's own
	// rate_limit applies even when it is false.
	Enabled bool `yaml:"enabled"`
	// Storage is where the buckets live: memory (this process) or redis
	// (shared by every replica, see Redis). Default "memory". With redis,
	// provider 429 cooldowns and configuration reloads are shared too.
	Storage string `yaml:"storage"`
	// Redis is the shared store when Storage is redis. The old key
	// redis_url is accepted as a synonym of redis.url.
	Redis RedisConfig `yaml:"redis"`
	// FailurePolicy is what a limit does while Redis cannot decide (down,
	// slower than redis.timeout, or its breaker open): local (limit/N in
	// each replica, N the live replicas), deny (refuse with 503) or allow
	// (let through). Default "local".
	FailurePolicy string `yaml:"failure_policy"`
	// FailurePolicies overrides FailurePolicy per scope: global, api_key,
	// client, model, backend, and their token limits global_tokens,
	// api_key_tokens, client_tokens, model_tokens, backend_tokens.
	// Default: none.
	FailurePolicies map[string]string `yaml:"failure_policies"`
	// ReplicaID names this replica in Redis (the heartbeat that counts the
	// live replicas). Default "": the environment variable POD_NAME, else
	// the host name and the process id.
	ReplicaID string `yaml:"replica_id"`
	// DefaultOutputTokens is the output a token limit reserves for a
	// request that sets no max_tokens (max_completion_tokens,
	// max_output_tokens); the difference to the reported usage is settled
	// when the request ends. Default 1024; 0 reserves the prompt only.
	DefaultOutputTokens int `yaml:"default_output_tokens"`
	// Limits holds the rates per level.
	Limits RateLimits `yaml:"limits"`
	// Whitelist lists client IPs or CIDRs that are never limited. Default: none.
	Whitelist []string `yaml:"whitelist"`
	// BypassKeys lists API keys (by value or by id) that are never limited. Default: none.
	BypassKeys []string `yaml:"bypass_keys"`
	// TrustedProxies lists the proxies (IPs or CIDRs) whose X-Forwarded-For
	// header is believed. Default: none, so the header is ignored.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// UseRightmostXFF takes the client address from the rightmost untrusted
	// X-Forwarded-For entry rather than the leftmost. Default true.
	UseRightmostXFF bool `yaml:"use_rightmost_xff"`
}

// RedisConfig is the Redis deployment shared by the replicas.
type RedisConfig struct {
	// URL is the deployment: redis://[user:password@]host[:port][/db],
	// rediss:// (TLS), unix:///path/redis.sock,
	// redis+sentinel://host:26379[?addr=…]&master_name=NAME (rediss+sentinel
	// for TLS) or redis+cluster://host:6379[?addr=…] (rediss+cluster).
	// Required when Storage is redis. Default "".
	URL string `yaml:"url"`
	// KeyPrefix starts every key Continuum writes. Default "continuum:".
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds one rate-limit check; a slower check is decided by the
	// failure policy. Must be positive. Default 50ms.
	Timeout time.Duration `yaml:"timeout"`
	// PoolSize is the most connections per Redis node. Default 0: the
	// client library's default, 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// HeartbeatTTL is how long a replica counts as alive after its last
	// heartbeat (sent every third of it): the N of the local failure
	// policy follows a replica's arrival within a third of it and its crash
	// within it. Must be positive. Default 15s.
	HeartbeatTTL time.Duration `yaml:"heartbeat_ttl"`
}

// RateLimits holds the rate at each level; a zero RequestsPerSecond means no
// request limit at that level, a zero TokensPerMinute no token limit.
type RateLimits struct {
	// PerAPIKey limits each API key. Default: no limit.
	PerAPIKey RateSpec `yaml:"per_api_key"`
	// PerClient limits each client address (every request, with or without
	// a key; behind trusted proxies, the X-Forwarded-For address). Default:
	// no limit.
	PerClient RateSpec `yaml:"per_client"`
	// Global limits all requests together. Default: no limit.
	Global RateSpec `yaml:"global"`
	// PerModel limits each model (the requested one, after model_aliases)
	// with the spec of its name; the name "*" gives every other model a
	// bucket of its own with that spec. Default: none.
	PerModel map[string]RateSpec `yaml:"per_model"`
	// PerBackend limits the requests sent to each backend (by name; "*":
	// every other backend its own bucket). A backend over its limit is
	// skipped like one resting after a 429. Default: none.
	PerBackend map[string]RateSpec `yaml:"per_backend"`
}

// MetricsConfig configures the Prometheus endpoint.
type MetricsConfig struct {
	// Enabled serves metrics. Default true.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the path metrics are served on; it starts with "/" and is
	// not under /admin. Default "/metrics".
	Endpoint string `yaml:"endpoint"`
	// Listener is where metrics are served: "main" (the public listener,
	// server.bind_address) or "admin" (the admin API's own listener,
	// admin.bind_address, which must then be set). On the admin listener
	// the endpoint needs no admin credentials: Prometheus scrapers rarely
	// can send them, and that listener is meant to be private. In either
	// case metrics are served on one listener only. Default "main".
	Listener string `yaml:"listener"`
}

// Values of MetricsConfig.Listener.
const (
	// MetricsOnMain serves metrics on the public listener.
	MetricsOnMain = "main"
	// MetricsOnAdmin serves metrics on the admin API's own listener.
	MetricsOnAdmin = "admin"
)

// Default returns a configuration with every default applied and no backends.
func Default() *Config {
	return &Config{
		Server: ServerConfig{
			BindAddress:         []string{"127.0.0.1:8080"},
			MaxBodySize:         32 << 20,
			ShutdownTimeout:     30 * time.Second,
			ExposeBackendHeader: true,
			ReadHeaderTimeout:   10 * time.Second,
			IdleTimeout:         120 * time.Second,
			ConnectionPoolSize:  100,
			MaxRetryAfter:       5 * time.Second,
			ClientWriteTimeout:  60 * time.Second,
			Workers:             1,
			CORS: CORSConfig{
				AllowedOrigins: []string{"*"},
				AllowedMethods: []string{"GET", "POST", "OPTIONS"},
				AllowedHeaders: []string{"Authorization", "Content-Type", "Accept", "X-Api-Key", "Api-Key", "X-Request-Id", "X-Session-Id", "OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta", "X-Stainless-*"},
				MaxAge:         10 * time.Minute,
			},
		},
		SelectionStrategy: "RoundRobin",
		Fallback:          FallbackConfig{Enabled: true},
		Cache: CacheConfig{
			ModelCacheTTL:    60 * time.Second,
			DeduplicationTTL: 60 * time.Second,
			ResponseCache:    ResponseCacheConfig{TTL: 5 * time.Minute, MaxBytes: 64 << 20, Storage: CacheInMemory},
		},
		Request: RequestConfig{
			Timeout:           180 * time.Second,
			ConnectTimeout:    5 * time.Second,
			FirstTokenTimeout: 30 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxRetries:        2,
		},
		Retry: RetryConfig{
			MaxAttempts:        3,
			BaseDelay:          50 * time.Millisecond,
			MaxDelay:           5 * time.Second,
			ExponentialBackoff: true,
			Jitter:             true,
			BudgetRatio:        0.2,
			BudgetMinPerSecond: 1,
			BudgetWindow:       10 * time.Second,
		},
		CircuitBreaker: BreakerConfig{
			Enabled:                  true,
			FailureThreshold:         5,
			FailureRateThreshold:     0.5,
			MinimumRequests:          20,
			Window:                   30 * time.Second,
			Timeout:                  30 * time.Second,
			MaxTimeout:               300 * time.Second,
			Backoff:                  "exponential",
			HalfOpenMaxRequests:      1,
			HalfOpenSuccessThreshold: 1,
		},
		HealthChecks: HealthConfig{
			Enabled:             true,
			Interval:            30 * time.Second,
			Timeout:             10 * time.Second,
			UnhealthyThreshold:  3,
			HealthyThreshold:    2,
			WarmupCheckInterval: time.Second,
			MaxWarmupDuration:   300 * time.Second,
			PanicThreshold:      0.5,
		},
		Logging: LoggingConfig{Level: "info", Format: "text"},
		APIKeys: APIKeysConfig{Mode: "permissive"},
		Admin:   AdminConfig{Auth: AdminAuth{Method: "bearer_token"}},
		RateLimiting: RateLimitConfig{
			Storage: "memory", UseRightmostXFF: true, FailurePolicy: "local", DefaultOutputTokens: 1024,
			Redis: RedisConfig{KeyPrefix: "continuum:", Timeout: 50 * time.Millisecond, HeartbeatTTL: 15 * time.Second},
		},
		Metrics:       MetricsConfig{Enabled: true, Endpoint: "/metrics", Listener: MetricsOnMain},
		GlobalPrompts: GlobalPromptsConfig{MergeStrategy: MergePrepend, Separator: "\n\n"},
	}
}

// NewBackend returns a backend named name at url with every other setting
// at its default: type openai, weight 1, no static models, and copies of c's
// global request, retry, circuit_breaker and health_checks blocks. It is how
// Parse starts each backend, and how code adds one to a Config.
func (c *Config) NewBackend(name, url string) Backend {
	return Backend{
		Name:           name,
		Type:           "openai",
		URL:            url,
		Weight:         1,
		Request:        c.Request,
		Retry:          c.Retry,
		CircuitBreaker: c.CircuitBreaker,
		HealthChecks:   c.HealthChecks,
	}
}

// BackendByName returns the backend called name, or nil. The pointer refers
// into c.Backends.
func (c *Config) BackendByName(name string) *Backend {
	for i := range c.Backends {
		if c.Backends[i].Name == name {
			return &c.Backends[i]
		}
	}
	return nil
}
