package app

import (
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/metrics"
	"github.com/continuumhq/continuum/internal/resilience"
	"github.com/continuumhq/continuum/internal/server"
)

// RequestDone records a finished request: metrics and the access log line.
func (a *App) RequestDone(rec *exchange.Record) {
	a.metrics.ObserveRequest(metrics.Request{
		Endpoint: rec.Endpoint, Model: rec.Routed, Backend: rec.Backend, Status: rec.Status, Stream: rec.Stream,
		Duration: rec.Duration, TTFT: rec.TTFT, Overhead: rec.Overhead,
		PromptTokens: rec.Prompt, CompletionTokens: rec.Completion, HasUsage: rec.HasUsage, Aborted: rec.Aborted,
		KeyID: rec.KeyID,
	})
	if rec.Cache != "" {
		a.metrics.ObserveCache(rec.Cache)
	}
	switch k := rec.ErrorKind; {
	case k == "load_shed":
		a.metrics.ObserveLoadShed()
	case strings.HasPrefix(k, "rate_limited_"):
		a.metrics.ObserveRateLimited(strings.TrimPrefix(k, "rate_limited_"))
	case strings.HasPrefix(k, "auth_"):
		a.metrics.ObserveAuthFailure(strings.TrimPrefix(k, "auth_"))
	case k == "model_forbidden":
		a.metrics.ObserveAuthFailure("forbidden_model")
	case k == server.ErrorMissingScope:
		a.metrics.ObserveAuthFailure(server.ErrorMissingScope)
	case k == server.ErrorPanic:
		a.metrics.ObservePanic()
	}
	a.stats.record(rec, a.clk.Now())
	a.accessLog(rec)
}

// Longest path and user agent shown in an access line, in bytes.
const (
	maxLoggedPath      = 256
	maxLoggedUserAgent = 256
)

// printable returns b for a log line: cut to at most max bytes (on a UTF-8
// boundary), control and format characters (bidirectional overrides,
// zero-width marks) and invalid UTF-8 dropped.
func printable(b []byte, max int) string {
	if s, ok := usual(b); ok {
		return s
	}
	if len(b) <= max && plainASCII(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if (r == utf8.RuneError && n <= 1) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		if sb.Len()+utf8.RuneLen(r) > max {
			break
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func (a *App) accessLog(rec *exchange.Record) {
	level := slog.LevelInfo
	if rec.Status >= 500 || rec.Aborted {
		level = slog.LevelWarn
	}
	if !a.log.Enabled(a.ctx, level) {
		return
	}
	// Room for every attribute, so that the list is allocated once.
	attrs := make([]slog.Attr, 0, 22)
	attrs = append(attrs,
		slog.String("request_id", rec.RequestID),
		slog.String("client_ip", addrString(rec.ClientIP)),
		slog.String("method", printable(rec.Method, 16)),
		slog.String("path", printable(rec.Path, maxLoggedPath)),
		slog.String("user_agent", printable(rec.UserAgent, maxLoggedUserAgent)),
		slog.String("endpoint", rec.Endpoint),
		slog.String("model", rec.Model),
		slog.String("backend", rec.Backend),
		slog.Int("status", rec.Status),
		slog.Int("attempts", rec.Attempts),
		slog.Bool("stream", rec.Stream),
		slog.Duration("ttft", rec.TTFT.Round(time.Microsecond)),
		slog.Duration("duration", rec.Duration.Round(time.Microsecond)),
		slog.Duration("overhead", rec.Overhead.Round(time.Microsecond)),
	)
	if rec.KeyID != "" {
		attrs = append(attrs, slog.String("key_id", rec.KeyID))
	}
	if rec.Routed != "" && rec.Routed != rec.Model {
		attrs = append(attrs, slog.String("routed_model", rec.Routed))
	}
	if rec.HasUsage {
		attrs = append(attrs, slog.Int("tokens_in", rec.Prompt), slog.Int("tokens_out", rec.Completion))
	}
	if rec.ErrorKind != "" {
		attrs = append(attrs, slog.String("error", rec.ErrorKind))
	}
	if rec.ErrorDetail != "" {
		attrs = append(attrs, slog.String("error_detail", rec.ErrorDetail))
	}
	if rec.Aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	if rec.Cache != "" {
		attrs = append(attrs, slog.String("cache", rec.Cache))
	}
	a.log.LogAttrs(a.ctx, level, "request", attrs...)
}

// usual returns the constant for the methods and paths most requests
// have, so that their access lines do not allocate a copy.
func usual(b []byte) (string, bool) {
	switch string(b) {
	case "":
		return "", true
	case "POST":
		return "POST", true
	case "GET":
		return "GET", true
	case "/v1/chat/completions":
		return "/v1/chat/completions", true
	case "/v1/completions":
		return "/v1/completions", true
	case "/v1/embeddings":
		return "/v1/embeddings", true
	case "/v1/models":
		return "/v1/models", true
	}
	return "", false
}

// plainASCII reports whether b is printable ASCII.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// AttemptDone implements proxy.Observer.
func (a *App) AttemptDone(backendName string, outcome resilience.Outcome, kind string) {
	a.metrics.ObserveAttempt(backendName, outcome.String(), kind)
}

// Retried implements proxy.Observer.
func (a *App) Retried(backendName, kind string) { a.metrics.ObserveRetry(backendName, kind) }

// BudgetExhausted implements proxy.Observer.
func (a *App) BudgetExhausted() { a.metrics.ObserveBudgetExhausted() }

func (a *App) healthChanged(name string, from, to backend.Health) {
	a.metrics.ObserveHealthChange(name, to.String())
	a.log.Info("backend health changed", "backend", name, "from", from.String(), "to", to.String())
}

// backendStats feeds the per-backend gauges at scrape time.
func (a *App) backendStats() []metrics.BackendStat {
	now := a.clk.Now()
	members := a.rt.Load().members
	out := make([]metrics.BackendStat, len(members))
	for i, m := range members {
		st := m.backend.State
		breaker := "disabled"
		if m.breaker != nil {
			breaker = m.breaker.State().String()
		}
		out[i] = metrics.BackendStat{
			Name: m.backend.Name, Up: m.usable(now), Health: st.Health().String(), Breaker: breaker,
			InFlight: st.InFlight(), ErrorRate: st.ErrorRate(), Drained: st.Drained(),
		}
	}
	return out
}

// breakerHooks logs a backend's breaker transitions.
func (a *App) breakerHooks(name string) resilience.Hooks {
	return resilience.Hooks{
		OnOpen: func(d time.Duration, reason string) {
			a.metrics.ObserveBreaker(name, "open")
			a.log.Warn("circuit breaker opened", "backend", name, "open_for", d, "reason", reason)
		},
		OnHalfOpen: func() {
			a.metrics.ObserveBreaker(name, "half_open")
			a.log.Info("circuit breaker half-open", "backend", name)
		},
		OnClose: func() {
			a.metrics.ObserveBreaker(name, "closed")
			a.log.Info("circuit breaker closed", "backend", name)
		},
		OnReject: func() { a.metrics.ObserveBreaker(name, "rejected") },
	}
}
