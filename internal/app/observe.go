package app

import (
	"log/slog"
	"time"

	"github.com/continuumhq/continuum/internal/backend"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/resilience"
)

// RequestDone writes the access log line of a finished request.
func (a *App) RequestDone(rec *exchange.Record) {
	level := slog.LevelInfo
	if rec.Status >= 500 || rec.Aborted {
		level = slog.LevelWarn
	}
	if !a.log.Enabled(a.ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", rec.RequestID),
		slog.String("endpoint", rec.Endpoint),
		slog.String("model", rec.Model),
		slog.String("backend", rec.Backend),
		slog.Int("status", rec.Status),
		slog.Int("attempts", rec.Attempts),
		slog.Bool("stream", rec.Stream),
		slog.Duration("ttft", rec.TTFT.Round(time.Microsecond)),
		slog.Duration("duration", rec.Duration.Round(time.Microsecond)),
	}
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
	if rec.Aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	a.log.LogAttrs(a.ctx, level, "request", attrs...)
}

// AttemptDone implements proxy.Observer.
func (a *App) AttemptDone(backendName string, outcome resilience.Outcome, kind string) {}

// Retried implements proxy.Observer.
func (a *App) Retried(backendName, kind string) {}

// BudgetExhausted implements proxy.Observer.
func (a *App) BudgetExhausted() {}

func (a *App) healthChanged(name string, from, to backend.Health) {
	a.log.Info("backend health changed", "backend", name, "from", from.String(), "to", to.String())
}

// breakerHooks logs a backend's breaker transitions.
func (a *App) breakerHooks(name string) resilience.Hooks {
	return resilience.Hooks{
		OnOpen: func(d time.Duration, reason string) {
			a.log.Warn("circuit breaker opened", "backend", name, "open_for", d, "reason", reason)
		},
		OnHalfOpen: func() { a.log.Info("circuit breaker half-open", "backend", name) },
		OnClose:    func() { a.log.Info("circuit breaker closed", "backend", name) },
		OnReject:   func() {},
	}
}
