package config

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// parseDuration parses a Go duration string or a bare integer of seconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// sizeUnits maps a lower-case size unit to its number of bytes.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize parses a byte count with an optional unit ("1024", "512KiB",
// "10MB"); the unit is case-insensitive and may follow a space.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	mult, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if !ok {
		return 0, errors.New("unknown unit")
	}
	if n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return 0, errors.New("out of range")
	}
	return n * mult, nil
}

// parseBool accepts true/false, yes/no, on/off and 1/0, in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// parseInt parses a YAML integer: decimal, 0x hex, 0o or leading-0 octal,
// 0b binary, with optional underscores.
func parseInt(s string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s), 0, 64)
}

// parseFloat parses a finite number.
func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errors.New("not finite")
	}
	return f, nil
}

// parseTime parses an RFC 3339 timestamp or a date (midnight UTC).
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

// fold lower-cases s and drops "_", "-", "." and spaces, so that
// "RoundRobin", "round_robin" and "round-robin" compare equal.
func fold(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch c {
		case '_', '-', '.', ' ':
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// strategies lists the selection strategies in canonical form.
var strategies = []string{
	"RoundRobin", "WeightedRoundRobin", "LeastConnections", "LeastLatency",
	"Random", "PowerOfTwo", "ConsistentHash",
}

// snakeStrategies lists strategies' snake_case spellings, in the same order.
var snakeStrategies = []string{
	"round_robin", "weighted_round_robin", "least_connections", "least_latency",
	"random", "power_of_two", "consistent_hash",
}

// canonicalStrategy returns the PascalCase form of a strategy name written
// in either spelling, and whether it is known.
func canonicalStrategy(s string) (string, bool) {
	for _, c := range strategies {
		if fold(c) == fold(s) {
			return c, true
		}
	}
	return s, false
}

// canonicalBackendType returns the canonical backend type for s (lower case,
// synonyms resolved, "" meaning openai), and whether it is a type Continuum
// supports.
func canonicalBackendType(s string) (string, bool) {
	switch f := fold(s); f {
	case "", "generic", "openaicompatible", "openai":
		return "openai", true
	case "vllm", "llamacpp", "lmstudio", "localai", "ollama", "anthropic", "gemini":
		return f, true
	case "claude":
		return "anthropic", true
	case "google":
		return "gemini", true
	}
	return strings.ToLower(strings.TrimSpace(s)), false
}

// CanonicalLogLevel returns the canonical form of a log level as accepted by
// logging.level, --log-level and CONTINUUM_LOG_LEVEL: debug, info, warn or
// error, in any case, with "warning" meaning warn and "trace" meaning debug.
// ok is false for any other value.
func CanonicalLogLevel(s string) (level string, ok bool) {
	level = canonicalLevel(s)
	return level, slices.Contains(logLevels, level)
}

// CanonicalLogFormat returns the canonical form of a log format as accepted
// by logging.format, --log-format and CONTINUUM_LOG_FORMAT: text or json, in
// any case, with "pretty" meaning text. ok is false for any other value.
func CanonicalLogFormat(s string) (format string, ok bool) {
	format = canonicalFormat(s)
	return format, slices.Contains(logFormats, format)
}

// LogLevelsHelp and LogFormatsHelp describe the accepted values, for usage
// messages.
const (
	LogLevelsHelp  = "debug, info, warn or error (also warning and trace)"
	LogFormatsHelp = "text or json (also pretty, meaning text)"
)

// CanonicalAdminMethod returns the canonical form of an admin.auth.method:
// none, bearer_token, basic or api_key, in any case, with continuum-router's
// "bearer" meaning bearer_token. ok is false for any other value.
func CanonicalAdminMethod(s string) (method string, ok bool) {
	method = strings.ToLower(strings.TrimSpace(s))
	if method == "bearer" {
		method = "bearer_token"
	}
	return method, slices.Contains(adminMethods, method)
}

// canonicalLevel maps a log level to debug, info, warn or error.
func canonicalLevel(s string) string {
	switch l := strings.ToLower(strings.TrimSpace(s)); l {
	case "trace":
		return "debug"
	case "warning":
		return "warn"
	default:
		return l
	}
}

// canonicalFormat maps a log format to text or json.
func canonicalFormat(s string) string {
	if l := strings.ToLower(strings.TrimSpace(s)); l != "pretty" {
		return l
	}
	return "text"
}

// Enumerations checked by Validate, in documentation order.
var (
	logLevels    = []string{"debug", "info", "warn", "error"}
	logFormats   = []string{"text", "json"}
	apiKeyModes  = []string{"permissive", "blocking"}
	adminMethods = []string{"none", "bearer_token", "basic", "api_key"}
	storages     = []string{"memory", "redis"}
	backoffKinds = []string{"constant", "exponential", "equal_jitter", "full_jitter"}
	apiKeyScopes = []string{"read", "write", "files", "admin"}
	redisSchemes = []string{"redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster"}
	// failurePolicies are the values of rate_limiting.failure_policy.
	failurePolicies = []string{"local", "deny", "allow"}
	// limitScopes are the keys of rate_limiting.failure_policies: the
	// scope of each kind of limit.
	limitScopes = []string{"global", "api_key", "client", "model", "backend",
		"global_tokens", "api_key_tokens", "client_tokens", "model_tokens", "backend_tokens"}
	httpSchemes = []string{"http", "https"}
	// originSchemes are the schemes a CORS origin may have: the web's, and
	// those of desktop shells embedding a web view (Tauri, Electron's app://).
	originSchemes = []string{"http", "https", "tauri", "app"}
	metricsOn     = []string{MetricsOnMain, MetricsOnAdmin}
)
