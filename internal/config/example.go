package config

// Example returns an annotated sample configuration that shows every
// supported key with its default value. Backends, the sample API key and
// other entries of lists and maps are examples; everything else is a
// default. The sample parses without errors or warnings.
func Example() string { return example }

const example = `# Continuum configuration. The format is continuum-router's: its files load
# unchanged (settings Continuum does not support yet are reported and ignored).
#
# Every key below shows its default value, except where a comment says
# "example". Delete what you do not need: a missing key keeps its default.
#
# Values:  ${VAR} is replaced by the environment variable VAR ("" and a warning
#          when unset), ${VAR:-default} by default when VAR is unset or empty,
#          and $$ by a literal $.
# Durations: 500ms, 30s, 5m, 1h30m, or a bare number of seconds.
# Sizes:   1024 (bytes), 512KiB, 32MiB, 1GiB (powers of 1024), 10MB (powers of 1000).

server:
  # Addresses to listen on: "host:port" (":8080" = every interface) or
  # "unix:/path/to/socket". A single string or a list.
  bind_address: ["127.0.0.1:8080"]
  # File mode of Unix sockets, in octal (0o660). 0 keeps the mode they get.
  socket_mode: 0
  # Largest request body accepted; larger requests get 413.
  max_body_size: 32MiB
  # How long in-flight requests and streams may finish on SIGTERM.
  shutdown_timeout: 30s
  # Add X-Continuum-Backend (the backend that served) to responses.
  expose_backend_header: true
  # Time a client may take to send a request's headers and body (0: no limit).
  read_header_timeout: 10s
  # How long an idle keep-alive connection stays open (0: no limit).
  idle_timeout: 120s
  # Requests handled at once; above it requests get 503 (0: unlimited).
  max_concurrent_requests: 0
  # Idle upstream connections kept per backend (0: the client's default).
  connection_pool_size: 100
  # Cap on the Retry-After of the router's own 429 and 503 answers; the
  # official SDKs sleep that long before retrying (0: no cap).
  max_retry_after: 5s
  # How long one write to a client may block (a client that stopped reading)
  # before the request is ended and its slot freed; never counted against a
  # backend (0: no limit).
  client_write_timeout: 60s
  # Worker processes (Linux): 1 (or 0) serves from this one process; N > 1
  # starts N workers sharing the port (SO_REUSEPORT), restarted when they die,
  # with SIGHUP forwarded and zero-downtime binary upgrades on SIGUSR2; auto =
  # one per CPU. Memory rate limits are split between workers. Restart to change.
  workers: 1
  # Cross-origin requests from browsers.
  cors:
    enabled: false
    allowed_origins: ["*"]              # "*" or scheme://host[:port]; also tauri://localhost, app://name
    allowed_methods: [GET, POST, OPTIONS]
    # Request headers a page may send; "X-Stainless-*" allows every header
    # with that prefix (the OpenAI JS SDK's), "*" any header.
    allowed_headers: [Authorization, Content-Type, Accept, X-Api-Key, Api-Key, X-Request-Id, X-Session-Id,
      OpenAI-Organization, OpenAI-Project, OpenAI-Beta, "X-Stainless-*"]
    allow_credentials: false
    max_age: 10m                        # how long browsers cache a preflight answer (0: no header, their default)

# The inference servers (example; default: none).
backends:
  - name: vllm-a                        # required, unique; shown in logs, metrics and X-Continuum-Backend
    # openai (default) | vllm | llamacpp | lmstudio | localai | ollama
    # | anthropic | gemini ("generic" and "openai_compatible" mean openai)
    type: vllm
    # required; http or https. user:password@ in it (percent-encoded) is
    # sent as basic auth unless api_key is set, and is never shown.
    url: http://127.0.0.1:8000
    api_key: "${VLLM_API_KEY:-}"        # sent as a bearer token; empty: none
    org_id: ""                          # sent as OpenAI-Organization; empty: none
    weight: 1                           # share for WeightedRoundRobin; at least 1
    models: [llama-3.1-8b]              # empty: discovered from the backend
    model_configs:                      # more about some models (optional)
      - id: llama-3.1-8b
        aliases: [llama3]               # more names for the model (added to model_aliases)
        metadata:                       # free-form, kept as written
          display_name: Llama 3.1 8B
          context_window: 131072
    # Per-backend overrides of the global request, retry (also spelled
    # retry_override), circuit_breaker and health_checks (also health_check)
    # blocks. Only the keys written here change; the rest keep the global value.
    # request.max_retries, retry.max_attempts, the retry.budget_* keys and
    # health_checks.panic_threshold apply to a whole request or the whole
    # router: they are set in the global blocks only (here: a warning).
    request: { first_token_timeout: 60s }
    retry: { base_delay: 100ms }
    circuit_breaker: { failure_threshold: 3 }
    health_checks: { endpoint: /health }
    # Translation settings; each is used only by the backend types named.
    anthropic_native: false             # OpenAI-compatible types: the server also serves Anthropic's /v1/messages
    reasoning: false                    # any type: pass reasoning (thinking) through translations
    anthropic_version: ""               # anthropic: anthropic-version when the client sent none ("": 2023-06-01)
    anthropic_beta: []                  # anthropic: merged with the client's anthropic-beta
    default_max_tokens: 0               # anthropic: max_tokens when the client set none (0: 4096)
    gemini_api: native                  # gemini: native (generateContent) | openai (its OpenAI-compatible endpoint)
  - name: ollama-local
    type: ollama
    url: http://127.0.0.1:11434
  - name: claude                        # Anthropic's Messages API (example)
    type: anthropic                     # url defaults to https://api.anthropic.com
    api_key: "${ANTHROPIC_API_KEY:-}"   # sent as x-api-key
    models: [claude-sonnet-4-5]
  - name: gemini                        # Google's Gemini API (example)
    type: gemini                        # url defaults to https://generativelanguage.googleapis.com
    api_key: "${GEMINI_API_KEY:-}"      # sent as x-goog-api-key (gemini_api openai: as a bearer token)
    models: [gemini-2.5-flash]

# How a backend is chosen among those serving a model: RoundRobin |
# WeightedRoundRobin | LeastConnections | LeastLatency | Random | PowerOfTwo |
# ConsistentHash (or snake_case: round_robin, weighted_round_robin, ...).
selection_strategy: RoundRobin

# Other names clients may use for a model: alias -> model.
# Example: { gpt-4o-mini: llama-3.1-8b }
model_aliases: {}

# Models tried in order when no backend of the requested model can serve it.
# Example: { llama-3.1-70b: [llama-3.1-8b] }
fallbacks: {}

# continuum-router's form of fallbacks. When enabled, its chains are added to
# fallbacks (an entry in fallbacks wins over one here).
fallback:
  enabled: true
  fallback_chains: {}

cache:
  model_cache_ttl: 60s                  # how often discovered model lists are refreshed; positive
  # Identical non-streaming requests (same API, model, API key and body)
  # arriving while one of them is answered share its one upstream call and
  # its answer, failures included.
  enable_deduplication: false
  # How long a finished successful answer keeps answering identical requests
  # (with enable_deduplication only; 0: only while in flight).
  deduplication_ttl: 60s
  # Exact-match cache of answers to deterministic requests: temperature 0,
  # at most one choice, not streamed (and embeddings).
  response_cache:
    enabled: false
    ttl: 5m                             # positive when enabled
    max_bytes: 64MiB                    # memory of every kept answer (this cache and deduplication_ttl); LRU
    # Where kept answers live: memory (this process), or redis (the server of
    # rate_limiting.redis, needs rate_limiting.storage: redis), shared by every
    # replica; max_bytes then bounds one answer and Redis's maxmemory the rest.
    storage: memory

# Timeouts and retries. Every duration may be 0 for "no limit".
request:
  timeout: 180s                         # the whole request, retries included (in a backend's block: each attempt on it)
  connect_timeout: 5s                   # connecting to a backend
  first_token_timeout: 30s              # per attempt, until the first token (or whole body)
  idle_timeout: 60s                     # longest gap between two stream events
  max_retries: 2                        # retries after the first attempt

# Retries happen only before the response has started.
# Attempts per request = min(max_attempts, 1 + request.max_retries).
retry:
  max_attempts: 3                       # attempts, the first included
  base_delay: 50ms                      # delay before the first retry (0: at once)
  # cap on the delay, and the longest Retry-After the router waits out itself
  # (0, only with base_delay 0: retry at once, never wait out a Retry-After)
  max_delay: 5s
  exponential_backoff: true             # double the delay after each retry
  jitter: true                          # randomise each delay
  budget_ratio: 0.2                     # retries are at most this fraction of requests...
  budget_window: 10s                    # ...over this window,
  budget_min_per_second: 1              # but this many per second are always allowed
  same_backend: false                   # true: retry on the backend that failed when no other can take it

# One breaker per backend: it stops sending to a failing backend for a while.
circuit_breaker:
  enabled: true
  failure_threshold: 5                  # consecutive failures that open it (0: off)
  failure_rate_threshold: 0.5           # or this failure rate within window (0: off)...
  minimum_requests: 20                  # ...once window holds this many calls (0: from the first)
  window: 30s                           # positive unless failure_rate_threshold is 0
  timeout: 30s                          # first open duration (0: probes at once)
  max_timeout: 300s                     # cap as the open duration grows; at least timeout
  backoff: exponential                  # constant | exponential | equal_jitter | full_jitter
  half_open_max_requests: 1             # probes in flight while half-open
  half_open_success_threshold: 1        # successful probes that close it

health_checks:
  enabled: true
  interval: 30s                         # positive when enabled
  timeout: 10s                          # per probe and per model discovery; positive
  unhealthy_threshold: 3                # consecutive failures that mark a backend down
  healthy_threshold: 2                  # consecutive successes that mark it ready again
  endpoint: ""                          # empty: /v1/models (ollama: /api/tags)
  warmup_check_interval: 1s             # probe interval while a backend answers 503 (loading); positive when enabled
  max_warmup_duration: 300s             # then it is marked down (0: no limit)
  # When fewer than this fraction of a model's backends are healthy, health is
  # ignored for that model and traffic spreads over all of them (breakers
  # still apply). With none healthy, fallback models are tried first.
  # 0: only when none is healthy. 1: whenever one is not.
  panic_threshold: 0.5

logging:
  level: info                           # debug | info | warn | error
  format: text                          # text | json

api_keys:
  # permissive: a request with a valid key gets that key's models and rate
  # limit; any other request (no key, unknown, disabled or expired key) is
  # served anonymously. blocking: every /v1 request needs a valid key (401).
  mode: permissive
  # More keys in a YAML file (a list, or a mapping with api_keys), relative to
  # this file. Empty: none.
  api_keys_file: ""
  api_keys:                             # example; default: none
    - key: "${CONTINUUM_API_KEY_1:-}"   # the secret; required unless enabled is false
      id: key-0                         # default key-N (N: position in the list)
      name: ""
      user_id: ""
      organization_id: ""
      scopes: [read, write]             # read | write | files | admin
      # Requests per minute (N/60 per second, bursts of N), or
      # { requests_per_second: 1, burst_capacity: 10, tokens_per_minute: 0,
      # token_burst: 0 }. 0: rate_limiting.limits.per_api_key applies.
      rate_limit: 0
      enabled: false                    # default true; this sample stays off until it has a key
      expires_at: ""                    # RFC 3339, e.g. 2026-12-31T23:59:59Z; empty: never
      models: []                        # models the key may use; empty: all

admin:
  bind_address: ""                      # a separate admin listener; empty: the main listener
  auth:
    method: bearer_token                # none | bearer_token (also bearer) | basic | api_key
    # bearer_token and api_key use token; basic uses username and password.
    # Empty credentials lock the admin API: it refuses every call.
    token: "${CONTINUUM_ADMIN_TOKEN:-}"
    username: ""
    password: ""

rate_limiting:
  enabled: false
  # memory: buckets in this process (N replicas admit N times the limits).
  # redis: buckets shared by every replica, exact across them; provider 429
  # cooldowns and configuration reloads are shared through it too.
  storage: memory
  redis:
    # redis://[user:password@]host:port[/db], rediss://… (TLS),
    # unix:///path/redis.sock, redis+sentinel://host:26379?master_name=NAME,
    # redis+cluster://host:6379?addr=host2:6379. (redis_url: the old spelling.)
    url: ""
    key_prefix: "continuum:"            # starts every key Continuum writes
    timeout: 50ms                       # per check; then the failure policy decides (must be positive)
    pool_size: 0                        # connections per Redis node; 0: 10 per CPU
    heartbeat_ttl: 15s                  # a replica counts as alive this long after its heartbeat
  # While Redis cannot decide (down, slower than timeout, breaker open):
  # local (each replica limits at rate/N, N the live replicas), deny (503)
  # or allow (no limit).
  failure_policy: local
  failure_policies: {}                  # per scope: global, api_key, client, model, backend, or <scope>_tokens
  replica_id: ""                        # empty: $POD_NAME, else host name and process id
  default_output_tokens: 1024           # reserved by token limits when a request sets no max_tokens; 0: the prompt only
  # requests_per_second 0: no request limit at that level; tokens_per_minute
  # 0: no token limit. burst_capacity 0: ceil(requests_per_second);
  # token_burst 0: tokens_per_minute. N per minute with burst B admits up to
  # B + N in any one minute.
  limits:
    per_api_key: { requests_per_second: 0, burst_capacity: 0, tokens_per_minute: 0, token_burst: 0 }
    per_client: { requests_per_second: 0, burst_capacity: 0, tokens_per_minute: 0, token_burst: 0 }
    global: { requests_per_second: 0, burst_capacity: 0, tokens_per_minute: 0, token_burst: 0 }
    # Per model (after model_aliases) and per backend, by name; "*" gives
    # every other model (backend) a bucket of its own. A single spec
    # without names means "*". A backend over its limit is skipped like
    # one resting after a 429.
    per_model: {}                       # e.g. { "*": { tokens_per_minute: 100000 } }
    per_backend: {}                     # e.g. { vllm-a: { requests_per_second: 20 } }
  whitelist: []                         # client IPs or CIDRs never limited
  bypass_keys: []                       # API keys never limited
  trusted_proxies: []                   # proxies (IPs or CIDRs) whose X-Forwarded-For is believed
  use_rightmost_xff: true               # take the rightmost untrusted X-Forwarded-For entry

metrics:
  enabled: true
  endpoint: /metrics                    # not under /admin
  # main: the public listener (server.bind_address). admin: the admin API's
  # own listener (admin.bind_address, which must be set), without admin
  # authentication, and no longer on the public listener.
  listener: main

# System prompts the router adds to chat, messages and responses requests.
# The prompt of a request is its model's, else its backend's, else the
# default; at each level a prompt_file wins over an inline prompt. Files are
# read on load and on every reload; a missing file is an error.
global_prompts:
  default: ""                           # inline default prompt; empty: none
  default_file: ""                      # a file with the default prompt; wins over default
  prompts_dir: ""                       # where relative prompt files are, relative to this file; empty: this file's directory
  # Per backend (by name) and per model (the model a backend is asked for,
  # or the name the client used). Example:
  #   backends: { claude: { prompt_file: anthropic.md } }
  #   models: { llama-3.1-8b: { prompt: "Answer in English." } }
  backends: {}
  models: {}
  # prepend: before the client's system prompt; append: after it;
  # replace: instead of it. Without a client system prompt, the prompt is
  # sent as the system prompt.
  merge_strategy: prepend
  separator: "\n\n"                     # between the two for prepend and append

# Metadata of models, served in /v1/models and /v1/models/{id} under
# "metadata" as written (display_name, capabilities, context_length,
# pricing, …): a YAML or JSON file, relative to this file, mapping model ids
# to metadata (or {models: [{id, metadata}]}). Each backend's
# model_configs[].metadata is merged over it, key by key. Read again on
# every reload. Empty: none.
model_metadata_file: ""

# continuum-router settings accepted but not supported yet (each is a
# warning): files, tracing, timeouts, webui, acp, guardrails,
# metrics.persistence, request.retry_delay, fallback.fallback_policy,
# fallback.model_settings, metrics.cardinality_limit, metrics.optional_metrics,
# admin.stats.
`
