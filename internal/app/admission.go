package app

import (
	"context"
	"errors"
	"time"

	"github.com/continuumhq/continuum/internal/auth"
	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/openai"
)

// This file is the admission chain: the stages every call passes before it
// is routed, each a func(ctx, *exchange.Call) error that may refuse it with
// an *exchange.Refusal. The listener runs admit before reading the body and
// authorize once the routing fields are decoded; neither knows the stages.

// stage is one admission step.
type stage func(ctx context.Context, c *exchange.Call) error

// admit runs the stages that need no body: who is calling, and may it call
// this API.
func (a *App) admit(ctx context.Context, c *exchange.Call) error {
	return run(ctx, c, a.authenticate, a.requireScope)
}

// authorize runs the stages that need the routing fields: may the caller
// use the model it asks for, and is it within its rate limits. The limits
// run here, after the body is read, because the model's own limits and the
// token limits need it; every limit of a call is then checked in one
// all-or-nothing take (limits.go).
func (a *App) authorize(ctx context.Context, c *exchange.Call) error {
	return run(ctx, c, a.allowModel, a.rateLimit)
}

func run(ctx context.Context, c *exchange.Call, stages ...stage) error {
	for _, st := range stages {
		if err := st(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// authenticate identifies the caller by its credential (API key).
func (a *App) authenticate(_ context.Context, c *exchange.Call) error {
	p, err := a.guard.auth.Load().Authenticate(c.Credential)
	if err != nil {
		reason := "invalid"
		switch {
		case errors.Is(err, auth.ErrMissing):
			reason = "missing"
		case errors.Is(err, auth.ErrDisabled):
			reason = "disabled"
		case errors.Is(err, auth.ErrExpired):
			reason = "expired"
		}
		return &exchange.Refusal{Status: 401, Type: openai.TypeAuthentication, Code: openai.CodeInvalidAPIKey,
			Message: err.Error(), Kind: "auth_" + reason,
			Header: []exchange.Field{{Name: "WWW-Authenticate", Value: `Bearer realm="continuum"`}}}
	}
	if !p.Anonymous() {
		c.Caller = exchange.Caller{KeyID: p.KeyID, Models: p, RatePerSecond: p.RatePerSecond, Burst: p.Burst}
	}
	return nil
}

// requireScope checks the key's scopes: "write" for inference, "read" (or
// "write") to list models. A key without scopes may do both.
func (a *App) requireScope(_ context.Context, c *exchange.Call) error {
	perm := c.Caller.Models
	if perm == nil {
		return nil
	}
	switch {
	case c.API == exchange.Models && !perm.HasScope("read") && !perm.HasScope("write"):
		return missingScope("read", "to list models")
	case c.API.Inference() && !perm.HasScope("write"):
		return missingScope("write", "for "+c.API.String())
	}
	return nil
}

func missingScope(scope, what string) *exchange.Refusal {
	return &exchange.Refusal{Status: 403, Type: openai.TypePermission, Code: missingScopeKind,
		Message: "this API key lacks the " + scope + " scope needed " + what, Kind: missingScopeKind}
}

// missingScopeKind is the error kind and code of a call whose key lacks a scope.
const missingScopeKind = "missing_scope"

// allowModel refuses a model the caller's key may not use.
func (a *App) allowModel(_ context.Context, c *exchange.Call) error {
	if c.ModelAllowed(c.Fields.Model) {
		return nil
	}
	return &exchange.Refusal{Status: 403, Type: openai.TypePermission, Code: openai.CodeModelNotAllowed, Param: "model",
		Message: "this API key may not use model `" + c.Fields.Model + "`", Kind: "model_forbidden"}
}

// formatReset formats a duration as OpenAI's x-ratelimit-reset-requests
// ("1s", "6m0s", "120ms"), rounded up to the millisecond.
func formatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = (d + time.Millisecond - 1).Truncate(time.Millisecond)
	return d.String()
}
