package proxy

import (
	"time"

	"github.com/continuumhq/continuum/internal/exchange"
	"github.com/continuumhq/continuum/internal/upstream"
)

// Rate-limit headers across APIs (ANTHROPIC-GEMINI.md §4): an OpenAI
// client served by an Anthropic backend also gets OpenAI's
// x-ratelimit-{limit,remaining,reset}-{requests,tokens}, derived from
// anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset} (the reset
// an RFC 3339 time there, a duration from now here, in Go's format as
// OpenAI writes it: "1.5s", "6m0s"); an Anthropic client served by an
// OpenAI-compatible backend gets the reverse. The backend's own fields
// are passed on as well.

// rateKinds are the limits both APIs report.
var rateKinds = [...]string{"requests", "tokens"}

// withDerivedRateHeaders appends to out the rate-limit fields of the
// client's API derived from the backend's h; toAnthropic says which way.
func withDerivedRateHeaders(out []exchange.Field, h upstream.Header, toAnthropic bool, now time.Time) []exchange.Field {
	for _, kind := range rateKinds {
		if toAnthropic {
			out = derive(out, h, "x-ratelimit-limit-"+kind, "anthropic-ratelimit-"+kind+"-limit")
			out = derive(out, h, "x-ratelimit-remaining-"+kind, "anthropic-ratelimit-"+kind+"-remaining")
			if v := h.Get("x-ratelimit-reset-" + kind); v != "" {
				if d, err := time.ParseDuration(v); err == nil && d >= 0 {
					out = append(out, exchange.Field{Name: "anthropic-ratelimit-" + kind + "-reset", Value: now.Add(d).UTC().Format(time.RFC3339)})
				}
			}
			continue
		}
		out = derive(out, h, "anthropic-ratelimit-"+kind+"-limit", "x-ratelimit-limit-"+kind)
		out = derive(out, h, "anthropic-ratelimit-"+kind+"-remaining", "x-ratelimit-remaining-"+kind)
		if v := h.Get("anthropic-ratelimit-" + kind + "-reset"); v != "" {
			if at, err := time.Parse(time.RFC3339, v); err == nil {
				out = append(out, exchange.Field{Name: "x-ratelimit-reset-" + kind, Value: max(0, at.Sub(now)).String()})
			}
		}
	}
	return out
}

// derive copies the value of h's field from, if any, as the field to.
func derive(out []exchange.Field, h upstream.Header, from, to string) []exchange.Field {
	if v := h.Get(from); v != "" && h.Get(to) == "" {
		out = append(out, exchange.Field{Name: to, Value: v})
	}
	return out
}
