package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/mask"
)

// Validate checks the configuration's semantics: required settings, ranges,
// references, enumerations, addresses and URLs. It returns an ErrorList of
// every problem, located in the file when c came from Parse or Load, or nil.
// It accepts the spellings Parse accepts (round_robin, warning, …).
func (c *Config) Validate() error {
	ds := c.validate()
	if len(ds) == 0 {
		return nil
	}
	sortDiagnostics(ds)
	return ErrorList(ds)
}

// maxWorkers bounds server.workers: a typo such as 80 instead of 8 would
// otherwise start a process per unit.
const maxWorkers = 256

// validator collects the problems of one Config.
type validator struct {
	c  *Config
	ds []Diagnostic
}

// errorf reports a problem with the setting at path (a logical path, as in
// Backend.Retry's "backends[0].retry").
func (v *validator) errorf(path, format string, args ...any) {
	display, pos, ok := v.c.locate(path)
	d := Diagnostic{File: v.c.File, Path: display, Msg: maskSecrets(prefixed(display, fmt.Sprintf(format, args...)))}
	if ok {
		d.File, d.Line, d.Col = pos.file, pos.line, pos.col
	}
	v.ds = append(v.ds, d)
}

// written reports whether the setting at path was written in the file.
func (v *validator) written(path string) bool {
	if v.c.src == nil {
		return false
	}
	if r, ok := v.c.src.rename[path]; ok {
		path = r
	}
	_, ok := v.c.src.pos[path]
	return ok
}

// firstDefined returns " (first defined at line N)" for the setting at
// first, naming its file when that differs from the file of the setting at
// current; or " (same as first)" when first was not written in a file.
func (v *validator) firstDefined(first, current string) string {
	display, _, _ := v.c.locate(first)
	pos, ok := position{}, false
	if v.c.src != nil {
		pos, ok = v.c.src.pos[display]
	}
	_, cur, _ := v.c.locate(current)
	switch {
	case !ok:
		return fmt.Sprintf(" (same as %s)", display)
	case pos.file != cur.file:
		return fmt.Sprintf(" (first defined at %s:%d)", pos.file, pos.line)
	default:
		return fmt.Sprintf(" (first defined at line %d)", pos.line)
	}
}

// locate returns the path of a setting as written and the position of the
// setting or its nearest recorded parent.
func (c *Config) locate(path string) (string, position, bool) {
	if c.src == nil {
		return path, position{}, false
	}
	for q := path; q != ""; q = parentPath(q) {
		if r, ok := c.src.rename[q]; ok {
			path = r + path[len(q):]
			break
		}
	}
	for q := path; q != ""; q = parentPath(q) {
		if p, ok := c.src.pos[q]; ok {
			return path, p, true
		}
	}
	return path, position{}, false
}

func (c *Config) validate() []Diagnostic {
	v := &validator{c: c}
	v.server()
	v.backends()
	if _, ok := canonicalStrategy(c.SelectionStrategy); !ok {
		names := strategies
		if strings.Contains(c.SelectionStrategy, "_") || c.SelectionStrategy == strings.ToLower(c.SelectionStrategy) {
			names = snakeStrategies
		}
		v.errorf("selection_strategy", "unknown selection strategy %s%s", quote(c.SelectionStrategy), didYouMean(c.SelectionStrategy, names))
	}
	v.aliases()
	v.fallbacks()
	if c.Cache.ModelCacheTTL <= 0 {
		v.errorf("cache.model_cache_ttl", "must be positive (got %s): discovered model lists are refreshed this often", c.Cache.ModelCacheTTL)
	}
	v.cache()
	v.globalPrompts()
	v.enum("logging.level", canonicalLevel(c.Logging.Level), "log level", logLevels)
	v.enum("logging.format", canonicalFormat(c.Logging.Format), "log format", logFormats)
	v.apiKeys()
	v.admin()
	v.rateLimiting()
	v.metrics()
	return v.ds
}

// Generic checks.

func (v *validator) enum(path, value, what string, valid []string) {
	if !slices.Contains(valid, value) {
		v.errorf(path, "unknown %s %s%s", what, quote(value), didYouMean(value, valid))
	}
}

func (v *validator) nonNegative(path string, d time.Duration) {
	if d < 0 {
		v.errorf(path, "must not be negative (got %s)", d)
	}
}

// checkAddress reports whether a is "host:port" with a numeric port from 0
// to 65535, or "unix:" followed by a path.
func checkAddress(a string) error {
	if p, ok := strings.CutPrefix(a, "unix:"); ok {
		if p == "" {
			return errors.New("the unix socket path is empty")
		}
		return nil
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return fmt.Errorf("%w (use host:port or unix:/path)", err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %s is not a number from 0 to 65535", quote(port))
	}
	return nil
}

// checkIPOrCIDR reports whether s is an IP address or a CIDR prefix.
func checkIPOrCIDR(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// Sections.

func (v *validator) server() {
	s := v.c.Server
	if len(s.BindAddress) == 0 {
		v.errorf("server.bind_address", "at least one address is required")
	}
	for i, a := range s.BindAddress {
		p := pathIndex("server.bind_address", i)
		if err := checkAddress(a); err != nil {
			v.errorf(p, "invalid address %s: %v", quote(a), err)
		} else if j := slices.Index(s.BindAddress[:i], a); j >= 0 {
			v.errorf(p, "address %s is listed twice%s", quote(a), v.firstDefined(pathIndex("server.bind_address", j), p))
		}
	}
	if s.SocketMode > 0o777 {
		v.errorf("server.socket_mode", "%#o is not a file mode (write modes in octal, e.g. 0o660)", s.SocketMode)
	}
	if s.MaxBodySize <= 0 {
		v.errorf("server.max_body_size", "must be positive (got %d)", s.MaxBodySize)
	}
	v.nonNegative("server.shutdown_timeout", s.ShutdownTimeout)
	v.nonNegative("server.read_header_timeout", s.ReadHeaderTimeout)
	v.nonNegative("server.idle_timeout", s.IdleTimeout)
	v.nonNegative("server.max_retry_after", s.MaxRetryAfter)
	v.nonNegative("server.client_write_timeout", s.ClientWriteTimeout)
	if s.MaxConcurrentRequests < 0 {
		v.errorf("server.max_concurrent_requests", "must not be negative (got %d)", s.MaxConcurrentRequests)
	}
	if s.Workers < 0 {
		v.errorf("server.workers", "must not be negative (got %d; 0 or 1: one process, auto: one worker per CPU)", s.Workers)
	} else if s.Workers > maxWorkers {
		v.errorf("server.workers", "%d is more than %d worker processes", s.Workers, maxWorkers)
	}
	if s.ConnectionPoolSize < 0 {
		v.errorf("server.connection_pool_size", "must not be negative (got %d)", s.ConnectionPoolSize)
	}
	for i, o := range s.CORS.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || !slices.Contains(originSchemes, u.Scheme) || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			v.errorf(pathIndex("server.cors.allowed_origins", i), "invalid origin %s (use \"*\" or scheme://host[:port] with scheme http, https, tauri or app)", quote(o))
		}
	}
	for i, m := range s.CORS.AllowedMethods {
		if m == "" || strings.ContainsAny(m, " \t,") {
			v.errorf(pathIndex("server.cors.allowed_methods", i), "invalid method %s", quote(m))
		}
	}
	for i, h := range s.CORS.AllowedHeaders {
		if h == "" || strings.ContainsAny(h, " \t,:") {
			v.errorf(pathIndex("server.cors.allowed_headers", i), "invalid header name %s", quote(h))
		}
	}
	v.nonNegative("server.cors.max_age", s.CORS.MaxAge)
}

func (v *validator) backends() {
	c := v.c
	// Errors in the global blocks are reported once, not again for every
	// backend that inherits the bad value.
	global := map[string]bool{}
	reportGlobal := func(block string) func(field, msg string) {
		return func(field, msg string) {
			global[block+"."+field+"\x00"+msg] = true
			v.errorf(block+"."+field, "%s", msg)
		}
	}
	validateRequest(c.Request, reportGlobal("request"))
	validateRetry(c.Retry, reportGlobal("retry"))
	validateBreaker(c.CircuitBreaker, reportGlobal("circuit_breaker"))
	validateHealth(c.HealthChecks, reportGlobal("health_checks"))

	names := map[string]int{}
	for i, b := range c.Backends {
		p := pathIndex("backends", i)
		switch j, dup := names[b.Name]; {
		case b.Name == "":
			v.errorf(pathKey(p, "name"), "name is required")
		case dup:
			v.errorf(pathKey(p, "name"), "duplicate backend name %s%s", quote(b.Name), v.firstDefined(pathKey(pathIndex("backends", j), "name"), pathKey(p, "name")))
		default:
			names[b.Name] = i
		}
		if problem := pathNameProblem(b.Name); problem != "" {
			v.errorf(pathKey(p, "name"), "backend name %s %s (it is part of the admin API's paths)", quote(b.Name), problem)
		}
		v.backendURL(pathKey(p, "url"), b.URL)
		if _, ok := canonicalBackendType(b.Type); !ok {
			valid := make([]string, len(backend.Types))
			for i, t := range backend.Types {
				valid[i] = string(t)
			}
			v.errorf(pathKey(p, "type"), "unknown backend type %s%s", quote(b.Type), didYouMean(b.Type, valid))
		}
		if b.Weight < 1 {
			v.errorf(pathKey(p, "weight"), "must be at least 1 (got %d)", b.Weight)
		}
		if b.DefaultMaxTokens < 0 {
			v.errorf(pathKey(p, "default_max_tokens"), "must not be negative (got %d)", b.DefaultMaxTokens)
		}
		switch b.GeminiAPI {
		case "", GeminiNative, GeminiOpenAI:
		default:
			v.errorf(pathKey(p, "gemini_api"), "must be %s or %s (got %s)", GeminiNative, GeminiOpenAI, quote(b.GeminiAPI))
		}
		v.modelList(pathKey(p, "models"), b.Models)
		for j, m := range b.ModelConfigs {
			mp := pathIndex(pathKey(p, "model_configs"), j)
			if m.ID == "" {
				v.errorf(pathKey(mp, "id"), "id is required")
			}
			for k, a := range m.Aliases {
				switch {
				case a == "":
					v.errorf(pathIndex(pathKey(mp, "aliases"), k), "alias must not be empty")
				case a == m.ID:
					v.errorf(pathIndex(pathKey(mp, "aliases"), k), "alias %s is the model's own id", quote(a))
				}
			}
		}
		reportBackend := func(block string) func(field, msg string) {
			return func(field, msg string) {
				if !global[block+"."+field+"\x00"+msg] {
					v.errorf(pathKey(pathKey(p, block), field), "%s", msg)
				}
			}
		}
		validateRequest(b.Request, reportBackend("request"))
		validateRetry(b.Retry, reportBackend("retry"))
		validateBreaker(b.CircuitBreaker, reportBackend("circuit_breaker"))
		validateHealth(b.HealthChecks, reportBackend("health_checks"))
	}
}

func (v *validator) backendURL(path, raw string) {
	if raw == "" {
		v.errorf(path, "url is required")
		return
	}
	// The URL may hold a password, and a key pasted here is a secret:
	// quoteURL masks both, and url.Parse's own messages, which quote parts
	// of the URL, are used only when they cannot hold either.
	shown := quoteURL(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.errorf(path, "invalid URL %s: %s", shown, urlProblem(raw, err))
	case !slices.Contains(httpSchemes, u.Scheme):
		v.errorf(path, "invalid URL %s: the scheme must be http or https", shown)
	case u.Host == "":
		v.errorf(path, "invalid URL %s: no host", shown)
	case u.RawQuery != "" || u.Fragment != "":
		v.errorf(path, "invalid URL %s: a base URL has no query or fragment", shown)
	}
}

// urlProblem says why raw does not parse, without quoting a secret: err
// comes from url.Parse(raw).
func urlProblem(raw string, err error) string {
	detail := func(err error) string {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err.Error()
	}
	masked := mask.URL(raw)
	switch {
	case masked != raw:
		if _, merr := url.Parse(masked); merr != nil {
			return detail(merr)
		}
		if strings.Contains(masked, mask.Value+"@") {
			return "the user information is malformed (percent-encode reserved characters such as @ : / # ? in the password)"
		}
		return "a credential in the query is malformed (percent-encode reserved characters)"
	case looksSecret(raw):
		return "not a URL"
	}
	return detail(err)
}

// modelList checks a list of model names: not empty, no repeats.
func (v *validator) modelList(path string, models []string) {
	for i, m := range models {
		switch {
		case m == "":
			v.errorf(pathIndex(path, i), "model name must not be empty")
		case slices.Contains(models[:i], m):
			v.errorf(pathIndex(path, i), "model %s is listed twice", quote(m))
		}
	}
}

func validateRequest(r RequestConfig, report func(field, msg string)) {
	negative(report, "timeout", r.Timeout)
	negative(report, "connect_timeout", r.ConnectTimeout)
	negative(report, "first_token_timeout", r.FirstTokenTimeout)
	negative(report, "idle_timeout", r.IdleTimeout)
	if r.MaxRetries < 0 {
		report("max_retries", fmt.Sprintf("must not be negative (got %d)", r.MaxRetries))
	}
}

func validateRetry(r RetryConfig, report func(field, msg string)) {
	if r.MaxAttempts < 1 {
		report("max_attempts", fmt.Sprintf("must be at least 1 (got %d)", r.MaxAttempts))
	}
	negative(report, "base_delay", r.BaseDelay)
	negative(report, "max_delay", r.MaxDelay)
	if r.MaxDelay < r.BaseDelay && r.MaxDelay >= 0 {
		report("max_delay", fmt.Sprintf("must be at least base_delay (got %s < %s)", r.MaxDelay, r.BaseDelay))
	}
	fraction(report, "budget_ratio", r.BudgetRatio)
	if r.BudgetMinPerSecond < 0 {
		report("budget_min_per_second", fmt.Sprintf("must not be negative (got %g)", r.BudgetMinPerSecond))
	}
	if r.BudgetWindow <= 0 {
		report("budget_window", fmt.Sprintf("must be positive (got %s)", r.BudgetWindow))
	}
}

func validateBreaker(b BreakerConfig, report func(field, msg string)) {
	if b.FailureThreshold < 0 {
		report("failure_threshold", fmt.Sprintf("must not be negative (got %d)", b.FailureThreshold))
	}
	fraction(report, "failure_rate_threshold", b.FailureRateThreshold)
	if b.MinimumRequests < 0 {
		report("minimum_requests", fmt.Sprintf("must not be negative (got %d)", b.MinimumRequests))
	}
	negative(report, "window", b.Window)
	if b.Window == 0 && b.FailureRateThreshold > 0 {
		report("window", "must be positive when failure_rate_threshold is set")
	}
	negative(report, "timeout", b.Timeout)
	negative(report, "max_timeout", b.MaxTimeout)
	if b.MaxTimeout < b.Timeout && b.MaxTimeout >= 0 {
		report("max_timeout", fmt.Sprintf("must be at least timeout (got %s < %s)", b.MaxTimeout, b.Timeout))
	}
	if !slices.Contains(backoffKinds, strings.ToLower(b.Backoff)) {
		report("backoff", fmt.Sprintf("unknown backoff %s%s", quote(b.Backoff), didYouMean(b.Backoff, backoffKinds)))
	}
	if b.HalfOpenMaxRequests < 1 {
		report("half_open_max_requests", fmt.Sprintf("must be at least 1 (got %d)", b.HalfOpenMaxRequests))
	}
	if b.HalfOpenSuccessThreshold < 1 {
		report("half_open_success_threshold", fmt.Sprintf("must be at least 1 (got %d)", b.HalfOpenSuccessThreshold))
	}
}

func validateHealth(h HealthConfig, report func(field, msg string)) {
	positive := func(field string, d time.Duration) {
		switch {
		case d < 0:
			report(field, fmt.Sprintf("must not be negative (got %s)", d))
		case d == 0 && h.Enabled:
			report(field, "must be positive when health checks are enabled")
		}
	}
	positive("interval", h.Interval)
	// The timeout also bounds model discovery, which runs whether or not
	// health checks are enabled.
	switch {
	case h.Timeout < 0:
		report("timeout", fmt.Sprintf("must not be negative (got %s)", h.Timeout))
	case h.Timeout == 0:
		report("timeout", "must be positive (it bounds every probe and every model discovery)")
	}
	positive("warmup_check_interval", h.WarmupCheckInterval)
	negative(report, "max_warmup_duration", h.MaxWarmupDuration)
	if h.UnhealthyThreshold < 1 {
		report("unhealthy_threshold", fmt.Sprintf("must be at least 1 (got %d)", h.UnhealthyThreshold))
	}
	if h.HealthyThreshold < 1 {
		report("healthy_threshold", fmt.Sprintf("must be at least 1 (got %d)", h.HealthyThreshold))
	}
	if h.Endpoint != "" && !strings.HasPrefix(h.Endpoint, "/") {
		report("endpoint", fmt.Sprintf("must start with \"/\" (got %s)", quote(h.Endpoint)))
	}
	fraction(report, "panic_threshold", h.PanicThreshold)
}

func negative(report func(field, msg string), field string, d time.Duration) {
	if d < 0 {
		report(field, fmt.Sprintf("must not be negative (got %s)", d))
	}
}

func fraction(report func(field, msg string), field string, f float64) {
	if f < 0 || f > 1 {
		report(field, fmt.Sprintf("must be between 0 and 1 (got %g)", f))
	}
}

// aliases checks model_aliases: no empty names, no alias to itself, no cycles.
func (v *validator) aliases() {
	m := v.c.ModelAliases
	reported := map[string]bool{}
	for _, alias := range sortedKeys(m) {
		p := pathKey("model_aliases", alias)
		target := m[alias]
		switch {
		case alias == "":
			v.errorf(p, "alias must not be empty")
			continue
		case target == "":
			v.errorf(p, "alias %s refers to no model", quote(alias))
			continue
		case target == alias:
			v.errorf(p, "alias %s refers to itself", quote(alias))
			continue
		}
		// Follow the chain; a cycle is reported once, at its first alias
		// in sorted order.
		if reported[alias] {
			continue
		}
		chain := []string{alias}
		for cur := target; ; {
			if cur == alias {
				for _, a := range chain {
					reported[a] = true
				}
				v.errorf(p, "aliases form a cycle: %s -> %s", strings.Join(chain, " -> "), alias)
				break
			}
			next, ok := m[cur]
			if !ok || slices.Contains(chain, cur) {
				break // the chain ends, or loops without coming back to alias
			}
			chain = append(chain, cur)
			cur = next
		}
	}
}

// fallbacks checks the fallback chains.
func (v *validator) fallbacks() {
	for _, model := range sortedKeys(v.c.Fallbacks) {
		p := pathKey("fallbacks", model)
		if model == "" {
			v.errorf(p, "model name must not be empty")
			continue
		}
		chain := v.c.Fallbacks[model]
		for i, f := range chain {
			switch {
			case f == "":
				v.errorf(pathIndex(p, i), "model name must not be empty")
			case f == model:
				v.errorf(pathIndex(p, i), "the fallback chain of %s refers to %s itself", quote(model), quote(model))
			case slices.Contains(chain[:i], f):
				v.errorf(pathIndex(p, i), "model %s is listed twice", quote(f))
			}
		}
	}
}

func (v *validator) apiKeys() {
	a := v.c.APIKeys
	v.enum("api_keys.mode", strings.ToLower(a.Mode), "api key mode", apiKeyModes)
	keys := map[string]int{}
	ids := map[string]int{}
	for i, k := range a.Keys {
		p := pathIndex("api_keys.api_keys", i)
		switch j, dup := keys[k.Key]; {
		case k.Key == "" && k.Enabled:
			v.errorf(pathKey(p, "key"), "key is required (or set enabled: false)")
		case k.Key == "":
		case dup:
			// Never print the secret itself.
			v.errorf(pathKey(p, "key"), "the same key is listed twice%s", v.firstDefined(pathKey(pathIndex("api_keys.api_keys", j), "key"), pathKey(p, "key")))
		default:
			keys[k.Key] = i
		}
		if j, dup := ids[k.ID]; dup && k.ID != "" {
			v.errorf(pathKey(p, "id"), "duplicate key id %s%s", quote(k.ID), v.firstDefined(pathKey(pathIndex("api_keys.api_keys", j), "id"), pathKey(p, "id")))
		} else if k.ID != "" {
			ids[k.ID] = i
		}
		if problem := pathNameProblem(k.ID); problem != "" {
			v.errorf(pathKey(p, "id"), "key id %s %s (it is part of the admin API's paths)", quote(k.ID), problem)
		}
		for j, s := range k.Scopes {
			if !slices.Contains(apiKeyScopes, s) {
				v.errorf(pathIndex(pathKey(p, "scopes"), j), "unknown scope %s%s", quote(s), didYouMean(s, apiKeyScopes))
			}
		}
		v.rate(pathKey(p, "rate_limit"), k.RateLimit)
		v.modelList(pathKey(p, "models"), k.Models)
	}
}

func (v *validator) rate(path string, r RateSpec) {
	if r.RequestsPerSecond < 0 {
		v.errorf(path, "requests_per_second must not be negative (got %g)", r.RequestsPerSecond)
	}
	if r.BurstCapacity < 0 {
		v.errorf(path, "burst_capacity must not be negative (got %d)", r.BurstCapacity)
	}
	if r.TokensPerMinute < 0 {
		v.errorf(path, "tokens_per_minute must not be negative (got %g)", r.TokensPerMinute)
	}
	if r.TokenBurst < 0 {
		v.errorf(path, "token_burst must not be negative (got %d)", r.TokenBurst)
	}
}

func (v *validator) admin() {
	a := v.c.Admin
	if a.BindAddress != "" {
		if err := checkAddress(a.BindAddress); err != nil {
			v.errorf("admin.bind_address", "invalid address %s: %v", quote(a.BindAddress), err)
		} else if slices.Contains(v.c.Server.BindAddress, a.BindAddress) {
			v.errorf("admin.bind_address", "%s is also in server.bind_address; leave admin.bind_address empty to serve the admin API there", quote(a.BindAddress))
		}
	}
	method, _ := CanonicalAdminMethod(a.Auth.Method)
	v.enum("admin.auth.method", method, "admin auth method", adminMethods)
	// Writing a method without its credentials is a mistake; credentials
	// that are present but empty lock the admin API instead (see AdminAuth).
	explicit := v.written("admin.auth.method")
	switch method {
	case "bearer_token", "api_key":
		if explicit && !v.written("admin.auth.token") {
			v.errorf("admin.auth", "method %s needs a token", method)
		}
	case "basic":
		switch {
		case explicit && (!v.written("admin.auth.username") || !v.written("admin.auth.password")):
			v.errorf("admin.auth", "method basic needs a username and a password")
		case (a.Auth.Username == "") != (a.Auth.Password == ""):
			v.errorf("admin.auth", "method basic needs both a username and a password")
		}
	}
}

func (v *validator) metrics() {
	m := v.c.Metrics
	switch {
	case !strings.HasPrefix(m.Endpoint, "/"):
		v.errorf("metrics.endpoint", "must start with \"/\" (got %s)", quote(m.Endpoint))
	case m.Endpoint == "/admin" || strings.HasPrefix(m.Endpoint, "/admin/"):
		v.errorf("metrics.endpoint", "%s is under /admin, the admin API's paths; choose another path", quote(m.Endpoint))
	}
	v.enum("metrics.listener", strings.ToLower(m.Listener), "metrics listener", metricsOn)
	if strings.ToLower(m.Listener) == MetricsOnAdmin && v.c.Admin.BindAddress == "" {
		v.errorf("metrics.listener", "admin needs admin.bind_address: metrics move to the admin API's own listener, and there is none")
	}
}

func (v *validator) rateLimiting() {
	r := v.c.RateLimiting
	storage := strings.ToLower(r.Storage)
	v.enum("rate_limiting.storage", storage, "rate limit storage", storages)
	switch {
	case r.Redis.URL != "":
		u, err := url.Parse(r.Redis.URL)
		scheme := ""
		if err == nil {
			scheme = u.Scheme
		}
		switch {
		case err != nil || !slices.Contains(redisSchemes, scheme):
			// The URL may hold a password: do not print it.
			v.errorf("rate_limiting.redis.url", "invalid Redis URL (use redis://[user:password@]host:port[/db], rediss://…, unix:///path, redis+sentinel://…?master_name=… or redis+cluster://…)")
		case scheme == "unix" && u.Path == "":
			v.errorf("rate_limiting.redis.url", "invalid Redis URL: the unix socket path is empty")
		case scheme != "unix" && u.Host == "":
			v.errorf("rate_limiting.redis.url", "invalid Redis URL: the host is empty")
		case strings.HasSuffix(scheme, "+sentinel") && u.Query().Get("master_name") == "":
			v.errorf("rate_limiting.redis.url", "a Sentinel URL needs master_name=NAME in its query")
		}
	case storage == "redis":
		v.errorf("rate_limiting.redis.url", "url is required when storage is redis")
	}
	if r.Redis.Timeout <= 0 {
		v.errorf("rate_limiting.redis.timeout", "must be positive (got %s): a slower check is decided by the failure policy", r.Redis.Timeout)
	}
	if r.Redis.HeartbeatTTL <= 0 {
		v.errorf("rate_limiting.redis.heartbeat_ttl", "must be positive (got %s)", r.Redis.HeartbeatTTL)
	}
	if r.Redis.PoolSize < 0 {
		v.errorf("rate_limiting.redis.pool_size", "must not be negative (got %d)", r.Redis.PoolSize)
	}
	if r.DefaultOutputTokens < 0 {
		v.errorf("rate_limiting.default_output_tokens", "must not be negative (got %d)", r.DefaultOutputTokens)
	}
	if strings.ContainsAny(r.ReplicaID, "{} \t\n") {
		v.errorf("rate_limiting.replica_id", "must not contain braces or white space (got %s)", quote(r.ReplicaID))
	}
	v.enum("rate_limiting.failure_policy", strings.ToLower(r.FailurePolicy), "failure policy", failurePolicies)
	for _, scope := range sortedKeys(r.FailurePolicies) {
		p := pathKey("rate_limiting.failure_policies", scope)
		if !slices.Contains(limitScopes, scope) {
			v.errorf(p, "unknown limit scope %s%s", quote(scope), didYouMean(scope, limitScopes))
			continue
		}
		v.enum(p, strings.ToLower(r.FailurePolicies[scope]), "failure policy", failurePolicies)
	}
	v.rate("rate_limiting.limits.per_api_key", r.Limits.PerAPIKey)
	v.rate("rate_limiting.limits.per_client", r.Limits.PerClient)
	v.rate("rate_limiting.limits.global", r.Limits.Global)
	for _, m := range sortedKeys(r.Limits.PerModel) {
		p := pathKey("rate_limiting.limits.per_model", m)
		if m == "" {
			v.errorf(p, "the model name is empty (use \"*\" for every model)")
		}
		v.rate(p, r.Limits.PerModel[m])
	}
	var names []string
	for _, b := range v.c.Backends {
		names = append(names, b.Name)
	}
	for _, b := range sortedKeys(r.Limits.PerBackend) {
		p := pathKey("rate_limiting.limits.per_backend", b)
		if b != "*" && !slices.Contains(names, b) {
			v.errorf(p, "no backend is named %s%s", quote(b), didYouMean(b, names))
		}
		v.rate(p, r.Limits.PerBackend[b])
	}
	for i, s := range r.Whitelist {
		if !checkIPOrCIDR(s) {
			v.errorf(pathIndex("rate_limiting.whitelist", i), "invalid IP address or CIDR %s", quote(s))
		}
	}
	for i, s := range r.TrustedProxies {
		if !checkIPOrCIDR(s) {
			v.errorf(pathIndex("rate_limiting.trusted_proxies", i), "invalid IP address or CIDR %s", quote(s))
		}
	}
	for i, k := range r.BypassKeys {
		if k == "" {
			v.errorf(pathIndex("rate_limiting.bypass_keys", i), "key must not be empty")
		}
	}
}

func (v *validator) cache() {
	c := &v.c.Cache
	v.nonNegative("cache.deduplication_ttl", c.DeduplicationTTL)
	rc := &c.ResponseCache
	switch {
	case rc.Enabled && rc.TTL <= 0:
		v.errorf("cache.response_cache.ttl", "must be positive when the response cache is enabled (got %s)", rc.TTL)
	case rc.TTL < 0:
		v.nonNegative("cache.response_cache.ttl", rc.TTL)
	}
	keeps := rc.Enabled || (c.EnableDeduplication && c.DeduplicationTTL > 0)
	if keeps && rc.MaxBytes <= 0 {
		v.errorf("cache.response_cache.max_bytes", "must be positive when answers are kept (response_cache.enabled, or enable_deduplication with a deduplication_ttl) (got %d)", rc.MaxBytes)
	}
	v.enum("cache.response_cache.storage", rc.Storage, "answer storage", cacheStorages)
	if rc.Storage == CacheInRedis && strings.ToLower(v.c.RateLimiting.Storage) != "redis" {
		v.errorf("cache.response_cache.storage", "redis needs rate_limiting.storage: redis (answers are kept in the Redis server of rate_limiting.redis)")
	}
}

// cacheStorages lists the values of cache.response_cache.storage.
var cacheStorages = []string{CacheInMemory, CacheInRedis}

func (v *validator) globalPrompts() {
	if s := v.c.GlobalPrompts.MergeStrategy; s != "" {
		v.enum("global_prompts.merge_strategy", s, "merge strategy", mergeStrategies)
	}
}

// mergeStrategies lists the values of global_prompts.merge_strategy.
var mergeStrategies = []string{MergePrepend, MergeAppend, MergeReplace}
